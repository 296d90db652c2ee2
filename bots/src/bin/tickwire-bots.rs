//! `tickwire-bots`: a swarm of headless players against a Tickwire server on this machine.
//!
//! ```text
//! tickwire-bots --url ws://127.0.0.1:8080/ws --count 200 --duration 30 --behavior arena \
//!     --probes 5 --json report.json
//! tickwire-bots --url ws://127.0.0.1:8080/ws --mode arena --rooms 250 --per-room 8
//! tickwire-bots --count 50 --duration 10 --max-join-errors 0 --max-disconnects 0 \
//!     --rtt-p99-ms 100 --min-snapshot-rate 28     # a CI smoke test: exit 0 or not
//! tickwire-bots --scenario bots/scenarios/soak.toml --out target/soak   # stages, a report
//! ```
//!
//! Without `--mode`, `--rooms` or `--room`, every bot joins by quick play (the server's
//! default mode); with them, every bot first takes a seat from the rooms API at the same
//! host and port (`POST /matchmake/M`, `POST /rooms`, `POST /rooms/CODE/seat`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Parser;
use tokio_util::sync::CancellationToken;

use tickwire_bots::brain::Behavior;
use tickwire_bots::html;
use tickwire_bots::link::LinkConfig;
use tickwire_bots::progress::ProgressMode;
use tickwire_bots::scenario::{Profile, ScenarioFile, Stages};
use tickwire_bots::seats::JoinPlan;
use tickwire_bots::swarm::{self, SwarmConfig};
use tickwire_bots::verdict::{Outcome, Thresholds};

