//! Encode once, send many: this tick's snapshot bodies.
//!
//! Everything visible (no interest management): one body per baseline in use, shared by
//! every client with that baseline. With interest management a delta is cut along the
//! interest cells: each cell's chunk (what changed in the cell since a baseline, or the
//! whole cell for a client that newly sees it, or the despawn of what it held for one that
//! no longer does) is diffed and encoded once per baseline and tick, for every client whose
//! view holds the cell; a client's body is then only the concatenation of its view's
//! chunks, its state hash the sum of its cells' hashes. Delta and leave chunks are made a
//! whole row of cells at a time, so a run of cells in a row is one span of bytes and the
//! per-client work is a few lookups per row of its view and one copy per run, whatever
//! the number of entities it sees. Every baseline in use therefore costs a diff of the
//! whole world per tick (`RoomSettings::baseline_step` bounds how many are in use).
//!
//! An entity that changed cell since the baseline travels as a despawn in its old cell's
//! chunk and a spawn in its new one, also when the client sees both cells (a patch would
//! depend on which cells the client held: not shareable as is).

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
    /// Per baseline in use (`None`: full states); a handful, so a list.
    bases: Vec<BaseChunks>,
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
    /// The despawn of what a cell held at the baseline (for a view that no longer holds it).
    leave: CellRows,
    /// The events after the baseline, encoded.
    events: Span,
}

/// The encoded bodies of the current tick.
#[derive(Default)]
pub struct BodyCache {
    tick: Option<Tick>,
    bodies: HashMap<BodyKey, Bytes>,
    /// Per baseline in use: the baseline, each entry's carried position, and the tick it
    /// is carried to. Advanced one tick at a time, so an old baseline costs one step per
    /// entity and tick however old it is.
    carried: Vec<(Tick, Tick, Vec<Option<QVec2>>)>,
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
    carried: &'c mut Vec<(Tick, Tick, Vec<Option<QVec2>>)>,
    b: &TickRecord,
    now: Tick,
    config: &SimConfig,
    map: &Map,
) -> &'c [Option<QVec2>] {
    let i = match carried.iter().position(|(t, _, _)| *t == b.tick) {
        Some(i) => i,
        None => {
            let at_baseline = |e: &NetEntity| match e {
                NetEntity::Player(p) => Some(p.pos),
                _ => None,
            };
            let pos = b.state.iter().map(|(_, e)| at_baseline(e)).collect();
            carried.push((b.tick, b.tick, pos));
            carried.len() - 1
        }
    };
    let (_, as_of, pos) = &mut carried[i];
    if *as_of != now {
        let step = now.since(*as_of);
        for ((_, e), c) in b.state.iter().zip(pos.iter_mut()) {
            *c = c.and_then(|p| e.as_player()?.carry_from(p, step, config, map));
        }
        *as_of = now;
    }
    pos
}

/// The cells of a view that lie on the map, as column and row ranges.
#[derive(Clone, Debug, Default)]
struct Rect {
    x: Range<usize>,
    y: Range<usize>,
}

impl Rect {
    fn of(index: &StateIndex, key: ViewKey) -> Rect {
        let (x, y) = index.clamp(key);
        let half_open = |r: std::ops::RangeInclusive<i32>| {
            let (a, b) = r.into_inner();
            if b < a {
                0..0
            } else {
                a as usize..b as usize + 1
            }
        };
        Rect {
            x: half_open(x),
            y: half_open(y),
        }
    }
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
    rows.off[r + x] = arena.len() as u32;
    let full = !chunk_is_empty(scratch);
    if full {
        codec::encode_chunk(scratch, arena);
        *encoded += 1;
    }
    rows.count[r + x + 1] = rows.count[r + x] + u32::from(full);
    rows.off[r + x + 1] = arena.len() as u32;
}

