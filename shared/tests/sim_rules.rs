//! Gameplay rules, one at a time, through the door the server uses: `sim::step` on a
//! `World` built in code, with inputs made by `PlayerInput::from_wire`.
//!
//! Default configuration: 30 Hz, radius 20, speed 200 u/s, projectiles 600 u/s with radius 4
//! and a 1.5 s life, 25 damage, 100 hp, 0.25 s cooldown, 2 s respawn delay.

mod common;

use common::*;
use glam::Vec2;
use tickwire_shared::entity::{EntityId, EntityKind, POS_SCALE};
use tickwire_shared::sim::{self, spawn, GameEvent};
use tickwire_shared::{PlayerInput, SimConfig, Tick, World};

const GRID: f32 = 1.0 / POS_SCALE;

/// An open 2000 x 1000 arena with two spawn points far from the action.
fn arena() -> World {
    world(
        open_map(2000.0, 1000.0, &[[1500.0, 200.0], [1500.0, 800.0]]),
        7,
    )
}

fn add_at(world: &mut World, name: &str, at: Vec2) -> EntityId {
    let id = spawn::add_player(world, name);
    place(world, id, at);
    id
}

/// Steps once with `inputs`; returns the events stamped with the world's tick after the step.
fn step(world: &mut World, inputs: &[(EntityId, PlayerInput)]) -> Vec<(Tick, GameEvent)> {
    let events = sim::step(world, inputs);
    events.into_iter().map(|e| (world.tick, e)).collect()
}

#[test]
fn a_player_moves_one_quantised_step_of_player_speed_per_tick() {
    let mut w = arena();
    let config = SimConfig::default();
    let p = add_at(&mut w, "runner", Vec2::new(500.0, 500.0));
    let per_tick = config.player_speed * config.dt(); // 6.666..
    let mut x = pos(&w, p).x;
    for _ in 0..30 {
        step(&mut w, &[(p, input(1.0, 0.0, 0.0, false))]);
        let now = pos(&w, p);
        let dx = now.x - x;
        // Each tick moves speed * dt rounded to the 1/8 grid: at most half a grid step off.
        assert!((dx - per_tick).abs() <= GRID / 2.0, "dx {dx}");
        assert_eq!(now.y, 500.0);
        x = now.x;
    }
    // 30 ticks of 6.625 (6.666.. on the 1/8 grid): 198.75 units, not 200 (by design).
    assert_eq!(x - 500.0, 198.75);
    assert!((x - 500.0 - config.player_speed).abs() <= 30.0 * GRID / 2.0);
}

#[test]
fn speed_is_quantised_to_the_position_grid_as_documented() {
    // By design (see `move_player`): positions sit on the 1/8 grid after every tick, so
    // 200 u/s at 30 Hz covers 6.625 units a tick (198.75 u/s), and a stick under about 1%
    // is a dead zone. Client prediction runs the same rounding, so nothing desyncs.
    let mut w = arena();
    let p = add_at(&mut w, "runner", Vec2::new(500.0, 500.0));
    let q = add_at(&mut w, "creeper", Vec2::new(500.0, 800.0));
    for _ in 0..30 {
        step(
            &mut w,
            &[
                (p, input(1.0, 0.0, 0.0, false)),
                (q, input(0.009, 0.0, 0.0, false)),
            ],
        );
    }
    assert_eq!(pos(&w, p).x - 500.0, 198.75);
    assert_eq!(pos(&w, q).x - 500.0, 0.0);
}

#[test]
fn a_player_without_new_input_repeats_the_last_one() {
    let mut w = arena();
    let p = add_at(&mut w, "runner", Vec2::new(500.0, 500.0));
    step(&mut w, &[(p, input(0.0, 1.0, 0.0, false))]);
    let y1 = pos(&w, p).y;
    step(&mut w, &[]);
    step(&mut w, &[]);
    assert_eq!(pos(&w, p).y - y1, 2.0 * 6.625);
    step(&mut w, &[(p, idle())]);
    let still = pos(&w, p);
    step(&mut w, &[]);
    assert_eq!(pos(&w, p), still);
}

