//! A room's settings: gameplay constants, history, seats, interest, baselines, the reconnect
//! grace and the limits it applies to the connections it owns.

use std::time::Duration;

use tickwire_shared::SimConfig;

use super::Interest;

/// Room parameters (from its mode and the server's [`crate::Config`]).
#[derive(Clone, Debug)]
pub struct RoomSettings {
    /// The room's code, told to its players in the welcome.
    pub id: String,
    /// The room's mode, told to its players in the welcome.
    pub mode: String,
    /// Gameplay constants.
    pub sim: SimConfig,
    /// World seed.
    pub seed: u64,
    /// Ticks of history kept for baselines.
    pub history_ticks: usize,
    /// Players admitted at most.
    pub max_players: usize,
    /// Inputs queued per client.
    pub input_queue: usize,
    /// Send full states instead of deltas.
    pub full_snapshots: bool,
    /// Ticks an acknowledgement may trail before the client is dropped as too slow.
    pub max_ack_lag_ticks: u32,
    /// What each player receives (everything, or a view around it).
    pub interest: Interest,
    /// Which state each client's delta is taken against.
    pub baselines: Baselines,
    /// How long a player whose connection was lost stays in the room for a resume
    /// (zero: it leaves at once).
    pub reconnect_grace: Duration,
    /// Connection limits.
    pub net: NetLimits,
    /// Where the room records its match (`--record-dir`, or the mode's `record`); `None`:
    /// not recorded.
    pub recording: Option<super::record::RecordSink>,
    /// Spectators admitted at most (the mode's `spectators`).
    pub max_spectators: usize,
    /// How far behind the room spectators watch (the mode's `spectator_delay`; zero: live,
    /// sharing the players' encoded bodies).
    pub spectator_delay: Duration,
}

impl Default for RoomSettings {
    /// The server's defaults (`tickwire-server` with no flags): the default tick rate,
    /// 64 ticks of history, deltas against the last snapshot sent, everything visible.
    fn default() -> Self {
        RoomSettings {
            id: String::new(),
            mode: String::new(),
            sim: SimConfig::default(),
            seed: 1,
            history_ticks: 64,
            max_players: 5000,
            input_queue: 32,
            full_snapshots: false,
            max_ack_lag_ticks: 300,
            interest: Interest::everything(),
            baselines: Baselines::Sent,
            reconnect_grace: Duration::from_secs(20),
            net: NetLimits::default(),
            recording: None,
            max_spectators: 64,
            spectator_delay: Duration::ZERO,
        }
    }
}

/// Which state each client's delta is taken against.
///
/// Every baseline in use costs the room a delta of the whole map per tick (see
/// `snapshot::delta`), so the fewer distinct baselines, the cheaper the tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Baselines {
    /// The last snapshot the client's connection accepted (written, or queued behind
    /// earlier frames). A WebSocket runs over TCP, which delivers every accepted frame in
    /// order, so the client holds that state when the next one arrives; a skipped frame
    /// (its outbox full) never becomes a baseline. Every client that keeps up shares the
    /// previous tick as its baseline, whatever its round trip: one delta of the map per
    /// tick, and the smallest deltas. The default.
    Sent,
    /// The newest acknowledged tick that is a multiple of `step` when there is one less
    /// than `step` ticks older than the newest acknowledgement, else the newest (see
    /// `players::Acks`). For a transport that may lose frames; each round trip in the
    /// crowd is a baseline in use, and `step` > 1 makes clients share a few, at the price
    /// of deltas up to `step - 1` ticks older.
    Acked {
        /// The lattice of shared baselines (1: each client's newest acknowledgement).
        step: u32,
    },
}

impl Baselines {
    /// The lattice acknowledgements are noted on (1 when baselines are not acknowledged
    /// ticks).
    #[must_use]
    pub fn step(self) -> u32 {
        match self {
            Baselines::Sent => 1,
            Baselines::Acked { step } => step.max(1),
        }
    }
}

/// The connection limits the room applies while it owns the connections.
#[derive(Clone, Debug)]
pub struct NetLimits {
    /// Messages per second a client may send (sustained).
    pub max_msgs_per_s: f64,
    /// Messages a client may send in a burst.
    pub msg_burst: f64,
    /// Silence after which a client is dropped.
    pub idle_timeout: Duration,
    /// Interval of the server's WebSocket pings.
    pub ping_interval: Duration,
    /// Time bytes may wait without the socket taking any before the client is dropped.
    pub write_timeout: Duration,
    /// Messages read from one client per tick at most (the rest wait for the next tick).
    pub max_msgs_per_tick: usize,
    /// Bytes read from one client per tick at most, whatever they hold (tiny frames,
    /// fragments, pings): bounds the room's work for any client.
    pub max_read_bytes_per_tick: usize,
}

impl Default for NetLimits {
    fn default() -> Self {
        NetLimits {
            max_msgs_per_s: 120.0,
            msg_burst: 60.0,
            idle_timeout: Duration::from_secs(30),
            ping_interval: Duration::from_secs(15),
            write_timeout: Duration::from_secs(10),
            max_msgs_per_tick: 64,
            max_read_bytes_per_tick: 4096,
        }
    }
}
