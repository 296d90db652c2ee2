//! Hostile game messages (docs: hostile-cases.md, "Game protocol"): undecodable bytes get
//! 1007, broken rules and floods 1008, hostile numbers never reach the simulation, sequence
//! numbers apply once, identity comes from the connection.

mod common;

use tokio::time::Instant;

use common::{assert_serves_new_client, scrape, Witness, LIMIT};
use tickwire_bots::{BotConnection, DecodeMode, Driver};
use tickwire_shared::entity::QVec2;
use tickwire_shared::protocol::{
    codec, ClientMsg, DisconnectReason, Join, Ping, ServerMsg, Welcome, PROTOCOL_VERSION,
};
use tickwire_shared::{Controls, NetEntity, NetId, Replica, Tick};
use tickwire_tests::raw::{op, Frame, Raw};
use tickwire_tests::{wait_for, TestServer};

fn input(seq: u32, tick: Tick, x: f32, y: f32, aim: f32) -> Vec<u8> {
    let controls = Controls {
        move_x: x,
        move_y: y,
        aim,
        buttons: Default::default(),
    };
    codec::encode_client(&ClientMsg::Input(controls.to_msg(seq, tick, None)))
}

/// Joins, sends `payload` as one binary message, returns (close code, game reason).
async fn refused(server: &TestServer, payload: Vec<u8>) -> (Option<u16>, Option<DisconnectReason>) {
    let mut raw = Raw::joined(server.addr, "hostile").await;
    raw.send_frame(&Frame::binary(payload)).await.expect("send");
    let ending = raw.ending(LIMIT).await;
    assert!(ending.closed, "the server hung up");
    (ending.code, ending.disconnect.map(|d| d.reason))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_messages_get_1007() {
    let server = TestServer::start().await;
    let witness = Witness::join(&server).await;
    let t = Tick(1);
    // Join { version: 1, name: <claims 2^40 bytes> }: refused by the decode limit, not
    // allocated (an unlimited bincode config would abort the process here).
    let mut bomb = vec![0u8, 1, 253];
    bomb.extend_from_slice(&(1u64 << 40).to_le_bytes());
    let mut trailing = codec::encode_client(&ClientMsg::Ping(Ping { id: 1 }));
    trailing.push(0);
    let mut truncated = input(1, t, 0.0, 0.0, 0.0);
    truncated.pop();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("length-prefix bomb", bomb),
        ("unknown enum tag", vec![7, 0, 0]),
        ("trailing bytes", trailing),
        ("truncated", truncated),
        ("empty", Vec::new()),
        ("NaN", input(1, t, f32::NAN, 0.0, 0.0)),
        ("infinity", input(1, t, 0.0, f32::INFINITY, 0.0)),
        ("infinite aim", input(1, t, 0.0, 0.0, f32::NEG_INFINITY)),
        ("over the size limit", vec![1u8; 300]),
    ];
    for (what, bytes) in cases {
        let (code, reason) = refused(&server, bytes).await;
        let expected = if what == "over the size limit" {
            1009
        } else {
            1007
        };
        assert_eq!(code, Some(expected), "{what}");
        if expected == 1007 {
            assert_eq!(reason, Some(DisconnectReason::BadMessage), "{what}");
        }
    }
    // Before the join too: garbage instead of a join.
    let mut raw = Raw::connect(server.addr).await.expect("connect");
    raw.upgrade().await;
    // A join of the right version (varint: one byte below 251) whose name is cut short.
    let version = u8::try_from(PROTOCOL_VERSION).expect("small version");
    raw.send_frame(&Frame::binary(vec![0u8, version, 253, 0xff]))
        .await
        .expect("send");
    assert_eq!(raw.ending(LIMIT).await.code, Some(1007));
    assert!(scrape(server.addr, "tickwire_decode_errors_total").await >= 5.0);
    assert_serves_new_client(&server).await;
    witness.assert_on_cadence(30).await;
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_protocol_version_or_a_second_join_gets_1008() {
    let server = TestServer::start().await;
    let mut raw = Raw::connect(server.addr).await.expect("connect");
    raw.upgrade().await;
    let join = codec::encode_client(&ClientMsg::Join(Join {
        version: PROTOCOL_VERSION + 1,
        name: "future".into(),
        seat: None,
    }));
    raw.send_frame(&Frame::binary(join)).await.expect("send");
    let ending = raw.ending(LIMIT).await;
    assert_eq!(ending.code, Some(1008));
    assert!(matches!(
        ending.disconnect.map(|d| d.reason),
        Some(DisconnectReason::VersionMismatch { client, .. }) if client == PROTOCOL_VERSION + 1
    ));
    // Inputs before the join, and a second join: rules broken, 1008.
    let mut raw = Raw::connect(server.addr).await.expect("connect");
    raw.upgrade().await;
    raw.send_frame(&Frame::binary(input(1, Tick(1), 0.0, 0.0, 0.0)))
        .await
        .expect("send");
    assert_eq!(raw.ending(LIMIT).await.code, Some(1008));
    let again = tickwire_tests::raw::join_bytes("again");
    let (code, reason) = refused(&server, again).await;
    assert_eq!(
        (code, reason),
        (Some(1008), Some(DisconnectReason::BadMessage))
    );
    assert_serves_new_client(&server).await;
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_input_flood_hits_the_token_bucket_and_gets_1008() {
    let server = TestServer::start().await;
    let witness = Witness::join(&server).await;
    let (mut raw, welcome) = Raw::joined_welcome(server.addr, "flooder").await;
    let mut burst = Vec::new();
    for seq in 1..=1000 {
        burst.extend(Frame::binary(input(seq, welcome.tick, 1.0, 0.0, 0.0)).to_bytes());
    }
    let _ = raw.send(&burst).await;
    let ending = raw.ending(LIMIT).await;
    assert_eq!(ending.code, Some(1008), "{ending:?}");
    assert_eq!(
        ending.disconnect.map(|d| d.reason),
        Some(DisconnectReason::RateLimited)
    );
    assert_serves_new_client(&server).await;
    witness.assert_on_cadence(30).await;
    server.shutdown().await.expect("clean shutdown");
}

fn pos(d: &Driver, id: NetId) -> Option<(f32, f32)> {
    d.view(|v| match v.get(id) {
        Some(NetEntity::Player(p)) => {
            let q = p.pos.to_vec2();
            Some((q.x, q.y))
        }
        _ => None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_values_are_clamped_and_inputs_only_move_their_own_player() {
    let server = TestServer::start().await;
    let join = |name: &'static str| {
        let url = server.ws_url();
        async move {
            Driver::spawn(
                BotConnection::connect(&url, name, DecodeMode::Full)
                    .await
                    .expect("join"),
            )
        }
    };
    let (a, b) = (join("a").await, join("b").await);
    let (ida, idb) = (a.view(|v| v.me()), b.view(|v| v.me()));
    wait_for("both see both", LIMIT, || async {
        pos(&a, idb).is_some() && pos(&b, ida).is_some()
    })
    .await;
    let (a0, b0) = (pos(&b, ida).expect("a"), pos(&a, idb).expect("b"));
    // Huge but finite: accepted, clamped to a unit move; the aim wraps.
    a.set(Controls {
        move_x: 1e30,
        move_y: -1e30,
        aim: 3.0e38,
        buttons: Default::default(),
    });
    wait_for("a moves", LIMIT, || async {
        pos(&b, ida).is_some_and(|p| (p.0 - a0.0).abs() + (p.1 - a0.1).abs() > 30.0)
    })
    .await;
    let (a1, b1) = (pos(&b, ida).expect("a"), pos(&a, idb).expect("b"));
    assert!(a1.0.is_finite() && a1.1.is_finite());
    assert_eq!(
        b1, b0,
        "only the sender's player moved: identity is the connection"
    );
    for d in [a, b] {
        let v = d.stop().await;
        let e = v.ended.expect("stopped");
        assert_eq!(e.error, "stopped", "not disconnected: {e:?}");
    }
    server.shutdown().await.expect("clean shutdown");
}

/// A raw client's view of the game: every snapshot it receives, applied to a replica.
struct Seen {
    replica: Replica,
    me: NetId,
}

impl Seen {
    fn new(welcome: &Welcome) -> Seen {
        Seen {
            replica: Replica::from_welcome(welcome),
            me: welcome.player,
        }
    }

    /// Reads the next game message (a snapshot is applied first) before `deadline`.
    async fn next(&mut self, raw: &mut Raw, deadline: Instant) -> ServerMsg {
        loop {
            let f = raw.recv_frame(deadline).await.expect("a message in time");
            if f.opcode != op::BINARY {
                continue;
            }
            let msg = codec::decode_server(&f.payload).expect("a game message");
            if let ServerMsg::Snapshot(s) = &msg {
                self.replica.apply(s).expect("every snapshot applies");
            }
            return msg;
        }
    }

    /// The own player's position in the newest snapshot.
    fn pos(&self) -> Option<QVec2> {
        self.replica
            .get(self.me)
            .and_then(NetEntity::as_player)
            .map(|p| p.pos)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_old_and_replayed_sequence_numbers_never_apply_twice() {
    let server = TestServer::start().await;
    let (mut raw, welcome) = Raw::joined_welcome(server.addr, "replayer").await;
    let mut seen = Seen::new(&welcome);
    let dropped_before = scrape(server.addr, "tickwire_inputs_dropped_total").await;
    let t = welcome.tick;
    // Seq 5 stands still, so any input applied after it would move the player.
    raw.send(&Frame::binary(input(5, t.next(), 0.0, 0.0, 0.0)).to_bytes())
        .await
        .expect("send");
    // The snapshots report seq 5 applied.
    let deadline = Instant::now() + LIMIT;
    while seen.replica.last_input_seq() != 5 {
        seen.next(&mut raw, deadline).await;
    }
    let still = seen.pos().expect("the own player is in the snapshot");
    // Meant for the current tick, so that only the sequence rule keeps them out.
    let now = seen.replica.tick().expect("a snapshot");
    // Duplicates and older numbers: refused, counted, never applied.
    let mut burst = Vec::new();
    for seq in [5, 5, 3, 1] {
        burst.extend(Frame::binary(input(seq, now, 1.0, 0.0, 0.0)).to_bytes());
    }
    raw.send(&burst).await.expect("send");
    wait_for("duplicates counted", LIMIT, || async {
        scrape(server.addr, "tickwire_inputs_dropped_total").await >= dropped_before + 4.0
    })
    .await;
    // Replaying the same sequence later changes nothing either.
    raw.send(&Frame::binary(input(5, now, -1.0, 0.0, 0.0)).to_bytes())
        .await
        .expect("send");
    wait_for("the replay is counted, not applied", LIMIT, || async {
        scrape(server.addr, "tickwire_inputs_dropped_total").await >= dropped_before + 5.0
    })
    .await;
    // The room has read the replay; a ping sent now is answered at a later tick. Every
    // snapshot up to three after the pong: the player stands where seq 5 left it, and seq 5
    // is still the last input applied.
    raw.send(&Frame::binary(codec::encode_client(&ClientMsg::Ping(Ping { id: 77 }))).to_bytes())
        .await
        .expect("send");
    let deadline = Instant::now() + LIMIT;
    let mut after_pong = None;
    while after_pong != Some(3) {
        match seen.next(&mut raw, deadline).await {
            ServerMsg::Snapshot(s) => {
                assert_eq!(s.header.last_input_seq, 5, "no refused input was applied");
                assert_eq!(seen.pos(), Some(still), "no refused input moved the player");
                after_pong = after_pong.map(|n| n + 1);
            }
            ServerMsg::Pong(p) if p.id == 77 => after_pong = Some(0),
            _ => {}
        }
    }
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequence_numbers_that_start_near_the_top_and_wrap_keep_applying() {
    let server = TestServer::start().await;
    let (mut raw, welcome) = Raw::joined_welcome(server.addr, "wrapper").await;
    let mut seen = Seen::new(&welcome);
    let deadline = Instant::now() + LIMIT;
    // A first snapshot, to know the tick to aim inputs at.
    while seen.replica.tick().is_none() {
        seen.next(&mut raw, deadline).await;
    }
    // Four numbers before the wrap, then 1, 2, 3 after it (0 is never a number): one input
    // a tick, walking right until the last, which stands still.
    let before = seen.pos().expect("own player");
    let seqs = [u32::MAX - 3, u32::MAX - 2, u32::MAX - 1, u32::MAX, 1, 2, 3];
    let start = seen.replica.tick().expect("a snapshot").plus(2);
    let mut burst = Vec::new();
    for (i, seq) in seqs.iter().enumerate() {
        let x = if *seq == 3 { 0.0 } else { 1.0 };
        burst.extend(Frame::binary(input(*seq, start.plus(i as u32), x, 0.0, 0.0)).to_bytes());
    }
    raw.send(&burst).await.expect("send");
    let mut reported = Vec::new();
    while seen.replica.last_input_seq() != 3 {
        if let ServerMsg::Snapshot(s) = seen.next(&mut raw, deadline).await {
            if reported.last() != Some(&s.header.last_input_seq) {
                reported.push(s.header.last_input_seq);
            }
        }
    }
    // Every number applied in order, across the wrap.
    let applied: Vec<u32> = reported.into_iter().filter(|s| *s != 0).collect();
    assert_eq!(applied.last(), Some(&3), "{applied:?}");
    assert!(
        applied
            .windows(2)
            .all(|w| tickwire_shared::seq::is_after(w[1], w[0])),
        "applied in wrapping order: {applied:?}"
    );
    // The last input (after the wrap) stopped the player: it stands still from now on,
    // and a replay of a number from before the wrap changes nothing.
    let still = seen.pos().expect("own player");
    raw.send(
        &Frame::binary(input(u32::MAX, seen.replica.tick().unwrap(), 1.0, 0.0, 0.0)).to_bytes(),
    )
    .await
    .expect("send");
    for _ in 0..10 {
        if let ServerMsg::Snapshot(s) = seen.next(&mut raw, deadline).await {
            assert_eq!(s.header.last_input_seq, 3);
            assert_eq!(seen.pos(), Some(still), "the player obeys its last input");
        }
    }
    assert!(
        still.to_vec2().x > before.to_vec2().x,
        "the inputs around the wrap moved the player"
    );
    server.shutdown().await.expect("clean shutdown");
}