#[test]
fn a_wall_stops_a_player() {
    let wall = rect(300.0, 0.0, 20.0, 1000.0);
    let mut w = world(
        with_walls(open_map(2000.0, 1000.0, &[[1500.0, 500.0]]), &[wall]),
        1,
    );
    let r = w.config.player_radius;
    let p = add_at(&mut w, "runner", Vec2::new(100.0, 500.0));
    for _ in 0..120 {
        step(&mut w, &[(p, input(1.0, 0.0, 0.0, false))]);
        let at = pos(&w, p);
        assert!(at.x <= wall.x - r, "entered the wall: {at}");
    }
    assert_eq!(pos(&w, p), Vec2::new(wall.x - r, 500.0));
}

#[test]
fn a_thin_wall_is_not_tunnelled_through() {
    let wall = rect(300.0, 0.0, 1.0, 1000.0);
    let mut w = world(
        with_walls(open_map(2000.0, 1000.0, &[[1500.0, 500.0]]), &[wall]),
        1,
    );
    let p = add_at(&mut w, "runner", Vec2::new(100.0, 500.0));
    for _ in 0..120 {
        // Diagonal too: the wall must hold on both axes of the move.
        step(&mut w, &[(p, input(1.0, 0.3, 0.0, false))]);
        assert!(pos(&w, p).x < wall.x, "crossed the wall: {}", pos(&w, p));
    }
}

#[test]
fn the_map_edge_stops_a_player() {
    let mut w = arena();
    let p = add_at(&mut w, "runner", Vec2::new(100.0, 100.0));
    for _ in 0..60 {
        step(&mut w, &[(p, input(-1.0, -1.0, 0.0, false))]);
    }
    assert_eq!(pos(&w, p), Vec2::splat(w.config.player_radius));
}

#[test]
fn players_pushed_into_each_other_do_not_overlap() {
    for offset_y in [0.0, 10.0, 35.0] {
        let mut w = arena();
        let min = 2.0 * w.config.player_radius - 2.0 * GRID;
        let a = add_at(&mut w, "a", Vec2::new(400.0, 500.0));
        let b = add_at(&mut w, "b", Vec2::new(600.0, 500.0 + offset_y));
        let mut met = false;
        for _ in 0..90 {
            step(
                &mut w,
                &[
                    (a, input(1.0, 0.0, 0.0, false)),
                    (b, input(-1.0, 0.0, 0.0, false)),
                ],
            );
            let d = pos(&w, a).distance(pos(&w, b));
            assert!(d >= min, "overlap: distance {d} (offset {offset_y})");
            met |= d < 2.0 * w.config.player_radius + 1.0;
        }
        assert!(met, "the players never met (offset {offset_y})");
    }
}

#[test]
fn players_spawned_on_the_same_spot_are_separated() {
    let mut w = arena();
    let a = add_at(&mut w, "a", Vec2::new(500.0, 500.0));
    let b = add_at(&mut w, "b", Vec2::new(500.0, 500.0));
    step(&mut w, &[]);
    let d = pos(&w, a).distance(pos(&w, b));
    assert!(d >= 2.0 * w.config.player_radius - GRID, "distance {d}");
}

/// A shooter at (200, 500) aiming +x at a target 100 units away.
fn duel() -> (World, EntityId, EntityId) {
    let mut w = arena();
    let shooter = add_at(&mut w, "shooter", Vec2::new(200.0, 500.0));
    let target = add_at(&mut w, "target", Vec2::new(300.0, 500.0));
    (w, shooter, target)
}

