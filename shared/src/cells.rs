//! Items bucketed by the cell of a grid: the simulation's neighbour grid
//! ([`crate::sim::grid::SpatialGrid`]) and a server's interest cells use the same index.
//!
//! Cells are numbered row-major (`c = y * cols + x`). **Every range of cells is half-open**:
//! columns `x.start..x.end`, rows `y.start..y.end`, an empty range is `0..0`. Code that
//! names a first and a last cell converts once, with [`CellRect::between`].

use std::ops::Range;

/// Items grouped by cell: cells in row-major order, items in their build order within a
/// cell. A cell's items, or those of a run of cells in a row, are one slice found with two
/// lookups. Its memory is kept from one build to the next (no allocation once it has
/// grown).
///
/// Two layouts give the same items in the same order: when the items are many for the
/// cells, a counting sort with a start per cell (lookups are two reads); when they are few
/// (a room of 8 on a large map: 8 items, 2,500 cells), the items sorted by cell and their
/// cells beside them (lookups are two binary searches), so a build costs the items, not the
/// cells: clearing and summing a start per cell was most of a small room's tick.
#[derive(Clone, Debug, Default)]
pub struct CellBuckets<T> {
    cols: usize,
    /// Cells in the grid (`cols * rows`).
    cells: usize,
    /// Dense: `items[start[c]..start[c + 1]]` are cell `c`'s. Empty when sparse.
    start: Vec<u32>,
    /// Sparse: the cell of each item of `items` (ascending). Empty when dense.
    keys: Vec<u32>,
    items: Vec<T>,
    /// Where each cell's next item goes while building (kept: at 10,000 players a grid has
    /// tens of thousands of cells, and a fresh copy each build was page faults).
    fill: Vec<u32>,
    /// Sparse builds: (cell, index) of each item, sorted.
    order: Vec<(u32, u32)>,
}

/// Below one item per this many cells a build is sparse (sorted items, no start per cell).
const SPARSE_CELLS_PER_ITEM: usize = 16;

impl<T: Copy + Default> CellBuckets<T> {
    /// Replaces the contents with items `item(0..n)` of a `cols` x `rows` grid, item `i` in
    /// cell `cell_of(i)` (row-major, `< cols * rows`). Both are called in index order:
    /// `cell_of` once or twice per item, `item` once.
    pub fn build(
        &mut self,
        cols: usize,
        rows: usize,
        n: usize,
        cell_of: impl Fn(usize) -> usize,
        item: impl Fn(usize) -> T,
    ) {
        self.cols = cols;
        self.cells = cols * rows;
        self.items.clear();
        if n.saturating_mul(SPARSE_CELLS_PER_ITEM) < self.cells {
            self.start.clear();
            self.order.clear();
            self.order
                .extend((0..n).map(|i| (cell_of(i) as u32, i as u32)));
            // (cell, index) pairs are distinct: the unstable sort keeps build order within
            // a cell.
            self.order.sort_unstable();
            self.keys.clear();
            self.keys.extend(self.order.iter().map(|&(c, _)| c));
            self.items
                .extend(self.order.iter().map(|&(_, i)| item(i as usize)));
            return;
        }
        self.keys.clear();
        self.start.clear();
        self.start.resize(self.cells + 1, 0);
        for i in 0..n {
            self.start[cell_of(i) + 1] += 1;
        }
        for c in 0..self.cells {
            self.start[c + 1] += self.start[c];
        }
        self.fill.clear();
        self.fill.extend_from_slice(&self.start);
        self.items.resize(n, T::default());
        for i in 0..n {
            let c = cell_of(i);
            self.items[self.fill[c] as usize] = item(i);
            self.fill[c] += 1;
        }
    }

    /// Where the items of cell `c` start (`c` up to `cells`, the end).
    fn start_of(&self, c: usize) -> usize {
        if self.start.is_empty() {
            self.keys.partition_point(|&k| (k as usize) < c)
        } else {
            self.start[c] as usize
        }
    }

    /// Empties the index (no cells).
    pub fn clear(&mut self) {
        self.cols = 0;
        self.cells = 0;
        self.start.clear();
        self.keys.clear();
        self.items.clear();
    }

    /// Every item, cell by cell.
    #[must_use]
    pub fn items(&self) -> &[T] {
        &self.items
    }

