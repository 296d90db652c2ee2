//! The bot swarm: many bots in one process, on one runtime, for a bounded time.
//!
//! A run: bots join at `ramp_per_s` (ramp) until every attempt is over; then `warmup`;
//! then the measured window of `duration`, over which every rate and the round trips are
//! taken; then every bot closes. "window start" / "window end" lines mark the window on
//! the progress output (the benchmark driver aligns its server measurements on them).

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::http::Uri;
use tokio_util::sync::CancellationToken;

use crate::bot::{self, BotSpec, Fleet, Session, CONNECT_TIMEOUT};
use crate::brain::Behavior;
use crate::connection::DecodeMode;
use crate::link::LinkConfig;
use crate::progress::{Phase, Progress, ProgressMode};
use crate::report::{process_cpu_time, Harness, Params, Report, ResumeReport, RttMs};
use crate::scenario::{assign, Profile, Stages};
use crate::seats::{JoinPlan, Seats};
use crate::series::{Marks, Sampler};
use crate::stats::Stats;
use crate::verdict::{checks, Outcome, Thresholds};
use crate::watchdog;

/// Most bots one run may start.
pub const MAX_BOTS: usize = 20_000;
/// Longest warm-up or window.
pub const MAX_DURATION: Duration = Duration::from_secs(3600);
/// Shortest period of planned drops and reloads.
pub const MIN_DISRUPT_EVERY: Duration = Duration::from_millis(200);
/// Longest wait for every bot to close at the end.
const CLOSE_ALL_TIMEOUT: Duration = Duration::from_secs(15);

/// What a swarm run does.
#[derive(Clone, Debug)]
pub struct SwarmConfig {
    /// Server WebSocket URL, e.g. `ws://127.0.0.1:8080/ws` (loopback only); the rooms API
    /// is at the same host and port.
    pub url: String,
    /// Where the bots sit (default: quick play).
    pub plan: JoinPlan,
    /// Bots to start.
    pub count: usize,
    /// Measured window, after the ramp and the warm-up.
    pub duration: Duration,
    /// Time between the end of the ramp and the measured window.
    pub warmup: Duration,
    /// Bots started per second (0: all at once).
    pub ramp_per_s: f64,
    /// What the bots do.
    pub behavior: Behavior,
    /// Seed of every bot's brain, phase and jitter.
    pub seed: u64,
    /// Bots that decode every snapshot, spread through the join order; the others read
    /// headers only. `None`: every bot decodes everything.
    pub probes: Option<usize>,
    /// Link conditions of every bot.
    pub link: LinkConfig,
    /// Progress output.
    pub progress: ProgressMode,
    /// Cut each bot's TCP connection (a reset) about this often, then resume its player
    /// with the state it holds.
    pub drop_every: Option<Duration>,
    /// Reload each bot about this often, as a page reload: a fresh connection presents the
    /// resume token with no state (a full state comes back).
    pub reload_every: Option<Duration>,
    /// Limits checked at the end (the report's pass/fail lines).
    pub thresholds: Thresholds,
    /// Runtime threads driving the bots (for the harness's CPU budget).
    pub threads: usize,
    /// The scenario's name (the report's title).
    pub name: Option<String>,
    /// Target bot counts over time (a scenario): replaces `count`, `ramp_per_s`, `warmup`
    /// and `duration`; the measured window is every stage.
    pub stages: Option<Stages>,
    /// Shares of the swarm with their own behaviour and link (empty: every bot has
    /// `behavior` and `link`).
    pub groups: Vec<Profile>,
}

