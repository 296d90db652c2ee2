//! The end of a run: [`Report`], printed as a table and written as JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::brain::Behavior;
use crate::seats::JoinPlan;

/// The run's parameters, as given.
#[derive(Clone, Debug, Serialize)]
pub struct Params {
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

/// Everything a run measured. Rates are over the measured window, per client-second
/// (each bot counts for the part of the window its session was open).
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The run's parameters.
    #[serde(flatten)]
    pub params: Params,
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
    /// Stopped early (Ctrl-C).
    pub interrupted: bool,
    /// The first few failures, as text.
    pub failure_samples: Vec<String>,
}

impl Report {
    /// The report as JSON.
    #[must_use]
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serialises")
    }

    /// The report as a human table.
    #[must_use]
    pub fn table(&self) -> String {
        let opt = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1}"));
        let p = &self.params;
        let mut rows: Vec<(&str, String)> = vec![
            ("bots joined", format!("{} / {}", self.joined, p.count)),
            (
                "behaviour / probes",
                format!(
                    "{:?} / {}",
                    p.behavior,
                    p.probes.map_or("all".to_owned(), |k| k.to_string())
                ),
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
            ("bot process CPU", format!("{} %", opt(self.bots_cpu_pct))),
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
        if self.interrupted {
            rows.push(("interrupted", "yes (partial window)".to_owned()));
        }
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let mut out = String::new();
        for (k, v) in rows {
            let _ = writeln!(out, "  {k:<width$}  {v}");
        }
        for s in &self.failure_samples {
            let _ = writeln!(out, "  ! {s}");
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
