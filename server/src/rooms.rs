//! Rooms: the registry of the rooms this process hosts, and the seats in them.
//!
//! ```text
//!  POST /matchmake/arena ─▶ Registry::matchmake ─▶ {room, seat token}   (front/api.rs)
//!  /ws join {seat}       ─▶ Registry::claim     ─▶ RoomEntry + SeatGuard (front/session.rs)
//!                             RoomHandle::send(Join { lease: SeatGuard }) ─▶ Room (its task)
//! ```
//!
//! Every room is a plain `Room` on a task of its own (the runtime's workers tick them all);
//! it knows nothing of the registry. The registry counts each room's seats under one short
//! lock (taken at a reservation, a claim, a sweep, and when a player leaves for good):
//! `taken` = reservations waiting for their join + players in the room, never above the
//! room's seats, so concurrent requests cannot overbook. A claimed seat's [`SeatGuard`] is
//! the player's lease, held by the room and dropped when the player leaves for good (a
//! player held for a resume keeps it); an unclaimed seat is freed when its token expires.
//! A room with no seat taken for its mode's `empty_ttl` is disposed; a room whose tick
//! panics ends alone (its players get 1011) and is removed.

mod entry;
pub mod id;
mod lifecycle;
pub mod modes;
pub mod seats;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use ring::rand::SystemRandom;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use tickwire_shared::protocol::{ResumeRefusal, SeatRefusal};

use crate::metrics::Metrics;
use crate::room::ResumeTicket;
pub use entry::{RoomEntry, RoomInfo};
pub use id::RoomId;
use lifecycle::release_locked;
pub use modes::{Mode, Modes};
use seats::Seat;
pub use seats::SeatSigner;

/// How often expired reservations and empty rooms are looked for.
pub const SWEEP_EVERY: Duration = Duration::from_millis(100);

/// Why no seat could be reserved.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReserveError {
    /// No such mode.
    #[error("no mode `{0}`")]
    UnknownMode(String),
    /// No such room.
    #[error("no room `{0}`")]
    UnknownRoom(String),
    /// The mode is not public: its rooms are created and joined by invitation only.
    #[error("mode `{0}` is by invitation only: create a room (POST /rooms) and share its code")]
    NotPublic(String),
    /// Every seat of the room is taken.
    #[error("room {0} is full")]
    Full(RoomId),
    /// The process hosts `--max-rooms` rooms and none has a free seat.
    #[error("the server is at capacity ({0} rooms)")]
    AtCapacity(usize),
    /// The server is shutting down.
    #[error("the server is shutting down")]
    ShuttingDown,
    /// The node is draining (SIGTERM with `--drain-timeout`): no new rooms or seats here.
    #[error("this node is draining: no new rooms or seats")]
    Draining,
    /// The shared directory (Redis) cannot be reached or did not answer.
    #[error("the room directory is unavailable: {0}")]
    Unavailable(String),
    /// No live node could host a new room, or the chosen one did not answer.
    #[error("no node can host the room: {0}")]
    NoNode(String),
}

/// What the registry tells the cluster directory about the rooms it hosts (bounded
/// channel; when it is full the directory resynchronises from [`Registry::hosted`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoomEvent {
    /// A claimed seat of this room was freed (a player left for good).
    Released(RoomId),
    /// The room ended (disposed or failed).
    Removed(RoomId),
}

/// One seat reserved: what the client needs to join.
#[derive(Clone, Debug)]
pub struct Reservation {
    /// The room.
    pub room: Arc<RoomEntry>,
    /// The seat token to present in the join.
    pub token: String,
    /// How long it stays valid.
    pub expires_in: Duration,
}

/// The registry's count of one room's seats.
#[derive(Debug)]
struct Slot {
    entry: Arc<RoomEntry>,
    /// Reservations waiting for their join + players seated.
    taken: usize,
    /// Since when nothing is taken.
    empty_since: Option<Instant>,
}

/// A reservation waiting for its join.
#[derive(Clone, Debug)]
struct Pending {
    room: RoomId,
    expires: Instant,
    who: Option<Identity>,
}

/// Who a player is, from the game's own backend (a verified JWT's claims).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The backend's id of the player (`sub`).
    pub id: String,
    /// The name to show (`name`, else the id).
    pub name: String,
}

/// A seat claimed by a join.
#[derive(Debug)]
pub struct Claimed {
    /// The room.
    pub room: Arc<RoomEntry>,
    /// The seat, freed when dropped.
    pub guard: SeatGuard,
    /// Who reserved it, when matchmaking knew (then it overrides the join's name).
    pub who: Option<Identity>,
}

#[derive(Debug, Default)]
struct State {
    rooms: HashMap<RoomId, Slot>,
    pending: HashMap<u64, Pending>,
    next_nonce: u64,
}

