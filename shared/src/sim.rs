//! The deterministic simulation: [`step`] advances a [`World`] by one tick.
//!
//! Rules: no clock, no I/O, randomness only from [`World::rng`], iteration only in
//! deterministic orders (slot order, grid order), floats only through `+ - * /`, `sqrt` and
//! `libm` (identical on native and wasm32). Each rule lives in its own module; [`step`]
//! lists the phases in order, so a new rule is one module and one line here.

pub mod combat;
pub mod grid;
pub mod movement;
pub mod pickups;
pub mod rewind;
pub mod spawn;

use bincode::{Decode, Encode};

use crate::entity::{EntityId, EntityKind, NetId};
use crate::input::PlayerInput;
use crate::tick::Tick;
use crate::world::World;

/// Something that happened during a tick that clients show (kill feed, sounds).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum GameEvent {
    /// `killer` killed `victim`.
    Kill {
        /// Who fired the last shot.
        killer: NetId,
        /// Who died.
        victim: NetId,
    },
    /// `player` came back to life at a spawn point.
    Respawn {
        /// Who respawned.
        player: NetId,
    },
    /// `player` took a health pickup.
    Healed {
        /// Who was healed.
        player: NetId,
        /// Hit points restored.
        amount: u8,
    },
}

/// A [`GameEvent`] stamped with the tick that produced it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct TickEvent {
    /// The tick the event belongs to (the world's tick after the step that made it).
    pub tick: Tick,
    /// What happened.
    pub event: GameEvent,
}

/// Advances `world` by one tick with `inputs` (one per player at most; players without an
/// input repeat their last one). Returns the events of the tick, in order.
pub fn step(world: &mut World, inputs: &[(EntityId, PlayerInput)]) -> Vec<GameEvent> {
    let mut events = Vec::new();
    // 1. Inputs become each player's input in force.
    for (id, input) in inputs {
        if let Some(e) = world.entities.get_mut(*id) {
            if let EntityKind::Player(p) = &mut e.kind {
                p.input = *input;
            }
        }
    }
    // 2. Players move, walls stop them, players push each other apart.
    movement::move_players(world);
    // 3. Projectiles fly, hit walls and players; deaths are scored.
    combat::fly_projectiles(world, &mut events);
    // 4. Living players fire.
    combat::fire(world);
    // 5. Pickups come back when due and heal hurt players who touch them.
    pickups::take_pickups(world, &mut events);
    // 6. The dead whose time has come respawn.
    spawn::respawn_due(world, &mut events);
    world.tick = world.tick.next();
    // 7. Where every living player is now, for the lag compensation of later shots.
    rewind::Rewind::record(world);
    events
}
