//! The bot swarm's HTML report (`tickwire-bots --out DIR`) in a real headless Chromium:
//! a scenario run against a real server on 127.0.0.1 port 0, its report written as the
//! CLI writes it, then opened from disk (no network): it renders, it has its plots (SVG
//! with lines), the pass/fail lines and the summary, and the console has no errors.

use std::time::Duration;

use fantoccini::Locator;
use serde_json::Value;
use tickwire_bots::brain::Behavior;
use tickwire_bots::html;
use tickwire_bots::link::LinkConfig;
use tickwire_bots::scenario::{Profile, Shape, Stage, Stages};
use tickwire_bots::swarm::{self, SwarmConfig};
use tickwire_bots::verdict::Outcome;
use tickwire_tests::browser::{self, BrowserLog};
use tickwire_tests::{workspace_root, TestServer};

fn stage(name: &str, duration: f64, bots: usize, shape: Shape) -> Stage {
    Stage {
        name: name.into(),
        duration,
        bots,
        shape,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_html_report_renders_its_plots_in_chromium() {
    if tickwire_tests::browser::skipped() {
        return;
    }
    let server = TestServer::start().await;
    // A small smoke.toml: ramp up, hold, spike, ramp down; a behaviour mix and a far link.
    let mut config = SwarmConfig::new(server.ws_url(), 16, Duration::ZERO);
    config.name = Some("smoke".into());
    config.stages = Some(Stages::new(vec![
        stage("ramp up", 3.0, 8, Shape::Linear),
        stage("hold", 3.0, 8, Shape::Linear),
        stage("spike", 2.0, 16, Shape::Step),
        stage("ramp down", 2.0, 0, Shape::Linear),
    ]));
    let far = LinkConfig {
        latency: Duration::from_millis(40),
        jitter: Duration::from_millis(10),
        bandwidth_bps: None,
        ..LinkConfig::default()
    };
    config.groups = vec![
        Profile::new("wanderers", 70.0, Behavior::Wander, LinkConfig::default()),
        Profile::new("hunters on a far link", 20.0, Behavior::Chase, far),
        Profile::new("idle", 10.0, Behavior::Idle, LinkConfig::default()),
    ];
    config.thresholds.max_join_errors = Some(0);
    config.thresholds.max_disconnects = Some(0);
    config.thresholds.min_snapshot_rate = Some(1.0);
    let report = swarm::run(config).await.expect("valid config");
    // Every threshold passes; on a machine too busy for the bots' own schedule the harness
    // says so (INVALID) instead of PASS, and the report must show that verdict just the same.
    let verdict = match report.outcome {
        Outcome::Pass => "PASS",
        Outcome::Invalid => "INVALID",
        other => panic!("{other:?}\n{}", report.table()),
    };
    server.shutdown().await.expect("clean shutdown");

    let dir = std::env::temp_dir().join(format!("tickwire-report-{}", std::process::id()));
    let files = html::write_dir(&dir, &report).expect("write the report");
    let page_path = files.last().expect("report.html").clone();

    let driver = browser::start_chromedriver().expect("chromedriver");
    let profile = std::env::temp_dir().join(format!("tickwire-chrome-b{}", std::process::id()));
    let page = browser::session(&driver, &profile, 1100, 1400)
        .await
        .expect("browser session");
    let checked = async {
        page.goto(&format!("file://{}", page_path.display()))
            .await?;
        let h1 = page.find(Locator::Css("h1")).await?.text().await?;
        assert!(h1.contains("smoke") && h1.contains(verdict), "{h1}");
        // Five plots, each drawn (with a size) and holding lines.
        let plots = page
            .execute(
                "return [...document.querySelectorAll('figure svg')].map(s => {
                   const r = s.getBoundingClientRect();
                   return { w: r.width, h: r.height,
                            lines: s.querySelectorAll('polyline').length,
                            title: s.querySelector('.title').textContent };
                 });",
                vec![],
            )
            .await?;
        let plots = plots.as_array().expect("a list").clone();
        assert_eq!(plots.len(), 5, "{plots:?}");
        for p in &plots {
            assert!(
                p["w"].as_f64() > Some(200.0) && p["h"].as_f64() > Some(80.0),
                "{p}"
            );
            assert!(p["lines"].as_u64() >= Some(1), "{p}");
        }
        let titles: Vec<&str> = plots.iter().filter_map(|p| p["title"].as_str()).collect();
        for t in ["Bots connected", "Input round trip", "Bytes", "Failures"] {
            assert!(titles.iter().any(|x| x.starts_with(t)), "{t} in {titles:?}");
        }
        let body = page.find(Locator::Css("body")).await?.text().await?;
        for text in [
            "PASS max-join-errors: 0 <= 0",
            "PASS min-snapshot-rate",
            "bots joined",
            "input RTT p50",
            "hunters on a far link",
            "spike",
        ] {
            assert!(body.contains(text), "{text:?} in the page");
        }
        // No script errors, no failed loads (it loads nothing).
        let logs = page.issue_cmd(BrowserLog).await?;
        let severe: Vec<&Value> = logs
            .as_array()
            .map(|a| a.iter().filter(|e| e["level"] == "SEVERE").collect())
            .unwrap_or_default();
        assert!(severe.is_empty(), "console errors: {severe:?}");
        let resources = page
            .execute(
                "return performance.getEntriesByType('resource').length;",
                vec![],
            )
            .await?;
        assert_eq!(resources, 0, "the report loads nothing");
        if let Ok(png) = page.screenshot().await {
            let out = workspace_root().join("target").join("bots-report.png");
            let _ = std::fs::write(&out, png);
            eprintln!("screenshot: {}", out.display());
        }
        anyhow::Ok(())
    }
    .await;
    let _ = page.close().await;
    drop(driver);
    let _ = std::fs::remove_dir_all(&profile);
    let _ = std::fs::remove_dir_all(&dir);
    checked.expect("the report in Chromium");
}
