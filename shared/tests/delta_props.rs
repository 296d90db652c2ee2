//! Delta replication, end to end without sockets: a world evolves at random (players join,
//! leave, walk, fight), a server keeps a ring of past replicated states and sends each tick
//! a delta against the newest tick the client acknowledged (a full state when that tick has
//! left the ring), through the real codec; the client drops some snapshots, acknowledges
//! late, and its `Replica` must equal the server's view after every snapshot it applies,
//! and hand out every event of the ticks it was told about exactly once.

mod common;

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

use common::*;
use proptest::prelude::*;
use tickwire_shared::entity::{EntityId, EntityKind, NetEntity, NetId};
use tickwire_shared::input::Buttons;
use tickwire_shared::protocol::codec::{decode_server, encode_server};
use tickwire_shared::protocol::snapshot::{diff, Extrapolation, Snapshot, SnapshotHeader};
use tickwire_shared::protocol::ServerMsg;
use tickwire_shared::replica::{NetState, MAX_KEPT_STATES};
use tickwire_shared::rng::Rng;
use tickwire_shared::sim::{self, spawn, GameEvent, TickEvent};
use tickwire_shared::{PlayerInput, Replica, Tick, World};

/// The knobs of one run.
#[derive(Clone, Debug)]
struct Params {
    seed: u64,
    ticks: u32,
    /// Ticks the server keeps for baselines.
    history_len: usize,
    /// Percent of snapshots the client never gets (skipped by the server or dropped).
    drop_pct: u32,
    /// Percent of received snapshots the client acknowledges.
    ack_pct: u32,
    /// Largest extra delay, in ticks, before an acknowledgement reaches the server.
    max_ack_delay: u32,
    /// Percent per tick that a player joins / that one leaves.
    join_pct: u32,
    leave_pct: u32,
    /// Percent of fresh inputs that hold each button of `Buttons::ALL`.
    button_pct: u32,
}

/// What a run saw, for assertions beyond the per-snapshot ones.
#[derive(Debug, Default)]
struct Outcome {
    applied: usize,
    deltas: usize,
    /// Full states sent although the client had acknowledged a tick (gone from the ring).
    fallbacks: usize,
    /// Events the replica handed out, in order.
    yielded: Vec<TickEvent>,
    /// Every event of the game.
    all_events: Vec<TickEvent>,
    /// Ticks whose events some received body was meant to carry.
    covered: BTreeSet<u32>,
    first_tick: Option<Tick>,
    last_tick: Option<Tick>,
    /// Every button some input held.
    pressed: Buttons,
    /// Every kind some applied state held.
    kinds: BTreeSet<&'static str>,
}

struct History {
    ring: VecDeque<(Tick, NetState, Vec<TickEvent>)>,
    len: usize,
}

impl History {
    fn push(&mut self, tick: Tick, state: Vec<(NetId, NetEntity)>, events: Vec<TickEvent>) {
        self.ring.push_back((tick, Arc::new(state), events));
        while self.ring.len() > self.len {
            self.ring.pop_front();
        }
    }

    fn state(&self, tick: Tick) -> Option<&[(NetId, NetEntity)]> {
        self.ring
            .iter()
            .find(|(t, _, _)| *t == tick)
            .map(|(_, s, _)| s.as_slice())
    }
}

fn map() -> tickwire_shared::Map {
    let mut map = with_walls(
        open_map(
            500.0,
            500.0,
            &[[60.0, 60.0], [440.0, 60.0], [60.0, 440.0], [440.0, 440.0]],
        ),
        &[rect(230.0, 230.0, 40.0, 40.0)],
    );
    // Pickups: their spawn, take and return travel in deltas too.
    map.pickups = vec![[250.0, 120.0], [120.0, 250.0], [380.0, 250.0]];
    map
}

fn players(world: &World) -> Vec<EntityId> {
    world
        .entities
        .iter()
        .filter(|(_, e)| matches!(e.kind, EntityKind::Player(_)))
        .map(|(id, _)| id)
        .collect()
}

