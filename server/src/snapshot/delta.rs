//! Encode once, send many: this tick's snapshot bodies.
//!
//! Everything visible (no interest management): one body per baseline in use, shared by
//! every client with that baseline. With interest management a delta is cut along the
//! interest cells: each cell's chunk (what changed in the cell since a baseline, or the
//! whole cell for a client that newly sees it, or the despawn of what it held for one that
//! no longer does) is diffed and encoded once per baseline and tick, for every client whose
//! view holds the cell; a client's body is then only the concatenation of its view's
//! chunks, its state hash the sum of its cells' hashes. Delta chunks are made a whole row
//! of cells at a time, so a run of cells in a row is one span of bytes and the per-client
//! work is a few lookups per row of its view and one copy per run, whatever the number of
//! entities it sees; enter and leave chunks (only for views that changed since their
//! baseline, a few per cent a tick) are made cell by cell, on demand. The clients are
//! worked through by where their views are ([`BodyCache::bodies`]): neighbouring views read
//! the same rows, still in cache, and clients with the same key (same cells, same
//! baseline) share the whole body. Every baseline in use therefore costs a diff of the
//! whole world per tick: under `Baselines::Sent` (the default) every client that keeps up
//! shares the previous tick; under `Baselines::Acked` its step bounds how many are in use.
//!
//! Entities that changed cell since a recent baseline ("movers", a few per cent of them per
//! tick of age) are left out of that baseline's delta and leave chunks: what a client needs of them
//! depends on which cells it held and holds, so each client gets its own small chunk of
//! them (a patch when it held the old cell and held the new one too, a spawn when it did
//! not hold the old one, a despawn when it no longer sees it or its new cell comes whole),
//! from encodings made once per mover and baseline.

use std::collections::HashMap;
use std::ops::Range;

use bytes::Bytes;
use tickwire_shared::cells::{CellBuckets, CellRect};
use tickwire_shared::entity::QVec2;
use tickwire_shared::protocol::codec;
use tickwire_shared::protocol::snapshot::{
    chunk_is_empty, combine_hashes, diff_carried_hashed, diff_carried_into,
};
use tickwire_shared::protocol::SnapshotBody;
use tickwire_shared::{Map, NetEntity, NetId, SimConfig, Tick};

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
    /// A body assembled from a view's chunks (shared by the clients with the same key):
    /// these bytes of [`BodyCache::frames`].
    Assembled(Range<usize>),
}

/// Where bytes are in [`Chunks::arena`] (start, end).
type Span = (u32, u32);

/// One kind of chunk for every cell, computed a whole row at a time: the chunks of a row
/// lie back to back in the arena, so any run of cells in a row is one span, found with
/// two lookups whatever its length.
#[derive(Default)]
struct CellRows {
    cols: usize,
    /// Per row: computed this tick.
    done: Vec<bool>,
    /// Per row, `cols + 1` entries: where cell `x`'s chunk starts in the arena (the last:
    /// where the row's chunks end).
    off: Vec<u32>,
    /// Per row, `cols + 1` entries: how many non-empty chunks come before cell `x`.
    count: Vec<u32>,
}

impl CellRows {
    fn reset(&mut self, cols: usize, rows: usize) {
        self.cols = cols;
        self.done.clear();
        self.done.resize(rows, false);
        self.off.resize(rows * (cols + 1), 0);
        self.count.resize(rows * (cols + 1), 0);
    }

    /// The bytes and the number of chunks of cells `xs` of row `y` (computed).
    fn run(&self, y: usize, xs: Range<usize>) -> (Span, u32) {
        let r = y * (self.cols + 1);
        (
            (self.off[r + xs.start], self.off[r + xs.end]),
            self.count[r + xs.end] - self.count[r + xs.start],
        )
    }
}

