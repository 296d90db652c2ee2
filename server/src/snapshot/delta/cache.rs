//! [`BodyCache`]: the clients' bodies of a tick, each made once per key.

use std::collections::HashMap;
use std::ops::Range;

use bytes::Bytes;
use tickwire_shared::cells::{CellBuckets, CellRect};
use tickwire_shared::protocol::codec;
use tickwire_shared::protocol::snapshot::{combine_hashes, diff_carried_hashed};
use tickwire_shared::{Map, SimConfig, Tick};

use super::arena::{Arena, Run, Span};
use super::carried::Carried;
use super::chunks::{Baseline, Chunks};
use super::movers::MovedChunk;
use super::{Body, BodyKey};
use crate::snapshot::history::{History, TickRecord};
use crate::snapshot::interest::{StateIndex, ViewKey};

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
    /// The chunks of the body being assembled.
    parts: Parts,
    /// A client's own chunk: the entities that changed cell, as it needs them.
    moved: MovedChunk,
    /// The state hash of the whole state this tick (every everything-visible body).
    all_hash: Option<u32>,
    buf: Vec<u8>,
}

/// Clients in one bucket whose bodies are remembered for the next ones in it (a bound, so
/// that a crowd in one cell with many different keys costs a miss, not a scan of all).
const RECENT_KEYS: usize = 8;

/// The chunks of a body being assembled, as spans of the arena.
#[derive(Default)]
struct Parts {
    /// Runs of chunks, a run merged into the one before when its bytes follow (one copy).
    spans: Vec<Span>,
    /// Non-empty chunks in them.
    chunks: usize,
}

impl Parts {
    fn clear(&mut self) {
        self.spans.clear();
        self.chunks = 0;
    }

    /// Adds a run of chunks (nothing when it has none).
    fn push(&mut self, run: Run) {
        if run.chunks == 0 {
            return;
        }
        self.chunks += run.chunks as usize;
        let merged = self
            .spans
            .last_mut()
            .is_some_and(|last| last.extend(run.bytes));
        if !merged {
            self.spans.push(run.bytes);
        }
    }
}

/// The cells of a client's view now (`view`), at its baseline (`was`, empty without
/// one), and at both (`both`).
struct Views {
    view: CellRect,
    was: CellRect,
    both: CellRect,
}

