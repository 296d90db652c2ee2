//! Simulation time: the tick counter and the one tick rate everything agrees on.

use bincode::{Decode, Encode};

/// Default simulation rate in ticks per second; the server may configure another rate and
/// tells every client the one in force in [`crate::SimConfig::tick_hz`].
pub const DEFAULT_TICK_HZ: u16 = 30;

/// A simulation tick number. It wraps after `u32::MAX` (4.5 years at 30 Hz), so it is
/// compared with [`Tick::is_after`] and [`Tick::since`], never with `<` on the raw value.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    Encode,
    Decode,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Tick(pub u32);

impl Tick {
    /// The tick after this one.
    #[must_use]
    pub fn next(self) -> Tick {
        Tick(self.0.wrapping_add(1))
    }

    /// This tick moved `n` ticks forward (wrapping).
    #[must_use]
    pub fn plus(self, n: u32) -> Tick {
        Tick(self.0.wrapping_add(n))
    }

    /// This tick moved `n` ticks back (wrapping).
    #[must_use]
    pub fn minus(self, n: u32) -> Tick {
        Tick(self.0.wrapping_sub(n))
    }

    /// How many ticks `self` is after `earlier`; wraps when `earlier` is in fact later,
    /// so callers check [`Tick::is_after`] first where that can happen.
    #[must_use]
    pub fn since(self, earlier: Tick) -> u32 {
        self.0.wrapping_sub(earlier.0)
    }

    /// Whether `self` comes strictly after `other`, in wrapping order (within 2^31 ticks).
    #[must_use]
    pub fn is_after(self, other: Tick) -> bool {
        (self.0.wrapping_sub(other.0) as i32) > 0
    }
}

impl std::fmt::Display for Tick {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_survives_wrapping() {
        let a = Tick(u32::MAX - 1);
        let b = a.plus(3);
        assert_eq!(b, Tick(1));
        assert!(b.is_after(a));
        assert!(!a.is_after(b));
        assert_eq!(b.since(a), 3);
        assert!(!a.is_after(a));
    }
}