/// The same allocator as the server: thousands of bots' frames come and go every tick.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Drive a Tickwire server with headless bots and measure what they see.
#[derive(Debug, Parser)]
#[command(
    name = "tickwire-bots",
    version,
    after_help = "\
Exit codes:
  0    ran to its end, every threshold passed, the harness kept up
  1    a threshold failed (the FAIL lines say which)
  2    bad flags (nothing started)
  3    could not run: the server cannot be reached, or it refused every bot
  4    stopped early: the server went away (or ended every session) during the run
  5    invalid run: the bot process could not keep up (inputs late, CPU saturated,
       timers late); its figures describe the harness, not the server
  130  interrupted by Ctrl-C; 143 by SIGTERM (the report and --json are still written)"
)]
struct Args {
    /// A scenario file (TOML): stages of target bot counts over time, groups of bots
    /// (share, behaviour, link), thresholds, other settings (bots/scenarios/*.toml).
    /// Flags given here override it; --count, --duration, --ramp or --warmup replace its
    /// stages.
    #[arg(long, value_name = "FILE")]
    scenario: Option<PathBuf>,
    /// Write DIR/summary.json (as --json), DIR/series.jsonl and DIR/series.csv (one row a
    /// second) and DIR/report.html (self-contained, with plots).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Server WebSocket URL (this machine only) [default: ws://127.0.0.1:8080/ws].
    #[arg(long)]
    url: Option<String>,
    /// Bots to start (default 10; with --rooms, rooms x per-room).
    #[arg(long, conflicts_with = "rooms")]
    count: Option<usize>,
    /// Every bot matchmakes into this mode (`POST /matchmake/MODE`); with --rooms, the
    /// mode of the rooms created (default: the server's default mode).
    #[arg(long, conflicts_with = "room")]
    mode: Option<String>,
    /// Create this many rooms (`POST /rooms`) and seat --per-room bots in each
    /// (`POST /rooms/CODE/seat`).
    #[arg(long, requires = "per_room", conflicts_with = "room")]
    rooms: Option<usize>,
    /// Bots per room, with --rooms.
    #[arg(long, requires = "rooms")]
    per_room: Option<usize>,
    /// Every bot takes a seat in the room of this code (`POST /rooms/CODE/seat`).
    #[arg(long)]
    room: Option<String>,
    /// Seconds measured, after every bot has joined and the warm-up [default: 30].
    #[arg(long)]
    duration: Option<f64>,
    /// Seconds between the end of the ramp and the measured window [default: 0].
    #[arg(long)]
    warmup: Option<f64>,
    /// Bots started per second (0: all at once) [default: 200].
    #[arg(long)]
    ramp: Option<f64>,
    /// What the bots do (every group's, with --scenario) [default: wander].
    #[arg(long, value_enum)]
    behavior: Option<Behavior>,
    /// Seed of the bots' decisions, phases and jitter [default: 1].
    #[arg(long)]
    seed: Option<u64>,
    /// Only this many bots (spread through the join order) decode every snapshot; the
    /// others read snapshot headers only (load bots, which the server cannot tell apart).
    /// Default: every bot when --count is at most 50, else 5: a bot that decodes sees
    /// every player, so N of them cost N^2 and saturate the bot process long before the
    /// server (the run would then be marked invalid).
    #[arg(long)]
    probes: Option<usize>,
    /// Link conditioner: one-way delay added to every message, each way, in ms
    /// (0..=10000): the round trip grows by twice it (--latency-ms 50: +100 ms) [default: 0].
    #[arg(long, value_parser = clap::value_parser!(u64).range(0..=10_000))]
    latency_ms: Option<u64>,
    /// Link conditioner: each message's delay is drawn uniformly in latency ± J ms (never
    /// below 0), each way: --latency-ms 50 --jitter-ms 10 is a round trip of 100 ± 20 ms
    /// (0..=10000) [default: 0].
    #[arg(long, value_parser = clap::value_parser!(u64).range(0..=10_000))]
    jitter_ms: Option<u64>,
    /// Link conditioner: bandwidth cap per bot and direction, kbit/s (8..=10000000); the
    /// link holds at most 250 ms of it waiting, then the bot stops reading (TCP pushes
    /// back on the server, which skips frames for a slow client).
    #[arg(long, value_parser = clap::value_parser!(u64).range(8..=10_000_000))]
    bandwidth_kbps: Option<u64>,
    /// Link conditioner: a stall every S seconds each way (what a lost TCP segment looks
    /// like: every message due during it comes out at its end, in order), with --stall-ms.
    #[arg(long, value_name = "S", requires = "stall_ms")]
    stall_every: Option<f64>,
    /// Link conditioner: how long each stall of --stall-every lasts, ms (0..=10000).
    #[arg(long, value_parser = clap::value_parser!(u64).range(0..=10_000), requires = "stall_every")]
    stall_ms: Option<u64>,
    /// Fail (exit 1) when more seats or joins than this failed.
    #[arg(long, value_name = "N")]
    max_join_errors: Option<u64>,
    /// Fail when more sessions than this were ended by the server or the socket.
    #[arg(long, value_name = "N")]
    max_disconnects: Option<u64>,
    /// Fail when more replicas than this desynced [default: 0].
    #[arg(long, value_name = "N")]
    max_desyncs: Option<u64>,
    /// Fail when more client-side errors than this happened (undecodable or unexpected
    /// server messages, failed resumes).
    #[arg(long, value_name = "N")]
    max_errors: Option<u64>,
    /// Fail when the input round trip's p99 over the window is above this, in ms.
    #[arg(long, value_name = "MS")]
    rtt_p99_ms: Option<f64>,
    /// Fail when fewer snapshots than this arrived per bot per second over the window.
    #[arg(long, value_name = "HZ")]
    min_snapshot_rate: Option<f64>,
    /// Fail when more resumes than this failed (with --drop-every / --reload-every).
    #[arg(long, value_name = "N")]
    max_resume_failures: Option<u64>,
    /// Fail when the resume p99 (cut to first snapshot applied) is above this, in ms.
    #[arg(long, value_name = "MS")]
    resume_p99_ms: Option<f64>,
    /// Cut each bot's TCP connection abruptly (a reset) at random about every S seconds
    /// (0.5 S to 1.5 S), then resume its player with the state the bot holds.
    #[arg(long, value_name = "S")]
    drop_every: Option<f64>,
    /// Reload each bot about every S seconds, as a browser page reload: a fresh connection
    /// presents the resume token with no state (only the token and the next input number
    /// survive a reload), so the server sends a full state.
    #[arg(long, value_name = "S")]
    reload_every: Option<f64>,
    /// Write the report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Runtime threads (1: a single-threaded runtime, best when pinned to one core)
    /// [default: 1].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=256))]
    threads: Option<u64>,
    /// Progress output.
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    progress: ProgressMode,
    /// Feel probes instead of a swarm: --count bots (at most 64) each run the browser's
    /// whole client core (prediction, smoothing, render clock, interpolation) at 60 frames
    /// a second behind the link conditioner, and report mispredicted ticks, corrections,
    /// teleports, underruns, stalls, backward steps, snapshot age, repeated and folded
    /// inputs over --duration after --warmup (quick play; --json writes the figures).
    #[arg(long)]
    feel: bool,
    /// With --feel: every probe walks into the nearest living enemy (a brawl: players push
    /// each other all the time) instead of as --behavior says; it still aims and fires.
    #[arg(long, requires = "feel")]
    crowd: bool,
    /// Watch instead of playing: --count spectators (default 1) watch the room of --room
    /// (else the default mode's fullest room) for --duration seconds (default 10), no
    /// player, no input. Exit 0 when each applied snapshots and saw players move, 1
    /// otherwise, 3 when none could watch.
    #[arg(long)]
    spectate: bool,
}

