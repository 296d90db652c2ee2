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

/// The lobby's "Watch" link of a public room opens `/?watch=CODE`: the page watches (no
/// player of its own), sees the bots move, "Follow next" follows one of them, D frees the
/// camera.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_watches_a_room_from_the_lobby_and_follows_a_player() {
    use fantoccini::Locator;
    use serde_json::Value;
    use tickwire_tests::browser;
    use tickwire_tests::test_config;

    if browser::skipped() {
        return;
    }
    let config = test_config();
    assert!(
        config
            .client_dir
            .join("tickwire_client_wasm_bg.wasm")
            .exists(),
        "the client is not built: `cargo xtask client`"
    );
    let server = TestServer::start_with(config).await;
    let mut swarm_config = SwarmConfig::new(server.ws_url(), 3, Duration::from_secs(25));
    swarm_config.behavior = Behavior::Arena;
    let _swarm = tokio::spawn(swarm::run(swarm_config));
    let addr = server.addr;
    wait_for("3 players in a room", LIMIT, || async move {
        let (_, body) = http_get(addr, "/rooms").await.unwrap_or_default();
        body.contains("\"players\":3")
    })
    .await;

    let driver = browser::start_chromedriver().expect("chromedriver");
    let profile = std::env::temp_dir().join(format!("tickwire-chrome-w-{}", std::process::id()));
    let page = browser::session(&driver, &profile, 1000, 700)
        .await
        .expect("browser session");
    let state = |page: &fantoccini::Client| {
        let page = page.clone();
        async move {
            page.execute(
                "return window.tickwire ? window.tickwire.state() : null;",
                vec![],
            )
            .await
            .unwrap_or(Value::Null)
        }
    };
    let flow = async {
        page.goto(&server.http_url()).await?;
        let watch = page
            .wait()
            .at_most(LIMIT)
            .for_element(Locator::Css("a.room-watch"))
            .await?;
        watch.click().await?;
        let p = &page;
        wait_for("watching with the players drawn", LIMIT, || async move {
            let s = state(p).await;
            s["connection"] == "connected" && s["players"].as_array().is_some_and(|a| a.len() == 3)
        })
        .await;
        let s = state(&page).await;
        assert_eq!(s["id"], 0, "no player of its own: {s}");
        assert_eq!(s["watching"]["replay"], false);
        let url = page.current_url().await?;
        assert!(
            url.query().unwrap_or_default().starts_with("watch="),
            "{url}"
        );
        let first = s["players"].clone();
        wait_for("the players move", LIMIT, || {
            let first = first.clone();
            async move { state(p).await["players"] != first }
        })
        .await;
        page.find(Locator::Id("watch-follow"))
            .await?
            .click()
            .await?;
        wait_for("following a player", LIMIT, || async move {
            state(p).await["watching"]["follow"].as_u64().is_some()
        })
        .await;
        let s = state(&page).await;
        let followed = s["watching"]["follow"].as_u64().unwrap();
        assert!(
            s["players"]
                .as_array()
                .unwrap()
                .iter()
                .any(|pl| pl["id"].as_u64() == Some(followed)),
            "follows one of the room's players: {s}"
        );
        // D moves the camera freely: it follows no one any more.
        page.active_element().await?.send_keys("d").await?;
        wait_for("a free camera", LIMIT, || async move {
            state(p).await["watching"]["follow"].is_null()
        })
        .await;
        let (_, m) = http_get(addr, "/metrics").await?;
        assert_eq!(
            metric(&m, "tickwire_players_connected"),
            Some(3.0),
            "not a player"
        );
        anyhow::Ok(())
    }
    .await;
    let _ = page.close().await;
    let _ = std::fs::remove_dir_all(&profile);
    flow.expect("the watch page");
    server.shutdown().await.expect("clean shutdown");
}
