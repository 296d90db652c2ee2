//! Backpressure (docs: hostile-cases.md, "Backpressure"): a client that never reads is
//! dropped after a bounded time with its snapshots skipped rather than queued; a slow reader
//! has snapshots skipped and stays in sync; other players never notice.

mod common;

use std::time::Duration;

use tokio::net::TcpSocket;
use tokio::time::Instant;

use common::{assert_serves_new_client, scrape, server_with, Witness, LIMIT};
use tickwire_shared::protocol::{codec, ClientMsg, DisconnectReason, ServerMsg};
use tickwire_shared::{Controls, Replica, Tick};
use tickwire_tests::raw::{join_bytes, op, Frame, Raw};
use tickwire_tests::wait_for;

/// A raw client with a tiny receive window, so the server's writes back up quickly.
async fn small_window_client(addr: std::net::SocketAddr) -> Raw {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(2048).expect("rcvbuf");
    let stream = socket.connect(addr).await.expect("connect");
    let mut raw = Raw::from_connected(stream, addr);
    raw.upgrade().await;
    raw.send_frame(&Frame::binary(join_bytes("slow")))
        .await
        .expect("join");
    raw
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_acknowledging_is_dropped_with_1008() {
    let server = server_with(|c| c.max_ack_lag_ticks = 45).await;
    let witness = Witness::join(&server).await;
    let mut deaf = small_window_client(server.addr).await;
    let started = Instant::now();
    // It never reads nor acknowledges; the room lets go of it after 45 ticks.
    wait_for("the deaf client is dropped", LIMIT, || async {
        scrape(server.addr, "tickwire_kicks_total{reason=\"too_slow\"}").await >= 1.0
    })
    .await;
    let took = started.elapsed();
    // Its buffers were not full yet: the reason and the close code are there to read.
    let ending = deaf.ending(LIMIT).await;
    assert!(ending.closed, "the server hung up: {ending:?}");
    assert_eq!(ending.code, Some(1008), "{ending:?}");
    assert_eq!(
        ending.disconnect.map(|d| d.reason),
        Some(DisconnectReason::TooSlow)
    );
    witness.assert_on_cadence(30).await;
    assert_serves_new_client(&server).await;
    assert!(took < LIMIT, "dropped after {took:?}");
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_has_snapshots_skipped_then_is_dropped() {
    // Fast ticks and small socket buffers fill the pipe in seconds; the ack-lag rule is
    // off here so that the write path alone has to cope.
    let server = server_with(|c| {
        c.tick_hz = Some(120);
        c.max_ack_lag_ticks = 100_000;
        c.tcp_send_buffer_bytes = 4096;
        c.write_timeout = Duration::from_secs(1);
        c.idle_timeout = Duration::from_secs(60);
    })
    .await;
    let witness = Witness::join(&server).await;
    let drops_before = scrape(server.addr, "tickwire_outbox_drops_total").await;
    let mut deaf = small_window_client(server.addr).await;
    wait_for("the deaf client is dropped", LIMIT, || async {
        scrape(server.addr, "tickwire_kicks_total{reason=\"too_slow\"}").await >= 1.0
    })
    .await;
    // While its writes were blocked, the room skipped it: snapshots dropped, not queued.
    let drops = scrape(server.addr, "tickwire_outbox_drops_total").await - drops_before;
    assert!(drops > 0.0, "snapshots were skipped, not queued");
    let ending = deaf.ending(LIMIT).await;
    assert!(ending.closed, "the server hung up: {ending:?}");
    witness.assert_on_cadence(120).await;
    assert_serves_new_client(&server).await;
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_has_snapshots_skipped_and_stays_in_sync() {
    slow_reader_stays_in_sync(false).await;
}

/// The same with interest management: its deltas, against the last frame its connection
/// took (several ticks old once frames are skipped), are cut by cells. The view covers the
/// map, so that frames are as large as in the arena and the socket's buffers fill.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_in_an_open_world_has_snapshots_skipped_and_stays_in_sync() {
    slow_reader_stays_in_sync(true).await;
}

async fn slow_reader_stays_in_sync(interest: bool) {
    let server = server_with(|c| {
        c.tick_hz = Some(120);
        c.max_ack_lag_ticks = 120 * 40;
        c.write_timeout = Duration::from_secs(40);
        c.tcp_send_buffer_bytes = 4096;
        c.outbox_depth = 2;
        if interest {
            c.view_width = Some(6000.0);
            c.view_height = Some(6000.0);
            c.view_margin = 100.0;
        }
    })
    .await;
    let witness = Witness::join(&server).await;
    let drops_before = scrape(server.addr, "tickwire_outbox_drops_total").await;
    let mut slow = small_window_client(server.addr).await;
    let mut replica: Option<Replica> = None;
    let mut seq = 0;
    let mut applied = 0u32;
    let mut after_skip = 0u32;
    let mut ticks: Vec<u32> = Vec::new();
    // Stalls for ~4 s (a frozen tab: more than the socket buffers hold), then reads at a
    // normal pace (50 ms rounds) until a few snapshots came after the gap: 11 rounds at
    // least, and up to LIMIT more (after a long zero window TCP may wait for its next
    // window probe, seconds later, before it sends again; the write-stall and ack-lag
    // limits are set above that here).
    let mut pause = tokio::time::interval(Duration::from_millis(4000));
    pause.tick().await;
    let mut gap_seen_at = None;
    let mut round = 0u32;
    let resumed_by = Instant::now() + Duration::from_millis(4000) + LIMIT;
    while round < 12
        || (gap_seen_at.is_none_or(|at| applied < at + 5) && Instant::now() < resumed_by)
    {
        if round == 1 {
            pause.tick().await;
        }
        round += 1;
        let deadline = Instant::now() + Duration::from_millis(50);
        while let Some(f) = slow.recv_frame(deadline).await {
            if f.opcode != op::BINARY {
                continue;
            }
            match codec::decode_server(&f.payload).expect("server bytes decode") {
                ServerMsg::Welcome(w) => replica = Some(Replica::from_welcome(&w)),
                ServerMsg::Snapshot(s) => {
                    // Each delta is against the last frame the connection took: the one
                    // received just before, skipped ticks or not.
                    let last = ticks.last().map(|t| Tick(*t));
                    if let Some(b) = s.header.baseline {
                        assert_eq!(Some(b), last, "baseline = the snapshot received before");
                    }
                    if last.is_some_and(|t| t.next() != s.header.tick) {
                        after_skip += 1;
                        gap_seen_at.get_or_insert(applied);
                    }
                    replica
                        .as_mut()
                        .expect("the welcome comes first")
                        .apply(&s)
                        .expect("every snapshot applies: no desync");
                    ticks.push(s.header.tick.0);
                    applied += 1;
                }
                ServerMsg::Disconnect(d) => panic!("slow reader dropped: {d:?}"),
                _ => {}
            }
        }
        // Acknowledge what arrived, as a real client's next input does.
        seq += 1;
        let ack = ticks.last().map(|t| Tick(*t));
        let tick = ack.map_or(Tick(0), Tick::next);
        let msg = ClientMsg::Input(Controls::default().to_msg(seq, tick, ack));
        slow.send_frame(&Frame::binary(codec::encode_client(&msg)))
            .await
            .expect("input");
    }
    assert!(applied > 5, "the slow reader received snapshots");
    let span = ticks.last().unwrap_or(&0) - ticks.first().unwrap_or(&0);
    assert!(
        applied < span && after_skip > 0,
        "snapshots were skipped ({applied} over {span} ticks, {after_skip} after a gap; {ticks:?}), \
         latest wins"
    );
    assert!(scrape(server.addr, "tickwire_outbox_drops_total").await > drops_before);
    let kicked = scrape(server.addr, "tickwire_kicks_total{reason=\"too_slow\"}").await;
    assert_eq!(
        kicked, 0.0,
        "a slow reader that acknowledges is not dropped"
    );
    witness.assert_on_cadence(120).await;
    server.shutdown().await.expect("clean shutdown");
}
