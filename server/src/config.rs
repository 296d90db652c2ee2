//! Server configuration: command-line flags with environment fallbacks, parsed once in
//! `main` and passed down. Every limit has a safe default, chosen for a public game server
//! with small client messages (an input is about 20 bytes) on a machine it shares with
//! nobody; each can be changed per deployment.
//!
//! Durations accept `500ms`, `10s`, `2m` or a bare number of seconds.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use tickwire_shared::protocol::codec;

/// How `tickwire-server` runs.
#[derive(Clone, Debug, Parser)]
#[command(
    name = "tickwire-server",
    version,
    about = "Tickwire game state server"
)]
pub struct Config {
    /// Address to listen on (HTTP for the client, WebSocket upgrade at /ws).
    #[arg(long, env = "TICKWIRE_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    /// Game modes file (TOML): what rooms are created from. Default: `modes.toml` under
    /// `--assets`.
    #[arg(long, env = "TICKWIRE_MODES")]
    pub modes: Option<PathBuf>,

    /// The mode quick play joins (a `/ws` join with no seat). Default: the modes file's
    /// `default`.
    #[arg(long, env = "TICKWIRE_DEFAULT_MODE")]
    pub default_mode: Option<String>,

    /// Rooms at most in this process (matchmaking answers 503 beyond).
    #[arg(long, env = "TICKWIRE_MAX_ROOMS", default_value_t = 1000)]
    pub max_rooms: usize,

    /// Secret that signs seat tokens (HMAC-SHA256); every node of a cluster needs the same.
    /// Default: random per process.
    #[arg(long, env = "TICKWIRE_SECRET", hide_env_values = true)]
    pub secret: Option<String>,

    /// A shared room directory in Redis (`redis://host:port/db`): several processes (nodes)
    /// then serve one cluster: any node matchmakes into the rooms of every live node, and
    /// new rooms go to the least-loaded node. Without it the directory is this process.
    #[arg(long, env = "TICKWIRE_REDIS", hide_env_values = true)]
    pub redis: Option<String>,

    /// How clients reach this node's WebSocket (e.g. `wss://node2.game.example`, behind a
    /// proxy): reservations for its rooms say `{public-url}/ws?room=CODE`. Default: the
    /// address it listens on (`ws://ADDR`). With `--redis` only.
    #[arg(long, env = "TICKWIRE_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// This node's name in the cluster directory. Default: generated at start.
    #[arg(long, env = "TICKWIRE_NODE_ID")]
    pub node_id: Option<String>,

    /// On SIGTERM, drain first for up to this long: no new rooms or seats here, the rooms
    /// play on until their players leave (or the time is up), then the shutdown (1001).
    /// 0: shut down at once.
    #[arg(long, env = "TICKWIRE_DRAIN_TIMEOUT", default_value = "0s", value_parser = parse_duration)]
    pub drain_timeout: Duration,

    /// How long a seat reservation waits for its WebSocket join.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub seat_ttl: Duration,

    /// Player identity from the game's backend: matchmaking then requires
    /// `Authorization: Bearer <JWT>`, and the player's id and name come from its claims
    /// (`sub`, `name`). An HS256 secret, or a PEM file (`@path`) holding an RS256 or EdDSA
    /// public key. Without it, players are anonymous with the name they choose.
    #[arg(long, env = "TICKWIRE_AUTH_JWT_KEY", hide_env_values = true)]
    pub auth_jwt_key: Option<String>,

