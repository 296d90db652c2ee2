//! Encode once, send many: this tick's snapshot bodies.
//!
//! Everything visible (no interest management): one body per baseline in use, shared by
//! every client with that baseline. With interest management a delta is cut along the
//! interest cells: each cell's chunk (what changed in the cell since a baseline, or the
//! whole cell for a client that newly sees it, or the despawn of what it held for one that
//! no longer does) is diffed and encoded once per baseline and tick, for every client whose
//! view holds the cell; a client's body is then only the concatenation of its view's
//! chunks, its state hash the sum of its cells' hashes. The per-client work no longer
//! depends on how many entities it sees changing, only on how many cells it sees.

use std::collections::HashMap;
use std::ops::Range;

use bytes::Bytes;
use tickwire_shared::entity::QVec2;
use tickwire_shared::protocol::codec;
use tickwire_shared::protocol::snapshot::{
    chunk_is_empty, combine_hashes, diff_carried_hashed, diff_carried_into,
};
use tickwire_shared::protocol::SnapshotBody;
use tickwire_shared::{Map, NetEntity, SimConfig, Tick};

use super::history::{History, TickRecord};
use super::interest::{StateIndex, ViewKey};

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

/// A client's body this tick.
#[derive(Clone, Debug)]
pub enum Body {
    /// A body shared by every client with the same baseline (everything visible).
    Shared(Bytes),
    /// A body assembled for this client from its view's chunks: these bytes of
    /// [`BodyCache::frames`].
    Assembled(Range<usize>),
}

/// Where a chunk's bytes are in [`Chunks::arena`]; an empty range: nothing to send.
type Span = (u32, u32);

/// This tick's chunks, per cell.
#[derive(Default)]
struct Chunks {
    /// Every chunk encoded this tick, back to back.
    arena: Vec<u8>,
    /// Per cell: the sum of its entities' hashes now.
    cell_hash: Vec<u32>,
    /// Per cell: the spawn of everything in it now (for a view that newly holds it).
    enter: Vec<Option<Span>>,
    /// Per baseline in use (`None`: full states); a handful, so a list.
    bases: Vec<(Option<Tick>, BaseChunks)>,
    /// Chunks encoded this tick.
    encoded: usize,
    /// Reused for every chunk's changes.
    scratch: SnapshotBody,
}

/// The chunks of one baseline.
#[derive(Default)]
struct BaseChunks {
    /// Per cell: the changes in it from the baseline (carried forward) to now.
    delta: Vec<Option<Span>>,
    /// Per cell: the despawn of what it held at the baseline (for a view that no longer
    /// holds it).
    leave: Vec<Option<Span>>,
    /// The events after the baseline, encoded.
    events: Span,
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
    chunks: Chunks,
    /// Assembled bodies of this tick, back to back ([`Body::Assembled`]).
    pub frames: Vec<u8>,
    parts: Vec<Span>,
    /// The state hash of the whole state this tick (every everything-visible body).
    all_hash: Option<u32>,
    buf: Vec<u8>,
}

/// Carries `b` forward to `now` in `carried` (see [`BodyCache::carried`]).
fn carry<'c>(
    carried: &'c mut HashMap<Tick, (Tick, Vec<Option<QVec2>>)>,
    b: &TickRecord,
    now: Tick,
    config: &SimConfig,
    map: &Map,
) -> &'c [Option<QVec2>] {
    let (as_of, pos) = carried.entry(b.tick).or_insert_with(|| {
        let at_baseline = |e: &NetEntity| match e {
            NetEntity::Player(p) => Some(p.pos),
            _ => None,
        };
        (
            b.tick,
            b.state.iter().map(|(_, e)| at_baseline(e)).collect(),
        )
    });
    if *as_of != now {
        let step = now.since(*as_of);
        for ((_, e), c) in b.state.iter().zip(pos.iter_mut()) {
            *c = c.and_then(|p| e.as_player()?.carry_from(p, step, config, map));
        }
        *as_of = now;
    }
    pos
}

