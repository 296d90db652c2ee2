//! Spectators, through the real `Room::tick` with in-memory connections (virtual time,
//! see `tickwire_tests::replay`): they receive the room's snapshots and are never in it;
//! one whose view and baseline are a player's costs no extra encode; a delay holds; the
//! cap holds; a spectator that sends an input is closed, the players play on.

use std::collections::HashMap;
use std::time::Duration;

use tickwire_server::room::{Ending, Interest};
use tickwire_shared::protocol::{codec, ClientMsg, DisconnectReason};
use tickwire_shared::{Controls, Map, NetEntity, NetId, Tick};
use tickwire_tests::replay::{arena_map, recorded_settings, VirtualMatch};

fn four_bots(settings: tickwire_server::room::RoomSettings, map: Map) -> VirtualMatch {
    let mut m = VirtualMatch::new(settings, map);
    for i in 0..4 {
        m.join(&format!("bot{i}"));
    }
    m
}

#[test]
fn spectators_receive_the_rooms_snapshots_and_never_appear_in_it() {
    let mut m = four_bots(recorded_settings(None, 8), arena_map());
    for _ in 0..10 {
        m.tick();
    }
    let entities_before = m.room.world().entities.len();
    let mut free = m.watch(None);
    let follower_of = m.bots[2].net_id;
    let mut follower = m.watch(Some(follower_of));
    assert_eq!(m.room.spectator_count(), 2);
    assert_eq!(m.room.player_count(), 4, "spectators are not players");
    assert_eq!(
        m.room.world().entities.len(),
        entities_before,
        "no entity for a spectator"
    );
    for _ in 0..60 {
        m.tick();
        let now = m.room.world().tick;
        for w in [&mut free, &mut follower] {
            assert_eq!(w.receive(), vec![now], "one snapshot a tick, of this tick");
            let replica = w.replica.as_ref().unwrap();
            assert_eq!(
                replica.entities(),
                m.room.world().net_state().as_slice(),
                "the spectator holds the room's state"
            );
        }
        let players = m.room.world().player_count();
        assert_eq!(players, 4);
    }
    // A spectator that sends an input is closed; the players play on.
    let input = Controls::default().to_msg(1, m.room.world().tick, None);
    free.link
        .push(codec::encode_client(&ClientMsg::Input(input)));
    m.tick();
    assert_eq!(follower.receive().len(), 1);
    match free.ended.try_recv() {
        Ok((_, Ending::Close(c))) => {
            assert_eq!(c.reason, Some(DisconnectReason::BadMessage));
            assert!(c.detail.contains("no input"), "{}", c.detail);
        }
        other => panic!("closed with a reason: {other:?}"),
    }
    assert_eq!(m.room.spectator_count(), 1);
    for _ in 0..5 {
        m.tick();
        assert_eq!(follower.receive().len(), 1);
    }
    assert_eq!(m.room.player_count(), 4);
}

/// Twin rooms, the same bots and inputs: one with spectators following players. Their
/// encodes are the same every tick once the spectators hold a baseline.
fn encodes_with_and_without_spectators(interest: Interest, map: &Map) {
    let settings = || tickwire_server::room::RoomSettings {
        interest,
        ..recorded_settings(None, 8)
    };
    let mut alone = four_bots(settings(), map.clone());
    let mut watched = four_bots(settings(), map.clone());
    let mut watchers: Vec<_> = (0..4)
        .map(|i| watched.watch(Some(watched.bots[i % 4].net_id)))
        .collect();
    watchers.push(watched.watch(Some(watched.bots[0].net_id)));
    for t in 0..90 {
        let a = alone.tick();
        let b = watched.tick();
        for w in &mut watchers {
            assert_eq!(w.receive().len(), 1);
        }
        assert_eq!(b.frames_sent, a.frames_sent + watchers.len());
        if t >= 1 {
            assert_eq!(
                b.bodies_encoded, a.bodies_encoded,
                "tick {t}: spectators share the players' bodies"
            );
        }
    }
}

#[test]
fn spectating_a_player_costs_no_extra_body_encode() {
    encodes_with_and_without_spectators(Interest::everything(), &arena_map());
    encodes_with_and_without_spectators(
        Interest::view(800.0, 450.0, 100.0),
        &Map::open("wide", 4000.0),
    );
}

#[test]
fn delayed_spectators_see_the_room_exactly_that_much_later() {
    let delay_ticks = 45;
    let settings = tickwire_server::room::RoomSettings {
        spectator_delay: Duration::from_millis(1500),
        ..recorded_settings(None, 8)
    };
    let mut m = four_bots(settings, arena_map());
    let mut w = m.watch(None);
    let mut states: HashMap<Tick, Vec<(NetId, NetEntity)>> = HashMap::new();
    let mut seen = 0;
    for _ in 0..200 {
        m.tick();
        let now = m.room.world().tick;
        states.insert(now, m.room.world().net_state());
        let ticks = w.receive();
        if now.0 <= delay_ticks {
            assert!(
                ticks.is_empty(),
                "nothing before the delay: {ticks:?} at {now:?}"
            );
            continue;
        }
        assert_eq!(
            ticks,
            vec![Tick(now.0 - delay_ticks)],
            "exactly the delay behind"
        );
        assert_eq!(
            w.replica.as_ref().unwrap().entities(),
            states[&ticks[0]].as_slice(),
            "the room's state of then"
        );
        seen += 1;
    }
    assert_eq!(seen, 200 - delay_ticks as usize);
}

#[test]
fn the_spectator_cap_holds() {
    let settings = tickwire_server::room::RoomSettings {
        max_spectators: 2,
        ..recorded_settings(None, 8)
    };
    let mut m = four_bots(settings, arena_map());
    let _a = m.watch(None);
    let _b = m.watch(None);
    let mut c = m.watch(None);
    match c.ended.try_recv() {
        Ok((_, Ending::Close(close))) => {
            assert_eq!(close.reason, Some(DisconnectReason::ServerFull));
        }
        other => panic!("the third is refused: {other:?}"),
    }
    assert_eq!(m.room.spectator_count(), 2);
}
