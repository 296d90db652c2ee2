//! Native and WASM re-simulate a replay identically: a recorded 2-minute combat match of 20
//! bots (the real `Room::tick` in virtual time) is verified natively and by the browser
//! build (`verify_replay`, exported by the WASM client) in a real headless Chromium; every
//! per-tick world hash is equal, and a tampered copy diverges at the same tick in both.

use std::time::Duration;

use base64::Engine;
use fantoccini::{Client, Locator};
use serde_json::Value;
use tickwire_shared::replay::{verify, Encoder, Reader, Record};
use tickwire_tests::browser;
use tickwire_tests::replay::{finished_verdict, record_combat_match, replay_dir};
use tickwire_tests::{test_config, wait_for, TestServer};

const LIMIT: Duration = Duration::from_secs(60);

/// `verify_replay` in the page on `bytes`; its JSON verdict.
async fn verify_in_browser(page: &Client, bytes: &[u8]) -> anyhow::Result<Value> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
    let script = r"
        const [b64, done] = arguments;
        (async () => {
            const m = await import('/pkg/tickwire_client_wasm.js');
            const bin = atob(b64);
            const bytes = new Uint8Array(bin.length);
            for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
            return m.verify_replay(bytes);
        })().then(done, e => done(JSON.stringify({ error: String(e) })));
    ";
    let out = page.execute_async(script, vec![Value::String(b64)]).await?;
    let text = out.as_str().unwrap_or_default().to_string();
    Ok(serde_json::from_str(&text)?)
}

