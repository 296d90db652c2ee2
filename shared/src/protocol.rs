//! The wire: messages named by direction ([`ClientMsg`] client to server, [`ServerMsg`] server
//! to client), versioned by [`PROTOCOL_VERSION`] and checked once at join.
//!
//! Every message is one binary WebSocket message encoded by [`codec`]. A session:
//!
//! 1. client: `Join { version, name }`; server: `Welcome` (or `Disconnect` and close 1008);
//! 2. every tick the client sends `Input` (sequence number, target tick, ack = newest snapshot
//!    tick received) and the server sends a `Snapshot`: a delta against a state the client
//!    holds (by default the last snapshot sent to it: the transport delivers every message
//!    in order, so **a client applies every snapshot, in order**; with the server's
//!    `--baselines acked`, the tick it acknowledged), or a full state when it has no usable
//!    baseline;
//! 3. `Ping`/`Pong` measure round trips; `Disconnect` explains a close.

pub mod codec;
pub mod id_gaps;
pub mod snapshot;

use bincode::{Decode, Encode};

pub use crate::input::InputMsg;
pub use snapshot::{Snapshot, SnapshotBody, SnapshotHeader};

use crate::config::SimConfig;
use crate::entity::NetId;
use crate::map::Map;
use crate::tick::Tick;

/// Version of everything in this module. Any change to the wire bumps it, in the same commit.
/// 14: spectators: `Watch` joins a room without a player, `Camera` moves a spectator's view;
/// a spectator's welcome names no player (`NetId(0)`); `Playback` drives a replay.
/// 13: netcode feel: every input carries its `view` time (lag compensation, predicted
/// contact). 12: one button table (the dash), the kinds' replicated abilities.
/// 10: resume: `Resume` re-attaches a lost connection to its player, the welcome carries a
/// resume token (and says whether it resumed), players replicate `disconnected`.
/// 9: rooms: the join carries a seat token, the welcome names the room and its mode, and
/// refusals of a seat have their own reasons.
pub const PROTOCOL_VERSION: u16 = 14;

/// Longest resume token accepted, in bytes (a real one is about 40).
pub const MAX_RESUME_TOKEN_BYTES: usize = 128;

/// The close code of a connection replaced by a resume of the same player (a newer
/// connection took over, e.g. after the client noticed a drop before the server did).
pub const CLOSE_REPLACED: u16 = 4000;

/// Longest seat token accepted in a join, in bytes (a real one is about 60).
pub const MAX_SEAT_TOKEN_BYTES: usize = 256;

/// Longest player name accepted, in bytes (longer names are cut at a char boundary).
pub const MAX_NAME_BYTES: usize = 32;

/// Client to server.
#[derive(Clone, Debug, PartialEq, Encode, Decode)]
pub enum ClientMsg {
    /// First message of a session. `version` is the first field so that the server can read
    /// it even from a client whose other fields it does not understand.
    Join(Join),
    /// One tick's input.
    Input(InputMsg),
    /// Round-trip probe; answered by [`ServerMsg::Pong`] with the same id.
    Ping(Ping),
    /// First message of a session that takes its player back after a lost connection
    /// (instead of a [`Join`]).
    Resume(Resume),
    /// First message of a spectator's session (instead of a [`Join`]): no player, no
    /// input; the room's snapshots (delayed by the mode's `spectator_delay`).
    Watch(Watch),
    /// A spectator's camera: the player it follows, or where it looks (sent whenever it
    /// changes; the view it receives with interest management).
    Camera(Camera),
    /// A replay's viewer: pause, speed, seek (`/ws?replay=ID`; ignored in a live room).
    Playback(Playback),
}

/// How a replay plays for its viewer. After a seek the server sends a new [`Welcome`] (at
/// the tick sought) and a full state: the client starts a new replica.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Playback {
    /// Paused: no snapshot until it plays again.
    pub paused: bool,
    /// Speed in quarters: 2 (x0.5), 4 (x1), 8 (x2) or 16 (x4); anything else is refused.
    pub speed_quarters: u8,
    /// Jump to this tick (clamped to the replay's length).
    pub seek: Option<Tick>,
}

/// Joins a room as a spectator (`/ws?room=CODE`, or the default mode's fullest room): the
/// welcome names no player (`NetId(0)`), snapshots follow every tick.
#[derive(Clone, Debug, PartialEq, Encode, Decode)]
pub struct Watch {
    /// The client's [`PROTOCOL_VERSION`].
    pub version: u16,
    /// The player to follow at first (`None`: a free camera).
    pub follow: Option<NetId>,
}

/// A spectator's camera.
#[derive(Clone, Copy, Debug, PartialEq, Encode, Decode)]
pub struct Camera {
    /// The player followed (its view is the spectator's), or `None` for a free camera.
    pub follow: Option<NetId>,
    /// A free camera's centre, x (world units).
    pub x: f32,
    /// A free camera's centre, y (world units).
    pub y: f32,
}