/// The rooms of this process.
pub struct Registry {
    modes: Modes,
    max_rooms: usize,
    seat_ttl: Duration,
    signer: SeatSigner,
    state: Mutex<State>,
    metrics: Arc<Metrics>,
    rng: SystemRandom,
    shutdown: CancellationToken,
    /// The rooms' supervisor tasks.
    tasks: TaskTracker,
    /// Clustered: where freed seats and ended rooms are announced.
    events: Option<tokio::sync::mpsc::Sender<RoomEvent>>,
    /// An announcement was lost (channel full): the directory must resynchronise.
    resync: AtomicBool,
    /// Draining: no new rooms or seats.
    draining: AtomicBool,
}

/// Settings of the registry (from the server's configuration).
#[derive(Debug)]
pub struct RegistryConfig {
    /// Rooms at most.
    pub max_rooms: usize,
    /// How long a reservation waits for its join.
    pub seat_ttl: Duration,
    /// The secret seat tokens are signed with (`None`: random).
    pub secret: Option<String>,
    /// Clustered (`--redis`): seats are reserved in the shared directory, this registry
    /// counts claimed seats only, tells the directory of freed seats and ended rooms here,
    /// and leaves the disposal of empty rooms to it ([`Registry::idle_rooms`]).
    pub events: Option<tokio::sync::mpsc::Sender<RoomEvent>>,
}

impl Registry {
    /// A registry of no rooms yet; rooms end when `shutdown` is cancelled.
    #[must_use]
    pub fn new(
        modes: Modes,
        config: RegistryConfig,
        metrics: Arc<Metrics>,
        shutdown: CancellationToken,
    ) -> Arc<Registry> {
        Arc::new(Registry {
            modes,
            max_rooms: config.max_rooms,
            seat_ttl: config.seat_ttl,
            signer: SeatSigner::new(config.secret.as_deref()),
            state: Mutex::new(State::default()),
            metrics,
            rng: SystemRandom::new(),
            shutdown,
            tasks: TaskTracker::new(),
            events: config.events,
            resync: AtomicBool::new(false),
            draining: AtomicBool::new(false),
        })
    }

    /// The modes rooms are created from.
    #[must_use]
    pub fn modes(&self) -> &Modes {
        &self.modes
    }

    /// Join-or-create: a seat in the public room of `mode` with the most players that has a
    /// free seat, or in a new room.
    ///
    /// # Errors
    /// [`ReserveError::UnknownMode`], [`ReserveError::AtCapacity`].
    pub fn matchmake(
        self: &Arc<Self>,
        mode: &str,
        who: Option<Identity>,
    ) -> Result<Reservation, ReserveError> {
        let mode = self.mode(mode)?;
        if !mode.public {
            return Err(ReserveError::NotPublic(mode.name.clone()));
        }
        let mut state = self.state.lock();
        let best = state
            .rooms
            .values()
            .filter(|s| {
                Arc::ptr_eq(&s.entry.mode, &mode)
                    && !s.entry.private
                    && s.taken < mode.max_players()
            })
            .max_by_key(|s| (s.taken, std::cmp::Reverse(s.entry.created)))
            .map(|s| s.entry.id);
        let id = match best {
            Some(id) => id,
            None => self.create_locked(&mut state, mode, false, None)?,
        };
        self.reserve_locked(&mut state, id, who)
    }

    /// A seat in a new room of `mode`.
    ///
    /// # Errors
    /// [`ReserveError::UnknownMode`], [`ReserveError::AtCapacity`].
    pub fn create(
        self: &Arc<Self>,
        mode: &str,
        private: bool,
        who: Option<Identity>,
    ) -> Result<Reservation, ReserveError> {
        let mode = self.mode(mode)?;
        let mut state = self.state.lock();
        let id = self.create_locked(&mut state, mode, private, None)?;
        self.reserve_locked(&mut state, id, who)
    }

    /// A seat in room `code` (an invite code: private rooms too).
    ///
    /// # Errors
    /// [`ReserveError::UnknownRoom`], [`ReserveError::Full`].
    pub fn seat_in(&self, code: &str, who: Option<Identity>) -> Result<Reservation, ReserveError> {
        let id = RoomId::parse(code).ok_or_else(|| ReserveError::UnknownRoom(code.to_owned()))?;
        self.reserve_locked(&mut self.state.lock(), id, who)
    }

    /// Quick play: a seat in the default mode, claimed at once.
    ///
    /// # Errors
    /// As [`Registry::matchmake`].
    pub fn quick_play(self: &Arc<Self>) -> Result<Claimed, ReserveError> {
        let name = self.modes.default_mode().name.clone();
        let r = self.matchmake(&name, None)?;
        // Cannot fail but for a room gone in between (its task ended): as good as stopping.
        self.claim(&r.token, None)
            .map_err(|_| ReserveError::ShuttingDown)
    }

