//! The room directory: where the rooms API and the sessions find rooms, reserve seats and
//! claim them. Two kinds, chosen at start:
//!
//! - [`Directory::Local`] (the default): this process's [`Registry`] is the whole
//!   directory: seats counted under its lock, nothing else running. Every call goes
//!   straight to the registry, as before the directory existed.
//! - [`Directory::Redis`] (`--redis`): several processes (nodes) share one directory in
//!   Redis ([`redis::RedisDirectory`]): any node matchmakes into the rooms of every live
//!   node, seats are reserved and claimed by Lua scripts (atomic whoever asks), a new room
//!   goes to the least-loaded node, a node that stops beating disappears with its rooms.
//!
//! Rooms know nothing of either: the registry starts them and hands them their players.

pub mod redis;
mod scripts;

use std::sync::Arc;
use std::time::Duration;

use tickwire_shared::protocol::SeatRefusal;

use crate::rooms::{Claimed, Identity, Registry, ReserveError, RoomId, RoomInfo};

/// A seat reserved: what the rooms API answers.
#[derive(Clone, Debug)]
pub struct Seated {
    /// The room's code.
    pub room: String,
    /// Its mode.
    pub mode: String,
    /// Where its WebSocket is (`None`: this node, at the address the client asked).
    pub url: Option<String>,
    /// The seat token.
    pub token: String,
    /// How long the token waits for its join.
    pub expires_in: Duration,
}

/// Why a join's seat token was not claimed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClaimError {
    /// Refused, with the reason the client is told.
    Refused(SeatRefusal),
    /// The directory cannot be asked (Redis unreachable).
    Unavailable(String),
}

/// Where rooms are recorded.
#[derive(Clone)]
pub enum Directory {
    /// This process only.
    Local(Arc<Registry>),
    /// Shared by the nodes of a cluster, in Redis.
    Redis(Arc<redis::RedisDirectory>),
}

impl Directory {
    /// The registry of the rooms hosted here.
    #[must_use]
    pub fn registry(&self) -> &Arc<Registry> {
        match self {
            Directory::Local(r) => r,
            Directory::Redis(d) => d.registry(),
        }
    }

    /// Join-or-create in `mode`.
    ///
    /// # Errors
    /// [`ReserveError`].
    pub async fn matchmake(
        &self,
        mode: &str,
        who: Option<Identity>,
    ) -> Result<Seated, ReserveError> {
        match self {
            Directory::Local(r) => r.matchmake(mode, who).map(local),
            Directory::Redis(d) => d.matchmake(mode, who, false).await,
        }
    }

    /// A seat in a new room.
    ///
    /// # Errors
    /// [`ReserveError`].
    pub async fn create(
        &self,
        mode: &str,
        private: bool,
        who: Option<Identity>,
    ) -> Result<Seated, ReserveError> {
        match self {
            Directory::Local(r) => r.create(mode, private, who).map(local),
            Directory::Redis(d) => d.create(mode, private, who).await,
        }
    }

    /// A seat in room `code`.
    ///
    /// # Errors
    /// [`ReserveError`].
    pub async fn seat_in(&self, code: &str, who: Option<Identity>) -> Result<Seated, ReserveError> {
        match self {
            Directory::Local(r) => r.seat_in(code, who).map(local),
            Directory::Redis(d) => d.seat_in(code, who).await,
        }
    }

    /// The public rooms (of `mode`).
    ///
    /// # Errors
    /// [`ReserveError::Unavailable`].
    pub async fn list(&self, mode: Option<&str>) -> Result<Vec<RoomInfo>, ReserveError> {
        match self {
            Directory::Local(r) => Ok(r.list(mode)),
            Directory::Redis(d) => d.list(mode, None).await,
        }
    }

    /// Room `code`.
    ///
    /// # Errors
    /// [`ReserveError::Unavailable`].
    pub async fn info(&self, code: &str) -> Result<Option<RoomInfo>, ReserveError> {
        match self {
            Directory::Local(r) => Ok(r.info(code)),
            Directory::Redis(d) => {
                if RoomId::parse(code).is_none() {
                    return Ok(None);
                }
                Ok(d.list(None, Some(code)).await?.pop())
            }
        }
    }

    /// The seat a join's token reserves, claimed for good (with `room`: it must be that
    /// room). Clustered, the room must be hosted here.
    ///
    /// # Errors
    /// [`ClaimError`].
    pub async fn claim(&self, token: &str, room: Option<RoomId>) -> Result<Claimed, ClaimError> {
        match self {
            Directory::Local(r) => r.claim(token, room).map_err(ClaimError::Refused),
            Directory::Redis(d) => d.claim(token, room).await,
        }
    }

    /// Quick play (a `/ws` join with no seat): a seat in the default mode, in a room
    /// hosted here, claimed at once.
    ///
    /// # Errors
    /// As [`Directory::matchmake`].
    pub async fn quick_play(&self) -> Result<Claimed, ReserveError> {
        match self {
            Directory::Local(r) => r.quick_play(),
            Directory::Redis(d) => d.quick_play().await,
        }
    }

    /// Starts draining: no new rooms or seats here (clustered: the directory is told at
    /// once).
    pub fn drain(&self) {
        self.registry().drain();
        if let Directory::Redis(d) = self {
            d.beat_now();
        }
    }
}

fn local(r: crate::rooms::Reservation) -> Seated {
    Seated {
        room: r.room.id.to_string(),
        mode: r.room.mode.name.clone(),
        url: None,
        token: r.token,
        expires_in: r.expires_in,
    }
}
