//! Reconnect and resume on real sockets: a player whose connection is cut comes back to the
//! same entity with a delta against the state it held; others see it marked disconnected,
//! never a leave and a join; every bad token is refused with its reason; a newer connection
//! takes over one that still looks alive.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tickwire_bots::{BotConnection, BotError, DecodeMode, Detached, Driver, ServerEvent};
use tickwire_server::Config;
use tickwire_shared::protocol::{DisconnectReason, ResumeRefusal, CLOSE_REPLACED};
use tickwire_shared::{Controls, NetEntity, NetId};
use tickwire_tests::{http_get, metric, reserve, test_config, wait_for, TestServer};

const LIMIT: Duration = Duration::from_secs(10);

/// Plays `conn` until it has applied `n` snapshots, walking right.
async fn play(conn: &mut BotConnection, n: usize) {
    let walk = Controls {
        move_x: 1.0,
        ..Controls::default()
    };
    let mut seen = 0;
    tokio::time::timeout(LIMIT, async {
        while seen < n {
            conn.send_input(walk).await.expect("send");
            if let ServerEvent::Snapshot { .. } = conn.recv().await.expect("recv") {
                seen += 1;
            }
        }
    })
    .await
    .expect("snapshots in time");
}

/// `id` as `d` sees it: `None` when absent, else whether it is marked disconnected.
fn seen_as(d: &Driver, id: NetId) -> Option<bool> {
    d.view(|v| match v.get(id) {
        Some(NetEntity::Player(p)) => Some(p.disconnected),
        _ => None,
    })
}

/// Watches `witness` until stopped: whether `id` was ever missing from its view.
fn watch_presence(witness: Arc<Driver>, id: NetId) -> (Arc<AtomicBool>, Arc<AtomicBool>) {
    let missing = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let (m, s) = (missing.clone(), stop.clone());
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_millis(5));
        while !s.load(Ordering::Relaxed) {
            every.tick().await;
            if seen_as(&witness, id).is_none() {
                m.store(true, Ordering::Relaxed);
            }
        }
    });
    (missing, stop)
}

/// The seats taken in `room` (players + reservations), as the rooms API tells.
async fn seats_taken(server: &TestServer, room: &str) -> u64 {
    let (status, body) = http_get(server.addr, &format!("/rooms/{room}"))
        .await
        .expect("GET /rooms/{code}");
    assert_eq!(status, 200, "{body}");
    let info: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    info["seats_taken"].as_u64().expect("seats_taken")
}

