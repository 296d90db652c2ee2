//! The bot swarm as a library ([`tickwire_bots::swarm::run`]) against a real server on
//! 127.0.0.1 port 0: what the `tickwire-bots` binary runs, checked through its report.

use std::time::Duration;

use tickwire_bots::brain::Behavior;
use tickwire_bots::link::LinkConfig;
use tickwire_bots::swarm::{self, SwarmConfig};
use tickwire_tests::TestServer;

fn plausible(v: Option<f64>, what: &str) -> f64 {
    let v = v.unwrap_or_else(|| panic!("{what} missing"));
    assert!(v.is_finite() && v > 0.0 && v < 5_000.0, "{what} = {v}");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_bots_all_join_without_errors_or_desyncs() {
    let server = TestServer::start().await;
    let mut config = SwarmConfig::new(server.ws_url(), 20, Duration::from_secs(3));
    config.behavior = Behavior::Chase;
    let r = swarm::run(config).await.expect("valid config");
    assert_eq!(r.joined, 20, "{}", r.table());
    assert_eq!(
        (r.errors, r.desyncs, r.disconnects),
        (0, 0, 0),
        "{}",
        r.table()
    );
    assert_eq!(r.tick_hz, 30);
    for (v, what) in [
        (r.rtt_ms.p50, "p50"),
        (r.rtt_ms.p90, "p90"),
        (r.rtt_ms.p99, "p99"),
        (r.rtt_ms.max, "max"),
    ] {
        plausible(v, what);
    }
    assert!(r.rtt_ms.p50 <= r.rtt_ms.p99);
    assert!(r.bytes_down_per_client_per_s > 0.0 && r.bytes_down_per_client_per_s < 1e7);
    assert!(r.bytes_up_per_client_per_s > 0.0 && r.bytes_up_per_client_per_s < 1e5);
    assert!(r.snapshots_per_client_per_s > 0.0 && r.snapshots_per_client_per_s <= 60.0);
    assert!(r.inputs_per_bot_per_s > 0.0 && r.inputs_per_bot_per_s <= 60.0);
    assert!(r.client_seconds > 0.0);
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_bots_and_probes_send_the_same_traffic() {
    let server = TestServer::start().await;
    let mut config = SwarmConfig::new(server.ws_url(), 12, Duration::from_secs(2));
    config.behavior = Behavior::Arena;
    config.probes = Some(2);
    let r = swarm::run(config).await.expect("valid config");
    assert_eq!(r.joined, 12, "{}", r.table());
    assert_eq!(
        (r.errors, r.desyncs, r.disconnects),
        (0, 0, 0),
        "{}",
        r.table()
    );
    plausible(r.rtt_ms.p50, "p50");
    assert!(r.inputs_per_bot_per_s > 0.0 && r.snapshots_per_client_per_s > 0.0);
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_link_conditioner_adds_its_latency_to_every_round_trip() {
    let server = TestServer::start().await;
    let mut config = SwarmConfig::new(server.ws_url(), 4, Duration::from_secs(2));
    config.link = LinkConfig {
        latency: Duration::from_millis(40),
        jitter: Duration::from_millis(10),
        bandwidth_bps: Some(2_000_000),
    };
    let r = swarm::run(config).await.expect("valid config");
    assert_eq!(
        (r.joined, r.desyncs, r.disconnects),
        (4, 0, 0),
        "{}",
        r.table()
    );
    // By construction no round trip can beat twice the added one-way latency.
    let min_possible = 80.0;
    assert!(
        plausible(r.rtt_ms.p50, "p50") >= min_possible,
        "{}",
        r.table()
    );
    assert_eq!(r.params.latency_ms, 40);
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_remote_url_is_refused_before_anything_starts() {
    let config = SwarmConfig::new("ws://192.0.2.1:80/ws", 1, Duration::from_secs(1));
    assert!(swarm::run(config).await.is_err());
}
