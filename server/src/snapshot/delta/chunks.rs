//! This tick's chunks: enter chunks per cell, and per baseline in use its delta chunks
//! (a row at a time), leave chunks (per cell) and movers.

use std::ops::Range;

use tickwire_shared::cells::CellBuckets;
use tickwire_shared::entity::QVec2;
use tickwire_shared::protocol::codec;
use tickwire_shared::protocol::snapshot::{chunk_is_empty, diff_carried_into};
use tickwire_shared::protocol::SnapshotBody;
use tickwire_shared::Tick;

use super::arena::{Arena, Run, Span};
use super::movers::Mover;
use super::rows::CellRows;
use crate::snapshot::history::{History, TickRecord};
use crate::snapshot::interest::StateIndex;

/// This tick's chunks.
#[derive(Default)]
pub(super) struct Chunks {
    /// Every chunk, mover entry and event list encoded this tick.
    pub(super) arena: Arena,
    pub(super) cols: usize,
    pub(super) rows: usize,
    /// Per row, `cols + 1` entries: the wrapping sum of the entity hashes of the cells
    /// before cell `x` (a run of cells' hash is a difference of two).
    hash_before: Vec<u32>,
    /// Per cell: the spawn of everything in it now, for a view that newly holds it (few
    /// cells a tick: computed cell by cell).
    enter: Vec<Option<Span>>,
    /// Per baseline in use (`None`: full states); a handful, so a list. The first
    /// `in_use` are this tick's; the rest are kept for their memory.
    bases: Vec<BaseChunks>,
    in_use: usize,
    /// Chunks encoded this tick.
    pub(super) encoded: usize,
    /// Reused for every chunk's changes.
    pub(super) scratch: SnapshotBody,
}

/// Which of this tick's baselines: its place in [`Chunks`]' list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct BaseSlot(usize);

/// The chunks of one baseline.
#[derive(Default)]
pub(super) struct BaseChunks {
    baseline: Option<Tick>,
    /// The changes in a cell from the baseline (carried forward) to now.
    delta: CellRows,
    /// Per cell: the despawn of what it held at the baseline, for a view that no longer
    /// holds it (few cells a tick: computed cell by cell).
    leave: Vec<Option<Span>>,
    /// The events after the baseline, encoded.
    pub(super) events: Span,
    /// Entities in a different cell now than at the baseline, in id order: left out of
    /// the delta and leave chunks, sent per client.
    pub(super) movers: Vec<Mover>,
    /// Per entry of the baseline's state: a mover?
    pub(super) base_moved: Vec<bool>,
    /// Per entry of the current state: a mover?
    pub(super) now_moved: Vec<bool>,
    /// Movers (indices into `movers`) by their old cell, and by their new one.
    pub(super) by_src: CellBuckets<u32>,
    pub(super) by_dst: CellBuckets<u32>,
}

/// The baseline a body is a delta against.
#[derive(Clone, Copy)]
pub(super) struct Baseline<'a> {
    pub(super) record: &'a TickRecord,
    /// Its chunks.
    pub(super) slot: BaseSlot,
    /// Its entries' positions carried forward to now.
    pub(super) carried: &'a [Option<QVec2>],
}

/// Whether state entry `i` is not a mover (`moved` is empty when no mover is tracked).
fn stays(moved: &[bool], i: u32) -> bool {
    !moved.get(i as usize).copied().unwrap_or(false)
}

/// Encodes `changes` as one cell's chunk at the end of `arena` (nothing when it is
/// empty), counting it in `encoded`.
pub(super) fn encode_cell(arena: &mut Arena, changes: &SnapshotBody, encoded: &mut usize) -> Span {
    arena.write(|out| {
        if !chunk_is_empty(changes) {
            codec::encode_chunk(changes, out);
            *encoded += 1;
        }
    })
}