impl SwarmConfig {
    /// A quiet run of `count` bots against `url` for `duration`, other settings default.
    #[must_use]
    pub fn new(url: impl Into<String>, count: usize, duration: Duration) -> SwarmConfig {
        SwarmConfig {
            url: url.into(),
            plan: JoinPlan::QuickPlay,
            count,
            duration,
            warmup: Duration::ZERO,
            ramp_per_s: 200.0,
            behavior: Behavior::Wander,
            seed: 1,
            probes: None,
            link: LinkConfig::default(),
            progress: ProgressMode::Quiet,
            drop_every: None,
            reload_every: None,
            thresholds: Thresholds::default(),
            threads: 1,
            name: None,
            stages: None,
            groups: Vec::new(),
        }
    }
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum SwarmError {
    /// The URL is not a `ws://` URL of this machine.
    #[error("--url must be ws://127.0.0.1:PORT/PATH or ws://localhost:PORT/PATH, got {0:?}")]
    NotLoopback(String),
    /// A setting is out of range.
    #[error("{0}")]
    Invalid(String),
}

/// Checks a configuration without running it (what [`run`] refuses).
///
/// # Errors
/// [`SwarmError`] saying which setting and its range.
pub fn validate(config: &SwarmConfig) -> Result<(), SwarmError> {
    check(config)
}

fn check(config: &SwarmConfig) -> Result<(), SwarmError> {
    let uri: Uri = config
        .url
        .parse()
        .map_err(|_| SwarmError::NotLoopback(config.url.clone()))?;
    let host = uri.host().unwrap_or_default().trim_matches(['[', ']']);
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if uri.scheme_str() != Some("ws") || !loopback {
        return Err(SwarmError::NotLoopback(config.url.clone()));
    }
    if let Some(stages) = &config.stages {
        if stages.peak() == 0 {
            return Err(SwarmError::Invalid(
                "the stages need at least one with bots > 0".into(),
            ));
        }
        if stages.starts() > MAX_BOTS {
            return Err(SwarmError::Invalid(format!(
                "the stages start {} bots; at most {MAX_BOTS}",
                stages.starts()
            )));
        }
        if stages.total() > MAX_DURATION {
            return Err(SwarmError::Invalid(format!(
                "the stages last {:.0} s; at most {} s",
                stages.total().as_secs_f64(),
                MAX_DURATION.as_secs()
            )));
        }
    }
    if config.count == 0 || config.count > MAX_BOTS {
        return Err(SwarmError::Invalid(format!(
            "count must be 1..={MAX_BOTS}, got {}",
            config.count
        )));
    }
    if config.duration > MAX_DURATION || config.warmup > MAX_DURATION {
        return Err(SwarmError::Invalid(format!(
            "duration and warm-up are at most {} s",
            MAX_DURATION.as_secs()
        )));
    }
    match &config.plan {
        JoinPlan::Rooms {
            rooms, per_room, ..
        } if *rooms == 0 || *per_room == 0 => {
            return Err(SwarmError::Invalid(
                "rooms and bots per room must be at least 1".into(),
            ));
        }
        plan => {
            if let Some(n) = plan.count().filter(|n| *n != config.count) {
                return Err(SwarmError::Invalid(format!(
                    "{n} bots fill the rooms, but count is {}",
                    config.count
                )));
            }
        }
    }
    for (every, what) in [(config.drop_every, "drop"), (config.reload_every, "reload")] {
        if every.is_some_and(|e| e < MIN_DISRUPT_EVERY || e > MAX_DURATION) {
            return Err(SwarmError::Invalid(format!(
                "--{what}-every must be {}..={} s",
                MIN_DISRUPT_EVERY.as_secs_f64(),
                MAX_DURATION.as_secs()
            )));
        }
    }
    if !(config.ramp_per_s.is_finite() && config.ramp_per_s >= 0.0) {
        return Err(SwarmError::Invalid("ramp must be >= 0".into()));
    }
    if config
        .groups
        .iter()
        .any(|g| !(g.share.is_finite() && g.share > 0.0))
    {
        return Err(SwarmError::Invalid(
            "every group's share must be > 0".into(),
        ));
    }
    Ok(())
}

/// Which bots decode everything: `probes` of them, spread evenly through the join order.
#[must_use]
pub fn probe_mask(count: usize, probes: Option<usize>) -> Vec<bool> {
    match probes {
        None => vec![true; count],
        Some(k) => {
            let k = k.min(count);
            let mut mask = vec![false; count];
            for j in 0..k {
                mask[j * count / k] = true;
            }
            mask
        }
    }
}

/// Runs a swarm to its end.
///
/// # Errors
/// [`SwarmError`] for a configuration it refuses (nothing is started then).
pub async fn run(config: SwarmConfig) -> Result<Report, SwarmError> {
    run_until(config, CancellationToken::new()).await
}

/// Runs a swarm to its end, or until `cancel` (then the report covers the partial window
/// and says so). It stops early, with its reason in the report, when the server cannot be
/// reached or refuses every bot ([`Outcome::Unreachable`]) or goes away during the run
/// ([`Outcome::ServerGone`]).
///
/// # Errors
/// [`SwarmError`] for a configuration it refuses (nothing is started then).
pub async fn run_until(
    config: SwarmConfig,
    cancel: CancellationToken,
) -> Result<Report, SwarmError> {
    check(&config)?;
    let seats = Seats::new(&config.url, config.plan.clone())
        .map_err(|e| SwarmError::Invalid(e.to_string()))?;
    let stats = Arc::new(Stats::default());
    // Bots started over the run: `count`, or every rise of a scenario's target.
    let slots = config.stages.as_ref().map_or(config.count, Stages::starts);
    let peak = config.stages.as_ref().map_or(config.count, Stages::peak);
    let (attempts, mut attempts_rx) = watch::channel(0usize);
    let fleet = Arc::new(Fleet {
        url: config.url.clone(),
        seats,
        stats: stats.clone(),
        stop: CancellationToken::new(),
        attempts,
        tick_hz: AtomicU32::new(0),
        sessions: Mutex::new(vec![Session::default(); slots]),
        drop_every: config.drop_every,
        reload_every: config.reload_every,
    });
    let profiles = if config.groups.is_empty() {
        vec![Profile::new("", 1.0, config.behavior, config.link)]
    } else {
        config.groups.clone()
    };
    let group_of = assign(&profiles, slots);
    let mask = probe_mask(slots, config.probes);
    let probe_count = mask.iter().filter(|p| **p).count();
    let window_len = config
        .stages
        .as_ref()
        .map_or(config.duration, Stages::total);
    let progress = Progress::start(
        config.progress,
        stats.clone(),
        peak,
        probe_count,
        window_len,
    );
    let marks = Marks::default();
    marks.target(if config.stages.is_some() { 0 } else { peak });
    marks.label("ramp");
    let sampler = Sampler::start(stats.clone(), marks.clone());
    // Stops every phase: the caller's cancel, or the watchdog's verdict.
    let halt = cancel.child_token();
    let early: Arc<Mutex<Option<(Outcome, String)>>> = Arc::default();
    let mut bots: JoinSet<()> = JoinSet::new();
    let started = Arc::new(AtomicUsize::new(0));
    let t0 = Instant::now();

    if let Err(why) = watchdog::reachable(&config.url).await {
        *early.lock() = Some((
            Outcome::Unreachable,
            format!("cannot reach the server at {}: {why}", config.url),
        ));
        halt.cancel();
    }
    let dog = tokio::spawn(watchdog::watch(
        watchdog::Watched {
            url: config.url.clone(),
            count: slots,
            stats: stats.clone(),
            attempts: attempts_rx.clone(),
            started: started.clone(),
            target: marks.target.clone(),
        },
        early.clone(),
        halt.clone(),
    ));
    let late = Arc::new(Mutex::new(crate::driver::rtt_histogram()));
    let timers = tokio::spawn(watchdog::timer_lateness(late.clone()));

    // Probes' phases in the tick are spread evenly (stratified), so that the figures of a
    // few stand for all phases.
    let mut probe_rank = 0usize;
    let mut spec = |index: usize| {
        let probe = mask[index];
        let profile = &profiles[group_of[index]];
        BotSpec {
            index,
            mode: if probe {
                DecodeMode::Full
            } else {
                DecodeMode::HeaderOnly
            },
            seed: config
                .seed
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .wrapping_add(index as u64),
            phase: (probe && config.probes.is_some()).then(|| {
                probe_rank += 1;
                (probe_rank as f64 - 0.5) / probe_count as f64
            }),
            behavior: profile.behavior,
            link: profile.link,
            stop: fleet.stop.child_token(),
        }
    };
    let spawn = |spec: BotSpec, bots: &mut JoinSet<()>| {
        bots.spawn(bot::run(spec, fleet.clone()));
        started.fetch_add(1, Ordering::Relaxed);
        // Keep finished tasks from piling up while thousands join.
        while bots.try_join_next().is_some() {}
    };

    let (w0, s0, cpu0, measured) = if let Some(stages) = &config.stages {
        // A scenario: the window is every stage; the bots follow the stages' target.
        stats.reset_window();
        let (w0, s0, cpu0) = (Instant::now(), stats.sample(), process_cpu_time());
        late.lock().reset();
        let measured = !halt.is_cancelled();
        if measured {
            progress.phase(Phase::Measure, "window start");
        }
        follow_stages(stages, &halt, &marks, &progress, |target, active| {
            while active.len() < target && started.load(Ordering::Relaxed) < slots {
                let s = spec(started.load(Ordering::Relaxed));
                active.push(s.stop.clone());
                spawn(s, &mut bots);
            }
            // The newest bots leave first.
            while active.len() > target {
                if let Some(stop) = active.pop() {
                    stop.cancel();
                }
            }
        })
        .await;
        (w0, s0, cpu0, measured)
    } else {
        // Ramp.
        for index in 0..config.count {
            if halt.is_cancelled() {
                break;
            }
            if config.ramp_per_s > 0.0 {
                let at = t0 + Duration::from_secs_f64(index as f64 / config.ramp_per_s);
                tokio::select! {
                    () = halt.cancelled() => break,
                    () = tokio::time::sleep_until(at) => {}
                }
            }
            let s = spec(index);
            spawn(s, &mut bots);
        }
        let n_started = started.load(Ordering::Relaxed);
        tokio::select! {
            () = halt.cancelled() => {}
            _ = tokio::time::timeout(CONNECT_TIMEOUT * 2, attempts_rx.wait_for(|n| *n >= n_started)) => {}
        }
        let s = stats.sample();
        if !halt.is_cancelled() && s.joined == 0 {
            let why = watchdog::top_failures(&stats);
            *early.lock() = Some((Outcome::Unreachable, format!("no bot joined: {why}")));
            halt.cancel();
        }
        marks.label("warm-up");
        progress.phase(
            Phase::Warmup,
            &format!(
                "{} joined, {} failed in {:.1} s",
                s.joined,
                s.connect_errors + s.matchmake_errors,
                t0.elapsed().as_secs_f64()
            ),
        );
        tokio::select! {
            () = halt.cancelled() => {}
            () = tokio::time::sleep(config.warmup) => {}
        }

        // Measured window.
        stats.reset_window();
        let (w0, s0, cpu0) = (Instant::now(), stats.sample(), process_cpu_time());
        late.lock().reset();
        // The window opens only if the run still goes on (the benchmark driver aligns its
        // server measurements on these two lines).
        let measured = !halt.is_cancelled();
        if measured {
            marks.label("measure");
            progress.phase(Phase::Measure, "window start");
        }
        tokio::select! {
            () = halt.cancelled() => {}
            () = tokio::time::sleep(config.duration) => {}
        }
        (w0, s0, cpu0, measured)
    };
    let (w1, s1, cpu1) = (Instant::now(), stats.sample(), process_cpu_time());
    let rtt = stats.window_rtt();
    let late = RttMs::from_histogram(&late.lock());
    if measured {
        progress.phase(Phase::Closing, "window end");
    }
    marks.label("closing");
    dog.abort();
    timers.abort();

    fleet.stop.cancel();
    let closing = async { while bots.join_next().await.is_some() {} };
    if tokio::time::timeout(CLOSE_ALL_TIMEOUT, closing)
        .await
        .is_err()
    {
        bots.abort_all();
    }
    progress.finish();
    let series = sampler.finish();

    let window = w1.duration_since(w0).as_secs_f64().max(1e-9);
    let client_seconds: f64 = fleet
        .sessions
        .lock()
        .iter()
        .filter_map(|s| {
            let a = s.joined?.max(w0);
            let b = s.ended.map_or(w1, |e| e.min(w1));
            Some(b.saturating_duration_since(a).as_secs_f64())
        })
        .sum::<f64>()
        // An empty sum of floats is -0.
        .max(0.0);
    let per_client = |a: u64, b: u64| {
        if client_seconds > 0.0 {
            (a - b) as f64 / client_seconds
        } else {
            0.0
        }
    };
    let end = stats.sample();
    let bots_per_room = stats.rooms();
    let bots_cpu_pct = match (cpu0, cpu1) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a).as_secs_f64() / window * 100.0),
        _ => None,
    };
    let tick_hz = u16::try_from(fleet.tick_hz.load(Ordering::Relaxed)).unwrap_or(u16::MAX);
    let link = config.link;
    let mut report = Report {
        params: Params {
            name: config.name.clone(),
            url: config.url.clone(),
            join: config.plan.clone(),
            count: peak,
            duration_s: config.duration.as_secs_f64(),
            warmup_s: config.warmup.as_secs_f64(),
            ramp_per_s: config.ramp_per_s,
            behavior: config.behavior,
            seed: config.seed,
            probes: config.probes,
            latency_ms: link.latency.as_millis() as u64,
            jitter_ms: link.jitter.as_millis() as u64,
            bandwidth_kbps: link.bandwidth_bps.map(|b| b / 1000),
            drop_every_s: config.drop_every.map(|d| d.as_secs_f64()),
            reload_every_s: config.reload_every.map(|d| d.as_secs_f64()),
            stages: config.stages.clone(),
            groups: config.groups.clone(),
        },
        outcome: Outcome::Pass,
        stop_reason: None,
        checks: Vec::new(),
        tick_hz,
        joined: end.joined,
        decoding_bots: probe_count,
        errors: end.errors + end.connect_errors + end.matchmake_errors,
        connect_errors: end.connect_errors,
        matchmake_errors: end.matchmake_errors,
        matchmake_ms: RttMs::from_histogram(&stats.matchmake()),
        rooms_joined: bots_per_room.len(),
        bots_per_room,
        desyncs: end.desyncs,
        disconnects: end.disconnects,
        rejoins: stats
            .counters
            .rejoins
            .load(std::sync::atomic::Ordering::Relaxed),
        decode_errors: end.decode_errors,
        connected_at_end: s1.connected,
        window_s: window,
        client_seconds,
        rtt_ms: RttMs::from_histogram(&rtt),
        bytes_down_per_client_per_s: per_client(s1.bytes_down, s0.bytes_down),
        bytes_up_per_client_per_s: per_client(s1.bytes_up, s0.bytes_up),
        snapshots_per_client_per_s: per_client(s1.snapshots, s0.snapshots),
        inputs_per_bot_per_s: per_client(s1.inputs, s0.inputs),
        kbps_down_total: (s1.bytes_down - s0.bytes_down) as f64 * 8.0 / 1000.0 / window,
        bots_cpu_pct,
        harness: Harness::default(),
        resumes: ResumeReport::from_tallies(&stats.resumes()),
        interrupted: cancel.is_cancelled(),
        failures: stats.failures(),
        series,
    };
    report.harness = Harness::judge(&report, late, config.threads);
    // With nobody joined nothing was measured: no check would mean anything.
    if report.joined > 0 {
        report.checks = checks(&report, &config.thresholds);
    }
    let early = early.lock().clone();
    (report.outcome, report.stop_reason) = if report.interrupted {
        (Outcome::Interrupted, Some("interrupted".to_owned()))
    } else if let Some((o, why)) = early {
        (o, Some(why))
    } else if !report.harness.valid {
        (Outcome::Invalid, None)
    } else if report.checks.iter().any(|c| !c.pass) {
        (Outcome::Fail, None)
    } else {
        (Outcome::Pass, None)
    };
    Ok(report)
}