    /// Overrides the default mode's tick rate (ticks per second).
    #[arg(long, env = "TICKWIRE_TICK_HZ",
          value_parser = clap::value_parser!(u16).range(1..=240))]
    pub tick_hz: Option<u16>,

    /// Overrides the default mode's map file (JSON).
    #[arg(long, env = "TICKWIRE_MAP")]
    pub map: Option<PathBuf>,

    /// Directory of static files (index.html, css, maps).
    #[arg(long, env = "TICKWIRE_ASSETS", default_value = "assets")]
    pub assets: PathBuf,

    /// Directory of the built browser client (wasm-bindgen output), served under /pkg/.
    #[arg(long, env = "TICKWIRE_CLIENT_DIR", default_value = "target/client")]
    pub client_dir: PathBuf,

    /// Seed of the world's random generator.
    #[arg(long, env = "TICKWIRE_SEED", default_value_t = 1)]
    pub seed: u64,

    /// Send full snapshots every tick instead of deltas (for bandwidth comparisons).
    #[arg(long, env = "TICKWIRE_FULL_SNAPSHOTS")]
    pub full_snapshots: bool,

    /// Past ticks kept as delta baselines (a client whose ack is older gets a full state).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(2..=1024))]
    pub history_ticks: u32,

    /// Overrides the default mode's reconnect grace: how long a player whose connection was
    /// lost is held for a resume (0: not at all).
    #[arg(long, env = "TICKWIRE_RECONNECT_GRACE", value_parser = parse_duration)]
    pub reconnect_grace: Option<Duration>,

    /// Records every room's match into this directory (one replay file per room; a mode
    /// opts out with `record = false`). See docs/replay.md.
    #[arg(long, env = "TICKWIRE_RECORD_DIR")]
    pub record_dir: Option<PathBuf>,

    /// Records queued between a room's tick and its writer at most; a full queue cuts the
    /// recording (the tick never waits for the disk).
    #[arg(long, default_value_t = 4096)]
    pub record_queue: usize,

    /// Compressed bytes of one replay file at most (past it the recording is cut). The
    /// default is the largest file a replay room serves.
    #[arg(long, default_value_t = crate::room::replay_room::MAX_REPLAY_BYTES)]
    pub record_max_bytes: u64,

    /// Replay files kept in `--record-dir` at most (the oldest finished ones are deleted
    /// first; a recording still being written never is).
    #[arg(long, default_value_t = 200)]
    pub record_max_files: usize,

    /// Replay viewers at once at most (each holds its replay in memory and re-simulates it);
    /// past it a viewer is refused with 1013.
    #[arg(long, default_value_t = 32)]
    pub max_replay_viewers: usize,

    /// Overrides the default mode's seats per room.
    #[arg(long, env = "TICKWIRE_MAX_PLAYERS")]
    pub max_players: Option<usize>,

    /// Open TCP connections at most (HTTP and WebSocket). The server lowers it further to
    /// stay below the process's descriptor limit (RLIMIT_NOFILE, read at start). Beyond it,
    /// a WebSocket upgrade is completed and closed with 1013, plain HTTP gets 503; far
    /// beyond it, connections are closed unanswered.
    #[arg(long, env = "TICKWIRE_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,

    /// Open connections at most from one client address (0: no limit). The address is the
    /// TCP peer, or the `X-Forwarded-For` client when the peer is a `--trusted-proxy`.
    #[arg(long, env = "TICKWIRE_MAX_CONNECTIONS_PER_IP", default_value_t = 64)]
    pub max_connections_per_ip: usize,

    /// Apply `--max-connections-per-ip` to loopback clients (127.0.0.0/8, ::1) too. Off by
    /// default: local benchmarks and tools are not one abusive client, and a local proxy
    /// belongs in `--trusted-proxy`.
    #[arg(long, env = "TICKWIRE_PER_IP_LOOPBACK")]
    pub per_ip_includes_loopback: bool,

    /// A reverse proxy whose `X-Forwarded-For` header names the real client (repeatable).
    /// Without it the header is ignored: anyone can write it.
    #[arg(
        long = "trusted-proxy",
        env = "TICKWIRE_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<IpAddr>,

    /// An `Origin` allowed to open a WebSocket, e.g. `https://game.example` (repeatable).
    /// None: any origin (and clients that send none, like bots).
    #[arg(
        long = "allowed-origin",
        env = "TICKWIRE_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,

    /// Largest WebSocket message a client may send, bytes (1009 beyond). Game messages are
    /// at most 256 bytes.
    #[arg(long, default_value_t = codec::MAX_CLIENT_MSG_BYTES,
          value_parser = bytes_in(16, 16 << 20))]
    pub max_message_bytes: usize,

    /// Largest WebSocket frame a client may send, bytes (1009 beyond; checked on the frame
    /// header, before any payload is buffered).
    #[arg(long, default_value_t = codec::MAX_CLIENT_MSG_BYTES,
          value_parser = bytes_in(16, 16 << 20))]
    pub max_frame_bytes: usize,

    /// WebSocket read buffer per connection, bytes (allocated for every connection: keep
    /// it small; tungstenite's default of 128 KiB costs 1.3 GB for 10,000 sockets).
    #[arg(long, default_value_t = 1024, value_parser = bytes_in(256, 1 << 20))]
    pub ws_read_buffer_bytes: usize,

    /// Bytes the WebSocket collects before writing to the socket (0: write every message
    /// at once). Only the test-only echo endpoint uses it: game connections always write
    /// each frame at once (the room's snapshots follow tungstenite's frames in order).
    #[arg(long, default_value_t = 0, value_parser = bytes_in(0, 1 << 20))]
    pub ws_write_buffer_bytes: usize,

    /// Bytes a connection may have waiting to be written before a send fails (must exceed
    /// `--ws-write-buffer-bytes`).
    #[arg(long, default_value_t = 1 << 20, value_parser = bytes_in(1024, 64 << 20))]
    pub ws_max_write_buffer_bytes: usize,

    /// Kernel send buffer of each connection (SO_SNDBUF), bytes (the kernel doubles it for
    /// its bookkeeping); 0 leaves the kernel's automatic sizing, which grows to megabytes
    /// for a client that acknowledges and does not read. Bounds what the kernel holds for
    /// one socket; a snapshot is a few KB at most.
    #[arg(long, default_value_t = 64 << 10)]
    pub tcp_send_buffer_bytes: usize,

    /// Unsent bytes the kernel accepts for a connection before it refuses more writes
    /// (TCP_NOTSENT_LOWAT); 0: no such bound. Past it what the room writes waits in the
    /// room's own queue, where it is measured: snapshots are skipped, then the client is
    /// dropped (`--write-timeout`).
    #[arg(long, default_value_t = 16 << 10)]
    pub tcp_unsent_bytes: u32,

    /// Snapshots queued per client before the room skips it for a tick.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub outbox_depth: u32,

    /// Inputs queued per client between ticks before extra ones are dropped.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(2..=1024))]
    pub input_queue: u32,

    /// Messages per second a client may send on average (token bucket refill; 1008 beyond).
    /// A client sends one input per tick and the odd ping.
    #[arg(long, default_value_t = 120.0, value_parser = positive_f64)]
    pub max_msgs_per_s: f64,

    /// Messages a client may send in a burst (token bucket size).
    #[arg(long, default_value_t = 120.0, value_parser = positive_f64)]
    pub msg_burst: f64,

    /// Time for the HTTP request head and the WebSocket handshake (slow or silent clients
    /// are dropped, with 408 when they sent a partial head).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub handshake_timeout: Duration,

    /// Time a client may take to send its join after the upgrade (1008).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub join_timeout: Duration,

    /// Time without any message from a client before it is closed (1008).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub idle_timeout: Duration,

    /// Interval of server WebSocket pings: keeps proxies and CDNs (which drop idle sockets
    /// after 60-100 s) from closing the connection, and shows the peer is alive.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub ping_interval: Duration,

    /// Time a client's bytes may keep waiting in the room's queue (its socket's kernel
    /// buffers full: it does not read what it is sent) without the queue ever emptying,
    /// before it is dropped with 1008 (its acknowledgements do not count).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub write_timeout: Duration,

    /// Ticks a client's acknowledgement may trail the current tick before it is closed as
    /// too slow (a client that stops reading stops acknowledging).
    #[arg(long, default_value_t = 300)]
    pub max_ack_lag_ticks: u32,

    /// Overrides the default mode's interest management: width of a player's view, world
    /// units (0: everyone sees everything, as in an arena). Needs `--view-height`.
    #[arg(long, env = "TICKWIRE_VIEW_WIDTH", requires = "view_height")]
    pub view_width: Option<f32>,

    /// Overrides the default mode's view height, world units. Needs `--view-width`.
    #[arg(long, env = "TICKWIRE_VIEW_HEIGHT", requires = "view_width")]
    pub view_height: Option<f32>,

    /// Which state each client's delta is taken against: `sent`, the last snapshot its
    /// connection accepted (TCP delivers it, in order, before the next: every client that
    /// keeps up shares the previous tick, whatever its round trip); `acked`, the newest tick
    /// it acknowledged (for comparison, and for a transport that may lose frames).
    #[arg(long, value_enum, default_value_t = BaselineMode::Sent)]
    pub baselines: BaselineMode,

    /// With `--baselines acked`: baselines are acknowledged ticks that are multiples of
    /// this, so clients with different round trips share a few baselines (each baseline in
    /// use costs a delta of the whole world per tick), at the price of deltas up to N - 1
    /// ticks older. 1: each client's newest acknowledged tick.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=16))]
    pub baseline_step: u32,

    /// Interest management: extra distance around the view that is sent too, so entities
    /// are known before they come into sight (for modes that do not set `view_margin`).
    #[arg(long, default_value_t = 200.0)]
    pub view_margin: f32,

    /// How long a close may take: the server sends the close frame behind what the client
    /// has not read yet, shuts its write side and reads (and discards) what the client
    /// still sends until it answers or hangs up, so the client receives the close instead
    /// of a reset. A client that took nothing by then is reset.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub close_linger: Duration,

    /// At shutdown (SIGTERM, Ctrl-C), how long to wait for clients to take their close
    /// frame (1001) before exiting anyway.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,

    /// Log lines on stderr: `text` for people (coloured only on a terminal), `json` for log
    /// collectors (one JSON object a line: timestamp, level, target, fields, spans).
    #[arg(long, env = "TICKWIRE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    #[cfg(feature = "test-hooks")]
    /// Test only: serve an echo WebSocket at /echo on the real accept path, for the
    /// Autobahn conformance suite.
    #[arg(long, hide = true)]
    pub autobahn_echo: bool,

    #[cfg(feature = "test-hooks")]
    /// Test only: a request for this path panics its connection task (proves isolation).
    #[arg(long, hide = true)]
    pub debug_panic_path: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config::parse_from(["tickwire-server"])
    }
}

