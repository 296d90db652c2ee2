//! Spawning: players join at a spawn point, leave, and respawn after death.

use crate::entity::{quantize, EntityId, EntityKind, Pickup, Player};
use crate::input::PlayerInput;
use crate::sim::GameEvent;
use crate::world::World;

/// Places the entities the map puts in a new world: one health pickup per pickup point.
/// Called by [`World::new`].
pub fn populate(world: &mut World) {
    let points: Vec<glam::Vec2> = world
        .map
        .pickups
        .iter()
        .map(|p| quantize(glam::Vec2::new(p[0], p[1])))
        .collect();
    for pos in points {
        world.spawn(pos, EntityKind::Pickup(Pickup { respawn_at: None }));
    }
}

/// Adds a player called `name` at a random spawn point; returns its entity.
pub fn add_player(world: &mut World, name: &str) -> EntityId {
    let pos = random_spawn(world);
    let hp = world.config.max_hp;
    let now = world.tick;
    world.spawn(
        pos,
        EntityKind::Player(Player {
            name: name.into(),
            hp,
            kills: 0,
            deaths: 0,
            respawn_at: None,
            next_fire: now,
            abilities: crate::sim::movement::Abilities::default(),
            input: PlayerInput::default(),
            disconnected: false,
        }),
    )
}

/// Removes a player (its projectiles fly on).
pub fn remove_player(world: &mut World, id: EntityId) {
    world.despawn(id);
}

fn random_spawn(world: &mut World) -> glam::Vec2 {
    let n = world.map.spawns.len() as u32;
    let i = world.rng.below(n) as usize;
    quantize(
        world
            .map
            .resolve_circle(world.map.spawn(i), world.config.player_radius),
    )
}

/// Phase 6 of [`crate::sim::step`]: dead players whose respawn tick has come are put back
/// at a random spawn point with full hit points.
pub fn respawn_due(world: &mut World, events: &mut Vec<GameEvent>) {
    let next = world.tick.next();
    let due: Vec<EntityId> = world
        .entities
        .iter()
        .filter_map(|(id, e)| match &e.kind {
            EntityKind::Player(p) if p.respawn_at.is_some_and(|t| !t.is_after(next)) => Some(id),
            _ => None,
        })
        .collect();
    for id in due {
        let pos = random_spawn(world);
        let max_hp = world.config.max_hp;
        let e = &mut world.entities[id];
        if let EntityKind::Player(p) = &mut e.kind {
            p.respawn_at = None;
            p.hp = max_hp;
            e.pos = pos;
            events.push(GameEvent::Respawn { player: e.net_id });
        }
    }
}
