//! The codec against hostile and valid bytes: anything decodes to a value or an error, never
//! a panic; valid messages round-trip; a cut message is an error, never a shorter message.

use proptest::collection::{btree_map, btree_set, vec};
use proptest::prelude::*;
use tickwire_shared::entity::{
    NetEntity, NetId, NetPatch, PickupNet, PlayerNet, ProjectileNet, QVec2,
};
use tickwire_shared::input::{Buttons, InputMsg};
use tickwire_shared::map::Rect;
use tickwire_shared::protocol::codec::{
    decode_client, decode_server, encode_client, encode_server, peek_join_version,
    read_snapshot_header, DecodeError, MAX_CLIENT_MSG_BYTES, SNAPSHOT_HEADER_LEN,
};
use tickwire_shared::protocol::{
    ClientMsg, Disconnect, DisconnectReason, Join, Ping, Pong, Resume, ResumeRefusal, SeatRefusal,
    ServerMsg, Snapshot, SnapshotBody, SnapshotHeader, Welcome, PROTOCOL_VERSION,
};
use tickwire_shared::replication::{Patch, Replicated};
use tickwire_shared::sim::movement::Abilities;
use tickwire_shared::sim::rewind::ViewTime;
use tickwire_shared::sim::{GameEvent, TickEvent};
use tickwire_shared::{Map, SimConfig, Tick};

// ---- strategies -------------------------------------------------------------------------

fn tick() -> impl Strategy<Value = Tick> {
    any::<u32>().prop_map(Tick)
}

fn net_id() -> impl Strategy<Value = NetId> {
    any::<u32>().prop_map(NetId)
}

fn name() -> impl Strategy<Value = String> {
    "\\PC{0,16}"
}

fn input_msg() -> impl Strategy<Value = InputMsg> {
    (
        any::<u32>(),
        tick(),
        proptest::option::of(tick()),
        any::<u8>(),
        any::<f32>(),
        any::<f32>(),
        any::<f32>(),
    )
        .prop_map(|(seq, tick, ack, b, move_x, move_y, aim)| InputMsg {
            seq,
            tick,
            ack,
            buttons: Buttons(b),
            move_x,
            move_y,
            aim,
            view: (tick.0 % 3 != 0).then_some(ViewTime {
                tick: Tick(tick.0 / 2),
                sub: b,
            }),
        })
}

fn client_msg() -> impl Strategy<Value = ClientMsg> {
    prop_oneof![
        (
            any::<u16>(),
            name(),
            proptest::option::of("[A-Za-z0-9_.-]{0,80}")
        )
            .prop_map(|(version, name, seat)| ClientMsg::Join(Join {
                version,
                name,
                seat
            })),
        input_msg().prop_map(ClientMsg::Input),
        any::<u32>().prop_map(|id| ClientMsg::Ping(Ping { id })),
        (
            any::<u16>(),
            "[A-Za-z0-9_.-]{0,60}",
            proptest::option::of(tick()),
            any::<u32>()
        )
            .prop_map(
                |(version, token, last_tick, next_input_seq)| ClientMsg::Resume(Resume {
                    version,
                    token,
                    last_tick,
                    next_input_seq,
                })
            ),
    ]
}

fn qvec() -> impl Strategy<Value = QVec2> {
    (any::<i32>(), any::<i32>()).prop_map(|(x, y)| QVec2 { x, y })
}

fn player_net() -> impl Strategy<Value = PlayerNet> {
    (
        qvec(),
        any::<u8>(),
        any::<u8>(),
        any::<u16>(),
        any::<u16>(),
        proptest::option::of(tick()),
        name(),
        any::<[i8; 2]>(),
        (any::<bool>(), tick(), tick()),
    )
        .prop_map(
            |(
                pos,
                aim,
                hp,
                kills,
                deaths,
                respawn_at,
                name,
                dir,
                (disconnected, dash_until, dash_ready),
            )| PlayerNet {
                pos,
                aim,
                dir,
                hp,
                kills,
                deaths,
                respawn_at,
                name: name.into(),
                disconnected,
                abilities: Abilities {
                    dash_until,
                    dash_ready,
                },
            },
        )
}

