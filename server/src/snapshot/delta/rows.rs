//! One kind of chunk for every cell, made a whole row at a time.

use std::ops::Range;

use super::arena::{Run, Span};

/// One kind of chunk for every cell, computed a whole row at a time: the chunks of a row
/// lie back to back in the arena, so any run of cells in a row is one span, found with
/// two lookups whatever its length.
///
/// ```text
///  row y:   cell 0   cell 1   cell 2            off[x]: where cell x's chunk starts
///  arena: |  c0   |        |   c2    |          count[x]: non-empty chunks before x
///         off[0]  off[1]=off[2]      off[3]     run(y, 1..3) = off[1]..off[3], 1 chunk
/// ```
#[derive(Default)]
pub(super) struct CellRows {
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
    /// Starts a tick with no row computed.
    pub(super) fn reset(&mut self, cols: usize, rows: usize) {
        self.cols = cols;
        self.done.clear();
        self.done.resize(rows, false);
        self.off.resize(rows * (cols + 1), 0);
        self.count.resize(rows * (cols + 1), 0);
    }

    /// Whether row `y` is computed.
    pub(super) fn done(&self, y: usize) -> bool {
        self.done[y]
    }

    /// Records cell `x` of row `y`'s chunk (the cells of a row in order, back to back).
    pub(super) fn seal(&mut self, y: usize, x: usize, chunk: Span) {
        let r = y * (self.cols + 1);
        self.off[r + x] = chunk.start();
        self.count[r + x + 1] = self.count[r + x] + Run::one(chunk).chunks;
        self.off[r + x + 1] = chunk.end();
    }

    /// Marks row `y` computed (every cell sealed).
    pub(super) fn finish(&mut self, y: usize) {
        self.done[y] = true;
    }

    /// The chunks of cells `xs` of row `y` (computed).
    pub(super) fn run(&self, y: usize, xs: Range<usize>) -> Run {
        let r = y * (self.cols + 1);
        Run {
            bytes: Span::new(self.off[r + xs.start], self.off[r + xs.end]),
            chunks: self.count[r + xs.end] - self.count[r + xs.start],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_of_a_row_are_one_span_and_count_their_chunks() {
        let mut rows = CellRows::default();
        rows.reset(3, 2);
        assert!(!rows.done(1));
        // Row 1: cell 0 is bytes 10..14, cell 1 empty, cell 2 bytes 14..20.
        rows.seal(1, 0, Span::new(10, 14));
        rows.seal(1, 1, Span::new(14, 14));
        rows.seal(1, 2, Span::new(14, 20));
        rows.finish(1);
        assert!(rows.done(1) && !rows.done(0));
        let run = |xs| rows.run(1, xs);
        assert_eq!(
            run(0..3),
            Run {
                bytes: Span::new(10, 20),
                chunks: 2
            }
        );
        assert_eq!(
            run(0..1),
            Run {
                bytes: Span::new(10, 14),
                chunks: 1
            }
        );
        assert_eq!(
            run(1..2),
            Run {
                bytes: Span::new(14, 14),
                chunks: 0
            }
        );
        assert_eq!(
            run(1..3),
            Run {
                bytes: Span::new(14, 20),
                chunks: 1
            }
        );
        assert_eq!(run(2..2).chunks, 0);
        // A new tick: nothing computed.
        rows.reset(3, 2);
        assert!(!rows.done(1));
    }
}
