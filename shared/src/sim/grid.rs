//! A uniform grid over the map for neighbour queries (player separation, projectile hits).
//! Rebuilt every tick by counting sort: no per-cell allocation, memory reused across ticks.

use glam::Vec2;

use crate::cells::{CellBuckets, CellRect};
use crate::entity::EntityId;

/// Bucketed positions for radius queries.
#[derive(Clone, Debug, Default)]
pub struct SpatialGrid {
    cell: f32,
    cols: usize,
    rows: usize,
    cells: CellBuckets<(EntityId, Vec2)>,
    /// The items of a rebuild with their cells, before they are bucketed.
    scratch: Vec<(usize, EntityId, Vec2)>,
}

impl SpatialGrid {
    /// A grid with square cells of side `cell` (> 0).
    #[must_use]
    pub fn new(cell: f32) -> SpatialGrid {
        SpatialGrid {
            cell: cell.max(1.0),
            ..SpatialGrid::default()
        }
    }

    fn cell_of(&self, p: Vec2) -> (usize, usize) {
        // No `floor`: above zero the cast truncates, which is the floor; below, 0 anyway.
        let cx = p.x / self.cell;
        let cy = p.y / self.cell;
        let clamp = |v: f32, n: usize| {
            if v.is_finite() && v > 0.0 {
                (v as usize).min(n - 1)
            } else {
                0
            }
        };
        (clamp(cx, self.cols), clamp(cy, self.rows))
    }

    /// Replaces the contents with `items`, for a map of `width` x `height`.
    pub fn rebuild(
        &mut self,
        width: f32,
        height: f32,
        items: impl Iterator<Item = (EntityId, Vec2)>,
    ) {
        self.cols = ((width / self.cell).ceil() as usize).clamp(1, 4096);
        self.rows = ((height / self.cell).ceil() as usize).clamp(1, 4096);
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        scratch.extend(items.map(|(id, p)| {
            let (cx, cy) = self.cell_of(p);
            (cy * self.cols + cx, id, p)
        }));
        self.cells.build(
            self.cols,
            self.rows,
            scratch.len(),
            |i| scratch[i].0,
            |i| (scratch[i].1, scratch[i].2),
        );
        self.scratch = scratch;
    }

    /// Every item, cell by cell (rows of cells top to bottom, each left to right), in
    /// insertion order within a cell.
    #[must_use]
    pub fn items(&self) -> &[(EntityId, Vec2)] {
        self.cells.items()
    }

    /// Moves item `id` from `from` to `to` in place when both lie in the same cell (then
    /// the grid is exactly what a rebuild would make: items keep their order in a cell);
    /// `false` when the cell changes (or `id` is not at `from`): rebuild instead.
    pub fn move_within_cell(&mut self, id: EntityId, from: Vec2, to: Vec2) -> bool {
        if self.cols == 0 || self.cell_of(from) != self.cell_of(to) {
            return false;
        }
        let (cx, cy) = self.cell_of(from);
        let c = cy * self.cols + cx;
        match self
            .cells
            .cell_mut(c)
            .iter_mut()
            .find(|(i, p)| *i == id && *p == from)
        {
            Some(item) => {
                item.1 = to;
                true
            }
            None => false,
        }
    }

    /// Calls `f` for every item whose position is within `radius` of `center`, in a
    /// deterministic order (cell by cell, insertion order within a cell).
    pub fn query(&self, center: Vec2, radius: f32, mut f: impl FnMut(EntityId, Vec2)) {
        if self.cols == 0 {
            return;
        }
        let (x0, y0) = self.cell_of(center - Vec2::splat(radius));
        let (x1, y1) = self.cell_of(center + Vec2::splat(radius));
        // (A negative radius finds nothing.)
        let near = CellRect {
            x: x0..(x1 + 1).max(x0),
            y: y0..(y1 + 1).max(y0),
        };
        let r2 = radius * radius;
        // Row by row, each row's cells one run.
        for cy in near.y {
            for &(id, p) in self.cells.run(cy, near.x.clone()) {
                if p.distance_squared(center) <= r2 {
                    f(id, p);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use slotmap::SlotMap;

    use super::*;

    /// A move inside a cell leaves the grid exactly as a rebuild after the move makes it;
    /// a move across cells is refused.
    #[test]
    fn moves_within_a_cell_equal_a_rebuild() {
        let mut ids: SlotMap<EntityId, ()> = SlotMap::with_key();
        let mut items: Vec<(EntityId, Vec2)> = (0..200)
            .map(|i| {
                let p = Vec2::new((i * 37 % 400) as f32 + 0.5, (i * 91 % 300) as f32 + 0.5);
                (ids.insert(()), p)
            })
            .collect();
        let mut grid = SpatialGrid::new(40.0);
        grid.rebuild(400.0, 300.0, items.iter().copied());
        let mut refused = 0;
        for (k, item) in items.iter_mut().enumerate() {
            let to = item.1 + Vec2::new((k % 7) as f32 - 3.0, (k % 5) as f32 - 2.0);
            if grid.move_within_cell(item.0, item.1, to) {
                item.1 = to;
            } else {
                refused += 1;
                assert_ne!(
                    grid.cell_of(item.1),
                    grid.cell_of(to),
                    "refused only across cells"
                );
            }
        }
        assert!(
            refused > 0 && refused < items.len(),
            "both cases occur: {refused}"
        );
        let mut fresh = SpatialGrid::new(40.0);
        fresh.rebuild(400.0, 300.0, items.iter().copied());
        assert_eq!(grid.cells.starts(), fresh.cells.starts());
        assert_eq!(grid.items(), fresh.items());
        // Not where it says it is: refused.
        let (id, at) = items[0];
        assert!(!grid.move_within_cell(id, at + Vec2::splat(0.25), at));
    }
}