/// This tick's chunks.
#[derive(Default)]
struct Chunks {
    /// Every chunk and event list encoded this tick, back to back.
    arena: Vec<u8>,
    cols: usize,
    /// Per row, `cols + 1` entries: the wrapping sum of the entity hashes of the cells
    /// before cell `x` (a run of cells' hash is a difference of two).
    hash_before: Vec<u32>,
    /// Per cell: the spawn of everything in it now, for a view that newly holds it (few
    /// cells a tick: computed cell by cell).
    enter: Vec<Option<Span>>,
    rows: usize,
    /// Per baseline in use (`None`: full states); a handful, so a list. The first
    /// `in_use` are this tick's; the rest are kept for their memory.
    bases: Vec<BaseChunks>,
    in_use: usize,
    /// Chunks encoded this tick.
    encoded: usize,
    /// Reused for every chunk's changes.
    scratch: SnapshotBody,
}

/// The chunks of one baseline.
#[derive(Default)]
struct BaseChunks {
    baseline: Option<Tick>,
    /// The changes in a cell from the baseline (carried forward) to now.
    delta: CellRows,
    /// Per cell: the despawn of what it held at the baseline, for a view that no longer
    /// holds it (few cells a tick: computed cell by cell).
    leave: Vec<Option<Span>>,
    /// The events after the baseline, encoded.
    events: Span,
    /// Entities in a different cell now than at the baseline, in id order: left out of
    /// the delta and leave chunks, sent per client (a patch for a view that held the old
    /// cell and holds the new one).
    movers: Vec<Mover>,
    /// Per entry of the baseline's state: a mover?
    base_moved: Vec<bool>,
    /// Per entry of the current state: a mover?
    now_moved: Vec<bool>,
    /// Movers by their old cell, and by their new one.
    by_src: CellBuckets<u32>,
    by_dst: CellBuckets<u32>,
}

/// A chunk made for one client from encoded entries (its movers).
#[derive(Default)]
struct MovedChunk {
    spawns: Vec<(NetId, Span)>,
    patches: Vec<(NetId, Span)>,
    despawns: Vec<NetId>,
}

impl MovedChunk {
    fn clear(&mut self) {
        self.spawns.clear();
        self.patches.clear();
        self.despawns.clear();
    }

    /// Puts each list in id order (they are gathered cell by cell).
    fn sort(&mut self) {
        self.spawns.sort_unstable_by_key(|&(id, _)| id);
        self.patches.sort_unstable_by_key(|&(id, _)| id);
        self.despawns.sort_unstable();
    }

    /// Appends the chunk (entries in id order; `arena` holds their encodings).
    fn write(&self, arena: &[u8], out: &mut Vec<u8>) {
        let entry = |&(id, (a, b)): &(NetId, Span)| (id, &arena[a as usize..b as usize]);
        codec::write_id_list(self.spawns.iter().map(entry), out);
        codec::write_id_list(self.patches.iter().map(entry), out);
        codec::write_id_list(self.despawns.iter().map(|&id| (id, &[][..])), out);
    }
}

/// Baselines at most this many ticks old have their movers sent per client (see the
/// module docs); older ones leave them in the shared chunks.
pub const MOVERS_MAX_AGE: u32 = 3;

/// An entity in another cell than at the baseline.
#[derive(Clone, Copy, Debug)]
struct Mover {
    id: NetId,
    /// Its cell (column, row) at the baseline, and now.
    src: (u32, u32),
    dst: (u32, u32),
    /// Its encoded spawn, and its encoded patch from the baseline (carried forward; `None`:
    /// nothing changed).
    spawn: Span,
    patch: Option<Span>,
    /// Another kind under the same id (never happens: ids are not reused).
    replaced: bool,
}

