//! The client-side world: applies full and delta snapshots and checks them. Used by the
//! bots and by the browser client, so both see exactly what a player sees.
//!
//! [`prediction`] predicts the own player with the simulation's own movement code;
//! [`interpolation`] renders everything else slightly in the past, smoothly.

pub mod interpolation;
pub mod prediction;

use std::collections::VecDeque;
use std::sync::Arc;

use crate::config::SimConfig;
use crate::entity::{NetEntity, NetId};
use crate::map::Map;
use crate::protocol::snapshot::{state_hash, Extrapolation, Snapshot};
use crate::protocol::Welcome;
use crate::sim::TickEvent;
use crate::tick::Tick;

/// Past states kept for baselines at most (a server uses the last snapshot it sent, or one
/// the client acknowledged; baselines only move forward, so few are ever needed).
pub const MAX_KEPT_STATES: usize = 64;

/// A replicated state: entities sorted by id.
pub type NetState = Arc<Vec<(NetId, NetEntity)>>;

/// Why a snapshot could not be applied: the replica no longer matches the server (a
/// desync, counted by bots, fatal for the connection).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplicaError {
    /// The delta's baseline is a state this replica does not have.
    #[error("baseline tick {0} is not held")]
    MissingBaseline(Tick),
    /// A snapshot for a tick not after the newest one applied.
    #[error("snapshot for tick {0} is not newer than the replica")]
    Stale(Tick),
    /// A patch or despawn for an entity the baseline does not have.
    #[error("entity {0:?} is not in the baseline")]
    UnknownEntity(NetId),
    /// A spawn of an entity the baseline already has.
    #[error("entity {0:?} spawned twice")]
    DuplicateSpawn(NetId),
    /// A patch of another kind than the entity.
    #[error("patch kind does not match entity {0:?}")]
    KindMismatch(NetId),
    /// The state after applying does not match the server's fingerprint of it.
    #[error("state hash {got:#010x} differs from the server's {want:#010x}")]
    HashMismatch {
        /// The server's [`crate::protocol::snapshot::state_hash`].
        want: u32,
        /// The replica's.
        got: u32,
    },
    /// A delta against a baseline older than any server keeps (a broken or hostile server:
    /// carrying the baseline that far forward would take unbounded time).
    #[error("baseline is {0} ticks old")]
    BaselineTooOld(u32),
}

/// Oldest baseline a delta may use, in ticks (the server keeps at most this many).
pub const MAX_BASELINE_AGE: u32 = 1024;

/// The client's copy of the replicated world.
#[derive(Debug, Clone)]
pub struct Replica {
    config: SimConfig,
    map: Arc<Map>,
    states: VecDeque<(Tick, NetState)>,
    last_event_tick: Option<Tick>,
    last_input_seq: u32,
}

impl Replica {
    /// An empty replica for a game with these rules (they carry baselines forward).
    #[must_use]
    pub fn new(config: SimConfig, map: Arc<Map>) -> Replica {
        Replica {
            config,
            map,
            states: VecDeque::new(),
            last_event_tick: None,
            last_input_seq: 0,
        }
    }

    /// An empty replica for the game a welcome describes.
    #[must_use]
    pub fn from_welcome(w: &Welcome) -> Replica {
        Replica::new(w.config.clone(), Arc::new(w.map.clone()))
    }

