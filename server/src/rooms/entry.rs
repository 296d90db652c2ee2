//! One room as the registry sees it: its entry (id, mode, the way in, its figures), the task
//! it ticks on, and the supervisor that learns how that task ended.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{error, info_span, Instrument};

use super::{Mode, RoomId};
use crate::metrics::{Metrics, RoomFigures, RoomMetrics};
use crate::room::{Room, RoomHandle};

/// A room as the registry sees it.
#[derive(Debug)]
pub struct RoomEntry {
    /// Its id (and invite code).
    pub id: RoomId,
    /// Its mode.
    pub mode: Arc<Mode>,
    /// Private rooms are neither listed nor matchmade: joined by their code only.
    pub private: bool,
    /// When it was created.
    pub created: Instant,
    /// The way into the room.
    pub handle: RoomHandle,
    /// Figures its tick reports (players, ticks, tick work).
    pub figures: Arc<RoomFigures>,
    pub(super) cancel: CancellationToken,
    /// Test hook: set, the room's next tick panics.
    #[cfg(feature = "test-hooks")]
    pub panic_next_tick: Arc<std::sync::atomic::AtomicBool>,
}

impl RoomEntry {
    /// A new room of `mode`, ticking on a task of its own until `shutdown` (or its own
    /// cancellation, at disposal): its entry, and the task to supervise.
    pub(super) fn start(
        id: RoomId,
        mode: Arc<Mode>,
        private: bool,
        metrics: &Arc<Metrics>,
        shutdown: &CancellationToken,
    ) -> (Arc<RoomEntry>, JoinHandle<()>) {
        let mut settings = mode.settings.clone();
        settings.id = id.to_string();
        settings.mode = mode.name.clone();
        let (room, handle) = Room::new(settings, mode.map.clone());
        let figures = Arc::new(RoomFigures::default());
        let dt = Duration::from_secs_f64(1.0 / f64::from(mode.settings.sim.tick_hz));
        let observer = RoomMetrics::new(metrics.clone(), dt, figures.clone());
        #[cfg(feature = "test-hooks")]
        let panic_next_tick = Arc::new(std::sync::atomic::AtomicBool::new(false));
        #[cfg(feature = "test-hooks")]
        let observer = PanicOnDemand {
            inner: observer,
            flag: panic_next_tick.clone(),
        };
        let cancel = shutdown.child_token();
        let span = info_span!("room", room = %id, mode = %mode.name);
        let task = tokio::spawn(room.run(cancel.clone(), observer).instrument(span));
        let entry = Arc::new(RoomEntry {
            id,
            mode,
            private,
            created: Instant::now(),
            handle,
            figures,
            cancel,
            #[cfg(feature = "test-hooks")]
            panic_next_tick,
        });
        (entry, task)
    }
}

/// Waits for a room's task to end and counts how: disposed (or stopped at shutdown), or
/// failed (its tick panicked; its players' sessions close them with 1011).
pub(super) async fn supervise(task: JoinHandle<()>, id: RoomId, mode: &str, metrics: &Metrics) {
    let ended = task.await;
    metrics.rooms.with_label_values(&[mode]).dec();
    match ended {
        Err(e) if e.is_panic() => {
            metrics.rooms_failed.inc();
            error!(room = %id, mode, error = %panic_text(e), "room failed; its players get 1011");
        }
        _ => metrics.rooms_disposed.inc(),
    }
}

fn panic_text(e: tokio::task::JoinError) -> String {
    let payload = e.into_panic();
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_owned())
}

/// What `GET /rooms` and `GET /rooms/{id}` say of a room.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RoomInfo {
    /// Its code.
    #[serde(rename = "room")]
    pub id: String,
    /// Its mode.
    pub mode: String,
    /// Its map's name.
    pub map: String,
    /// Players in it.
    pub players: usize,
    /// Seats taken (players + reservations waiting for their join).
    pub seats_taken: usize,
    /// Seats.
    pub max: usize,
    /// Private rooms are joined by code only.
    pub private: bool,
    /// Seconds since it was created.
    pub age_s: u64,
    /// Ticks run.
    pub ticks: u64,
    /// Time inside its last tick, microseconds.
    pub tick_work_us: u64,
    /// Longest tick so far, microseconds.
    pub tick_work_max_us: u64,
    /// The node hosting it (clustered only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

impl RoomInfo {
    /// What is known of `e`, with `taken` seats.
    pub(super) fn new(e: &RoomEntry, taken: usize) -> RoomInfo {
        let f = &e.figures;
        RoomInfo {
            id: e.id.to_string(),
            mode: e.mode.name.clone(),
            map: e.mode.map.name.clone(),
            players: f.players(),
            seats_taken: taken,
            max: e.mode.max_players(),
            private: e.private,
            age_s: e.created.elapsed().as_secs(),
            ticks: f.ticks(),
            tick_work_us: f.last_work_us(),
            tick_work_max_us: f.max_work_us(),
            node: None,
        }
    }
}

/// Test hook (`POST /debug/rooms/{id}/panic` with the `test-hooks` feature): the room's
/// tick panics once its flag is set, to prove that a failed room ends alone.
#[cfg(feature = "test-hooks")]
struct PanicOnDemand<O> {
    inner: O,
    flag: Arc<std::sync::atomic::AtomicBool>,
}

#[cfg(feature = "test-hooks")]
impl<O: crate::room::TickObserver> crate::room::TickObserver for PanicOnDemand<O> {
    fn on_tick(&mut self, report: &crate::room::TickReport, work: Duration, interval: Duration) {
        if self.flag.load(std::sync::atomic::Ordering::Relaxed) {
            panic!("test-only panic in the tick");
        }
        self.inner.on_tick(report, work, interval);
    }
}
