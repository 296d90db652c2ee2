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
/// 9: rooms: the join carries a seat token, the welcome names the room and its mode, and
/// refusals of a seat have their own reasons.
pub const PROTOCOL_VERSION: u16 = 9;

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
}

/// Asks to join the game.
#[derive(Clone, Debug, PartialEq, Encode, Decode)]
pub struct Join {
    /// The client's [`PROTOCOL_VERSION`].
    pub version: u16,
    /// Display name (trimmed and cut to [`MAX_NAME_BYTES`] by the server).
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