/// A float in `[-1, 1)`.
fn unit(rng: &mut Rng) -> f32 {
    rng.below(2048) as f32 / 1024.0 - 1.0
}

fn chance(rng: &mut Rng, pct: u32) -> bool {
    rng.below(100) < pct
}

/// Random joins, leaves and inputs for this tick. Most fresh inputs aim at another
/// player, so that fights, kills and respawns happen.
fn evolve(
    world: &mut World,
    rng: &mut Rng,
    p: &Params,
    joined: &mut u32,
) -> Vec<(EntityId, PlayerInput)> {
    let ids = players(world);
    if ids.len() < 6 && chance(rng, p.join_pct) {
        *joined += 1;
        spawn::add_player(world, &format!("p{joined}"));
    }
    if !ids.is_empty() && chance(rng, p.leave_pct) {
        let gone = ids[rng.below(ids.len() as u32) as usize];
        spawn::remove_player(world, gone);
    }
    let ids = players(world);
    let mut inputs = Vec::new();
    for &me in &ids {
        if !chance(rng, 40) {
            continue; // repeats its last input
        }
        let here = pos(world, me);
        let aim = if ids.len() > 1 && chance(rng, 60) {
            let other = ids[rng.below(ids.len() as u32) as usize];
            aim_at(here, pos(world, other))
        } else {
            unit(rng) * std::f32::consts::PI
        };
        let (x, y) = (unit(rng), unit(rng));
        inputs.push((me, input_with(x, y, aim, random_buttons(rng, p.button_pct))));
    }
    inputs
}

/// Runs one game with one client; panics on the first divergence.
fn run(p: &Params) -> Outcome {
    let mut world = common::world(map(), p.seed);
    let mut rng = Rng::new(p.seed.rotate_left(17) ^ 0xde17a);
    let mut joined = 0;
    for _ in 0..2 + rng.below(4) {
        joined += 1;
        spawn::add_player(&mut world, &format!("p{joined}"));
    }
    let mut history = History {
        ring: VecDeque::new(),
        len: p.history_len,
    };
    history.push(world.tick, world.net_state(), Vec::new());

    let mut replica = Replica::new(world.config.clone(), world.map.clone());
    let mut server_ack: Option<Tick> = None;
    let mut acks_in_flight: VecDeque<(u32, Tick)> = VecDeque::new();
    let mut last_arrival = 0u32;
    let mut out = Outcome::default();

    for n in 0..=p.ticks {
        if n > 0 {
            let inputs = evolve(&mut world, &mut rng, p, &mut joined);
            for (_, i) in &inputs {
                out.pressed = out.pressed.union(i.buttons);
            }
            let events: Vec<TickEvent> = sim::step(&mut world, &inputs)
                .into_iter()
                .map(|event| TickEvent {
                    tick: world.tick,
                    event,
                })
                .collect();
            out.all_events.extend(events.iter().cloned());
            history.push(world.tick, world.net_state(), events);
        }
        let now = world.tick;
        let now_state = history.state(now).expect("just pushed").to_vec();

        // Acknowledgements arrive in order (one TCP stream), each after its delay.
        while acks_in_flight.front().is_some_and(|(at, _)| *at <= now.0) {
            server_ack = acks_in_flight.pop_front().map(|(_, t)| t);
        }

        // The first and the last snapshots always go out, the others may not.
        if n > 0 && n < p.ticks && chance(&mut rng, p.drop_pct) {
            continue;
        }

        // Server: delta against the acknowledged tick if it is still held, else full.
        let baseline = server_ack.filter(|t| history.state(*t).is_some());
        let base = baseline.and_then(|t| history.state(t)).unwrap_or(&[]);
        let ext = Extrapolation {
            baseline: baseline.unwrap_or(now),
            ticks: baseline.map_or(0, |b| now.since(b)),
            config: &world.config,
            map: &world.map,
        };
        let mut body = diff(base, &now_state, &ext);
        for (t, _, events) in &history.ring {
            if baseline.is_none_or(|b| t.is_after(b)) {
                body.events.extend(events.iter().cloned());
                out.covered.insert(t.0);
            }
        }
        let header = SnapshotHeader {
            tick: now,
            baseline,
            last_input_seq: now.0.wrapping_mul(3),
        };
        let bytes = encode_server(&ServerMsg::Snapshot(Snapshot { header, body }));

        // Client: decode, apply, compare with the server's view.
        let snap = match decode_server(&bytes) {
            Ok(ServerMsg::Snapshot(s)) => s,
            other => panic!("tick {now}: {other:?}"),
        };
        assert_eq!(snap.header, header);
        let fresh = replica
            .apply(&snap)
            .unwrap_or_else(|e| panic!("tick {now} baseline {baseline:?}: {e}"));
        assert_eq!(replica.tick(), Some(now));
        assert_eq!(replica.last_input_seq(), header.last_input_seq);
        assert!(
            replica.entities() == now_state.as_slice(),
            "tick {now} baseline {baseline:?}: replica differs from the server\n\
             replica: {:?}\nserver: {:?}",
            replica.entities(),
            now_state
        );
        for (id, e) in &now_state {
            assert_eq!(replica.get(*id), Some(e));
        }
        out.yielded.extend(fresh);
        out.kinds.extend(kinds_in(replica.entities()));
        out.applied += 1;
        match (baseline, server_ack) {
            (Some(_), _) => out.deltas += 1,
            (None, Some(_)) => out.fallbacks += 1,
            (None, None) => {}
        }
        out.first_tick.get_or_insert(now);
        out.last_tick = Some(now);

        if chance(&mut rng, p.ack_pct) {
            let arrival = (now.0 + rng.below(p.max_ack_delay + 1)).max(last_arrival);
            last_arrival = arrival;
            acks_in_flight.push_back((arrival, now));
        }
    }
    check_events(&out);
    out
}