    /// The room and seat a token reserves, claimed for good (single use): the seat is held
    /// by the returned guard from now on. With `room`, the token must be for that room.
    ///
    /// # Errors
    /// The [`SeatRefusal`], for the client's close reason.
    pub fn claim(
        self: &Arc<Self>,
        token: &str,
        room: Option<RoomId>,
    ) -> Result<Claimed, SeatRefusal> {
        let seat: Seat = self.signer.verify(token, seats::unix_ms())?;
        if room.is_some_and(|r| r != seat.room) {
            return Err(SeatRefusal::OtherRoom);
        }
        let mut state = self.state.lock();
        let Some(pending) = state.pending.remove(&seat.nonce) else {
            // Signed by this server, unexpired, and not waiting: it was claimed already.
            return Err(SeatRefusal::Used);
        };
        if pending.expires <= Instant::now() {
            // Expired by the monotonic clock: the sweep would free it; do it now.
            release_locked(&mut state, pending.room);
            return Err(SeatRefusal::Expired);
        }
        let Some(slot) = state.rooms.get(&pending.room) else {
            return Err(SeatRefusal::RoomGone);
        };
        Ok(Claimed {
            room: slot.entry.clone(),
            guard: SeatGuard {
                registry: Arc::downgrade(self),
                room: pending.room,
                announce: false,
            },
            who: pending.who,
        })
    }

    /// A new resume ticket for a connection to `room`: the key the room will know the
    /// player's next resume by, and its signed token.
    #[must_use]
    pub fn ticket(&self, room: RoomId) -> ResumeTicket {
        let key = {
            let mut state = self.state.lock();
            state.next_nonce += 1;
            state.next_nonce
        };
        ResumeTicket {
            key,
            token: self.signer.sign_resume(room, key),
        }
    }

    /// The room and resume key a resume token names (with `room`, it must be that room).
    ///
    /// # Errors
    /// The [`ResumeRefusal`], for the client's close reason.
    pub fn resume_target(
        &self,
        token: &str,
        room: Option<RoomId>,
    ) -> Result<(Arc<RoomEntry>, u64), ResumeRefusal> {
        let (id, key) = self.signer.verify_resume(token)?;
        if room.is_some_and(|r| r != id) {
            return Err(ResumeRefusal::OtherRoom);
        }
        let state = self.state.lock();
        let slot = state.rooms.get(&id).ok_or(ResumeRefusal::RoomGone)?;
        Ok((slot.entry.clone(), key))
    }

    /// The public rooms (of `mode`, if given), the fullest first.
    #[must_use]
    pub fn list(&self, mode: Option<&str>) -> Vec<RoomInfo> {
        let state = self.state.lock();
        let mut rooms: Vec<RoomInfo> = state
            .rooms
            .values()
            .filter(|s| !s.entry.private && mode.is_none_or(|m| s.entry.mode.name == m))
            .map(|s| RoomInfo::new(&s.entry, s.taken))
            .collect();
        rooms.sort_by(|a, b| b.players.cmp(&a.players).then(a.id.cmp(&b.id)));
        rooms
    }

    /// Room `code`, private or not.
    #[must_use]
    pub fn info(&self, code: &str) -> Option<RoomInfo> {
        let id = RoomId::parse(code)?;
        self.state
            .lock()
            .rooms
            .get(&id)
            .map(|s| RoomInfo::new(&s.entry, s.taken))
    }

    /// The signer of seat and resume tokens.
    #[must_use]
    pub fn signer(&self) -> &SeatSigner {
        &self.signer
    }

    /// How long a reservation waits for its join.
    #[must_use]
    pub fn seat_ttl(&self) -> Duration {
        self.seat_ttl
    }

    /// A random nonce (clustered reservations: unique across nodes).
    #[must_use]
    pub fn random_nonce(&self) -> u64 {
        let mut b = [0u8; 8];
        ring::rand::SecureRandom::fill(&self.rng, &mut b).expect("the system's random source");
        u64::from_be_bytes(b)
    }

    /// A random room code not hosted here.
    #[must_use]
    pub fn random_id(&self) -> RoomId {
        RoomId::random(&self.rng)
    }

