//! Spectators through the real server on 127.0.0.1 port 0: a swarm of bots plays, spectator
//! bots (`tickwire_bots::spectate`, what `tickwire-bots --spectate` runs) watch over real
//! WebSockets: they receive and apply the room's snapshots, see players move, and are
//! never counted as players.

use std::time::Duration;

use tickwire_bots::brain::Behavior;
use tickwire_bots::spectate;
use tickwire_bots::swarm::{self, SwarmConfig};
use tickwire_tests::{http_get, metric, wait_for, TestServer};

const LIMIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spectator_bots_watch_a_room_and_are_not_players() {
    let server = TestServer::start().await;
    let mut config = SwarmConfig::new(server.ws_url(), 4, Duration::from_secs(6));
    config.behavior = Behavior::Arena;
    let swarm = tokio::spawn(swarm::run(config));
    let addr = server.addr;
    wait_for("4 players in a room", LIMIT, || async move {
        let (_, body) = http_get(addr, "/rooms").await.unwrap_or_default();
        body.contains("\"players\":4")
    })
    .await;
    let (_, rooms) = http_get(addr, "/rooms").await.unwrap();
    let list: serde_json::Value = serde_json::from_str(&rooms).unwrap();
    let code = list[0]["room"]
        .as_str()
        .unwrap_or_else(|| panic!("a room: {rooms}"))
        .to_string();
    let by_code = format!("{}?room={code}", server.ws_url());
    let default_room = server.ws_url();
    let (a, b) = tokio::join!(
        spectate::watch(&by_code, None, Duration::from_secs(2)),
        // No room named: the default mode's fullest room.
        spectate::watch(&default_room, None, Duration::from_secs(2)),
    );
    for s in [&a, &b] {
        assert_eq!(s.error, None, "{s:?}");
        assert_eq!(s.room, code);
        assert!(s.snapshots > 10, "{s:?}");
        assert_eq!(s.players, 4, "the spectator sees the 4 players: {s:?}");
        assert!(s.positions_seen > 1, "and sees them move: {s:?}");
    }
    let (_, m) = http_get(addr, "/metrics").await.unwrap();
    assert_eq!(metric(&m, "tickwire_players_connected"), Some(4.0));
    let (_, room) = http_get(addr, &format!("/rooms/{code}")).await.unwrap();
    assert!(room.contains("\"players\":4"), "{room}");
    let report = swarm.await.unwrap().expect("valid swarm");
    assert_eq!(report.joined, 4);
    assert_eq!(
        (report.errors, report.desyncs),
        (0, 0),
        "{}",
        report.table()
    );
    server.shutdown().await.expect("clean shutdown");
}