fn projectile_net() -> impl Strategy<Value = ProjectileNet> {
    (qvec(), qvec(), tick(), net_id()).prop_map(|(origin, vel, spawn_tick, owner)| ProjectileNet {
        origin,
        vel,
        spawn_tick,
        owner,
    })
}

fn pickup_net() -> impl Strategy<Value = PickupNet> {
    (qvec(), any::<bool>()).prop_map(|(pos, active)| PickupNet { pos, active })
}

/// Any entity view, of every kind of `net_kinds!` (`every_kind_is_generated` checks).
fn net_entity() -> impl Strategy<Value = NetEntity> {
    prop_oneof![
        player_net().prop_map(NetEntity::Player),
        projectile_net().prop_map(NetEntity::Projectile),
        pickup_net().prop_map(NetEntity::Pickup),
    ]
}

/// A patch as it comes off the wire: the fields outside the mask are defaults.
fn wire_patch<T: Replicated + std::fmt::Debug>(
    value: impl Strategy<Value = T>,
) -> impl Strategy<Value = Patch<T>> {
    (value, 1..=T::all_fields()).prop_map(|(full, mask)| {
        let mut value = T::default();
        value.apply_fields(mask, &full);
        Patch { mask, value }
    })
}

fn net_patch() -> impl Strategy<Value = NetPatch> {
    prop_oneof![
        wire_patch(player_net()).prop_map(NetPatch::Player),
        wire_patch(projectile_net()).prop_map(NetPatch::Projectile),
        wire_patch(pickup_net()).prop_map(NetPatch::Pickup),
    ]
}

fn event() -> impl Strategy<Value = TickEvent> {
    (
        tick(),
        prop_oneof![
            (net_id(), net_id()).prop_map(|(killer, victim)| GameEvent::Kill { killer, victim }),
            net_id().prop_map(|player| GameEvent::Respawn { player }),
            (net_id(), any::<u8>())
                .prop_map(|(player, amount)| GameEvent::Healed { player, amount }),
        ],
    )
        .prop_map(|(tick, event)| TickEvent { tick, event })
}

fn body() -> impl Strategy<Value = SnapshotBody> {
    // The lists are sorted by id, without repeats (the wire carries gaps between ids).
    (
        btree_map(net_id(), net_entity(), 0..6),
        btree_map(net_id(), net_patch(), 0..6),
        btree_set(net_id(), 0..6),
        vec(event(), 0..4),
        any::<u32>(),
    )
        .prop_map(
            |(spawns, patches, despawns, events, state_hash)| SnapshotBody {
                spawns: spawns.into_iter().collect(),
                patches: patches.into_iter().collect(),
                despawns: despawns.into_iter().collect(),
                events,
                state_hash,
            },
        )
}

fn header() -> impl Strategy<Value = SnapshotHeader> {
    // A baseline is strictly before the tick (age 0 on the wire means "full state").
    (tick(), proptest::option::of(1..=u32::MAX), any::<u32>()).prop_map(
        |(tick, age, last_input_seq)| SnapshotHeader {
            tick,
            baseline: age.map(|a| tick.minus(a)),
            last_input_seq,
        },
    )
}

fn finite() -> impl Strategy<Value = f32> {
    -1.0e6f32..1.0e6
}

fn config() -> impl Strategy<Value = SimConfig> {
    (
        any::<u16>(),
        vec(finite(), 6),
        (any::<u8>(), any::<u8>()),
        finite(),
    )
        .prop_map(|(tick_hz, f, (max_hp, damage), respawn)| SimConfig {
            tick_hz,
            player_radius: f[0],
            player_speed: f[1],
            max_hp,
            projectile_speed: f[2],
            projectile_radius: f[3],
            projectile_lifetime_s: f[4],
            fire_cooldown_s: f[5],
            projectile_damage: damage,
            respawn_delay_s: respawn,
            pickup_heal: damage,
            pickup_radius: f[0],
            pickup_respawn_s: respawn,
            max_rewind_s: f[5],
            ..SimConfig::default()
        })
}

