//! The HTTP side of the port: static files, health, and metrics that move.

use std::time::Duration;

use tickwire_bots::{BotConnection, DecodeMode, Driver};
use tickwire_shared::Controls;
use tickwire_tests::{http_get, metric, wait_for, TestServer};

const LIMIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_health_static_files_and_refuses_escapes() {
    let server = TestServer::start().await;
    let (status, body) = http_get(server.addr, "/healthz").await.unwrap();
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (status, body) = http_get(server.addr, "/maps/arena.json").await.unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("\"spawns\""));
    assert_eq!(
        http_get(server.addr, "/../Cargo.toml").await.unwrap().0,
        404
    );
    assert_eq!(http_get(server.addr, "/nope.txt").await.unwrap().0, 404);
    // /ws without an upgrade is not upgraded.
    assert_eq!(http_get(server.addr, "/ws").await.unwrap().0, 400);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_with_play() {
    let server = TestServer::start().await;
    let scrape = || async { http_get(server.addr, "/metrics").await.unwrap().1 };
    let before = scrape().await;
    assert_eq!(metric(&before, "tickwire_players_connected"), Some(0.0));
    let out_before = metric(&before, "tickwire_bytes_out_total").unwrap();

    let a = Driver::spawn(
        BotConnection::connect(&server.ws_url(), "a", DecodeMode::Full)
            .await
            .unwrap(),
    );
    let b = Driver::spawn(
        BotConnection::connect(&server.ws_url(), "b", DecodeMode::Full)
            .await
            .unwrap(),
    );
    a.set(Controls {
        move_x: 1.0,
        ..Controls::default()
    });
    wait_for("metrics show two players and traffic", LIMIT, || async {
        let m = scrape().await;
        metric(&m, "tickwire_players_connected") == Some(2.0)
            && metric(&m, "tickwire_bytes_out_total").unwrap() > out_before
            && metric(&m, "tickwire_bytes_in_total").unwrap() > 0.0
            && metric(&m, "tickwire_messages_in_total").unwrap() > 10.0
            && metric(&m, "tickwire_tick_duration_seconds_count").unwrap() > 10.0
    })
    .await;
    a.stop().await;
    b.stop().await;
    wait_for("players leave", LIMIT, || async {
        metric(&scrape().await, "tickwire_players_connected") == Some(0.0)
    })
    .await;
    let (status, stats) = http_get(server.addr, "/stats").await.unwrap();
    assert_eq!(status, 200);
    for key in [
        "\"tick_work_ms\"",
        "\"recv_ms\"",
        "\"send_ms\"",
        "\"tick_interval_ms\"",
    ] {
        assert!(stats.contains(key), "{key} in {stats}");
    }
    server.shutdown().await.unwrap();
}
