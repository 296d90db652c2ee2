//! Interest management: each player receives only the entities in its view (a rectangle
//! around its own player, plus a margin), snapped outward to a grid of cells. Snapping makes
//! the view a pure function of the player's position at a tick, so the server can recompute
//! the view a client had at its baseline tick, and lets players in the same cells share one
//! encoded body.

use glam::Vec2;
use tickwire_shared::cells::{CellBuckets, CellRect};
use tickwire_shared::num::floor_i32;
use tickwire_shared::{NetEntity, NetId, Tick};

/// Side of an interest cell, world units.
pub const CELL: f32 = 256.0;

/// Which entities a view covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ViewKey {
    /// Everything (interest management off).
    All,
    /// The entities in cells `x0..=x1` x `y0..=y1` (empty when `x1 < x0`): a key names its
    /// first and last cells; [`StateIndex::rect`] turns it into half-open ranges
    /// ([`tickwire_shared::cells`]).
    Cells {
        /// First column.
        x0: i32,
        /// First row.
        y0: i32,
        /// Last column.
        x1: i32,
        /// Last row.
        y1: i32,
    },
}

/// The interest policy of a room.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Interest {
    /// Half the view size plus the margin; `None`: everyone sees everything.
    half: Option<Vec2>,
}

impl Interest {
    /// Everyone sees everything.
    #[must_use]
    pub fn everything() -> Interest {
        Interest { half: None }
    }

    /// Views of `width` x `height` plus `margin` on every side.
    #[must_use]
    pub fn view(width: f32, height: f32, margin: f32) -> Interest {
        Interest {
            half: Some(Vec2::new(width / 2.0 + margin, height / 2.0 + margin)),
        }
    }

    /// Whether views are limited.
    #[must_use]
    pub fn enabled(&self) -> bool {
        self.half.is_some()
    }

    /// The view of a player whose avatar is at `center` (`None`: not in the state; sees
    /// nothing).
    #[must_use]
    pub fn key(&self, center: Option<Vec2>) -> ViewKey {
        let Some(half) = self.half else {
            return ViewKey::All;
        };
        let Some(c) = center else {
            return ViewKey::Cells {
                x0: 0,
                y0: 0,
                x1: -1,
                y1: -1,
            };
        };
        let cell = |v: f32| floor_i32(v / CELL);
        ViewKey::Cells {
            x0: cell(c.x - half.x),
            y0: cell(c.y - half.y),
            x1: cell(c.x + half.x),
            y1: cell(c.y + half.y),
        }
    }
}

/// A state's entities bucketed by cell, built once per tick when interest is on.
#[derive(Debug, Default)]
pub struct StateIndex {
    cols: i32,
    rows: i32,
    /// Indices into the state, by cell (ascending in a cell, so in id order).
    cells: CellBuckets<u32>,
    /// Per state entry: its cell.
    owner: Vec<u32>,
}

impl StateIndex {
    /// Indexes `state` (at `tick`, ticks of `dt` seconds) over a map of `width` x `height`;
    /// positions outside the map count in the border cells.
    #[must_use]
    pub fn build(
        state: &[(NetId, NetEntity)],
        tick: Tick,
        dt: f32,
        width: f32,
        height: f32,
    ) -> StateIndex {
        let cols = ((width / CELL).ceil() as i32).max(1);
        let rows = ((height / CELL).ceil() as i32).max(1);
        let cell_of = |e: &NetEntity| {
            let p = e.position_at(tick, dt);
            let cx = floor_i32(p.x / CELL).clamp(0, cols - 1);
            let cy = floor_i32(p.y / CELL).clamp(0, rows - 1);
            (cy * cols + cx) as u32
        };
        let owner: Vec<u32> = state.iter().map(|(_, e)| cell_of(e)).collect();
        let mut cells = CellBuckets::default();
        cells.build(
            cols as usize,
            rows as usize,
            owner.len(),
            |i| owner[i] as usize,
            |i| i as u32,
        );
        StateIndex {
            cols,
            rows,
            cells,
            owner,
        }
    }

    /// The cell of state entry `i`.
    #[must_use]
    pub fn cell_of(&self, i: usize) -> usize {
        self.owner[i] as usize
    }

    /// Columns and rows of cells.
    #[must_use]
    pub fn size(&self) -> (i32, i32) {
        (self.cols, self.rows)
    }

    /// The cells of `key` that lie on the map (empty for an empty key; every cell for
    /// [`ViewKey::All`]).
    #[must_use]
    pub fn rect(&self, key: ViewKey) -> CellRect {
        match key {
            ViewKey::All => CellRect::between((0, 0), (self.cols - 1, self.rows - 1)),
            ViewKey::Cells { x0, y0, x1, y1 } => CellRect::between(
                (x0.max(0), y0.max(0)),
                (x1.min(self.cols - 1), y1.min(self.rows - 1)),
            ),
        }
    }

    /// The entities of cell `c` (row-major): indices into the state, ascending (so in id
    /// order).
    #[must_use]
    pub fn cell(&self, c: usize) -> &[u32] {
        self.cells.cell(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_snap_outward_to_cells() {
        let i = Interest::view(1600.0, 900.0, 200.0);
        let k = i.key(Some(Vec2::new(2000.0, 2000.0)));
        // half = (1000, 650): x from 1000 to 3000, y from 1350 to 2650.
        assert_eq!(
            k,
            ViewKey::Cells {
                x0: 3,
                y0: 5,
                x1: 11,
                y1: 10
            }
        );
        assert_eq!(Interest::everything().key(None), ViewKey::All);
    }

    #[test]
    fn rects_are_the_key_cells_on_the_map_half_open() {
        // 1000 x 600 world units: 4 x 3 cells.
        let index = StateIndex::build(&[], Tick(0), 1.0 / 30.0, 1000.0, 600.0);
        assert_eq!(index.size(), (4, 3));
        let rect = |x0, y0, x1, y1| index.rect(ViewKey::Cells { x0, y0, x1, y1 });
        let cells = |x: std::ops::Range<usize>, y: std::ops::Range<usize>| CellRect { x, y };
        assert_eq!(index.rect(ViewKey::All), cells(0..4, 0..3));
        assert_eq!(rect(1, 1, 2, 1), cells(1..3, 1..2));
        // Clamped to the map on every side.
        assert_eq!(rect(-3, -1, 9, 7), cells(0..4, 0..3));
        assert_eq!(rect(3, 2, 5, 5), cells(3..4, 2..3));
        // Off the map, or the empty key of a player not in the state: nothing.
        assert_eq!(rect(5, 0, 8, 2), cells(0..0, 0..3));
        assert_eq!(
            Interest::view(1.0, 1.0, 0.0).key(None),
            ViewKey::Cells {
                x0: 0,
                y0: 0,
                x1: -1,
                y1: -1
            }
        );
        assert_eq!(rect(0, 0, -1, -1), CellRect::default());
    }
}
