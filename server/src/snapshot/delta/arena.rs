//! The bytes encoded in a tick, and the spans that name them.

/// Where bytes are in the [`Arena`]: `start..end` (4 bytes each side, not a `Range<usize>`:
/// tables of spans are per cell).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Span {
    start: u32,
    end: u32,
}

impl Span {
    /// Bytes `start..end` of the arena.
    pub(super) fn new(start: u32, end: u32) -> Span {
        debug_assert!(start <= end);
        Span { start, end }
    }

    /// Its first byte.
    pub(super) fn start(self) -> u32 {
        self.start
    }

    /// Past its last byte.
    pub(super) fn end(self) -> u32 {
        self.end
    }

    /// Whether it holds no bytes (an empty chunk, left out of bodies).
    pub(super) fn is_empty(self) -> bool {
        self.start == self.end
    }

    /// Grows it by `next` when `next`'s bytes follow its own (then one copy moves both).
    pub(super) fn extend(&mut self, next: Span) -> bool {
        let follows = self.end == next.start;
        if follows {
            self.end = next.end;
        }
        follows
    }
}

/// A run of chunks back to back in the arena: their bytes, and how many non-empty chunks
/// they are (what they add to a body's chunk count).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Run {
    pub(super) bytes: Span,
    pub(super) chunks: u32,
}

impl Run {
    /// One chunk (none when it is empty).
    pub(super) fn one(bytes: Span) -> Run {
        Run {
            bytes,
            chunks: u32::from(!bytes.is_empty()),
        }
    }
}

/// Every chunk, entry and event list encoded this tick, back to back; cleared each tick,
/// its memory kept.
#[derive(Default)]
pub(super) struct Arena(Vec<u8>);

impl Arena {
    /// Forgets every span.
    pub(super) fn clear(&mut self) {
        self.0.clear();
    }

    /// Where the next bytes go.
    pub(super) fn end(&self) -> u32 {
        self.0.len() as u32
    }

    /// Appends what `write` appends to its buffer; their span.
    pub(super) fn write(&mut self, write: impl FnOnce(&mut Vec<u8>)) -> Span {
        let start = self.end();
        write(&mut self.0);
        Span::new(start, self.end())
    }

    /// The bytes of `span`.
    pub(super) fn bytes(&self, span: Span) -> &[u8] {
        &self.0[span.start as usize..span.end as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_lie_back_to_back() {
        let mut arena = Arena::default();
        let a = arena.write(|out| out.extend_from_slice(b"abc"));
        let none = arena.write(|_| {});
        let b = arena.write(|out| out.push(b'd'));
        assert_eq!(
            (a, none, b),
            (Span::new(0, 3), Span::new(3, 3), Span::new(3, 4))
        );
        assert_eq!(arena.bytes(a), b"abc");
        assert_eq!(arena.bytes(b), b"d");
        assert!(none.is_empty() && !a.is_empty());
        assert_eq!(
            Run::one(none),
            Run {
                bytes: none,
                chunks: 0
            }
        );
        assert_eq!(Run::one(a).chunks, 1);
        arena.clear();
        assert_eq!(arena.write(|out| out.push(1)), Span::new(0, 1));
    }

    #[test]
    fn spans_extend_only_by_what_follows() {
        let mut s = Span::new(2, 5);
        assert!(s.extend(Span::new(5, 9)));
        assert_eq!(s, Span::new(2, 9));
        assert!(!s.extend(Span::new(10, 12)));
        assert!(!s.extend(Span::new(0, 2)));
        assert_eq!(s, Span::new(2, 9));
    }
}