fn refusal_of(r: Result<BotConnection, BotError>) -> (DisconnectReason, u16) {
    match r {
        Err(BotError::Disconnected(Some(d), Some((code, _)))) => (d.reason, code),
        Err(e) => panic!("expected a refusal with a reason, got {e}"),
        Ok(c) => panic!(
            "expected a refusal, got a welcome for {:?}",
            c.welcome.player
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_connection_resumes_the_same_player_with_a_delta() {
    let server = TestServer::start().await;
    let mut ann = BotConnection::connect(&server.ws_url(), "ann", DecodeMode::Full)
        .await
        .expect("ann joins");
    let bob = Arc::new(Driver::spawn(
        BotConnection::connect(&server.ws_url(), "bob", DecodeMode::Full)
            .await
            .expect("bob joins"),
    ));
    assert_eq!(ann.welcome.room, bob.view(|v| v.welcome.room.clone()));
    assert!(
        !ann.welcome.resume.is_empty(),
        "the welcome hands out a resume token"
    );
    let me = ann.welcome.player;
    play(&mut ann, 20).await;
    wait_for("bob sees ann", LIMIT, || async {
        seen_as(&bob, me) == Some(false)
    })
    .await;
    let (missing, stop) = watch_presence(bob.clone(), me);
    let before = ann.replica.get(me).cloned().expect("ann sees herself");

    let room = ann.welcome.room.clone();
    assert_eq!(seats_taken(&server, &room).await, 2);
    let held: Detached = ann.cut();
    wait_for("bob sees ann marked disconnected", LIMIT, || async {
        seen_as(&bob, me) == Some(true)
    })
    .await;
    assert_eq!(
        seats_taken(&server, &room).await,
        2,
        "a held player keeps its seat"
    );
    wait_for("the metrics count one player in grace", LIMIT, || async {
        let (_, text) = http_get(server.addr, "/metrics").await.expect("metrics");
        metric(&text, "tickwire_players_in_grace") == Some(1.0)
    })
    .await;
    let last_tick = held.latest_tick();
    let mut ann = held.resume(&server.ws_url()).await.expect("resume");
    assert_eq!(ann.welcome.player, me, "the same entity");
    assert!(ann.welcome.resumed);
    // The first snapshot is a delta against the tick the client held, and it applies.
    let first = tokio::time::timeout(LIMIT, async {
        loop {
            if let ServerEvent::Snapshot { header, .. } = ann.recv().await.expect("recv") {
                return header;
            }
        }
    })
    .await
    .expect("a snapshot");
    assert_eq!(
        first.baseline, last_tick,
        "a delta against the state the client held"
    );
    play(&mut ann, 10).await;
    let NetEntity::Player(after) = ann.replica.get(me).cloned().expect("still there") else {
        panic!("a player");
    };
    let NetEntity::Player(before) = before else {
        panic!("a player");
    };
    assert_eq!(
        (after.kills, after.deaths, after.hp),
        (before.kills, before.deaths, before.hp)
    );
    assert!(!after.disconnected);
    wait_for("bob sees ann back", LIMIT, || async {
        seen_as(&bob, me) == Some(false)
    })
    .await;
    assert_eq!(
        seats_taken(&server, &room).await,
        2,
        "a resume takes no new seat"
    );
    wait_for("none in grace, one resume counted", LIMIT, || async {
        let (_, text) = http_get(server.addr, "/metrics").await.expect("metrics");
        metric(&text, "tickwire_players_in_grace") == Some(0.0)
            && metric(&text, "tickwire_resumes_total") == Some(1.0)
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    assert!(!missing.load(Ordering::Relaxed), "bob never saw ann leave");
    // The token of the connection before is spent: a new one came with this welcome.
    ann.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_grace_a_resume_is_refused_and_a_new_join_works() {
    let dir = std::env::temp_dir().join(format!("tickwire-resume-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let modes = dir.join("modes.toml");
    std::fs::write(
        &modes,
        "default = \"arena\"\n[[mode]]\nname = \"arena\"\nmap = \"maps/arena.json\"\n\
         max_players = 4\nreconnect_grace = \"300ms\"\n",
    )
    .expect("modes");
    let server = TestServer::start_with(Config {
        modes: Some(modes),
        ..test_config()
    })
    .await;
    let mut ann = BotConnection::connect(&server.ws_url(), "ann", DecodeMode::Full)
        .await
        .expect("join");
    let bob = Driver::spawn(
        BotConnection::connect(&server.ws_url(), "bob", DecodeMode::Full)
            .await
            .expect("bob joins"),
    );
    let me = ann.welcome.player;
    play(&mut ann, 5).await;
    let held = ann.cut();
    wait_for("the grace ends and ann leaves", LIMIT, || async {
        seen_as(&bob, me).is_none()
    })
    .await;
    let room = bob.view(|v| v.welcome.room.clone());
    wait_for("ann's seat is freed, once", LIMIT, || async {
        seats_taken(&server, &room).await == 1
    })
    .await;
    assert_eq!(
        refusal_of(held.resume(&server.ws_url()).await),
        (DisconnectReason::Resume(ResumeRefusal::Expired), 1008)
    );
    let again = BotConnection::connect(&server.ws_url(), "ann", DecodeMode::Full)
        .await
        .expect("falls back to a new join");
    assert_ne!(again.welcome.player, me, "a new player");
    again.close().await;
    bob.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_resume_tokens_are_refused_with_their_reason() {
    let server = TestServer::start().await;
    let url = server.ws_url();
    // A replayed token: resumed once, the old token is spent.
    let mut ann = BotConnection::connect(&url, "ann", DecodeMode::Full)
        .await
        .expect("join");
    play(&mut ann, 3).await;
    let first = ann.cut();
    let replay = first.clone();
    let mut ann = first.resume(&url).await.expect("resume");
    play(&mut ann, 3).await;
    assert_eq!(
        refusal_of(replay.resume(&url).await),
        (DisconnectReason::Resume(ResumeRefusal::Expired), 1008)
    );
    // A forged token.
    let mut forged = ann.detached();
    forged.tamper_token();
    assert_eq!(
        refusal_of(forged.resume(&url).await),
        (DisconnectReason::Resume(ResumeRefusal::Invalid), 1008)
    );
    // A token presented at another room's URL.
    let other = reserve(server.addr, "/rooms", r#"{"private":true}"#).await;
    let other_url = format!("ws://{}/ws?room={}", server.addr, other.room);
    assert_eq!(
        refusal_of(ann.detached().resume(&other_url).await),
        (DisconnectReason::Resume(ResumeRefusal::OtherRoom), 1008)
    );
    // The token of a player who left cleanly.
    let left = ann.detached();
    ann.close().await;
    wait_for("the refusal of a player who left", LIMIT, || async {
        matches!(
            left.clone().resume(&url).await,
            Err(BotError::Disconnected(Some(d), _)) if d.reason == DisconnectReason::Resume(ResumeRefusal::Expired)
        )
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_takes_over_a_connection_that_still_looks_alive() {
    let server = TestServer::start().await;
    let mut old = BotConnection::connect(&server.ws_url(), "ann", DecodeMode::Full)
        .await
        .expect("join");
    play(&mut old, 5).await;
    // The client noticed a drop the server did not: it resumes while the old connection
    // is still open on the server's side.
    let mut new = old
        .detached()
        .resume(&server.ws_url())
        .await
        .expect("takeover");
    assert_eq!(new.welcome.player, old.welcome.player);
    assert_eq!(
        seats_taken(&server, &new.welcome.room).await,
        1,
        "one player, one seat"
    );
    let ended = tokio::time::timeout(LIMIT, async {
        loop {
            match old.recv().await {
                Ok(_) => {}
                Err(e) => return e,
            }
        }
    })
    .await
    .expect("the old connection is closed");
    match ended {
        BotError::Disconnected(Some(d), Some((code, _))) => {
            assert_eq!(
                (d.reason, code),
                (DisconnectReason::Replaced, CLOSE_REPLACED)
            );
        }
        other => panic!("expected the replaced close, got {other}"),
    }
    play(&mut new, 5).await;
    new.close().await;
}