/// Whether cell (`cx`, `cy`) is in `key`.
fn holds(key: ViewKey, cx: i32, cy: i32) -> bool {
    match key {
        ViewKey::All => true,
        ViewKey::Cells { x0, y0, x1, y1 } => (x0..=x1).contains(&cx) && (y0..=y1).contains(&cy),
    }
}

impl Chunks {
    /// Starts a tick whose state is `now`.
    fn reset(&mut self, now: &TickRecord, index: &StateIndex) {
        self.arena.clear();
        self.bases.clear();
        self.encoded = 0;
        let (cols, rows) = index.size();
        let cells = (cols * rows) as usize;
        self.enter.clear();
        self.enter.resize(cells, None);
        self.cell_hash.clear();
        self.cell_hash.extend(
            (0..cells)
                .map(|c| combine_hashes(index.cell(c).iter().map(|&i| now.hashes[i as usize]))),
        );
    }

    /// Encodes the changes in `self.scratch` as a chunk; its span.
    fn seal(&mut self) -> Span {
        let start = self.arena.len() as u32;
        if !chunk_is_empty(&self.scratch) {
            codec::encode_chunk(&self.scratch, &mut self.arena);
            self.encoded += 1;
        }
        (start, self.arena.len() as u32)
    }

    fn enter(&mut self, now: &TickRecord, index: &StateIndex, c: usize) -> Span {
        if let Some(span) = self.enter[c] {
            return span;
        }
        let entries = index.cell(c).iter().map(|&i| &now.state[i as usize]);
        diff_carried_into(std::iter::empty(), entries, &mut self.scratch);
        let span = self.seal();
        self.enter[c] = Some(span);
        span
    }

    /// The slot of `baseline`'s chunks in `bases`, made on first use in the tick.
    fn base(&mut self, history: &History, baseline: Option<Tick>) -> usize {
        if let Some(k) = self.bases.iter().position(|(t, _)| *t == baseline) {
            return k;
        }
        let start = self.arena.len() as u32;
        codec::encode_events(&history.events_since(baseline), &mut self.arena);
        let cells = self.enter.len();
        self.bases.push((
            baseline,
            BaseChunks {
                delta: vec![None; cells],
                leave: vec![None; cells],
                events: (start, self.arena.len() as u32),
            },
        ));
        self.bases.len() - 1
    }

    /// The chunk of cell `c` from baseline `b` (slot `k`, carried forward to `carried`)
    /// to `now`.
    fn delta(
        &mut self,
        b: &TickRecord,
        k: usize,
        carried: &[Option<QVec2>],
        now: &TickRecord,
        c: usize,
    ) -> Span {
        if let Some(span) = self.bases[k].1.delta[c] {
            return span;
        }
        let (Some(bi), Some(ni)) = (&b.index, &now.index) else {
            return (0, 0);
        };
        let base = bi
            .cell(c)
            .iter()
            .map(|&i| (&b.state[i as usize], carried[i as usize]));
        let entries = ni.cell(c).iter().map(|&i| &now.state[i as usize]);
        diff_carried_into(base, entries, &mut self.scratch);
        let span = self.seal();
        self.bases[k].1.delta[c] = Some(span);
        span
    }

    /// The chunk that despawns what cell `c` held at baseline `b` (slot `k`).
    fn leave(&mut self, b: &TickRecord, k: usize, c: usize) -> Span {
        if let Some(span) = self.bases[k].1.leave[c] {
            return span;
        }
        let Some(bi) = &b.index else {
            return (0, 0);
        };
        let base = bi.cell(c).iter().map(|&i| (&b.state[i as usize], None));
        diff_carried_into(base, std::iter::empty(), &mut self.scratch);
        let span = self.seal();
        self.bases[k].1.leave[c] = Some(span);
        span
    }
}

