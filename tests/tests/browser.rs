//! The browser client end to end: the real server on 127.0.0.1:0 serving the built WASM
//! client, a real headless Chromium playing it, and a bot in the same game.

use std::time::Duration;

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::{Client, Locator};
use serde_json::Value;
use tickwire_bots::{BotConnection, DecodeMode, Driver};
use tickwire_shared::{Controls, NetEntity, NetId};
use tickwire_tests::browser::{self, BrowserLog};
use tickwire_tests::{test_config, wait_for, workspace_root, TestServer};

const LIMIT: Duration = Duration::from_secs(30);

async fn state(page: &Client) -> Value {
    page.execute(
        "return window.tickwire ? window.tickwire.state() : null;",
        vec![],
    )
    .await
    .unwrap_or(Value::Null)
}

fn x_seen_by(bot: &Driver, id: NetId) -> Option<f32> {
    bot.view(|v| match v.get(id) {
        Some(NetEntity::Player(p)) => Some(p.pos.to_vec2().x),
        _ => None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_browser_joins_moves_and_sees_a_bot() {
    if std::env::var_os("TICKWIRE_SKIP_BROWSER").is_some() {
        eprintln!("TICKWIRE_SKIP_BROWSER is set: browser test skipped");
        return;
    }
    let config = test_config();
    let wasm = config.client_dir.join("tickwire_client_wasm_bg.wasm");
    assert!(
        wasm.exists(),
        "{} is missing: build the client with `cargo xtask client` (cargo xtask test does)",
        wasm.display()
    );
    let server = TestServer::start_with(config).await;
    let bot = Driver::spawn(
        BotConnection::connect(&server.ws_url(), "buddy", DecodeMode::Full)
            .await
            .expect("bot joins"),
    );
    let bot_id = bot.view(tickwire_bots::View::me);

    let driver = browser::start_chromedriver().expect("chromedriver");
    let profile = std::env::temp_dir().join(format!("tickwire-chrome-{}", std::process::id()));
    let page = browser::session(&driver, &profile, 1200, 800)
        .await
        .expect("browser session");
    let result = play(&page, &server, &bot, bot_id).await;
    let shot = page.screenshot().await;
    let _ = page.close().await;
    let _ = std::fs::remove_dir_all(&profile);
    if let Ok(png) = shot {
        let out = workspace_root().join("target").join("browser-e2e.png");
        let _ = std::fs::write(&out, png);
        eprintln!("screenshot: {}", out.display());
    }
    result.expect("browser session played");
    let v = bot.stop().await;
    assert!(!v.ended.expect("stopped").desync);
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_a_lost_connection_and_reconnects() {
    if std::env::var_os("TICKWIRE_SKIP_BROWSER").is_some() {
        eprintln!("TICKWIRE_SKIP_BROWSER is set: browser test skipped");
        return;
    }
    let server = TestServer::start().await;
    let addr = server.addr;
    let driver = browser::start_chromedriver().expect("chromedriver");
    let profile = std::env::temp_dir().join(format!("tickwire-chrome-r{}", std::process::id()));
    let page = browser::session(&driver, &profile, 800, 600)
        .await
        .expect("browser session");
    page.goto(&format!("{}/?name=phoenix", server.http_url()))
        .await
        .expect("page loads");
    wait_for("the page joins", LIMIT, || async {
        state(&page).await["connection"] == "connected"
    })
    .await;
    let first_id = state(&page).await["id"].as_u64();

    // The server goes away (close 1001): the page says so.
    server.shutdown().await.expect("clean shutdown");
    wait_for("the page shows the connection lost", LIMIT, || async {
        let s = state(&page).await;
        s["connection"] == "lost" && s["message"].as_str().is_some_and(|m| !m.is_empty())
    })
    .await;
    let banner = page
        .execute(
            "return document.getElementById('status').textContent;",
            vec![],
        )
        .await
        .expect("status text");
    assert!(
        banner.as_str().is_some_and(|t| t.contains("Reconnecting")),
        "status banner: {banner}"
    );

    // It comes back on the same address: the page reconnects by itself, as a new player.
    let listener = tokio::net::TcpListener::bind(addr).await.expect("rebind");
    let server = TestServer::start_on(listener, test_config());
    wait_for("the page reconnects", LIMIT, || async {
        let s = state(&page).await;
        s["connection"] == "connected" && s["id"].as_u64().is_some()
    })
    .await;
    assert!(state(&page).await["id"].as_u64().is_some() && first_id.is_some());
    let errors = page
        .execute("return window.tickwireErrors;", vec![])
        .await
        .expect("errors");
    assert_eq!(errors, Value::Array(Vec::new()), "page errors");
    let _ = page.close().await;
    let _ = std::fs::remove_dir_all(&profile);
    server.shutdown().await.expect("clean shutdown");
}

async fn play(
    page: &Client,
    server: &TestServer,
    bot: &Driver,
    bot_id: NetId,
) -> anyhow::Result<()> {
    page.goto(&format!("{}/?name=browser", server.http_url()))
        .await?;

    // The page loads, joins and sees the bot.
    wait_for("the page joins and sees the bot", LIMIT, || async {
        let s = state(page).await;
        s["connection"] == "connected"
            && s["players"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["id"] == bot_id.0))
    })
    .await;
    let me = NetId(state(page).await["id"].as_u64().expect("own id") as u32);
    wait_for("the bot sees the browser player", LIMIT, || async {
        x_seen_by(bot, me).is_some()
    })
    .await;

    // The bot moves: the page sees it move.
    let bot_x0 = state(page).await["players"]
        .as_array()
        .and_then(|ps| {
            ps.iter()
                .find(|p| p["id"] == bot_id.0)
                .and_then(|p| p["x"].as_f64())
        })
        .expect("bot position in the page");
    let dir: f64 = if bot_x0 < 1200.0 { 1.0 } else { -1.0 };
    bot.set(Controls {
        move_x: dir as f32,
        ..Controls::default()
    });
    wait_for("the page sees the bot move", LIMIT, || async {
        let s = state(page).await;
        s["players"].as_array().is_some_and(|ps| {
            ps.iter().any(|p| {
                p["id"] == bot_id.0 && p["x"].as_f64().is_some_and(|x| (x - bot_x0) * dir > 40.0)
            })
        })
    })
    .await;
    bot.set(Controls::default());

    // The player holds a movement key: the server (seen by the bot) and the page agree.
    let server_x0 = x_seen_by(bot, me).expect("bot sees the page player");
    let page_x0 = state(page).await["x"].as_f64().expect("predicted x");
    let key = if server_x0 < 1200.0 { 'd' } else { 'a' };
    let sign: f32 = if key == 'd' { 1.0 } else { -1.0 };
    page.perform_actions(KeyActions::new("keyboard".into()).then(KeyAction::Down { value: key }))
        .await?;
    wait_for("the server moves the browser player", LIMIT, || async {
        x_seen_by(bot, me).is_some_and(|x| (x - server_x0) * sign > 40.0)
    })
    .await;
    page.perform_actions(KeyActions::new("keyboard".into()).then(KeyAction::Up { value: key }))
        .await?;
    wait_for("the page shows the move", LIMIT, || async {
        state(page).await["x"]
            .as_f64()
            .is_some_and(|x| (x - page_x0) * f64::from(sign) > 40.0)
    })
    .await;
    // Once the player stops, prediction and server agree exactly.
    wait_for(
        "prediction settles on the server position",
        LIMIT,
        || async {
            let page_x = state(page).await["x"].as_f64();
            let server_x = x_seen_by(bot, me).map(f64::from);
            page_x.is_some() && page_x == server_x
        },
    )
    .await;

    // No errors on the page or in the console.
    let errors = page
        .execute("return window.tickwireErrors;", vec![])
        .await?;
    assert_eq!(errors, Value::Array(Vec::new()), "page errors");
    let logs = page.issue_cmd(BrowserLog).await?;
    let severe: Vec<&Value> = logs
        .as_array()
        .map(|a| a.iter().filter(|e| e["level"] == "SEVERE").collect())
        .unwrap_or_default();
    assert!(severe.is_empty(), "console errors: {severe:?}");
    Ok(())
}

/// Runs `script` (a function body) in `page`; `null` if it fails.
async fn js(page: &Client, script: &str) -> Value {
    page.execute(script, vec![]).await.unwrap_or(Value::Null)
}

/// The names of the players a page sees.
async fn names(page: &Client) -> Vec<String> {
    state(page).await["players"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .filter_map(|p| p["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

async fn click(page: &Client, id: &str) -> anyhow::Result<()> {
    page.find(Locator::Id(id)).await?.click().await?;
    Ok(())
}

async fn type_into(page: &Client, id: &str, text: &str) -> anyhow::Result<()> {
    let field = page.find(Locator::Id(id)).await?;
    field.clear().await?;
    field.send_keys(text).await?;
    Ok(())
}

async fn connected_in(page: &Client) -> Option<String> {
    let s = state(page).await;
    (s["connection"] == "connected" && s["tick"].is_number())
        .then(|| s["room"].as_str().map(str::to_owned))
        .flatten()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn friends_meet_in_a_private_room_by_its_invite_link() {
    if std::env::var_os("TICKWIRE_SKIP_BROWSER").is_some() {
        eprintln!("TICKWIRE_SKIP_BROWSER is set: browser test skipped");
        return;
    }
    let server = TestServer::start().await;
    let driver = browser::start_chromedriver().expect("chromedriver");
    let mut pages = Vec::new();
    let mut profiles = Vec::new();
    for who in ["a", "b", "c"] {
        let profile =
            std::env::temp_dir().join(format!("tickwire-chrome-l{who}{}", std::process::id()));
        pages.push(
            browser::session(&driver, &profile, 1100, 720)
                .await
                .expect("browser session"),
        );
        profiles.push(profile);
    }
    let result = lobby_flow(&server, &pages).await;
    for page in pages {
        let _ = page.close().await;
    }
    for profile in profiles {
        let _ = std::fs::remove_dir_all(&profile);
    }
    result.expect("lobby flow");
    server.shutdown().await.expect("clean shutdown");
}

async fn lobby_flow(server: &TestServer, pages: &[Client]) -> anyhow::Result<()> {
    let [alice, bob, carol] = pages else {
        anyhow::bail!("three pages");
    };
    // Alice opens the lobby, and creates a private room.
    alice.goto(&format!("{}/", server.http_url())).await?;
    wait_for("alice's lobby lists the rooms", LIMIT, || async {
        state(alice).await["stage"] == "lobby"
            && js(
                alice,
                "return document.getElementById('rooms-note').textContent;",
            )
            .await
                != "Looking for rooms…"
    })
    .await;
    type_into(alice, "name", "alice").await?;
    click(alice, "create-room").await?;
    wait_for("alice plays in her room", LIMIT, || async {
        connected_in(alice).await.is_some()
    })
    .await;
    let room = connected_in(alice).await.expect("room");
    assert_eq!(state(alice).await["mode"], "arena");
    let bar = js(
        alice,
        "return [document.getElementById('room-bar').hidden, \
         document.getElementById('bar-room').textContent, \
         document.getElementById('invite-link').value];",
    )
    .await;
    assert_eq!(bar[0], false, "room bar shown: {bar}");
    assert_eq!(bar[1], room.as_str(), "room bar: {bar}");
    let invite = bar[2].as_str().expect("invite link").to_owned();
    assert_eq!(invite, format!("{}/?room={room}", server.http_url()));

    // Bob opens the invite link: the lobby offers the room; he joins it.
    bob.goto(&invite).await?;
    wait_for("bob's page offers the invite", LIMIT, || async {
        js(
            bob,
            "return !document.getElementById('invite').hidden && \
             document.getElementById('invite-code').textContent;",
        )
        .await
            == room.as_str()
    })
    .await;
    type_into(bob, "name", "bob").await?;
    click(bob, "invite-join").await?;
    wait_for("bob and alice see each other", LIMIT, || async {
        connected_in(bob).await.as_deref() == Some(room.as_str())
            && names(bob).await.contains(&"alice".to_owned())
            && names(alice).await.contains(&"bob".to_owned())
    })
    .await;

    // Carol plays quick play (`/?name=`): another room, and she sees neither of them.
    carol
        .goto(&format!("{}/?name=carol", server.http_url()))
        .await?;
    wait_for("carol plays quick play", LIMIT, || async {
        connected_in(carol).await.is_some()
    })
    .await;
    let quick = connected_in(carol).await.expect("room");
    assert_ne!(quick, room);
    assert_eq!(names(carol).await, vec!["carol".to_owned()]);
    assert_eq!(names(alice).await.len(), 2, "{:?}", names(alice).await);

    // Carol leaves: back in the lobby, whose list shows her (public) room and never the
    // private one.
    click(carol, "leave").await?;
    let listed = "return Array.from(document.querySelectorAll('#rooms [data-room]'))\
                  .map((r) => r.dataset.room);";
    wait_for("carol's lobby lists her quick-play room", LIMIT, || async {
        state(carol).await["stage"] == "lobby"
            && js(carol, listed)
                .await
                .as_array()
                .is_some_and(|rs| rs.iter().any(|r| r == quick.as_str()))
    })
    .await;
    let rooms = js(carol, listed).await;
    assert!(
        !rooms
            .as_array()
            .expect("list")
            .iter()
            .any(|r| r == room.as_str()),
        "the private room is listed: {rooms}"
    );
    if let Ok(png) = carol.screenshot().await {
        let out = workspace_root().join("target").join("browser-lobby.png");
        let _ = std::fs::write(&out, png);
        eprintln!("lobby screenshot: {}", out.display());
    }

    // An unknown code: a clear message, still in the lobby.
    type_into(carol, "room-code", "zzzzzz").await?;
    click(carol, "join-code").await?;
    wait_for("carol is told the room does not exist", LIMIT, || async {
        js(
            carol,
            "return document.getElementById('lobby-message').textContent;",
        )
        .await
        .as_str()
        .is_some_and(|m| m.contains("ZZZZZZ does not exist"))
    })
    .await;
    assert_eq!(state(carol).await["stage"], "lobby");

    for page in pages {
        let errors = js(page, "return window.tickwireErrors;").await;
        assert_eq!(errors, Value::Array(Vec::new()), "page errors");
    }
    Ok(())
}
