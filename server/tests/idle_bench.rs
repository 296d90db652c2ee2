//! Memory per idle WebSocket connection, on the real binary: N upgraded connections that
//! never join, spread over 127.0.0.x source addresses (loopback is a whole /8), and the
//! growth of the server's resident memory divided by N. Target: at most 10 KB.
//!
//! `cargo xtask bench-idle --n 10000` runs the full benchmark (ignored by default); a small
//! run (500 connections) is part of the normal suite as a regression guard.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use common::ServerProcess;
use tickwire_tests::raw::Raw;
use tokio::time::Instant;

fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Opens `n` idle upgraded connections; returns bytes of server memory per connection.
async fn measure(n: usize) -> f64 {
    let server = ServerProcess::start(
        &[
            "--join-timeout",
            "10m",
            "--handshake-timeout",
            "60s",
            "--max-connections",
            "20000",
        ],
        &[],
    )
    .await;
    let pid = server.pid();
    // Warm up: the first connections allocate the runtime's and allocator's working sets.
    let mut held = Vec::with_capacity(n + 100);
    for i in 0..100 {
        held.push(open(&server, i).await);
    }
    let before = rss_kb(pid);
    let start = Instant::now();
    // In batches, concurrently, bounded in time.
    let batch = 200;
    for chunk_start in (100..n + 100).step_by(batch) {
        let end = (chunk_start + batch).min(n + 100);
        let addr = server.addr;
        let tasks: Vec<_> = (chunk_start..end)
            .map(|i| tokio::spawn(async move { open_at(addr, i).await }))
            .collect();
        for t in tasks {
            held.push(t.await.expect("connect task"));
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "opening {n} connections took too long"
        );
    }
    // Let the server settle on every connection, then measure.
    let open = held.len();
    let mut probe = Raw::connect(server.addr).await.expect("probe");
    probe
        .send(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("metrics");
    let reply = probe
        .read_http_response(Duration::from_secs(30))
        .await
        .expect("metrics reply");
    let metric = reply
        .text
        .lines()
        .find_map(|l| l.strip_prefix("tickwire_connections_open "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    let after = rss_kb(pid);
    let per_conn = (after.saturating_sub(before) as f64 * 1024.0) / n as f64;
    println!(
        "idle connections: {open} open (server counts {metric}), RSS {before} kB -> {after} kB, \
         {per_conn:.0} bytes per connection, opened in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    assert!(
        metric >= open as f64,
        "every connection is upgraded and held"
    );
    drop(held);
    per_conn
}

async fn open(server: &ServerProcess, i: usize) -> Raw {
    open_at(server.addr, i).await
}

/// Connection `i` comes from 127.0.(i/200 % 250 + 1).(i%200 + 2): at most 200 per address.
async fn open_at(addr: std::net::SocketAddr, i: usize) -> Raw {
    let b = (i / 200 % 250 + 1) as u8;
    let c = (i % 200 + 2) as u8;
    let source = IpAddr::V4(Ipv4Addr::new(127, 0, b, c));
    let mut raw = Raw::connect_from(addr, source).await.expect("connect");
    raw.upgrade().await;
    raw
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_cost_little_memory() {
    let per_conn = measure(500).await;
    // Generous for a small, noisy sample in a debug build; the release figure is reported
    // by `cargo xtask bench-idle`.
    assert!(
        per_conn < 64.0 * 1024.0,
        "{per_conn:.0} bytes per idle connection"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: cargo xtask bench-idle --n 10000"]
async fn bench_idle_connections() {
    let n: usize = std::env::var("TICKWIRE_IDLE_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let per_conn = measure(n).await;
    println!("RESULT idle_bytes_per_connection={per_conn:.0} n={n} target<=10240");
}