fn map() -> impl Strategy<Value = Map> {
    (
        name(),
        finite(),
        finite(),
        vec(
            (finite(), finite(), finite(), finite()).prop_map(|(x, y, w, h)| Rect { x, y, w, h }),
            0..4,
        ),
        vec((finite(), finite()).prop_map(|(x, y)| [x, y]), 1..4),
        vec((finite(), finite()).prop_map(|(x, y)| [x, y]), 0..4),
    )
        .prop_map(|(name, width, height, walls, spawns, pickups)| Map {
            name,
            width,
            height,
            walls,
            spawns,
            pickups,
        })
}

fn reason() -> impl Strategy<Value = DisconnectReason> {
    prop_oneof![
        (any::<u16>(), any::<u16>())
            .prop_map(|(server, client)| DisconnectReason::VersionMismatch { server, client }),
        Just(DisconnectReason::ServerFull),
        Just(DisconnectReason::ShuttingDown),
        Just(DisconnectReason::BadMessage),
        Just(DisconnectReason::RateLimited),
        Just(DisconnectReason::IdleTimeout),
        Just(DisconnectReason::TooSlow),
        Just(DisconnectReason::JoinTimeout),
        Just(DisconnectReason::RoomFailed),
        prop_oneof![
            Just(SeatRefusal::Missing),
            Just(SeatRefusal::Invalid),
            Just(SeatRefusal::Expired),
            Just(SeatRefusal::Used),
            Just(SeatRefusal::OtherRoom),
            Just(SeatRefusal::RoomGone),
        ]
        .prop_map(DisconnectReason::Seat),
        Just(DisconnectReason::Replaced),
        prop_oneof![
            Just(ResumeRefusal::Invalid),
            Just(ResumeRefusal::Expired),
            Just(ResumeRefusal::OtherRoom),
            Just(ResumeRefusal::RoomGone),
        ]
        .prop_map(DisconnectReason::Resume),
    ]
}

fn server_msg() -> impl Strategy<Value = ServerMsg> {
    prop_oneof![
        (
            (any::<u16>(), net_id(), tick(), "[A-Z0-9]{0,6}", name()),
            ("[A-Za-z0-9_.-]{0,60}", any::<bool>(), config(), map())
        )
            .prop_map(
                |((protocol_version, player, tick, room, mode), (resume, resumed, config, map))| {
                    ServerMsg::Welcome(Welcome {
                        protocol_version,
                        player,
                        tick,
                        room,
                        mode,
                        resume,
                        resumed,
                        config,
                        map,
                    })
                }
            ),
        (header(), body())
            .prop_map(|(header, body)| ServerMsg::Snapshot(Snapshot { header, body })),
        (any::<u32>(), tick()).prop_map(|(id, tick)| ServerMsg::Pong(Pong { id, tick })),
        (reason(), name())
            .prop_map(|(reason, detail)| ServerMsg::Disconnect(Disconnect { reason, detail })),
    ]
}

/// A valid message with some bytes overwritten: reaches deeper into the decoders than
/// uniformly random bytes.
fn mutated(valid: Vec<u8>, edits: Vec<(usize, u8)>) -> Vec<u8> {
    let mut b = valid;
    if !b.is_empty() {
        for (i, v) in edits {
            let n = b.len();
            b[i % n] = v;
        }
    }
    b
}

// ---- properties -------------------------------------------------------------------------

