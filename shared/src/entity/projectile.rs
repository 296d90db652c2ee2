//! The projectile kind: a shot in flight.

use glam::Vec2;
use serde::{Deserialize, Serialize};

use super::{EntityId, Kind, NetId, QVec2, View};
use crate::tick::Tick;

/// A projectile. Its position is a pure function of the tick (`origin + vel * age`), so
/// clients compute it exactly and its view never changes after the spawn.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Projectile {
    /// Who fired it (no damage to them).
    pub owner: NetId,
    /// The shooter's entity, to credit the kill (may be gone by then).
    pub shooter: EntityId,
    /// Where it was at `spawn_tick` (on the position grid).
    pub origin: Vec2,
    /// Velocity, units per second (on the position grid).
    pub vel: Vec2,
    /// The tick it was fired at.
    pub spawn_tick: Tick,
}

impl Projectile {
    /// Position at `tick`, given the tick length `dt`.
    #[must_use]
    pub fn position_at(&self, tick: Tick, dt: f32) -> Vec2 {
        let age = tick.since(self.spawn_tick) as f32;
        self.origin + self.vel * (age * dt)
    }
}

impl Kind for Projectile {
    type Net = ProjectileNet;

    fn to_net(&self, _pos: Vec2) -> ProjectileNet {
        ProjectileNet {
            origin: QVec2::from_vec2(self.origin),
            vel: QVec2::from_vec2(self.vel),
            spawn_tick: self.spawn_tick,
            owner: self.owner,
        }
    }
}

crate::replicated! {
    /// What clients see of a projectile: constant from spawn to removal.
    pub struct ProjectileNet {
        /// Position at `spawn_tick`.
        pub origin: QVec2,
        /// Velocity, units per second.
        pub vel: QVec2,
        /// Tick it was fired at.
        pub spawn_tick: Tick,
        /// Who fired it.
        pub owner: NetId,
    }
}

impl ProjectileNet {
    /// Position at `tick` (same formula as [`Projectile::position_at`]).
    #[must_use]
    pub fn position_at(&self, tick: Tick, dt: f32) -> Vec2 {
        let age = tick.since(self.spawn_tick) as f32;
        self.origin.to_vec2() + self.vel.to_vec2() * (age * dt)
    }
}

impl View for ProjectileNet {
    fn position_at(&self, tick: Tick, dt: f32) -> Vec2 {
        ProjectileNet::position_at(self, tick, dt)
    }
}