/// The encoded bodies of the current tick.
#[derive(Default)]
pub struct BodyCache {
    tick: Option<Tick>,
    /// Everything visible: the body of each baseline in use (`None`: full state).
    bodies: HashMap<Option<Tick>, Bytes>,
    /// Baselines carried forward.
    carried: Carried,
    chunks: Chunks,
    /// Assembled bodies of this tick, back to back ([`Body::Assembled`]).
    pub frames: Vec<u8>,
    /// Bodies assembled this tick.
    assembled: usize,
    /// The clients of a tick by the first cell of their view ([`BodyCache::bodies`]).
    order: CellBuckets<u32>,
    /// The last keys met in a cell of `order`, with their bodies.
    recent: Vec<(BodyKey, Body)>,
    parts: Vec<Span>,
    /// A client's own chunk: the entities that changed cell, as it needs them.
    moved: MovedChunk,
    /// The state hash of the whole state this tick (every everything-visible body).
    all_hash: Option<u32>,
    buf: Vec<u8>,
}

/// Baselines carried forward: per baseline in use, each entry's position carried to a
/// tick. Advanced one tick at a time, so a baseline used tick after tick costs one step per
/// entity and tick however old it is.
#[derive(Default)]
struct Carried {
    /// (baseline, carried to, positions).
    list: Vec<(Tick, Tick, Vec<Option<QVec2>>)>,
    /// Position lists of baselines no longer carried, for reuse.
    spare: Vec<Vec<Option<QVec2>>>,
}

impl Carried {
    /// A new tick after `last`: only baselines used at `last` are kept (with the default
    /// baselines, each tick's is the tick before, used once), and only while `history`
    /// holds them.
    fn start_tick(&mut self, last: Option<Tick>, history: &History) {
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
    fn carry(
        &mut self,
        b: &TickRecord,
        now: Tick,
        config: &SimConfig,
        map: &Map,
    ) -> &[Option<QVec2>] {
        let i = match self.list.iter().position(|(t, _, _)| *t == b.tick) {
            Some(i) => i,
            None => {
                let at_baseline = |e: &NetEntity| match e {
                    NetEntity::Player(p) => Some(p.pos),
                    _ => None,
                };
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
                *c = c.and_then(|p| e.as_player()?.carry_from(p, step, config, map));
            }
            *as_of = now;
        }
        pos
    }
}

/// Whether state entry `i` is not a mover (`moved` is empty when no mover is tracked).
fn stays(moved: &[bool], i: u32) -> bool {
    !moved.get(i as usize).copied().unwrap_or(false)
}

/// Encodes one cell's chunk of `scratch` (nothing when it is empty) as cell `x` of row `r`
/// of `rows`.
fn seal(
    arena: &mut Vec<u8>,
    scratch: &SnapshotBody,
    rows: &mut CellRows,
    r: usize,
    x: usize,
    encoded: &mut usize,
) {
    let span = encode_cell(arena, scratch, encoded);
    rows.off[r + x] = span.0;
    rows.count[r + x + 1] = rows.count[r + x] + counted(span).1;
    rows.off[r + x + 1] = span.1;
}

/// Encodes `scratch` as one cell's chunk at the end of `arena` (nothing when it is empty).
fn encode_cell(arena: &mut Vec<u8>, scratch: &SnapshotBody, encoded: &mut usize) -> Span {
    let start = arena.len() as u32;
    if !chunk_is_empty(scratch) {
        codec::encode_chunk(scratch, arena);
        *encoded += 1;
    }
    (start, arena.len() as u32)
}

/// A chunk's bytes, and 1 when it is not empty (the chunks it adds to a body).
fn counted(span: Span) -> (Span, u32) {
    (span, u32::from(span.0 != span.1))
}

impl Chunks {
    /// Starts a tick whose state is `now`.
    fn reset(&mut self, now: &TickRecord, index: &StateIndex) {
        self.arena.clear();
        self.in_use = 0;
        self.encoded = 0;
        let (cols, rows) = index.size();
        let (cols, rows) = (cols as usize, rows as usize);
        self.cols = cols;
        self.rows = rows;
        self.enter.clear();
        self.enter.resize(cols * rows, None);
        self.hash_before.clear();
        for y in 0..rows {
            let mut h = 0u32;
            self.hash_before.push(h);
            for x in 0..cols {
                let cell = index.cell(y * cols + x);
                h = cell
                    .iter()
                    .fold(h, |h, &i| h.wrapping_add(now.hashes[i as usize]));
                self.hash_before.push(h);
            }
        }
    }

