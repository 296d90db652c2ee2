//! Encode once, send many: this tick's snapshot bodies, one per distinct (baseline, view at
//! the baseline, view now), shared by every client with that key. Each client's frame is its
//! small fixed header plus the shared body.

use std::collections::HashMap;

use bytes::Bytes;
use tickwire_shared::entity::QVec2;
use tickwire_shared::protocol::codec;
use tickwire_shared::protocol::snapshot::diff_carried;
use tickwire_shared::{Map, NetEntity, NetId, SimConfig, Tick};

use super::history::{History, TickRecord};
use super::interest::ViewKey;

/// What a client's body depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BodyKey {
    /// Delta baseline (`None`: full state).
    pub baseline: Option<Tick>,
    /// The client's view at the baseline (ignored for a full state).
    pub base_view: ViewKey,
    /// The client's view now.
    pub view: ViewKey,
}

/// The encoded bodies of the current tick.
#[derive(Default)]
pub struct BodyCache {
    tick: Option<Tick>,
    bodies: HashMap<BodyKey, Bytes>,
    /// Per baseline in use: each entry's carried position, and the tick it is carried to.
    /// Advanced one tick at a time, so an old baseline costs one step per entity and tick
    /// however old it is.
    carried: HashMap<Tick, (Tick, Vec<Option<QVec2>>)>,
    base_sel: Vec<u32>,
    now_sel: Vec<u32>,
    buf: Vec<u8>,
}

/// Baseline entries with their carried positions.
type CarriedEntries<'a> = Box<dyn Iterator<Item = (&'a (NetId, NetEntity), Option<QVec2>)> + 'a>;

/// The entries of `rec` a view covers, into `sel` (indices), or all of them.
fn select<'a>(
    rec: &'a TickRecord,
    view: ViewKey,
    sel: &'a mut Vec<u32>,
) -> Box<dyn Iterator<Item = &'a (NetId, NetEntity)> + 'a> {
    match (&rec.index, view) {
        (Some(index), ViewKey::Cells { .. }) => {
            index.select(view, sel);
            Box::new(sel.iter().map(|&i| &rec.state[i as usize]))
        }
        _ => Box::new(rec.state.iter()),
    }
}

impl BodyCache {
    /// The encoded body for `key` at the newest tick of `history`: encoded on first use in
    /// a tick, shared afterwards. `key.baseline` must be held by `history` (or `None`);
    /// `config` and `map` carry the baseline forward (see [`Extrapolation`]).
    pub fn body(
        &mut self,
        history: &History,
        key: BodyKey,
        config: &SimConfig,
        map: &Map,
    ) -> Bytes {
        let now = history
            .latest()
            .expect("the room records a tick before sending it");
        if self.tick != Some(now.tick) {
            self.tick = Some(now.tick);
            self.bodies.clear();
            // Forget baselines the history no longer holds.
            self.carried.retain(|b, _| history.get(*b).is_some());
        }
        if let Some(b) = self.bodies.get(&key) {
            return b.clone();
        }
        let base = key.baseline.and_then(|t| history.get(t));
        let now_entries = select(now, key.view, &mut self.now_sel);
        let mut body = match base {
            Some(b) => {
                // Carrying a baseline forward is the same work for every client that uses
                // it: done once per baseline and tick.
                let (as_of, carried) = self.carried.entry(b.tick).or_insert_with(|| {
                    let at_baseline = |e: &NetEntity| match e {
                        NetEntity::Player(p) => Some(p.pos),
                        _ => None,
                    };
                    (
                        b.tick,
                        b.state.iter().map(|(_, e)| at_baseline(e)).collect(),
                    )
                });
                if *as_of != now.tick {
                    let step = now.tick.since(*as_of);
                    for ((_, e), c) in b.state.iter().zip(carried.iter_mut()) {
                        *c = c.and_then(|pos| e.as_player()?.carry_from(pos, step, config, map));
                    }
                    *as_of = now.tick;
                }
                let base_entries: CarriedEntries<'_> = match (&b.index, key.base_view) {
                    (Some(index), ViewKey::Cells { .. }) => {
                        index.select(key.base_view, &mut self.base_sel);
                        Box::new(
                            self.base_sel
                                .iter()
                                .map(|&i| (&b.state[i as usize], carried[i as usize])),
                        )
                    }
                    _ => Box::new(b.state.iter().zip(carried.iter().copied())),
                };
                diff_carried(base_entries, now_entries)
            }
            None => diff_carried(std::iter::empty(), now_entries),
        };
        body.events = history.events_since(base.map(|r| r.tick));
        self.buf.clear();
        codec::encode_body(&body, &mut self.buf);
        let bytes = Bytes::copy_from_slice(&self.buf);
        self.bodies.insert(key, bytes.clone());
        bytes
    }

    /// Number of distinct bodies encoded this tick.
    pub fn encoded(&self) -> usize {
        self.bodies.len()
    }
}
