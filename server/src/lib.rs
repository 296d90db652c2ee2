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
pub mod directory;
pub mod front;
pub mod metrics;
pub mod net;
pub mod room;
pub mod rooms;
pub mod snapshot;

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::info;

pub use config::Config;
use room::RoomSettings;
use rooms::{Modes, Registry, RegistryConfig};

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The modes file, or a map it names, is missing or invalid.
    #[error(transparent)]
    Modes(#[from] rooms::modes::ModesError),
    /// Limits that contradict each other.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// `--auth-jwt-key` holds no usable key.
    #[error("--auth-jwt-key: {0}")]
    Auth(String),
    /// `--redis`: a bad URL, or Redis unreachable at start.
    #[error("{0}")]
    Redis(String),
}

/// State every connection task shares.
pub struct Shared {
    /// Configuration in force.
    pub config: Config,
    /// The rooms hosted here.
    pub rooms: Arc<Registry>,
    /// Where rooms are found and seats reserved: this process, or the cluster's Redis.
    pub directory: directory::Directory,
    /// Cancelled when the server shuts down.
    pub shutdown: CancellationToken,
    /// Connection tasks, awaited at shutdown.
    pub tasks: TaskTracker,
    /// Metrics served at `/metrics`.
    pub metrics: Arc<metrics::Metrics>,
    /// Player identity from JWTs (`--auth-jwt-key`), when set.
    pub auth: Option<front::auth::JwtAuth>,
    /// Replay viewers' places (`--max-replay-viewers`).
    pub replay_viewers: Arc<tokio::sync::Semaphore>,
}

/// The settings every room takes from the server's configuration, whatever its mode
/// (which then sets its tick rate, seats and interest: see [`rooms::modes`]).
#[must_use]
pub fn room_settings(config: &Config) -> RoomSettings {
    RoomSettings {
        seed: config.seed,
        history_ticks: config.history_ticks as usize,
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
        recording: config.record_dir.as_ref().and_then(|dir| {
            let opts = room::record::RecordOptions {
                queue: config.record_queue,
                max_bytes: config.record_max_bytes,
                max_files: config.record_max_files,
                ..room::record::RecordOptions::new(dir)
            };
            room::record::RecordSink::new(opts)
                .map_err(|e| tracing::warn!(dir = %dir.display(), error = %e, "cannot record"))
                .ok()
        }),
        ..RoomSettings::default()
    }
}

/// Runs the server on `listener` until `shutdown` resolves: then stops accepting, sends
/// every client a close (1001) and returns once they are closed or the configured
/// `shutdown_grace` has passed. Rooms are created on demand from the modes; a room that
/// fails (a panic in its tick) ends alone, and the server keeps serving.
///
/// # Errors
/// A bad configuration, modes file or map.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    config.validate()?;
    let modes = Modes::load(&config)?;
    let auth = match &config.auth_jwt_key {
        Some(spec) => Some(front::auth::JwtAuth::new(spec).map_err(ServerError::Auth)?),
        None => None,
    };
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
    let cancel = CancellationToken::new();
    let metrics = Arc::new(metrics::Metrics::new());
    let (events, events_rx) = match config.redis {
        Some(_) => {
            let (tx, rx) = tokio::sync::mpsc::channel(4096);
            (Some(tx), Some(rx))
        }
        None => (None, None),
    };
    let registry = Registry::new(
        modes,
        RegistryConfig {
            max_rooms: config.max_rooms,
            seat_ttl: config.seat_ttl,
            secret: config.secret.clone(),
            events,
        },
        metrics.clone(),
        cancel.child_token(),
    );
    let directory = match (&config.redis, events_rx) {
        (Some(url), Some(rx)) => {
            let node = config
                .node_id
                .clone()
                .unwrap_or_else(|| format!("node-{:08x}", registry.random_nonce() as u32));
            let public_url = match &config.public_url {
                Some(u) => u.trim_end_matches('/').to_owned(),
                None => {
                    let addr = listener
                        .local_addr()
                        .map_err(|e| ServerError::Redis(e.to_string()))?;
                    if addr.ip().is_unspecified() {
                        tracing::warn!(%addr, "--redis without --public-url on an unspecified address: reservations for this node's rooms name ws://{addr}, which clients cannot reach; set --public-url");
                    }
                    format!("ws://{addr}")
                }
            };
            let dir = directory::redis::RedisDirectory::connect(
                url,
                node,
                public_url,
                registry.clone(),
                rx,
                cancel.child_token(),
            )
            .await
            .map_err(ServerError::Redis)?;
            directory::Directory::Redis(dir)
        }
        _ => directory::Directory::Local(registry.clone()),
    };
    let grace = config.shutdown_grace;
    let drain = config.drain_timeout;
    let replay_viewers = Arc::new(tokio::sync::Semaphore::new(config.max_replay_viewers));
    let shared = Arc::new(Shared {
        replay_viewers,
        config,
        rooms: registry.clone(),
        directory: directory.clone(),
        shutdown: cancel.clone(),
        tasks: TaskTracker::new(),
        metrics,
        auth,
    });
    info!(
        addr = ?listener.local_addr().ok(),
        modes = ?registry.modes().iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
        default_mode = %registry.modes().default_mode().name,
        max_rooms = shared.config.max_rooms,
        max_connections,
        max_per_ip = shared.config.max_connections_per_ip,
        nofile,
        "serving"
    );
    let sweeper = tokio::spawn(registry.clone().run_sweeper());
    let accept = {
        let shared = shared.clone();
        let dropped = shared.clone();
        tokio::spawn(net::listener::accept_loop(
            listener,
            limits,
            shared.shutdown.clone(),
            shared.tasks.clone(),
            move || dropped.metrics.kick("over_capacity_dropped"),
            move |stream, peer, cap| front::request::handle(stream, peer, shared.clone(), cap),
        ))
    };
    shutdown.await;
    if !drain.is_zero() {
        drain_rooms(&directory, drain).await;
    }
    info!("shutting down");
    cancel.cancel();
    let _ = accept.await;
    let _ = sweeper.await;
    shared.tasks.close();
    let closed = async {
        shared.tasks.wait().await;
        registry.wait().await;
    };
    if tokio::time::timeout(grace, closed).await.is_err() {
        tracing::warn!("connections still open after the grace period");
    }
    if let directory::Directory::Redis(dir) = &directory {
        dir.leave().await;
    }
    Ok(())
}

/// Drains the node (`--drain-timeout`): no new rooms or seats here, the rooms play on
/// until no seat is taken in any of them or `limit` passes.
async fn drain_rooms(directory: &directory::Directory, limit: std::time::Duration) {
    directory.drain();
    let registry = directory.registry();
    info!(
        seats = registry.seats_taken(),
        limit_s = limit.as_secs_f64(),
        "draining: no new rooms or seats; waiting for the players to leave"
    );
    let deadline = tokio::time::Instant::now() + limit;
    let mut every = tokio::time::interval(std::time::Duration::from_millis(100));
    while registry.seats_taken() > 0 && tokio::time::Instant::now() < deadline {
        every.tick().await;
    }
    info!(seats = registry.seats_taken(), "drained");
}
