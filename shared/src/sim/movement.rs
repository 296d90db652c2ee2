//! Movement: players walk at `player_speed`, walls stop them, players push each other apart.
//!
//! A player's own motion is one state, [`Motion`], advanced by one function, [`advance`]:
//! the server's step calls it for every living player, the client's
//! [`crate::replica::prediction::Predictor`] calls it for its own inputs, and the replicated
//! view carries the same state ([`crate::entity::PlayerNet::motion`]), so a movement ability
//! with state (a cooldown, a timer) is a field of [`Abilities`] and a few lines of
//! [`advance`], predicted and reconciled with nothing else to change.

use bincode::{Decode, Encode};
use glam::Vec2;

use crate::config::SimConfig;
use crate::entity::{quantize, EntityKind};
use crate::input::{Buttons, PlayerInput};
use crate::map::Map;
use crate::tick::Tick;
use crate::world::World;

/// The state of a player's movement abilities besides its position (timers, cooldowns):
/// kept by the server in [`crate::entity::Player::abilities`], replicated whole in
/// [`crate::entity::PlayerNet::abilities`], predicted by the client. Timers are absolute
/// ticks, so they stay valid however late a client sees them.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    Encode,
    Decode,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Abilities {
    /// The player dashes while the tick is before this one.
    pub dash_until: Tick,
    /// The first tick at which it may dash again.
    pub dash_ready: Tick,
}

/// A player's predicted motion state: everything [`advance`] reads and writes.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Motion {
    /// Centre, on the position grid.
    pub pos: Vec2,
    /// Ability timers and cooldowns.
    pub abilities: Abilities,
}

/// A living player's motion after one tick of `input` applied at `tick`, ignoring other
/// players: the server's step and the client's prediction both call exactly this.
///
/// The position is rounded to the 1/8-unit position grid (so the replicated view is exact).
/// A consequence by design: the speed actually covered is `player_speed * dt` rounded to
/// the grid per axis and tick (200 u/s at 30 Hz: 6.625 units a tick, 198.75 u/s), and stick
/// deflections under about 1% move nothing (a natural dead zone).
#[must_use]
pub fn advance(
    state: &Motion,
    input: &PlayerInput,
    tick: Tick,
    config: &SimConfig,
    map: &Map,
) -> Motion {
    let mut abilities = state.abilities;
    // Dash: held while ready and moving, it starts now and lasts `dash_s`.
    let dashing = input.buttons.contains(Buttons::DASH) && input.move_dir != Vec2::ZERO;
    if dashing && !abilities.dash_ready.is_after(tick) {
        abilities.dash_until = tick.plus(config.ticks(config.dash_s));
        abilities.dash_ready = tick.plus(config.ticks(config.dash_cooldown_s));
    }
    let speed = if abilities.dash_until.is_after(tick) {
        config.dash_speed
    } else {
        config.player_speed
    };
    Motion {
        pos: walk(state.pos, input.move_dir, speed, config, map),
        abilities,
    }
}

/// One tick of moving from `pos` along `dir` (length at most 1) at `speed` units per
/// second, walls stopping it, rounded to the position grid.
#[must_use]
pub fn walk(pos: Vec2, dir: Vec2, speed: f32, config: &SimConfig, map: &Map) -> Vec2 {
    let next = pos + dir * (speed * config.dt());
    quantize(map.resolve_circle(next, config.player_radius))
}

/// Phase 2 of [`crate::sim::step`]: every living player moves, then overlapping players are
/// pushed apart (each moves itself half the overlap away from each neighbour).
pub fn move_players(world: &mut World) {
    let (config, map, tick) = (&world.config, &*world.map, world.tick);
    for e in world.entities.values_mut() {
        if let EntityKind::Player(p) = &mut e.kind {
            if p.alive() {
                let now = Motion {
                    pos: e.pos,
                    abilities: p.abilities,
                };
                let next = advance(&now, &p.input, tick, config, map);
                e.pos = next.pos;
                p.abilities = next.abilities;
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
