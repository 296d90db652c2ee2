//! Room ids: six characters from an alphabet without look-alikes (no 0/O, 1/I/L, 5/S,
//! 8/B, 2/Z), readable aloud and typed without doubt, so they serve as invite codes.
//! Random: 25^6 = 244 million codes, so a private room is not found by guessing.

use std::fmt;

use ring::rand::{SecureRandom, SystemRandom};

/// The characters of a room id.
pub const ALPHABET: &[u8; 25] = b"34679ACDEFGHJKMNPQRTUVWXY";
/// Random bytes below this map evenly onto the alphabet (250 = 10 x 25).
const EVEN: u8 = 250;

/// A room's id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomId([u8; RoomId::LEN]);

impl RoomId {
    /// Characters in an id.
    pub const LEN: usize = 6;

    /// A random id.
    #[must_use]
    pub fn random(rng: &SystemRandom) -> RoomId {
        let mut id = [0u8; RoomId::LEN];
        let mut raw = [0u8; RoomId::LEN];
        rng.fill(&mut raw)
            .expect("the system's random source works");
        for (c, r) in id.iter_mut().zip(raw) {
            // 256 is not a multiple of 25: bytes from 250 up are drawn again.
            let mut r = r;
            while r >= EVEN {
                let mut b = [0u8; 1];
                rng.fill(&mut b).expect("the system's random source works");
                r = b[0];
            }
            *c = ALPHABET[usize::from(r) % ALPHABET.len()];
        }
        RoomId(id)
    }

    /// The id written in `text` (case-insensitive), if it is one.
    #[must_use]
    pub fn parse(text: &str) -> Option<RoomId> {
        let upper = text.trim().to_ascii_uppercase();
        RoomId::from_bytes(upper.as_bytes())
    }

    /// The id in these bytes, if they are one (upper case).
    #[must_use]
    pub fn from_bytes(b: &[u8]) -> Option<RoomId> {
        let id: [u8; RoomId::LEN] = b.try_into().ok()?;
        id.iter()
            .all(|c| ALPHABET.contains(c))
            .then_some(RoomId(id))
    }

    /// Its bytes (ASCII).
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Its text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("ids are ASCII")
    }
}

impl fmt::Display for RoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for RoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RoomId({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_six_unambiguous_characters_and_parse_back() {
        let rng = SystemRandom::new();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let id = RoomId::random(&rng);
            assert_eq!(id.as_str().len(), 6);
            assert!(
                id.as_str().bytes().all(|c| !b"0O1IL5S8B2Z".contains(&c)),
                "{id}"
            );
            assert_eq!(RoomId::parse(&id.as_str().to_lowercase()), Some(id));
            seen.insert(id);
        }
        assert!(seen.len() > 990, "random ids repeat: {}", seen.len());
        assert_eq!(RoomId::parse("ABC"), None);
        assert_eq!(RoomId::parse("AAAAA0"), None);
    }
}
