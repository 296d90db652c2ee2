//! Process-level faults, on the real binary (docs: hostile-cases.md, "Process"): SIGTERM and
//! Ctrl-C shut down cleanly with 1001 to every client and exit 0; a panic in a room's tick
//! ends that room only (its clients get 1011, other rooms play on, the process serves), a
//! panic in one connection leaves the rest playing; descriptor exhaustion is logged, backed off from, and survived.

mod common;

use common::{ServerProcess, LIMIT};
use tickwire_bots::{BotConnection, DecodeMode, Driver};
use tickwire_shared::protocol::DisconnectReason;
use tickwire_tests::raw::Raw;
use tickwire_tests::{http_get, http_post, metric, reserve, wait_for};

async fn player(server: &ServerProcess, name: &str) -> Driver {
    let url = format!("ws://{}/ws", server.addr);
    let conn = BotConnection::connect(&url, name, DecodeMode::Full)
        .await
        .expect("join");
    let d = Driver::spawn(conn);
    wait_for("snapshots flow", LIMIT, || async {
        d.view(|v| v.snapshots >= 2)
    })
    .await;
    d
}

async fn graceful_on(sig: &str) {
    let mut server = ServerProcess::start(&[], &[]).await;
    let mut a = Raw::joined(server.addr, "a").await;
    let mut b = Raw::joined(server.addr, "b").await;
    let mut upgraded = Raw::connect(server.addr).await.expect("connect");
    upgraded.upgrade().await;
    server.signal(sig);
    for raw in [&mut a, &mut b] {
        let ending = raw.ending(LIMIT).await;
        assert_eq!(ending.code, Some(1001), "{sig}: {ending:?}");
        assert!(ending.closed);
    }
    let status = server.wait_exit(LIMIT).await;
    assert!(
        status.success(),
        "{sig}: exit {status:?}; log:\n{}",
        server.log()
    );
    assert!(
        Raw::connect(server.addr).await.is_err(),
        "no longer accepting"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_every_client_with_1001_and_exits_0() {
    graceful_on("TERM").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_closes_every_client_with_1001_and_exits_0() {
    graceful_on("INT").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_a_room_ends_that_room_only() {
    let server = ServerProcess::start(&[], &[]).await;
    // One player by quick play, one in a private room of its own.
    let mut doomed = Raw::joined(server.addr, "doomed").await;
    let (status, rooms) = http_get(server.addr, "/rooms").await.expect("GET /rooms");
    assert_eq!(status, 200);
    let rooms: serde_json::Value = serde_json::from_str(&rooms).expect("JSON");
    let doomed_room = rooms[0]["room"]
        .as_str()
        .expect("the quick play room")
        .to_owned();
    let seat = reserve(server.addr, "/rooms", r#"{"private":true}"#).await;
    let conn =
        BotConnection::connect_with_seat(&seat.url, "witness", &seat.token, DecodeMode::Full)
            .await
            .expect("join the private room");
    assert_eq!(conn.welcome.room, seat.room);
    let witness = Driver::spawn(conn);

    let (status, _) = http_post(
        server.addr,
        &format!("/debug/rooms/{doomed_room}/panic"),
        "",
    )
    .await
    .expect("POST panic");
    assert_eq!(status, 200);
    let ending = doomed.ending(LIMIT).await;
    assert_eq!(ending.code, Some(1011), "{ending:?}");
    assert_eq!(
        ending.disconnect.map(|d| d.reason),
        Some(DisconnectReason::RoomFailed)
    );
    // The other room keeps ticking, the process keeps serving, quick play lands anew.
    let before = witness.view(|v| v.snapshots);
    wait_for("the witness keeps receiving snapshots", LIMIT, || async {
        witness.view(|v| v.snapshots >= before + 30)
    })
    .await;
    wait_for("the failed room is counted and removed", LIMIT, || async {
        let (_, text) = http_get(server.addr, "/metrics").await.expect("metrics");
        metric(&text, "tickwire_rooms_failed_total") == Some(1.0)
            && http_get(server.addr, &format!("/rooms/{doomed_room}"))
                .await
                .is_ok_and(|(status, _)| status == 404)
    })
    .await;
    let newcomer = player(&server, "newcomer").await;
    for d in [witness, newcomer] {
        let v = d.stop().await;
        assert_eq!(v.ended.map(|e| e.error), Some("stopped".to_owned()));
    }
    assert!(server.log().contains("room failed"), "{}", server.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_one_connection_leaves_the_others_playing() {
    let server = ServerProcess::start(&["--debug-panic-path", "/__panic"], &[]).await;
    let witness = player(&server, "witness").await;
    for _ in 0..3 {
        let mut raw = Raw::connect(server.addr).await.expect("connect");
        raw.send(b"GET /__panic HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("send");
        let reply = raw.read_http_response(LIMIT).await.expect("reply");
        assert_eq!(reply.status, 0, "the task died without answering");
    }
    let before = witness.view(|v| v.snapshots);
    wait_for("the witness keeps receiving snapshots", LIMIT, || async {
        witness.view(|v| v.snapshots >= before + 30)
    })
    .await;
    let newcomer = player(&server, "newcomer").await;
    for d in [witness, newcomer] {
        let v = d.stop().await;
        assert_eq!(v.ended.map(|e| e.error), Some("stopped".to_owned()));
    }
    assert!(server.log().contains("test-only panic"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_out_of_descriptors_is_logged_backed_off_and_survived() {
    let server = ServerProcess::start(&["--handshake-timeout", "60s"], &[]).await;
    let witness = player(&server, "witness").await;
    // Leave the process a handful of spare descriptors, then connect more than that.
    let limit = server.open_fds() + 4;
    let pid = server.pid().to_string();
    // Only the soft limit moves: raising a hard limit again needs privileges.
    let set_limit = |n: usize| {
        let spec = format!("--nofile={n}:");
        let ok = std::process::Command::new("prlimit")
            .args(["--pid", &pid, &spec])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "prlimit {spec}");
    };
    set_limit(limit);
    let mut held = Vec::new();
    for _ in 0..12 {
        // The kernel completes the TCP handshake from the backlog even when the server
        // cannot accept.
        held.push(Raw::connect(server.addr).await.expect("connect"));
    }
    server.wait_log("accept failed; backing off", LIMIT).await;
    // Established sessions are unaffected meanwhile.
    let before = witness.view(|v| v.snapshots);
    wait_for("the witness keeps playing", LIMIT, || async {
        witness.view(|v| v.snapshots >= before + 15)
    })
    .await;
    // Descriptors come back: the backlog is accepted and new players join.
    held.clear();
    set_limit(20_000.min(limit + 1000));
    server.wait_log("accepting again", LIMIT).await;
    let newcomer = player(&server, "newcomer").await;
    newcomer.stop().await;
    witness.stop().await;
    let log = server.log();
    let warnings = log.matches("accept failed; backing off").count();
    assert!(
        warnings <= 30,
        "the warning is rate-limited, got {warnings}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_a_low_descriptor_limit_the_cap_refuses_instead_of_failing() {
    let server = ServerProcess::start(
        &["--join-timeout", "60s"],
        &["prlimit", "--nofile=80:80", "--"],
    )
    .await;
    server.wait_log("connection cap lowered", LIMIT).await;
    // 80 - 32 reserved - 16 refusal slots = 32 connections.
    let mut held = Vec::new();
    for _ in 0..32 {
        let mut raw = Raw::connect(server.addr).await.expect("connect");
        raw.upgrade().await;
        held.push(raw);
    }
    let mut over = Raw::connect(server.addr).await.expect("connect");
    let reply = over.upgrade_with("/ws", &[]).await.expect("reply");
    assert_eq!(reply.status, 101);
    assert_eq!(over.ending(LIMIT).await.code, Some(1013));
    held.truncate(20);
    let url = format!("ws://{}/ws", server.addr);
    wait_for("slots are released and a player joins", LIMIT, || async {
        match BotConnection::connect(&url, "after", DecodeMode::Full).await {
            Ok(c) => {
                c.close().await;
                true
            }
            Err(_) => false,
        }
    })
    .await;
    assert!(
        !server.log().contains("accept failed"),
        "the cap kept the process below its descriptor limit:\n{}",
        server.log()
    );
}
