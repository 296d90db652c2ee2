//! The pickup kind: a health pickup at a fixed map point.

use glam::Vec2;
use serde::{Deserialize, Serialize};

use super::{Kind, QVec2, View};
use crate::tick::Tick;

/// A health pickup: sits at a map point, heals the first hurt player who touches it, then
/// stays away for `pickup_respawn_s`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pickup {
    /// While taken: the tick it comes back.
    pub respawn_at: Option<Tick>,
}

impl Kind for Pickup {
    type Net = PickupNet;

    fn to_net(&self, pos: Vec2) -> PickupNet {
        PickupNet {
            pos: QVec2::from_vec2(pos),
            active: self.respawn_at.is_none(),
        }
    }
}

crate::replicated! {
    /// What clients see of a pickup.
    pub struct PickupNet {
        /// Where it sits.
        pub pos: QVec2,
        /// Whether it can be taken now.
        pub active: bool,
    }
}

impl View for PickupNet {
    fn position_at(&self, _tick: Tick, _dt: f32) -> Vec2 {
        self.pos.to_vec2()
    }
}