/// `--baselines`: which state each client's delta is taken against (see
/// [`crate::room::Baselines`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BaselineMode {
    /// The last snapshot the client's connection accepted.
    Sent,
    /// The newest snapshot the client acknowledged (on the `--baseline-step` lattice).
    Acked,
}

/// `--log-format`: how log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (coloured on a terminal only).
    #[default]
    Text,
    /// One JSON object a line, for log collectors.
    Json,
}

/// A configuration that cannot work.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);

impl Config {
    /// The modes file in force.
    #[must_use]
    pub fn modes_path(&self) -> PathBuf {
        self.modes
            .clone()
            .unwrap_or_else(|| self.assets.join("modes.toml"))
    }

    /// Checks the relations between limits that single flags cannot.
    ///
    /// # Errors
    /// [`ConfigError`] naming the flags in conflict.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |s: &str| Err(ConfigError(s.to_owned()));
        if self.ws_max_write_buffer_bytes <= self.ws_write_buffer_bytes {
            return err("--ws-max-write-buffer-bytes must exceed --ws-write-buffer-bytes");
        }
        if self.ping_interval.is_zero() || self.ping_interval >= self.idle_timeout {
            return err("--ping-interval must be above zero and below --idle-timeout");
        }
        for (name, d) in [
            ("--handshake-timeout", self.handshake_timeout),
            ("--join-timeout", self.join_timeout),
            ("--write-timeout", self.write_timeout),
        ] {
            if d.is_zero() {
                return Err(ConfigError(format!("{name} must be above zero")));
            }
        }
        if self.max_connections == 0 {
            return err("--max-connections must be at least 1");
        }
        if self.max_rooms == 0 {
            return err("--max-rooms must be at least 1");
        }
        if self.seat_ttl.is_zero() {
            return err("--seat-ttl must be above zero");
        }
        if self.redis.is_some() && self.secret.is_none() {
            return err("--redis needs --secret, the same on every node (seat tokens are checked by the room's node)");
        }
        if let Some(url) = &self.public_url {
            if !(url.starts_with("ws://") || url.starts_with("wss://")) {
                return err("--public-url must start with ws:// or wss://");
            }
        }
        if let Some(id) = &self.node_id {
            if id.is_empty()
                || id.len() > 64
                || !id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
            {
                return err("--node-id must be 1 to 64 of A-Z a-z 0-9 - _ .");
            }
        }
        if self.baseline_step > 1 && self.baselines != BaselineMode::Acked {
            return err("--baseline-step applies to --baselines acked");
        }
        Ok(())
    }
}

