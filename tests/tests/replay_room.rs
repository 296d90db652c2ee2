//! A recorded match served as a room (`/ws?replay=ID` with a `Watch`) by the real server on
//! 127.0.0.1 port 0, watched over a real WebSocket: snapshots of the re-simulated match
//! tick by tick, players moving; pause stops them; x4 steps four ticks a frame; a seek
//! starts again (a new welcome) at the tick sought, with the recording's state there.

use std::time::Duration;

use tickwire_bots::{BotConnection, DecodeMode};
use tickwire_shared::protocol::{codec, ClientMsg, Ping, Playback, ServerMsg};
use tickwire_shared::replay::verify::Replayer;
use tickwire_shared::replay::{Reader, Record};
use tickwire_shared::{NetId, Replica, Tick};
use tickwire_tests::replay::{finished_verdict, record_combat_match, replay_dir};
use tickwire_tests::{test_config, TestServer};

const LIMIT: Duration = Duration::from_secs(20);

/// The viewer's side: its connection and a replica (renewed at each welcome).
struct Viewer {
    conn: BotConnection,
    replica: Replica,
}

enum Got {
    Snapshot(Tick),
    Welcome(Tick),
    Pong(Tick),
}

impl Viewer {
    async fn next(&mut self) -> Got {
        let frame = tokio::time::timeout(LIMIT, self.conn.recv_frame())
            .await
            .expect("a message in time")
            .expect("connected");
        match codec::decode_server(&frame).expect("decodes") {
            ServerMsg::Snapshot(s) => {
                self.replica.apply(&s).expect("applies");
                Got::Snapshot(s.header.tick)
            }
            ServerMsg::Welcome(w) => {
                assert_eq!(w.player, NetId(0));
                self.replica = Replica::from_welcome(&w);
                Got::Welcome(w.tick)
            }
            ServerMsg::Pong(p) => Got::Pong(p.tick),
            ServerMsg::Disconnect(d) => panic!("disconnected: {d:?}"),
        }
    }

    async fn snapshot(&mut self) -> Tick {
        loop {
            if let Got::Snapshot(t) = self.next().await {
                return t;
            }
        }
    }

    async fn send(&mut self, msg: ClientMsg) {
        self.conn
            .send_frame(codec::encode_client(&msg))
            .await
            .expect("sent");
    }

    async fn playback(&mut self, paused: bool, speed_quarters: u8, seek: Option<Tick>) {
        self.send(ClientMsg::Playback(Playback {
            paused,
            speed_quarters,
            seek,
        }))
        .await;
    }

    /// Pings and returns the pong's tick, with the snapshots that came before it.
    async fn ping(&mut self, id: u32) -> (Tick, Vec<Tick>) {
        self.send(ClientMsg::Ping(Ping { id })).await;
        let mut snaps = Vec::new();
        loop {
            match self.next().await {
                Got::Pong(t) => return (t, snaps),
                Got::Snapshot(t) => snaps.push(t),
                Got::Welcome(_) => panic!("no welcome here"),
            }
        }
    }

    fn first_player_pos(&self) -> Option<(i32, i32)> {
        self.replica
            .entities()
            .iter()
            .find_map(|(_, e)| e.as_player().map(|p| (p.pos.x, p.pos.y)))
    }
}

