//! [`SimConfig`]: every gameplay constant in one place, sent to clients at join so that
//! prediction runs with exactly the server's numbers.

use bincode::{Decode, Encode};

use crate::tick::DEFAULT_TICK_HZ;

/// Gameplay constants. The server owns the values in force and sends them in
/// [`crate::protocol::Welcome`]; clients never hard-code them.
#[derive(Clone, Debug, PartialEq, Encode, Decode, serde::Serialize, serde::Deserialize)]
pub struct SimConfig {
    /// Simulation ticks per second.
    pub tick_hz: u16,
    /// Player circle radius, world units.
    pub player_radius: f32,
    /// Player speed at full stick, units per second.
    pub player_speed: f32,
    /// Hit points a player (re)spawns with.
    pub max_hp: u8,
    /// Projectile speed, units per second.
    pub projectile_speed: f32,
    /// Projectile radius, world units (for hits).
    pub projectile_radius: f32,
    /// Projectile lifetime, seconds.
    pub projectile_lifetime_s: f32,
    /// Minimum time between two shots of one player, seconds.
    pub fire_cooldown_s: f32,
    /// Hit points one projectile takes.
    pub projectile_damage: u8,
    /// Time between death and respawn, seconds.
    pub respawn_delay_s: f32,
    /// Hit points a health pickup restores (up to `max_hp`).
    pub pickup_heal: u8,
    /// Radius of a health pickup, world units.
    pub pickup_radius: f32,
    /// Time a taken pickup stays away before it comes back, seconds.
    pub pickup_respawn_s: f32,
    /// Speed during a dash, units per second.
    pub dash_speed: f32,
    /// How long a dash lasts, seconds.
    pub dash_s: f32,
    /// Time from the start of a dash to the next one, seconds.
    pub dash_cooldown_s: f32,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            tick_hz: DEFAULT_TICK_HZ,
            player_radius: 20.0,
            player_speed: 200.0,
            max_hp: 100,
            projectile_speed: 600.0,
            projectile_radius: 4.0,
            projectile_lifetime_s: 1.5,
            fire_cooldown_s: 0.25,
            projectile_damage: 25,
            respawn_delay_s: 2.0,
            pickup_heal: 50,
            pickup_radius: 16.0,
            pickup_respawn_s: 10.0,
            dash_speed: 600.0,
            dash_s: 0.2,
            dash_cooldown_s: 1.5,
        }
    }
}

impl SimConfig {
    /// Seconds per tick.
    #[must_use]
    pub fn dt(&self) -> f32 {
        1.0 / f32::from(self.tick_hz.max(1))
    }

    /// A duration in seconds as a whole number of ticks (rounded, at least 1).
    #[must_use]
    pub fn ticks(&self, seconds: f32) -> u32 {
        let t = (seconds * f32::from(self.tick_hz)).round();
        if t.is_finite() && t >= 1.0 {
            t as u32
        } else {
            1
        }
    }
}
