//! The `replicated!` macro's patches: the mask names exactly the changed fields, only those
//! travel, applying the patch rebuilds the new value, and a player that only moved costs a
//! few bytes on the wire.

mod common;

use common::*;
use glam::Vec2;
use tickwire_shared::entity::{NetEntity, NetId, NetPatch, PlayerNet, ProjectileNet, QVec2};
use tickwire_shared::protocol::codec::{decode_server, encode_body, encode_server};
use tickwire_shared::protocol::snapshot::{diff, Extrapolation};
use tickwire_shared::protocol::{ServerMsg, Snapshot, SnapshotBody, SnapshotHeader};
use tickwire_shared::replication::{Patch, Replicated};
use tickwire_shared::sim::movement::Abilities;
use tickwire_shared::sim::{self, spawn};
use tickwire_shared::Tick;

fn base_player() -> PlayerNet {
    PlayerNet {
        pos: QVec2::from_vec2(Vec2::new(1000.5, 750.25)),
        aim: 120,
        dir: [120, 0],
        hp: 100,
        kills: 3,
        deaths: 2,
        respawn_at: None,
        name: "a rather long player name".into(),
        disconnected: false,
        abilities: Abilities::default(),
    }
}

/// [`base_player`] with every field changed (a new field of `PlayerNet` fails to compile
/// here until it is given a changed value too).
fn other_player() -> PlayerNet {
    PlayerNet {
        pos: QVec2::from_vec2(Vec2::new(1053.5, 700.0)),
        aim: 220,
        dir: [60, -60],
        hp: 75,
        kills: 4,
        deaths: 3,
        respawn_at: Some(Tick(1234)),
        name: "a rather long player name!".into(),
        disconnected: true,
        abilities: Abilities {
            dash_until: Tick(1240),
            dash_ready: Tick(1275),
        },
    }
}

/// `base` with field `i` (declaration order) changed, or `None` for a field that has one
/// value only (the empty `Abilities` of a game without movement abilities).
fn with_field_changed(base: &PlayerNet, i: u32) -> Option<PlayerNet> {
    let mut p = base.clone();
    p.apply_fields(1 << i, &other_player());
    (p != *base).then_some(p)
}

/// A snapshot frame with just `patches`, through the real codec, and what the client decodes.
fn send(patches: Vec<(NetId, NetPatch)>) -> (Vec<u8>, SnapshotBody) {
    let header = SnapshotHeader {
        tick: Tick(101),
        baseline: Some(Tick(100)),
        last_input_seq: 7,
    };
    let body = SnapshotBody {
        patches,
        ..SnapshotBody::default()
    };
    let bytes = encode_server(&ServerMsg::Snapshot(Snapshot { header, body }));
    match decode_server(&bytes) {
        Ok(ServerMsg::Snapshot(s)) => (bytes, s.body),
        other => panic!("{other:?}"),
    }
}

fn body_len(body: &SnapshotBody) -> usize {
    let mut out = Vec::new();
    encode_body(body, &mut out);
    out.len()
}

#[test]
fn the_mask_names_exactly_the_changed_fields() {
    let base = base_player();
    assert_eq!(
        PlayerNet::all_fields().count_ones(),
        PlayerNet::FIELD_COUNT,
        "one bit per field"
    );
    assert!(Patch::diff(&base, &base).is_none(), "no change, no patch");
    for i in 0..PlayerNet::FIELD_COUNT {
        let Some(now) = with_field_changed(&base, i) else {
            continue;
        };
        let patch = Patch::diff(&base, &now).expect("changed");
        assert_eq!(patch.mask, 1 << i, "field {i}");
        let mut replica = base.clone();
        patch.apply(&mut replica);
        assert_eq!(replica, now, "field {i}");
    }
    let both = with_field_changed(&with_field_changed(&base, 0).unwrap(), 2).unwrap();
    assert_eq!(Patch::diff(&base, &both).expect("changed").mask, 0b101);
}

#[test]
fn only_the_changed_fields_travel() {
    let base = base_player();
    for i in 0..PlayerNet::FIELD_COUNT {
        let Some(now) = with_field_changed(&base, i) else {
            continue;
        };
        let patch = Patch::diff(&base, &now).expect("changed");
        let (_, decoded) = send(vec![(NetId(9), NetPatch::Player(patch))]);
        let NetPatch::Player(got) = &decoded.patches[0].1 else {
            panic!("kind changed on the wire");
        };
        assert_eq!(got.mask, 1 << i);
        // Fields outside the mask were not sent: they decode as defaults...
        let mut only_changed = PlayerNet::default();
        only_changed.apply_fields(1 << i, &now);
        assert_eq!(got.value, only_changed, "field {i}");
        // ...and the patch still turns the baseline into the new value.
        let mut replica = base.clone();
        got.apply(&mut replica);
        assert_eq!(replica, now, "field {i}");
    }
}

