//! The player kind: a connected player's avatar, its state and its replicated view.

use glam::Vec2;
use serde::{Deserialize, Serialize};

use super::{aim_to_net, dir_from_net, dir_to_net, Kind, Name, QVec2, View};
use crate::input::PlayerInput;
use crate::sim::movement::{advance, Abilities, Motion};
use crate::tick::Tick;

/// A player's authoritative state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Player {
    /// Display name (shared with its replicated view: copying it is a reference count).
    pub name: Name,
    /// Hit points; 0 while dead.
    pub hp: u8,
    /// Kills scored.
    pub kills: u16,
    /// Deaths suffered.
    pub deaths: u16,
    /// While dead: the tick of the respawn.
    pub respawn_at: Option<Tick>,
    /// First tick at which the player may fire again.
    pub next_fire: Tick,
    /// Movement ability timers (its [`Motion`] is these and the entity's position).
    pub abilities: Abilities,
    /// The input in force (the last one received; repeated while none arrives).
    pub input: PlayerInput,
    /// Its connection was lost and the server holds the player for a reconnection: it
    /// stands still and fires nothing until it resumes (or the grace ends and it leaves).
    pub disconnected: bool,
}

impl Player {
    /// Whether the player is alive (can move, fire and be hit).
    #[must_use]
    pub fn alive(&self) -> bool {
        self.respawn_at.is_none()
    }
}

impl Kind for Player {
    type Net = PlayerNet;

    fn to_net(&self, pos: Vec2) -> PlayerNet {
        PlayerNet {
            pos: QVec2::from_vec2(pos),
            aim: aim_to_net(self.input.aim),
            dir: dir_to_net(self.input.move_dir),
            hp: self.hp,
            kills: self.kills,
            deaths: self.deaths,
            respawn_at: self.respawn_at,
            name: self.name.clone(),
            disconnected: self.disconnected,
            abilities: self.abilities,
        }
    }
}

crate::replicated! {
    /// What clients see of a player.
    pub struct PlayerNet {
        /// Centre.
        pub pos: QVec2,
        /// Aim angle for display, in 1/256 turns ([`aim_to_net`], [`net_aim_to_radians`]);
        /// the simulation fires along the input's finer aim.
        pub aim: u8,
        /// The movement direction in force, in `1 / DIR_SCALE` units (exactly the
        /// simulation's input, see [`crate::input::PlayerInput::from_wire`]): lets clients
        /// extrapolate the position, so a player moving steadily costs no bytes.
        pub dir: [i8; 2],
        /// Hit points.
        pub hp: u8,
        /// Kills scored.
        pub kills: u16,
        /// Deaths suffered.
        pub deaths: u16,
        /// While dead: the respawn tick.
        pub respawn_at: Option<Tick>,
        /// Display name: shared, not copied, from tick to tick (and compared by pointer
        /// first in every diff, see [`Name`]).
        pub name: Name,
        /// Connection lost, waiting for the player to resume (drawn faded).
        pub disconnected: bool,
        /// Movement ability timers, as the server's step left them: the client reconciles
        /// its prediction with them ([`PlayerNet::motion`]).
        pub abilities: Abilities,
    }
}

impl PlayerNet {
    /// Mask bit of `pos` (the first field).
    pub const POS_BIT: u32 = 1;

    /// The player's motion state as the server had it at this view's tick: what the
    /// client's prediction starts again from.
    #[must_use]
    pub fn motion(&self) -> Motion {
        Motion {
            pos: self.pos.to_vec2(),
            abilities: self.abilities,
        }
    }
}

impl View for PlayerNet {
    fn position_at(&self, _tick: Tick, _dt: f32) -> Vec2 {
        self.pos.to_vec2()
    }

    fn carried_field(&self) -> Option<QVec2> {
        Some(self.pos)
    }

    fn carried_field_mut(&mut self) -> Option<&mut QVec2> {
        Some(&mut self.pos)
    }

    /// A living player keeps its direction: the simulation's own [`advance`] with no
    /// button pressed, so a dash under way is carried too (its timers are absolute ticks).
    fn carry_from(
        &self,
        from: QVec2,
        at: Tick,
        ticks: u32,
        config: &crate::SimConfig,
        map: &crate::Map,
    ) -> Option<QVec2> {
        if self.respawn_at.is_some() || self.dir == [0, 0] || ticks == 0 {
            return None;
        }
        let input = PlayerInput {
            move_dir: dir_from_net(self.dir),
            ..PlayerInput::default()
        };
        let mut m = Motion {
            pos: from.to_vec2(),
            abilities: self.abilities,
        };
        for i in 0..ticks {
            m = advance(&m, &input, at.plus(i), config, map);
        }
        Some(QVec2::from_vec2(m.pos))
    }
}
