//! # tickwire-server
//!
//! The authoritative game state server. One port serves the browser client over HTTP and
//! upgrades `/ws` to WebSocket; a [`room::Room`] owns the world and ticks it at a fixed rate;
//! after each tick every player gets a delta snapshot against the last snapshot its
//! connection accepted (or, configured so, the tick it acknowledged).
//!
//! ```text
//! socket --read by the room at each tick, decoded, checked--> per-player input queue
//!   --> sim::step --> history ring --> delta per baseline (encoded once) --> each socket,
//!   written by the room (what a socket does not take waits in its bounded queue)
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
    /// Limits that contradict each other.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
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

/// The room's settings from the server's configuration (the binary's, and the in-process
/// benchmark's, so both measure the same room).
#[must_use]
pub fn room_settings(config: &Config) -> RoomSettings {
    RoomSettings {
        sim: SimConfig {
            tick_hz: config.tick_hz,
            ..SimConfig::default()
        },
        seed: config.seed,
        history_ticks: config.history_ticks as usize,
        max_players: config.max_players,
        input_queue: config.input_queue as usize,
        full_snapshots: config.full_snapshots,
        max_ack_lag_ticks: config.max_ack_lag_ticks,
        baselines: match config.baselines {
            config::BaselineMode::Sent => room::Baselines::Sent,
            config::BaselineMode::Acked => room::Baselines::Acked {
                step: config.baseline_step,
            },
        },
        net: room::NetLimits {
            max_msgs_per_s: config.max_msgs_per_s,
            msg_burst: config.msg_burst,
            idle_timeout: config.idle_timeout,
            ping_interval: config.ping_interval,
            write_timeout: config.write_timeout,
            ..room::NetLimits::default()
        },
        interest: if config.view_width > 0.0 && config.view_height > 0.0 {
            room::Interest::view(config.view_width, config.view_height, config.view_margin)
        } else {
            room::Interest::everything()
        },
    }
}

/// Runs the server on `listener` until `shutdown` resolves: then stops accepting, sends
/// every client a close (1001) and returns once they are closed or the configured
/// `shutdown_grace` has passed.
///
/// # Errors
/// A bad configuration or map, or a failed room (a panic in the tick): never a silently
/// frozen world. Clients get 1011 in that case.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    config.validate()?;
    let map = Arc::new(load_map(&config)?);
    let nofile = net::limits::descriptor_limit();
    let max_connections = net::limits::effective_max_connections(config.max_connections, nofile);
    if max_connections < config.max_connections {
        tracing::warn!(
            configured = config.max_connections,
            max_connections,
            nofile,
            "connection cap lowered to stay below the descriptor limit"
        );
    }
    let limits = net::limits::ConnLimits::new(
        max_connections,
        config.max_connections_per_ip,
        config.per_ip_includes_loopback,
    );
    if config.tcp_send_buffer_bytes > 0 {
        // Accepted sockets inherit the listener's buffer size.
        let _ =
            socket2::SockRef::from(&listener).set_send_buffer_size(config.tcp_send_buffer_bytes);
    }
    let settings = room_settings(&config);
    let (room, handle) = Room::new(settings, map.clone());
    let cancel = CancellationToken::new();
    let metrics = Arc::new(metrics::Metrics::new());
    let observer = PanicAt {
        inner: metrics::RoomMetrics::new(metrics.clone(), config.tick_duration()),
        at: config.debug_panic_tick_at,
        ticks: 0,
    };
    let grace = config.shutdown_grace;
    let shared = Arc::new(Shared {
        config,
        room: handle,
        shutdown: cancel.clone(),
        tasks: TaskTracker::new(),
        metrics,
        healthy: AtomicBool::new(true),
    });
    let mut room_task = tokio::spawn(room.run(cancel.child_token(), observer));
    info!(
        addr = ?listener.local_addr().ok(),
        map = %map.name,
        max_connections,
        max_per_ip = shared.config.max_connections_per_ip,
        nofile,
        "serving"
    );

    let accept = tokio::spawn(net::listener::accept_loop(listener, shared.clone(), limits));
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
    if tokio::time::timeout(grace, shared.tasks.wait())
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

/// Test only (`--debug-panic-tick-at N`): panics inside the room task at its N-th tick, to
/// prove that a failed tick stops the server instead of leaving a frozen world.
struct PanicAt<O> {
    inner: O,
    at: Option<u64>,
    ticks: u64,
}

impl<O: room::TickObserver> room::TickObserver for PanicAt<O> {
    fn on_tick(&mut self, report: &room::TickReport, work: Duration, interval: Duration) {
        self.ticks += 1;
        if self.at == Some(self.ticks) {
            panic!("test-only panic in the tick at tick {}", self.ticks);
        }
        self.inner.on_tick(report, work, interval);
    }
}
