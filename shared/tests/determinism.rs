//! Determinism: the same seed and the same scripted inputs give the same world, tick for
//! tick, hash for hash; another seed gives another game. The script is built so that the
//! game really happens (shots, kills, respawns), so the test cannot pass on an idle world.

mod common;

use common::*;
use glam::Vec2;
use tickwire_shared::entity::{EntityId, EntityKind, NetEntity, NetId};
use tickwire_shared::input::{Buttons, InputMsg};
use tickwire_shared::rng::Rng;
use tickwire_shared::sim::{self, spawn, GameEvent};
use tickwire_shared::{Map, PlayerInput, Tick, World};

const TICKS: u32 = 600;
const SEED: u64 = 0x7157_0001;

/// A 1200 x 800 arena with pillars away from the middle lane and six spawn points.
fn arena() -> Map {
    let mut map = with_walls(
        open_map(
            1200.0,
            800.0,
            &[
                [150.0, 150.0],
                [1050.0, 150.0],
                [150.0, 650.0],
                [1050.0, 650.0],
                [600.0, 120.0],
                [600.0, 680.0],
            ],
        ),
        &[
            rect(280.0, 180.0, 60.0, 120.0),
            rect(860.0, 500.0, 60.0, 120.0),
            rect(560.0, 250.0, 80.0, 30.0),
            rect(0.0, 380.0, 40.0, 40.0),
        ],
    );
    // Health pickups on the lanes, so heals and pickup timers enter the hashes too.
    map.pickups = vec![
        [600.0, 400.0],
        [300.0, 400.0],
        [900.0, 400.0],
        [600.0, 200.0],
    ];
    map
}

/// What one run of the scenario produced, tick by tick.
#[derive(Debug, PartialEq)]
struct Record {
    hashes: Vec<u64>,
    events: Vec<(Tick, GameEvent)>,
    views: Vec<Vec<(NetId, NetEntity)>>,
    max_projectiles: usize,
    /// Every button some input held.
    pressed: Buttons,
}

/// The script: two duelists facing each other, firing in bursts, and wanderers that walk,
/// turn and shoot at random; one wanderer leaves and another joins half way.
struct Scenario {
    world: World,
    script: Rng,
    duelists: [EntityId; 2],
    wanderers: Vec<EntityId>,
    bursts: [bool; 2],
    wander_inputs: Vec<InputMsg>,
    /// Every button some input held.
    pressed: Buttons,
}

fn wire(move_x: f32, move_y: f32, aim: f32, buttons: Buttons) -> InputMsg {
    wire_input(move_x, move_y, aim, buttons)
}

fn fire(on: bool) -> Buttons {
    if on {
        Buttons::FIRE
    } else {
        Buttons::default()
    }
}

/// A float in `[-1, 1)` from the script's generator.
fn unit(rng: &mut Rng) -> f32 {
    rng.below(2048) as f32 / 1024.0 - 1.0
}

impl Scenario {
    fn new(seed: u64) -> Scenario {
        let mut world = common::world(arena(), seed);
        let a = spawn::add_player(&mut world, "duel-a");
        let b = spawn::add_player(&mut world, "duel-b");
        place(&mut world, a, Vec2::new(420.0, 400.0));
        place(&mut world, b, Vec2::new(780.0, 400.0));
        let wanderers = (0..3)
            .map(|i| spawn::add_player(&mut world, &format!("wanderer-{i}")))
            .collect();
        Scenario {
            world,
            script: Rng::new(seed ^ 0x5c41_97e3),
            duelists: [a, b],
            wanderers,
            bursts: [true, true],
            wander_inputs: vec![wire(0.0, 0.0, 0.0, Buttons::default()); 3],
            pressed: Buttons::default(),
        }
    }

    /// This tick's inputs: not every player sends one every tick (the others repeat theirs).
    fn inputs(&mut self) -> Vec<(EntityId, PlayerInput)> {
        let tick = self.world.tick.0;
        let mut out = Vec::new();
        for (i, &me) in self.duelists.iter().enumerate() {
            let other = self.duelists[1 - i];
            if tick.is_multiple_of(15) {
                self.bursts[i] = self.script.below(4) != 0;
            }
            // Aim at the other duelist from the current state, sway a little along y.
            let (from, to) = (pos(&self.world, me), pos(&self.world, other));
            let sway = if (tick / 20 + i as u32).is_multiple_of(2) {
                0.1
            } else {
                -0.1
            };
            let back_to_lane = (400.0 - from.y) / 100.0;
            let msg = wire(
                0.0,
                sway + back_to_lane,
                aim_at(from, to),
                fire(self.bursts[i]),
            );
            out.push((me, PlayerInput::from_wire(&msg).expect("finite")));
        }
        for (k, &w) in self.wanderers.iter().enumerate() {
            if tick % 20 == k as u32 * 5 {
                let r = &mut self.script;
                // Every button of `Buttons::ALL`, each a third of the time.
                let (x, y, aim) = (unit(r), unit(r), unit(r) * std::f32::consts::PI);
                self.wander_inputs[k] = wire(x, y, aim, random_buttons(r, 33));
            }
            if self.script.below(3) != 0 {
                let input = PlayerInput::from_wire(&self.wander_inputs[k]).expect("finite");
                self.pressed = self.pressed.union(input.buttons);
                out.push((w, input));
            }
        }
        out
    }