    /// The items of cell `c`.
    #[must_use]
    pub fn cell(&self, c: usize) -> &[T] {
        &self.items[self.start_of(c)..self.start_of(c + 1)]
    }

    /// The items of cell `c`, to change in place.
    pub fn cell_mut(&mut self, c: usize) -> &mut [T] {
        let (a, b) = (self.start_of(c), self.start_of(c + 1));
        &mut self.items[a..b]
    }

    /// The items of row `y` in columns `xs` (the run's cells one after the other).
    #[must_use]
    pub fn run(&self, y: usize, xs: Range<usize>) -> &[T] {
        let (a, b) = (y * self.cols + xs.start, y * self.cols + xs.end);
        &self.items[self.start_of(a)..self.start_of(b)]
    }

    /// Where each cell's items start, and the end (for tests comparing two indexes).
    #[cfg(test)]
    pub(crate) fn starts(&self) -> Vec<u32> {
        (0..=self.cells).map(|c| self.start_of(c) as u32).collect()
    }
}

/// A rectangle of cells: columns `x` by rows `y`, both half-open (`0..0` when empty).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CellRect {
    /// Columns.
    pub x: Range<usize>,
    /// Rows.
    pub y: Range<usize>,
}

impl CellRect {
    /// The cells from `first` to `last` (column, row), both included; an axis whose last
    /// comes before its first is empty. The first cell of a non-empty axis must be >= 0.
    #[must_use]
    pub fn between(first: (i32, i32), last: (i32, i32)) -> CellRect {
        let axis = |a: i32, b: i32| {
            if b < a {
                0..0
            } else {
                a as usize..b as usize + 1
            }
        };
        CellRect {
            x: axis(first.0, last.0),
            y: axis(first.1, last.1),
        }
    }

    /// The cells in both (each range `0..0` when they do not meet on that axis).
    #[must_use]
    pub fn meet(&self, other: &CellRect) -> CellRect {
        let cut = |a: &Range<usize>, b: &Range<usize>| {
            let (start, end) = (a.start.max(b.start), a.end.min(b.end));
            if start < end {
                start..end
            } else {
                0..0
            }
        };
        CellRect {
            x: cut(&self.x, &other.x),
            y: cut(&self.y, &other.y),
        }
    }

    /// Whether cell (`x`, `y`) is in it.
    #[must_use]
    pub fn holds(&self, (x, y): (u32, u32)) -> bool {
        self.x.contains(&(x as usize)) && self.y.contains(&(y as usize))
    }

