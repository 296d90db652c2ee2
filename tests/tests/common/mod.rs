//! Shared by the hostile-client tests: servers with tightened limits, a well-behaved
//! witness whose snapshot cadence must not suffer, and the "still serves a new client" check.

#![allow(dead_code)] // each test file uses its own subset

use std::net::SocketAddr;
use std::time::Duration;

use tickwire_bots::{BotConnection, DecodeMode, Driver};
use tickwire_tests::{http_get, metric, test_config, wait_for, Config, TestServer};

/// Bound of every wait in these tests (generous: CI machines are slow and shared).
pub const LIMIT: Duration = Duration::from_secs(20);

/// A server with `f` applied to the test configuration.
pub async fn server_with(f: impl FnOnce(&mut Config)) -> TestServer {
    let mut c = test_config();
    f(&mut c);
    TestServer::start_with(c).await
}

/// A metric's value, scraped over HTTP.
pub async fn scrape(addr: SocketAddr, name: &str) -> f64 {
    let (_, body) = http_get(addr, "/metrics").await.expect("metrics");
    metric(&body, name).unwrap_or(0.0)
}

/// Asserts the server still takes a new player: joins, receives a snapshot, leaves.
pub async fn assert_serves_new_client(server: &TestServer) {
    let conn = BotConnection::connect(&server.ws_url(), "newcomer", DecodeMode::Full)
        .await
        .expect("a new client can still join");
    let d = Driver::spawn(conn);
    wait_for("the newcomer receives snapshots", LIMIT, || async {
        d.view(|v| v.snapshots >= 2)
    })
    .await;
    let v = d.stop().await;
    assert!(
        !v.ended.is_some_and(|e| e.desync),
        "newcomer stayed in sync"
    );
}

/// A well-behaved player connected while something hostile happens: afterwards it must have
/// received a snapshot for (nearly) every tick the room ran meanwhile, in sync.
pub struct Witness {
    driver: Driver,
    start_tick: u32,
    start_snapshots: u64,
}

impl Witness {
    /// Joins and waits until snapshots flow.
    pub async fn join(server: &TestServer) -> Witness {
        let conn = BotConnection::connect(&server.ws_url(), "witness", DecodeMode::Full)
            .await
            .expect("witness joins");
        let driver = Driver::spawn(conn);
        wait_for("the witness receives snapshots", LIMIT, || async {
            driver.view(|v| v.snapshots >= 3)
        })
        .await;
        let (start_tick, start_snapshots) =
            driver.view(|v| (v.tick.map_or(0, |t| t.0), v.snapshots));
        Witness {
            driver,
            start_tick,
            start_snapshots,
        }
    }

    /// Asserts that since `join` the witness got a snapshot for every tick but at most a
    /// few (measured in ticks, not wall-clock time), that `min_ticks` ticks at least went by,
    /// and that it is still connected and in sync.
    pub async fn assert_on_cadence(self, min_ticks: u32) {
        let target = self.start_tick.wrapping_add(min_ticks);
        wait_for("the witness sees the room tick on", LIMIT, || async {
            self.driver
                .view(|v| v.tick.is_some_and(|t| t.0 >= target) || v.ended.is_some())
        })
        .await;
        let (tick, snapshots, ended) = self.driver.view(|v| {
            (
                v.tick.map_or(0, |t| t.0),
                v.snapshots,
                v.ended.as_ref().map(|e| e.error.clone()),
            )
        });
        assert_eq!(ended, None, "the witness was not disconnected");
        let ticks = u64::from(tick.wrapping_sub(self.start_tick));
        let got = snapshots - self.start_snapshots;
        // One snapshot per tick; a skipped one would mean the room treated the witness as
        // slow. Allow two for the edges of the window.
        assert!(
            got + 2 >= ticks,
            "witness received {got} snapshots over {ticks} ticks: snapshots were skipped"
        );
        let v = self.driver.stop().await;
        assert!(
            !v.ended.is_some_and(|e| e.desync),
            "the witness stayed in sync"
        );
    }
}