/// The replica hands out exactly the events of the ticks it was told about, each once,
/// in order, however many snapshots carried them.
fn check_events(out: &Outcome) {
    let expected: Vec<TickEvent> = out
        .all_events
        .iter()
        .filter(|e| out.covered.contains(&e.tick.0))
        .cloned()
        .collect();
    assert_eq!(out.yielded, expected);
    let unique: BTreeSet<(u32, String)> = out
        .yielded
        .iter()
        .map(|e| (e.tick.0, format!("{:?}", e.event)))
        .collect();
    assert_eq!(
        unique.len(),
        out.yielded.len(),
        "an event was handed out twice"
    );
    let first = out.first_tick.expect("one snapshot").0;
    let last = out.last_tick.expect("one snapshot").0;
    if complete_cover(out) {
        // No tick went untold: every event of the game after the first snapshot arrived.
        let all: Vec<&TickEvent> = out
            .all_events
            .iter()
            .filter(|e| e.tick.0 > first && e.tick.0 <= last)
            .collect();
        assert_eq!(out.yielded.iter().collect::<Vec<_>>(), all);
    }
}

/// Whether the bodies received told of every tick from the first snapshot to the last.
fn complete_cover(out: &Outcome) -> bool {
    let (Some(first), Some(last)) = (out.first_tick, out.last_tick) else {
        return false;
    };
    (first.0 + 1..=last.0).all(|t| out.covered.contains(&t))
}

fn kills(events: &[TickEvent]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e.event, GameEvent::Kill { .. }))
        .count()
}

