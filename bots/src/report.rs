//! The end of a run: [`Report`], printed as a table and written as JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::brain::Behavior;
use crate::scenario::{Profile, Stages};
use crate::seats::JoinPlan;
use crate::series::SeriesRow;
use crate::stats::{Disruption, FailureGroup, ResumeTally};
use crate::verdict::{Check, Outcome};

/// The run's parameters, as given.
#[derive(Clone, Debug, Serialize)]
pub struct Params {
    /// The scenario's name (`null`: none given).
    pub name: Option<String>,
    /// Server WebSocket URL.
    pub url: String,
    /// Where the bots sit: `"quick_play"`, `{"mode": M}`, `{"rooms": {mode, rooms,
    /// per_room}}` or `{"room": CODE}`.
    pub join: JoinPlan,
    /// Bots asked for.
    pub count: usize,
    /// Measured window, seconds.
    pub duration_s: f64,
    /// Warm-up between the end of the ramp and the window, seconds.
    pub warmup_s: f64,
    /// Bots started per second.
    pub ramp_per_s: f64,
    /// Behaviour.
    pub behavior: Behavior,
    /// Seed.
    pub seed: u64,
    /// Bots decoding everything (`null`: all of them).
    pub probes: Option<usize>,
    /// Link conditioner: added one-way latency, ms.
    pub latency_ms: u64,
    /// Link conditioner: added jitter, ms.
    pub jitter_ms: u64,
    /// Link conditioner: bandwidth cap each way, kbit/s (`null`: none).
    pub bandwidth_kbps: Option<u64>,
    /// Planned TCP drops about this often per bot, seconds (`null`: none).
    pub drop_every_s: Option<f64>,
    /// Planned page reloads about this often per bot, seconds (`null`: none).
    pub reload_every_s: Option<f64>,
    /// A scenario's stages: `{name, duration, bots, shape}` (`null`: `count` bots at
    /// `ramp_per_s`, then `duration_s`).
    pub stages: Option<Stages>,
    /// Shares of the swarm with their own behaviour and link (`[]`: every bot has
    /// `behavior` and the link above).
    pub groups: Vec<Profile>,
}

/// Latency percentiles in milliseconds (`null` without samples): input round trips of
/// the window, or the rooms API's answers.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RttMs {
    /// Median.
    pub p50: Option<f64>,
    /// 90th percentile.
    pub p90: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
    /// Largest.
    pub max: Option<f64>,
    /// Mean.
    pub mean: Option<f64>,
    /// Round trips measured.
    pub samples: u64,
}

impl RttMs {
    /// From a histogram in microseconds.
    #[must_use]
    pub fn from_histogram(h: &Histogram<u64>) -> RttMs {
        if h.is_empty() {
            return RttMs::default();
        }
        let ms = |us: u64| Some(us as f64 / 1000.0);
        RttMs {
            p50: ms(h.value_at_quantile(0.5)),
            p90: ms(h.value_at_quantile(0.9)),
            p99: ms(h.value_at_quantile(0.99)),
            max: ms(h.max()),
            mean: Some(h.mean() / 1000.0),
            samples: h.len(),
        }
    }
}

/// The harness's own health over the window.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Harness {
    /// The bot process kept up: its figures describe the server.
    pub valid: bool,
    /// Why not, when not.
    pub invalid_reasons: Vec<String>,
    /// How late a 10 ms timer of the bots' runtime fired.
    pub timer_late_ms: RttMs,
}

/// Inputs below this share of the tick rate: the bots could not keep their schedule.
const MIN_INPUT_SHARE: f64 = 0.9;
/// Bot process CPU above this, % per runtime thread: saturated.
const MAX_CPU_PCT_PER_THREAD: f64 = 90.0;