    /// Applies a snapshot; returns the events not seen before, oldest first.
    ///
    /// # Errors
    /// [`ReplicaError`] when the snapshot does not fit the replica; the replica is unchanged.
    pub fn apply(&mut self, snap: &Snapshot) -> Result<Vec<TickEvent>, ReplicaError> {
        let h = &snap.header;
        if let Some(newest) = self.tick() {
            if !h.tick.is_after(newest) {
                return Err(ReplicaError::Stale(h.tick));
            }
        }
        let base: &[(NetId, NetEntity)] = match h.baseline {
            None => &[],
            Some(b) => self
                .states
                .iter()
                .find(|(t, _)| *t == b)
                .map(|(_, s)| s.as_slice())
                .ok_or(ReplicaError::MissingBaseline(b))?,
        };
        let ticks = h.baseline.map_or(0, |b| h.tick.since(b));
        if ticks > MAX_BASELINE_AGE {
            return Err(ReplicaError::BaselineTooOld(ticks));
        }
        let ext = Extrapolation {
            baseline: h.baseline.unwrap_or(h.tick),
            ticks,
            config: &self.config,
            map: &self.map,
        };
        let next = apply_body(base, snap, &ext)?;
        let got = state_hash(&next);
        if got != snap.body.state_hash {
            return Err(ReplicaError::HashMismatch {
                want: snap.body.state_hash,
                got,
            });
        }

        // Baselines only move forward: states before this one are never needed again.
        if let Some(b) = h.baseline {
            while self.states.front().is_some_and(|(t, _)| b.is_after(*t)) {
                self.states.pop_front();
            }
        }
        self.states.push_back((h.tick, Arc::new(next)));
        while self.states.len() > MAX_KEPT_STATES {
            self.states.pop_front();
        }
        self.last_input_seq = h.last_input_seq;

        let mut fresh = Vec::new();
        for e in &snap.body.events {
            if self.last_event_tick.is_none_or(|t| e.tick.is_after(t)) {
                fresh.push(e.clone());
            }
        }
        if let Some(last) = snap.body.events.last() {
            if self.last_event_tick.is_none_or(|t| last.tick.is_after(t)) {
                self.last_event_tick = Some(last.tick);
            }
        }
        Ok(fresh)
    }

    /// Tick of the newest state, `None` before the first snapshot.
    #[must_use]
    pub fn tick(&self) -> Option<Tick> {
        self.states.back().map(|(t, _)| *t)
    }

    /// The newest state (empty before the first snapshot).
    #[must_use]
    pub fn entities(&self) -> &[(NetId, NetEntity)] {
        self.states.back().map_or(&[], |(_, s)| s.as_slice())
    }

    /// The newest state, shared (cheap to keep for interpolation).
    #[must_use]
    pub fn state(&self) -> Option<(Tick, NetState)> {
        self.states.back().cloned()
    }

    /// One entity of the newest state.
    #[must_use]
    pub fn get(&self, id: NetId) -> Option<&NetEntity> {
        let s = self.entities();
        s.binary_search_by_key(&id, |(i, _)| *i)
            .ok()
            .map(|i| &s[i].1)
    }

    /// The newest input sequence number the server reported applied.
    #[must_use]
    pub fn last_input_seq(&self) -> u32 {
        self.last_input_seq
    }
}

fn apply_body(
    base: &[(NetId, NetEntity)],
    snap: &Snapshot,
    ext: &Extrapolation<'_>,
) -> Result<Vec<(NetId, NetEntity)>, ReplicaError> {
    let body = &snap.body;
    let mut next: Vec<(NetId, NetEntity)> = base
        .iter()
        .map(|(id, e)| (*id, ext.apply(e).into_owned()))
        .collect();
    let find = |v: &Vec<(NetId, NetEntity)>, id: NetId| v.binary_search_by_key(&id, |(i, _)| *i);
    for (id, patch) in &body.patches {
        let i = find(&next, *id).map_err(|_| ReplicaError::UnknownEntity(*id))?;
        if !next[i].1.apply_wire(patch) {
            return Err(ReplicaError::KindMismatch(*id));
        }
    }
    for id in &body.despawns {
        let i = find(&next, *id).map_err(|_| ReplicaError::UnknownEntity(*id))?;
        next.remove(i);
    }
    for (id, e) in &body.spawns {
        match find(&next, *id) {
            Ok(_) => return Err(ReplicaError::DuplicateSpawn(*id)),
            Err(i) => next.insert(i, (*id, e.clone())),
        }
    }
    Ok(next)
}
