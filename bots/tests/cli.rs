//! The real `tickwire-bots` binary against a real server (in this process, on 127.0.0.1
//! port 0): 20 bots for a few seconds, then the JSON report is checked.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::oneshot;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("bots/ has a parent")
        .to_path_buf()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_bots_join_play_and_report_json() {
    let config = tickwire_server::Config {
        assets: workspace_root().join("assets"),
        ..tickwire_server::Config::default()
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(tickwire_server::run(listener, config, async move {
        let _ = stopped.await;
    }));

    let json = std::env::temp_dir().join(format!("tickwire-bots-cli-{}.json", std::process::id()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_tickwire-bots"))
        .args([
            "--url",
            &format!("ws://{addr}/ws"),
            "--count",
            "20",
            "--duration",
            "3",
        ])
        .args([
            "--ramp",
            "100",
            "--behavior",
            "chase",
            "--progress",
            "plain",
            "--json",
        ])
        .arg(&json)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start tickwire-bots");
    // Bounded poll for the process to finish by itself.
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("tickwire-bots did not stop by itself within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let stdout = {
        use std::io::Read;
        let mut s = String::new();
        child
            .stdout
            .take()
            .expect("piped")
            .read_to_string(&mut s)
            .expect("read stdout");
        s
    };
    assert!(status.success(), "tickwire-bots failed: {status}\n{stdout}");
    assert!(
        stdout.contains("window start") && stdout.contains("window end"),
        "{stdout}"
    );
    assert!(
        stdout.contains("input RTT"),
        "human table printed:\n{stdout}"
    );

    let text = std::fs::read_to_string(&json).expect("JSON report written");
    let _ = std::fs::remove_file(&json);
    let r: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    let num = |k: &str| {
        r[k].as_f64()
            .unwrap_or_else(|| panic!("{k} missing in {text}"))
    };
    assert_eq!(num("joined"), 20.0, "{text}");
    assert_eq!(num("count"), 20.0);
    assert_eq!(num("errors"), 0.0, "{text}");
    assert_eq!(num("desyncs"), 0.0, "{text}");
    assert_eq!(num("disconnects"), 0.0, "{text}");
    assert_eq!(r["behavior"], "chase");
    assert_eq!(num("tick_hz"), 30.0);
    for k in ["p50", "p90", "p99", "max"] {
        let v = r["rtt_ms"][k]
            .as_f64()
            .unwrap_or_else(|| panic!("rtt_ms.{k} in {text}"));
        assert!(v > 0.0 && v < 5_000.0, "rtt_ms.{k} = {v}");
    }
    for k in [
        "bytes_down_per_client_per_s",
        "bytes_up_per_client_per_s",
        "snapshots_per_client_per_s",
        "inputs_per_bot_per_s",
    ] {
        let v = num(k);
        assert!(v.is_finite() && v > 0.0, "{k} = {v}");
    }
    // Generous sanity bounds: nothing near these is plausible at 30 Hz for 20 players.
    assert!(num("bytes_down_per_client_per_s") < 1e7);
    assert!(num("bytes_up_per_client_per_s") < 1e5);
    assert!(num("snapshots_per_client_per_s") <= 60.0);
    assert!(num("inputs_per_bot_per_s") <= 60.0);

    let _ = stop.send(());
    server.await.expect("server task").expect("clean shutdown");
}
