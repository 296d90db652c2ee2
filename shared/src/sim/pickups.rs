//! Health pickups: a hurt, living player touching an active pickup is healed; the pickup
//! goes away and comes back after `pickup_respawn_s`.

use glam::Vec2;

use crate::entity::{EntityId, EntityKind};
use crate::sim::GameEvent;
use crate::world::World;

/// Phase 5 of [`crate::sim::step`]: pickups come back when due, then each active pickup
/// heals the first hurt living player touching it (grid order: deterministic); one pickup
/// per player per tick.
pub fn take_pickups(world: &mut World, events: &mut Vec<GameEvent>) {
    let next = world.tick.next();
    // Pickups that come back now, and the active ones.
    let mut active: Vec<(EntityId, Vec2)> = Vec::new();
    for (id, e) in &mut world.entities {
        if let EntityKind::Pickup(p) = &mut e.kind {
            if p.respawn_at.is_some_and(|t| !t.is_after(next)) {
                p.respawn_at = None;
            }
            if p.respawn_at.is_none() {
                active.push((id, e.pos));
            }
        }
    }
    if !active.is_empty() {
        crate::sim::movement::fresh_player_grid(world);
    }
    // Who takes what.
    let reach = world.config.player_radius + world.config.pickup_radius;
    let max_hp = world.config.max_hp;
    let mut taken: Vec<(EntityId, EntityId)> = Vec::new(); // (pickup, player)
    for (pickup, pos) in active {
        let mut taker = None;
        world.grid.query(pos, reach, |player, _| {
            let hurt = matches!(&world.entities[player].kind,
                EntityKind::Player(p) if p.alive() && p.hp < max_hp);
            if taker.is_none() && hurt && !taken.iter().any(|(_, t)| *t == player) {
                taker = Some(player);
            }
        });
        if let Some(player) = taker {
            taken.push((pickup, player));
        }
    }
    // Heal, and send the pickups away.
    let back_at = next.plus(world.config.ticks(world.config.pickup_respawn_s));
    let heal = world.config.pickup_heal;
    for (pickup, player) in taken {
        if let Some(EntityKind::Pickup(k)) = world.entities.get_mut(pickup).map(|e| &mut e.kind) {
            k.respawn_at = Some(back_at);
        }
        let e = &mut world.entities[player];
        if let EntityKind::Player(p) = &mut e.kind {
            let amount = heal.min(max_hp - p.hp);
            p.hp += amount;
            events.push(GameEvent::Healed {
                player: e.net_id,
                amount,
            });
        }
    }
}