/// The strategies above generate every kind `net_kinds!` lists, as an entity and as a
/// patch: a new kind fails here until `net_entity()` and `net_patch()` make it.
#[test]
fn every_kind_is_generated() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let (mut entities, mut patches) = (
        std::collections::BTreeSet::new(),
        std::collections::BTreeSet::new(),
    );
    for _ in 0..400 {
        let e = net_entity().new_tree(&mut runner).expect("value").current();
        entities.insert(e.kind_name());
        let p = net_patch().new_tree(&mut runner).expect("value").current();
        patches.insert(p.kind_name());
    }
    let all: std::collections::BTreeSet<&str> = NetEntity::KINDS.iter().copied().collect();
    assert_eq!(entities, all, "net_entity() generates every kind");
    assert_eq!(patches, all, "net_patch() generates every kind");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_the_client_decoder(bytes in vec(any::<u8>(), 0..320)) {
        let _ = decode_client(&bytes);
        let _ = peek_join_version(&bytes);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_server_decoder(
        tag in 0u8..6,
        rest in vec(any::<u8>(), 0..400),
    ) {
        let mut bytes = vec![tag];
        bytes.extend_from_slice(&rest);
        let _ = decode_server(&bytes);
        let _ = decode_server(&rest);
        let _ = read_snapshot_header(&bytes);
    }

    #[test]
    fn mutated_messages_never_panic(
        c in client_msg(),
        s in server_msg(),
        edits in vec((any::<usize>(), any::<u8>()), 1..4),
    ) {
        let _ = decode_client(&mutated(encode_client(&c), edits.clone()));
        let _ = decode_server(&mutated(encode_server(&s), edits));
    }

    #[test]
    fn client_messages_round_trip(msg in client_msg()) {
        let bytes = encode_client(&msg);
        prop_assert!(bytes.len() <= MAX_CLIENT_MSG_BYTES, "{} bytes", bytes.len());
        let back = decode_client(&bytes).expect("valid message decodes");
        // Bit-exact (NaN != NaN, so compare the bytes of the re-encoding as well).
        prop_assert_eq!(encode_client(&back), bytes);
        let has_nan = matches!(&msg, ClientMsg::Input(i)
            if i.move_x.is_nan() || i.move_y.is_nan() || i.aim.is_nan());
        if !has_nan {
            prop_assert_eq!(back, msg);
        }
    }

    #[test]
    fn server_messages_round_trip(msg in server_msg()) {
        let bytes = encode_server(&msg);
        let back = decode_server(&bytes).expect("valid message decodes");
        prop_assert_eq!(&back, &msg);
        prop_assert_eq!(encode_server(&back), bytes);
        if let ServerMsg::Snapshot(s) = &msg {
            prop_assert_eq!(read_snapshot_header(&encode_server(&msg)), Some(s.header));
        }
    }

    #[test]
    fn cut_client_messages_are_errors(msg in client_msg()) {
        let bytes = encode_client(&msg);
        for cut in 0..bytes.len() {
            prop_assert!(decode_client(&bytes[..cut]).is_err(), "cut at {} of {}", cut, bytes.len());
        }
        let mut longer = bytes.clone();
        longer.push(0);
        let trailing = matches!(decode_client(&longer), Err(DecodeError::TrailingBytes { extra: 1, .. }));
        prop_assert!(trailing);
    }

    #[test]
    fn cut_server_messages_are_errors(msg in server_msg()) {
        let bytes = encode_server(&msg);
        for cut in 0..bytes.len() {
            prop_assert!(decode_server(&bytes[..cut]).is_err(), "cut at {} of {}", cut, bytes.len());
        }
        let mut longer = bytes.clone();
        longer.push(0);
        let trailing = matches!(decode_server(&longer), Err(DecodeError::TrailingBytes { extra: 1, .. }));
        prop_assert!(trailing);
    }

    #[test]
    fn the_join_version_is_read_from_any_join(version in any::<u16>(), name in name(), junk in vec(any::<u8>(), 0..8)) {
        let bytes = encode_client(&ClientMsg::Join(Join { version, name, seat: None }));
        prop_assert_eq!(peek_join_version(&bytes), Some(version));
        // Also when the rest of the message is not understood (a client of another version).
        let version_len = encode_client(&ClientMsg::Join(Join { version, name: String::new(), seat: None })).len() - 1;
        let mut head = bytes[..version_len].to_vec();
        head.extend_from_slice(&junk);
        prop_assert_eq!(peek_join_version(&head), Some(version));
    }

    #[test]
    fn other_messages_have_no_join_version(msg in client_msg()) {
        let bytes = encode_client(&msg);
        let expected = match &msg {
            ClientMsg::Join(j) => Some(j.version),
            ClientMsg::Resume(r) => Some(r.version),
            ClientMsg::Watch(w) => Some(w.version),
            ClientMsg::Input(_)
            | ClientMsg::Ping(_)
            | ClientMsg::Camera(_)
            | ClientMsg::Playback(_) => None,
        };
        prop_assert_eq!(peek_join_version(&bytes), expected);
    }
}