/// The replicated state of the recording at `tick`, re-simulated here.
fn state_at(bytes: &[u8], tick: u32) -> Vec<(NetId, tickwire_shared::NetEntity)> {
    let mut reader = Reader::new(bytes).unwrap();
    let mut rep = Replayer::new(reader.header());
    while rep.world.tick.0 < tick {
        let r = reader.next().unwrap().expect("long enough");
        rep.apply(&r).unwrap();
        if matches!(r, Record::Tick { .. }) && rep.world.tick.0 == tick {
            break;
        }
    }
    rep.world.net_state()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_plays_pauses_speeds_up_and_seeks() {
    let dir = replay_dir("replay-room");
    let path = record_combat_match(&dir, 6, 900);
    let _ = finished_verdict(&path, LIMIT);
    let bytes = std::fs::read(&path).unwrap();
    let id = path.file_stem().unwrap().to_str().unwrap().to_string();
    let mut config = test_config();
    config.record_dir = Some(dir.clone());
    config.max_replay_viewers = 1;
    let server = TestServer::start_with(config).await;

    let url = format!("{}?replay={id}", server.ws_url());
    let conn = BotConnection::watch(&url, None, DecodeMode::Full)
        .await
        .expect("watching the replay");
    assert_eq!(conn.welcome.room, format!("replay:{id}"));
    assert_eq!(conn.welcome.player, NetId(0));
    let replica = Replica::from_welcome(&conn.welcome);
    let mut v = Viewer { conn, replica };
    // One viewer at a time on this server: a second is refused.
    let second = BotConnection::watch(&url, None, DecodeMode::Full).await;
    let refused = second.err().expect("refused").to_string();
    assert!(refused.contains("too many replay viewers"), "{refused}");
    // An unknown replay is refused with its reason.
    let missing = format!("{}?replay=nope", server.ws_url());
    let gone = BotConnection::watch(&missing, None, DecodeMode::Full).await;
    assert!(gone
        .err()
        .expect("refused")
        .to_string()
        .contains("no such replay"));

    // Plays at x1: one tick a snapshot, players moving.
    let first = v.snapshot().await;
    let start_pos = v.first_player_pos();
    let mut last = first;
    for _ in 0..30 {
        let t = v.snapshot().await;
        assert_eq!(t.0, last.0 + 1, "x1: one tick a snapshot");
        last = t;
    }
    assert_ne!(v.first_player_pos(), start_pos, "players move");

    // Paused: no snapshot between two pongs, the tick stays.
    v.playback(true, 4, None).await;
    let (p1, _) = v.ping(1).await;
    let (p2, between) = v.ping(2).await;
    let (p3, more) = v.ping(3).await;
    assert!(
        between.is_empty() && more.is_empty(),
        "{between:?} {more:?}"
    );
    assert_eq!((p2, p3), (p1, p1), "the replay holds still");

    // x4: four ticks a snapshot.
    v.playback(false, 16, None).await;
    let a = v.snapshot().await;
    let b = v.snapshot().await;
    let c = v.snapshot().await;
    assert_eq!((b.0 - a.0, c.0 - b.0), (4, 4), "x4");

    // Seek back to tick 300: a new welcome there, then the recording's state of tick 300.
    v.playback(false, 4, Some(Tick(300))).await;
    loop {
        if let Got::Welcome(t) = v.next().await {
            assert_eq!(t, Tick(300));
            break;
        }
    }
    assert_eq!(v.snapshot().await, Tick(300));
    assert_eq!(
        v.replica.entities(),
        state_at(&bytes, 300).as_slice(),
        "the recording's state at the tick sought"
    );
    assert_eq!(v.snapshot().await, Tick(301), "and it plays on from there");

    // Another seek at once waits for its turn: a second of playback after the last one
    // (a seek re-simulates up to 5 s of match; one a tick would starve the live rooms).
    v.playback(false, 4, Some(Tick(600))).await;
    let hz = u32::from(v.conn.welcome.config.tick_hz);
    let mut played = 0;
    loop {
        match v.next().await {
            Got::Welcome(t) => {
                assert_eq!(t, Tick(600));
                break;
            }
            Got::Snapshot(_) => played += 1,
            Got::Pong(_) => {}
        }
    }
    // 300 and 301 came before the ask; the turn comes `hz` ticks after the first seek.
    assert!(
        played >= hz - 3,
        "{played} snapshots before the second seek"
    );
    assert_eq!(v.snapshot().await, Tick(600));

    // A speed that is not offered is refused.
    v.playback(false, 3, None).await;
    let why = loop {
        let frame = tokio::time::timeout(LIMIT, v.conn.recv_frame())
            .await
            .unwrap()
            .expect("the reason comes before the close");
        if let Ok(ServerMsg::Disconnect(d)) = codec::decode_server(&frame) {
            break d;
        }
    };
    assert!(why.detail.contains("speed"), "{why:?}");
    server.shutdown().await.expect("clean shutdown");
    let _ = std::fs::remove_dir_all(&dir);
}
