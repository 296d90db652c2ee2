//! Movers: entities in another cell now than at a recent baseline. What a client needs of
//! one depends on which cells it held and holds, so each client gets its own small chunk
//! of them, from encodings made once per mover and baseline.

use tickwire_shared::cells::CellRect;
use tickwire_shared::entity::QVec2;
use tickwire_shared::protocol::codec;
use tickwire_shared::protocol::snapshot::diff_carried_into;
use tickwire_shared::NetId;

use super::arena::{Arena, Span};
use super::chunks::{BaseChunks, Chunks};
use super::MOVERS_MAX_AGE;
use crate::snapshot::history::TickRecord;

/// An entity in another cell than at the baseline.
#[derive(Clone, Copy, Debug)]
pub(super) struct Mover {
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

/// A chunk made for one client from encoded entries (its movers).
#[derive(Default)]
pub(super) struct MovedChunk {
    spawns: Vec<(NetId, Span)>,
    patches: Vec<(NetId, Span)>,
    despawns: Vec<NetId>,
}

impl MovedChunk {
    /// Whether it carries nothing (then it is left out of the body).
    pub(super) fn is_empty(&self) -> bool {
        self.spawns.is_empty() && self.patches.is_empty() && self.despawns.is_empty()
    }

    /// The movers of `slot` as a client needs them whose view held cells `was` at the
    /// baseline and holds `was.meet(view)` = `both` of them now.
    pub(super) fn gather(&mut self, slot: &BaseChunks, was: &CellRect, both: &CellRect) {
        self.spawns.clear();
        self.patches.clear();
        self.despawns.clear();
        if slot.movers.is_empty() {
            return;
        }
        // Held at the baseline: found by their old cell.
        for y in was.y.clone() {
            for &m in slot.by_src.run(y, was.x.clone()) {
                let mv = &slot.movers[m as usize];
                // Its new cell comes as a delta chunk (which leaves movers out), or
                // whole (an enter chunk, which spawns it), or not at all.
                match (both.holds(mv.dst), mv.patch) {
                    (true, _) if mv.replaced => {
                        self.despawns.push(mv.id);
                        self.spawns.push((mv.id, mv.spawn));
                    }
                    (true, Some(p)) => self.patches.push((mv.id, p)),
                    (true, None) => {}
                    // Gone from the view, or spawned whole by an enter chunk: the held
                    // copy goes.
                    (false, _) => self.despawns.push(mv.id),
                }
            }
        }
        // Not held at the baseline, and now in a cell the view held then (so not spawned
        // by an enter chunk): spawned.
        for y in both.y.clone() {
            for &m in slot.by_dst.run(y, both.x.clone()) {
                let mv = &slot.movers[m as usize];
                if !was.holds(mv.src) {
                    self.spawns.push((mv.id, mv.spawn));
                }
            }
        }
        // Each list in id order (they were gathered cell by cell).
        self.spawns.sort_unstable_by_key(|&(id, _)| id);
        self.patches.sort_unstable_by_key(|&(id, _)| id);
        self.despawns.sort_unstable();
    }

    /// Appends the chunk (`arena` holds its entries' encodings).
    pub(super) fn write(&self, arena: &Arena, out: &mut Vec<u8>) {
        let entry = |&(id, span): &(NetId, Span)| (id, arena.bytes(span));
        codec::write_id_list(self.spawns.iter().map(entry), out);
        codec::write_id_list(self.patches.iter().map(entry), out);
        codec::write_id_list(self.despawns.iter().map(|&id| (id, &[][..])), out);
    }
}

impl Chunks {
    /// The entities of both `b` and `now` whose cell changed, with their encodings, into
    /// `chunks` (`carried`: `b` carried forward to `now`).
    pub(super) fn find_movers(
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
        let xy = |c: usize| ((c % cols) as u32, (c / cols) as u32);
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
                    let spawn = self.arena.write(|out| codec::encode_spawn_rest(ne, out));
                    // The same patch a delta chunk would carry for it.
                    diff_carried_into(
                        std::iter::once((&b.state[i], carried[i])),
                        std::iter::once(&now.state[j]),
                        &mut self.scratch,
                    );
                    let arena = &mut self.arena;
                    let patch = self
                        .scratch
                        .patches
                        .first()
                        .map(|(_, p)| arena.write(|out| codec::encode_patch_rest(p, out)));
                    // Same id, another kind (ids are never reused): despawn and spawn.
                    let replaced = !self.scratch.spawns.is_empty();
                    chunks.movers.push(Mover {
                        id: *nid,
                        src: xy(src),
                        dst: xy(dst),
                        spawn,
                        patch,
                        replaced,
                    });
                }
                i += 1;
                j += 1;
            }
        }
        chunks.bucket_movers(self.cols, self.rows);
    }
}