// ---- fixed cases ------------------------------------------------------------------------

#[test]
fn empty_and_oversized_messages_are_refused_before_decoding() {
    assert!(matches!(decode_client(&[]), Err(DecodeError::Empty)));
    assert!(matches!(decode_server(&[]), Err(DecodeError::Empty)));
    let big = vec![0u8; MAX_CLIENT_MSG_BYTES + 1];
    assert!(matches!(
        decode_client(&big),
        Err(DecodeError::TooLarge { .. })
    ));
    assert_eq!(peek_join_version(&big), None);
    assert!(matches!(
        decode_server(&[9]),
        Err(DecodeError::UnknownTag(9))
    ));
    let short = [1u8; SNAPSHOT_HEADER_LEN - 1];
    assert!(matches!(decode_server(&short), Err(DecodeError::Truncated)));
}

#[test]
fn a_long_name_makes_a_join_too_large() {
    let join = ClientMsg::Join(Join {
        version: PROTOCOL_VERSION,
        name: "x".repeat(MAX_CLIENT_MSG_BYTES),
        seat: None,
    });
    let bytes = encode_client(&join);
    assert!(matches!(
        decode_client(&bytes),
        Err(DecodeError::TooLarge { .. })
    ));
    // The version is still readable... but only within the size limit.
    assert_eq!(peek_join_version(&bytes), None);
    assert_eq!(peek_join_version(&bytes[..8]), Some(PROTOCOL_VERSION));
}

#[test]
fn an_input_is_small() {
    let bytes = encode_client(&ClientMsg::Input(InputMsg {
        seq: 1_000_000,
        tick: Tick(1_000_000),
        ack: Some(Tick(999_998)),
        buttons: Buttons::FIRE,
        move_x: 1.0,
        move_y: -0.5,
        aim: 3.0,
        view: Some(ViewTime {
            tick: Tick(999_995),
            sub: 128,
        }),
    }));
    // Variant 1 + seq 5 + tick 5 + ack 1 + 5 + buttons 1 + three f32 12 + view 1 + 5 + 1:
    // varints of u32 values past 2^16 (36 minutes of ticks at 30 Hz) take 5 bytes.
    assert_eq!(bytes.len(), 37);
    let early = encode_client(&ClientMsg::Input(InputMsg {
        seq: 100,
        tick: Tick(200),
        ack: Some(Tick(198)),
        buttons: Buttons(0),
        move_x: 0.0,
        move_y: 0.0,
        aim: 0.0,
        view: None,
    }));
    assert_eq!(early.len(), 19);
}