/// How often the population is brought to the stages' target.
const FOLLOW_EVERY: Duration = Duration::from_millis(100);

/// Runs the stages to their end (or `halt`): every 100 ms, `set(target, active)` brings
/// the bots (their stop tokens, oldest first) to the target of that moment.
async fn follow_stages(
    stages: &Stages,
    halt: &CancellationToken,
    marks: &Marks,
    progress: &Progress,
    mut set: impl FnMut(usize, &mut Vec<CancellationToken>),
) {
    let start = Instant::now();
    let mut active: Vec<CancellationToken> = Vec::new();
    let mut every = tokio::time::interval(FOLLOW_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut stage_name = String::new();
    loop {
        tokio::select! {
            () = halt.cancelled() => return,
            _ = every.tick() => {}
        }
        let Some((stage, target)) = stages.at(start.elapsed().as_secs_f64()) else {
            return;
        };
        if stage.name != stage_name {
            stage_name.clone_from(&stage.name);
            marks.label(&stage_name);
            progress.println(&format!(
                "tickwire-bots: stage {stage_name}: {} bots over {:.0} s",
                stage.bots, stage.duration
            ));
        }
        marks.target(target);
        set(target, &mut active);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_are_spread_through_the_join_order() {
        let m = probe_mask(100, Some(5));
        let idx: Vec<usize> = (0..100).filter(|i| m[*i]).collect();
        assert_eq!(idx, vec![0, 20, 40, 60, 80]);
        assert_eq!(probe_mask(3, Some(10)), vec![true; 3]);
        assert_eq!(probe_mask(4, None), vec![true; 4]);
        assert_eq!(probe_mask(4, Some(0)), vec![false; 4]);
    }

    #[test]
    fn only_loopback_urls_are_accepted() {
        let ok = |u: &str| check(&SwarmConfig::new(u, 1, Duration::from_secs(1))).is_ok();
        assert!(ok("ws://127.0.0.1:8080/ws"));
        assert!(ok("ws://localhost:1/ws"));
        assert!(ok("ws://[::1]:1/ws"));
        assert!(!ok("ws://example.com/ws"));
        assert!(!ok("ws://10.0.0.1:80/ws"));
        assert!(!ok("http://127.0.0.1/ws"));
    }
}