    /// Whether the node is draining.
    #[must_use]
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Starts draining: no new rooms or seats here; the rooms play on.
    pub fn drain(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Seats taken over every room (players, those held for a resume, and reservations
    /// waiting for their join).
    #[must_use]
    pub fn seats_taken(&self) -> usize {
        self.state.lock().rooms.values().map(|s| s.taken).sum()
    }

    /// Clustered: a room of `mode` with code `id` (chosen by the directory), started here.
    ///
    /// # Errors
    /// [`ReserveError::AtCapacity`], [`ReserveError::Draining`], [`ReserveError::ShuttingDown`].
    pub fn host(
        self: &Arc<Self>,
        id: RoomId,
        mode: &str,
        private: bool,
    ) -> Result<Arc<RoomEntry>, ReserveError> {
        let mode = self.mode(mode)?;
        let mut state = self.state.lock();
        if state.rooms.contains_key(&id) {
            return Err(ReserveError::UnknownRoom(id.to_string()));
        }
        let id = self.create_locked(&mut state, mode, private, Some(id))?;
        Ok(state.rooms[&id].entry.clone())
    }

    /// Clustered: takes a seat of hosted room `id` for a claim the directory is about to
    /// count (the seat is counted here first, so that this registry never counts fewer
    /// seats than the directory; [`SeatGuard::counted`] once the directory agreed).
    ///
    /// # Errors
    /// [`SeatRefusal::RoomGone`]: no such room here.
    pub fn hold(self: &Arc<Self>, id: RoomId) -> Result<(Arc<RoomEntry>, SeatGuard), SeatRefusal> {
        let mut state = self.state.lock();
        let slot = state.rooms.get_mut(&id).ok_or(SeatRefusal::RoomGone)?;
        slot.taken += 1;
        slot.empty_since = None;
        Ok((
            slot.entry.clone(),
            SeatGuard {
                registry: Arc::downgrade(self),
                room: id,
                announce: false,
            },
        ))
    }

    /// Whether the room is hosted here.
    #[must_use]
    pub fn hosts(&self, id: RoomId) -> bool {
        self.state.lock().rooms.contains_key(&id)
    }

    /// The rooms hosted here with their seats taken (claimed seats, when clustered).
    #[must_use]
    pub fn hosted(&self) -> Vec<(Arc<RoomEntry>, usize)> {
        self.state
            .lock()
            .rooms
            .values()
            .map(|s| (s.entry.clone(), s.taken))
            .collect()
    }

    /// Clustered: whether an announcement was lost since the last call (then the directory
    /// rewrites every hosted room's count from [`Registry::hosted`]).
    pub fn take_resync(&self) -> bool {
        self.resync.swap(false, Ordering::Relaxed)
    }

    fn announce(&self, event: RoomEvent) {
        if let Some(tx) = &self.events {
            if tx.try_send(event).is_err() {
                self.resync.store(true, Ordering::Relaxed);
            }
        }
    }

    /// Room `code`'s entry (spectators enter through it, without a seat).
    #[must_use]
    pub fn entry(&self, code: &str) -> Option<Arc<RoomEntry>> {
        let id = RoomId::parse(code)?;
        self.state.lock().rooms.get(&id).map(|s| s.entry.clone())
    }

    fn mode(&self, name: &str) -> Result<Arc<Mode>, ReserveError> {
        self.modes
            .get(name)
            .cloned()
            .ok_or_else(|| ReserveError::UnknownMode(name.to_owned()))
    }

    fn reserve_locked(
        &self,
        state: &mut State,
        id: RoomId,
        who: Option<Identity>,
    ) -> Result<Reservation, ReserveError> {
        if self.shutdown.is_cancelled() {
            return Err(ReserveError::ShuttingDown);
        }
        if self.is_draining() {
            return Err(ReserveError::Draining);
        }
        let slot = state
            .rooms
            .get_mut(&id)
            .ok_or_else(|| ReserveError::UnknownRoom(id.to_string()))?;
        if slot.taken >= slot.entry.mode.max_players() {
            return Err(ReserveError::Full(id));
        }
        slot.taken += 1;
        slot.empty_since = None;
        let entry = slot.entry.clone();
        state.next_nonce += 1;
        let nonce = state.next_nonce;
        state.pending.insert(
            nonce,
            Pending {
                room: id,
                expires: Instant::now() + self.seat_ttl,
                who,
            },
        );
        let token = self.signer.sign(&Seat {
            room: id,
            nonce,
            expires_ms: seats::expiry(self.seat_ttl),
        });
        Ok(Reservation {
            room: entry,
            token,
            expires_in: self.seat_ttl,
        })
    }
}

/// A claimed seat: held by the player's session, freed when it ends.
#[derive(Debug)]
pub struct SeatGuard {
    registry: Weak<Registry>,
    room: RoomId,
    /// Clustered, once the directory counted the claim: its release is announced.
    announce: bool,
}

impl SeatGuard {
    /// The directory counted this seat's claim: announce its release.
    pub fn counted(&mut self) {
        self.announce = true;
    }
}

impl Drop for SeatGuard {
    fn drop(&mut self) {
        if let Some(registry) = self.registry.upgrade() {
            release_locked(&mut registry.state.lock(), self.room);
            if self.announce {
                registry.announce(RoomEvent::Released(self.room));
            }
        }
    }
}