#[test]
fn patch_masks_outside_the_kind_are_refused() {
    // SnapshotBody { spawns: [], patches: [(NetId(1), Projectile(mask))], .. } by hand:
    // ProjectileNet has 4 fields, so a mask with bit 4 names a field that does not exist.
    let frame = |mask: u8| {
        let mut b = vec![1u8];
        b.extend_from_slice(&5u32.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        // state hash 0, one chunk: spawns: 0, patches: 1 x (id 1, variant 1 = Projectile,
        // mask), then (below) despawns: 0, events: 0
        b.extend_from_slice(&[0, 0, 0, 0, 1]);
        b.extend_from_slice(&[0, 1, 1, 1, mask]);
        b
    };
    assert!(decode_server(&frame(0)).is_err(), "empty mask");
    assert!(decode_server(&frame(0b1_0000)).is_err(), "unknown field");
    // A known single field (owner: NetId, bit 3) with its value, then the empty despawns
    // and events.
    let mut ok = frame(0b1000);
    ok.extend_from_slice(&[7, 0, 0]);
    match decode_server(&ok).expect("valid") {
        ServerMsg::Snapshot(s) => {
            let (id, NetPatch::Projectile(p)) = &s.body.patches[0] else {
                panic!("{:?}", s.body.patches);
            };
            assert_eq!((*id, p.mask, p.value.owner), (NetId(1), 0b1000, NetId(7)));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn snapshot_ids_travel_as_gaps_and_must_increase() {
    let body = |despawns: Vec<NetId>| SnapshotBody {
        despawns,
        ..SnapshotBody::default()
    };
    let frame = |despawn_bytes: &[u8]| {
        let mut b = vec![1u8];
        b.extend_from_slice(&5u32.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        // state hash 0, one chunk: spawns: 0, patches: 0, then the despawns; events: 0.
        b.extend_from_slice(&[0, 0, 0, 0, 1, 0, 0]);
        b.extend_from_slice(despawn_bytes);
        b.extend_from_slice(&[0]);
        b
    };
    // Ids 1000, 1001, 1005: the first in full (varint 251 + u16), then gaps of one byte.
    let ok = frame(&[3, 251, 0xE8, 0x03, 1, 4]);
    match decode_server(&ok).expect("valid") {
        ServerMsg::Snapshot(s) => {
            assert_eq!(s.body, body(vec![NetId(1000), NetId(1001), NetId(1005)]));
        }
        other => panic!("{other:?}"),
    }
    // A repeated id (gap 0) and an id past u32::MAX are refused.
    assert!(decode_server(&frame(&[2, 7, 0])).is_err(), "repeat");
    let past = frame(&[2, 252, 0xFF, 0xFF, 0xFF, 0xFF, 1]);
    assert!(decode_server(&past).is_err(), "overflow");
    // The encoder refuses an unsorted list rather than send something undecodable.
    let bad = ServerMsg::Snapshot(Snapshot {
        header: SnapshotHeader {
            tick: Tick(5),
            baseline: None,
            last_input_seq: 0,
        },
        body: body(vec![NetId(3), NetId(2)]),
    });
    let encoded =
        std::panic::catch_unwind(|| tickwire_shared::protocol::codec::encode_server(&bad));
    assert!(encoded.is_err(), "unsorted ids cannot be encoded");
}

#[test]
fn chunks_merge_into_sorted_lists_and_may_not_repeat_an_entity() {
    // Two chunks (as a server with interest management cuts a delta by cells): the first
    // despawns id 9, the second ids 2 and 4 (gaps 2, 2); the hash is 0x44332211.
    let frame = |chunks: &[&[u8]]| {
        let mut b = vec![1u8];
        b.extend_from_slice(&5u32.to_le_bytes());
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&[0x11, 0x22, 0x33, 0x44, chunks.len() as u8]);
        for c in chunks {
            b.extend_from_slice(c);
        }
        b.push(0); // events
        b
    };
    let despawning = |ids: &[u8]| {
        let mut c = vec![0, 0, ids.len() as u8];
        c.extend_from_slice(ids);
        c
    };
    let ok = frame(&[&despawning(&[9]), &despawning(&[2, 2])]);
    match decode_server(&ok).expect("valid") {
        ServerMsg::Snapshot(s) => {
            assert_eq!(s.body.despawns, vec![NetId(2), NetId(4), NetId(9)]);
            assert_eq!(s.body.state_hash, 0x4433_2211);
        }
        other => panic!("{other:?}"),
    }
    // The same entity in two chunks' despawns: refused.
    let repeat = frame(&[&despawning(&[4]), &despawning(&[2, 2])]);
    assert!(decode_server(&repeat).is_err(), "repeat across chunks");
    // No chunk at all: an empty delta.
    match decode_server(&frame(&[])).expect("valid") {
        ServerMsg::Snapshot(s) => assert!(s.body.despawns.is_empty()),
        other => panic!("{other:?}"),
    }
}
