//! # tickwire-server
//!
//! The authoritative game state server. One port serves the browser client over HTTP and
//! upgrades `/ws` to WebSocket; a [`room::Room`] owns the world and ticks it at a fixed rate;
//! after each tick every player gets a delta snapshot against the tick it acknowledged.
//!
//! ```text
//! socket --decode--> per-player input channel --tick drains--> sim::step
//!   --> history ring --> delta per baseline (encoded once) --> per-player outbox --> socket
//! ```
//!
//! Start it with [`run`]: a bound listener, a [`Config`] and a future that resolves when
//! the server should shut down.

pub mod config;
pub mod metrics;
pub mod net;
pub mod room;
pub mod snapshot;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info};

pub use config::Config;
use room::{Room, RoomHandle, RoomSettings};
use tickwire_shared::{Map, SimConfig};

/// How long shutdown waits for connections to send their close frames.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The map file could not be read.
    #[error("cannot read map {path}: {source}")]
    MapRead {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The map file is not a valid map.
    #[error("invalid map {path}: {source}")]
    MapInvalid {
        /// The file.
        path: String,
        /// What is wrong.
        source: tickwire_shared::map::MapError,
    },
    /// The room's tick task panicked: the world is gone, the process must not pretend.
    #[error("the room task failed: {0}")]
    RoomFailed(String),
}

/// State every connection task shares.
pub struct Shared {
    /// Configuration in force.
    pub config: Config,
    /// The room players join.
    pub room: RoomHandle,
    /// Cancelled when the server shuts down.
    pub shutdown: CancellationToken,
    /// Connection tasks, awaited at shutdown.
    pub tasks: TaskTracker,
    /// Metrics served at `/metrics`.
    pub metrics: Arc<metrics::Metrics>,
    healthy: AtomicBool,
}

impl Shared {
    /// Whether the room is ticking.
    pub fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }
}

/// Loads the map named by the configuration.
///
/// # Errors
/// [`ServerError::MapRead`] or [`ServerError::MapInvalid`].
pub fn load_map(config: &Config) -> Result<Map, ServerError> {
    let path = config.map_path();
    let text = std::fs::read_to_string(&path).map_err(|source| ServerError::MapRead {
        path: path.display().to_string(),
        source,
    })?;
    Map::from_json(&text).map_err(|source| ServerError::MapInvalid {
        path: path.display().to_string(),
        source,
    })
}

/// Runs the server on `listener` until `shutdown` resolves: then stops accepting, sends
/// every client a close (1001) and returns once they are closed or [`SHUTDOWN_GRACE`] has
/// passed.
///
/// # Errors
/// A bad map, or a failed room (a panic in the tick): never a silently frozen world.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    let map = Arc::new(load_map(&config)?);
    let settings = RoomSettings {
        sim: SimConfig {
            tick_hz: config.tick_hz,
            ..SimConfig::default()
        },
        seed: config.seed,
        history_ticks: config.history_ticks as usize,
        max_players: config.max_players,
        outbox_depth: config.outbox_depth as usize,
        input_queue: config.input_queue as usize,
        full_snapshots: config.full_snapshots,
        max_ack_lag_ticks: config.max_ack_lag_ticks,
    };
    let (room, handle) = Room::new(settings, map.clone());
    let cancel = CancellationToken::new();
    let metrics = Arc::new(metrics::Metrics::new());
    let observer = metrics::RoomMetrics::new(metrics.clone(), config.tick_duration());
    let shared = Arc::new(Shared {
        config,
        room: handle,
        shutdown: cancel.clone(),
        tasks: TaskTracker::new(),
        metrics,
        healthy: AtomicBool::new(true),
    });
    let mut room_task = tokio::spawn(room.run(cancel.child_token(), observer));
    info!(addr = ?listener.local_addr().ok(), map = %map.name, "serving");

    let accept = tokio::spawn(net::listener::accept_loop(listener, shared.clone()));
    let mut failure = None;
    tokio::select! {
        () = shutdown => info!("shutting down"),
        res = &mut room_task => {
            shared.healthy.store(false, Ordering::Relaxed);
            let why = match res {
                Err(e) => e.to_string(),
                Ok(()) => "room stopped".to_owned(),
            };
            error!(error = %why, "room failed");
            failure = Some(why);
        }
    }
    cancel.cancel();
    let _ = accept.await;
    shared.tasks.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, shared.tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the grace period");
    }
    if failure.is_none() {
        if let Err(e) = room_task.await {
            failure = Some(e.to_string());
        }
    }
    match failure {
        Some(why) => Err(ServerError::RoomFailed(why)),
        None => Ok(()),
    }
}
