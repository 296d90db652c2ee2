//! Helpers shared by the integration tests of `tickwire-shared`: maps built in code,
//! inputs built the way the server builds them (from a client's `Controls` through the wire
//! `InputMsg`), and direct
//! placement of players for rule tests.

// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

use std::sync::Arc;

use glam::Vec2;
use tickwire_shared::entity::{EntityId, EntityKind, NetEntity, NetId, Player, PlayerNet};
use tickwire_shared::input::{Buttons, InputMsg};
use tickwire_shared::map::Rect;
use tickwire_shared::rng::Rng;
use tickwire_shared::{Controls, Map, PlayerInput, SimConfig, World};

/// A player input made through [`PlayerInput::from_wire`], the door the server uses.
pub fn input(move_x: f32, move_y: f32, aim_radians: f32, fire: bool) -> PlayerInput {
    let controls = Controls {
        move_x,
        move_y,
        aim: aim_radians,
        buttons: Buttons::default().with(Buttons::FIRE, fire),
    };
    controls.to_player_input().expect("finite test input")
}

/// A player input with any `buttons` (bits outside [`Buttons::ALL`] are cleared, as the
/// server does), made through [`PlayerInput::from_wire`].
pub fn input_with(move_x: f32, move_y: f32, aim_radians: f32, buttons: Buttons) -> PlayerInput {
    PlayerInput::from_wire(&wire_input(move_x, move_y, aim_radians, buttons)).expect("finite")
}

/// The wire input a client sends for these controls and `buttons`.
pub fn wire_input(move_x: f32, move_y: f32, aim: f32, buttons: Buttons) -> InputMsg {
    InputMsg {
        seq: 0,
        tick: tickwire_shared::Tick(0),
        ack: None,
        buttons,
        move_x,
        move_y,
        aim,
    }
}

/// Every button of [`Buttons::ALL`], each pressed with probability `pct` percent: random
/// inputs press every button the game knows, the day it is added.
pub fn random_buttons(rng: &mut Rng, pct: u32) -> Buttons {
    let mut b = Buttons::default();
    for bit in (0..8).map(|i| Buttons(1 << i)) {
        if Buttons::ALL.contains(bit) && rng.below(100) < pct {
            b = b.union(bit);
        }
    }
    b
}

/// The kinds (`NetEntity::kind_name`) present in a replicated state.
pub fn kinds_in(state: &[(NetId, NetEntity)]) -> std::collections::BTreeSet<&'static str> {
    state.iter().map(|(_, e)| e.kind_name()).collect()
}

/// Every kind listed in `net_kinds!`.
pub fn all_kinds() -> std::collections::BTreeSet<&'static str> {
    NetEntity::KINDS.iter().copied().collect()
}

/// Standing still, not firing, aiming at +x.
pub fn idle() -> PlayerInput {
    input(0.0, 0.0, 0.0, false)
}

/// A wall-less map of `width` x `height` with the given spawn points.
pub fn open_map(width: f32, height: f32, spawns: &[[f32; 2]]) -> Map {
    let map = Map {
        name: "test-open".into(),
        width,
        height,
        walls: Vec::new(),
        spawns: spawns.to_vec(),
        pickups: Vec::new(),
    };
    map.validate().expect("test map is valid");
    map
}

/// `map` with `walls` added.
pub fn with_walls(mut map: Map, walls: &[Rect]) -> Map {
    map.walls.extend_from_slice(walls);
    map.validate().expect("test map is valid");
    map
}

/// A rectangle.
pub fn rect(x: f32, y: f32, w: f32, h: f32) -> Rect {
    Rect { x, y, w, h }
}

/// A world at tick 0 with the default configuration.
pub fn world(map: Map, seed: u64) -> World {
    World::new(SimConfig::default(), Arc::new(map), seed)
}

/// Moves entity `id` to `pos` (which must be on the 1/8 grid, like every sim position).
pub fn place(world: &mut World, id: EntityId, pos: Vec2) {
    assert_eq!(
        tickwire_shared::entity::quantize(pos),
        pos,
        "test positions must lie on the position grid"
    );
    world.entities[id].pos = pos;
}

/// The position of entity `id`.
pub fn pos(world: &World, id: EntityId) -> Vec2 {
    world.entities[id].pos
}

/// The network id of entity `id`.
pub fn net(world: &World, id: EntityId) -> NetId {
    world.entities[id].net_id
}

/// The player state of entity `id` (panics if it is not a player).
pub fn player(world: &World, id: EntityId) -> &Player {
    world.player(id).expect("entity is a player")
}

/// Network ids of every projectile in the world whose owner is `owner`, sorted.
pub fn projectiles_of(world: &World, owner: NetId) -> Vec<NetId> {
    let mut v: Vec<NetId> = world
        .entities
        .values()
        .filter(|e| matches!(&e.kind, EntityKind::Projectile(p) if p.owner == owner))
        .map(|e| e.net_id)
        .collect();
    v.sort_unstable();
    v
}

/// Number of projectiles in the world.
pub fn projectile_count(world: &World) -> usize {
    world
        .entities
        .values()
        .filter(|e| matches!(e.kind, EntityKind::Projectile(_)))
        .count()
}

/// The replicated view of a player, from a net state.
pub fn player_net(state: &[(NetId, NetEntity)], id: NetId) -> Option<&PlayerNet> {
    state.iter().find_map(|(i, e)| match e {
        NetEntity::Player(p) if *i == id => Some(p),
        _ => None,
    })
}

/// Aim angle in radians from `from` towards `to`.
pub fn aim_at(from: Vec2, to: Vec2) -> f32 {
    let d = to - from;
    libm::atan2f(d.y, d.x)
}
