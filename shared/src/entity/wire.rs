//! The values entities are made of on the wire: network ids, shared names, positions on the
//! quantised grid, movement directions and aims in their compact forms.

use std::sync::Arc;

use bincode::{Decode, Encode};
use glam::Vec2;

use crate::input::DIR_SCALE;

/// The network identity of an entity: identical on server and clients, and not reused until
/// 2^32 entities later (far longer than any baseline or client state lives).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Encode,
    Decode,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct NetId(pub u32);

/// A display name shared by reference: the world and every replicated view of a player hold
/// the same allocation, so copying it is a reference count and comparing two copies of it
/// (every diff of every player, every tick) is a pointer compare. On the wire it is a
/// string.
#[derive(Clone, Debug, Default, Eq)]
pub struct Name(Arc<str>);

impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || *self.0 == *other.0
    }
}

impl std::ops::Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Name {
    fn from(s: &str) -> Name {
        Name(s.into())
    }
}

impl From<String> for Name {
    fn from(s: String) -> Name {
        Name(s.into())
    }
}

impl Encode for Name {
    fn encode<E: bincode::enc::Encoder>(
        &self,
        encoder: &mut E,
    ) -> Result<(), bincode::error::EncodeError> {
        self.0.encode(encoder)
    }
}

impl<Ctx> Decode<Ctx> for Name {
    fn decode<D: bincode::de::Decoder<Context = Ctx>>(
        decoder: &mut D,
    ) -> Result<Name, bincode::error::DecodeError> {
        Ok(Name(Arc::<str>::decode(decoder)?))
    }
}

bincode::impl_borrow_decode!(Name);

impl serde::Serialize for Name {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Name {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Name, D::Error> {
        Ok(Name::from(String::deserialize(d)?))
    }
}

/// Positions on the wire and in the world are multiples of `1 / POS_SCALE` units: the
/// simulation rounds to this grid at the end of every tick, so the replicated view is exact.
pub const POS_SCALE: f32 = 8.0;

/// A position or velocity quantised to `1 / POS_SCALE` units.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Encode, Decode)]
pub struct QVec2 {
    /// x in `1 / POS_SCALE` units.
    pub x: i32,
    /// y in `1 / POS_SCALE` units.
    pub y: i32,
}

impl QVec2 {
    /// Quantises `v` (non-finite components become 0).
    #[must_use]
    pub fn from_vec2(v: Vec2) -> QVec2 {
        let q = |f: f32| {
            let s = f * POS_SCALE;
            if s.is_finite() {
                crate::num::round_i32(s)
            } else {
                0
            }
        };
        QVec2 {
            x: q(v.x),
            y: q(v.y),
        }
    }

    /// Back to world units.
    #[must_use]
    pub fn to_vec2(self) -> Vec2 {
        Vec2::new(self.x as f32 / POS_SCALE, self.y as f32 / POS_SCALE)
    }
}

/// Rounds `v` to the position grid.
#[must_use]
pub fn quantize(v: Vec2) -> Vec2 {
    QVec2::from_vec2(v).to_vec2()
}

/// A movement direction (components multiples of `1 / DIR_SCALE` in [-1, 1]) on the wire.
#[must_use]
pub fn dir_to_net(d: Vec2) -> [i8; 2] {
    let q = |f: f32| {
        let s = DIR_SCALE as i32;
        crate::num::round_i32(f * DIR_SCALE).clamp(-s, s) as i8
    };
    [q(d.x), q(d.y)]
}

/// A wire movement direction back to the simulation's value (exact).
#[must_use]
pub fn dir_from_net(d: [i8; 2]) -> Vec2 {
    Vec2::new(f32::from(d[0]) / DIR_SCALE, f32::from(d[1]) / DIR_SCALE)
}

/// An input aim (1/65536 turns) for display on the wire: 1/256 turns, rounded.
#[must_use]
pub fn aim_to_net(aim: u16) -> u8 {
    ((u32::from(aim) + 128) >> 8) as u8
}

/// A wire aim (1/256 turns) in radians.
#[must_use]
pub fn net_aim_to_radians(aim: u8) -> f32 {
    f32::from(aim) * (std::f32::consts::TAU / 256.0)
}