impl Chunks {
    /// Starts a tick whose state is `now`.
    fn reset(&mut self, now: &TickRecord, index: &StateIndex) {
        self.arena.clear();
        self.bases.clear();
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

    /// The slot of `baseline`'s chunks in `bases`, made on first use in the tick.
    fn base(&mut self, history: &History, baseline: Option<Tick>) -> usize {
        if let Some(k) = self.bases.iter().position(|b| b.baseline == baseline) {
            return k;
        }
        let start = self.arena.len() as u32;
        codec::encode_events(&history.events_since(baseline), &mut self.arena);
        let rows = self.rows;
        let mut chunks = BaseChunks {
            baseline,
            events: (start, self.arena.len() as u32),
            ..BaseChunks::default()
        };
        chunks.delta.reset(self.cols, rows);
        chunks.leave.reset(self.cols, rows);
        self.bases.push(chunks);
        self.bases.len() - 1
    }

    /// The enter chunk of cell `c` (its bytes, and 1 when it is not empty).
    fn enter(&mut self, now: &TickRecord, index: &StateIndex, c: usize) -> (Span, u32) {
        let span = match self.enter[c] {
            Some(span) => span,
            None => {
                let entries = index.cell(c).iter().map(|&i| &now.state[i as usize]);
                diff_carried_into(std::iter::empty(), entries, &mut self.scratch);
                let start = self.arena.len() as u32;
                if !chunk_is_empty(&self.scratch) {
                    codec::encode_chunk(&self.scratch, &mut self.arena);
                    self.encoded += 1;
                }
                let span = (start, self.arena.len() as u32);
                self.enter[c] = Some(span);
                span
            }
        };
        (span, u32::from(span.0 != span.1))
    }

    /// Row `y` of the delta chunks of baseline `b` (slot `k`, carried forward to
    /// `carried`), computed.
    fn delta_row(
        &mut self,
        b: &TickRecord,
        k: usize,
        carried: &[Option<QVec2>],
        now: &TickRecord,
        y: usize,
    ) -> &CellRows {
        if !self.bases[k].delta.done[y] {
            if let (Some(bi), Some(ni)) = (&b.index, &now.index) {
                let r = y * (self.cols + 1);
                for x in 0..self.cols {
                    let c = y * self.cols + x;
                    let base = bi
                        .cell(c)
                        .iter()
                        .map(|&i| (&b.state[i as usize], carried[i as usize]));
                    let entries = ni.cell(c).iter().map(|&i| &now.state[i as usize]);
                    diff_carried_into(base, entries, &mut self.scratch);
                    let rows = &mut self.bases[k].delta;
                    seal(
                        &mut self.arena,
                        &self.scratch,
                        rows,
                        r,
                        x,
                        &mut self.encoded,
                    );
                }
            }
            self.bases[k].delta.done[y] = true;
        }
        &self.bases[k].delta
    }

    /// Row `y` of the chunks that despawn what each cell held at baseline `b` (slot `k`),
    /// computed.
    fn leave_row(&mut self, b: &TickRecord, k: usize, y: usize) -> &CellRows {
        if !self.bases[k].leave.done[y] {
            if let Some(bi) = &b.index {
                let r = y * (self.cols + 1);
                for x in 0..self.cols {
                    let base = bi
                        .cell(y * self.cols + x)
                        .iter()
                        .map(|&i| (&b.state[i as usize], None));
                    diff_carried_into(base, std::iter::empty(), &mut self.scratch);
                    let rows = &mut self.bases[k].leave;
                    seal(
                        &mut self.arena,
                        &self.scratch,
                        rows,
                        r,
                        x,
                        &mut self.encoded,
                    );
                }
            }
            self.bases[k].leave.done[y] = true;
        }
        &self.bases[k].leave
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
            self.carried.retain(|(b, _, _)| history.get(*b).is_some());
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
        let events = self.chunks.bases[k].events;
        let carried = match base {
            Some(b) => carry(&mut self.carried, b, now.tick, config, map),
            None => &[],
        };
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
        let view = Rect::of(index, key.view);
        let was = match base {
            Some(_) => Rect::of(index, key.base_view),
            None => Rect::default(),
        };
        for y in view.y.clone() {
            hash = hash.wrapping_add(chunks.hash(y, view.x.clone()));
            let kept = match base {
                Some(_) if was.y.contains(&y) => {
                    view.x.start.max(was.x.start)..view.x.end.min(was.x.end)
                }
                _ => view.x.end..view.x.end,
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
        if let Some(b) = base {
            for y in was.y.clone() {
                let (left, right) = if view.y.contains(&y) {
                    let to = view.x.start.clamp(was.x.start, was.x.end);
                    let from = view.x.end.clamp(was.x.start, was.x.end);
                    (was.x.start..to, from..was.x.end)
                } else {
                    (was.x.clone(), was.x.end..was.x.end)
                };
                let rows = chunks.leave_row(b, k, y);
                let (l, r) = (rows.run(y, left), rows.run(y, right));
                push(l);
                push(r);
            }
        }
        let start = self.frames.len();
        codec::write_body_start(hash, chunk_count, &mut self.frames);
        for &(a, b) in &self.parts {
            self.frames
                .extend_from_slice(&chunks.arena[a as usize..b as usize]);
        }
        self.frames
            .extend_from_slice(&chunks.arena[events.0 as usize..events.1 as usize]);
        start..self.frames.len()
    }

    /// Number of distinct bodies and chunks encoded at `tick` (0 when none was asked for).
    pub fn encoded(&self, tick: Tick) -> usize {
        if self.tick == Some(tick) {
            self.bodies.len() + self.chunks.encoded
        } else {
            0
        }
    }
}
