//! Server metrics in the Prometheus text format, served at `/metrics`. One registry per
//! server instance (no global state), so several servers in one process stay apart.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram as Hdr;
use parking_lot::Mutex;
use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use crate::room::{TickObserver, TickReport};

/// Every metric the server exports.
pub struct Metrics {
    registry: Registry,
    /// Players in every room.
    pub players: IntGauge,
    /// Players held for a resume after a lost connection, in every room.
    pub players_in_grace: IntGauge,
    /// Players resumed (a new connection re-attached to a held player).
    pub resumes: IntCounter,
    /// Recordings cut because their queue was full (the disk fell behind the tick).
    pub recordings_cut: IntCounter,
    /// Rooms hosted, by mode.
    pub rooms: IntGaugeVec,
    /// Rooms created.
    pub rooms_created: IntCounter,
    /// Rooms that ended normally (disposed when empty, or at shutdown).
    pub rooms_disposed: IntCounter,
    /// Rooms whose tick panicked.
    pub rooms_failed: IntCounter,
    /// Matchmaking requests, by endpoint and outcome (`ok` or the refusal).
    pub matchmake_requests: IntCounterVec,
    /// Time to answer a matchmaking request, seconds.
    pub matchmake_seconds: Histogram,
    /// Open TCP connections (HTTP and WebSocket).
    pub connections_open: IntGauge,
    /// Connections accepted.
    pub connections_total: IntCounter,
    /// Time inside `Room::tick`, seconds.
    pub tick_duration: Histogram,
    /// Time between tick starts, seconds.
    pub tick_interval: Histogram,
    /// Ticks that started more than one tick late (the ticks they replace were skipped).
    pub late_ticks: IntCounter,
    /// Snapshot frame sizes, bytes.
    pub snapshot_bytes: Histogram,
    /// WebSocket payload bytes received.
    pub bytes_in: IntCounter,
    /// WebSocket payload bytes queued to clients by the room.
    pub bytes_out: IntCounter,
    /// WebSocket messages received.
    pub messages_in: IntCounter,
    /// Snapshot frames queued to clients.
    pub messages_out: IntCounter,
    /// Frames skipped because `outbox_depth` frames waited for a client's socket.
    pub outbox_drops: IntCounter,
    /// Inputs dropped (queue full) or refused (duplicate or replayed sequence numbers).
    pub inputs_dropped: IntCounter,
    /// Player-ticks with no input due: the simulation repeated the player's last input.
    pub inputs_repeated: IntCounter,
    /// Late inputs folded into a later one.
    pub inputs_folded: IntCounter,
    /// Client messages that did not decode.
    pub decode_errors: IntCounter,
    /// Connections closed by the server, by reason.
    pub kicks: IntCounterVec,
    /// Exact tick timing percentiles for benchmarks (`/stats`), since the last reset.
    pub tick_stats: Mutex<TickStats>,
}

/// Tick work and interval distributions in microseconds (HdrHistogram).
pub struct TickStats {
    /// Time inside `Room::tick` but for the socket I/O: simulation, history, encoding.
    pub work_us: Hdr<u64>,
    /// Time reading what clients sent (part of `Room::tick`).
    pub recv_us: Hdr<u64>,
    /// Time writing the tick's frames to the sockets (part of `Room::tick`).
    pub send_us: Hdr<u64>,
    /// Time between tick starts.
    pub interval_us: Hdr<u64>,
    /// Ticks that started more than a tick late.
    pub late: u64,
}

impl TickStats {
    fn new() -> TickStats {
        let h = || Hdr::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds");
        TickStats {
            work_us: h(),
            recv_us: h(),
            send_us: h(),
            interval_us: h(),
            late: 0,
        }
    }

    /// Forgets everything recorded (start of a benchmark window).
    pub fn reset(&mut self) {
        *self = TickStats::new();
    }

    /// JSON: `{"ticks":N,"late_ticks":N,"tick_work_ms":{"p50":..,"p99":..,"max":..},
    /// "recv_ms":{..},"send_ms":{..},"tick_interval_ms":{..}}`.
    #[must_use]
    pub fn to_json(&self) -> String {
        let q = |h: &Hdr<u64>| {
            let ms = |v: u64| v as f64 / 1000.0;
            format!(
                "{{\"p50\":{:.3},\"p99\":{:.3},\"max\":{:.3}}}",
                ms(h.value_at_quantile(0.5)),
                ms(h.value_at_quantile(0.99)),
                ms(h.max())
            )
        };
        format!(
            "{{\"ticks\":{},\"late_ticks\":{},\"tick_work_ms\":{},\"recv_ms\":{},\"send_ms\":{},\"tick_interval_ms\":{}}}",
            self.work_us.len(),
            self.late,
            q(&self.work_us),
            q(&self.recv_us),
            q(&self.send_us),
            q(&self.interval_us)
        )
    }
}

