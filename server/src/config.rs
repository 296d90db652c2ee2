//! Server configuration: command-line flags with environment fallbacks, parsed once in
//! `main` and passed down. Every limit has a safe default.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

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

    /// Simulation ticks per second.
    #[arg(long, env = "TICKWIRE_TICK_HZ", default_value_t = tickwire_shared::tick::DEFAULT_TICK_HZ,
          value_parser = clap::value_parser!(u16).range(1..=240))]
    pub tick_hz: u16,

    /// Map file (JSON). Without it, the map `assets/maps/arena.json` is looked up under
    /// `--assets`.
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

    /// Players admitted at most (connections beyond are refused with close 1013).
    #[arg(long, env = "TICKWIRE_MAX_PLAYERS", default_value_t = 5000)]
    pub max_players: usize,

    /// Snapshots queued per client before the room skips it for a tick.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub outbox_depth: u32,

    /// Inputs queued per client between ticks before extra ones are dropped.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(2..=1024))]
    pub input_queue: u32,

    /// Seconds a client may take to send its join after the upgrade.
    #[arg(long, default_value_t = 10)]
    pub join_timeout_s: u64,

    /// Seconds for the HTTP request head / WebSocket handshake.
    #[arg(long, default_value_t = 10)]
    pub handshake_timeout_s: u64,

    /// Seconds without any message from a client before it is closed (1008).
    #[arg(long, default_value_t = 30)]
    pub idle_timeout_s: u64,

    /// Seconds between server WebSocket pings (keeps proxies from closing idle sockets).
    #[arg(long, default_value_t = 15)]
    pub ping_interval_s: u64,

    /// Ticks a client's acknowledgement may trail the current tick before it is closed as
    /// too slow (a client that stops reading stops acknowledging).
    #[arg(long, default_value_t = 300)]
    pub max_ack_lag_ticks: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config::parse_from(["tickwire-server"])
    }
}

impl Config {
    /// Duration of one tick.
    #[must_use]
    pub fn tick_duration(&self) -> Duration {
        Duration::from_secs_f64(1.0 / f64::from(self.tick_hz))
    }

    /// The map file in force.
    #[must_use]
    pub fn map_path(&self) -> PathBuf {
        self.map
            .clone()
            .unwrap_or_else(|| self.assets.join("maps").join("arena.json"))
    }
}