#[test]
fn a_projectile_hits_a_player_100_units_away_for_25_hp() {
    let (mut w, s, t) = duel();
    let s_net = net(&w, s);
    step(&mut w, &[(s, input(0.0, 0.0, 0.0, true))]);
    let shots = projectiles_of(&w, s_net);
    assert_eq!(shots.len(), 1, "one shot fired");
    let shot = w.find_net(shots[0]).expect("shot exists");
    let EntityKind::Projectile(p) = &w.entities[shot].kind else {
        panic!("not a projectile");
    };
    // Spawned just outside the shooter's circle, flying +x at projectile_speed.
    assert_eq!(p.origin, Vec2::new(226.0, 500.0));
    assert_eq!(p.vel, Vec2::new(600.0, 0.0));
    assert_eq!(p.spawn_tick, w.tick);

    step(&mut w, &[(s, idle())]);
    let mut hit_tick = None;
    for _ in 0..30 {
        if player(&w, t).hp != 100 && hit_tick.is_none() {
            hit_tick = Some(w.tick);
        }
        step(&mut w, &[]);
    }
    // 226 -> the target's reach at 276 is 50 units: the third flight step (state tick 4).
    assert_eq!(hit_tick, Some(Tick(4)));
    assert_eq!(player(&w, t).hp, 75);
    assert_eq!(player(&w, s).hp, 100, "no damage to the shooter");
    assert_eq!(projectile_count(&w), 0, "the projectile stops at the hit");
}

#[test]
fn four_hits_kill_score_and_the_victim_respawns_after_the_delay() {
    let (mut w, s, t) = duel();
    let (s_net, t_net) = (net(&w, s), net(&w, t));
    let spawn_points: Vec<Vec2> = (0..w.map.spawns.len()).map(|i| w.map.spawn(i)).collect();
    let mut fired = std::collections::BTreeSet::new();

    // The shooter holds fire until the kill.
    let mut kill = None;
    for _ in 0..60 {
        let events = step(&mut w, &[(s, input(0.0, 0.0, 0.0, true))]);
        fired.extend(projectiles_of(&w, s_net));
        if let Some((tick, e)) = events.into_iter().next() {
            kill = Some((tick, e));
            break;
        }
    }
    let (kill_tick, event) = kill.expect("the target died within 2 s");
    assert_eq!(
        event,
        GameEvent::Kill {
            killer: s_net,
            victim: t_net
        }
    );
    assert_eq!(fired.len(), 4, "four shots of 25 take 100 hp");
    let victim = player(&w, t);
    assert_eq!(victim.hp, 0);
    assert!(!victim.alive());
    assert_eq!((victim.kills, victim.deaths), (0, 1));
    let delay = w.config.ticks(w.config.respawn_delay_s);
    assert_eq!(delay, 60);
    assert_eq!(victim.respawn_at, Some(kill_tick.plus(delay)));
    assert_eq!((player(&w, s).kills, player(&w, s).deaths), (1, 0));

    // While dead, the victim runs and holds fire: nothing happens.
    let dead_at = pos(&w, t);
    let mut respawn = None;
    for _ in 0..delay {
        let events = step(
            &mut w,
            &[
                (s, idle()),
                (t, input(-1.0, 0.0, std::f32::consts::PI, true)),
            ],
        );
        if let Some(ev) = events.into_iter().next() {
            respawn = Some(ev);
            break;
        }
        assert_eq!(pos(&w, t), dead_at, "a dead player does not move");
        assert!(
            projectiles_of(&w, t_net).is_empty(),
            "a dead player does not fire"
        );
        assert_eq!(player(&w, t).hp, 0);
    }
    let (respawn_tick, event) = respawn.expect("the victim respawned");
    assert_eq!(event, GameEvent::Respawn { player: t_net });
    assert_eq!(respawn_tick, kill_tick.plus(delay));
    let back = player(&w, t);
    assert!(back.alive());
    assert_eq!(back.hp, 100);
    assert_eq!(back.respawn_at, None);
    assert_eq!(
        (back.kills, back.deaths),
        (0, 1),
        "scores survive the respawn"
    );
    assert!(
        spawn_points.contains(&pos(&w, t)),
        "respawned at a spawn point: {}",
        pos(&w, t)
    );

    // Alive again, the same input moves and fires.
    let before = pos(&w, t);
    step(&mut w, &[]);
    assert_ne!(pos(&w, t), before);
    assert_eq!(projectiles_of(&w, t_net).len(), 1);
}

