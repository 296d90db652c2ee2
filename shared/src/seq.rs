//! Input sequence numbers: serial-number arithmetic (RFC 1982) on a `u32`, as [`Tick`] does,
//! so that a client whose numbers cross `u32::MAX` keeps playing.
//!
//! A sequence number is compared with [`is_after`] and [`applied`] and advanced with
//! [`next`], never with `<` or `+ 1` on the raw value. [`NONE`] (0) is never a real number:
//! [`next`] steps from `u32::MAX` to 1, so a snapshot's `last_input_seq` of 0 always means
//! "nothing applied yet", wherever the client's numbers started.
//!
//! [`Tick`]: crate::Tick

/// Not a sequence number: "no input applied yet" in a snapshot header.
pub const NONE: u32 = 0;

/// The number after `seq` (wrapping past `u32::MAX` to 1, never [`NONE`]).
#[must_use]
pub fn next(seq: u32) -> u32 {
    match seq.wrapping_add(1) {
        NONE => 1,
        n => n,
    }
}

/// Whether `a` comes strictly after `b` in wrapping order (within 2^31 numbers).
#[must_use]
pub fn is_after(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// Whether input `seq` is covered by a snapshot that reports `last` applied: `last` is a
/// real number and `seq` is not after it.
#[must_use]
pub fn applied(seq: u32, last: u32) -> bool {
    last != NONE && !is_after(seq, last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_and_steps_survive_the_wrap() {
        assert_eq!(next(7), 8);
        assert_eq!(next(u32::MAX), 1, "0 is skipped");
        assert!(is_after(1, u32::MAX));
        assert!(is_after(3, u32::MAX - 2));
        assert!(!is_after(u32::MAX, 1));
        assert!(!is_after(5, 5));
        assert!(applied(u32::MAX, 2));
        assert!(!applied(3, 2));
        assert!(!applied(u32::MAX - 3, NONE), "0 reports nothing applied");
        assert!(!applied(1, NONE));
    }
}