#[test]
fn a_player_that_only_moved_costs_nine_bytes_in_a_snapshot() {
    let base = base_player();
    let mut now = base.clone();
    now.pos = QVec2::from_vec2(Vec2::new(1006.625, 750.25));
    let patch = Patch::diff(&base, &now).expect("moved");
    assert_eq!(patch.mask, 0b1, "only the position travels");

    let empty = body_len(&SnapshotBody::default());
    let one = SnapshotBody {
        patches: vec![(NetId(42), NetPatch::Player(patch.clone()))],
        ..SnapshotBody::default()
    };
    let entry = body_len(&one) - empty;
    // id 1 + kind 1 + mask 1 + x 3 + y 3 (varints of 8 x coordinates below 4096 units).
    assert_eq!(entry, 9);
    assert!(entry <= 12);
    let (frame, _) = send(vec![(NetId(42), NetPatch::Player(patch))]);
    assert_eq!(
        frame.len(),
        13 + empty + entry,
        "whole frame: header, lists, one entry"
    );

    // The same player as a spawn (what a full state carries) is several times larger.
    let spawn = SnapshotBody {
        spawns: vec![(NetId(42), NetEntity::Player(now))],
        ..SnapshotBody::default()
    };
    assert!(body_len(&spawn) - empty >= 3 * entry);
}

#[test]
fn a_player_costs_a_patch_when_it_turns_and_nothing_while_it_walks() {
    let mut w = world(open_map(2000.0, 1000.0, &[[1500.0, 500.0]]), 5);
    let p = spawn::add_player(&mut w, "mover");
    place(&mut w, p, Vec2::new(500.0, 500.0));
    fn ticks(w: &tickwire_shared::World, ticks: u32) -> Extrapolation<'_> {
        Extrapolation {
            baseline: w.tick.minus(ticks),
            ticks,
            config: &w.config,
            map: &w.map,
        }
    }
    let before = w.net_state();
    sim::step(&mut w, &[(p, input(1.0, 0.0, 0.0, false))]);
    // It starts walking: position and direction travel (aim 0 was already the default).
    let body = diff(&before, &w.net_state(), &ticks(&w, 1));
    assert_eq!(body.patches.len(), 1);
    let NetPatch::Player(patch) = &body.patches[0].1 else {
        panic!("{body:?}");
    };
    assert_eq!(patch.mask, 0b101, "pos and dir");
    assert!(body_len(&body) <= 4 + 16 + 5, "plus the 32-bit state hash");
    // It keeps walking: the client extrapolates exactly, nothing travels.
    let walking = w.net_state();
    sim::step(&mut w, &[]);
    sim::step(&mut w, &[]);
    let body = diff(&walking, &w.net_state(), &ticks(&w, 2));
    assert!(body.patches.is_empty(), "steady motion is free: {body:?}");
    // It turns: the position travels as an offset from where the client carried it, a
    // few units (one byte per axis), and applying it lands exactly on the server's view.
    let walking = w.net_state();
    sim::step(&mut w, &[(p, input(0.0, 1.0, 0.0, false))]);
    let now = w.net_state();
    let body = diff(&walking, &now, &ticks(&w, 1));
    let NetPatch::Player(patch) = &body.patches[0].1 else {
        panic!("{body:?}");
    };
    let carried = walking[0]
        .1
        .carried_pos(w.tick.minus(1), 1, &w.config, &w.map)
        .expect("walking");
    let is = now[0].1.as_player().expect("a player").pos;
    assert_eq!(
        (patch.value.pos.x, patch.value.pos.y),
        (is.x - carried.x, is.y - carried.y)
    );
    assert!(patch.value.pos.x.abs() < 64 && patch.value.pos.y.abs() < 64);
    // Kind, id, mask, two one-byte offsets, two one-byte direction components: 7 bytes.
    let empty = body_len(&SnapshotBody {
        state_hash: body.state_hash,
        ..SnapshotBody::default()
    });
    assert_eq!(body_len(&body) - empty, 7, "{body:?}");
    let mut replica = Extrapolation { ..ticks(&w, 1) }
        .apply(&walking[0].1)
        .into_owned();
    assert!(replica.apply_wire(&body.patches[0].1));
    assert_eq!(replica, now[0].1);
}