impl Harness {
    /// Judges the window of `r`: inputs sent per bot per second against the tick rate, the
    /// process's CPU against `threads` cores, and the timers' p99 lateness against a tick.
    #[must_use]
    pub fn judge(r: &Report, timer_late_ms: RttMs, threads: usize) -> Harness {
        let mut why = Vec::new();
        let hz = f64::from(r.tick_hz);
        if r.client_seconds > 0.0 && hz > 0.0 && r.inputs_per_bot_per_s < MIN_INPUT_SHARE * hz {
            why.push(format!(
                "bots sent {:.1} inputs per bot per second at {hz:.0} Hz: the bot process could not keep its schedule",
                r.inputs_per_bot_per_s
            ));
        }
        let cpu_budget = MAX_CPU_PCT_PER_THREAD * threads.max(1) as f64;
        if let Some(cpu) = r.bots_cpu_pct.filter(|c| *c > cpu_budget) {
            why.push(format!(
                "bot process at {cpu:.0} % CPU ({threads} runtime thread(s)): saturated; use fewer decoding bots (--probes) or more --threads"
            ));
        }
        if let (Some(p99), true) = (timer_late_ms.p99, hz > 0.0) {
            let tick_ms = 1000.0 / hz;
            if p99 > tick_ms {
                why.push(format!(
                    "the bots' timers fired up to {p99:.0} ms late (p99), more than a tick ({tick_ms:.0} ms): the runtime was starved"
                ));
            }
        }
        Harness {
            valid: why.is_empty(),
            invalid_reasons: why,
            timer_late_ms,
        }
    }
}

/// Resumes after one kind of planned disruption.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ResumeKind {
    /// Connections cut.
    pub cuts: u64,
    /// Resumes that got their first snapshot.
    pub resumes: u64,
    /// Of which the first snapshot was a full state.
    pub full_snapshots: u64,
    /// Cut to first snapshot applied.
    pub resume_ms: RttMs,
    /// Resumes that failed, by kind.
    pub failures: BTreeMap<String, u64>,
}

/// The resumes of a run (`--drop-every`, `--reload-every`).
#[derive(Clone, Debug, Default, Serialize)]
pub struct ResumeReport {
    /// Resumes that got their first snapshot, drops and reloads together.
    pub resumes: u64,
    /// Cut to first snapshot applied, drops and reloads together.
    pub resume_ms: RttMs,
    /// Resumes whose first snapshot was a full state rather than a delta (every reload
    /// asks for one).
    pub resume_full_snapshots: u64,
    /// Resumes that failed, by kind (drops and reloads together).
    pub resume_failures: BTreeMap<String, u64>,
    /// The same, by disruption: `drop`, `reload` (only those that happened).
    pub resume_by_kind: BTreeMap<String, ResumeKind>,
}

impl ResumeReport {
    /// From the tallies of [`crate::stats::Stats::resumes`] (drops, reloads).
    #[must_use]
    pub fn from_tallies(t: &[ResumeTally; 2]) -> ResumeReport {
        let mut all = crate::driver::rtt_histogram();
        let mut r = ResumeReport::default();
        for (tally, kind) in t.iter().zip([Disruption::Drop, Disruption::Reload]) {
            if tally.attempts == 0 {
                continue;
            }
            all.add(&tally.us).expect("same histogram bounds");
            r.resumes += tally.resumed;
            r.resume_full_snapshots += tally.full;
            for (why, n) in &tally.failures {
                *r.resume_failures.entry(why.clone()).or_default() += n;
            }
            r.resume_by_kind.insert(
                kind.name().to_owned(),
                ResumeKind {
                    cuts: tally.attempts,
                    resumes: tally.resumed,
                    full_snapshots: tally.full,
                    resume_ms: RttMs::from_histogram(&tally.us),
                    failures: tally.failures.clone(),
                },
            );
        }
        r.resume_ms = RttMs::from_histogram(&all);
        r
    }
}

