//! The ids of a chunk list on the wire: strictly increasing, each written as the gap from
//! the id before it (the first in full). The one place that turns ids into gaps and back,
//! for the bincode encoder and decoder of [`super::SnapshotBody`] and for the lists a
//! server assembles from encoded entries ([`super::codec::write_id_list`]).

use crate::entity::NetId;

/// Refused: the list's ids do not strictly increase.
pub const NOT_INCREASING: &str = "snapshot ids not strictly increasing";

/// Refused: a gap leads past the largest id.
pub const OUT_OF_RANGE: &str = "snapshot id out of range";

/// Where a list is between its ids: the last id written or read.
#[derive(Clone, Copy, Debug, Default)]
pub struct IdGaps {
    prev: Option<u32>,
}

impl IdGaps {
    /// The gap to write for `id`, the next id of the list.
    ///
    /// # Errors
    /// [`NOT_INCREASING`] when `id` is not above the id before it.
    pub fn gap(&mut self, id: NetId) -> Result<u32, &'static str> {
        let gap = match self.prev {
            None => id.0,
            Some(p) if id.0 > p => id.0 - p,
            Some(_) => return Err(NOT_INCREASING),
        };
        self.prev = Some(id.0);
        Ok(gap)
    }

    /// The id that a read `gap` stands for.
    ///
    /// # Errors
    /// [`NOT_INCREASING`] for a zero gap after the first id, [`OUT_OF_RANGE`] past
    /// `u32::MAX`.
    pub fn id(&mut self, gap: u32) -> Result<NetId, &'static str> {
        let id = match self.prev {
            None => gap,
            Some(_) if gap == 0 => return Err(NOT_INCREASING),
            Some(p) => p.checked_add(gap).ok_or(OUT_OF_RANGE)?,
        };
        self.prev = Some(id);
        Ok(NetId(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_and_ids_round_trip() {
        let ids = [0, 1, 5, 300, 301, u32::MAX];
        let mut w = IdGaps::default();
        let gaps: Vec<u32> = ids.iter().map(|&i| w.gap(NetId(i)).unwrap()).collect();
        assert_eq!(gaps, [0, 1, 4, 295, 1, u32::MAX - 301]);
        let mut r = IdGaps::default();
        let back: Vec<u32> = gaps.iter().map(|&g| r.id(g).unwrap().0).collect();
        assert_eq!(back, ids);
    }

    #[test]
    fn refuses_what_does_not_increase() {
        let mut w = IdGaps::default();
        assert_eq!(w.gap(NetId(7)), Ok(7));
        assert_eq!(w.gap(NetId(7)), Err(NOT_INCREASING));
        assert_eq!(w.gap(NetId(3)), Err(NOT_INCREASING));
        let mut r = IdGaps::default();
        assert_eq!(r.id(0), Ok(NetId(0)));
        assert_eq!(r.id(0), Err(NOT_INCREASING));
        assert_eq!(r.id(u32::MAX), Ok(NetId(u32::MAX)));
        assert_eq!(r.id(1), Err(OUT_OF_RANGE));
    }
}