/// `--spectate`: spectators, a line each, and the exit code.
fn spectate(args: &Args) -> i32 {
    let base = args
        .url
        .clone()
        .unwrap_or_else(|| "ws://127.0.0.1:8080/ws".into());
    let url = match &args.room {
        Some(code) => format!("{base}?room={code}"),
        None => base,
    };
    let count = args.count.unwrap_or(1).max(1);
    let duration = Duration::from_secs_f64(args.duration.unwrap_or(10.0).max(0.1));
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tickwire-bots: {e}");
            return 1;
        }
    };
    let seen = runtime.block_on(async {
        let watchers = (0..count).map(|_| {
            let url = url.clone();
            tokio::spawn(async move { tickwire_bots::spectate::watch(&url, None, duration).await })
        });
        let mut out = Vec::new();
        for w in watchers.collect::<Vec<_>>() {
            out.push(w.await.unwrap_or_default());
        }
        out
    });
    let mut ok = 0;
    for (i, s) in seen.iter().enumerate() {
        println!(
            "spectator {i}: room {} snapshots {} ({:.1}/s) players {} positions seen {}{}",
            s.room,
            s.snapshots,
            s.snapshots as f64 / duration.as_secs_f64(),
            s.players,
            s.positions_seen,
            s.error
                .as_ref()
                .map(|e| format!(" error: {e}"))
                .unwrap_or_default()
        );
        ok += usize::from(s.snapshots > 0 && s.positions_seen > 1);
    }
    if seen.iter().all(|s| s.snapshots == 0) {
        3
    } else if ok == seen.len() {
        0
    } else {
        1
    }
}

/// Default probes: every bot in a small swarm, five in a large one (see `--probes`).
const ALL_DECODE_UP_TO: usize = 50;
const DEFAULT_PROBES: usize = 5;

/// Exit code for bad flags (as clap's own).
const EXIT_USAGE: i32 = 2;

fn seconds(s: f64, what: &str) -> Result<Duration> {
    Duration::try_from_secs_f64(s).with_context(|| format!("--{what} must be >= 0 seconds"))
}

fn positive(v: Option<f64>, what: &str) -> Result<Option<f64>> {
    match v {
        Some(x) if !(x.is_finite() && x > 0.0) => bail!("--{what} must be a number > 0"),
        v => Ok(v),
    }
}

