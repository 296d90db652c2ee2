//! What the swarm counts while it runs: counters every bot task bumps, and round-trip
//! histograms (whole window, and the last progress interval).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use parking_lot::Mutex;

use crate::driver::{duration_us, rtt_histogram};

/// Examples kept of each kind of failure.
const EXAMPLES_PER_KIND: usize = 3;
/// Kinds of failure told apart (more fall under "other"; kinds carry no ids, so a run
/// sees a handful).
const MAX_KINDS: usize = 64;

/// Every failure of one kind.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct FailureGroup {
    /// How many.
    pub count: u64,
    /// The first few, in full (which bot, what the server said).
    pub examples: Vec<String>,
}

/// Counters shared by every bot task of a swarm.
#[derive(Debug, Default)]
pub struct Counters {
    /// Bots with an open session now.
    pub connected: AtomicI64,
    /// Bots that joined (received a welcome).
    pub joined: AtomicU64,
    /// Connection or join attempts that failed.
    pub connect_errors: AtomicU64,
    /// Seat reservations the rooms API refused or failed to answer.
    pub matchmake_errors: AtomicU64,
    /// Sessions that broke on a client-side error: undecodable or unexpected server bytes.
    pub errors: AtomicU64,
    /// Snapshots that did not apply, or replicas that broke an invariant.
    pub desyncs: AtomicU64,
    /// Sessions the server or the socket ended before the run did.
    pub disconnects: AtomicU64,
    /// Server frames that did not decode.
    pub decode_errors: AtomicU64,
    /// Frames received.
    pub frames_down: AtomicU64,
    /// Snapshots handled.
    pub snapshots: AtomicU64,
    /// WebSocket payload bytes received.
    pub bytes_down: AtomicU64,
    /// Inputs sent.
    pub inputs: AtomicU64,
    /// WebSocket payload bytes sent.
    pub bytes_up: AtomicU64,
    /// Players whose connection was lost and whose room was gone (its node died): seated
    /// again through the rooms API (or quick play), playing on.
    pub rejoins: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sample {
    /// See [`Counters::connected`].
    pub connected: i64,
    /// See [`Counters::joined`].
    pub joined: u64,
    /// See [`Counters::connect_errors`].
    pub connect_errors: u64,
    /// See [`Counters::matchmake_errors`].
    pub matchmake_errors: u64,
    /// See [`Counters::errors`].
    pub errors: u64,
    /// See [`Counters::desyncs`].
    pub desyncs: u64,
    /// See [`Counters::disconnects`].
    pub disconnects: u64,
    /// See [`Counters::decode_errors`].
    pub decode_errors: u64,
    /// See [`Counters::frames_down`].
    pub frames_down: u64,
    /// See [`Counters::snapshots`].
    pub snapshots: u64,
    /// See [`Counters::bytes_down`].
    pub bytes_down: u64,
    /// See [`Counters::inputs`].
    pub inputs: u64,
    /// See [`Counters::bytes_up`].
    pub bytes_up: u64,
}

impl Sample {
    /// Every failure of any kind.
    #[must_use]
    pub fn failures(&self) -> u64 {
        self.connect_errors + self.matchmake_errors + self.errors + self.desyncs + self.disconnects
    }
}

/// Everything a swarm measures.
pub struct Stats {
    /// The counters.
    pub counters: Counters,
    rtt_window: Mutex<Histogram<u64>>,
    rtt_recent: Mutex<Histogram<u64>>,
    rtt_second: Mutex<Histogram<u64>>,
    matchmake: Mutex<Histogram<u64>>,
    rooms: Mutex<BTreeMap<String, u64>>,
    failures: Mutex<BTreeMap<String, FailureGroup>>,
    resumes: Mutex<[ResumeTally; 2]>,
}

/// A deliberate break of a bot's connection, after which it resumes its player.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disruption {
    /// The TCP connection is reset (a network failure); the bot resumes with the state it
    /// holds.
    Drop,
    /// A page reload: a fresh connection with the resume token and no state.
    Reload,
}

impl Disruption {
    /// Its name in the report.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Disruption::Drop => "drop",
            Disruption::Reload => "reload",
        }
    }
}

/// The resumes after one kind of disruption.
#[derive(Clone, Debug)]
pub struct ResumeTally {
    /// Connections cut.
    pub attempts: u64,
    /// Resumes that got their first snapshot.
    pub resumed: u64,
    /// Of which the first snapshot was a full state (not a delta).
    pub full: u64,
    /// Cut to first snapshot applied, microseconds.
    pub us: Histogram<u64>,
    /// Resumes that failed, by kind.
    pub failures: BTreeMap<String, u64>,
}

impl Default for ResumeTally {
    fn default() -> Self {
        ResumeTally {
            attempts: 0,
            resumed: 0,
            full: 0,
            us: rtt_histogram(),
            failures: BTreeMap::new(),
        }
    }
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            counters: Counters::default(),
            rtt_window: Mutex::new(rtt_histogram()),
            rtt_recent: Mutex::new(rtt_histogram()),
            rtt_second: Mutex::new(rtt_histogram()),
            matchmake: Mutex::new(rtt_histogram()),
            rooms: Mutex::new(BTreeMap::new()),
            failures: Mutex::new(BTreeMap::new()),
            resumes: Mutex::new(Default::default()),
        }
    }
}

fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

impl Stats {
    /// Counts `n` on counter `c`.
    pub fn add(&self, c: impl Fn(&Counters) -> &AtomicU64, n: u64) {
        add(c(&self.counters), n);
    }

    /// Records input round trips.
    pub fn record_rtts(&self, rtts: impl Iterator<Item = Duration>) {
        let (mut w, mut r) = (self.rtt_window.lock(), self.rtt_recent.lock());
        let mut s = self.rtt_second.lock();
        for d in rtts {
            let us = duration_us(d);
            w.saturating_record(us);
            r.saturating_record(us);
            s.saturating_record(us);
        }
    }

    /// Records the latency of one request to the rooms API.
    pub fn record_matchmake(&self, d: Duration) {
        self.matchmake.lock().saturating_record(duration_us(d));
    }

    /// Latencies of the rooms API's answers over the whole run (seats are taken during the
    /// ramp, before any window).
    #[must_use]
    pub fn matchmake(&self) -> Histogram<u64> {
        self.matchmake.lock().clone()
    }

    /// Counts a bot that joined room `code`.
    pub fn note_room(&self, code: &str) {
        *self.rooms.lock().entry(code.to_owned()).or_default() += 1;
    }

    /// Bots that joined each room, by room code.
    #[must_use]
    pub fn rooms(&self) -> BTreeMap<String, u64> {
        self.rooms.lock().clone()
    }

    /// Counts a failure of `kind` (see [`crate::failure::kind`]); `detail` is kept as an
    /// example for the first few of each kind.
    pub fn note_failure(&self, kind: &str, detail: String) {
        let mut f = self.failures.lock();
        let kind = if f.len() >= MAX_KINDS && !f.contains_key(kind) {
            "other"
        } else {
            kind
        };
        let g = f.entry(kind.to_owned()).or_default();
        g.count += 1;
        if g.examples.len() < EXAMPLES_PER_KIND {
            g.examples.push(detail);
        }
    }

    /// Every failure so far, by kind.
    #[must_use]
    pub fn failures(&self) -> BTreeMap<String, FailureGroup> {
        self.failures.lock().clone()
    }

    /// Counts a connection cut by `kind`.
    pub fn note_cut(&self, kind: Disruption) {
        self.resumes.lock()[kind as usize].attempts += 1;
    }

    /// Counts a resume after `kind` that got its first snapshot `took` after the cut, a
    /// full state when `full`.
    pub fn note_resumed(&self, kind: Disruption, took: Duration, full: bool) {
        let mut r = self.resumes.lock();
        let t = &mut r[kind as usize];
        t.resumed += 1;
        t.full += u64::from(full);
        t.us.saturating_record(duration_us(took));
    }

    /// Counts a resume after `kind` that failed, by the failure's kind.
    pub fn note_resume_failed(&self, kind: Disruption, why: String) {
        *self.resumes.lock()[kind as usize]
            .failures
            .entry(why)
            .or_default() += 1;
    }

    /// The resumes so far: after drops, after reloads.
    #[must_use]
    pub fn resumes(&self) -> [ResumeTally; 2] {
        self.resumes.lock().clone()
    }

    /// The counters now.
    #[must_use]
    pub fn sample(&self) -> Sample {
        let c = &self.counters;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Sample {
            connected: c.connected.load(Ordering::Relaxed),
            joined: l(&c.joined),
            connect_errors: l(&c.connect_errors),
            matchmake_errors: l(&c.matchmake_errors),
            errors: l(&c.errors),
            desyncs: l(&c.desyncs),
            disconnects: l(&c.disconnects),
            decode_errors: l(&c.decode_errors),
            frames_down: l(&c.frames_down),
            snapshots: l(&c.snapshots),
            bytes_down: l(&c.bytes_down),
            inputs: l(&c.inputs),
            bytes_up: l(&c.bytes_up),
        }
    }

    /// Round trips since the last call (for live progress), then forgets them.
    #[must_use]
    pub fn take_recent_rtt(&self) -> Histogram<u64> {
        let mut r = self.rtt_recent.lock();
        let h = r.clone();
        r.reset();
        h
    }

    /// Round trips since the last call (for the time series), then forgets them.
    #[must_use]
    pub fn take_second_rtt(&self) -> Histogram<u64> {
        let mut r = self.rtt_second.lock();
        let h = r.clone();
        r.reset();
        h
    }

    /// Starts the measured window: forgets the round trips recorded so far.
    pub fn reset_window(&self) {
        self.rtt_window.lock().reset();
    }

    /// Round trips since [`Stats::reset_window`].
    #[must_use]
    pub fn window_rtt(&self) -> Histogram<u64> {
        self.rtt_window.lock().clone()
    }
}
