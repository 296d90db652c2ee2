//! The real `tickwire-bots` binary against a real server (in this process, on 127.0.0.1
//! port 0): a clean run and its JSON, thresholds and exit codes, no server, a server that
//! goes away mid-run, SIGTERM; a scenario file's stages followed, and `--out`'s summary,
//! time series and HTML report.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Bound of every wait here.
const LIMIT: Duration = Duration::from_secs(60);

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("bots/ has a parent")
        .to_path_buf()
}

/// A server in this process on port 0, stopped through the sender.
struct Server {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), tickwire_server::ServerError>>,
}

async fn start_server() -> Server {
    let config = tickwire_server::Config {
        assets: workspace_root().join("assets"),
        ..tickwire_server::Config::default()
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(tickwire_server::run(listener, config, async move {
        let _ = stopped.await;
    }));
    Server { addr, stop, task }
}

impl Server {
    fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    async fn shutdown(self) {
        let _ = self.stop.send(());
        self.task
            .await
            .expect("server task")
            .expect("clean shutdown");
    }
}

/// A running `tickwire-bots`, its stdout read line by line.
struct Bots {
    child: Child,
    lines: mpsc::Receiver<String>,
    out: String,
}

fn bots(args: &[&str]) -> Bots {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tickwire-bots"))
        .args(["--progress", "plain"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tickwire-bots");
    let (tx, lines) = mpsc::channel();
    for pipe in [
        Box::new(child.stdout.take().expect("piped")) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().expect("piped")),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
    }
    Bots {
        child,
        lines,
        out: String::new(),
    }
}

impl Bots {
    /// Reads output until a line contains `what` (bounded).
    fn wait_line(&mut self, what: &str) {
        let deadline = Instant::now() + LIMIT;
        while Instant::now() < deadline {
            if let Ok(line) = self.lines.recv_timeout(Duration::from_millis(100)) {
                self.out.push_str(&line);
                self.out.push('\n');
                if line.contains(what) {
                    return;
                }
            }
        }
        let _ = self.child.kill();
        panic!("no line with {what:?} within {LIMIT:?}:\n{}", self.out);
    }

    /// Waits (bounded) for the process to exit by itself; its status and whole output.
    async fn wait_exit(mut self) -> (ExitStatus, String) {
        let deadline = Instant::now() + LIMIT;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("tickwire-bots did not stop by itself:\n{}", self.out);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        // The readers end with the pipes.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.out.push_str(&line);
            self.out.push('\n');
        }
        (status, self.out)
    }
}

fn temp_json(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("tickwire-bots-{name}-{}.json", std::process::id()))
}

fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).expect("JSON report written");
    let _ = std::fs::remove_file(path);
    serde_json::from_str(&text).expect("valid JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_bots_join_play_pass_their_thresholds_and_report_json() {
    let server = start_server().await;
    let json = temp_json("clean");
    let url = server.url();
    let run = bots(&[
        "--url",
        &url,
        "--count",
        "20",
        "--duration",
        "3",
        "--ramp",
        "100",
        "--behavior",
        "chase",
        "--max-join-errors",
        "0",
        "--max-disconnects",
        "0",
        "--min-snapshot-rate",
        "1",
        "--json",
        json.to_str().expect("utf-8"),
    ]);
    let (status, stdout) = run.wait_exit().await;
    assert_eq!(status.code(), Some(0), "{stdout}");
    for line in [
        "window start",
        "window end",
        "input RTT",
        "PASS max-join-errors: 0 <= 0",
        "PASS max-disconnects: 0 <= 0",
        "PASS max-desyncs: 0 <= 0",
        "PASS min-snapshot-rate",
        "result: PASS (exit 0)",
    ] {
        assert!(stdout.contains(line), "{line:?} in:\n{stdout}");
    }

    let r = read_json(&json);
    let num = |k: &str| {
        r[k].as_f64()
            .unwrap_or_else(|| panic!("{k} missing in {r}"))
    };
    assert_eq!(r["outcome"], "pass");
    assert_eq!(r["checks"].as_array().map(Vec::len), Some(4), "{r}");
    assert_eq!(num("joined"), 20.0, "{r}");
    assert_eq!(num("count"), 20.0);
    assert_eq!(num("errors"), 0.0, "{r}");
    assert_eq!(num("desyncs"), 0.0, "{r}");
    assert_eq!(num("disconnects"), 0.0, "{r}");
    assert_eq!(r["failures"], serde_json::json!({}));
    assert_eq!(r["harness"]["valid"], true, "{r}");
    assert_eq!(r["behavior"], "chase");
    assert_eq!(num("tick_hz"), 30.0);
    // 20 bots: every one decodes (the default for small swarms).
    assert_eq!(num("decoding_bots"), 20.0);
    for k in ["p50", "p90", "p99", "max"] {
        let v = r["rtt_ms"][k]
            .as_f64()
            .unwrap_or_else(|| panic!("rtt_ms.{k} in {r}"));
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
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_threshold_breach_exits_1_and_says_which() {
    let server = start_server().await;
    let json = temp_json("breach");
    let url = server.url();
    // 30 Hz: a thousand snapshots a second cannot be met.
    let run = bots(&[
        "--url",
        &url,
        "--count",
        "3",
        "--duration",
        "1",
        "--min-snapshot-rate",
        "1000",
        "--max-disconnects",
        "0",
        "--json",
        json.to_str().expect("utf-8"),
    ]);
    let (status, stdout) = run.wait_exit().await;
    assert_eq!(status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAIL min-snapshot-rate"), "{stdout}");
    assert!(stdout.contains("PASS max-disconnects"), "{stdout}");
    let r = read_json(&json);
    assert_eq!(r["outcome"], "fail");
    let failed: Vec<&str> = r["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["pass"] == false)
        .map(|c| c["name"].as_str().expect("name"))
        .collect();
    assert_eq!(failed, ["min-snapshot-rate"]);
    server.shutdown().await;
}

#[tokio::test]
async fn no_server_fails_at_once_with_exit_3_and_says_so() {
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let json = temp_json("unreachable");
    let url = format!("ws://127.0.0.1:{port}/ws");
    // A whole minute asked for: the run must not wait it out.
    let run = bots(&[
        "--url",
        &url,
        "--count",
        "5",
        "--duration",
        "600",
        "--json",
        json.to_str().expect("utf-8"),
    ]);
    let (status, out) = run.wait_exit().await;
    assert_eq!(status.code(), Some(3), "{out}");
    assert!(out.contains("cannot reach the server"), "{out}");
    assert!(
        !out.contains("window start"),
        "no window was measured:\n{out}"
    );
    let r = read_json(&json);
    assert_eq!(r["outcome"], "unreachable");
    assert_eq!(r["joined"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_gone_mid_run_stops_the_run_early_with_exit_4() {
    let server = start_server().await;
    let json = temp_json("gone");
    let url = server.url();
    let mut run = bots(&[
        "--url",
        &url,
        "--count",
        "5",
        "--duration",
        "600",
        "--json",
        json.to_str().expect("utf-8"),
    ]);
    run.wait_line("window start");
    server.shutdown().await;
    let (status, out) = run.wait_exit().await;
    assert_eq!(status.code(), Some(4), "{out}");
    assert!(out.contains("STOPPED EARLY"), "{out}");
    let r = read_json(&json);
    assert_eq!(r["outcome"], "server_gone");
    let why = r["stop_reason"].as_str().expect("a reason");
    assert!(
        why.contains("ShuttingDown"),
        "the server's close reason: {why}"
    );
    assert_eq!(r["joined"], 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_still_writes_the_report_and_exits_143() {
    let server = start_server().await;
    let json = temp_json("sigterm");
    let url = server.url();
    let mut run = bots(&[
        "--url",
        &url,
        "--count",
        "4",
        "--duration",
        "600",
        "--json",
        json.to_str().expect("utf-8"),
    ]);
    run.wait_line("window start");
    let pid = run.child.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let (status, out) = run.wait_exit().await;
    assert_eq!(status.code(), Some(143), "{out}");
    assert!(out.contains("result: INTERRUPTED"), "{out}");
    let r = read_json(&json);
    assert_eq!(r["outcome"], "interrupted");
    assert_eq!(r["interrupted"], true);
    assert_eq!(r["joined"], 4);
    server.shutdown().await;
}

#[test]
fn bad_flags_are_refused_before_anything_starts() {
    for (args, says) in [
        (vec!["--latency-ms", "1000000000000"], "--latency-ms"),
        (
            vec!["--json", "/nonexistent/dir/x.json"],
            "cannot write there",
        ),
        (vec!["--drop-every", "0.01"], "--drop-every"),
        (vec!["--rtt-p99-ms=-3"], "--rtt-p99-ms"),
        (
            vec!["--out", "/proc/no-such-dir"],
            "--out /proc/no-such-dir",
        ),
        (vec!["--scenario", "/nonexistent.toml"], "cannot read"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_tickwire-bots"))
            .args(&args)
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tickwire-bots-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scenario_is_followed_stage_by_stage_and_out_writes_the_report() {
    let server = start_server().await;
    let dir = temp_dir("scenario");
    std::fs::create_dir_all(&dir).expect("temp dir");
    let scenario = dir.join("two-levels.toml");
    // Two levels, each held long enough to be seen in whole seconds of the series; a
    // behaviour mix with a far link; a threshold the command line overrides.
    std::fs::write(
        &scenario,
        r#"
name = "two levels"

[[stages]]
name = "four"
duration = 4
bots = 4
shape = "step"

[[stages]]
name = "eight"
duration = 4
bots = 8
shape = "step"

[[groups]]
share = 3
behavior = "wander"

[[groups]]
share = 1
behavior = "idle"
latency-ms = 30

[thresholds]
max-join-errors = 0
max-disconnects = 0
min-snapshot-rate = 1000
"#,
    )
    .expect("write the scenario");
    let out = dir.join("out");
    let url = server.url();
    let run = bots(&[
        "--url",
        &url,
        "--scenario",
        scenario.to_str().expect("utf-8"),
        "--min-snapshot-rate",
        "1",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    let (status, stdout) = run.wait_exit().await;
    assert_eq!(status.code(), Some(0), "{stdout}");
    for line in [
        "stage four: 4 bots",
        "stage eight: 8 bots",
        "PASS max-join-errors: 0 <= 0",
        "PASS min-snapshot-rate",
        "report.html",
    ] {
        assert!(stdout.contains(line), "{line:?} in:\n{stdout}");
    }

    // The summary: as --json writes it, with the stages and groups.
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).expect("summary"))
            .expect("JSON");
    assert_eq!(summary["outcome"], "pass", "{summary}");
    assert_eq!(summary["name"], "two levels");
    assert_eq!(summary["count"], 8, "peak");
    assert_eq!(summary["joined"], 8, "{summary}");
    assert_eq!(summary["stages"].as_array().map(Vec::len), Some(2));
    assert_eq!(summary["groups"][1]["behavior"], "idle");
    assert_eq!(summary["groups"][1]["latency_ms"], 30);
    assert_eq!(summary["disconnects"], 0);

    // The series: one row a second; both levels held, in order, never above the target.
    let text = std::fs::read_to_string(out.join("series.jsonl")).expect("series");
    let rows: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert!(rows.len() >= 7, "{text}");
    let at = |phase: &str, n: i64| {
        rows.iter()
            .position(|r| r["phase"] == phase && r["connected"] == n && r["target"] == n)
    };
    let four = at("four", 4).unwrap_or_else(|| panic!("4 bots in stage four:\n{text}"));
    let eight = at("eight", 8).unwrap_or_else(|| panic!("8 bots in stage eight:\n{text}"));
    assert!(four < eight, "{text}");
    for r in &rows {
        assert!(r["connected"].as_i64() <= Some(8), "{r}");
        if r["phase"] == "four" {
            assert!(r["connected"].as_i64() <= Some(4), "{r}");
        }
        for k in ["t", "snapshots_per_s", "bytes_down_per_s", "bytes_up_per_s"] {
            assert!(r[k].as_f64().is_some(), "{k} in {r}");
        }
    }
    let joins: u64 = rows.iter().filter_map(|r| r["joins"].as_u64()).sum();
    assert_eq!(joins, 8, "{text}");
    assert!(
        rows.iter().any(|r| r["rtt_p99_ms"].as_f64().is_some()),
        "{text}"
    );
    assert!(rows
        .iter()
        .any(|r| r["snapshots_per_s"].as_f64() > Some(0.0)));

    // The same rows as CSV.
    let csv = std::fs::read_to_string(out.join("series.csv")).expect("csv");
    assert!(csv.starts_with("t,phase,target,connected,joins,"), "{csv}");
    assert_eq!(csv.lines().count(), rows.len() + 1);

    // The HTML: self-contained (no script, nothing fetched), five plots with lines.
    let html = std::fs::read_to_string(out.join("report.html")).expect("html");
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_eq!(html.matches("<svg").count(), 5);
    assert!(html.matches("<polyline").count() >= 5);
    for absent in ["<script", "src=", "href=", "@import"] {
        assert!(!html.contains(absent), "{absent} in the report");
    }
    for present in ["two levels", "PASS min-snapshot-rate: ", "four", "eight"] {
        assert!(html.contains(present), "{present} in the report");
    }
    let _ = std::fs::remove_dir_all(&dir);
    server.shutdown().await;
}

#[test]
fn a_scenario_file_with_an_unknown_key_or_no_bots_is_refused() {
    let dir = temp_dir("bad-scenario");
    std::fs::create_dir_all(&dir).expect("temp dir");
    for (text, says) in [
        ("[[stages]]\nduration = 1\nbot = 3\n", "unknown field `bot`"),
        ("[[stages]]\nduration = 0\nbots = 3\n", "stage 1: duration"),
        ("[[stages]]\nduration = 2\nbots = 0\n", "bots > 0"),
        (
            "[[stages]]\nduration = 2\nbots = 2\n[[groups]]\nshare = 0\n",
            "group 1: share",
        ),
    ] {
        let path = dir.join("bad.toml");
        std::fs::write(&path, text).expect("write");
        let out = Command::new(env!("CARGO_BIN_EXE_tickwire-bots"))
            .args(["--scenario", path.to_str().expect("utf-8")])
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text}: {err}");
        assert!(err.contains(says), "{says:?} for {text:?}: {err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