fn buckets_ms(ms: &[f64]) -> Vec<f64> {
    ms.iter().map(|m| m / 1000.0).collect()
}

impl Metrics {
    /// Creates and registers every metric.
    #[must_use]
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let gauge = |n: &str, h: &str| {
            let g = IntGauge::new(n, h).expect("valid metric name");
            registry
                .register(Box::new(g.clone()))
                .expect("unique metric");
            g
        };
        let counter = |n: &str, h: &str| {
            let c = IntCounter::new(n, h).expect("valid metric name");
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric");
            c
        };
        let histogram = |n: &str, h: &str, b: Vec<f64>| {
            let x = Histogram::with_opts(HistogramOpts::new(n, h).buckets(b)).expect("valid");
            registry
                .register(Box::new(x.clone()))
                .expect("unique metric");
            x
        };
        let kicks = IntCounterVec::new(
            Opts::new(
                "tickwire_kicks_total",
                "Connections closed by the server, by reason",
            ),
            &["reason"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(kicks.clone()))
            .expect("unique metric");
        let counters = |n: &str, h: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(n, h), labels).expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric");
            c
        };
        let rooms = IntGaugeVec::new(
            Opts::new("tickwire_rooms", "Rooms hosted, by mode"),
            &["mode"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(rooms.clone()))
            .expect("unique metric");
        Metrics {
            players: gauge("tickwire_players_connected", "Players in every room"),
            players_in_grace: gauge(
                "tickwire_players_in_grace",
                "Players held for a resume after a lost connection",
            ),
            resumes: counter(
                "tickwire_resumes_total",
                "Players resumed on a new connection (refusals: tickwire_kicks_total{reason=\"resume_*\"})",
            ),
            recordings_cut: counter(
                "tickwire_recordings_cut_total",
                "Match recordings cut because their queue was full (the disk fell behind)",
            ),
            rooms,
            rooms_created: counter("tickwire_rooms_created_total", "Rooms created"),
            rooms_disposed: counter(
                "tickwire_rooms_disposed_total",
                "Rooms ended normally (empty for their mode's grace, or at shutdown)",
            ),
            rooms_failed: counter(
                "tickwire_rooms_failed_total",
                "Rooms whose tick panicked (their players got 1011)",
            ),
            matchmake_requests: counters(
                "tickwire_matchmake_requests_total",
                "Matchmaking requests, by endpoint and outcome",
                &["endpoint", "outcome"],
            ),
            matchmake_seconds: histogram(
                "tickwire_matchmake_seconds",
                "Time to answer a matchmaking request",
                buckets_ms(&[0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 100.0]),
            ),
            connections_open: gauge("tickwire_connections_open", "Open TCP connections"),
            connections_total: counter("tickwire_connections_total", "Connections accepted"),
            tick_duration: histogram(
                "tickwire_tick_duration_seconds",
                "Time spent inside Room::tick",
                buckets_ms(&[0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 33.0, 66.0]),
            ),
            tick_interval: histogram(
                "tickwire_tick_interval_seconds",
                "Time between tick starts",
                buckets_ms(&[
                    20.0, 30.0, 32.0, 33.0, 34.0, 35.0, 40.0, 50.0, 67.0, 100.0, 200.0,
                ]),
            ),
            late_ticks: counter(
                "tickwire_late_ticks_total",
                "Ticks that started more than a tick late (missed ticks skipped)",
            ),
            snapshot_bytes: histogram(
                "tickwire_snapshot_bytes",
                "Mean snapshot frame size of a tick, bytes",
                vec![
                    32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 4096.0, 16384.0, 65536.0, 262_144.0,
                ],
            ),
            bytes_in: counter(
                "tickwire_bytes_in_total",
                "WebSocket payload bytes received",
            ),
            bytes_out: counter(
                "tickwire_bytes_out_total",
                "Snapshot bytes queued to clients",
            ),
            messages_in: counter("tickwire_messages_in_total", "WebSocket messages received"),
            messages_out: counter("tickwire_messages_out_total", "Snapshot frames queued"),
            outbox_drops: counter(
                "tickwire_outbox_drops_total",
                "Snapshot frames skipped because frames already waited for a client's socket",
            ),
            inputs_dropped: counter(
                "tickwire_inputs_dropped_total",
                "Inputs dropped (queue full) or refused (duplicate or replayed)",
            ),
            inputs_repeated: counter(
                "tickwire_inputs_repeated_total",
                "Player-ticks with no input due: the simulation repeated the player's last input",
            ),
            inputs_folded: counter(
                "tickwire_inputs_folded_total",
                "Late inputs folded into a later one (buttons carried over)",
            ),
            decode_errors: counter(
                "tickwire_decode_errors_total",
                "Client messages that did not decode",
            ),
            kicks,
            tick_stats: Mutex::new(TickStats::new()),
            registry,
        }
    }

    /// The text exposition of every metric.
    #[must_use]
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("encoding metrics into a Vec cannot fail");
        out
    }

    /// Counts a connection closed by the server for `reason`.
    pub fn kick(&self, reason: &str) {
        self.kicks.with_label_values(&[reason]).inc();
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// One room's own figures (for `GET /rooms/{id}`), written by its tick, read by anyone.
#[derive(Debug, Default)]
pub struct RoomFigures {
    players: AtomicUsize,
    ticks: AtomicU64,
    last_work_us: AtomicU64,
    max_work_us: AtomicU64,
}

impl RoomFigures {
    /// Players in the room after its last tick.
    pub fn players(&self) -> usize {
        self.players.load(Ordering::Relaxed)
    }
    /// Ticks run.
    pub fn ticks(&self) -> u64 {
        self.ticks.load(Ordering::Relaxed)
    }
    /// Time inside the last tick, microseconds.
    pub fn last_work_us(&self) -> u64 {
        self.last_work_us.load(Ordering::Relaxed)
    }
    /// Longest tick so far, microseconds.
    pub fn max_work_us(&self) -> u64 {
        self.max_work_us.load(Ordering::Relaxed)
    }
}

/// Feeds one room's per-tick reports into the process's metrics (every room into the same
/// series: their cardinality does not grow with the rooms) and the room's own figures.
pub struct RoomMetrics {
    metrics: Arc<Metrics>,
    late_after: Duration,
    figures: Arc<RoomFigures>,
    /// Players counted in the process's gauges for this room (all, in grace).
    players: i64,
    in_grace: i64,
}

impl RoomMetrics {
    /// For a room ticking every `dt`.
    #[must_use]
    pub fn new(metrics: Arc<Metrics>, dt: Duration, figures: Arc<RoomFigures>) -> RoomMetrics {
        RoomMetrics {
            metrics,
            late_after: dt * 2,
            figures,
            players: 0,
            in_grace: 0,
        }
    }
}

impl Drop for RoomMetrics {
    /// The room is gone: its players leave the process's gauge.
    fn drop(&mut self) {
        self.metrics.players.sub(self.players);
        self.metrics.players_in_grace.sub(self.in_grace);
    }
}

impl TickObserver for RoomMetrics {
    fn on_tick(&mut self, r: &TickReport, work: Duration, interval: Duration) {
        let m = &self.metrics;
        m.tick_duration.observe(work.as_secs_f64());
        m.tick_interval.observe(interval.as_secs_f64());
        let late = interval >= self.late_after;
        if late {
            m.late_ticks.inc();
        }
        let us = |d: Duration| (d.as_micros() as u64).clamp(1, 60_000_000);
        {
            let mut stats = m.tick_stats.lock();
            let io = r.send_time + r.recv_time;
            stats.work_us.saturating_record(us(work.saturating_sub(io)));
            stats.recv_us.saturating_record(us(r.recv_time));
            stats.send_us.saturating_record(us(r.send_time));
            stats.interval_us.saturating_record(us(interval));
            stats.late += u64::from(late);
        }
        let players = r.players as i64;
        m.players.add(players - self.players);
        self.players = players;
        let in_grace = r.players_in_grace as i64;
        m.players_in_grace.add(in_grace - self.in_grace);
        self.in_grace = in_grace;
        m.resumes.inc_by(r.resumes as u64);
        if r.recording_cut {
            m.recordings_cut.inc();
        }
        let f = &self.figures;
        f.players.store(r.players, Ordering::Relaxed);
        f.ticks.fetch_add(1, Ordering::Relaxed);
        f.last_work_us.store(us(work), Ordering::Relaxed);
        f.max_work_us.fetch_max(us(work), Ordering::Relaxed);
        m.bytes_out.inc_by(r.bytes_sent as u64);
        m.messages_out.inc_by(r.frames_sent as u64);
        if r.frames_sent > 0 {
            m.snapshot_bytes
                .observe(r.bytes_sent as f64 / r.frames_sent as f64);
        }
        m.outbox_drops.inc_by(r.outbox_drops as u64);
        m.messages_in.inc_by(r.messages_in as u64);
        m.bytes_in.inc_by(r.bytes_in as u64);
        m.decode_errors.inc_by(r.decode_errors as u64);
        m.inputs_dropped
            .inc_by((r.inputs_overflow + r.inputs_duplicate) as u64);
        m.inputs_repeated.inc_by(r.inputs_repeated as u64);
        m.inputs_folded.inc_by(r.inputs_folded as u64);
    }
}
