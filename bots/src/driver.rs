//! Runs one [`BotConnection`] in its own task: inputs on a fixed schedule at the server's
//! tick rate, every server message received and applied, and a [`View`] others can read.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use tickwire_shared::protocol::{Disconnect, Welcome};
use tickwire_shared::replica::NetState;
use tickwire_shared::sim::TickEvent;
use tickwire_shared::{Controls, NetEntity, NetId, Tick};

use crate::connection::{BotConnection, BotError, ServerEvent};

/// What the bot does each tick (held until changed): the client's [`Controls`].
pub type Intent = Controls;

/// Most recent events kept in a [`View`].
const MAX_EVENTS: usize = 1024;

/// What a driven bot has seen so far.
#[derive(Debug, Clone)]
pub struct View {
    /// The server's welcome.
    pub welcome: Welcome,
    /// Newest snapshot tick.
    pub tick: Option<Tick>,
    /// Replicated state at that tick (empty for header-only bots).
    pub state: NetState,
    /// Recent events, oldest first.
    pub events: VecDeque<TickEvent>,
    /// Newest input sequence number the server applied.
    pub last_input_seq: u32,
    /// Snapshots received.
    pub snapshots: u64,
    /// Inputs sent.
    pub inputs_sent: u64,
    /// Payload bytes received.
    pub bytes_down: u64,
    /// Payload bytes sent.
    pub bytes_up: u64,
    /// Input round trips (send to first snapshot reporting it applied), microseconds.
    pub rtt_us: Histogram<u64>,
    /// Set when the session ended: the error, the server's reason, the close frame.
    pub ended: Option<Ended>,
}

/// How a driven session ended.
#[derive(Debug, Clone)]
pub struct Ended {
    /// The error text (or "stopped" when stopped on purpose).
    pub error: String,
    /// Whether the replica failed to apply a snapshot.
    pub desync: bool,
    /// The server's `Disconnect`, if any.
    pub disconnect: Option<Disconnect>,
    /// The close frame `(code, reason)`, if any.
    pub close: Option<(u16, String)>,
}

impl View {
    /// The bot's own network id.
    #[must_use]
    pub fn me(&self) -> NetId {
        self.welcome.player
    }

    /// An entity of the newest state.
    #[must_use]
    pub fn get(&self, id: NetId) -> Option<&NetEntity> {
        self.state
            .binary_search_by_key(&id, |(i, _)| *i)
            .ok()
            .map(|i| &self.state[i].1)
    }
}

/// A bot connection running in its own task.
pub struct Driver {
    intent: watch::Sender<Intent>,
    view: Arc<Mutex<View>>,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Driver {
    /// Starts driving `conn`: one input per tick from now on.
    #[must_use]
    pub fn spawn(conn: BotConnection) -> Driver {
        let view = Arc::new(Mutex::new(View {
            welcome: conn.welcome.clone(),
            tick: None,
            state: NetState::default(),
            events: VecDeque::new(),
            last_input_seq: 0,
            snapshots: 0,
            inputs_sent: 0,
            bytes_down: 0,
            bytes_up: conn.bytes_up,
            rtt_us: rtt_histogram(),
            ended: None,
        }));
        let (intent, intent_rx) = watch::channel(Intent::default());
        let stop = CancellationToken::new();
        let task = tokio::spawn(drive(conn, intent_rx, view.clone(), stop.clone()));
        Driver {
            intent,
            view,
            stop,
            task,
        }
    }

    /// Changes what the bot does from the next tick on.
    pub fn set(&self, intent: Intent) {
        self.intent.send_replace(intent);
    }

    /// Reads the view.
    pub fn view<R>(&self, f: impl FnOnce(&View) -> R) -> R {
        f(&self.view.lock())
    }

    /// Closes the connection (close 1000) and returns the final view.
    pub async fn stop(self) -> View {
        self.stop.cancel();
        let _ = self.task.await;
        let v = self.view.lock().clone();
        v
    }
}

async fn drive(
    mut conn: BotConnection,
    intent: watch::Receiver<Intent>,
    view: Arc<Mutex<View>>,
    stop: CancellationToken,
) {
    let dt = Duration::from_secs_f64(1.0 / f64::from(conn.welcome.config.tick_hz.max(1)));
    let mut schedule = tokio::time::interval(dt);
    schedule.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let ended = loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => {
                conn.close().await;
                break Ended { error: "stopped".into(), desync: false, disconnect: None, close: None };
            }
            _ = schedule.tick() => {
                let input = *intent.borrow();
                match conn.send_input(input).await {
                    Ok(_) => {
                        let mut v = view.lock();
                        v.inputs_sent += 1;
                        v.bytes_up = conn.bytes_up;
                    }
                    Err(e) => break ended_from(e),
                }
            }
            ev = conn.recv() => match ev {
                Ok(ServerEvent::Snapshot { header, events, .. }) => {
                    let mut v = view.lock();
                    for rtt in conn.take_rtts() {
                        v.rtt_us.saturating_record(duration_us(rtt));
                    }
                    v.tick = Some(header.tick);
                    if let Some((_, state)) = conn.replica.state() {
                        v.state = state;
                    }
                    v.events.extend(events);
                    while v.events.len() > MAX_EVENTS {
                        v.events.pop_front();
                    }
                    v.last_input_seq = header.last_input_seq;
                    v.snapshots += 1;
                    v.bytes_down = conn.bytes_down;
                }
                Ok(ServerEvent::Pong(_)) => {}
                Err(e) => break ended_from(e),
            },
        }
    };
    view.lock().ended = Some(ended);
}

fn ended_from(e: BotError) -> Ended {
    let desync = matches!(e, BotError::Desync(_));
    let (disconnect, close) = match &e {
        BotError::Disconnected(d, c) => (d.clone(), c.clone()),
        _ => (None, None),
    };
    Ended {
        error: e.to_string(),
        desync,
        disconnect,
        close,
    }
}

/// An empty round-trip histogram: 1 us to 60 s, 3 significant digits.
#[must_use]
pub fn rtt_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

/// A duration in whole microseconds, at least 1 (the histogram's lowest value).
#[must_use]
pub fn duration_us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}
