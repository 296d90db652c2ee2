//! A room's life in the registry: created on demand (on a task of its own, supervised),
//! disposed when nothing has been taken in it for its mode's `empty_ttl`, removed when its
//! task ends (a panic included); unclaimed seats freed when their tokens expire.

use std::sync::Arc;
use std::time::Instant;

use tracing::info;

use super::entry::{self, RoomEntry};
use super::{Mode, Registry, ReserveError, RoomId, Slot, State, SWEEP_EVERY};

impl Registry {
    /// Frees expired reservations and disposes rooms empty for their mode's `empty_ttl`;
    /// runs every [`SWEEP_EVERY`] until shutdown (see [`Registry::run_sweeper`]).
    pub fn sweep(&self) {
        let now = Instant::now();
        let mut state = self.state.lock();
        let expired: Vec<(u64, RoomId)> = state
            .pending
            .iter()
            .filter(|(_, p)| p.expires <= now)
            .map(|(n, p)| (*n, p.room))
            .collect();
        for (nonce, room) in expired {
            state.pending.remove(&nonce);
            release_locked(&mut state, room);
        }
        if self.events.is_some() {
            // Clustered: the directory retires idle rooms (`idle_rooms`, `dispose_if_empty`), as
            // seats reserved on other nodes are counted there.
            return;
        }
        for id in idle_locked(&state, now) {
            dispose_locked(&mut state, id);
        }
    }

    /// Clustered: the rooms empty here for their mode's `empty_ttl` (the directory
    /// disposes those with no reservation waiting either).
    #[must_use]
    pub fn idle_rooms(&self) -> Vec<RoomId> {
        idle_locked(&self.state.lock(), Instant::now())
    }

    /// Clustered: disposes room `id` if nothing was taken in it meanwhile; else starts its
    /// empty time again. Whether it was disposed.
    pub fn dispose_if_empty(&self, id: RoomId, retired: bool) -> bool {
        let mut state = self.state.lock();
        match state.rooms.get_mut(&id) {
            Some(slot) if slot.taken == 0 && retired => {
                dispose_locked(&mut state, id);
                true
            }
            Some(slot) if slot.taken == 0 => {
                slot.empty_since = Some(Instant::now());
                false
            }
            _ => false,
        }
    }

    /// Sweeps every [`SWEEP_EVERY`] until shutdown.
    pub async fn run_sweeper(self: Arc<Self>) {
        let mut every = tokio::time::interval(SWEEP_EVERY);
        loop {
            tokio::select! {
                () = self.shutdown.cancelled() => break,
                _ = every.tick() => self.sweep(),
            }
        }
    }

    /// Test hook: room `code`'s next tick panics. Whether there is such a room.
    #[cfg(feature = "test-hooks")]
    pub fn panic_room(&self, code: &str) -> bool {
        let Some(id) = RoomId::parse(code) else {
            return false;
        };
        let state = self.state.lock();
        let Some(slot) = state.rooms.get(&id) else {
            return false;
        };
        slot.entry
            .panic_next_tick
            .store(true, std::sync::atomic::Ordering::Relaxed);
        true
    }

    /// Waits for every room task to end (after shutdown).
    pub async fn wait(&self) {
        self.tasks.close();
        self.tasks.wait().await;
    }

    /// A new room of `mode`, ticking on its own task, in the registry (nothing taken yet).
    pub(super) fn create_locked(
        self: &Arc<Self>,
        state: &mut State,
        mode: Arc<Mode>,
        private: bool,
        id: Option<RoomId>,
    ) -> Result<RoomId, ReserveError> {
        // A mode that is not public has private rooms only.
        let private = private || !mode.public;
        if self.shutdown.is_cancelled() {
            return Err(ReserveError::ShuttingDown);
        }
        if self.is_draining() {
            return Err(ReserveError::Draining);
        }
        if state.rooms.len() >= self.max_rooms {
            return Err(ReserveError::AtCapacity(self.max_rooms));
        }
        let id = id.unwrap_or_else(|| loop {
            let id = RoomId::random(&self.rng);
            if !state.rooms.contains_key(&id) {
                break id;
            }
        });
        let (entry, task) =
            RoomEntry::start(id, mode.clone(), private, &self.metrics, &self.shutdown);
        state.rooms.insert(
            id,
            Slot {
                entry,
                taken: 0,
                empty_since: Some(Instant::now()),
            },
        );
        self.metrics.rooms.with_label_values(&[&mode.name]).inc();
        self.metrics.rooms_created.inc();
        info!(room = %id, mode = %mode.name, private, "room created");
        let registry = Arc::downgrade(self);
        let metrics = self.metrics.clone();
        self.tasks.spawn(async move {
            entry::supervise(task, id, &mode.name, &metrics).await;
            if let Some(registry) = registry.upgrade() {
                registry.state.lock().rooms.remove(&id);
                registry.announce(super::RoomEvent::Removed(id));
            }
        });
        Ok(id)
    }
}

/// The rooms with nothing taken for their mode's `empty_ttl`.
fn idle_locked(state: &State, now: Instant) -> Vec<RoomId> {
    state
        .rooms
        .values()
        .filter(|s| {
            s.empty_since
                .is_some_and(|t| now.saturating_duration_since(t) >= s.entry.mode.empty_ttl)
        })
        .map(|s| s.entry.id)
        .collect()
}

/// Removes room `id` and cancels its task (its supervisor announces the end).
fn dispose_locked(state: &mut State, id: RoomId) {
    if let Some(slot) = state.rooms.remove(&id) {
        info!(room = %id, mode = %slot.entry.mode.name, "empty room disposed");
        slot.entry.cancel.cancel();
    }
}

/// Frees one seat of `room` (a reservation expired, or a player left).
pub(super) fn release_locked(state: &mut State, room: RoomId) {
    if let Some(slot) = state.rooms.get_mut(&room) {
        slot.taken = slot.taken.saturating_sub(1);
        if slot.taken == 0 {
            slot.empty_since = Some(Instant::now());
        }
    }
}
