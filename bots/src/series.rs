//! The time series of a run: one row a second from the first bot to the last close
//! (bots connected and the target, joins, snapshots, bytes, round-trip percentiles of that
//! second, failures by kind, resumes), written by `--out` as JSON lines and CSV and
//! plotted in the HTML report.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::Serialize;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use crate::stats::{Sample, Stats};

/// One second of a run (rates are per second over the row's interval, the whole swarm).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SeriesRow {
    /// End of the interval, seconds since the run started.
    pub t: f64,
    /// The phase (`ramp`, `warm-up`, `measure`, `closing`) or the scenario's stage.
    pub phase: String,
    /// Bots the run aims to have connected (the stage's target).
    pub target: usize,
    /// Bots connected at the end of the interval.
    pub connected: i64,
    /// Bots that joined in the interval.
    pub joins: u64,
    /// Snapshots received per second, all bots.
    pub snapshots_per_s: f64,
    /// Inputs sent per second, all bots.
    pub inputs_per_s: f64,
    /// WebSocket payload bytes received per second, all bots.
    pub bytes_down_per_s: f64,
    /// WebSocket payload bytes sent per second, all bots.
    pub bytes_up_per_s: f64,
    /// Input round trip of the interval, median, ms (`null`: none measured).
    pub rtt_p50_ms: Option<f64>,
    /// Input round trip of the interval, 99th percentile, ms.
    pub rtt_p99_ms: Option<f64>,
    /// Failures of any kind in the interval.
    pub errors: u64,
    /// The same by kind (only the kinds seen in the interval).
    pub errors_by_kind: BTreeMap<String, u64>,
    /// Sessions the server or the socket ended in the interval.
    pub disconnects: u64,
    /// Replicas that desynced in the interval.
    pub desyncs: u64,
    /// Resumes (after `--drop-every` / `--reload-every`) that got their first snapshot.
    pub resumes: u64,
}

/// What the run tells the sampler besides the counters.
#[derive(Clone, Default)]
pub struct Marks {
    /// The phase or stage now.
    pub label: Arc<Mutex<String>>,
    /// Bots the run aims to have connected now.
    pub target: Arc<AtomicUsize>,
}

impl Marks {
    /// Sets the phase or stage.
    pub fn label(&self, label: &str) {
        let mut l = self.label.lock();
        if *l != label {
            label.clone_into(&mut l);
        }
    }

    /// Sets the target.
    pub fn target(&self, n: usize) {
        self.target.store(n, Ordering::Relaxed);
    }
}

/// Takes a row every second until [`Sampler::finish`].
pub struct Sampler {
    task: JoinHandle<()>,
    state: Arc<Mutex<State>>,
    stats: Arc<Stats>,
    marks: Marks,
    t0: Instant,
}

struct State {
    rows: Vec<SeriesRow>,
    last: Point,
}

/// The cumulative figures at one moment.
#[derive(Clone)]
struct Point {
    at: Instant,
    sample: Sample,
    failures: BTreeMap<String, u64>,
    resumes: u64,
}

impl Point {
    fn now(stats: &Stats) -> Point {
        Point {
            at: Instant::now(),
            sample: stats.sample(),
            failures: stats
                .failures()
                .into_iter()
                .map(|(k, g)| (k, g.count))
                .collect(),
            resumes: stats.resumes().iter().map(|t| t.resumed).sum(),
        }
    }
}

/// Shortest last row kept at the end (a shorter rest would show noisy rates).
const MIN_LAST_ROW: Duration = Duration::from_millis(200);

impl Sampler {
    /// Starts sampling `stats` now (time 0 of the series).
    #[must_use]
    pub fn start(stats: Arc<Stats>, marks: Marks) -> Sampler {
        let t0 = Instant::now();
        let state = Arc::new(Mutex::new(State {
            rows: Vec::new(),
            last: Point::now(&stats),
        }));
        // The per-second round trips start now.
        let _ = stats.take_second_rtt();
        let (s, st, m) = (stats.clone(), state.clone(), marks.clone());
        let task = tokio::spawn(async move {
            let mut every =
                tokio::time::interval_at(t0 + Duration::from_secs(1), Duration::from_secs(1));
            // After a stall, one longer row, not a burst of empty ones.
            every.set_missed_tick_behavior(MissedTickBehavior::Skip);
            loop {
                every.tick().await;
                row(&s, &st, &m, t0);
            }
        });
        Sampler {
            task,
            state,
            stats,
            marks,
            t0,
        }
    }