fn params() -> impl Strategy<Value = Params> {
    (
        any::<u64>(),
        40u32..220,
        2usize..=MAX_KEPT_STATES,
        0u32..80,
        20u32..=100,
        0u32..12,
        (0u32..8, 0u32..5),
        20u32..90,
    )
        .prop_map(
            |(seed, ticks, history_len, drop_pct, ack_pct, max_ack_delay, (join, leave), press)| {
                Params {
                    seed,
                    ticks,
                    history_len,
                    drop_pct,
                    ack_pct,
                    max_ack_delay,
                    join_pct: join,
                    leave_pct: leave,
                    button_pct: press,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn replica_tracks_the_server_under_drops_and_late_acks(p in params()) {
        let out = run(&p);
        prop_assert!(out.applied >= 1);
    }
}

fn fixed(history_len: usize, drop_pct: u32, max_ack_delay: u32) -> Params {
    Params {
        seed: 0x5eed_0042,
        ticks: 600,
        history_len,
        drop_pct,
        ack_pct: 70,
        max_ack_delay,
        join_pct: 2,
        leave_pct: 1,
        button_pct: 80,
    }
}

#[test]
fn kills_reach_the_client_exactly_once_while_snapshots_are_skipped() {
    // A ring long enough for every delay: the baseline is always held.
    let out = run(&fixed(MAX_KEPT_STATES, 50, 8));
    assert_eq!(out.fallbacks, 0);
    assert!(complete_cover(&out));
    assert!(out.deltas > 100, "{} deltas", out.deltas);
    assert!(
        out.applied < 450,
        "half the snapshots are skipped: {}",
        out.applied
    );
    let total = kills(&out.all_events);
    assert!(total >= 3, "only {total} kills: the scenario must fight");
    assert_eq!(kills(&out.yielded), total, "every kill handed out once");
    // Every button was pressed and every kind travelled: a new one is covered the day it
    // is added (or this fails, saying what the scenario must learn to do).
    assert_eq!(out.pressed, Buttons::ALL, "the inputs press every button");
    assert_eq!(
        out.kinds,
        all_kinds(),
        "every kind of net_kinds! reaches the replica: place the new one in map() or let the \
         inputs make it"
    );
    assert!(out
        .yielded
        .iter()
        .any(|e| matches!(e.event, GameEvent::Respawn { .. })));
}

#[test]
fn a_lost_baseline_falls_back_to_a_full_state() {
    // A ring shorter than the acknowledgement delay: some baselines are gone.
    let out = run(&fixed(3, 30, 6));
    assert!(out.fallbacks > 10, "{} fallbacks", out.fallbacks);
    assert!(!complete_cover(&out), "some ticks' events are never told");
    assert!(out.deltas > 10, "{} deltas", out.deltas);
}

#[test]
fn a_delta_is_smaller_than_a_full_state_when_little_changes() {
    let mut world = common::world(map(), 3);
    for i in 0..6 {
        let id = spawn::add_player(&mut world, &format!("player-{i}"));
        place(
            &mut world,
            id,
            glam::Vec2::new(50.0 + 60.0 * i as f32, 100.0),
        );
    }
    let before = world.net_state();
    let mover = players(&world)[0];
    sim::step(&mut world, &[(mover, input(1.0, 0.0, 0.0, false))]);
    let now = world.net_state();
    let ext = Extrapolation {
        baseline: world.tick.minus(1),
        ticks: 1,
        config: &world.config,
        map: &world.map,
    };
    let delta = diff(&before, &now, &ext);
    assert_eq!(delta.patches.len(), 1, "only the mover changed");
    assert!(delta.spawns.is_empty() && delta.despawns.is_empty());
    let header = SnapshotHeader {
        tick: world.tick,
        baseline: Some(Tick(0)),
        last_input_seq: 0,
    };
    let full = diff(&[], &now, &ext);
    let d = encode_server(&ServerMsg::Snapshot(Snapshot {
        header,
        body: delta,
    }))
    .len();
    let f = encode_server(&ServerMsg::Snapshot(Snapshot { header, body: full })).len();
    assert!(d * 5 < f, "delta {d} bytes, full {f} bytes");
}
