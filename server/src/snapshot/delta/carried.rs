//! Baselines carried forward: per baseline in use, each entry's position carried to a tick.

use tickwire_shared::entity::QVec2;
use tickwire_shared::{Map, NetEntity, SimConfig, Tick};

use crate::snapshot::history::{History, TickRecord};

/// Baselines carried forward. Advanced one tick at a time, so a baseline used tick after
/// tick costs one step per entity and tick however old it is.
#[derive(Default)]
pub(super) struct Carried {
    /// (baseline, carried to, positions).
    list: Vec<(Tick, Tick, Vec<Option<QVec2>>)>,
    /// Position lists of baselines no longer carried, for reuse.
    spare: Vec<Vec<Option<QVec2>>>,
}

impl Carried {
    /// A new tick after `last`: only baselines used at `last` are kept (with the default
    /// baselines, each tick's is the tick before, used once), and only while `history`
    /// holds them.
    pub(super) fn start_tick(&mut self, last: Option<Tick>, history: &History) {
        let mut i = 0;
        while i < self.list.len() {
            let (b, as_of, _) = &self.list[i];
            if Some(*as_of) == last && history.get(*b).is_some() {
                i += 1;
            } else {
                let (_, _, pos) = self.list.swap_remove(i);
                self.spare.push(pos);
            }
        }
    }

    /// `b` carried forward to `now`.
    pub(super) fn carry(
        &mut self,
        b: &TickRecord,
        now: Tick,
        config: &SimConfig,
        map: &Map,
    ) -> &[Option<QVec2>] {
        let i = match self.list.iter().position(|(t, _, _)| *t == b.tick) {
            Some(i) => i,
            None => {
                let at_baseline = |e: &NetEntity| e.carried_field();
                let mut pos = self.spare.pop().unwrap_or_default();
                pos.clear();
                pos.extend(b.state.iter().map(|(_, e)| at_baseline(e)));
                self.list.push((b.tick, b.tick, pos));
                self.list.len() - 1
            }
        };
        let (_, as_of, pos) = &mut self.list[i];
        if *as_of != now {
            let step = now.since(*as_of);
            for ((_, e), c) in b.state.iter().zip(pos.iter_mut()) {
                *c = c.and_then(|p| e.carry_from(p, *as_of, step, config, map));
            }
            *as_of = now;
        }
        pos
    }
}