    /// The columns of row `y` that are in this rectangle and not in `other`: two ranges,
    /// left and right of `other` (either or both may be empty), in ascending order.
    #[must_use]
    pub fn row_minus(&self, other: &CellRect, y: usize) -> (Range<usize>, Range<usize>) {
        if !self.y.contains(&y) {
            return (0..0, 0..0);
        }
        if !other.y.contains(&y) {
            return (self.x.clone(), self.x.end..self.x.end);
        }
        let to = other.x.start.clamp(self.x.start, self.x.end);
        let from = other.x.end.clamp(self.x.start, self.x.end).max(to);
        (self.x.start..to, from..self.x.end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rect(x: Range<usize>, y: Range<usize>) -> CellRect {
        CellRect { x, y }
    }

    #[test]
    fn buckets_group_by_cell_in_build_order() {
        // 3 x 2 cells; items 0..6 in cells 4, 0, 4, 2, 0, 5.
        let cells = [4, 0, 4, 2, 0, 5];
        let mut b = CellBuckets::default();
        b.build(3, 2, cells.len(), |i| cells[i], |i| i as u32 * 10);
        assert_eq!(b.items(), &[10, 40, 30, 0, 20, 50]);
        assert_eq!(b.cell(0), &[10, 40]);
        assert_eq!(b.cell(1), &[] as &[u32]);
        assert_eq!(b.cell(4), &[0, 20]);
        assert_eq!(b.run(0, 0..3), &[10, 40, 30]);
        assert_eq!(b.run(0, 1..3), &[30]);
        assert_eq!(b.run(1, 1..3), &[0, 20, 50]);
        assert_eq!(b.run(1, 2..2), &[] as &[u32]);
        assert_eq!(b.starts(), &[0, 2, 2, 3, 3, 5, 6]);
        b.cell_mut(4)[1] = 7;
        assert_eq!(b.run(1, 0..3), &[0, 7, 50]);
        // A rebuild reuses the memory and forgets the old contents.
        b.build(1, 1, 2, |_| 0, |i| i as u32);
        assert_eq!(b.cell(0), &[0, 1]);
    }

    /// Few items on many cells (the sorted layout) and many (the counting sort) answer
    /// every lookup as the definition does: a cell's items in build order.
    #[test]
    fn both_layouts_group_by_cell_in_build_order() {
        let (cols, rows) = (20, 20);
        for n in [0, 1, 3, 24, 25, 100, 900] {
            let cells: Vec<usize> = (0..n)
                .map(|i| (i * 7919 + i / 3) % 400 / (1 + i % 3))
                .collect();
            let mut b = CellBuckets::default();
            b.build(cols, rows, n, |i| cells[i], |i| i as u32);
            let of = |c: usize| -> Vec<u32> {
                (0..n)
                    .filter(|&i| cells[i] == c)
                    .map(|i| i as u32)
                    .collect()
            };
            for c in 0..cols * rows {
                assert_eq!(b.cell(c), of(c).as_slice(), "n {n} cell {c}");
            }
            for y in 0..rows {
                for xs in [0..cols, 3..9, 5..5, 19..20] {
                    let want: Vec<u32> = xs.clone().flat_map(|x| of(y * cols + x)).collect();
                    assert_eq!(b.run(y, xs), want.as_slice());
                }
            }
            if n > 0 {
                let c = cells[n - 1];
                b.cell_mut(c)[0] = 9999;
                assert_eq!(b.cell(c)[0], 9999);
            }
        }
    }

    #[test]
    fn between_includes_both_ends_and_empties_inverted_axes() {
        assert_eq!(CellRect::between((2, 0), (4, 1)), rect(2..5, 0..2));
        assert_eq!(CellRect::between((3, 3), (3, 3)), rect(3..4, 3..4));
        assert_eq!(CellRect::between((0, 0), (-1, -1)), rect(0..0, 0..0));
        assert_eq!(CellRect::between((5, 1), (4, 2)), rect(0..0, 1..3));
    }

    #[test]
    fn meet_cuts_each_axis() {
        let a = rect(2..6, 1..4);
        assert_eq!(a.meet(&rect(4..9, 0..2)), rect(4..6, 1..2));
        assert_eq!(a.meet(&a), a);
        // Touching is not meeting: half-open.
        assert_eq!(a.meet(&rect(6..8, 1..4)), rect(0..0, 1..4));
        assert_eq!(a.meet(&CellRect::default()), rect(0..0, 0..0));
    }

    #[test]
    fn holds_is_half_open() {
        let a = rect(2..4, 1..3);
        assert!(a.holds((2, 1)) && a.holds((3, 2)));
        assert!(!a.holds((4, 1)) && !a.holds((2, 3)) && !a.holds((1, 1)));
        assert!(!CellRect::default().holds((0, 0)));
    }

    #[test]
    fn row_minus_leaves_the_cells_outside_the_other() {
        let view = rect(2..8, 0..5);
        // Overlapping in the middle: a left and a right part.
        assert_eq!(view.row_minus(&rect(4..6, 0..5), 1), (2..4, 6..8));
        // Overlapping one side.
        assert_eq!(view.row_minus(&rect(0..5, 0..5), 1), (2..2, 5..8));
        assert_eq!(view.row_minus(&rect(5..20, 0..5), 1), (2..5, 8..8));
        // Covering the row: nothing.
        let (l, r) = view.row_minus(&rect(0..9, 0..5), 1);
        assert!(l.is_empty() && r.is_empty(), "{l:?} {r:?}");
        // Disjoint columns, the other's row missing, or the other empty: the whole row.
        for other in [rect(10..12, 0..5), rect(0..1, 0..5), rect(2..8, 3..5)] {
            let (l, r) = view.row_minus(&other, 1);
            assert_eq!(l.chain(r).collect::<Vec<_>>(), (2..8).collect::<Vec<_>>());
        }
        let (l, r) = view.row_minus(&CellRect::default(), 1);
        assert_eq!((l, r), (2..8, 8..8));
        // A row outside this rectangle: nothing.
        assert_eq!(view.row_minus(&rect(4..6, 0..9), 7), (0..0, 0..0));
    }
}
