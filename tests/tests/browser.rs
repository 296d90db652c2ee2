//! The browser client end to end: the real server on 127.0.0.1:0 serving the built WASM
//! client, a real headless Chromium playing it, and a bot in the same game.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fantoccini::actions::{
    InputSource, KeyAction, KeyActions, MouseActions, PointerAction, TouchActions,
    MOUSE_BUTTON_LEFT,
};
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
    if browser::skipped() {
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
    if browser::skipped() {
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
    if browser::skipped() {
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

/// A player's position and health as `bot` sees it.
fn seen(bot: &Driver, id: NetId) -> Option<(glam::Vec2, u8, u16, u16, bool)> {
    bot.view(|v| match v.get(id) {
        Some(NetEntity::Player(p)) => Some((
            p.pos.to_vec2(),
            p.hp,
            p.kills,
            p.deaths,
            p.respawn_at.is_none(),
        )),
        _ => None,
    })
}

/// Whether `bot` sees a projectile fired by `owner`.
fn sees_a_shot_of(bot: &Driver, owner: NetId) -> bool {
    bot.view(|v| {
        v.state
            .iter()
            .any(|(_, e)| matches!(e, NetEntity::Projectile(p) if p.owner == owner))
    })
}

async fn save_screenshot(page: &Client, name: &str) {
    if let Ok(png) = page.screenshot().await {
        let out = workspace_root().join("target").join(name);
        let _ = std::fs::write(&out, png);
        eprintln!("screenshot: {}", out.display());
    }
}

async fn assert_no_page_errors(page: &Client) -> anyhow::Result<()> {
    let errors = js(page, "return window.tickwireErrors;").await;
    assert_eq!(errors, Value::Array(Vec::new()), "page errors");
    let logs = page.issue_cmd(BrowserLog).await?;
    let severe: Vec<&Value> = logs
        .as_array()
        .map(|a| a.iter().filter(|e| e["level"] == "SEVERE").collect())
        .unwrap_or_default();
    assert!(severe.is_empty(), "console errors: {severe:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_plays_with_its_thumbs() {
    if browser::skipped() {
        return;
    }
    let server = TestServer::start().await;
    let bot = Driver::spawn(
        BotConnection::connect(&server.ws_url(), "watcher", DecodeMode::Full)
            .await
            .expect("bot joins"),
    );
    let driver = browser::start_chromedriver().expect("chromedriver");
    let profile = std::env::temp_dir().join(format!("tickwire-chrome-p{}", std::process::id()));
    let page = browser::phone_session(&driver, &profile, 390, 844, 2.0)
        .await
        .expect("phone session");
    let result = thumbs(&page, &server, &bot).await;
    let _ = page.close().await;
    let _ = std::fs::remove_dir_all(&profile);
    result.expect("the phone played");
    server.shutdown().await.expect("clean shutdown");
}

async fn thumbs(page: &Client, server: &TestServer, bot: &Driver) -> anyhow::Result<()> {
    page.goto(&format!("{}/?name=thumbs", server.http_url()))
        .await?;
    wait_for("the phone joins", LIMIT, || async {
        state(page).await["connection"] == "connected"
    })
    .await;
    let me = NetId(state(page).await["id"].as_u64().expect("own id") as u32);
    wait_for("the bot sees the phone player", LIMIT, || async {
        seen(bot, me).is_some()
    })
    .await;
    let size = js(
        page,
        "return [innerWidth, innerHeight, devicePixelRatio, \
                         document.getElementById('game').width];",
    )
    .await;
    assert_eq!(size[0], 390, "a phone-sized viewport: {size}");
    // The canvas has a pixel for each device pixel.
    assert_eq!(
        size[3].as_f64(),
        Some(390.0 * size[2].as_f64().expect("dpr"))
    );

    // The left thumb drags the virtual stick towards the open side and holds it there
    // (one gesture: chromedriver performs it while the bot watches): the server moves the
    // player that way.
    let (x0, ..) = seen(bot, me).expect("seen");
    let dir: f32 = if x0.x < 1200.0 { 1.0 } else { -1.0 };
    let drag = TouchActions::new("left-thumb".into())
        .then(PointerAction::MoveTo {
            duration: None,
            x: 90.0,
            y: 640.0,
        })
        .then(PointerAction::Down { button: 0 })
        .then(PointerAction::MoveTo {
            duration: Some(Duration::from_millis(100)),
            x: 90.0 + 50.0 * f64::from(dir),
            y: 640.0,
        })
        .then(PointerAction::Pause {
            duration: Duration::from_millis(1500),
        })
        .then(PointerAction::Up { button: 0 });
    let moved = async {
        wait_for(
            "the stick moves the player on the server",
            LIMIT,
            || async { seen(bot, me).is_some_and(|(p, ..)| (p.x - x0.x) * dir > 40.0) },
        )
        .await;
    };
    let (done, ()) = tokio::join!(page.perform_actions(drag), moved);
    done?;

    // The right thumb touches and holds: the player fires (the bot sees its shot).
    let touch = TouchActions::new("right-thumb".into())
        .then(PointerAction::MoveTo {
            duration: None,
            x: 300.0,
            y: 640.0,
        })
        .then(PointerAction::Down { button: 0 })
        .then(PointerAction::Pause {
            duration: Duration::from_millis(600),
        })
        .then(PointerAction::Up { button: 0 });
    let fired = async {
        wait_for("a touch on the right fires", LIMIT, || async {
            sees_a_shot_of(bot, me)
        })
        .await;
    };
    let (done, ()) = tokio::join!(page.perform_actions(touch), fired);
    done?;
    wait_for("the fingers are lifted", LIMIT, || async {
        let t = state(page).await["touch"].clone();
        t["used"] == true && t["stick"] == false && t["aim"] == false
    })
    .await;
    save_screenshot(page, "browser-phone.png").await;
    // No scroll, no zoom: the page stays where it was.
    let view = js(page, "return [scrollX, scrollY, visualViewport.scale];").await;
    assert_eq!(
        view,
        serde_json::json!([0, 0, 1]),
        "scroll and zoom: {view}"
    );
    assert_no_page_errors(page).await
}

/// Drives `hunter` towards `target` until `mode` says otherwise: 1 = hunt and fire one
/// shot about every 0.6 s, 2 = come within range and hold fire, 0 = stand.
fn hunt(hunter: Arc<Driver>, target: NetId, mode: Arc<AtomicU8>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let start = std::time::Instant::now();
        loop {
            let m = mode.load(Ordering::Relaxed);
            if m == 9 {
                return;
            }
            let me = hunter.view(tickwire_bots::View::me);
            let c = match (seen(&hunter, me), seen(&hunter, target)) {
                (Some((from, ..)), Some((to, _, _, _, true))) if m != 0 => {
                    let d = to - from;
                    let dist = d.length().max(1.0);
                    let go = if dist > 260.0 {
                        d / dist
                    } else {
                        glam::Vec2::ZERO
                    };
                    Controls {
                        move_x: go.x,
                        move_y: go.y,
                        aim: d.y.atan2(d.x),
                        buttons: tickwire_shared::input::Buttons::FIRE
                            .when(m == 1 && start.elapsed().as_millis() % 600 < 70),
                    }
                }
                _ => Controls::default(),
            };
            hunter.set(c);
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hud_tells_health_kills_death_and_respawn_as_the_server_has_them() {
    if browser::skipped() {
        return;
    }
    let server = TestServer::start().await;
    let hunter = Arc::new(Driver::spawn(
        BotConnection::connect(&server.ws_url(), "hunter", DecodeMode::Full)
            .await
            .expect("bot joins"),
    ));
    let driver = browser::start_chromedriver().expect("chromedriver");
    let profile = std::env::temp_dir().join(format!("tickwire-chrome-h{}", std::process::id()));
    let page = browser::session(&driver, &profile, 1280, 800)
        .await
        .expect("browser session");
    let mode = Arc::new(AtomicU8::new(0));
    let result = hud_flow(&page, &server, &hunter, &mode).await;
    mode.store(9, Ordering::Relaxed);
    let _ = page.close().await;
    let _ = std::fs::remove_dir_all(&profile);
    result.expect("the HUD told what happened");
    server.shutdown().await.expect("clean shutdown");
}

/// Opens `url` and waits until the page plays: its player's id.
async fn join(page: &Client, url: &str) -> anyhow::Result<NetId> {
    page.goto(url).await?;
    wait_for("the page joins", LIMIT, || async {
        state(page).await["connection"] == "connected"
    })
    .await;
    Ok(NetId(
        state(page).await["id"].as_u64().expect("own id") as u32
    ))
}

async fn hud_flow(
    page: &Client,
    server: &TestServer,
    hunter: &Arc<Driver>,
    mode: &Arc<AtomicU8>,
) -> anyhow::Result<()> {
    let me = join(page, &format!("{}/?name=target", server.http_url())).await?;
    wait_for("the hunter sees the page's player", LIMIT, || async {
        seen(hunter, me).is_some()
    })
    .await;
    let hud0 = state(page).await["hud"].clone();
    let max = hud0["max_hp"].as_u64().expect("max hp");
    assert_eq!(hud0["hp"], max, "full health at the start: {hud0}");
    assert_eq!(
        js(page, "return document.title;").await,
        format!(
            "{} · Tickwire Arena",
            state(page).await["room"].as_str().expect("room")
        )
    );
    let damage = u64::from(tickwire_shared::SimConfig::default().projectile_damage);

    // The hunter shoots: the first hit takes exactly one shot's damage off the HUD, and the
    // HUD says what the server says.
    let _task = hunt(hunter.clone(), me, mode.clone());
    mode.store(1, Ordering::Relaxed);
    wait_for("a hit shows on the HUD", LIMIT * 2, || async {
        state(page).await["hud"]["hp"]
            .as_u64()
            .is_some_and(|hp| hp < max)
    })
    .await;
    assert_eq!(
        state(page).await["hud"]["hp"],
        max - damage,
        "one hit's damage"
    );
    wait_for("the HUD's health is the server's", LIMIT, || async {
        let hud = state(page).await["hud"].clone();
        let server_hp = seen(hunter, me).map(|(_, hp, ..)| u64::from(hp));
        hud["hp"].as_u64().is_some() && hud["hp"].as_u64() == server_hp
    })
    .await;

    // Shot until dead: the feed shows the kill, the death screen the killer and a
    // countdown that runs down to the respawn.
    wait_for("the death screen", LIMIT * 2, || async {
        !state(page).await["hud"]["death"].is_null()
    })
    .await;
    mode.store(0, Ordering::Relaxed);
    let s = state(page).await;
    assert_eq!(s["hud"]["death"]["killer"], "hunter", "{s}");
    let feed: Vec<String> = s["hud"]["feed"]
        .as_array()
        .expect("feed")
        .iter()
        .filter_map(|l| l["text"].as_str().map(str::to_owned))
        .collect();
    assert!(feed.contains(&"hunter ✖ target".to_owned()), "{feed:?}");
    save_screenshot(page, "browser-death.png").await;
    let countdown = std::sync::Mutex::new(Vec::<f64>::new());
    wait_for("the countdown reaches the respawn", LIMIT, || async {
        let hud = state(page).await["hud"].clone();
        match hud["death"]["respawn_in"].as_f64() {
            Some(t) => {
                countdown.lock().expect("lock").push(t);
                false
            }
            None => true,
        }
    })
    .await;
    let countdown = countdown.into_inner().expect("lock");
    // It ran down (from about the respawn delay to about nothing) before the respawn.
    let (first, last) = (countdown[0], countdown[countdown.len() - 1]);
    assert!(first > last && last < 0.5, "{countdown:?}");
    wait_for(
        "back alive at full health, on the server too",
        LIMIT,
        || async {
            let hud = state(page).await["hud"].clone();
            hud["hp"] == max
                && seen(hunter, me)
                    .is_some_and(|(_, hp, _, _, alive)| alive && u64::from(hp) == max)
        },
    )
    .await;
    let s = state(page).await;
    let (_, _, kills, deaths, _) = seen(hunter, me).expect("seen");
    assert_eq!(s["hud"]["score"], kills, "{s}");
    assert_eq!(s["hud"]["deaths"], deaths, "{s}");
    assert_eq!(
        (s["hud"]["rank"].clone(), s["hud"]["ranked"].clone()),
        (2.into(), 2.into())
    );

    // The page's player shoots back (mouse aim from its place on screen, click held):
    // its score on the HUD becomes the server's 1, and it ranks first.
    mode.store(2, Ordering::Relaxed);
    wait_for("the hunter comes close", LIMIT, || async {
        let (Some((a, ..)), Some((b, ..))) = (
            seen(hunter, me),
            seen(hunter, hunter.view(tickwire_bots::View::me)),
        ) else {
            return false;
        };
        a.distance(b) < 300.0
    })
    .await;
    mode.store(0, Ordering::Relaxed);
    let hunter_id = hunter.view(tickwire_bots::View::me);
    let (a, ..) = seen(hunter, me).expect("me");
    let (b, ..) = seen(hunter, hunter_id).expect("hunter");
    let d = (b - a).normalize_or_zero();
    let center = js(page, "return [innerWidth / 2, innerHeight / 2];").await;
    let (cx, cy) = (
        center[0].as_f64().expect("w"),
        center[1].as_f64().expect("h"),
    );
    page.perform_actions(
        MouseActions::new("mouse".into())
            .then(PointerAction::MoveTo {
                duration: None,
                x: (cx + f64::from(d.x) * 150.0).round(),
                y: (cy + f64::from(d.y) * 150.0).round(),
            })
            .then(PointerAction::Down {
                button: MOUSE_BUTTON_LEFT,
            }),
    )
    .await?;
    wait_for("the page's player scores a kill", LIMIT * 2, || async {
        let hud = state(page).await["hud"].clone();
        let server_kills = seen(hunter, me).map(|(_, _, k, ..)| u64::from(k));
        hud["score"] == 1 && server_kills == Some(1)
    })
    .await;
    page.perform_actions(MouseActions::new("mouse".into()).then(PointerAction::Up {
        button: MOUSE_BUTTON_LEFT,
    }))
    .await?;
    let s = state(page).await;
    assert_eq!(s["hud"]["rank"], 1, "{s}");
    let feed = s["hud"]["feed"].to_string();
    assert!(feed.contains("target ✖ hunter"), "{feed}");
    save_screenshot(page, "browser-hud.png").await;
    assert_no_page_errors(page).await
}

/// The page's player as `bot` sees it: `(kills, deaths, hp, disconnected)`.
fn record_of(bot: &Driver, id: NetId) -> Option<(u16, u16, u8, bool)> {
    bot.view(|v| match v.get(id) {
        Some(NetEntity::Player(p)) => Some((p.kills, p.deaths, p.hp, p.disconnected)),
        _ => None,
    })
}

/// What a bot saw of one player while it watched: ever missing (a leave), ever marked
/// disconnected.
#[derive(Default)]
struct Watched {
    missing: std::sync::atomic::AtomicBool,
    disconnected: std::sync::atomic::AtomicBool,
    stop: std::sync::atomic::AtomicBool,
}

fn watch(bot: Arc<Driver>, id: NetId) -> (Arc<Watched>, tokio::task::JoinHandle<()>) {
    let w = Arc::new(Watched::default());
    let seen = w.clone();
    let task = tokio::spawn(async move {
        while !seen.stop.load(Ordering::Relaxed) {
            match record_of(&bot, id) {
                None => seen.missing.store(true, Ordering::Relaxed),
                Some((.., true)) => seen.disconnected.store(true, Ordering::Relaxed),
                Some(_) => {}
            }
            // A sampling period, not a wait for something: the loop ends when told.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    (w, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_connection_and_a_reload_resume_the_same_player() {
    if browser::skipped() {
        return;
    }
    let server = TestServer::start().await;
    let proxy = browser::CutProxy::start(server.addr)
        .await
        .expect("proxy starts");
    let hunter = Arc::new(Driver::spawn(
        BotConnection::connect(&server.ws_url(), "hunter", DecodeMode::Full)
            .await
            .expect("bot joins"),
    ));
    let driver = browser::start_chromedriver().expect("chromedriver");
    let profile = std::env::temp_dir().join(format!("tickwire-chrome-z{}", std::process::id()));
    let page = browser::session(&driver, &profile, 1000, 700)
        .await
        .expect("browser session");
    let mode = Arc::new(AtomicU8::new(0));
    let result = resume_flow(&page, &proxy, &hunter, &mode).await;
    mode.store(9, Ordering::Relaxed);
    save_screenshot(&page, "browser-resume.png").await;
    let _ = page.close().await;
    let _ = std::fs::remove_dir_all(&profile);
    result.expect("the page resumed its player");
    server.shutdown().await.expect("clean shutdown");
}

async fn resume_flow(
    page: &Client,
    proxy: &browser::CutProxy,
    hunter: &Arc<Driver>,
    mode: &Arc<AtomicU8>,
) -> anyhow::Result<()> {
    let me = join(page, &format!("{}/?name=phoenix", proxy.http_url())).await?;
    wait_for("the bot sees the page's player", LIMIT, || async {
        record_of(hunter, me).is_some()
    })
    .await;

    // The hunter hits the page's player: a state a new player would not have.
    let max = tickwire_shared::SimConfig::default().max_hp;
    let task = hunt(hunter.clone(), me, mode.clone());
    mode.store(1, Ordering::Relaxed);
    wait_for("the page's player is hit", LIMIT * 2, || async {
        record_of(hunter, me).is_some_and(|(_, _, hp, _)| hp < max)
    })
    .await;
    mode.store(9, Ordering::Relaxed);
    task.await?;
    hunter.set(Controls::default());
    let hunter_id = hunter.view(tickwire_bots::View::me);
    wait_for("no shot of the hunter's is still flying", LIMIT, || async {
        !sees_a_shot_of(hunter, hunter_id)
    })
    .await;
    wait_for("the page shows the server's health", LIMIT, || async {
        let hp = state(page).await["hud"]["hp"].as_u64();
        hp.is_some() && hp == record_of(hunter, me).map(|(_, _, hp, _)| u64::from(hp))
    })
    .await;
    let before = record_of(hunter, me).expect("seen");

    // What the page shows, frame by frame, from now on (connection, banner, players drawn).
    js(
        page,
        "window.__seen = []; (function look() { \
           const s = window.tickwire.state(); \
           const k = s.connection + '|' + document.getElementById('status').textContent + \
                     '|' + (s.players ? s.players.length : 0); \
           if (window.__seen[window.__seen.length - 1] !== k) window.__seen.push(k); \
           requestAnimationFrame(look); })(); return true;",
    )
    .await;

    // The network fails under the page: its socket is reset.
    let (watched, watcher) = watch(hunter.clone(), me);
    proxy.cut();
    wait_for("the page resumes", LIMIT, || async {
        let s = state(page).await;
        s["connection"] == "connected" && s["resumes"] == 1
    })
    .await;
    let s = state(page).await;
    assert_eq!(s["id"], me.0, "the same player: {s}");
    assert_eq!(s["resumed"], true, "{s}");
    let seen: Vec<String> = serde_json::from_value(js(page, "return window.__seen;").await)?;
    assert!(
        seen.iter()
            .any(|k| k.starts_with("lost|Reconnecting…|")
                || k.starts_with("resuming|Reconnecting…|")),
        "a reconnecting banner: {seen:?}"
    );
    assert!(
        seen.iter()
            .filter(|k| !k.starts_with("connected|"))
            .all(|k| !k.ends_with("|0")),
        "the state stayed on the canvas: {seen:?}"
    );
    wait_for("the bot sees it connected again", LIMIT, || async {
        record_of(hunter, me).is_some_and(|(.., lost)| !lost)
    })
    .await;
    assert_eq!(
        record_of(hunter, me).map(|(k, d, hp, _)| (k, d, hp)),
        Some((before.0, before.1, before.2)),
        "score and health kept"
    );
    assert!(
        watched.disconnected.load(Ordering::Relaxed),
        "the bot saw it marked disconnected"
    );
    assert!(
        !watched.missing.load(Ordering::Relaxed),
        "the bot never saw it leave"
    );
    let hud = state(page).await["hud"].clone();
    assert_eq!(hud["hp"], before.2, "{hud}");
    assert_eq!(hud["score"], before.0, "{hud}");

    // A reload within the grace resumes too (the ticket in sessionStorage).
    page.refresh().await?;
    wait_for("the reloaded page resumes", LIMIT, || async {
        let s = state(page).await;
        s["connection"] == "connected" && s["resumed"] == true
    })
    .await;
    let s = state(page).await;
    assert_eq!(s["id"], me.0, "the same player after the reload: {s}");
    wait_for("the reloaded page shows its health", LIMIT, || async {
        state(page).await["hud"]["hp"] == before.2
    })
    .await;
    assert_eq!(
        record_of(hunter, me).map(|(k, d, hp, _)| (k, d, hp)),
        Some((before.0, before.1, before.2)),
        "score and health kept across the reload"
    );
    watched.stop.store(true, Ordering::Relaxed);
    watcher.await?;
    assert!(
        !watched.missing.load(Ordering::Relaxed),
        "the bot never saw it leave"
    );
    assert_no_page_errors(page).await
}
