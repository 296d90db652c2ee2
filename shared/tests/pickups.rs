//! Health pickups: placed from the map, heal hurt players on contact, come back on a timer,
//! replicate as one-field patches.

mod common;

use common::{net, open_map, place, player, world};
use glam::Vec2;
use tickwire_shared::entity::{EntityId, EntityKind, NetEntity, PickupNet, QVec2};
use tickwire_shared::protocol::snapshot::{diff, Extrapolation};
use tickwire_shared::sim::{self, spawn, GameEvent};
use tickwire_shared::{Map, World};

fn map_with_pickups() -> Map {
    let mut m = open_map(1000.0, 1000.0, &[[100.0, 100.0]]);
    m.pickups = vec![[500.0, 500.0], [800.0, 200.0]];
    m.validate().expect("valid map");
    m
}

fn pickups(w: &World) -> Vec<(EntityId, Vec2, bool)> {
    w.entities
        .iter()
        .filter_map(|(id, e)| match &e.kind {
            EntityKind::Pickup(p) => Some((id, e.pos, p.respawn_at.is_none())),
            _ => None,
        })
        .collect()
}

fn hurt(w: &mut World, id: EntityId, hp: u8) {
    if let EntityKind::Player(p) = &mut w.entities[id].kind {
        p.hp = hp;
    }
}

#[test]
fn pickups_are_placed_from_the_map_and_replicate() {
    let w = world(map_with_pickups(), 1);
    let ps = pickups(&w);
    assert_eq!(ps.len(), 2);
    assert_eq!(ps[0].1, Vec2::new(500.0, 500.0));
    assert!(ps.iter().all(|p| p.2), "active at start");
    let views: Vec<PickupNet> = w
        .net_state()
        .into_iter()
        .filter_map(|(_, e)| match e {
            NetEntity::Pickup(k) => Some(k),
            _ => None,
        })
        .collect();
    assert_eq!(views.len(), 2);
    assert!(views.iter().all(|k| k.active));
}

#[test]
fn a_hurt_player_is_healed_and_the_pickup_comes_back_on_time() {
    let mut w = world(map_with_pickups(), 2);
    let a = spawn::add_player(&mut w, "a");
    place(&mut w, a, Vec2::new(500.0, 500.0));
    hurt(&mut w, a, 30);
    let events = sim::step(&mut w, &[]);
    assert_eq!(player(&w, a).hp, 80);
    assert_eq!(
        events,
        vec![GameEvent::Healed {
            player: net(&w, a),
            amount: 50
        }]
    );
    let (pid, _, active) = pickups(&w)[0];
    assert!(!active, "taken");

    // Still hurt and still standing on it: nothing until it comes back.
    hurt(&mut w, a, 10);
    let respawn = w.config.ticks(w.config.pickup_respawn_s);
    let mut back_after = None;
    for i in 1..=respawn + 5 {
        let ev = sim::step(&mut w, &[]);
        if ev.iter().any(|e| matches!(e, GameEvent::Healed { .. })) {
            back_after = Some(i);
            break;
        }
    }
    assert_eq!(
        back_after,
        Some(respawn),
        "back {respawn} ticks after it was taken"
    );
    assert_eq!(player(&w, a).hp, 60);
    assert!(pickups(&w).iter().any(|p| p.0 == pid && !p.2));
}

#[test]
fn healthy_or_dead_players_leave_it_and_heals_are_capped() {
    let mut w = world(map_with_pickups(), 3);
    let healthy = spawn::add_player(&mut w, "healthy");
    place(&mut w, healthy, Vec2::new(500.0, 500.0));
    sim::step(&mut w, &[]);
    assert!(pickups(&w)[0].2, "a full-health player does not take it");

    let dead = spawn::add_player(&mut w, "dead");
    place(&mut w, dead, Vec2::new(800.0, 200.0));
    if let EntityKind::Player(p) = &mut w.entities[dead].kind {
        p.hp = 0;
        p.respawn_at = Some(w.tick.plus(1000));
    }
    sim::step(&mut w, &[]);
    assert!(pickups(&w)[1].2, "a dead player does not take it");

    hurt(&mut w, healthy, 90);
    let ev = sim::step(&mut w, &[]);
    assert_eq!(player(&w, healthy).hp, 100);
    assert!(ev.contains(&GameEvent::Healed {
        player: net(&w, healthy),
        amount: 10
    }));
}

#[test]
fn a_taken_pickup_travels_as_a_one_field_patch() {
    let mut w = world(map_with_pickups(), 4);
    let a = spawn::add_player(&mut w, "a");
    place(&mut w, a, Vec2::new(500.0, 500.0));
    sim::step(&mut w, &[]);
    let before = w.net_state();
    hurt(&mut w, a, 50);
    sim::step(&mut w, &[]);
    let ext = Extrapolation {
        baseline: w.tick.minus(1),
        ticks: 1,
        config: &w.config,
        map: &w.map,
    };
    let body = diff(&before, &w.net_state(), &ext);
    let pickup_patches: Vec<_> = body
        .patches
        .iter()
        .filter(|(_, p)| matches!(p, tickwire_shared::entity::NetPatch::Pickup(_)))
        .collect();
    assert_eq!(pickup_patches.len(), 1);
    match &pickup_patches[0].1 {
        tickwire_shared::entity::NetPatch::Pickup(p) => {
            assert_eq!(p.mask, 0b10, "only `active` travels");
            assert!(!p.value.active);
            assert_eq!(p.value.pos, QVec2::default(), "pos not carried");
        }
        _ => unreachable!(),
    }
}