/// Everything a run measured. Rates are over the measured window, per client-second
/// (each bot counts for the part of the window its session was open).
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The run's parameters.
    #[serde(flatten)]
    pub params: Params,
    /// How the run ended: `pass`, `fail` (a threshold), `invalid` (the harness could not
    /// keep up), `server_gone`, `unreachable`, `interrupted`.
    pub outcome: Outcome,
    /// Why it stopped early or was interrupted (`null`: it ran to its end).
    pub stop_reason: Option<String>,
    /// Every threshold, checked.
    pub checks: Vec<Check>,
    /// Bots that decode every snapshot (probes; the others read headers only).
    pub decoding_bots: usize,
    /// The server's tick rate (from the welcome; 0 if no bot joined).
    pub tick_hz: u16,
    /// Bots that joined.
    pub joined: u64,
    /// Failures other than desyncs and disconnects: joins refused or timed out,
    /// undecodable or unexpected server messages.
    pub errors: u64,
    /// Of which joins that failed.
    pub connect_errors: u64,
    /// Of which seat reservations the rooms API refused or did not answer.
    pub matchmake_errors: u64,
    /// Latency of the rooms API's answers (every request of the run; none in quick play).
    pub matchmake_ms: RttMs,
    /// Rooms the bots joined.
    pub rooms_joined: usize,
    /// Bots that joined each room, by room code.
    pub bots_per_room: BTreeMap<String, u64>,
    /// Snapshots that did not apply, or replicas that broke an invariant.
    pub desyncs: u64,
    /// Sessions the server or the socket ended before the run did.
    pub disconnects: u64,
    /// Connections lost whose room was gone (its node died): the bot found a seat again
    /// through matchmaking and played on (not counted as disconnects).
    pub rejoins: u64,
    /// Server frames that did not decode.
    pub decode_errors: u64,
    /// Sessions still open at the end of the window.
    pub connected_at_end: i64,
    /// Length of the measured window, seconds.
    pub window_s: f64,
    /// Sum over bots of their session time inside the window, seconds.
    pub client_seconds: f64,
    /// Input round trips.
    pub rtt_ms: RttMs,
    /// WebSocket payload bytes received per bot per second.
    pub bytes_down_per_client_per_s: f64,
    /// WebSocket payload bytes sent per bot per second.
    pub bytes_up_per_client_per_s: f64,
    /// Snapshots received per bot per second.
    pub snapshots_per_client_per_s: f64,
    /// Inputs really sent per bot per second.
    pub inputs_per_bot_per_s: f64,
    /// All bots together, kbit/s received.
    pub kbps_down_total: f64,
    /// CPU time of the bot process over the window, % of one core (`null` off Linux).
    pub bots_cpu_pct: Option<f64>,
    /// Whether the harness kept up (else the run is `invalid`).
    pub harness: Harness,
    /// Resumes after planned drops and reloads (the whole run, not only the window).
    #[serde(flatten)]
    pub resumes: ResumeReport,
    /// Stopped early (Ctrl-C).
    pub interrupted: bool,
    /// Every failure, by kind (`"join: refused: HTTP 503 Service Unavailable"`,
    /// `"in play: closed 1001 ShuttingDown"`, `"in play: reset"`, `"in play: desync: hash
    /// mismatch"`...): a count and the first few in full.
    pub failures: BTreeMap<String, FailureGroup>,
    /// One row a second over the whole run (written apart by `--out`, not in the JSON).
    #[serde(skip)]
    pub series: Vec<SeriesRow>,
}