/// Takes a player back after a lost connection: the server re-attaches this connection to
/// the same entity (score, health, cooldowns untouched) and sends a [`Welcome`] with
/// `resumed: true`, then snapshots as a delta against `last_tick` when it still holds that
/// tick (else a full state). Input sequence numbers continue: inputs the client sent that
/// may not have arrived are sent again, and one already applied is never applied twice.
#[derive(Clone, Debug, PartialEq, Encode, Decode)]
pub struct Resume {
    /// The client's [`PROTOCOL_VERSION`].
    pub version: u16,
    /// The `resume` token of the last [`Welcome`].
    pub token: String,
    /// The newest snapshot tick the client holds (the baseline it can apply a delta to).
    pub last_tick: Option<Tick>,
    /// The sequence number of the next input the client sends.
    pub next_input_seq: u32,
}

/// Asks to join the game.
#[derive(Clone, Debug, PartialEq, Encode, Decode)]
pub struct Join {
    /// The client's [`PROTOCOL_VERSION`].
    pub version: u16,
    /// Display name, as the player typed it; the server cleans it (invisible and format
    /// characters removed, 16 characters at most) and adds a suffix when another player of
    /// the room already shows it.
    pub name: String,
    /// The seat token of a reservation made over HTTP (`POST /matchmake/{mode}` and the
    /// like); `None` for quick play, which seats the player in the server's default mode.
    pub seat: Option<String>,
}

/// Round-trip probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Ping {
    /// Chosen by the client (typically its clock in ms), echoed in the pong.
    pub id: u32,
}

/// Server to client.
#[derive(Clone, Debug, PartialEq)]
pub enum ServerMsg {
    /// Join accepted.
    Welcome(Welcome),
    /// World state after a tick.
    Snapshot(Snapshot),
    /// Answer to a ping.
    Pong(Pong),
    /// Why the server is about to close the connection.
    Disconnect(Disconnect),
}

/// Join accepted: everything the client needs to run the same simulation.
#[derive(Clone, Debug, PartialEq, Encode, Decode)]
pub struct Welcome {
    /// The server's [`PROTOCOL_VERSION`].
    pub protocol_version: u16,
    /// The network id of the client's own player entity.
    pub player: NetId,
    /// The server's current tick.
    pub tick: Tick,
    /// The room's code (an invite to it: `/?room=CODE`).
    pub room: String,
    /// The room's game mode.
    pub mode: String,
    /// Presented in a [`Resume`] to take this player back after a lost connection, within
    /// the room's reconnect grace (empty: the room does not hold players for a resume).
    /// Each welcome carries a new one; the previous one no longer works.
    pub resume: String,
    /// This welcome answers a [`Resume`]: the client keeps its state and applies the next
    /// snapshot to it.
    pub resumed: bool,
    /// Gameplay constants in force.
    pub config: SimConfig,
    /// The map.
    pub map: Map,
}

/// Answer to a [`Ping`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Pong {
    /// The ping's id.
    pub id: u32,
    /// The server's tick when it answered.
    pub tick: Tick,
}

/// Why the server closes a connection (sent just before the WebSocket close frame).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Disconnect {
    /// Machine-readable reason.
    pub reason: DisconnectReason,
    /// Human-readable detail.
    pub detail: String,
}

/// Machine-readable disconnect reasons.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub enum DisconnectReason {
    /// The client speaks another protocol version.
    VersionMismatch {
        /// The server's version.
        server: u16,
        /// The client's version.
        client: u16,
    },
    /// The server is full.
    ServerFull,
    /// The server is shutting down.
    ShuttingDown,
    /// A message could not be decoded or broke a rule.
    BadMessage,
    /// Too many messages.
    RateLimited,
    /// Nothing received for too long.
    IdleTimeout,
    /// The client fell too far behind the game (acks trail too far, or it stopped reading).
    TooSlow,
    /// No join in time.
    JoinTimeout,
    /// The seat token was refused (see [`SeatRefusal`]).
    Seat(SeatRefusal),
    /// The room failed (an internal error): its players are closed with 1011; other rooms
    /// play on.
    RoomFailed,
    /// The resume was refused (see [`ResumeRefusal`]); the client falls back to
    /// matchmaking.
    Resume(ResumeRefusal),
    /// A newer connection resumed this player (close code [`CLOSE_REPLACED`]).
    Replaced,
}

/// Why a resume was refused (close 1008).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub enum ResumeRefusal {
    /// Not a token this server signed (malformed, or tampered with).
    Invalid,
    /// The player is no longer held: the grace ran out, it left, or the token was
    /// replaced by a newer one.
    Expired,
    /// It is a token of another room than the one joined.
    OtherRoom,
    /// Its room no longer exists.
    RoomGone,
}

/// Why a seat token was refused at the join (close 1008).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub enum SeatRefusal {
    /// A room's URL was joined without a seat token.
    Missing,
    /// Not a token this server signed (malformed, or tampered with).
    Invalid,
    /// Its time to join ran out.
    Expired,
    /// It was already used (a seat token is single-use).
    Used,
    /// It is a seat in another room than the one joined.
    OtherRoom,
    /// Its room no longer exists.
    RoomGone,
}