impl BaseChunks {
    /// Buckets the movers by their old cell and by their new one, on a `cols` x `rows`
    /// grid.
    fn bucket_movers(&mut self, cols: usize, rows: usize) {
        let movers = &self.movers;
        let cell = |(x, y): (u32, u32)| y as usize * cols + x as usize;
        let m = movers.len();
        self.by_src
            .build(cols, rows, m, |i| cell(movers[i].src), |i| i as u32);
        self.by_dst
            .build(cols, rows, m, |i| cell(movers[i].dst), |i| i as u32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_three_id_gap_lists_with_the_entries_bytes() {
        let mut arena = Arena::default();
        let a = arena.write(|out| out.extend_from_slice(b"AB"));
        let c = arena.write(|out| out.push(b'C'));
        let p = arena.write(|out| out.push(b'P'));
        let chunk = MovedChunk {
            spawns: vec![(NetId(5), a), (NetId(300), c)],
            patches: vec![(NetId(7), p)],
            despawns: vec![NetId(2), NetId(9)],
        };
        let mut out = vec![0xEE];
        chunk.write(&arena, &mut out);
        #[rustfmt::skip]
        let expected = [
            0xEE,
            2, 5, b'A', b'B', 251, 39, 1, b'C', // spawns: 5, then +295 (a u16 varint)
            1, 7, b'P',                         // patches
            2, 2, 7,                            // despawns: 2, then +7
        ];
        assert_eq!(out, expected);
        assert!(!chunk.is_empty());
        assert!(MovedChunk::default().is_empty());
    }

    /// A baseline's movers as `gather` reads them, bucketed on a 4 x 4 grid.
    fn slot(movers: Vec<Mover>) -> BaseChunks {
        let mut slot = BaseChunks::default();
        slot.movers = movers;
        slot.bucket_movers(4, 4);
        slot
    }

    fn mover(id: u32, src: (u32, u32), dst: (u32, u32), patched: bool) -> Mover {
        Mover {
            id: NetId(id),
            src,
            dst,
            spawn: Span::new(id, id + 1),
            patch: patched.then(|| Span::new(id + 1, id + 2)),
            replaced: false,
        }
    }

    #[test]
    fn each_client_gets_its_movers_as_it_needs_them() {
        // Held columns 0..3 of rows 0..2, now columns 1..4: column 0 left, column 3 new.
        let was = CellRect { x: 0..3, y: 0..2 };
        let both = CellRect { x: 1..3, y: 0..2 };
        let slot = slot(vec![
            mover(10, (1, 0), (2, 0), true),  // held then and now: patched
            mover(11, (2, 0), (1, 0), false), // held then and now, unchanged: nothing
            mover(12, (1, 1), (3, 3), true),  // out of the view: despawned
            mover(13, (3, 3), (1, 1), true),  // into the view from outside: spawned
            mover(14, (0, 0), (1, 1), true),  // from a cell held then only: patched
            mover(15, (1, 0), (3, 0), true),  // into a new cell (enter chunk): despawned
            Mover {
                replaced: true,
                ..mover(16, (1, 0), (2, 1), true)
            }, // another kind: despawned and spawned
        ]);
        let mut chunk = MovedChunk::default();
        chunk.gather(&slot, &was, &both);
        let spawn = |id: u32| Span::new(id, id + 1);
        let patch = |id: u32| Span::new(id + 1, id + 2);
        assert_eq!(
            chunk.spawns,
            [(NetId(13), spawn(13)), (NetId(16), spawn(16))]
        );
        assert_eq!(
            chunk.patches,
            [(NetId(10), patch(10)), (NetId(14), patch(14))]
        );
        assert_eq!(chunk.despawns, [NetId(12), NetId(15), NetId(16)]);
        // No movers: nothing, whatever was gathered before.
        chunk.gather(&BaseChunks::default(), &was, &both);
        assert!(chunk.is_empty());
    }
}
