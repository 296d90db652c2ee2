//! Hostile WebSocket framing (docs: hostile-cases.md, "Framing"): every case ends with the
//! close code of the table, delivered (tungstenite itself sends none), and the server keeps
//! serving.

mod common;

use std::time::Duration;

use tokio::time::Instant;

use common::{assert_serves_new_client, server_with, Witness, LIMIT};
use tickwire_tests::raw::{join_bytes, op, Frame, Raw};
use tickwire_tests::TestServer;

/// Sends `frames` on an upgraded connection (joined first when `joined`) and returns the
/// close code the server sent, asserting it then hung up.
async fn close_code_after(server: &TestServer, joined: bool, frames: &[Frame]) -> u16 {
    let mut raw = if joined {
        Raw::joined(server.addr, "hostile").await
    } else {
        let mut r = Raw::connect(server.addr).await.expect("connect");
        r.upgrade().await;
        r
    };
    for f in frames {
        if raw.send_frame(f).await.is_err() {
            break;
        }
    }
    let ending = raw.ending(LIMIT).await;
    assert!(ending.closed, "the server hung up after its close frame");
    ending
        .code
        .unwrap_or_else(|| panic!("no close frame: {ending:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_frame_gets_1003_before_and_after_join() {
    let server = TestServer::start().await;
    let text = Frame::new(op::TEXT, b"hello".to_vec());
    assert_eq!(
        close_code_after(&server, false, std::slice::from_ref(&text)).await,
        1003
    );
    assert_eq!(close_code_after(&server, true, &[text]).await, 1003);
    assert_serves_new_client(&server).await;
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_header_declaring_1_mib_gets_1009_without_buffering_it() {
    let server = TestServer::start().await;
    let witness = Witness::join(&server).await;
    let mut big = Frame::binary(vec![0u8; 4096]);
    big.declared_len = Some(1 << 20);
    assert_eq!(close_code_after(&server, true, &[big.clone()]).await, 1009);
    assert_eq!(close_code_after(&server, false, &[big]).await, 1009);
    // Really sending a 1 MiB frame: refused as early, the rest is discarded unread.
    let mut raw = Raw::connect(server.addr).await.expect("connect");
    raw.upgrade().await;
    let whole = Frame::binary(vec![7u8; 1 << 20]).to_bytes();
    let writer = tokio::spawn(async move {
        let _ = raw.send(&whole).await;
        raw
    });
    let mut raw = writer.await.expect("writer");
    let ending = raw.ending(LIMIT).await;
    assert_eq!(ending.code, Some(1009), "{ending:?}");
    assert_serves_new_client(&server).await;
    witness.assert_on_cadence(30).await;
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fragments_that_sum_past_the_limit_get_1009() {
    let server = TestServer::start().await;
    let mut frames = Vec::new();
    let mut first = Frame::binary(vec![1u8; 200]);
    first.fin = false;
    frames.push(first);
    let mut more = Frame::new(op::CONT, vec![2u8; 200]);
    more.fin = false;
    frames.push(more);
    frames.push(Frame::new(op::CONT, vec![3u8; 200]));
    assert_eq!(close_code_after(&server, true, &frames).await, 1009);
    assert_serves_new_client(&server).await;
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_violations_get_1002() {
    let server = TestServer::start().await;
    let witness = Witness::join(&server).await;
    let join = join_bytes("x");
    let mut unmasked = Frame::binary(join.clone());
    unmasked.mask = None;
    let mut rsv = Frame::binary(join.clone());
    rsv.rsv = 0b100;
    let reserved_opcode = Frame::new(0x3, b"?".to_vec());
    let cont_without_start = Frame::new(op::CONT, join.clone());
    let mut fragmented_ping = Frame::new(op::PING, b"p".to_vec());
    fragmented_ping.fin = false;
    let long_ping = Frame::new(op::PING, vec![0u8; 126]);
    let mut interleaved = Frame::binary(vec![1u8; 4]);
    interleaved.fin = false;
    let cases: Vec<(&str, Vec<Frame>)> = vec![
        ("unmasked", vec![unmasked]),
        ("rsv1 without an extension", vec![rsv]),
        ("reserved opcode", vec![reserved_opcode]),
        (
            "continuation with nothing to continue",
            vec![cont_without_start],
        ),
        ("fragmented control frame", vec![fragmented_ping]),
        ("control frame over 125 bytes", vec![long_ping]),
        (
            "new message inside a fragmented one",
            vec![interleaved.clone(), interleaved],
        ),
    ];
    for (what, frames) in cases {
        for joined in [false, true] {
            let code = close_code_after(&server, joined, &frames).await;
            assert_eq!(code, 1002, "{what} (joined: {joined})");
        }
    }
    assert_serves_new_client(&server).await;
    witness.assert_on_cadence(30).await;
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_bytes_after_the_handshake_get_a_close_code() {
    let server = TestServer::start().await;
    // A fixed pseudo-random stream (xorshift), starting with 0xF3: FIN, RSV bits, opcode 3.
    let mut x: u32 = 0x9E37_79B9;
    let mut bytes = vec![0xF3];
    bytes.extend((0..4096).map(|_| {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x as u8
    }));
    let mut raw = Raw::connect(server.addr).await.expect("connect");
    raw.upgrade().await;
    let _ = raw.send(&bytes).await;
    let ending = raw.ending(LIMIT).await;
    assert_eq!(ending.code, Some(1002), "{ending:?}");
    assert!(ending.closed);
    assert_serves_new_client(&server).await;
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permessage_deflate_is_never_negotiated() {
    let server = TestServer::start().await;
    let mut raw = Raw::connect(server.addr).await.expect("connect");
    let reply = raw
        .upgrade_with(
            "/ws",
            &["Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"],
        )
        .await
        .expect("reply");
    assert_eq!(reply.status, 101);
    assert!(
        !reply.has_header("Sec-WebSocket-Extensions"),
        "no extension accepted: {}",
        reply.text
    );
    // A client that compresses anyway sets RSV1: a protocol error.
    let mut compressed = Frame::binary(vec![0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
    compressed.rsv = 0b100;
    raw.send_frame(&compressed).await.expect("send");
    assert_eq!(raw.ending(LIMIT).await.code, Some(1002));
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pings_are_answered_and_the_server_pings_idle_clients() {
    let server = server_with(|c| {
        c.ping_interval = Duration::from_millis(300);
        c.idle_timeout = Duration::from_secs(2);
    })
    .await;
    let mut raw = Raw::joined(server.addr, "pinger").await;
    raw.send_frame(&Frame::new(op::PING, b"abc".to_vec()))
        .await
        .expect("ping");
    let deadline = Instant::now() + LIMIT;
    let (mut pong, mut server_ping) = (false, false);
    while !(pong && server_ping) {
        let f = raw.recv_frame(deadline).await.expect("frames keep coming");
        pong |= f.opcode == op::PONG && f.payload == b"abc";
        server_ping |= f.opcode == op::PING;
    }
    // A client that only answers pings but sends nothing is idle: closed with 1008.
    let ending = raw.ending(LIMIT).await;
    assert_eq!(ending.code, Some(1008), "{ending:?}");
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_empty_fragments_leaves_other_players_alone() {
    // An unfinished message followed by 6 MB of empty continuation frames, as fast as the
    // socket takes them: no message ever completes (no rate limit applies) and the message
    // never grows (no size limit applies). The room reads at most a few KB from a client
    // per tick (`server::net::game_socket` tests the bound), so everyone else keeps playing.
    let server = TestServer::start().await;
    let witness = Witness::join(&server).await;
    let mut raw = Raw::joined(server.addr, "fragments").await;
    let mut first = Frame::binary(vec![1u8]);
    first.fin = false;
    let mut empty = Frame::new(op::CONT, Vec::new());
    empty.fin = false;
    let one = empty.to_bytes();
    let mut flood = first.to_bytes();
    for _ in 0..1_000_000 {
        flood.extend_from_slice(&one);
    }
    let writer = tokio::spawn(async move {
        let _ = raw.send(&flood).await;
        raw
    });
    witness.assert_on_cadence(60).await;
    assert_serves_new_client(&server).await;
    writer.abort();
    server.shutdown().await.expect("clean shutdown");
}