impl Views {
    /// The cells of `key`'s views (`was` only `with_baseline`).
    fn of(index: &StateIndex, key: BodyKey, with_baseline: bool) -> Views {
        let view = index.rect(key.view);
        let was = if with_baseline {
            index.rect(key.base_view)
        } else {
            CellRect::default()
        };
        Views {
            both: view.meet(&was),
            view,
            was,
        }
    }
}

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
        let (cols, rows) = (cols as usize, rows as usize);
        order.build(cols, rows, keys.len(), |i| bucket(&keys[i]), |i| i as u32);
        out.resize(keys.len(), Body::Assembled(0..0));
        let mut recent = std::mem::take(&mut self.recent);
        for c in 0..cols * rows {
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
        // 1. The baseline carried forward, and its chunks (made on its first use this
        // tick).
        let record = key.baseline.and_then(|t| history.get(t));
        let carried = match record {
            Some(b) => self.carried.carry(b, now.tick, config, map),
            None => &[],
        };
        let slot = self.chunks.base(history, record, carried, now);
        let base = record.map(|record| Baseline {
            record,
            slot,
            carried,
        });
        let views = Views::of(index, key, base.is_some());
        // 2. The view's cells (delta runs and enter chunks), then 3. the cells it no
        // longer holds (leave chunks).
        self.parts.clear();
        let hash = view_chunks(&mut self.chunks, &mut self.parts, &views, base, now, index);
        if let Some(b) = base {
            left_chunks(&mut self.chunks, &mut self.parts, &views, b);
        }
        // 4. The entities that changed cell, as this client needs them.
        let chunks = &self.chunks;
        self.moved
            .gather(chunks.slot(slot), &views.was, &views.both);
        // 5. The body.
        let events = chunks.slot(slot).events;
        write_body(
            &mut self.frames,
            hash,
            &self.parts,
            &self.moved,
            &chunks.arena,
            events,
        )
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

/// Row by row, the chunks of the cells of a view: those the view held at the baseline too
/// get the baseline's delta, the others come whole (enter chunks). Returns the state hash
/// of the cells.
fn view_chunks(
    chunks: &mut Chunks,
    parts: &mut Parts,
    views: &Views,
    base: Option<Baseline>,
    now: &TickRecord,
    index: &StateIndex,
) -> u32 {
    let mut hash = 0u32;
    let cols = chunks.cols;
    for y in views.view.y.clone() {
        hash = hash.wrapping_add(chunks.hash(y, views.view.x.clone()));
        let (left, right) = views.view.row_minus(&views.was, y);
        for x in left.chain(right) {
            parts.push(chunks.enter(now, index, y * cols + x));
        }
        let kept = match base {
            Some(b) if views.both.y.contains(&y) && !views.both.x.is_empty() => Some(b),
            _ => None,
        };
        if let Some(b) = kept {
            parts.push(chunks.delta_row(b, now, y).run(y, views.both.x.clone()));
        }
    }
    hash
}

/// The leave chunks of the cells the view held at the baseline and no longer holds.
fn left_chunks(chunks: &mut Chunks, parts: &mut Parts, views: &Views, b: Baseline) {
    // (Most clients' views are the same as at their baseline: nothing left.)
    if views.was == views.view {
        return;
    }
    let cols = chunks.cols;
    for y in views.was.y.clone() {
        let (left, right) = views.was.row_minus(&views.view, y);
        for x in left.chain(right) {
            parts.push(chunks.leave(b, y * cols + x));
        }
    }
}

/// Appends a body to `frames`: its start, the runs of chunks `parts`, the client's own
/// chunk `moved` (when it is not empty) and the events; the body's bytes in `frames`.
fn write_body(
    frames: &mut Vec<u8>,
    hash: u32,
    parts: &Parts,
    moved: &MovedChunk,
    arena: &Arena,
    events: Span,
) -> Range<usize> {
    let extra = !moved.is_empty();
    let start = frames.len();
    codec::write_body_start(hash, parts.chunks + usize::from(extra), frames);
    for &span in &parts.spans {
        frames.extend_from_slice(arena.bytes(span));
    }
    if extra {
        moved.write(arena, frames);
    }
    frames.extend_from_slice(arena.bytes(events));
    start..frames.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_merge_runs_that_follow_each_other() {
        let mut parts = Parts::default();
        let run = |a, b, chunks| Run {
            bytes: Span::new(a, b),
            chunks,
        };
        parts.push(run(0, 4, 1));
        parts.push(run(4, 9, 2));
        parts.push(run(9, 9, 0));
        parts.push(run(12, 15, 1));
        parts.push(run(3, 4, 1));
        assert_eq!(
            parts.spans,
            [Span::new(0, 9), Span::new(12, 15), Span::new(3, 4)]
        );
        assert_eq!(parts.chunks, 5);
        parts.clear();
        assert!(parts.spans.is_empty() && parts.chunks == 0);
    }

    #[test]
    fn bodies_are_start_chunks_own_chunk_events() {
        let mut arena = Arena::default();
        let a = arena.write(|out| out.extend_from_slice(&[0, 0, 1, 4]));
        let b = arena.write(|out| out.extend_from_slice(&[0, 0, 1, 6]));
        let events = arena.write(|out| codec::encode_events(&[], out));
        let mut parts = Parts::default();
        parts.push(Run::one(a));
        parts.push(Run::one(b));
        let mut frames = vec![9, 9];
        let moved = MovedChunk::default();
        let body = write_body(&mut frames, 0x0403_0201, &parts, &moved, &arena, events);
        assert_eq!(body, 2..frames.len());
        // Hash (little-endian), 2 chunks, the chunks back to back, no events.
        assert_eq!(frames[body], [1, 2, 3, 4, 2, 0, 0, 1, 4, 0, 0, 1, 6, 0]);
    }
}
