//! Readers that lie and close codes that must arrive (docs: operations.md, the drop policy
//! and `--close-linger`): clients that acknowledge every tick but never read are judged by
//! what their sockets took, skipped, then dropped with 1008, while memory stays bounded and
//! an honest player plays on; a client reading at half rate while still sending receives
//! its close code and reason.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::TcpSocket;
use tokio::time::Instant;

use common::{scrape, server_with, LIMIT};
use tickwire_bots::{BotConnection, DecodeMode, Driver};
use tickwire_shared::protocol::{codec, ClientMsg, DisconnectReason, ServerMsg};
use tickwire_shared::{Controls, Tick};
use tickwire_tests::raw::{join_bytes, op, parse_server_frame, Frame, Raw};
use tickwire_tests::wait_for;

/// Kernel TCP memory of the whole machine, in pages (`/proc/net/sockstat`, "TCP: ... mem N").
fn tcp_mem_pages() -> u64 {
    let text = std::fs::read_to_string("/proc/net/sockstat").unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with("TCP:"))
        .and_then(|l| l.split("mem ").nth(1))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// This process's resident memory, KB (the server runs in the test's runtime).
fn rss_kb() -> u64 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A raw client with a small receive window that joins and returns its welcome tick.
async fn joined_small_window(addr: SocketAddr, name: &str) -> (Raw, Tick) {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("rcvbuf");
    let stream = socket.connect(addr).await.expect("connect");
    let mut raw = Raw::from_connected(stream, addr);
    raw.upgrade().await;
    raw.send_frame(&Frame::binary(join_bytes(name)))
        .await
        .expect("join");
    let deadline = Instant::now() + LIMIT;
    loop {
        let f = raw.recv_frame(deadline).await.expect("welcome");
        if let Ok(ServerMsg::Welcome(w)) = codec::decode_server(&f.payload) {
            return (raw, w.tick);
        }
    }
}