fn hex(hashes: &[u64]) -> String {
    hashes
        .iter()
        .map(|h| format!("{h:016x}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// A copy with one input of the `nth` tick changed.
fn tampered(bytes: &[u8], nth: usize) -> Vec<u8> {
    let mut reader = Reader::new(bytes).unwrap();
    let mut enc = Encoder::new(Vec::new(), reader.header()).unwrap();
    let mut ticks = 0;
    while let Some(mut r) = reader.next().unwrap() {
        if let Record::Tick { inputs } = &mut r {
            ticks += 1;
            if ticks == nth {
                inputs[0].1.aim = inputs[0].1.aim.wrapping_add(12_345);
            }
        }
        enc.write(&r).unwrap();
    }
    enc.finish().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browser_build_re_simulates_a_match_with_the_same_hashes_as_native() {
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
    let dir = replay_dir("browser-verify");
    let path = record_combat_match(&dir, 20, 2 * 60 * 30);
    let _ = finished_verdict(&path, LIMIT);
    let bytes = std::fs::read(&path).unwrap();
    let native = verify::verify(bytes.as_slice()).unwrap();
    assert!(native.ok() && native.complete);
    let bad = tampered(&bytes, 1000);
    let native_bad = verify::verify(bad.as_slice()).unwrap();
    let first_bad = native_bad.mismatch.as_ref().expect("diverges").tick.0;

    let server = TestServer::start_with(config).await;
    let driver = browser::start_chromedriver().expect("chromedriver");
    let profile = std::env::temp_dir().join(format!("tickwire-chrome-rv-{}", std::process::id()));
    let page = browser::session(&driver, &profile, 800, 600)
        .await
        .expect("browser session");
    let result = async {
        page.goto(&server.http_url()).await?;
        let p = &page;
        wait_for("the client module started", LIMIT, || async move {
            p.execute("return !!window.tickwire;", vec![])
                .await
                .is_ok_and(|v| v == Value::Bool(true))
        })
        .await;
        let good = verify_in_browser(&page, &bytes).await?;
        let bad = verify_in_browser(&page, &bad).await?;
        anyhow::Ok((good, bad))
    }
    .await;
    let _ = page.close().await;
    let _ = std::fs::remove_dir_all(&profile);
    let (good, bad) = result.expect("the page verified");

    assert_eq!(good["error"], Value::Null, "{good}");
    assert_eq!(good["ok"], true);
    assert_eq!(good["complete"], true);
    assert_eq!(good["ticks"], 3600);
    assert_eq!(good["hashes_checked"], 3600);
    let wasm_hashes = good["hashes"].as_str().unwrap();
    assert_eq!(wasm_hashes.split(',').count(), 3600);
    assert!(
        wasm_hashes == hex(&native.tick_hashes),
        "every per-tick hash of the WASM build equals the native one"
    );
    assert_eq!(bad["ok"], false);
    assert_eq!(
        bad["first_differing_tick"], first_bad,
        "{}",
        bad["first_differing_tick"]
    );
    server.shutdown().await.expect("clean shutdown");
    let _ = std::fs::remove_dir_all(&dir);
}

async fn page_state(page: &Client) -> Value {
    page.execute(
        "return window.tickwire ? window.tickwire.state() : null;",
        vec![],
    )
    .await
    .unwrap_or(Value::Null)
}

fn tick_of(s: &Value) -> Option<u64> {
    s["tick"].as_u64()
}

fn positions(s: &Value) -> Vec<(f64, f64)> {
    s["players"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .map(|p| {
                    (
                        p["x"].as_f64().unwrap_or(0.0),
                        p["y"].as_f64().unwrap_or(0.0),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The page at `/?replay=ID`: the match plays (ticks advance, players move), the Pause
/// button stops it (two more pongs from the server and the tick has not moved), "+5 s"
/// seeks 150 ticks while paused, playing again moves on.
async fn replay_flow(page: &Client, server: &TestServer, id: &str) -> anyhow::Result<()> {
    page.goto(&format!("{}/?replay={id}", server.http_url()))
        .await?;
    wait_for("the replay plays", LIMIT, || async move {
        tick_of(&page_state(page).await).is_some_and(|t| t > 60)
    })
    .await;
    let before = page_state(page).await;
    assert_eq!(before["id"], 0, "a spectator: no player of its own");
    assert_eq!(before["watching"]["replay"], true);
    let seen = positions(&before);
    assert!(!seen.is_empty(), "{before}");
    let t0 = tick_of(&before).unwrap();
    wait_for("players move", LIMIT, || {
        let seen = seen.clone();
        async move {
            let now = page_state(page).await;
            tick_of(&now).is_some_and(|t| t > t0 + 30) && positions(&now) != seen
        }
    })
    .await;

    // Pause: once the server answered two more pings, the tick has not moved.
    page.find(Locator::Id("replay-pause"))
        .await?
        .click()
        .await?;
    let pongs = |s: &Value| s["pongs"].as_u64().unwrap_or(0);
    let p0 = pongs(&page_state(page).await);
    wait_for("a pong after the pause", LIMIT, || async move {
        pongs(&page_state(page).await) > p0
    })
    .await;
    let paused = page_state(page).await;
    assert_eq!(paused["watching"]["paused"], true);
    let (tp, p1) = (tick_of(&paused).unwrap(), pongs(&paused));
    wait_for("two more pongs", LIMIT, || async move {
        pongs(&page_state(page).await) >= p1 + 2
    })
    .await;
    assert_eq!(
        tick_of(&page_state(page).await),
        Some(tp),
        "paused: the tick holds"
    );

    // Seek 5 s forward while paused: the state of that tick, and still paused.
    page.find(Locator::Id("replay-forward"))
        .await?
        .click()
        .await?;
    let sought = tp + 150;
    wait_for("the seek", LIMIT, || async move {
        tick_of(&page_state(page).await) == Some(sought)
    })
    .await;
    let p2 = pongs(&page_state(page).await);
    wait_for("two more pongs", LIMIT, || async move {
        pongs(&page_state(page).await) >= p2 + 2
    })
    .await;
    assert_eq!(
        tick_of(&page_state(page).await),
        Some(sought),
        "still paused there"
    );

    // Play again at x4.
    page.find(Locator::Id("replay-speed-16"))
        .await?
        .click()
        .await?;
    page.find(Locator::Id("replay-pause"))
        .await?
        .click()
        .await?;
    wait_for("playing again", LIMIT, || async move {
        tick_of(&page_state(page).await).is_some_and(|t| t > sought + 40)
    })
    .await;
    let errors = page
        .execute("return window.tickwireErrors || [];", vec![])
        .await?;
    assert_eq!(errors, Value::Array(Vec::new()), "no page errors");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browser_opens_a_replay_sees_players_move_pauses_and_seeks() {
    if browser::skipped() {
        return;
    }
    let mut config = test_config();
    let wasm = config.client_dir.join("tickwire_client_wasm_bg.wasm");
    assert!(
        wasm.exists(),
        "{} is missing: `cargo xtask client`",
        wasm.display()
    );
    let dir = replay_dir("browser-replay");
    let path = record_combat_match(&dir, 8, 1800);
    let _ = finished_verdict(&path, LIMIT);
    let id = path.file_stem().unwrap().to_str().unwrap().to_string();
    config.record_dir = Some(dir.clone());
    let server = TestServer::start_with(config).await;
    let driver = browser::start_chromedriver().expect("chromedriver");
    let profile = std::env::temp_dir().join(format!("tickwire-chrome-rp-{}", std::process::id()));
    let page = browser::session(&driver, &profile, 1000, 700)
        .await
        .expect("browser session");
    let result = replay_flow(&page, &server, &id).await;
    if let Ok(png) = page.screenshot().await {
        let _ = std::fs::write(
            tickwire_tests::workspace_root().join("target/browser-replay.png"),
            png,
        );
    }
    let _ = page.close().await;
    let _ = std::fs::remove_dir_all(&profile);
    result.expect("the replay page");
    server.shutdown().await.expect("clean shutdown");
    let _ = std::fs::remove_dir_all(&dir);
}