    /// The state hash of cells `xs` of row `y`.
    fn hash(&self, y: usize, xs: Range<usize>) -> u32 {
        let r = y * (self.cols + 1);
        self.hash_before[r + xs.end].wrapping_sub(self.hash_before[r + xs.start])
    }

    /// The slot of baseline `b`'s chunks in `bases` (`None`: full states), made on first
    /// use in the tick; `carried` is `b` carried forward to `now`.
    fn base(
        &mut self,
        history: &History,
        b: Option<&TickRecord>,
        carried: &[Option<QVec2>],
        now: &TickRecord,
    ) -> usize {
        let baseline = b.map(|b| b.tick);
        let used = &self.bases[..self.in_use];
        if let Some(k) = used.iter().position(|c| c.baseline == baseline) {
            return k;
        }
        let k = self.in_use;
        if k == self.bases.len() {
            self.bases.push(BaseChunks::default());
        }
        self.in_use += 1;
        // The slot's memory is reused: at 10,000 players fresh tables each tick were
        // page faults.
        let mut chunks = std::mem::take(&mut self.bases[k]);
        let start = self.arena.len() as u32;
        codec::encode_events(&history.events_since(baseline), &mut self.arena);
        chunks.baseline = baseline;
        chunks.events = (start, self.arena.len() as u32);
        chunks.delta.reset(self.cols, self.rows);
        chunks.leave.clear();
        chunks.leave.resize(self.cols * self.rows, None);
        chunks.movers.clear();
        chunks.base_moved.clear();
        chunks.now_moved.clear();
        chunks.by_src.clear();
        chunks.by_dst.clear();
        if let Some(b) = b {
            self.find_movers(&mut chunks, b, carried, now);
        }
        self.bases[k] = chunks;
        k
    }

    /// The entities of both `b` and `now` whose cell changed, with their encodings.
    fn find_movers(
        &mut self,
        chunks: &mut BaseChunks,
        b: &TickRecord,
        carried: &[Option<QVec2>],
        now: &TickRecord,
    ) {
        let (Some(bi), Some(ni)) = (&b.index, &now.index) else {
            return;
        };
        // The older the baseline, the more movers, and each costs every client that sees
        // it: past a few ticks they stay in the shared chunks (a despawn and a spawn).
        if now.tick.since(b.tick) > MOVERS_MAX_AGE {
            return;
        }
        let cols = self.cols;
        chunks.base_moved.resize(b.state.len(), false);
        chunks.now_moved.resize(now.state.len(), false);
        let (mut i, mut j) = (0, 0);
        while i < b.state.len() && j < now.state.len() {
            let ((bid, _), (nid, ne)) = (&b.state[i], &now.state[j]);
            if bid < nid {
                i += 1;
            } else if nid < bid {
                j += 1;
            } else {
                let (src, dst) = (bi.cell_of(i), ni.cell_of(j));
                if src != dst {
                    chunks.base_moved[i] = true;
                    chunks.now_moved[j] = true;
                    let start = self.arena.len() as u32;
                    codec::encode_spawn_rest(ne, &mut self.arena);
                    let spawn = (start, self.arena.len() as u32);
                    // The same patch a delta chunk would carry for it.
                    diff_carried_into(
                        std::iter::once((&b.state[i], carried[i])),
                        std::iter::once(&now.state[j]),
                        &mut self.scratch,
                    );
                    let patch = self.scratch.patches.first().map(|(_, p)| {
                        let start = self.arena.len() as u32;
                        codec::encode_patch_rest(p, &mut self.arena);
                        (start, self.arena.len() as u32)
                    });
                    // Same id, another kind (ids are never reused): despawn and spawn.
                    let replaced = !self.scratch.spawns.is_empty();
                    chunks.movers.push(Mover {
                        id: *nid,
                        src: ((src % cols) as u32, (src / cols) as u32),
                        dst: ((dst % cols) as u32, (dst / cols) as u32),
                        spawn,
                        patch,
                        replaced,
                    });
                }
                i += 1;
                j += 1;
            }
        }
        let movers = &chunks.movers;
        let (cols, rows) = (self.cols, self.rows);
        let cell = |(x, y): (u32, u32)| y as usize * cols + x as usize;
        chunks.by_src.build(
            cols,
            rows,
            movers.len(),
            |m| cell(movers[m].src),
            |m| m as u32,
        );
        chunks.by_dst.build(
            cols,
            rows,
            movers.len(),
            |m| cell(movers[m].dst),
            |m| m as u32,
        );
    }