impl Chunks {
    /// Starts a tick whose state is `now`.
    pub(super) fn reset(&mut self, now: &TickRecord, index: &StateIndex) {
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
    pub(super) fn hash(&self, y: usize, xs: Range<usize>) -> u32 {
        let r = y * (self.cols + 1);
        self.hash_before[r + xs.end].wrapping_sub(self.hash_before[r + xs.start])
    }

    /// The chunks of baseline slot `k`.
    pub(super) fn slot(&self, k: BaseSlot) -> &BaseChunks {
        &self.bases[k.0]
    }

    /// The slot of baseline `b`'s chunks (`None`: full states), made on first use in the
    /// tick; `carried` is `b` carried forward to `now`.
    pub(super) fn base(
        &mut self,
        history: &History,
        b: Option<&TickRecord>,
        carried: &[Option<QVec2>],
        now: &TickRecord,
    ) -> BaseSlot {
        let baseline = b.map(|b| b.tick);
        let used = &self.bases[..self.in_use];
        if let Some(k) = used.iter().position(|c| c.baseline == baseline) {
            return BaseSlot(k);
        }
        let k = self.in_use;
        if k == self.bases.len() {
            self.bases.push(BaseChunks::default());
        }
        self.in_use += 1;
        // The slot's memory is reused: at 10,000 players fresh tables each tick were
        // page faults.
        let mut chunks = std::mem::take(&mut self.bases[k]);
        chunks.baseline = baseline;
        chunks.events = self
            .arena
            .write(|out| codec::encode_events(&history.events_since(baseline), out));
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
        BaseSlot(k)
    }

    /// The enter chunk of cell `c`.
    pub(super) fn enter(&mut self, now: &TickRecord, index: &StateIndex, c: usize) -> Run {
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
        Run::one(span)
    }

    /// The leave chunk of cell `c` against baseline `b`: the despawn of what the cell
    /// held then.
    pub(super) fn leave(&mut self, b: Baseline, c: usize) -> Run {
        let k = b.slot.0;
        let span = match self.bases[k].leave[c] {
            Some(span) => span,
            None => {
                let Some(bi) = &b.record.index else {
                    return Run::default();
                };
                let moved = &self.bases[k].base_moved;
                let base = bi
                    .cell(c)
                    .iter()
                    .filter(|&&i| stays(moved, i))
                    .map(|&i| (&b.record.state[i as usize], None));
                diff_carried_into(base, std::iter::empty(), &mut self.scratch);
                let span = encode_cell(&mut self.arena, &self.scratch, &mut self.encoded);
                self.bases[k].leave[c] = Some(span);
                span
            }
        };
        Run::one(span)
    }

    /// Row `y` of the delta chunks of baseline `b`, computed on first use: each cell's
    /// changes are diffed into the scratch body, then encoded.
    pub(super) fn delta_row(&mut self, b: Baseline, now: &TickRecord, y: usize) -> &CellRows {
        let k = b.slot.0;
        let (Some(bi), Some(ni)) = (&b.record.index, &now.index) else {
            return &self.bases[k].delta;
        };
        if !self.bases[k].delta.done(y) {
            for x in 0..self.cols {
                let c = y * self.cols + x;
                let slot = &self.bases[k];
                let base = bi
                    .cell(c)
                    .iter()
                    .filter(|&&i| stays(&slot.base_moved, i))
                    .map(|&i| (&b.record.state[i as usize], b.carried[i as usize]));
                let entries = ni
                    .cell(c)
                    .iter()
                    .filter(|&&i| stays(&slot.now_moved, i))
                    .map(|&i| &now.state[i as usize]);
                diff_carried_into(base, entries, &mut self.scratch);
                let span = encode_cell(&mut self.arena, &self.scratch, &mut self.encoded);
                self.bases[k].delta.seal(y, x, span);
            }
            self.bases[k].delta.finish(y);
        }
        &self.bases[k].delta
    }
}

#[cfg(test)]
mod tests {
    use tickwire_shared::NetId;

    use super::*;

    #[test]
    fn cells_encode_as_chunks_and_empty_cells_as_nothing() {
        let mut arena = Arena::default();
        let mut encoded = 0;
        let empty = encode_cell(&mut arena, &SnapshotBody::default(), &mut encoded);
        assert!(empty.is_empty());
        assert_eq!(encoded, 0);
        let changes = SnapshotBody {
            despawns: vec![NetId(3), NetId(4), NetId(300)],
            ..SnapshotBody::default()
        };
        let span = encode_cell(&mut arena, &changes, &mut encoded);
        assert_eq!(encoded, 1);
        // No spawns, no patches, three despawns: 3, then +1, then +296 (a u16 varint).
        assert_eq!(arena.bytes(span), [0, 0, 3, 3, 1, 251, 40, 1]);
        let mut direct = Vec::new();
        codec::encode_chunk(&changes, &mut direct);
        assert_eq!(arena.bytes(span), direct);
        assert_eq!(span.start(), empty.end());
    }
}