impl Report {
    /// The report as JSON.
    #[must_use]
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serialises")
    }

    /// The behaviour, or the groups' mix: `70 % wander, 20 % chase (+40 ms), 10 % idle`.
    #[must_use]
    pub fn mix(&self) -> String {
        let groups = &self.params.groups;
        if groups.is_empty() {
            return format!("{:?}", self.params.behavior).to_lowercase();
        }
        let total: f64 = groups.iter().map(|g| g.share).sum();
        groups
            .iter()
            .map(|g| {
                let link = if g.latency_ms + g.jitter_ms > 0 || g.bandwidth_kbps.is_some() {
                    format!(" (+{} ms)", g.latency_ms)
                } else {
                    String::new()
                };
                format!(
                    "{:.0} % {}{link}",
                    g.share / total * 100.0,
                    format!("{:?}", g.behavior).to_lowercase()
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The summary's rows (label, value), as in the table.
    #[must_use]
    pub fn rows(&self) -> Vec<(&'static str, String)> {
        let opt = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1}"));
        let p = &self.params;
        let mut rows: Vec<(&str, String)> = vec![
            ("bots joined", format!("{} / {}", self.joined, p.count)),
            (
                "behaviour / decoding bots",
                format!("{} / {} decode", self.mix(), self.decoding_bots),
            ),
            ("tick rate", format!("{} Hz", self.tick_hz)),
            (
                "rooms joined (bots per room)",
                format!(
                    "{} ({}-{})",
                    self.rooms_joined,
                    self.bots_per_room.values().min().unwrap_or(&0),
                    self.bots_per_room.values().max().unwrap_or(&0)
                ),
            ),
            (
                "window",
                format!(
                    "{:.1} s ({:.0} client-s)",
                    self.window_s, self.client_seconds
                ),
            ),
            (
                "input RTT p50 / p90 / p99 / max",
                format!(
                    "{} / {} / {} / {} ms ({} samples)",
                    opt(self.rtt_ms.p50),
                    opt(self.rtt_ms.p90),
                    opt(self.rtt_ms.p99),
                    opt(self.rtt_ms.max),
                    self.rtt_ms.samples
                ),
            ),
            (
                "down per client",
                format!(
                    "{:.0} B/s ({:.1} kbit/s), {:.1} snapshots/s",
                    self.bytes_down_per_client_per_s,
                    self.bytes_down_per_client_per_s * 8.0 / 1000.0,
                    self.snapshots_per_client_per_s
                ),
            ),
            (
                "up per client",
                format!(
                    "{:.0} B/s, {:.1} inputs/s",
                    self.bytes_up_per_client_per_s, self.inputs_per_bot_per_s
                ),
            ),
            (
                "down, all bots",
                format!("{:.0} kbit/s", self.kbps_down_total),
            ),
            (
                "bot process CPU / timers late p99",
                format!(
                    "{} % / {} ms",
                    opt(self.bots_cpu_pct),
                    opt(self.harness.timer_late_ms.p99)
                ),
            ),
            (
                "errors / desyncs / disconnects",
                format!(
                    "{} (seats {}, joins {}, decode {}) / {} / {}",
                    self.errors,
                    self.matchmake_errors,
                    self.connect_errors,
                    self.decode_errors,
                    self.desyncs,
                    self.disconnects
                ),
            ),
        ];
        if self.matchmake_ms.samples > 0 {
            rows.push((
                "matchmaking p50 / p99 / max",
                format!(
                    "{} / {} / {} ms ({} requests)",
                    opt(self.matchmake_ms.p50),
                    opt(self.matchmake_ms.p99),
                    opt(self.matchmake_ms.max),
                    self.matchmake_ms.samples
                ),
            ));
        }
        if p.latency_ms + p.jitter_ms > 0 || p.bandwidth_kbps.is_some() {
            rows.push((
                "link conditioner",
                format!(
                    "+{} ms, jitter {} ms, cap {}",
                    p.latency_ms,
                    p.jitter_ms,
                    p.bandwidth_kbps
                        .map_or("none".to_owned(), |k| format!("{k} kbit/s"))
                ),
            ));
        }
        for (kind, k) in &self.resumes.resume_by_kind {
            let failed: u64 = k.failures.values().sum();
            rows.push((
                if kind == "drop" {
                    "resumes after drops"
                } else {
                    "resumes after reloads"
                },
                format!(
                    "{} of {} cuts: {} delta, {} full, {} failed; p50 / p99 / max {} / {} / {} ms",
                    k.resumes,
                    k.cuts,
                    k.resumes - k.full_snapshots,
                    k.full_snapshots,
                    failed,
                    opt(k.resume_ms.p50),
                    opt(k.resume_ms.p99),
                    opt(k.resume_ms.max),
                ),
            ));
        }
        for (why, n) in &self.resumes.resume_failures {
            rows.push(("resume failed", format!("{n} x {why}")));
        }
        if self.interrupted {
            rows.push(("interrupted", "yes (partial window)".to_owned()));
        }
        for why in &self.harness.invalid_reasons {
            rows.push(("INVALID RUN", why.clone()));
        }
        if self.joined == 0 {
            // Nothing was measured: the figures would only be zeros.
            rows.truncate(2);
        }
        rows
    }

    /// The report as a human table.
    #[must_use]
    pub fn table(&self) -> String {
        let rows = self.rows();
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let mut out = String::new();
        for (k, v) in rows {
            let _ = writeln!(out, "  {k:<width$}  {v}");
        }
        for c in &self.checks {
            let _ = writeln!(out, "  {}", c.line());
        }
        let _ = writeln!(
            out,
            "  result: {}{} (exit {})",
            self.outcome.word(),
            self.stop_reason
                .as_ref()
                .map_or(String::new(), |r| format!(": {r}")),
            self.outcome.exit_code()
        );
        if !self.failures.is_empty() {
            let total: u64 = self.failures.values().map(|g| g.count).sum();
            let _ = writeln!(out, "  failures by kind ({total}):");
            let mut groups: Vec<_> = self.failures.iter().collect();
            groups.sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(b.0)));
            for (kind, g) in groups {
                let _ = writeln!(out, "  ! {:>6} x {kind}", g.count);
                if let Some(e) = g.examples.first() {
                    let _ = writeln!(out, "  !          e.g. {e}");
                }
            }
        }
        out
    }
}

/// CPU time (user + system) of this process so far, from `/proc/self/stat`; `None` where
/// there is no such file.
#[must_use]
pub fn process_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may contain spaces), from field 3 on.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    // USER_HZ is 100 on every Linux ABI (sysconf would need unsafe code).
    Some(Duration::from_millis((utime + stime) * 10))
}
