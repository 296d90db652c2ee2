//! Scale-out on Redis, on real processes: a redis-server of the test's own (free loopback
//! port, no persistence) and three real `tickwire-server` nodes sharing it (`--redis`).
//! Bots matchmaking through one node land on every node and play; the last seats of a room
//! go to exactly as many of many concurrent requests, whichever nodes they ask; a node's
//! seat tokens are refused elsewhere; a killed node's rooms leave every listing and its
//! bots play again elsewhere; a drained node takes nothing new, then closes with 1001;
//! Redis stopped: the rooms play on and the rooms API answers 503 with a reason; Redis
//! back: the nodes register their rooms again and matchmaking works.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::redis::RedisProcess;
use common::{ServerProcess, LIMIT};
use serde_json::Value;
use tickwire_bots::seats::JoinPlan;
use tickwire_bots::swarm::{self, SwarmConfig};
use tickwire_bots::{BotConnection, BotError, DecodeMode, Driver};
use tickwire_shared::protocol::{DisconnectReason, ResumeRefusal, SeatRefusal};
use tickwire_tests::{http_get, http_post, reserve, wait_for};
use tokio_util::sync::CancellationToken;

const SECRET: &str = "cluster-test-secret";

/// A node of the cluster: `id`, sharing `redis`, with `extra` flags.
async fn node(redis: &RedisProcess, id: &str, extra: &[&str]) -> ServerProcess {
    let url = redis.url();
    let mut args = vec!["--redis", &url, "--secret", SECRET, "--node-id", id];
    args.extend_from_slice(extra);
    let node = ServerProcess::start(&args, &[]).await;
    // It prints its address before it joins the directory.
    node.wait_log("node registered in the Redis directory", LIMIT)
        .await;
    node
}

/// Three nodes a, b, c.
async fn three(redis: &RedisProcess) -> Vec<ServerProcess> {
    vec![
        node(redis, "a", &[]).await,
        node(redis, "b", &[]).await,
        node(redis, "c", &[]).await,
    ]
}

