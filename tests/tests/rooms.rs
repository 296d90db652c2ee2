//! Rooms through the doors players use (HTTP API and WebSocket on 127.0.0.1 port 0):
//! isolation, quick play overflow, disposal, every refusal of a seat token, concurrent
//! reservations of the last seats, and player identity from a JWT.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tickwire_bots::{BotConnection, BotError, DecodeMode, Driver};
use tickwire_server::Config;
use tickwire_shared::protocol::{DisconnectReason, SeatRefusal};
use tickwire_shared::NetEntity;
use tickwire_tests::{
    http_get, http_post, http_request, metric, reserve, test_config, wait_for, TestServer,
};

const LIMIT: Duration = Duration::from_secs(10);

async fn seated(seat: &tickwire_tests::Seat, name: &str) -> Driver {
    let conn = BotConnection::connect_with_seat(&seat.url, name, &seat.token, DecodeMode::Full)
        .await
        .unwrap_or_else(|e| panic!("{name} joins {}: {e}", seat.room));
    assert_eq!(
        conn.welcome.room, seat.room,
        "{name}'s welcome names its room"
    );
    Driver::spawn(conn)
}

/// The names of the players a bot sees.
fn names(d: &Driver) -> BTreeSet<String> {
    d.view(|v| {
        v.state
            .iter()
            .filter_map(|(_, e)| match e {
                NetEntity::Player(p) => Some(p.name.to_string()),
                _ => None,
            })
            .collect()
    })
}

/// The refusal a join with `seat` at `url` gets: the reason and the close code.
async fn refusal(url: &str, seat: &str) -> (DisconnectReason, u16) {
    match BotConnection::connect_with_seat(url, "x", seat, DecodeMode::Full).await {
        Err(BotError::Disconnected(Some(d), Some((code, _)))) => (d.reason, code),
        Err(e) => panic!("expected a refusal with a reason, got {e}"),
        Ok(_) => panic!("expected a refusal, got a welcome"),
    }
}