    /// Stops sampling (a last row for the rest of the run when long enough); every row.
    #[must_use]
    pub fn finish(self) -> Vec<SeriesRow> {
        self.task.abort();
        let since = self.state.lock().last.at.elapsed();
        if since >= MIN_LAST_ROW {
            row(&self.stats, &self.state, &self.marks, self.t0);
        }
        std::mem::take(&mut self.state.lock().rows)
    }
}

fn row(stats: &Stats, state: &Mutex<State>, marks: &Marks, t0: Instant) {
    let now = Point::now(stats);
    let rtt = stats.take_second_rtt();
    let mut st = state.lock();
    let last = &st.last;
    let secs = now.at.duration_since(last.at).as_secs_f64().max(1e-3);
    let (a, b) = (&now.sample, &last.sample);
    let rate = |x: u64, y: u64| x.saturating_sub(y) as f64 / secs;
    let errors_by_kind: BTreeMap<String, u64> = now
        .failures
        .iter()
        .filter_map(|(k, n)| {
            let d = n - last.failures.get(k).copied().unwrap_or(0);
            (d > 0).then(|| (k.clone(), d))
        })
        .collect();
    let q = |p: f64| (!rtt.is_empty()).then(|| rtt.value_at_quantile(p) as f64 / 1000.0);
    let r = SeriesRow {
        t: now.at.duration_since(t0).as_secs_f64(),
        phase: marks.label.lock().clone(),
        target: marks.target.load(Ordering::Relaxed),
        connected: a.connected,
        joins: a.joined - b.joined,
        snapshots_per_s: rate(a.snapshots, b.snapshots),
        inputs_per_s: rate(a.inputs, b.inputs),
        bytes_down_per_s: rate(a.bytes_down, b.bytes_down),
        bytes_up_per_s: rate(a.bytes_up, b.bytes_up),
        rtt_p50_ms: q(0.5),
        rtt_p99_ms: q(0.99),
        errors: errors_by_kind.values().sum(),
        errors_by_kind,
        disconnects: a.disconnects - b.disconnects,
        desyncs: a.desyncs - b.desyncs,
        resumes: now.resumes - last.resumes,
    };
    st.rows.push(r);
    st.last = now;
}

/// The rows as JSON lines (one object a line).
#[must_use]
pub fn to_jsonl(rows: &[SeriesRow]) -> String {
    let mut out = String::new();
    for r in rows {
        out.push_str(&serde_json::to_string(r).expect("a row always serialises"));
        out.push('\n');
    }
    out
}

/// The rows as CSV (errors by kind as `kind=n` pairs joined by `; `, quoted).
#[must_use]
pub fn to_csv(rows: &[SeriesRow]) -> String {
    let mut out = String::from(
        "t,phase,target,connected,joins,snapshots_per_s,inputs_per_s,bytes_down_per_s,bytes_up_per_s,rtt_p50_ms,rtt_p99_ms,errors,disconnects,desyncs,resumes,errors_by_kind\n",
    );
    let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.3}"));
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    for r in rows {
        let kinds: Vec<String> = r
            .errors_by_kind
            .iter()
            .map(|(k, n)| format!("{k}={n}"))
            .collect();
        let _ = writeln!(
            out,
            "{:.3},{},{},{},{},{:.1},{:.1},{:.0},{:.0},{},{},{},{},{},{},{}",
            r.t,
            quote(&r.phase),
            r.target,
            r.connected,
            r.joins,
            r.snapshots_per_s,
            r.inputs_per_s,
            r.bytes_down_per_s,
            r.bytes_up_per_s,
            opt(r.rtt_p50_ms),
            opt(r.rtt_p99_ms),
            r.errors,
            r.disconnects,
            r.desyncs,
            r.resumes,
            quote(&kinds.join("; ")),
        );
    }
    out
}
