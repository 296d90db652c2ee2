//! The dash (walkthrough 2 of `docs/extending.md`): a burst of speed along the movement
//! direction for `dash_s`, then a cooldown; predicted by the client exactly, through the
//! replicated ability timers.

mod common;

use common::*;
use glam::Vec2;
use tickwire_shared::entity::NetEntity;
use tickwire_shared::input::Buttons;
use tickwire_shared::protocol::snapshot::{diff, Extrapolation};
use tickwire_shared::replica::prediction::Predictor;
use tickwire_shared::sim::movement::Motion;
use tickwire_shared::sim::{self, spawn};
use tickwire_shared::{PlayerInput, Tick, World};

fn dash_right() -> PlayerInput {
    input_with(1.0, 0.0, 0.0, Buttons::DASH)
}

fn setup() -> (World, tickwire_shared::entity::EntityId) {
    let mut w = world(open_map(4000.0, 1000.0, &[[100.0, 500.0]]), 1);
    let p = spawn::add_player(&mut w, "dasher");
    place(&mut w, p, Vec2::new(100.0, 500.0));
    (w, p)
}

#[test]
fn a_dash_is_fast_for_dash_s_then_waits_for_its_cooldown() {
    let (mut w, p) = setup();
    let c = w.config.clone();
    let (dash_ticks, cooldown) = (c.ticks(c.dash_s), c.ticks(c.dash_cooldown_s));
    let mut steps = Vec::new();
    // Dash held the whole time: one dash, the walk, then the next dash when ready.
    for _ in 0..cooldown + 2 {
        let before = pos(&w, p).x;
        sim::step(&mut w, &[(p, dash_right())]);
        steps.push(pos(&w, p).x - before);
    }
    let fast = c.dash_speed * c.dt();
    let slow = c.player_speed * c.dt();
    let near = |a: f32, b: f32| (a - b).abs() <= 0.125;
    for (i, s) in steps.iter().enumerate() {
        let i = i as u32;
        let dashing = i < dash_ticks || i >= cooldown;
        let want = if dashing { fast } else { slow };
        assert!(near(*s, want), "tick {i}: moved {s}, want {want}");
    }
    let a = &player(&w, p).abilities;
    assert_eq!(a.dash_ready, Tick(cooldown).plus(cooldown));
}

#[test]
fn standing_still_does_not_spend_the_dash() {
    let (mut w, p) = setup();
    sim::step(&mut w, &[(p, input_with(0.0, 0.0, 0.0, Buttons::DASH))]);
    assert_eq!(player(&w, p).abilities.dash_ready, Tick(0));
    assert_eq!(pos(&w, p), Vec2::new(100.0, 500.0));
}

/// The server runs; the client predicts every input at its tick and reconciles with
/// snapshots `lag` ticks old. Returns the largest correction.
fn predict(lag: usize, ignore_timers: bool) -> f32 {
    let (mut w, p) = setup();
    let me = net(&w, p);
    let mut predictor = Predictor::new();
    let mut snapshots = Vec::new();
    let mut worst = 0.0f32;
    for seq in 1..=120u32 {
        // Dash now and then, turn now and then.
        let dir = if (seq / 25) % 2 == 0 { 1.0 } else { -1.0 };
        let buttons = Buttons::DASH.when(seq % 7 == 0);
        let input = input_with(dir, 0.3, 0.0, buttons);
        let tick = w.tick;
        predictor.on_input(seq, tick, input, &w.config, &w.map);
        sim::step(&mut w, &[(p, input)]);
        let Some(NetEntity::Player(view)) = w
            .net_state()
            .into_iter()
            .find(|(i, _)| *i == me)
            .map(|(_, e)| e)
        else {
            panic!("the player is there");
        };
        snapshots.push((seq, view));
        if snapshots.len() > lag {
            let (applied, view) = snapshots.remove(0);
            let mut server = view.motion();
            if ignore_timers {
                server = Motion {
                    pos: server.pos,
                    ..Motion::default()
                };
            }
            let err = predictor.on_snapshot(server, applied, true, &w.config, &w.map);
            worst = worst.max(err);
        }
    }
    if !ignore_timers {
        assert_eq!(predictor.predicted(), Some(pos(&w, p)));
    }
    worst
}

#[test]
fn the_client_predicts_dashes_exactly_through_the_replicated_timers() {
    for lag in [1, 3, 8] {
        assert_eq!(predict(lag, false), 0.0, "lag {lag}");
    }
    // A client that ignored the replicated timers would dash again too early and be
    // corrected: the timers are what makes the prediction right.
    assert!(predict(8, true) > 0.0);
}

#[test]
fn a_dash_under_way_and_its_end_cost_nothing_on_the_wire() {
    // Baselines are carried forward with `advance` from the baseline's tick: the client
    // extrapolates the dash and the return to walking speed exactly, so only its start
    // travels (the new timers), like a turn.
    let (mut w, p) = setup();
    let cooldown = w.config.ticks(w.config.dash_cooldown_s);
    let mut patches = Vec::new();
    for i in 0..cooldown - 1 {
        let (before, at) = (w.net_state(), w.tick);
        let inputs = if i == 0 {
            vec![(p, dash_right())]
        } else {
            vec![]
        };
        sim::step(&mut w, &inputs);
        let ext = Extrapolation {
            baseline: at,
            ticks: 1,
            config: &w.config,
            map: &w.map,
        };
        patches.push(diff(&before, &w.net_state(), &ext).patches.len());
    }
    assert_eq!(patches[0], 1, "the dash starts: its timers travel");
    assert!(
        patches[1..].iter().all(|&n| n == 0),
        "then nothing travels: {patches:?}"
    );
}