    /// The enter chunk of cell `c` (its bytes, and 1 when it is not empty).
    fn enter(&mut self, now: &TickRecord, index: &StateIndex, c: usize) -> (Span, u32) {
        let span = match self.enter[c] {
            Some(span) => span,
            None => {
                let entries = index.cell(c).iter().map(|&i| &now.state[i as usize]);
                diff_carried_into(std::iter::empty(), entries, &mut self.scratch);
                let span = encode_cell(&mut self.arena, &self.scratch, &mut self.encoded);
                self.enter[c] = Some(span);
                span
            }
        };
        counted(span)
    }

    /// The chunk of baseline slot `k` that despawns what cell `c` held at baseline `b`
    /// (its bytes, and 1 when it is not empty).
    fn leave(&mut self, b: &TickRecord, k: usize, c: usize) -> (Span, u32) {
        let span = match self.bases[k].leave[c] {
            Some(span) => span,
            None => {
                let Some(bi) = &b.index else {
                    return ((0, 0), 0);
                };
                let moved = &self.bases[k].base_moved;
                let base = bi
                    .cell(c)
                    .iter()
                    .filter(|&&i| stays(moved, i))
                    .map(|&i| (&b.state[i as usize], None));
                diff_carried_into(base, std::iter::empty(), &mut self.scratch);
                let span = encode_cell(&mut self.arena, &self.scratch, &mut self.encoded);
                self.bases[k].leave[c] = Some(span);
                span
            }
        };
        counted(span)
    }