/// Fails now, not after the run, when `path` cannot be written.
fn check_writable(path: &Path) -> Result<()> {
    let existed = path.exists();
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .with_context(|| format!("--json {}: cannot write there", path.display()))?;
    if !existed {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

fn link(
    latency_ms: u64,
    jitter_ms: u64,
    bandwidth_kbps: Option<u64>,
    stall: Option<(Duration, Duration)>,
) -> LinkConfig {
    LinkConfig {
        latency: Duration::from_millis(latency_ms),
        jitter: Duration::from_millis(jitter_ms),
        bandwidth_bps: bandwidth_kbps.map(|k| k * 1000),
        stall_every: stall.map(|(every, _)| every),
        stall: stall.map_or(Duration::ZERO, |(_, ms)| ms),
    }
}

/// The run's configuration: the flags, over the scenario file, over the defaults.
fn config(args: &Args) -> Result<SwarmConfig> {
    let file = match &args.scenario {
        Some(path) => ScenarioFile::load(path)?,
        None => ScenarioFile::default(),
    };
    let plan = match (args.rooms, args.per_room, &args.room, &args.mode) {
        (Some(rooms), Some(per_room), _, mode) => JoinPlan::Rooms {
            mode: mode.clone(),
            rooms,
            per_room,
        },
        (_, _, Some(code), _) => JoinPlan::Room(code.clone()),
        (_, _, None, Some(mode)) => JoinPlan::Mode(mode.clone()),
        _ => JoinPlan::QuickPlay,
    };
    if let Some(path) = &args.json {
        check_writable(path)?;
    }
    if let Some(dir) = &args.out {
        html::prepare_dir(dir)
            .with_context(|| format!("--out {}: cannot write there", dir.display()))?;
    }
    // A fixed shape on the command line replaces the file's stages.
    let fixed = [args.duration, args.ramp, args.warmup]
        .iter()
        .any(Option::is_some)
        || args.count.is_some()
        || args.rooms.is_some();
    if fixed && !file.stages.is_empty() {
        eprintln!(
            "tickwire-bots: --count/--duration/--ramp/--warmup/--rooms given: the scenario's stages are not used"
        );
    }
    let stages = (!fixed && !file.stages.is_empty()).then(|| Stages::new(file.stages.clone()));
    if stages.is_some() && matches!(plan, JoinPlan::Rooms { .. }) {
        bail!("--rooms fixes the bot count: it cannot follow a scenario's stages");
    }
    let count = match &stages {
        Some(s) => s.peak(),
        None => args.count.or(file.count).or(plan.count()).unwrap_or(10),
    };
    let ramp = args.ramp.or(file.ramp).unwrap_or(200.0);
    if !(ramp.is_finite() && (0.0..=100_000.0).contains(&ramp)) {
        bail!("--ramp must be 0..=100000 bots per second (0: all at once)");
    }
    let behavior = args.behavior.unwrap_or_default();
    let stall = match (args.stall_every, args.stall_ms) {
        (Some(every), Some(ms)) => {
            if !(every.is_finite() && (0.1..=3600.0).contains(&every)) {
                bail!("--stall-every must be 0.1..=3600 seconds");
            }
            Some((Duration::from_secs_f64(every), Duration::from_millis(ms)))
        }
        _ => None,
    };
    let default_link = link(
        args.latency_ms.unwrap_or(0),
        args.jitter_ms.unwrap_or(0),
        args.bandwidth_kbps,
        stall,
    );
    // Each group's own behaviour and link, unless a flag sets them for every bot.
    let groups = file
        .groups
        .iter()
        .map(|g| {
            Profile::new(
                &g.name,
                g.share,
                args.behavior.or(g.behavior).unwrap_or_default(),
                link(
                    args.latency_ms.unwrap_or(g.latency_ms),
                    args.jitter_ms.unwrap_or(g.jitter_ms),
                    args.bandwidth_kbps.or(g.bandwidth_kbps),
                    stall,
                ),
            )
        })
        .collect();
    let threads = args.threads.or(file.threads).unwrap_or(1);
    if !(1..=256).contains(&threads) {
        bail!("threads must be 1..=256");
    }
    let t = &file.thresholds;
    let probes = args.probes.or(file.probes);
    Ok(SwarmConfig {
        url: args
            .url
            .clone()
            .or(file.url.clone())
            .unwrap_or_else(|| "ws://127.0.0.1:8080/ws".to_owned()),
        count,
        plan,
        duration: seconds(args.duration.or(file.duration).unwrap_or(30.0), "duration")?,
        warmup: seconds(args.warmup.or(file.warmup).unwrap_or(0.0), "warmup")?,
        ramp_per_s: ramp,
        behavior,
        seed: args.seed.or(file.seed).unwrap_or(1),
        probes: probes.or((count > ALL_DECODE_UP_TO).then_some(DEFAULT_PROBES)),
        link: default_link,
        progress: args.progress,
        drop_every: args
            .drop_every
            .or(file.drop_every)
            .map(|s| seconds(s, "drop-every"))
            .transpose()?,
        reload_every: args
            .reload_every
            .or(file.reload_every)
            .map(|s| seconds(s, "reload-every"))
            .transpose()?,
        thresholds: Thresholds {
            max_join_errors: args.max_join_errors.or(t.max_join_errors),
            max_disconnects: args.max_disconnects.or(t.max_disconnects),
            max_desyncs: Some(args.max_desyncs.or(t.max_desyncs).unwrap_or(0)),
            max_errors: args.max_errors.or(t.max_errors),
            rtt_p99_ms: positive(args.rtt_p99_ms.or(t.rtt_p99_ms), "rtt-p99-ms")?,
            min_snapshot_rate: positive(
                args.min_snapshot_rate.or(t.min_snapshot_rate),
                "min-snapshot-rate",
            )?,
            max_resume_failures: args.max_resume_failures.or(t.max_resume_failures),
            resume_p99_ms: positive(args.resume_p99_ms.or(t.resume_p99_ms), "resume-p99-ms")?,
        },
        threads: usize::try_from(threads).unwrap_or(1),
        name: file.name.clone().or_else(|| {
            args.scenario
                .as_ref()
                .and_then(|p| p.file_stem())
                .map(|s| s.to_string_lossy().into_owned())
        }),
        stages,
        groups,
    })
}

fn main() {
    let args = Args::parse();
    if args.feel {
        std::process::exit(match feel(&args) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("tickwire-bots: {e:#}");
                EXIT_USAGE
            }
        });
    }
    if args.spectate {
        std::process::exit(spectate(&args));
    }
    let config = match config(&args).and_then(|c| {
        swarm::validate(&c)?;
        Ok(c)
    }) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tickwire-bots: {e:#}");
            std::process::exit(EXIT_USAGE);
        }
    };
    match run(&args, config) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("tickwire-bots: {e:#}");
            std::process::exit(1);
        }
    }
}

