//! Hostile transport and handshakes (docs: hostile-cases.md, "Transport and handshake"):
//! each case gets a clear refusal, the server keeps serving, and a player connected
//! meanwhile keeps its snapshot cadence.

mod common;

use std::net::IpAddr;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

use common::{assert_serves_new_client, scrape, server_with, Witness, LIMIT};
use tickwire_tests::raw::{op, Frame, Raw};
use tickwire_tests::{wait_for, TestServer};

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

/// Whether a player from `source` is welcomed (rather than closed with 1013).
async fn joins_from(server: &TestServer, source: IpAddr) -> bool {
    let mut raw = Raw::connect_from(server.addr, source)
        .await
        .expect("connect");
    raw.upgrade().await;
    raw.send_frame(&Frame::binary(tickwire_tests::raw::join_bytes("p")))
        .await
        .expect("send join");
    let frame = raw.recv_frame(Instant::now() + LIMIT).await;
    frame.is_some_and(|f| {
        f.opcode == op::BINARY
            && matches!(
                tickwire_shared::protocol::codec::decode_server(&f.payload),
                Ok(tickwire_shared::protocol::ServerMsg::Welcome(_))
            )
    })
}

async fn http_refusal(server: &TestServer, bytes: &[u8]) -> u16 {
    let mut raw = Raw::connect(server.addr).await.expect("connect");
    raw.send(bytes).await.expect("send");
    let reply = raw.read_http_response(LIMIT).await.expect("reply");
    reply.status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_tls_and_http2_instead_of_an_upgrade_get_400() {
    let server = TestServer::start().await;
    let witness = Witness::join(&server).await;
    assert_eq!(
        http_refusal(&server, b"\x00\xff garbage \x07\r\n\r\n").await,
        400
    );
    // A TLS 1.2 ClientHello record header and the start of its body.
    let hello = [
        0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03, 0, 0, 0,
    ];
    assert_eq!(http_refusal(&server, &hello).await, 400);
    assert_eq!(
        http_refusal(&server, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await,
        400
    );
    assert_serves_new_client(&server).await;
    witness.assert_on_cadence(30).await;
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_silent_handshakes_time_out_with_408() {
    let server = server_with(|c| c.handshake_timeout = Duration::from_secs(1)).await;
    let witness = Witness::join(&server).await;
    let start = Instant::now();

    // Silent: connects and sends nothing.
    let mut silent = Raw::connect(server.addr).await.expect("connect");
    // Slowloris: a valid handshake, one byte every half second.
    let mut slow = Raw::connect(server.addr).await.expect("connect");
    let request = tickwire_tests::raw::upgrade_request("x", "/ws", &[]);
    let mut pace = tokio::time::interval(Duration::from_millis(500));
    for b in request.as_bytes().iter().take(6) {
        pace.tick().await;
        if slow.stream.write_all(&[*b]).await.is_err() {
            break;
        }
    }
    for raw in [&mut silent, &mut slow] {
        let reply = raw.read_http_response(LIMIT).await.expect("reply");
        assert_eq!(reply.status, 408, "{}", reply.text);
    }
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "both were dropped at the handshake timeout"
    );
    assert_serves_new_client(&server).await;
    witness.assert_on_cadence(30).await;
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_or_too_many_headers_get_431() {
    let server = TestServer::start().await;
    let big = format!("X-Big: {}", "a".repeat(9000));
    let mut raw = Raw::connect(server.addr).await.expect("connect");
    let reply = raw
        .upgrade_with("/ws", &[big.as_str()])
        .await
        .expect("reply");
    assert_eq!(reply.status, 431);

    let many: Vec<String> = (0..40).map(|i| format!("X-H{i}: v")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let mut raw = Raw::connect(server.addr).await.expect("connect");
    let reply = raw.upgrade_with("/ws", &many).await.expect("reply");
    assert_eq!(reply.status, 431, "too many: {}", reply.text);
    assert_serves_new_client(&server).await;
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_upgrades_are_refused_with_the_right_status() {
    let server = server_with(|c| c.allowed_origins = vec!["https://game.example".into()]).await;
    let url = server.addr.to_string();
    let cases: Vec<(String, u16)> = vec![
        // Wrong WebSocket version: 426 naming the version we speak.
        (
            format!(
                "GET /ws HTTP/1.1\r\nHost: {url}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\
                 Origin: https://game.example\r\n\r\n"
            ),
            426,
        ),
        // Missing key.
        (
            format!(
                "GET /ws HTTP/1.1\r\nHost: {url}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Version: 13\r\nOrigin: https://game.example\r\n\r\n"
            ),
            400,
        ),
        // Not GET.
        (
            format!(
                "POST /ws HTTP/1.1\r\nHost: {url}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ),
            405,
        ),
        // Wrong path.
        (
            tickwire_tests::raw::upgrade_request(&url, "/wsx", &["Origin: https://game.example"]),
            404,
        ),
        // An origin not on the list, and none at all.
        (
            tickwire_tests::raw::upgrade_request(&url, "/ws", &["Origin: https://evil.example"]),
            403,
        ),
        (tickwire_tests::raw::upgrade_request(&url, "/ws", &[]), 403),
    ];
    for (request, status) in cases {
        let mut raw = Raw::connect(server.addr).await.expect("connect");
        raw.send(request.as_bytes()).await.expect("send");
        let reply = raw.read_http_response(LIMIT).await.expect("reply");
        assert_eq!(reply.status, status, "{request}\n=> {}", reply.text);
        if status == 426 {
            assert!(reply.has_header("Sec-WebSocket-Version"));
        }
    }
    // The allowed origin upgrades.
    let mut raw = Raw::connect(server.addr).await.expect("connect");
    let reply = raw
        .upgrade_with("/ws", &["Origin: https://game.example"])
        .await
        .expect("reply");
    assert_eq!(reply.status, 101);
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_connection_cap_upgrades_get_1013_and_http_gets_503() {
    // The witness and the scrapes need slots too: cap at 4, hold 3 with idle sockets.
    let server = server_with(|c| {
        c.max_connections = 4;
        c.join_timeout = Duration::from_secs(60);
    })
    .await;
    let witness = Witness::join(&server).await;
    let mut idle = Vec::new();
    for _ in 0..3 {
        let mut raw = Raw::connect(server.addr).await.expect("connect");
        raw.upgrade().await;
        idle.push(raw);
    }
    let mut over = Raw::connect(server.addr).await.expect("connect");
    let reply = over.upgrade_with("/ws", &[]).await.expect("reply");
    assert_eq!(
        reply.status, 101,
        "the upgrade completes, to carry the code"
    );
    let ending = over.ending(LIMIT).await;
    assert_eq!(ending.code, Some(1013), "{ending:?}");
    assert!(ending.closed);
    assert!(
        ending.disconnect.is_some(),
        "the game-level reason came first"
    );

    let mut http = Raw::connect(server.addr).await.expect("connect");
    http.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("send");
    let reply = http.read_http_response(LIMIT).await.expect("reply");
    assert_eq!(reply.status, 503);
    assert!(reply.has_header("Retry-After"));

    // Free the slots: the server takes new clients again.
    idle.clear();
    wait_for("slots are released", LIMIT, || async {
        tickwire_tests::http_get(server.addr, "/healthz")
            .await
            .is_ok_and(|(s, _)| s == 200)
    })
    .await;
    witness.assert_on_cadence(30).await;
    assert_serves_new_client(&server).await;
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_ip_cap_refuses_the_extra_connection_of_one_address_only() {
    let server = server_with(|c| {
        c.max_connections_per_ip = 2;
        c.per_ip_includes_loopback = true;
        c.join_timeout = Duration::from_secs(60);
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut raw = Raw::connect_from(server.addr, ip("127.0.0.2"))
            .await
            .expect("connect");
        raw.upgrade().await;
        held.push(raw);
    }
    let mut third = Raw::connect_from(server.addr, ip("127.0.0.2"))
        .await
        .expect("connect");
    assert_eq!(
        third.upgrade_with("/ws", &[]).await.expect("reply").status,
        101
    );
    let ending = third.ending(LIMIT).await;
    assert_eq!(ending.code, Some(1013), "{ending:?}");
    // Another address is not affected.
    assert!(joins_from(&server, ip("127.0.0.3")).await);
    // A forged X-Forwarded-For from an untrusted peer changes nothing.
    let mut forged = Raw::connect_from(server.addr, ip("127.0.0.2"))
        .await
        .expect("connect");
    let reply = forged
        .upgrade_with("/ws", &["X-Forwarded-For: 198.51.100.1"])
        .await
        .expect("reply");
    assert_eq!(reply.status, 101);
    assert_eq!(forged.ending(LIMIT).await.code, Some(1013));
    // When one of the two leaves, the address may connect again.
    held.pop();
    wait_for("the address's slot is released", LIMIT, || async {
        joins_from(&server, ip("127.0.0.2")).await
    })
    .await;
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_storm_leaks_no_descriptors_tasks_or_players() {
    // Half the storm vanishes without a close: those players are held for a resume for
    // the grace, then leave; a short grace lets the test see the end of it. One room
    // holds them all (more rooms would be more tasks, until they are disposed).
    let server = TestServer::start_with(tickwire_server::Config {
        reconnect_grace: Some(Duration::from_millis(200)),
        max_players: Some(256),
        ..tickwire_tests::test_config()
    })
    .await;
    let witness = Witness::join(&server).await;
    let fds = || std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count);
    let tasks = || {
        tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks()
    };
    let (fds_before, tasks_before) = (fds(), tasks());
    let url = server.ws_url();
    let mut storms = Vec::new();
    for w in 0..4 {
        let url = url.clone();
        storms.push(tokio::spawn(async move {
            for i in 0..50 {
                let name = format!("storm{w}-{i}");
                let conn = tickwire_bots::BotConnection::connect(
                    &url,
                    &name,
                    tickwire_bots::DecodeMode::HeaderOnly,
                )
                .await
                .expect("storm join");
                if i % 2 == 0 {
                    conn.close().await;
                } else {
                    drop(conn); // vanish without a close
                }
            }
        }));
    }
    for s in storms {
        s.await.expect("storm task");
    }
    wait_for("every storm connection is gone", LIMIT, || async {
        scrape(server.addr, "tickwire_players_connected").await == 1.0
            && scrape(server.addr, "tickwire_connections_open").await <= 2.0
    })
    .await;
    wait_for(
        "descriptors and tasks return to their level",
        LIMIT,
        || async { fds() <= fds_before + 2 && tasks() <= tasks_before + 2 },
    )
    .await;
    assert!(scrape(server.addr, "tickwire_connections_total").await >= 200.0);
    witness.assert_on_cadence(30).await;
    server.shutdown().await.expect("clean shutdown");
}