    fn run(mut self) -> Record {
        let mut record = Record {
            hashes: Vec::new(),
            events: Vec::new(),
            views: Vec::new(),
            max_projectiles: 0,
            pressed: Buttons::default(),
        };
        for _ in 0..TICKS {
            if self.world.tick == Tick(300) {
                let gone = self.wanderers.remove(0);
                spawn::remove_player(&mut self.world, gone);
                self.wander_inputs.remove(0);
                let new = spawn::add_player(&mut self.world, "late-joiner");
                self.wanderers.push(new);
                self.wander_inputs
                    .push(wire(0.0, 0.0, 0.0, Buttons::default()));
            }
            let inputs = self.inputs();
            let events = sim::step(&mut self.world, &inputs);
            check_invariants(&self.world);
            record.hashes.push(self.world.hash());
            record
                .events
                .extend(events.into_iter().map(|e| (self.world.tick, e)));
            record.views.push(self.world.net_state());
            record.max_projectiles = record.max_projectiles.max(projectile_count(&self.world));
        }
        record.pressed = self.pressed;
        record
    }
}

/// Rules that hold after every tick of any game.
fn check_invariants(world: &World) {
    let r = world.config.player_radius;
    for e in world.entities.values() {
        if let EntityKind::Player(p) = &e.kind {
            assert!(p.hp <= world.config.max_hp);
            assert_eq!(p.alive(), p.hp > 0, "hp {} alive {}", p.hp, p.alive());
            assert!(e.pos.x >= r && e.pos.x <= world.map.width - r, "{}", e.pos);
            assert!(e.pos.y >= r && e.pos.y <= world.map.height - r, "{}", e.pos);
            for wall in &world.map.walls {
                assert!(
                    !wall.overlaps_circle(e.pos, r - 0.5),
                    "player {:?} in a wall at {}",
                    e.net_id,
                    e.pos
                );
            }
        }
    }
}

fn kills(r: &Record) -> usize {
    r.events
        .iter()
        .filter(|(_, e)| matches!(e, GameEvent::Kill { .. }))
        .count()
}

fn respawns(r: &Record) -> usize {
    r.events
        .iter()
        .filter(|(_, e)| matches!(e, GameEvent::Respawn { .. }))
        .count()
}

#[test]
fn same_seed_and_inputs_give_the_same_game_tick_for_tick() {
    let first = Scenario::new(SEED).run();
    let second = Scenario::new(SEED).run();
    assert_eq!(first.hashes.len(), TICKS as usize);
    assert_eq!(first.hashes, second.hashes);
    assert_eq!(first, second);

    // The scenario is not vacuous: shots flew, someone died and came back.
    assert!(first.max_projectiles >= 2, "{}", first.max_projectiles);
    assert!(kills(&first) >= 1, "no kill in {TICKS} ticks");
    assert!(respawns(&first) >= 1, "no respawn in {TICKS} ticks");
    // Every button and every kind took part: a new one is covered the day it is added
    // (or this fails, saying what the scenario must learn to do).
    assert_eq!(
        first.pressed,
        Buttons::ALL,
        "the scripted inputs press every button"
    );
    let seen = first
        .views
        .iter()
        .flat_map(|v| kinds_in(v))
        .collect::<std::collections::BTreeSet<_>>();
    assert_eq!(
        seen,
        all_kinds(),
        "every kind of net_kinds! appears in the game: place the new one in arena() or let \
         the script make it"
    );
    // A hash that ignored the state would be constant.
    let distinct: std::collections::HashSet<u64> = first.hashes.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        first.hashes.len(),
        "every tick hashes differently"
    );
}

#[test]
fn another_seed_gives_another_game() {
    let a = Scenario::new(SEED).run();
    let b = Scenario::new(SEED + 1).run();
    assert_ne!(a.hashes, b.hashes);
    // Not only the generator's state: what players see differs too.
    let differing = a.views.iter().zip(&b.views).filter(|(x, y)| x != y).count();
    assert!(
        differing > TICKS as usize / 2,
        "only {differing} views differ"
    );
    assert!(kills(&b) >= 1 && respawns(&b) >= 1);
}

#[test]
fn a_cloned_world_continues_identically() {
    // What a server replay or a client rollback relies on: a copy mid-game, fed the same
    // inputs, stays equal to the original.
    let mut s = Scenario::new(SEED);
    for _ in 0..250 {
        let inputs = s.inputs();
        sim::step(&mut s.world, &inputs);
    }
    let mut copy = s.world.clone();
    assert_eq!(copy.hash(), s.world.hash());
    for _ in 0..250 {
        let inputs = s.inputs();
        let e1 = sim::step(&mut s.world, &inputs);
        let e2 = sim::step(&mut copy, &inputs);
        assert_eq!(e1, e2);
        assert_eq!(copy.hash(), s.world.hash(), "tick {}", s.world.tick);
    }
}
