//! The run's own checks while it runs: is the server there at all, has it gone away, and
//! does the bot process keep its timers (a starved runtime sends inputs late and reads
//! snapshots late: its figures would describe the harness, not the server).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use parking_lot::Mutex;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::http::Uri;
use tokio_util::sync::CancellationToken;

use crate::driver::duration_us;
use crate::stats::Stats;
use crate::verdict::Outcome;

/// Longest wait for a TCP connection to the server before calling it unreachable.
const REACH_TIMEOUT: Duration = Duration::from_secs(3);
/// How often the watchdog looks.
const EVERY: Duration = Duration::from_millis(250);
/// Bots refused, none joined: the server refuses everyone (or at most this many bots).
const REFUSED_AFTER: usize = 10;
/// How often the timer probe wakes.
const TIMER_EVERY: Duration = Duration::from_millis(10);

/// Whether the server's port takes a TCP connection (`Err`: why not).
///
/// # Errors
/// The URL has no host and port, or the connection failed or timed out.
pub async fn reachable(url: &str) -> Result<(), String> {
    let uri: Uri = url.parse().map_err(|_| "not a URL".to_owned())?;
    let host = uri.host().ok_or("no host")?.trim_matches(['[', ']']);
    let port = uri.port_u16().unwrap_or(80);
    match tokio::time::timeout(REACH_TIMEOUT, TcpStream::connect((host, port))).await {
        Err(_) => Err(format!("no answer within {} s", REACH_TIMEOUT.as_secs())),
        Ok(Err(e)) => Err(e.kind().to_string()),
        Ok(Ok(_)) => Ok(()),
    }
}

/// The most frequent failures, as `"12 x join: closed 1013 ServerFull, 3 x ..."`.
#[must_use]
pub fn top_failures(stats: &Stats) -> String {
    let mut f: Vec<(String, u64)> = stats
        .failures()
        .into_iter()
        .map(|(k, g)| (k, g.count))
        .collect();
    if f.is_empty() {
        return "no failure recorded".into();
    }
    f.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    f.iter()
        .take(3)
        .map(|(k, n)| format!("{n} x {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What the watchdog looks at.
pub struct Watched {
    /// The server's WebSocket URL.
    pub url: String,
    /// Bots the run starts.
    pub count: usize,
    /// The run's counters.
    pub stats: Arc<Stats>,
    /// Join attempts finished.
    pub attempts: watch::Receiver<usize>,
    /// Bots started so far.
    pub started: Arc<AtomicUsize>,
    /// Bots the run aims to have connected now (a scenario's stage may ask for none: then
    /// no session open is no sign of a server gone).
    pub target: Arc<AtomicUsize>,
}

/// Watches the run until `halt`; stops it (setting `early`) when the first bots are all
/// refused, or when every session that opened has ended (the server went away).
pub async fn watch(
    w: Watched,
    early: Arc<Mutex<Option<(Outcome, String)>>>,
    halt: CancellationToken,
) {
    let mut every = tokio::time::interval(EVERY);
    every.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            () = halt.cancelled() => return,
            _ = every.tick() => {}
        }
        let attempts = *w.attempts.borrow();
        let s = w.stats.sample();
        let verdict = if s.joined == 0 && attempts > 0 && attempts >= w.count.min(REFUSED_AFTER) {
            Some((
                Outcome::Unreachable,
                format!(
                    "the first {attempts} bots were all refused: {}",
                    top_failures(&w.stats)
                ),
            ))
        } else if s.joined > 0 && s.connected <= 0 && w.target.load(Ordering::Relaxed) > 0 {
            let all_tried = attempts >= w.started.load(Ordering::Relaxed);
            match reachable(&w.url).await {
                Err(why) => Some((
                    Outcome::ServerGone,
                    format!(
                        "the server went away ({why}); every session ended: {}",
                        top_failures(&w.stats)
                    ),
                )),
                Ok(()) if all_tried => Some((
                    Outcome::ServerGone,
                    format!("every bot's session ended: {}", top_failures(&w.stats)),
                )),
                Ok(()) => None,
            }
        } else {
            None
        };
        if let Some(v) = verdict {
            *early.lock() = Some(v);
            halt.cancel();
            return;
        }
    }
}

/// Records, until aborted, how late a timer of the bots' runtime fires (every 10 ms):
/// a starved runtime shows here first.
pub async fn timer_lateness(into: Arc<Mutex<Histogram<u64>>>) {
    let mut every = tokio::time::interval(TIMER_EVERY);
    every.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        let due = every.tick().await;
        let late = Instant::now().saturating_duration_since(due);
        into.lock().saturating_record(duration_us(late));
    }
}