#[test]
fn holding_fire_for_one_second_fires_four_shots_a_cooldown_apart() {
    let mut w = arena();
    let s = add_at(&mut w, "shooter", Vec2::new(200.0, 500.0));
    let s_net = net(&w, s);
    let cooldown = w.config.ticks(w.config.fire_cooldown_s);
    assert_eq!(cooldown, 8, "0.25 s at 30 Hz rounds to 8 ticks");
    let mut spawn_ticks = std::collections::BTreeMap::new();
    for _ in 0..30 {
        step(&mut w, &[(s, input(0.0, 0.0, 0.0, true))]);
        for id in projectiles_of(&w, s_net) {
            let e = &w.entities[w.find_net(id).expect("exists")];
            let EntityKind::Projectile(p) = &e.kind else {
                unreachable!()
            };
            spawn_ticks.insert(id, p.spawn_tick);
        }
    }
    let ticks: Vec<u32> = spawn_ticks.values().map(|t| t.0).collect();
    // Fired during ticks 0, 8, 16, 24; each shot's spawn tick is the tick after.
    assert_eq!(ticks, vec![1, 9, 17, 25]);

    // Released, then pressed again once the cooldown has passed: fires at once.
    for _ in 0..10 {
        step(&mut w, &[(s, idle())]);
    }
    let before = w.tick;
    step(&mut w, &[(s, input(0.0, 0.0, 0.0, true))]);
    let newest = projectiles_of(&w, s_net)
        .into_iter()
        .filter_map(|id| match &w.entities[w.find_net(id)?].kind {
            EntityKind::Projectile(p) => Some(p.spawn_tick.0),
            _ => None,
        })
        .max();
    assert_eq!(newest, Some(before.next().0));
}

#[test]
fn a_projectile_lives_one_and_a_half_seconds() {
    let mut w = arena();
    let s = add_at(&mut w, "shooter", Vec2::new(100.0, 500.0));
    let s_net = net(&w, s);
    step(&mut w, &[(s, input(0.0, 0.0, 0.0, true))]);
    let shot = projectiles_of(&w, s_net)[0];
    let mut seen = Vec::new();
    for _ in 0..120 {
        if let Some(id) = w.find_net(shot) {
            let EntityKind::Projectile(p) = &w.entities[id].kind else {
                unreachable!()
            };
            let at = p.position_at(w.tick, w.config.dt());
            // The replicated view computes the very same bits (clients draw it exactly).
            let view = w.entities[id].to_net().position_at(w.tick, w.config.dt());
            assert_eq!(
                view.to_array().map(f32::to_bits),
                at.to_array().map(f32::to_bits)
            );
            seen.push((w.tick, at));
        }
        step(&mut w, &[(s, idle())]);
    }
    let lifetime = w.config.ticks(w.config.projectile_lifetime_s);
    assert_eq!(lifetime, 45);
    assert_eq!(
        seen.len(),
        lifetime as usize,
        "present in exactly 45 states"
    );
    assert_eq!(seen[0], (Tick(1), Vec2::new(126.0, 500.0)));
    // Each state is one tick further, at 20 units per tick (`age * dt` is not exact in f32).
    for pair in seen.windows(2) {
        assert_eq!(pair[1].0, pair[0].0.next());
        let d = pair[1].1 - pair[0].1;
        assert!((d - Vec2::new(20.0, 0.0)).abs().max_element() < 1e-3, "{d}");
    }
}

