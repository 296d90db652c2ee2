//! A ring of recent ticks: each tick's replicated state and events, the baselines of deltas.

use std::collections::VecDeque;
use std::sync::Arc;

use tickwire_shared::sim::TickEvent;

use super::interest::StateIndex;
use tickwire_shared::{NetEntity, NetId, Tick};

/// One past tick.
#[derive(Debug)]
pub struct TickRecord {
    /// The tick.
    pub tick: Tick,
    /// Replicated state, sorted by id.
    pub state: Arc<Vec<(NetId, NetEntity)>>,
    /// Each entry's `entity_hash`, in the same order (hashed once per tick, combined per
    /// view into the bodies' state hashes).
    pub hashes: Vec<u32>,
    /// Events produced by the step that led to this tick.
    pub events: Vec<TickEvent>,
    /// The state bucketed by cell (interest management on).
    pub index: Option<StateIndex>,
}

/// The last `capacity` ticks, oldest first.
#[derive(Debug)]
pub struct History {
    ring: VecDeque<TickRecord>,
    capacity: usize,
    /// The state and hash lists of the last record pushed out, emptied, for the next tick
    /// to fill (thousands of entries: fresh ones each tick were page faults).
    spare: (Vec<(NetId, NetEntity)>, Vec<u32>),
}

impl History {
    /// An empty history keeping `capacity` ticks (at least 2).
    pub fn new(capacity: usize) -> History {
        let capacity = capacity.max(2);
        History {
            ring: VecDeque::with_capacity(capacity),
            capacity,
            spare: (Vec::new(), Vec::new()),
        }
    }

    /// Records a tick (ticks arrive in order).
    pub fn push(&mut self, record: TickRecord) {
        if self.ring.len() == self.capacity {
            if let Some(old) = self.ring.pop_front() {
                if let Ok(mut state) = Arc::try_unwrap(old.state) {
                    let mut hashes = old.hashes;
                    state.clear();
                    hashes.clear();
                    self.spare = (state, hashes);
                }
            }
        }
        self.ring.push_back(record);
    }

    /// Empty lists for the next record's state and hashes (the memory of one pushed out).
    pub fn take_spare(&mut self) -> (Vec<(NetId, NetEntity)>, Vec<u32>) {
        std::mem::take(&mut self.spare)
    }

    /// The newest tick.
    pub fn latest(&self) -> Option<&TickRecord> {
        self.ring.back()
    }

    /// The record of `tick`, if still kept.
    pub fn get(&self, tick: Tick) -> Option<&TickRecord> {
        let newest = self.ring.back()?.tick;
        if tick.is_after(newest) {
            return None;
        }
        let back = newest.since(tick) as usize;
        let i = self.ring.len().checked_sub(1 + back)?;
        let rec = &self.ring[i];
        (rec.tick == tick).then_some(rec)
    }

    /// Events of the ticks after `after` up to the newest, oldest first (`None`: the newest
    /// tick's events only).
    pub fn events_since(&self, after: Option<Tick>) -> Vec<TickEvent> {
        let Some(newest) = self.ring.back() else {
            return Vec::new();
        };
        match after {
            None => newest.events.clone(),
            Some(a) => self
                .ring
                .iter()
                .filter(|r| r.tick.is_after(a))
                .flat_map(|r| r.events.iter().cloned())
                .collect(),
        }
    }
}