    /// Row `y` of the delta chunks of baseline `b` (slot `k`, carried forward to
    /// `carried`), computed on first use: each cell's changes are diffed into the scratch
    /// body, then encoded.
    fn delta_row(
        &mut self,
        b: &TickRecord,
        k: usize,
        carried: &[Option<QVec2>],
        now: &TickRecord,
        y: usize,
    ) -> &CellRows {
        let (Some(bi), Some(ni)) = (&b.index, &now.index) else {
            return &self.bases[k].delta;
        };
        if !self.bases[k].delta.done[y] {
            let r = y * (self.cols + 1);
            for x in 0..self.cols {
                let c = y * self.cols + x;
                let slot = &self.bases[k];
                let base = bi
                    .cell(c)
                    .iter()
                    .filter(|&&i| stays(&slot.base_moved, i))
                    .map(|&i| (&b.state[i as usize], carried[i as usize]));
                let entries = ni
                    .cell(c)
                    .iter()
                    .filter(|&&i| stays(&slot.now_moved, i))
                    .map(|&i| &now.state[i as usize]);
                diff_carried_into(base, entries, &mut self.scratch);
                seal(
                    &mut self.arena,
                    &self.scratch,
                    &mut self.bases[k].delta,
                    r,
                    x,
                    &mut self.encoded,
                );
            }
            self.bases[k].delta.done[y] = true;
        }
        &self.bases[k].delta
    }
}

/// Clients in one bucket whose bodies are remembered for the next ones in it (a bound, so
/// that a crowd in one cell with many different keys costs a miss, not a scan of all).
const RECENT_KEYS: usize = 8;

impl BodyCache {
    /// The bodies for `keys` (one per client, in any order) at the newest tick of
    /// `history`, into `out` in the same order. Each key's `baseline` must be held by
    /// `history` (or `None`); `config` and `map` carry baselines forward (see
    /// [`tickwire_shared::protocol::snapshot::Extrapolation`]).
    ///
    /// With interest management the keys are worked through by where their views are
    /// (bucketed by the view's first cell): neighbouring views read the same rows of
    /// chunks, which are then still in cache, and clients with the same key (most of a
    /// crowd) share one body.
    pub fn bodies(
        &mut self,
        history: &History,
        keys: &[BodyKey],
        config: &SimConfig,
        map: &Map,
        out: &mut Vec<Body>,
    ) {
        out.clear();
        let Some(index) = history.latest().and_then(|now| now.index.as_ref()) else {
            out.extend(keys.iter().map(|&key| self.body(history, key, config, map)));
            return;
        };
        let (cols, rows) = index.size();
        let bucket = |key: &BodyKey| match key.view {
            ViewKey::Cells { x0, y0, .. } => {
                let (x, y) = (x0.clamp(0, cols - 1), y0.clamp(0, rows - 1));
                (y * cols + x) as usize
            }
            ViewKey::All => 0,
        };
        let mut order = std::mem::take(&mut self.order);
        order.build(
            cols as usize,
            rows as usize,
            keys.len(),
            |i| bucket(&keys[i]),
            |i| i as u32,
        );
        out.resize(keys.len(), Body::Assembled(0..0));
        let mut recent = std::mem::take(&mut self.recent);
        for c in 0..(cols * rows) as usize {
            recent.clear();
            for &i in order.cell(c) {
                let key = keys[i as usize];
                out[i as usize] = match recent.iter().find(|(k, _)| *k == key) {
                    Some((_, body)) => body.clone(),
                    None => {
                        let body = self.body(history, key, config, map);
                        if recent.len() == RECENT_KEYS {
                            recent.remove(0);
                        }
                        recent.push((key, body.clone()));
                        body
                    }
                };
            }
        }
        self.recent = recent;
        self.order = order;
    }

