//! The bot swarm as a library ([`tickwire_bots::swarm::run`]) against a real server on
//! 127.0.0.1 port 0: what the `tickwire-bots` binary runs, checked through its report.

use std::time::Duration;

use tickwire_bots::brain::Behavior;
use tickwire_bots::link::LinkConfig;
use tickwire_bots::seats::JoinPlan;
use tickwire_bots::swarm::{self, SwarmConfig};
use tickwire_tests::{http_get, reserve, wait_for, TestServer};

/// Bound of every wait in these tests.
const LIMIT: Duration = Duration::from_secs(20);

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
        ..LinkConfig::default()
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

/// `GET /rooms?mode=MODE` as `(code, players)`, the fullest first.
async fn rooms_of(server: &TestServer, mode: &str) -> Vec<(String, u64)> {
    let (status, body) = http_get(server.addr, &format!("/rooms?mode={mode}"))
        .await
        .expect("GET /rooms");
    assert_eq!(status, 200, "{body}");
    let list: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    list.as_array()
        .expect("a list")
        .iter()
        .map(|r| {
            (
                r["room"].as_str().expect("code").to_owned(),
                r["players"].as_u64().expect("players"),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_by_per_room_fills_each_room_through_the_rooms_api() {
    let server = TestServer::start().await;
    let mut config = SwarmConfig::new(server.ws_url(), 12, Duration::from_secs(2));
    config.plan = JoinPlan::Rooms {
        mode: Some("arena".into()),
        rooms: 3,
        per_room: 4,
    };
    let swarm = tokio::spawn(swarm::run(config));
    wait_for("3 rooms of 4 players in GET /rooms", LIMIT, || async {
        rooms_of(&server, "arena")
            .await
            .iter()
            .map(|r| r.1)
            .collect::<Vec<_>>()
            == [4, 4, 4]
    })
    .await;
    let listed: Vec<String> = rooms_of(&server, "arena")
        .await
        .into_iter()
        .map(|r| r.0)
        .collect();
    let r = swarm.await.expect("swarm task").expect("valid config");
    assert_eq!((r.joined, r.errors, r.desyncs), (12, 0, 0), "{}", r.table());
    assert_eq!(r.rooms_joined, 3, "{}", r.table());
    assert!(
        r.bots_per_room.values().all(|n| *n == 4),
        "{:?}",
        r.bots_per_room
    );
    let mut reported: Vec<String> = r.bots_per_room.keys().cloned().collect();
    let mut listed = listed;
    reported.sort();
    listed.sort();
    assert_eq!(reported, listed);
    // One creation per room, one seat per other bot: every request answered and timed.
    assert_eq!((r.matchmake_ms.samples, r.matchmake_errors), (12, 0));
    assert!(r.matchmake_ms.p50 <= r.matchmake_ms.p99);
    let json: serde_json::Value = serde_json::from_str(&r.to_json()).expect("JSON report");
    assert_eq!(json["rooms_joined"], 3);
    assert_eq!(json["join"]["rooms"]["per_room"], 4);
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_code_lands_every_bot_in_that_room() {
    let server = TestServer::start().await;
    let seat = reserve(server.addr, "/rooms", r#"{"mode": "arena"}"#).await;
    let mut config = SwarmConfig::new(server.ws_url(), 5, Duration::from_secs(1));
    config.plan = JoinPlan::Room(seat.room.clone());
    let swarm = tokio::spawn(swarm::run(config));
    wait_for("5 players in the room", LIMIT, || async {
        let (_, body) = http_get(server.addr, &format!("/rooms/{}", seat.room))
            .await
            .expect("GET /rooms/CODE");
        serde_json::from_str::<serde_json::Value>(&body).expect("JSON")["players"] == 5
    })
    .await;
    let r = swarm.await.expect("swarm task").expect("valid config");
    assert_eq!((r.joined, r.errors), (5, 0), "{}", r.table());
    assert_eq!(
        r.bots_per_room.into_iter().collect::<Vec<_>>(),
        vec![(seat.room.clone(), 5)]
    );
    assert_eq!(rooms_of(&server, "arena").await.len(), 1);
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mode_matchmakes_into_the_fullest_room_then_a_new_one() {
    let server = TestServer::start().await;
    // The arena mode seats 16: 20 bots make one full room and one of 4.
    let mut config = SwarmConfig::new(server.ws_url(), 20, Duration::from_secs(1));
    config.plan = JoinPlan::Mode("arena".into());
    let r = swarm::run(config).await.expect("valid config");
    assert_eq!((r.joined, r.errors), (20, 0), "{}", r.table());
    let mut sizes: Vec<u64> = r.bots_per_room.values().copied().collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [4, 16], "{}", r.table());
    assert_eq!(r.matchmake_ms.samples, 20);
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_mode_is_a_matchmaking_error_for_every_bot() {
    let server = TestServer::start().await;
    let mut config = SwarmConfig::new(server.ws_url(), 3, Duration::from_millis(200));
    config.plan = JoinPlan::Mode("no-such-mode".into());
    let r = swarm::run(config).await.expect("valid config");
    assert_eq!(
        (r.joined, r.matchmake_errors, r.errors),
        (0, 3, 3),
        "{}",
        r.table()
    );
    assert_eq!(
        r.failures.keys().collect::<Vec<_>>(),
        ["seat refused: HTTP 404"],
        "{}",
        r.table()
    );
    assert_eq!(r.failures["seat refused: HTTP 404"].count, 3);
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_every_cuts_and_resumes_every_bot_with_a_delta() {
    let server = TestServer::start().await;
    // Probes and load bots both: the resume path of each is taken.
    let mut config = SwarmConfig::new(server.ws_url(), 8, Duration::from_secs(4));
    config.probes = Some(3);
    config.drop_every = Some(Duration::from_secs(1));
    let r = swarm::run(config).await.expect("valid config");
    let t = r.table();
    assert_eq!(r.joined, 8, "{t}");
    assert_eq!((r.desyncs, r.errors, r.disconnects), (0, 0, 0), "{t}");
    let drops = &r.resumes.resume_by_kind["drop"];
    assert!(r.resumes.resumes > 0, "{t}");
    assert!(r.resumes.resume_failures.is_empty(), "{t}");
    // Every cut resumed (the run may stop during the last few), every one with a delta.
    assert!(
        drops.cuts >= drops.resumes && drops.cuts <= drops.resumes + 8,
        "{t}"
    );
    assert_eq!(r.resumes.resume_full_snapshots, 0, "{t}");
    assert!(r.resumes.resume_ms.p50 <= r.resumes.resume_ms.p99, "{t}");
    plausible(r.resumes.resume_ms.p99, "resume p99");
    let json: serde_json::Value = serde_json::from_str(&r.to_json()).expect("JSON report");
    assert_eq!(json["resumes"], r.resumes.resumes);
    assert_eq!(json["resume_full_snapshots"], 0);
    assert!(json["resume_ms"]["p99"].as_f64().is_some());
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_every_resumes_from_a_full_state() {
    let server = TestServer::start().await;
    let mut config = SwarmConfig::new(server.ws_url(), 4, Duration::from_secs(3));
    config.reload_every = Some(Duration::from_secs(1));
    let r = swarm::run(config).await.expect("valid config");
    let t = r.table();
    assert_eq!(
        (r.joined, r.desyncs, r.errors, r.disconnects),
        (4, 0, 0, 0),
        "{t}"
    );
    let reloads = &r.resumes.resume_by_kind["reload"];
    assert!(reloads.resumes > 0, "{t}");
    // A reloaded page holds no state: every resume gets a full state.
    assert_eq!(reloads.full_snapshots, reloads.resumes, "{t}");
    assert!(r.resumes.resume_failures.is_empty(), "{t}");
    server.shutdown().await.expect("clean shutdown");
}