async fn json(server: &TestServer, path: &str) -> (u16, Value) {
    let (status, body) = http_get(server.addr, path).await.expect("GET");
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// A modes file beside the workspace's maps, with `extra` appended to the arena mode.
fn modes_file(name: &str, arena_extra: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tickwire-rooms-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("modes.toml");
    std::fs::write(
        &path,
        format!(
            "default = \"arena\"\n[[mode]]\nname = \"arena\"\nmap = \"maps/arena.json\"\n\
             max_players = 4\n{arena_extra}\n"
        ),
    )
    .expect("write modes");
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_rooms_are_isolated() {
    let server = TestServer::start().await;
    let one = reserve(server.addr, "/rooms", r#"{"mode":"arena","private":true}"#).await;
    let two = reserve(server.addr, "/rooms", r#"{"mode":"arena","private":true}"#).await;
    assert_ne!(one.room, two.room);
    let a = seated(&one, "ann").await;
    let one_more = reserve(server.addr, &format!("/rooms/{}/seat", one.room), "").await;
    assert_eq!(one_more.room, one.room);
    let b = seated(&one_more, "bob").await;
    let c = seated(&two, "cid").await;
    let expect = |names: &[&str]| {
        names
            .iter()
            .map(|s| (*s).to_owned())
            .collect::<BTreeSet<_>>()
    };
    wait_for("each room sees its own players", LIMIT, || async {
        names(&a) == expect(&["ann", "bob"])
            && names(&b) == expect(&["ann", "bob"])
            && names(&c) == expect(&["cid"])
    })
    .await;
    // Many ticks later, still nobody from the other room.
    let later = c.view(|v| v.snapshots) + 60;
    wait_for("sixty more snapshots", LIMIT, || async {
        c.view(|v| v.snapshots) >= later
    })
    .await;
    assert_eq!(names(&c), expect(&["cid"]));
    assert_eq!(names(&a), expect(&["ann", "bob"]));
    let (_, info) = json(&server, &format!("/rooms/{}", one.room)).await;
    assert_eq!(info["players"], 2, "{info}");
    let (_, info) = json(&server, &format!("/rooms/{}", two.room)).await;
    assert_eq!(info["players"], 1, "{info}");
    // Private rooms are not listed.
    let (_, list) = json(&server, "/rooms").await;
    assert_eq!(list.as_array().map(Vec::len), Some(0), "{list}");
    for d in [a, b, c] {
        d.stop().await;
    }
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_room_sends_the_next_quick_play_to_a_new_room() {
    let server = TestServer::start_with(Config {
        max_players: Some(2),
        ..test_config()
    })
    .await;
    let mut rooms = Vec::new();
    let mut players = Vec::new();
    for name in ["p1", "p2", "p3"] {
        let conn = BotConnection::connect(&server.ws_url(), name, DecodeMode::Full)
            .await
            .expect("quick play");
        assert_eq!(conn.welcome.mode, "arena");
        rooms.push(conn.welcome.room.clone());
        players.push(conn);
    }
    assert_eq!(rooms[0], rooms[1], "the first room fills up");
    assert_ne!(rooms[2], rooms[0], "then a new room opens");
    let (_, list) = json(&server, "/rooms?mode=arena").await;
    let listed: HashMap<String, u64> = list
        .as_array()
        .expect("a list")
        .iter()
        .map(|r| {
            (
                r["room"].as_str().unwrap_or("").to_owned(),
                r["seats_taken"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(listed.get(&rooms[0]), Some(&2), "{list}");
    assert_eq!(listed.get(&rooms[2]), Some(&1), "{list}");
    for p in players {
        p.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_room_is_disposed_after_its_grace_and_an_unused_seat_expires() {
    let server = TestServer::start_with(Config {
        modes: Some(modes_file("dispose", "empty_ttl = \"300ms\"")),
        seat_ttl: Duration::from_millis(500),
        ..test_config()
    })
    .await;
    // A room whose player leaves.
    let seat = reserve(server.addr, "/rooms", r#"{"mode":"arena"}"#).await;
    let d = seated(&seat, "leaver").await;
    wait_for("the player is in", LIMIT, || async {
        d.view(|v| v.snapshots > 2)
    })
    .await;
    d.stop().await;
    // A room whose only seat is reserved and never used.
    let unused = reserve(server.addr, "/rooms", r#"{"mode":"arena"}"#).await;
    for room in [&seat.room, &unused.room] {
        wait_for("the room is disposed", LIMIT, || async {
            json(&server, &format!("/rooms/{room}")).await.0 == 404
        })
        .await;
    }
    let (_, text) = http_get(server.addr, "/metrics").await.expect("metrics");
    assert_eq!(metric(&text, "tickwire_rooms_created_total"), Some(2.0));
    assert_eq!(metric(&text, "tickwire_rooms_failed_total"), Some(0.0));
    wait_for("both counted as disposed", LIMIT, || async {
        let (_, text) = http_get(server.addr, "/metrics").await.expect("metrics");
        metric(&text, "tickwire_rooms_disposed_total") == Some(2.0)
    })
    .await;
    // The expired seat is refused as such.
    assert_eq!(
        refusal(&unused.url, &unused.token).await,
        (DisconnectReason::Seat(SeatRefusal::Expired), 1008)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_seat_token_is_refused_with_its_reason() {
    let server = TestServer::start_with(Config {
        seat_ttl: Duration::from_millis(300),
        ..test_config()
    })
    .await;
    let one = reserve(server.addr, "/rooms", r#"{"private":true}"#).await;
    let two = reserve(server.addr, "/rooms", r#"{"private":true}"#).await;
    let seat = |r: DisconnectReason| (r, 1008);
    // Missing: a room's URL with no seat.
    assert_eq!(
        refusal(&one.url, "").await.0,
        DisconnectReason::Seat(SeatRefusal::Invalid),
        "an empty token is not a token"
    );
    match BotConnection::connect(&one.url, "x", DecodeMode::Full).await {
        Err(BotError::Disconnected(Some(d), Some((code, _)))) => {
            assert_eq!(
                (d.reason, code),
                seat(DisconnectReason::Seat(SeatRefusal::Missing))
            );
        }
        other => panic!("expected a refusal: {:?}", other.map(|c| c.welcome)),
    }
    // Forged: the payload of one token with the signature of another.
    let forged = format!(
        "{}.{}",
        one.token.split_once('.').expect("two parts").0,
        two.token.split_once('.').expect("two parts").1
    );
    assert_eq!(
        refusal(&one.url, &forged).await,
        seat(DisconnectReason::Seat(SeatRefusal::Invalid))
    );
    // Another room's token.
    assert_eq!(
        refusal(&one.url, &two.token).await,
        seat(DisconnectReason::Seat(SeatRefusal::OtherRoom))
    );
    // Used twice.
    let first = seated(&one, "first").await;
    assert_eq!(
        refusal(&one.url, &one.token).await,
        seat(DisconnectReason::Seat(SeatRefusal::Used))
    );
    // Expired.
    let late = reserve(server.addr, &format!("/rooms/{}/seat", one.room), "").await;
    let reserved_at = std::time::Instant::now();
    wait_for("the seat expires", LIMIT, || async {
        reserved_at.elapsed() > Duration::from_millis(400)
    })
    .await;
    assert_eq!(
        refusal(&late.url, &late.token).await,
        seat(DisconnectReason::Seat(SeatRefusal::Expired))
    );
    // Unknown codes and full rooms over HTTP.
    let (status, _) = http_post(server.addr, "/rooms/ACDEFG/seat", "")
        .await
        .expect("POST");
    assert_eq!(status, 404);
    let (status, _) = http_post(server.addr, "/matchmake/no-such-mode", "")
        .await
        .expect("POST");
    assert_eq!(status, 404);
    // The player who used the seat plays on.
    let before = first.view(|v| v.snapshots);
    wait_for("first keeps playing", LIMIT, || async {
        first.view(|v| v.snapshots) > before + 10
    })
    .await;
    assert!(first.view(|v| v.ended.is_none()));
    first.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_never_overbook_a_room() {
    let server = TestServer::start_with(Config {
        modes: Some(modes_file("overbook", "")),
        ..test_config()
    })
    .await;
    // The last three seats of a room of four, asked for twenty times at once.
    let first = reserve(server.addr, "/rooms", r#"{"private":true}"#).await;
    let path = format!("/rooms/{}/seat", first.room);
    let asks = (0..20).map(|_| {
        let path = path.clone();
        let addr = server.addr;
        tokio::spawn(async move { http_post(addr, &path, "").await.expect("POST").0 })
    });
    let mut statuses = Vec::new();
    for a in asks {
        statuses.push(a.await.expect("task"));
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        17,
        "{statuses:?}"
    );
    // Forty matchmaking requests at once: rooms of four, none over.
    let asks = (0..40).map(|_| {
        let addr = server.addr;
        tokio::spawn(async move { http_post(addr, "/matchmake/arena", "").await.expect("POST") })
    });
    let mut per_room: HashMap<String, usize> = HashMap::new();
    for a in asks {
        let (status, body) = a.await.expect("task");
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).expect("JSON");
        *per_room
            .entry(v["room"].as_str().expect("room").to_owned())
            .or_default() += 1;
    }
    assert_eq!(per_room.values().sum::<usize>(), 40);
    assert!(per_room.values().all(|n| *n <= 4), "{per_room:?}");
    assert_eq!(
        per_room.len(),
        10,
        "rooms filled before new ones open: {per_room:?}"
    );
}

#[derive(serde::Serialize)]
struct Claims<'a> {
    sub: &'a str,
    name: &'a str,
    exp: u64,
}

fn jwt(secret: &str, name: &str, exp_in_s: i64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let exp = now.saturating_add_signed(exp_in_s);
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &Claims {
            sub: "user-42",
            name,
            exp,
        },
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("encode")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_jwt_key_matchmaking_needs_a_valid_token_and_names_come_from_it() {
    let secret = "backend-secret";
    let server = TestServer::start_with(Config {
        auth_jwt_key: Some(secret.to_owned()),
        ..test_config()
    })
    .await;
    let post = |auth: Option<String>| {
        let addr = server.addr;
        async move {
            let header = auth.map(|t| format!("Bearer {t}"));
            let headers: Vec<(&str, &str)> = header
                .as_deref()
                .map(|h| vec![("Authorization", h)])
                .unwrap_or_default();
            http_request(addr, "POST", "/matchmake/arena", &headers, "")
                .await
                .expect("POST")
        }
    };
    assert_eq!(post(None).await.0, 401, "no token");
    assert_eq!(
        post(Some(jwt(secret, "Ada", -3600))).await.0,
        401,
        "expired"
    );
    assert_eq!(
        post(Some(jwt("another", "Ada", 3600))).await.0,
        401,
        "wrong key"
    );
    let good = jwt(secret, "Ada", 3600);
    let (head, rest) = good.split_once('.').expect("a JWT");
    let tampered = format!("{head}.{}", rest.replacen('e', "f", 1));
    assert_eq!(post(Some(tampered)).await.0, 401, "tampered");
    let (status, body) = post(Some(good)).await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("JSON");
    let conn = BotConnection::connect_with_seat(
        v["url"].as_str().expect("url"),
        "chosen-by-client",
        v["seat"].as_str().expect("seat"),
        DecodeMode::Full,
    )
    .await
    .expect("join");
    let d = Driver::spawn(conn);
    wait_for("the player is named by its token", LIMIT, || async {
        names(&d).contains("Ada")
    })
    .await;
    assert!(!names(&d).contains("chosen-by-client"));
    d.stop().await;
    // The listing stays open to everyone (the lobby).
    assert_eq!(http_get(server.addr, "/rooms").await.expect("GET").0, 200);
    // Quick play cannot go around it: a join without a seat is refused.
    match BotConnection::connect(&server.ws_url(), "anonymous", DecodeMode::Full).await {
        Err(BotError::Disconnected(Some(d), Some((code, _)))) => {
            assert_eq!(
                (d.reason, code),
                (DisconnectReason::Seat(SeatRefusal::Missing), 1008)
            );
        }
        other => panic!("expected a refusal: {:?}", other.map(|c| c.welcome)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mode_that_is_not_public_has_private_rooms_only() {
    let dir = std::env::temp_dir().join(format!("tickwire-rooms-{}-invite", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let modes = dir.join("modes.toml");
    std::fs::write(
        &modes,
        "default = \"arena\"\n[[mode]]\nname = \"arena\"\nmap = \"maps/arena.json\"\n\
         max_players = 4\n[[mode]]\nname = \"duel\"\nmap = \"maps/arena.json\"\n\
         max_players = 2\npublic = false\n",
    )
    .expect("modes");
    let server = TestServer::start_with(Config {
        modes: Some(modes),
        ..test_config()
    })
    .await;
    let (status, text) = http_post(server.addr, "/matchmake/duel", "")
        .await
        .expect("POST");
    assert_eq!(status, 404, "{text}");
    assert!(text.contains("not_public"), "{text}");
    let duel = reserve(server.addr, "/rooms", r#"{"mode":"duel"}"#).await;
    let (_, info) = json(&server, &format!("/rooms/{}", duel.room)).await;
    assert_eq!(info["private"], true, "{info}");
    let (_, list) = json(&server, "/rooms").await;
    assert_eq!(list.as_array().map(Vec::len), Some(0), "not listed: {list}");
    // Its code still seats a friend.
    let friend = reserve(server.addr, &format!("/rooms/{}/seat", duel.room), "").await;
    assert_eq!(friend.room, duel.room);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_room_cap_matchmaking_answers_503_with_a_reason() {
    let server = TestServer::start_with(Config {
        max_rooms: 1,
        ..test_config()
    })
    .await;
    let only = reserve(server.addr, "/rooms", r#"{"private":true}"#).await;
    for (path, body) in [("/rooms", r#"{"private":true}"#), ("/matchmake/arena", "")] {
        let (status, text) = http_post(server.addr, path, body).await.expect("POST");
        assert_eq!(status, 503, "{path}: {text}");
        let v: Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(v["reason_code"], "at_capacity", "{text}");
        assert!(
            v["reason"].as_str().is_some_and(|r| r.contains("capacity")),
            "{text}"
        );
    }
    // Quick play has nowhere to go either: 1013 with a reason, not a hang.
    match BotConnection::connect(&server.ws_url(), "late", DecodeMode::Full).await {
        Err(BotError::Disconnected(Some(d), Some((code, _)))) => {
            assert_eq!((d.reason, code), (DisconnectReason::ServerFull, 1013));
        }
        other => panic!("expected a refusal: {:?}", other.map(|c| c.welcome)),
    }
    // The room that exists still takes its invited players.
    let d = seated(&only, "invited").await;
    d.stop().await;
}