impl BodyCache {
    /// The body for `key` at the newest tick of `history`. `key.baseline` must be held by
    /// `history` (or `None`); `config` and `map` carry the baseline forward (see
    /// [`tickwire_shared::protocol::snapshot::Extrapolation`]).
    pub fn body(&mut self, history: &History, key: BodyKey, config: &SimConfig, map: &Map) -> Body {
        let now = history
            .latest()
            .expect("the room records a tick before sending it");
        if self.tick != Some(now.tick) {
            self.tick = Some(now.tick);
            self.bodies.clear();
            self.frames.clear();
            self.all_hash = None;
            // Forget baselines the history no longer holds.
            self.carried.retain(|b, _| history.get(*b).is_some());
            if let Some(index) = &now.index {
                self.chunks.reset(now, index);
            }
        }
        match (&now.index, key.view) {
            (Some(index), ViewKey::Cells { .. }) => {
                Body::Assembled(self.assemble(history, now, index, key, config, map))
            }
            _ => Body::Shared(self.shared(history, now, key.baseline, config, map)),
        }
    }

    /// Everything visible: one body per baseline.
    fn shared(
        &mut self,
        history: &History,
        now: &TickRecord,
        baseline: Option<Tick>,
        config: &SimConfig,
        map: &Map,
    ) -> Bytes {
        let key = BodyKey {
            baseline,
            base_view: ViewKey::All,
            view: ViewKey::All,
        };
        if let Some(b) = self.bodies.get(&key) {
            return b.clone();
        }
        let hash = *self
            .all_hash
            .get_or_insert_with(|| combine_hashes(now.hashes.iter().copied()));
        let base = baseline.and_then(|t| history.get(t));
        let mut body = match base {
            Some(b) => {
                // Carrying a baseline forward is the same work for every client that uses
                // it: done once per baseline and tick.
                let carried = carry(&mut self.carried, b, now.tick, config, map);
                diff_carried_hashed(
                    b.state.iter().zip(carried.iter().copied()),
                    now.state.iter(),
                    hash,
                )
            }
            None => diff_carried_hashed(std::iter::empty(), now.state.iter(), hash),
        };
        body.events = history.events_since(base.map(|r| r.tick));
        self.buf.clear();
        codec::encode_body(&body, &mut self.buf);
        let bytes = Bytes::copy_from_slice(&self.buf);
        self.bodies.insert(key, bytes.clone());
        bytes
    }

    /// Interest management: the client's body from its view's chunks, into `frames`.
    fn assemble(
        &mut self,
        history: &History,
        now: &TickRecord,
        index: &StateIndex,
        key: BodyKey,
        config: &SimConfig,
        map: &Map,
    ) -> Range<usize> {
        let base = key.baseline.and_then(|t| history.get(t));
        let k = self.chunks.base(history, base.map(|b| b.tick));
        let events = self.chunks.bases[k].1.events;
        let carried = match base {
            Some(b) => carry(&mut self.carried, b, now.tick, config, map),
            None => &[],
        };
        let chunks = &mut self.chunks;
        self.parts.clear();
        let mut hash = 0u32;
        let (cols, rows) = index.clamp(key.view);
        for cy in rows.clone() {
            for cx in cols.clone() {
                let c = index.cell_index(cx, cy);
                hash = hash.wrapping_add(chunks.cell_hash[c]);
                let span = match base {
                    Some(b) if holds(key.base_view, cx, cy) => chunks.delta(b, k, carried, now, c),
                    _ => chunks.enter(now, index, c),
                };
                self.parts.push(span);
            }
        }
        if let Some(b) = base {
            let (bcols, brows) = index.clamp(key.base_view);
            for cy in brows {
                for cx in bcols.clone() {
                    if !holds(key.view, cx, cy) {
                        let c = index.cell_index(cx, cy);
                        self.parts.push(chunks.leave(b, k, c));
                    }
                }
            }
        }
        self.parts.retain(|(a, b)| a != b);
        let start = self.frames.len();
        codec::write_body_start(hash, self.parts.len(), &mut self.frames);
        for &(a, b) in &self.parts {
            self.frames
                .extend_from_slice(&chunks.arena[a as usize..b as usize]);
        }
        self.frames
            .extend_from_slice(&chunks.arena[events.0 as usize..events.1 as usize]);
        start..self.frames.len()
    }

    /// Number of distinct bodies and chunks encoded this tick.
    pub fn encoded(&self) -> usize {
        self.bodies.len() + self.chunks.encoded
    }
}
