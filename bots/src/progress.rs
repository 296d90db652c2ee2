//! Live progress while a swarm runs: an `indicatif` status line on a terminal, plain
//! periodic lines otherwise (logs, CI, the benchmark driver reading the bots' stdout).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

use crate::stats::{Sample, Stats};

/// How progress is shown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressMode {
    /// A status line on a terminal, plain lines otherwise.
    #[default]
    Auto,
    /// Plain lines, one per second.
    Plain,
    /// Nothing (tests).
    Quiet,
}

/// The phase of a run, shown in the progress line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    /// Bots are joining.
    Ramp = 0,
    /// Everyone joined; not measured yet.
    Warmup = 1,
    /// The measured window.
    Measure = 2,
    /// Closing the connections.
    Closing = 3,
}

impl Phase {
    fn name(v: u8) -> &'static str {
        match v {
            0 => "ramp",
            1 => "warm-up",
            2 => "measure",
            _ => "closing",
        }
    }
}

/// Prints progress every second until dropped or finished.
pub struct Progress {
    bar: Option<ProgressBar>,
    quiet: bool,
    phase: Arc<AtomicU8>,
    done: CancellationToken,
    window_start: Arc<Mutex<Option<Instant>>>,
}

/// What the status line says besides the counters.
struct Shape {
    count: usize,
    decoding: usize,
    window: Duration,
    window_start: Arc<Mutex<Option<Instant>>>,
}

impl Progress {
    /// Starts reporting on `stats` for a run of `count` bots.
    #[must_use]
    pub fn start(
        mode: ProgressMode,
        stats: Arc<Stats>,
        count: usize,
        decoding: usize,
        window: Duration,
    ) -> Progress {
        let quiet = mode == ProgressMode::Quiet;
        let bar = (mode == ProgressMode::Auto && std::io::stdout().is_terminal()).then(|| {
            let b = ProgressBar::with_draw_target(
                Some(count as u64),
                indicatif::ProgressDrawTarget::stdout(),
            );
            b.set_style(
                ProgressStyle::with_template("{spinner} {elapsed:>4} {prefix:8} {wide_msg}")
                    .expect("valid template"),
            );
            b.enable_steady_tick(Duration::from_millis(200));
            b
        });
        let phase = Arc::new(AtomicU8::new(Phase::Ramp as u8));
        let done = CancellationToken::new();
        let window_start = Arc::new(Mutex::new(None));
        if !quiet {
            tokio::spawn(report_loop(
                stats,
                Shape {
                    count,
                    decoding,
                    window,
                    window_start: window_start.clone(),
                },
                bar.clone(),
                phase.clone(),
                done.clone(),
            ));
        }
        Progress {
            bar,
            quiet,
            phase,
            done,
            window_start,
        }
    }

    /// Moves to `phase` and says so on its own line.
    pub fn phase(&self, phase: Phase, note: &str) {
        self.phase.store(phase as u8, Ordering::Relaxed);
        if phase == Phase::Measure {
            *self.window_start.lock() = Some(Instant::now());
        }
        self.println(&format!(
            "tickwire-bots: {} {note}",
            Phase::name(phase as u8)
        ));
    }

    /// Prints a line above the status line (or plainly).
    pub fn println(&self, line: &str) {
        if self.quiet {
            return;
        }
        match &self.bar {
            Some(b) => b.println(line),
            None => println!("{line}"),
        }
    }

    /// Stops reporting.
    pub fn finish(&self) {
        self.done.cancel();
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.done.cancel();
    }
}

async fn report_loop(
    stats: Arc<Stats>,
    shape: Shape,
    bar: Option<ProgressBar>,
    phase: Arc<AtomicU8>,
    done: CancellationToken,
) {
    let start = Instant::now();
    let count = shape.count;
    let mut every = tokio::time::interval(Duration::from_secs(1));
    // After a stall, one line, not a burst of the ones missed.
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    every.tick().await;
    let mut last: Sample = stats.sample();
    let mut last_at = Instant::now();
    loop {
        tokio::select! {
            () = done.cancelled() => return,
            _ = every.tick() => {}
        }
        let now_s = stats.sample();
        let secs = last_at.elapsed().as_secs_f64().max(1e-3);
        last_at = Instant::now();
        let rtt = stats.take_recent_rtt();
        let per_s = |a: u64, b: u64| (a - b) as f64 / secs;
        let rtt_text = if rtt.is_empty() {
            "rtt -".to_owned()
        } else {
            format!(
                "rtt p50 {:.1} p99 {:.1} ms",
                rtt.value_at_quantile(0.5) as f64 / 1000.0,
                rtt.value_at_quantile(0.99) as f64 / 1000.0
            )
        };
        let left = match (*shape.window_start.lock(), phase.load(Ordering::Relaxed)) {
            (Some(w0), 2) => format!(
                "{:.0} s left  ",
                shape.window.saturating_sub(w0.elapsed()).as_secs_f64()
            ),
            _ => String::new(),
        };
        let msg = format!(
            "{left}connected {}/{count} ({} decode) joined {}  down {:.0} msg/s {:.0} kbps  up {:.0} msg/s  {rtt_text}  errors {} desyncs {} disconnects {}",
            now_s.connected,
            shape.decoding,
            now_s.joined,
            per_s(now_s.frames_down, last.frames_down),
            per_s(now_s.bytes_down, last.bytes_down) * 8.0 / 1000.0,
            per_s(now_s.inputs, last.inputs),
            now_s.errors + now_s.connect_errors,
            now_s.desyncs,
            now_s.disconnects,
        );
        let name = Phase::name(phase.load(Ordering::Relaxed));
        match &bar {
            Some(b) => {
                b.set_position(now_s.joined);
                b.set_prefix(name);
                b.set_message(msg);
            }
            None => println!("[{:6.1}s] {name:8} {msg}", start.elapsed().as_secs_f64()),
        }
        last = now_s;
    }
}
