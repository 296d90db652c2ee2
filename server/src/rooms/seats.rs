//! Seat tokens: a reservation of one seat in one room, signed by the server so that the
//! WebSocket join can prove it without asking anyone.
//!
//! ```text
//! token = base64url( room (6 bytes) | seat nonce (u64 BE) | expires (unix ms, u64 BE) )
//!         "." base64url( HMAC-SHA256(secret, those 22 bytes) )
//! ```
//!
//! The signature proves the server issued it; the expiry bounds how long a seat waits; the
//! nonce makes it single-use (the registry keeps each nonce until its seat is claimed or
//! has expired). Tokens never appear in logs.
//!
//! Resume tokens are signed the same way, over `"R" | room | resume key`: they need no
//! expiry, since the room itself holds a player for its reconnect grace only, and each
//! connection's welcome hands out a new key (the previous token stops working).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::hmac;

use tickwire_shared::protocol::{ResumeRefusal, SeatRefusal};

use super::id::RoomId;

const PAYLOAD_LEN: usize = RoomId::LEN + 8 + 8;
const RESUME_LEN: usize = 1 + RoomId::LEN + 8;

/// What a valid token says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seat {
    /// The room.
    pub room: RoomId,
    /// The reservation's nonce (single use).
    pub nonce: u64,
    /// When it expires, unix milliseconds.
    pub expires_ms: u64,
}

/// Signs and checks seat tokens with the process's (or cluster's) secret.
pub struct SeatSigner {
    key: hmac::Key,
}

impl std::fmt::Debug for SeatSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SeatSigner(..)")
    }
}

/// Now, unix milliseconds.
#[must_use]
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl SeatSigner {
    /// A signer with `secret` (`None`: 32 random bytes, valid for this process only).
    #[must_use]
    pub fn new(secret: Option<&str>) -> SeatSigner {
        let key = match secret {
            Some(s) => hmac::Key::new(hmac::HMAC_SHA256, s.as_bytes()),
            None => hmac::Key::generate(hmac::HMAC_SHA256, &ring::rand::SystemRandom::new())
                .expect("the system's random source works"),
        };
        SeatSigner { key }
    }

    /// The token for `seat`.
    #[must_use]
    pub fn sign(&self, seat: &Seat) -> String {
        let mut payload = [0u8; PAYLOAD_LEN];
        payload[..RoomId::LEN].copy_from_slice(seat.room.as_bytes());
        payload[RoomId::LEN..RoomId::LEN + 8].copy_from_slice(&seat.nonce.to_be_bytes());
        payload[RoomId::LEN + 8..].copy_from_slice(&seat.expires_ms.to_be_bytes());
        self.seal(&payload)
    }

    /// The resume token of the player with resume `key` in `room`.
    #[must_use]
    pub fn sign_resume(&self, room: RoomId, key: u64) -> String {
        let mut payload = [0u8; RESUME_LEN];
        payload[0] = b'R';
        payload[1..=RoomId::LEN].copy_from_slice(room.as_bytes());
        payload[1 + RoomId::LEN..].copy_from_slice(&key.to_be_bytes());
        self.seal(&payload)
    }

    /// The room and resume key of a resume token this server signed.
    ///
    /// # Errors
    /// [`ResumeRefusal::Invalid`] for anything else.
    pub fn verify_resume(&self, token: &str) -> Result<(RoomId, u64), ResumeRefusal> {
        let payload = self.open(token).ok_or(ResumeRefusal::Invalid)?;
        let payload: [u8; RESUME_LEN] = payload.try_into().map_err(|_| ResumeRefusal::Invalid)?;
        if payload[0] != b'R' {
            return Err(ResumeRefusal::Invalid);
        }
        let room = RoomId::from_bytes(&payload[1..=RoomId::LEN]).ok_or(ResumeRefusal::Invalid)?;
        let mut key = [0u8; 8];
        key.copy_from_slice(&payload[1 + RoomId::LEN..]);
        Ok((room, u64::from_be_bytes(key)))
    }

    /// `payload` with its signature, both base64url.
    fn seal(&self, payload: &[u8]) -> String {
        let tag = hmac::sign(&self.key, payload);
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(tag.as_ref())
        )
    }

    /// The payload of a token whose signature is this server's.
    fn open(&self, token: &str) -> Option<Vec<u8>> {
        let (payload, tag) = token.split_once('.')?;
        let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        hmac::verify(&self.key, &payload, &tag).ok()?;
        Some(payload)
    }

    /// The seat a token reserves, if this server signed it and it has not expired at
    /// `now_ms`. (Whether it was used already is the registry's to say.)
    ///
    /// # Errors
    /// [`SeatRefusal::Invalid`] or [`SeatRefusal::Expired`].
    pub fn verify(&self, token: &str, now_ms: u64) -> Result<Seat, SeatRefusal> {
        let payload = self.open(token).ok_or(SeatRefusal::Invalid)?;
        let payload: [u8; PAYLOAD_LEN] = payload.try_into().map_err(|_| SeatRefusal::Invalid)?;
        let room = RoomId::from_bytes(&payload[..RoomId::LEN]).ok_or(SeatRefusal::Invalid)?;
        let word = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&payload[at..at + 8]);
            u64::from_be_bytes(b)
        };
        let seat = Seat {
            room,
            nonce: word(RoomId::LEN),
            expires_ms: word(RoomId::LEN + 8),
        };
        if now_ms >= seat.expires_ms {
            return Err(SeatRefusal::Expired);
        }
        Ok(seat)
    }
}

