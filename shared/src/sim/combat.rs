//! Combat: firing, projectile flight, hits, deaths and scores.

use glam::Vec2;

use crate::entity::{quantize, EntityId, EntityKind, Projectile};
use crate::input::{aim_to_radians, Buttons};
use crate::sim::GameEvent;
use crate::world::World;

/// Phase 3 of [`crate::sim::step`]: each projectile flies from its position at this tick
/// to the next; the first wall or living non-owner player on the way stops it. A hit takes
/// `projectile_damage`; at 0 hp the victim dies, scores are kept, a respawn is scheduled.
pub fn fly_projectiles(world: &mut World, events: &mut Vec<GameEvent>) {
    let dt = world.config.dt();
    let now = world.tick;
    let next = now.next();
    let lifetime = world.config.ticks(world.config.projectile_lifetime_s);
    let hit_r = world.config.player_radius + world.config.projectile_radius;
    let step_len = (world.config.player_radius * 0.5).max(1.0);
    if world
        .entities
        .values()
        .any(|e| matches!(e.kind, EntityKind::Projectile(_)))
    {
        crate::sim::movement::fresh_player_grid(world);
    }

    let mut gone: Vec<EntityId> = Vec::new();
    let mut hits: Vec<(EntityId, EntityId)> = Vec::new(); // (victim, shooter)
    for (id, e) in &world.entities {
        let EntityKind::Projectile(p) = &e.kind else {
            continue;
        };
        let from = p.position_at(now, dt);
        let to = p.position_at(next, dt);
        let steps = ((to - from).length() / step_len).ceil().max(1.0) as u32;
        let mut stopped = false;
        for i in 1..=steps {
            let at = from.lerp(to, i as f32 / steps as f32);
            if world.map.blocks(at, world.config.projectile_radius) {
                stopped = true;
                break;
            }
            let mut victim = None;
            world.grid.query(at, hit_r, |other, _| {
                if victim.is_none() && world.entities[other].net_id != p.owner {
                    victim = Some(other);
                }
            });
            if let Some(v) = victim {
                hits.push((v, p.shooter));
                stopped = true;
                break;
            }
        }
        if stopped || next.since(p.spawn_tick) >= lifetime {
            gone.push(id);
        }
    }
    for id in gone {
        world.despawn(id);
    }

    let damage = world.config.projectile_damage;
    for (victim, shooter) in hits {
        hurt(world, victim, damage, Some(shooter), events);
    }
}

/// Takes `damage` hit points from player `victim`: the one damage rule, shared by every rule
/// that hurts (projectiles here; a mine, a hazard). At 0 hp the victim dies: its deaths
/// count, its respawn is scheduled, and `credit` (the entity that dealt the damage, when it
/// still exists) is named killer in a [`GameEvent::Kill`] and scores the kill if it is a
/// player. A missing, non-player or already dead victim is left alone (two hits in one
/// tick: the first one killed). Returns whether this killed the victim.
pub fn hurt(
    world: &mut World,
    victim: EntityId,
    damage: u8,
    credit: Option<EntityId>,
    events: &mut Vec<GameEvent>,
) -> bool {
    let respawn_at = world
        .tick
        .next()
        .plus(world.config.ticks(world.config.respawn_delay_s));
    let Some(v) = world.entities.get_mut(victim) else {
        return false;
    };
    let victim_net = v.net_id;
    let EntityKind::Player(vp) = &mut v.kind else {
        return false;
    };
    if !vp.alive() {
        return false;
    }
    vp.hp = vp.hp.saturating_sub(damage);
    if vp.hp > 0 {
        return false;
    }
    vp.deaths = vp.deaths.saturating_add(1);
    vp.respawn_at = Some(respawn_at);
    if let Some(s) = credit.and_then(|c| world.entities.get_mut(c)) {
        let killer = s.net_id;
        if let EntityKind::Player(sp) = &mut s.kind {
            sp.kills = sp.kills.saturating_add(1);
        }
        events.push(GameEvent::Kill {
            killer,
            victim: victim_net,
        });
    }
    true
}

/// Phase 4 of [`crate::sim::step`]: living players holding fire shoot when their cooldown
/// allows; the projectile starts just outside the shooter's circle, at the next tick.
pub fn fire(world: &mut World) {
    let now = world.tick;
    let cooldown = world.config.ticks(world.config.fire_cooldown_s);
    let offset = world.config.player_radius + world.config.projectile_radius + 2.0;
    let speed = world.config.projectile_speed;
    let mut shots: Vec<Projectile> = Vec::new();
    for (id, e) in &mut world.entities {
        let EntityKind::Player(p) = &mut e.kind else {
            continue;
        };
        if !p.alive() || !p.input.buttons.contains(Buttons::FIRE) || p.next_fire.is_after(now) {
            continue;
        }
        p.next_fire = now.plus(cooldown);
        let a = aim_to_radians(p.input.aim);
        let dir = Vec2::new(libm::cosf(a), libm::sinf(a));
        shots.push(Projectile {
            owner: e.net_id,
            shooter: id,
            origin: quantize(e.pos + dir * offset),
            vel: quantize(dir * speed),
            spawn_tick: now.next(),
        });
    }
    for shot in shots {
        let origin = shot.origin;
        world.spawn(origin, EntityKind::Projectile(shot));
    }
}