#[test]
fn a_projectile_stops_at_a_wall() {
    let wall = rect(300.0, 0.0, 20.0, 1000.0);
    let mut w = world(
        with_walls(open_map(2000.0, 1000.0, &[[1500.0, 500.0]]), &[wall]),
        1,
    );
    let s = add_at(&mut w, "shooter", Vec2::new(200.0, 500.0));
    let t = add_at(&mut w, "behind the wall", Vec2::new(400.0, 500.0));
    let s_net = net(&w, s);
    step(&mut w, &[(s, input(0.0, 0.0, 0.0, true))]);
    let shot = projectiles_of(&w, s_net)[0];
    let mut alive_states = 0;
    for _ in 0..60 {
        if let Some(id) = w.find_net(shot) {
            alive_states += 1;
            let EntityKind::Projectile(p) = &w.entities[id].kind else {
                unreachable!()
            };
            let at = p.position_at(w.tick, w.config.dt());
            assert!(
                at.x + w.config.projectile_radius <= wall.x,
                "in the wall: {at}"
            );
        }
        step(&mut w, &[(s, idle())]);
    }
    // 226, 246, 266, 286 are clear; the flight from 286 reaches the wall.
    assert_eq!(alive_states, 4);
    assert_eq!(player(&w, t).hp, 100, "nothing behind the wall is hit");
}

#[test]
fn a_projectile_never_hits_its_owner() {
    let mut w = arena();
    let s = add_at(&mut w, "shooter", Vec2::new(200.0, 500.0));
    let s_net = net(&w, s);
    step(&mut w, &[(s, input(0.0, 0.0, 0.0, true))]);
    let shot = projectiles_of(&w, s_net)[0];
    // The shooter stands in its own line of fire (where another player would be hit).
    place(&mut w, s, Vec2::new(300.0, 500.0));
    for _ in 0..10 {
        step(&mut w, &[(s, idle())]);
    }
    assert_eq!(player(&w, s).hp, 100);
    assert!(
        w.find_net(shot).is_some(),
        "the shot flew on through its owner"
    );
}

#[test]
fn a_player_added_late_in_a_long_game_can_fire() {
    let mut w = arena();
    // 2^31 ticks is 828 days at 30 Hz: a long-running room, well within Tick's wrap range.
    w.tick = Tick((1 << 31) + 1);
    let s = add_at(&mut w, "late", Vec2::new(200.0, 500.0));
    let s_net = net(&w, s);
    for _ in 0..30 {
        step(&mut w, &[(s, input(0.0, 0.0, 0.0, true))]);
    }
    assert_eq!(projectiles_of(&w, s_net).len(), 4);
}

#[test]
fn firing_works_across_the_tick_wrap() {
    let mut w = arena();
    w.tick = Tick(u32::MAX - 11);
    let s = add_at(&mut w, "wrapper", Vec2::new(200.0, 500.0));
    let s_net = net(&w, s);
    // A player of a running game: its cooldown is recent (see the ignored test above for a
    // player created with the default `next_fire`).
    match &mut w.entities[s].kind {
        EntityKind::Player(p) => p.next_fire = w.tick,
        _ => unreachable!("s is a player"),
    }
    let mut spawn_ticks = std::collections::BTreeMap::new();
    for _ in 0..30 {
        step(&mut w, &[(s, input(0.0, 0.0, 0.0, true))]);
        for id in projectiles_of(&w, s_net) {
            if let EntityKind::Projectile(p) = &w.entities[w.find_net(id).expect("exists")].kind {
                spawn_ticks.insert(id, p.spawn_tick);
            }
        }
    }
    assert_eq!(w.tick, Tick(18), "wrapped");
    let ticks: Vec<Tick> = spawn_ticks.values().copied().collect();
    assert_eq!(
        ticks,
        vec![Tick(u32::MAX - 10), Tick(u32::MAX - 2), Tick(5), Tick(13)]
    );
}
