//! Movement: players walk at `player_speed`, walls stop them, players push each other apart.

use glam::Vec2;

use crate::config::SimConfig;
use crate::entity::{quantize, EntityKind};
use crate::input::PlayerInput;
use crate::map::Map;
use crate::world::World;

/// Where a player at `pos` ends up after one tick of `input`, ignoring other players.
/// The client's prediction calls exactly this.
///
/// The result is rounded to the 1/8-unit position grid (so the replicated view is exact).
/// A consequence by design: the speed actually covered is `player_speed * dt` rounded to
/// the grid per axis and tick (200 u/s at 30 Hz: 6.625 units a tick, 198.75 u/s), and stick
/// deflections under about 1% move nothing (a natural dead zone).
#[must_use]
pub fn move_player(pos: Vec2, input: &PlayerInput, config: &SimConfig, map: &Map) -> Vec2 {
    let next = pos + input.move_dir * (config.player_speed * config.dt());
    quantize(map.resolve_circle(next, config.player_radius))
}

/// Phase 2 of [`crate::sim::step`]: every living player moves, then overlapping players are
/// pushed apart (each moves itself half the overlap away from each neighbour).
pub fn move_players(world: &mut World) {
    let (config, map) = (&world.config, &*world.map);
    for e in world.entities.values_mut() {
        if let EntityKind::Player(p) = &e.kind {
            if p.alive() {
                e.pos = move_player(e.pos, &p.input, config, map);
            }
        }
    }
    rebuild_player_grid(world);

    let r2 = world.config.player_radius * 2.0;
    let mut pushes = std::mem::take(&mut world.pushes);
    pushes.clear();
    // Every living player, in the grid's order: neighbours come one after the other, so
    // each query finds its cells in cache. (Each player's push depends only on its
    // neighbours, summed in the grid's order, so the order of players changes nothing.)
    for &(id, pos) in world.grid.items() {
        let mut push = Vec2::ZERO;
        world.grid.query(pos, r2, |other, opos| {
            if other == id {
                return;
            }
            let d = pos - opos;
            let dist = d.length();
            let overlap = r2 - dist;
            if overlap <= 0.0 {
                return;
            }
            // Exactly on top of each other: split along x by id order, deterministically.
            let dir = if dist > 1e-6 {
                d / dist
            } else if id < other {
                Vec2::X
            } else {
                Vec2::NEG_X
            };
            push += dir * (overlap * 0.5);
        });
        if push != Vec2::ZERO {
            pushes.push((id, push));
        }
    }
    // A push is a small step: the pushed player almost always stays in its grid cell,
    // where it is moved in place (the grid a rebuild would make); otherwise the grid is
    // stale, rebuilt only if a later phase queries it this tick ([`fresh_player_grid`]).
    let mut stale = false;
    for &(id, push) in &pushes {
        if let Some(e) = world.entities.get_mut(id) {
            let from = e.pos;
            e.pos = quantize(
                world
                    .map
                    .resolve_circle(e.pos + push, world.config.player_radius),
            );
            stale = stale || !world.grid.move_within_cell(id, from, e.pos);
        }
    }
    world.pushes = pushes;
    world.grid_stale = stale;
}

/// Makes the world's grid hold every living player where it is now (a phase that queries
/// it calls this first: after separation it may be stale).
pub fn fresh_player_grid(world: &mut World) {
    if world.grid_stale {
        rebuild_player_grid(world);
    }
}

/// Puts every living player into the world's grid (used by movement and combat).
pub fn rebuild_player_grid(world: &mut World) {
    let World {
        grid,
        entities,
        map,
        grid_stale,
        ..
    } = world;
    *grid_stale = false;
    grid.rebuild(
        map.width,
        map.height,
        entities.iter().filter_map(|(id, e)| match &e.kind {
            EntityKind::Player(p) if p.alive() => Some((id, e.pos)),
            _ => None,
        }),
    );
}