fn input_frame(seq: u32, tick: Tick, ack: Option<Tick>) -> Vec<u8> {
    let msg = ClientMsg::Input(Controls::default().to_msg(seq, tick, ack));
    Frame::binary(codec::encode_client(&msg)).to_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_acknowledge_but_never_read_are_dropped_and_memory_stays_bounded() {
    const LIARS: usize = 40;
    const HZ: u32 = 60;
    // Full snapshots of 40-odd players make every frame large, so the liars' kernel
    // buffers fill within seconds; acknowledgements may trail as long as they like.
    let server = server_with(|c| {
        c.tick_hz = Some(HZ as u16);
        c.max_players = Some(64);
        c.full_snapshots = true;
        c.write_timeout = Duration::from_secs(2);
        c.close_linger = Duration::from_secs(60);
        c.idle_timeout = Duration::from_secs(120);
        c.ping_interval = Duration::from_secs(60);
    })
    .await;
    let (tcp0, rss0) = (tcp_mem_pages(), rss_kb());
    let honest = Driver::spawn(
        BotConnection::connect(&server.ws_url(), "honest", DecodeMode::Full)
            .await
            .expect("honest player joins"),
    );
    let mut liars = Vec::new();
    for i in 0..LIARS {
        liars.push(joined_small_window(server.addr, &format!("liar{i}")).await);
    }
    // Each liar acknowledges the tick it guesses the server is at, one input every 50 ms,
    // and reads nothing.
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    let mut readers = Vec::new();
    for (raw, welcome_tick) in liars {
        let (read, mut write) = raw.stream.into_split();
        readers.push(read);
        let stop = stop.clone();
        writers.push(tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let started = Instant::now();
            let mut seq = 1;
            while !stop.load(Ordering::Relaxed) && started.elapsed() < 3 * LIMIT {
                let guess =
                    welcome_tick.plus((started.elapsed().as_secs_f64() * f64::from(HZ)) as u32);
                let ack = guess.minus(2);
                if write
                    .write_all(&input_frame(seq, guess, Some(ack)))
                    .await
                    .is_err()
                {
                    break;
                }
                seq += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            write
        }));
    }
    let (mut tcp_peak, mut rss_peak) = (tcp0, rss0);
    wait_for("every liar is dropped as too slow", 3 * LIMIT, || {
        tcp_peak = tcp_peak.max(tcp_mem_pages());
        rss_peak = rss_peak.max(rss_kb());
        async move {
            scrape(server.addr, "tickwire_kicks_total{reason=\"too_slow\"}").await >= LIARS as f64
        }
    })
    .await;
    let skipped = scrape(server.addr, "tickwire_outbox_drops_total").await;
    stop.store(true, Ordering::Relaxed);
    let mut halves = Vec::new();
    for w in writers {
        halves.push(w.await.expect("writer"));
    }
    // Each liar, reading at last, finds its close behind what it never read.
    let mut codes = Vec::new();
    for (read, write) in readers.into_iter().zip(halves) {
        let stream = read.reunite(write).expect("same socket");
        let mut raw = Raw::from_connected(stream, server.addr);
        let ending = raw.ending(LIMIT).await;
        codes.push((ending.code, ending.disconnect.map(|d| (d.reason, d.detail))));
    }
    for (code, disconnect) in &codes {
        assert_eq!(*code, Some(1008), "{codes:?}");
        let (reason, detail) = disconnect.as_ref().expect("a reason");
        assert_eq!(*reason, DisconnectReason::TooSlow);
        assert!(detail.starts_with("not reading"), "{detail}");
    }
    // The honest player plays on.
    let before = honest.view(|v| v.snapshots);
    wait_for(
        "the honest player still receives snapshots",
        LIMIT,
        || async { honest.view(|v| v.snapshots) > before + 10 },
    )
    .await;
    let v = honest.stop().await;
    assert!(v.ended.is_none_or(|e| !e.desync), "honest player in sync");
    let page_kb = 4;
    eprintln!(
        "{LIARS} non-reading liars at {HZ} Hz, full snapshots: kernel TCP memory {} KB -> peak {} KB \
         (+{} KB, {} KB a liar), test process RSS {} KB -> peak {} KB; {skipped} snapshots skipped",
        tcp0 * page_kb,
        tcp_peak * page_kb,
        tcp_peak.saturating_sub(tcp0) * page_kb,
        tcp_peak.saturating_sub(tcp0) * page_kb / LIARS as u64,
        rss0,
        rss_peak
    );
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_rate_reader_still_sending_receives_its_close_code_and_reason() {
    // It never acknowledges, so the room drops it after half a second; by then its
    // socket's buffers hold a backlog it drains at half the rate the server writes.
    let server = server_with(|c| {
        c.tick_hz = Some(120);
        c.full_snapshots = true;
        c.max_ack_lag_ticks = 60;
    })
    .await;
    // A crowd of honest players makes the frames larger.
    let mut crowd = Vec::new();
    for i in 0..8 {
        let conn = BotConnection::connect(&server.ws_url(), &format!("crowd{i}"), DecodeMode::Full)
            .await
            .expect("crowd joins");
        crowd.push(Driver::spawn(conn));
    }
    let (mut raw, tick) = joined_small_window(server.addr, "halfrate").await;
    let mut buf = raw.take_buffered();
    let mut stream = raw.stream;
    // The server's rate, measured over 300 ms of reading freely.
    let mut chunk = vec![0u8; 1 << 16];
    let started = Instant::now();
    let mut got = 0usize;
    while started.elapsed() < Duration::from_millis(300) {
        if let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(20), stream.read(&mut chunk)).await
        {
            got += n;
            buf.extend_from_slice(&chunk[..n]);
        }
    }
    let half_per_round = (got / 6 / 2).max(64); // 50 ms rounds: half of what arrives
    let mut seq = 1;
    let mut ending = None;
    let mut disconnect = None;
    let deadline = Instant::now() + 2 * LIMIT;
    let mut ended = false;
    'read: while Instant::now() < deadline {
        // Still sending: an input every round.
        use tokio::io::AsyncWriteExt;
        let _ = stream
            .write_all(&input_frame(seq, tick.plus(seq), None))
            .await;
        seq += 1;
        let round = Instant::now() + Duration::from_millis(50);
        let mut left = half_per_round;
        while left > 0 {
            let cap = left.min(chunk.len());
            match tokio::time::timeout_at(round, stream.read(&mut chunk[..cap])).await {
                // The end: what was buffered is parsed below, then the loop ends.
                Ok(Ok(0)) | Ok(Err(_)) => {
                    ended = true;
                    break;
                }
                Ok(Ok(n)) => {
                    buf.extend_from_slice(&chunk[..n]);
                    left -= n;
                }
                Err(_) => break,
            }
        }
        while let Some((f, used)) = parse_server_frame(&buf) {
            buf.drain(..used);
            if f.opcode == op::BINARY {
                if let Ok(ServerMsg::Disconnect(d)) = codec::decode_server(&f.payload) {
                    disconnect = Some(d);
                }
            } else if f.opcode == op::CLOSE {
                ending = Some((
                    f.close_code(),
                    String::from_utf8_lossy(&f.payload[2..]).into_owned(),
                ));
                break 'read;
            }
        }
        if ended {
            break;
        }
        tokio::time::sleep_until(round).await;
    }
    let (code, reason) = ending.expect("the close frame arrived");
    assert_eq!(code, Some(1008));
    assert_eq!(reason, "too far behind");
    assert_eq!(
        disconnect.map(|d| d.reason),
        Some(DisconnectReason::TooSlow)
    );
    server.shutdown().await.expect("clean shutdown");
}