    /// The body for `key` at the newest tick of `history` (see [`BodyCache::bodies`]).
    fn body(&mut self, history: &History, key: BodyKey, config: &SimConfig, map: &Map) -> Body {
        let now = history
            .latest()
            .expect("the room records a tick before sending it");
        if self.tick != Some(now.tick) {
            self.carried.start_tick(self.tick, history);
            self.tick = Some(now.tick);
            self.bodies.clear();
            self.frames.clear();
            self.assembled = 0;
            self.all_hash = None;
            if let Some(index) = &now.index {
                self.chunks.reset(now, index);
            }
        }
        match (&now.index, key.view) {
            (Some(index), ViewKey::Cells { .. }) => {
                self.assembled += 1;
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
        if let Some(b) = self.bodies.get(&baseline) {
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
                let carried = self.carried.carry(b, now.tick, config, map);
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
        self.bodies.insert(baseline, bytes.clone());
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
        let carried = match base {
            Some(b) => self.carried.carry(b, now.tick, config, map),
            None => &[],
        };
        let k = self.chunks.base(history, base, carried, now);
        let events = self.chunks.bases[k].events;
        let chunks = &mut self.chunks;
        let parts = &mut self.parts;
        parts.clear();
        let mut hash = 0u32;
        let mut chunk_count = 0;
        // A run of chunks, appended to the run before when their bytes follow each other
        // in the arena: one copy for both.
        let mut push = |(span, count): (Span, u32)| {
            if count == 0 {
                return;
            }
            chunk_count += count as usize;
            match parts.last_mut() {
                Some(last) if last.1 == span.0 => last.1 = span.1,
                _ => parts.push(span),
            }
        };
        // Row by row: the cells the view held at the baseline too get the baseline's delta,
        // the others the whole cell; then the cells only the baseline's view held are left.
        let view = index.rect(key.view);
        let was = match base {
            Some(_) => index.rect(key.base_view),
            None => CellRect::default(),
        };
        // The cells held at both ticks.
        let both = view.meet(&was);
        for y in view.y.clone() {
            hash = hash.wrapping_add(chunks.hash(y, view.x.clone()));
            let kept = if both.y.contains(&y) {
                both.x.clone()
            } else {
                0..0
            };
            let cols = chunks.cols;
            let (kept, left, right) = match base {
                Some(b) if !kept.is_empty() => (
                    Some((b, kept.clone())),
                    view.x.start..kept.start,
                    kept.end..view.x.end,
                ),
                _ => (None, view.x.clone(), view.x.end..view.x.end),
            };
            for x in left.chain(right) {
                push(chunks.enter(now, index, y * cols + x));
            }
            if let Some((b, xs)) = kept {
                push(chunks.delta_row(b, k, carried, now, y).run(y, xs));
            }
        }
        // (Most clients' views are the same as at their baseline: nothing left.)
        match base {
            Some(b) if was != view => {
                let cols = chunks.cols;
                for y in was.y.clone() {
                    let (left, right) = if view.y.contains(&y) {
                        let to = view.x.start.clamp(was.x.start, was.x.end);
                        let from = view.x.end.clamp(was.x.start, was.x.end);
                        (was.x.start..to, from..was.x.end)
                    } else {
                        (was.x.clone(), was.x.end..was.x.end)
                    };
                    for x in left.chain(right) {
                        push(chunks.leave(b, k, y * cols + x));
                    }
                }
            }
            _ => {}
        }
        // The entities that changed cell, as this client needs them.
        let moved = &mut self.moved;
        moved.clear();
        if base.is_some() && !chunks.bases[k].movers.is_empty() {
            let slot = &chunks.bases[k];
            // Held at the baseline: found by their old cell.
            for y in was.y.clone() {
                for &m in slot.by_src.run(y, was.x.clone()) {
                    let mv = &slot.movers[m as usize];
                    // Its new cell comes as a delta chunk (which leaves movers out), or
                    // whole (an enter chunk, which spawns it), or not at all.
                    let kept = both.holds(mv.dst);
                    match (kept, mv.patch) {
                        (true, _) if mv.replaced => {
                            moved.despawns.push(mv.id);
                            moved.spawns.push((mv.id, mv.spawn));
                        }
                        (true, Some(p)) => moved.patches.push((mv.id, p)),
                        (true, None) => {}
                        // Gone from the view, or spawned whole by an enter chunk: the
                        // held copy goes.
                        (false, _) => moved.despawns.push(mv.id),
                    }
                }
            }
            // Not held at the baseline, and now in a cell the view held then (so not
            // spawned by an enter chunk): spawned.
            for y in both.y.clone() {
                for &m in slot.by_dst.run(y, both.x.clone()) {
                    let mv = &slot.movers[m as usize];
                    if !was.holds(mv.src) {
                        moved.spawns.push((mv.id, mv.spawn));
                    }
                }
            }
            moved.sort();
        }
        let extra =
            !(moved.spawns.is_empty() && moved.patches.is_empty() && moved.despawns.is_empty());
        let start = self.frames.len();
        codec::write_body_start(hash, chunk_count + usize::from(extra), &mut self.frames);
        for &(a, b) in &self.parts {
            self.frames
                .extend_from_slice(&chunks.arena[a as usize..b as usize]);
        }
        if extra {
            moved.write(&chunks.arena, &mut self.frames);
        }
        self.frames
            .extend_from_slice(&chunks.arena[events.0 as usize..events.1 as usize]);
        start..self.frames.len()
    }

    /// Number of distinct bodies and chunks encoded at `tick` (0 when none was asked for).
    pub fn encoded(&self, tick: Tick) -> usize {
        if self.tick == Some(tick) {
            self.bodies.len() + self.assembled + self.chunks.encoded
        } else {
            0
        }
    }
}