/// Runs the swarm, prints the table, writes the JSON; returns the exit code.
fn run(args: &Args, config: SwarmConfig) -> Result<i32> {
    let runtime = if config.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.threads)
            .enable_all()
            .build()?
    };
    // The exit code a signal asks for: 130 for Ctrl-C (SIGINT), 143 for SIGTERM.
    let signalled = Arc::new(AtomicI32::new(0));
    let report = runtime.block_on(async {
        let cancel = CancellationToken::new();
        let (on_signal, which) = (cancel.clone(), signalled.clone());
        tokio::spawn(async move {
            let code = wait_for_signal().await;
            which.store(code, Ordering::Relaxed);
            on_signal.cancel();
        });
        swarm::run_until(config, cancel).await
    })?;
    println!("{}", report.table());
    if let Some(path) = &args.json {
        std::fs::write(path, report.to_json() + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(dir) = &args.out {
        html::write_dir(dir, &report)
            .with_context(|| format!("cannot write into {}", dir.display()))?;
        println!(
            "  report: {} (and summary.json, series.jsonl, series.csv)",
            dir.join("report.html").display()
        );
    }
    let code = match (report.outcome, signalled.load(Ordering::Relaxed)) {
        (Outcome::Interrupted, s) if s != 0 => s,
        (o, _) => o.exit_code(),
    };
    if let Some(why) = &report.stop_reason {
        eprintln!("tickwire-bots: {}: {why}", report.outcome.word());
    }
    Ok(code)
}

/// `--feel`: runs the feel probes, prints their figures, writes the JSON.
fn feel(args: &Args) -> Result<i32> {
    let c = config(args)?;
    swarm::validate(&c)?;
    let fc = tickwire_bots::feel::FeelConfig {
        url: c.url.clone(),
        count: c.count,
        warmup: c.warmup,
        duration: c.duration,
        behavior: c.behavior,
        link: c.link,
        seed: c.seed,
        crowd: args.crowd,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    println!("window start");
    let report = runtime
        .block_on(tickwire_bots::feel::run(fc.clone()))
        .map_err(anyhow::Error::msg)?;
    println!("window end");
    print!("{}", report.table(&fc));
    if let Some(path) = &args.json {
        std::fs::write(path, report.to_json(&fc).to_string() + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(if report.joined == 0 { 3 } else { 0 })
}

/// Waits for Ctrl-C or SIGTERM; returns the conventional exit code (128 + signal).
async fn wait_for_signal() -> i32 {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return 130;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => 130,
            _ = term.recv() => 143,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        130
    }
}