async fn json(s: &ServerProcess, path: &str) -> (u16, Value) {
    let (status, body) = http_get(s.addr, path).await.expect("GET");
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// `GET /rooms` on `s`: `(room, node, players, seats_taken)` for each room.
async fn rooms(s: &ServerProcess) -> Vec<(String, String, u64, u64)> {
    let (status, v) = json(s, "/rooms").await;
    if status != 200 {
        return Vec::new();
    }
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|r| {
                    (
                        r["room"].as_str().unwrap_or_default().to_owned(),
                        r["node"].as_str().unwrap_or_default().to_owned(),
                        r["players"].as_u64().unwrap_or(0),
                        r["seats_taken"].as_u64().unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Players per node, as `GET /rooms` on `s` reports them.
async fn players_by_node(s: &ServerProcess) -> BTreeMap<String, u64> {
    let mut by = BTreeMap::new();
    for (_, node, players, _) in rooms(s).await {
        *by.entry(node).or_default() += players;
    }
    by
}

fn swarm_config(via: &ServerProcess, bots: usize, duration: Duration) -> SwarmConfig {
    let mut c = SwarmConfig::new(format!("ws://{}/ws", via.addr), bots, duration);
    c.plan = JoinPlan::Mode("arena".into());
    c.ramp_per_s = 100.0;
    // A tenth decode every snapshot and check their replica; the rest read headers.
    c.probes = Some(bots.div_ceil(10));
    c
}

/// How many bots the machine can take: `TICKWIRE_CLUSTER_BOTS`, default 300.
fn bot_count() -> usize {
    std::env::var("TICKWIRE_CLUSTER_BOTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bots_matchmaking_through_one_node_land_on_every_node_and_play() {
    let redis = RedisProcess::start().await;
    let nodes = three(&redis).await;
    let bots = bot_count();
    // Played until every check below is done (bounded: the swarm's own limit, 600 s).
    let stop = CancellationToken::new();
    let run = tokio::spawn(swarm::run_until(
        swarm_config(&nodes[0], bots, Duration::from_secs(600)),
        stop.clone(),
    ));
    // Every bot seated, on all three nodes, as every node sees it.
    wait_for(
        "every bot playing, on all three nodes",
        LIMIT * 2,
        || async {
            let by = players_by_node(&nodes[2]).await;
            by.len() == 3 && by.values().sum::<u64>() == bots as u64
        },
    )
    .await;
    let lists: Vec<BTreeSet<String>> = {
        let mut l = Vec::new();
        for n in &nodes {
            l.push(rooms(n).await.into_iter().map(|r| r.0).collect());
        }
        l
    };
    assert!(
        lists.windows(2).all(|w| w[0] == w[1]),
        "every node lists the same rooms: {lists:?}"
    );
    // They play: two seconds of ticks in every room, as its node reports them.
    let ticks = |s: &ServerProcess| {
        let addr = s.addr;
        async move {
            let (_, v) = {
                let (status, body) = http_get(addr, "/rooms").await.expect("GET");
                (
                    status,
                    serde_json::from_str::<Value>(&body).unwrap_or(Value::Null),
                )
            };
            v.as_array()
                .map(|a| {
                    a.iter()
                        .map(|r| r["ticks"].as_u64().unwrap_or(0))
                        .min()
                        .unwrap_or(0)
                })
                .unwrap_or(0)
        }
    };
    let start = ticks(&nodes[1]).await;
    wait_for("every room ticks on", LIMIT, || async {
        ticks(&nodes[1]).await >= start + 60
    })
    .await;
    stop.cancel();
    let report = run.await.expect("swarm task").expect("swarm runs");
    assert_eq!(report.joined, bots as u64, "{:?}", report.failures);
    assert_eq!(report.desyncs, 0);
    assert_eq!(report.errors, 0, "{:?}", report.failures);
    assert_eq!(report.disconnects, 0, "{:?}", report.failures);
    assert!(report.snapshots_per_client_per_s > 0.0, "snapshots flow");
    // Rooms of 16 filled before new ones: no half-empty burst of rooms.
    assert_eq!(
        report.rooms_joined,
        bots.div_ceil(16),
        "{:?}",
        report.bots_per_room
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_eight_seats_go_to_exactly_eight_of_64_requests_over_three_nodes() {
    let redis = RedisProcess::start().await;
    let nodes = three(&redis).await;
    let first = reserve(nodes[1].addr, "/rooms", r#"{"mode":"arena"}"#).await;
    let code = first.room.clone();
    let path = format!("/rooms/{code}/seat");
    for i in 0..7 {
        reserve(nodes[i % 3].addr, &path, "").await;
    }
    // 16 seats, 8 taken: 64 requests at once, spread over the three nodes.
    let asks: Vec<_> = (0..64)
        .map(|i| {
            let addr = nodes[i % 3].addr;
            let path = path.clone();
            tokio::spawn(async move { http_post(addr, &path, "").await.expect("POST") })
        })
        .collect();
    let mut granted = Vec::new();
    let mut full = 0;
    for a in asks {
        let (status, body) = a.await.expect("task");
        match status {
            200 => granted.push(serde_json::from_str::<Value>(&body).expect("JSON")),
            409 => {
                assert!(body.contains("room_full"), "{body}");
                full += 1;
            }
            s => panic!("unexpected {s}: {body}"),
        }
    }
    assert_eq!(granted.len(), 8, "exactly the free seats");
    assert_eq!(full, 56);
    for n in &nodes {
        let (_, info) = json(n, &format!("/rooms/{code}")).await;
        assert_eq!(info["seats_taken"], 16, "{info}");
        assert_eq!(info["max"], 16);
    }
    // Every reservation points at the owning node; another node refuses its token.
    let owner = json(&nodes[0], &format!("/rooms/{code}")).await.1["node"]
        .as_str()
        .expect("node")
        .to_owned();
    let owner_at = ["a", "b", "c"]
        .iter()
        .position(|n| *n == owner)
        .expect("a, b or c");
    let seat = granted[0]["seat"].as_str().expect("seat");
    let url = granted[0]["url"].as_str().expect("url");
    assert_eq!(
        url,
        format!("ws://{}/ws?room={code}", nodes[owner_at].addr),
        "the owner's public URL"
    );
    let elsewhere = format!("ws://{}/ws?room={code}", nodes[(owner_at + 1) % 3].addr);
    match BotConnection::connect_with_seat(&elsewhere, "x", seat, DecodeMode::Full).await {
        Err(BotError::Disconnected(Some(d), Some((code, _)))) => {
            assert_eq!(d.reason, DisconnectReason::Seat(SeatRefusal::RoomGone));
            assert_eq!(code, 1008);
        }
        Err(e) => panic!("expected a refusal with a reason, got {e}"),
        Ok(_) => panic!("a node seated a player in a room it does not host"),
    }
    let conn = BotConnection::connect_with_seat(url, "owner", seat, DecodeMode::Full)
        .await
        .expect("the owner seats the token");
    assert_eq!(conn.welcome.room, code);
    // Its resume token, too, is refused by a node that does not host the room.
    match conn.detached().resume(&elsewhere).await {
        Err(BotError::Disconnected(Some(d), _)) => {
            assert_eq!(d.reason, DisconnectReason::Resume(ResumeRefusal::RoomGone));
        }
        other => panic!("a resume at another node: {:?}", other.map(|_| ())),
    }
    let d = Driver::spawn(conn);
    wait_for("snapshots", LIMIT, || async {
        d.view(|v| v.snapshots >= 3)
    })
    .await;
    // Used once: a second join with it is refused, on the owner too.
    match BotConnection::connect_with_seat(url, "again", seat, DecodeMode::Full).await {
        Err(BotError::Disconnected(Some(d), _)) => {
            assert_eq!(d.reason, DisconnectReason::Seat(SeatRefusal::Used));
        }
        other => panic!("a used seat: {:?}", other.map(|_| ())),
    }
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_does_not_answer_a_room_request_is_a_503_with_the_reason() {
    let redis = RedisProcess::start().await;
    let a = node(&redis, "a", &[]).await;
    let b = node(&redis, "b", &[]).await;
    // A room on a: b is now the least loaded.
    let _first = reserve(a.addr, "/rooms", r#"{"mode":"arena"}"#).await;
    // b stops answering (SIGSTOP): it stays in the directory until its record expires.
    b.signal("STOP");
    let (status, body) = http_post(a.addr, "/rooms", r#"{"mode":"arena"}"#)
        .await
        .expect("POST");
    b.signal("CONT");
    assert_eq!(status, 503, "{body}");
    let v: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(v["reason_code"], "no_node", "{body}");
    assert!(
        v["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("did not answer"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_leaves_every_listing_and_its_bots_play_again_elsewhere() {
    let redis = RedisProcess::start().await;
    let mut nodes = three(&redis).await;
    let bots = 48;
    let stop = CancellationToken::new();
    let run = tokio::spawn(swarm::run_until(
        swarm_config(&nodes[0], bots, Duration::from_secs(600)),
        stop.clone(),
    ));
    wait_for("bots on all three nodes", LIMIT * 2, || async {
        let by = players_by_node(&nodes[0]).await;
        by.len() == 3 && by.values().sum::<u64>() == bots as u64
    })
    .await;
    let on_b = players_by_node(&nodes[0]).await["b"];
    assert!(on_b > 0);
    // kill -9, by PID.
    nodes[1].child.kill().expect("kill node b");
    let _ = nodes[1].child.wait();
    let killed = tokio::time::Instant::now();
    wait_for(
        "node b's rooms gone everywhere, every bot playing on a or c",
        LIMIT,
        || async {
            let mut ok = true;
            for n in [&nodes[0], &nodes[2]] {
                let by = players_by_node(n).await;
                ok &= !by.contains_key("b") && by.values().sum::<u64>() == bots as u64;
            }
            ok
        },
    )
    .await;
    println!(
        "rebalanced {:.1} s after the kill ({on_b} bots were on node b)",
        killed.elapsed().as_secs_f64()
    );
    stop.cancel();
    let report = run.await.expect("swarm task").expect("swarm runs");
    assert_eq!(report.joined, bots as u64);
    assert!(
        report.rejoins >= on_b,
        "every bot of node b found a seat again: {} rejoins, {on_b} on b",
        report.rejoins
    );
    assert_eq!(report.desyncs, 0);
    assert_eq!(report.disconnects, 0, "{:?}", report.failures);
    assert_eq!(report.connected_at_end, bots as i64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_node_takes_nothing_new_then_closes_with_1001() {
    let redis = RedisProcess::start().await;
    let a = node(&redis, "a", &[]).await;
    let mut c = node(&redis, "c", &["--drain-timeout", "4s"]).await;
    // Quick play at c: a room of c's own.
    let conn = BotConnection::connect(&format!("ws://{}/ws", c.addr), "stayer", DecodeMode::Full)
        .await
        .expect("quick play on c");
    let room = conn.welcome.room.clone();
    let player = Driver::spawn(conn);
    wait_for("c's room listed", LIMIT, || async {
        rooms(&a).await.iter().any(|r| r.0 == room && r.1 == "c")
    })
    .await;
    c.signal("TERM");
    c.wait_log("draining", LIMIT).await;
    // Nothing new on c: new rooms go to a, even when c is asked; c's room takes no seat.
    wait_for("c marked draining in the directory", LIMIT, || async {
        http_post(a.addr, &format!("/rooms/{room}/seat"), "")
            .await
            .is_ok_and(|(s, b)| s == 503 && b.contains("draining"))
    })
    .await;
    for via in [&a, &c] {
        let seat = reserve(via.addr, "/rooms", r#"{"mode":"arena"}"#).await;
        assert!(
            seat.url.contains(&a.addr.to_string()),
            "a new room goes to a: {}",
            seat.url
        );
    }
    match BotConnection::connect(&format!("ws://{}/ws", c.addr), "late", DecodeMode::Full).await {
        Err(BotError::Disconnected(Some(d), Some((code, _)))) => {
            assert_eq!(code, 1013, "{d:?}");
        }
        other => panic!("quick play on a draining node: {:?}", other.map(|_| ())),
    }
    // The room plays on until the drain time is up, then 1001.
    let before = player.view(|v| v.snapshots);
    wait_for("the drained room keeps ticking", LIMIT, || async {
        player.view(|v| v.snapshots) >= before + 30
    })
    .await;
    wait_for("1001 at the end of the drain", LIMIT, || async {
        player.view(|v| v.ended.is_some())
    })
    .await;
    let ended = player.view(|v| v.ended.clone()).expect("ended");
    assert_eq!(ended.close.as_ref().map(|c| c.0), Some(1001), "{ended:?}");
    let status = c.wait_exit(LIMIT).await;
    assert!(status.success(), "{status:?}\n{}", c.log());

    // It left the directory: its room is gone from the listing.
    assert!(!rooms(&a).await.iter().any(|r| r.1 == "c"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_node_exits_as_soon_as_its_players_have_left() {
    let redis = RedisProcess::start().await;
    // A drain time far beyond the test's bound: the exit comes from the room emptying.
    let mut c = node(&redis, "c", &["--drain-timeout", "120s"]).await;
    let conn = BotConnection::connect(&format!("ws://{}/ws", c.addr), "leaver", DecodeMode::Full)
        .await
        .expect("quick play on c");
    let player = Driver::spawn(conn);
    wait_for("snapshots", LIMIT, || async {
        player.view(|v| v.snapshots >= 3)
    })
    .await;
    c.signal("TERM");
    c.wait_log("draining", LIMIT).await;
    assert!(
        c.child.try_wait().expect("try_wait").is_none(),
        "still draining"
    );
    player.stop().await;
    let status = c.wait_exit(LIMIT).await;
    assert!(status.success(), "{status:?}\n{}", c.log());
    assert!(c.log().contains("drained seats=0"), "{}", c.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_rooms_play_on_and_matchmaking_says_why_then_recovers() {
    let mut redis = RedisProcess::start().await;
    let port = redis.port;
    let nodes = three(&redis).await;
    let mut players = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        let conn = BotConnection::connect(
            &format!("ws://{}/ws", n.addr),
            &format!("p{i}"),
            DecodeMode::Full,
        )
        .await
        .expect("quick play");
        players.push(Driver::spawn(conn));
    }
    let before: BTreeSet<String> = players
        .iter()
        .map(|p| p.view(|v| v.welcome.room.clone()))
        .collect();
    wait_for("three rooms listed", LIMIT, || async {
        rooms(&nodes[0]).await.len() == 3
    })
    .await;
    redis.stop();
    let (status, body) = http_post(nodes[0].addr, "/matchmake/arena", "")
        .await
        .expect("POST");
    assert_eq!(status, 503, "{body}");
    let v: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(v["reason_code"], "directory_unavailable", "{body}");
    assert!(!v["reason"].as_str().unwrap_or_default().is_empty());
    let (status, _) = http_get(nodes[1].addr, "/rooms").await.expect("GET");
    assert_eq!(status, 503);
    // The rooms do not wait for Redis.
    let counts: Vec<u64> = players.iter().map(|p| p.view(|v| v.snapshots)).collect();
    wait_for("every room keeps ticking", LIMIT, || async {
        players
            .iter()
            .zip(&counts)
            .all(|(p, c)| p.view(|v| v.snapshots >= c + 30 && v.ended.is_none()))
    })
    .await;
    let _redis = RedisProcess::start_on(port).await;
    wait_for("every room registered again", LIMIT, || async {
        let listed: BTreeSet<String> = rooms(&nodes[0]).await.into_iter().map(|r| r.0).collect();
        before.is_subset(&listed)
    })
    .await;
    let seat = reserve(nodes[0].addr, "/matchmake/arena", "").await;
    assert!(
        before.contains(&seat.room),
        "into an existing room: {}",
        seat.room
    );
    // Room creation on other nodes works again too (their subscriptions came back).
    let mut hosts = BTreeSet::new();
    for _ in 0..3 {
        let made = reserve(nodes[0].addr, "/rooms", r#"{"mode":"arena"}"#).await;
        hosts.insert(node_of(&nodes[0], &made.room).await);
    }
    assert!(
        hosts.iter().any(|h| h != "a"),
        "new rooms placed on other nodes through Redis: {hosts:?}"
    );
    for p in players {
        assert!(p.view(|v| v.ended.is_none()), "no player lost");
        p.stop().await;
    }
}

/// The page's `window.tickwire.state()`.
async fn page_state(page: &fantoccini::Client) -> Value {
    page.execute(
        "return window.tickwire ? window.tickwire.state() : null;",
        vec![],
    )
    .await
    .unwrap_or(Value::Null)
}

/// The node hosting `room`, as `via` lists it ("" when it is not listed).
async fn node_of(via: &ServerProcess, room: &str) -> String {
    if room.is_empty() {
        return String::new();
    }
    json(via, &format!("/rooms/{room}")).await.1["node"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_whose_node_is_killed_plays_again_on_another_node() {
    use tickwire_tests::browser;
    if browser::skipped() {
        return;
    }
    let client = common::root().join("target").join("client");
    assert!(
        client.join("tickwire_client_wasm_bg.wasm").exists(),
        "the browser client is missing: `cargo xtask client` (cargo xtask test does)"
    );
    let client = client.to_str().expect("utf-8 path").to_owned();
    let redis = RedisProcess::start().await;
    let a = node(&redis, "a", &["--client-dir", &client]).await;
    let mut b = node(&redis, "b", &["--client-dir", &client]).await;
    // a's only room is full: the page's matchmaking creates its room on b.
    let full = reserve(a.addr, "/rooms", r#"{"mode":"arena"}"#).await;
    for _ in 0..15 {
        reserve(a.addr, &format!("/rooms/{}/seat", full.room), "").await;
    }
    let driver = browser::start_chromedriver().expect("chromedriver");
    let profile =
        std::env::temp_dir().join(format!("tickwire-chrome-cluster-{}", std::process::id()));
    let page = browser::session(&driver, &profile, 1000, 700)
        .await
        .expect("browser session");
    page.goto(&format!("http://{}/?name=wanderer&mode=arena", a.addr))
        .await
        .expect("open the page on node a");
    wait_for("the page plays in a room on node b", LIMIT, || async {
        let s = page_state(&page).await;
        let room = s["room"].as_str().unwrap_or_default().to_owned();
        s["connection"] == "connected" && !room.is_empty() && node_of(&a, &room).await == "b"
    })
    .await;
    let first = page_state(&page).await["room"]
        .as_str()
        .expect("room")
        .to_owned();
    // kill -9 node b, by PID: the page's resumes cannot connect; it matchmakes again.
    b.child.kill().expect("kill node b");
    let _ = b.child.wait();
    wait_for(
        "the page plays again, in a room on node a",
        LIMIT,
        || async {
            let s = page_state(&page).await;
            let room = s["room"].as_str().unwrap_or_default().to_owned();
            s["connection"] == "connected" && room != first && node_of(&a, &room).await == "a"
        },
    )
    .await;
    assert!(
        !rooms(&a).await.iter().any(|r| r.1 == "b"),
        "node b's rooms are gone from the listing"
    );
    let _ = page.close().await;
    let _ = std::fs::remove_dir_all(&profile);
}