#[test]
fn a_projectile_view_never_changes_after_its_spawn() {
    let mut w = world(open_map(2000.0, 1000.0, &[[1500.0, 500.0]]), 5);
    let p = spawn::add_player(&mut w, "shooter");
    place(&mut w, p, Vec2::new(100.0, 500.0));
    sim::step(&mut w, &[(p, input(0.0, 0.0, 0.0, true))]);
    let fired = w.net_state();
    let shot: Vec<(NetId, ProjectileNet)> = fired
        .iter()
        .filter_map(|(id, e)| match e {
            NetEntity::Projectile(v) => Some((*id, v.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(shot.len(), 1);
    sim::step(&mut w, &[(p, idle())]);
    sim::step(&mut w, &[]);
    let ext = Extrapolation {
        baseline: w.tick.minus(2),
        ticks: 2,
        config: &w.config,
        map: &w.map,
    };
    let body = diff(&fired, &w.net_state(), &ext);
    assert!(
        body.patches.iter().all(|(id, _)| *id != shot[0].0),
        "a flying projectile costs nothing: {body:?}"
    );
}

// `pub` on the struct and on every field: `replicated!` accepts any visibility in its
// pattern, but with any other one (none, `pub(crate)`) the expansion fails to compile inside
// bincode's derive ("Invalid rust syntax, expected ident, got Some(Group { delimiter: None
// ..."); see the crate test report.
tickwire_shared::replicated! {
    /// Exactly 32 fields: every bit of the mask in use.
    pub struct Wide {
        pub f00: u8,
        pub f01: u8,
        pub f02: u8,
        pub f03: u8,
        pub f04: u8,
        pub f05: u8,
        pub f06: u8,
        pub f07: u8,
        pub f08: u8,
        pub f09: u8,
        pub f10: u8,
        pub f11: u8,
        pub f12: u8,
        pub f13: u8,
        pub f14: u8,
        pub f15: u8,
        pub f16: u8,
        pub f17: u8,
        pub f18: u8,
        pub f19: u8,
        pub f20: u8,
        pub f21: u8,
        pub f22: u8,
        pub f23: u8,
        pub f24: u8,
        pub f25: u8,
        pub f26: u8,
        pub f27: u8,
        pub f28: u8,
        pub f29: u8,
        pub f30: u8,
        pub f31: u32,
    }
}

#[test]
fn a_32_field_struct_uses_every_mask_bit() {
    assert_eq!(Wide::FIELD_COUNT, 32);
    assert_eq!(Wide::all_fields(), u32::MAX);
    let base = Wide::default();
    let last = Wide {
        f31: 70_000,
        ..Wide::default()
    };
    let patch = Patch::diff(&base, &last).expect("changed");
    assert_eq!(patch.mask, 1 << 31);
    let first = Wide {
        f00: 1,
        ..Wide::default()
    };
    assert_eq!(Patch::diff(&base, &first).expect("changed").mask, 1);
    let bytes = bincode::encode_to_vec(&patch, bincode::config::standard()).expect("encodes");
    // mask (u32 varint: 5 bytes for bit 31) + the one field (5 bytes for 70 000).
    assert_eq!(bytes.len(), 10);
    let (back, used): (Patch<Wide>, usize) =
        bincode::decode_from_slice(&bytes, bincode::config::standard()).expect("decodes");
    assert_eq!(used, bytes.len());
    let mut replica = base.clone();
    back.apply(&mut replica);
    assert_eq!(replica, last);
}

#[test]
fn a_diffed_body_survives_the_codec_unchanged() {
    // Patch's doc: "the other fields of `value` are defaults and mean nothing". Patch::diff
    // stores `now.clone()` instead, so a body the server builds and the body the client
    // decodes compare unequal (and every patch clones the whole view, name included).
    let base = base_player();
    let now = with_field_changed(&base, 0).expect("pos changes");
    let patch = Patch::diff(&base, &now).expect("changed");
    let sent = vec![(NetId(1), NetPatch::Player(patch))];
    let (_, decoded) = send(sent.clone());
    assert_eq!(decoded.patches, sent);
}