/// `ttl` from now, unix milliseconds.
#[must_use]
pub fn expiry(ttl: Duration) -> u64 {
    unix_ms().saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seat() -> Seat {
        Seat {
            room: RoomId::parse("ACD347").expect("a valid id"),
            nonce: 7,
            expires_ms: 1_000,
        }
    }

    #[test]
    fn a_token_verifies_only_with_its_secret_and_before_its_expiry() {
        let signer = SeatSigner::new(Some("s3cret"));
        let token = signer.sign(&seat());
        assert_eq!(signer.verify(&token, 999), Ok(seat()));
        assert_eq!(signer.verify(&token, 1_000), Err(SeatRefusal::Expired));
        let other = SeatSigner::new(Some("another"));
        assert_eq!(other.verify(&token, 0), Err(SeatRefusal::Invalid));
        assert_eq!(
            SeatSigner::new(None).verify(&token, 0),
            Err(SeatRefusal::Invalid)
        );
    }

    #[test]
    fn resume_and_seat_tokens_do_not_stand_for_each_other() {
        let signer = SeatSigner::new(Some("s3cret"));
        let room = RoomId::parse("ACD347").expect("a valid id");
        let resume = signer.sign_resume(room, 42);
        assert_eq!(signer.verify_resume(&resume), Ok((room, 42)));
        assert_eq!(signer.verify(&resume, 0), Err(SeatRefusal::Invalid));
        assert_eq!(
            signer.verify_resume(&signer.sign(&seat())),
            Err(ResumeRefusal::Invalid)
        );
        assert_eq!(
            SeatSigner::new(Some("other")).verify_resume(&resume),
            Err(ResumeRefusal::Invalid)
        );
    }

    #[test]
    fn a_token_changed_anywhere_is_invalid() {
        let signer = SeatSigner::new(Some("s3cret"));
        let token = signer.sign(&seat());
        // A later expiry signed by nobody.
        let forged = signer
            .sign(&Seat {
                expires_ms: u64::MAX,
                ..seat()
            })
            .split_once('.')
            .map(|(p, _)| p.to_owned())
            .expect("two parts")
            + "."
            + token.split_once('.').expect("two parts").1;
        assert_eq!(signer.verify(&forged, 0), Err(SeatRefusal::Invalid));
        for bad in ["", ".", "abc", "a.b", &token[1..], &format!("{token}x")] {
            assert_eq!(signer.verify(bad, 0), Err(SeatRefusal::Invalid), "{bad:?}");
        }
    }
}