/// Parses `500ms`, `10s`, `2m` or a bare number of seconds (fractions allowed).
///
/// # Errors
/// A text naming the expected forms.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a duration (e.g. 500ms, 10s, 2m)"))?;
    if !v.is_finite() || v < 0.0 || v * scale > 86_400.0 {
        return Err(format!("`{s}` is out of range (0 to 24 h)"));
    }
    Ok(Duration::from_secs_f64(v * scale))
}

fn positive_f64(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("`{s}` is not a positive number")),
    }
}

fn bytes_in(min: usize, max: usize) -> impl Fn(&str) -> Result<usize, String> + Clone {
    move |s: &str| match s.parse::<usize>() {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(format!("`{s}` is not a byte count in {min}..={max}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_durations_parse() {
        Config::default().validate().expect("defaults are valid");
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn conflicting_limits_are_refused() {
        let c = Config::parse_from([
            "x",
            "--ws-write-buffer-bytes",
            "4096",
            "--ws-max-write-buffer-bytes",
            "4096",
        ]);
        assert!(
            c.validate().is_err(),
            "max write buffer must exceed write buffer"
        );
        let c = Config::parse_from(["x", "--ping-interval", "40s"]);
        assert!(
            c.validate().is_err(),
            "pings must come before the idle timeout"
        );
        let c = Config::parse_from([
            "x",
            "--allowed-origin",
            "https://a",
            "--trusted-proxy",
            "127.0.0.1",
        ]);
        assert_eq!(c.allowed_origins, vec!["https://a".to_owned()]);
        assert_eq!(c.trusted_proxies.len(), 1);
        let c = Config::parse_from(["x", "--baseline-step", "4"]);
        assert!(
            c.validate().is_err(),
            "a baseline step needs acknowledged baselines"
        );
        let c = Config::parse_from(["x", "--redis", "redis://127.0.0.1:6379/0"]);
        assert!(c.validate().is_err(), "a cluster needs its shared secret");
        let c = Config::parse_from(["x", "--redis", "redis://r/0", "--secret", "s"]);
        c.validate().expect("a node of a cluster");
        let c = Config::parse_from(["x", "--public-url", "http://node2"]);
        assert!(c.validate().is_err(), "a WebSocket URL");
        let c = Config::parse_from(["x", "--node-id", "node 2"]);
        assert!(c.validate().is_err(), "no spaces in a node id");
        let c = Config::parse_from(["x", "--baselines", "acked", "--baseline-step", "4"]);
        c.validate().expect("acknowledged baselines on a lattice");
        assert_eq!(c.baselines, BaselineMode::Acked);
    }
}
