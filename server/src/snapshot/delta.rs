//! Encode once, send many: this tick's snapshot bodies, one per distinct (baseline, view at
//! the baseline, view now), shared by every client with that key. Each client's frame is its
//! small fixed header plus the shared body.

use std::collections::HashMap;

use bytes::Bytes;
use tickwire_shared::entity::QVec2;
use tickwire_shared::protocol::codec;
use tickwire_shared::protocol::snapshot::{combine_hashes, diff_carried_hashed};
use tickwire_shared::{Map, NetEntity, NetId, SimConfig, Tick};

use super::history::History;
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
    /// The state hash of the whole state this tick (every everything-visible body).
    all_hash: Option<u32>,
    buf: Vec<u8>,
}

/// Baseline entries with their carried positions.
type CarriedEntries<'a> = Box<dyn Iterator<Item = (&'a (NetId, NetEntity), Option<QVec2>)> + 'a>;

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
            self.all_hash = None;
            // Forget baselines the history no longer holds.
            self.carried.retain(|b, _| history.get(*b).is_some());
        }
        if let Some(b) = self.bodies.get(&key) {
            return b.clone();
        }
        let base = key.baseline.and_then(|t| history.get(t));
        let (now_entries, hash) = match (&now.index, key.view) {
            (Some(index), ViewKey::Cells { .. }) => {
                index.select(key.view, &mut self.now_sel);
                let sel = &self.now_sel;
                let hash = combine_hashes(sel.iter().map(|&i| now.hashes[i as usize]));
                let entries: Box<dyn Iterator<Item = &(NetId, NetEntity)>> =
                    Box::new(sel.iter().map(|&i| &now.state[i as usize]));
                (entries, hash)
            }
            _ => {
                let hash = *self
                    .all_hash
                    .get_or_insert_with(|| combine_hashes(now.hashes.iter().copied()));
                let entries: Box<dyn Iterator<Item = &(NetId, NetEntity)>> =
                    Box::new(now.state.iter());
                (entries, hash)
            }
        };
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
                diff_carried_hashed(base_entries, now_entries, hash)
            }
            None => diff_carried_hashed(std::iter::empty(), now_entries, hash),
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
