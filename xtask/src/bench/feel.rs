//! `cargo xtask bench feel`: the netcode's feel in the goal's scenario (issue 20): 16
//! feel probes (`tickwire-bots --feel --crowd`: the browser's client core, 60 frames a
//! second) in combat in one room, each walking into the nearest enemy (pushing) and firing, each behind a link of 50 ms ± 10 ms each way (a round trip of
//! 100 ± 20 ms); then the same with a 200 ms stall every 2 s each way (about 10 % of the
//! snapshots delayed by it). Prints both runs' figures side by side with the server's
//! repeated and folded inputs (`/metrics`), and appends one JSON line per run.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use super::probe::{http_get, metric_sum};
use super::procs::{pinned, Procs};
use super::scenario::Kind;
use super::{scenario_map, BenchArgs, Setup};
use crate::util::root;

/// Players in the room.
const PLAYERS: usize = 16;
/// One-way latency and jitter, ms.
const LATENCY_MS: u64 = 50;
const JITTER_MS: u64 = 10;
/// The stall run: a stall this long this often, each way.
const STALL_MS: u64 = 200;
const STALL_EVERY_S: f64 = 2.0;

/// Whether `s` names this scenario.
pub fn is_feel(s: &str) -> bool {
    s == "feel"
}

/// Runs both feel runs.
pub fn run(args: &BenchArgs) -> Result<()> {
    if args.in_process || args.floor {
        bail!("bench feel runs over sockets only");
    }
    let root = root();
    let setup = Setup::new(args, &root)?;
    let n = args.n.unwrap_or(PLAYERS);
    let mut results = Vec::new();
    for (name, stall) in [("feel-combat", false), ("feel-combat-stall", true)] {
        let mut r = one(args, &root, &setup, n, stall)?;
        r["scenario"] = json!(format!("{name}-{n}"));
        results.push(r);
    }
    print_feel(&results);
    for mut r in results {
        super::provenance(&mut r, &root, setup.stamp);
        super::append_result(args, &root, &r)?;
    }
    Ok(())
}

/// One run: a fresh server, the probes, their JSON plus the server's input counters.
fn one(args: &BenchArgs, root: &Path, setup: &Setup, n: usize, stall: bool) -> Result<Value> {
    let map = scenario_map(root, Kind::Combat, n)?;
    let mut procs = Procs::default();
    let server = setup.start_server(&mut procs, n, |s| {
        s.arg("--map")
            .arg(&map)
            .args(["--max-players", &(n + 16).to_string()]);
    })?;
    let json_path = setup
        .dir()
        .join(format!("feel-{}-{}.json", u8::from(stall), setup.stamp));
    let _ = std::fs::remove_file(&json_path);
    let mut bots = pinned("1", setup.priority, &setup.bots_bin);
    bots.args(["--url", &format!("ws://{}/ws", server.addr)])
        .args(["--feel", "--count", &n.to_string()])
        .args(["--behavior", "chase", "--crowd"])
        .args(["--latency-ms", &LATENCY_MS.to_string()])
        .args(["--jitter-ms", &JITTER_MS.to_string()])
        .args(["--duration", &args.window.to_string()])
        .args(["--warmup", &args.warmup.to_string()])
        .args(["--seed", &args.seed.to_string()])
        .arg("--json")
        .arg(&json_path)
        .stdout(Stdio::inherit());
    if stall {
        bots.args(["--stall-every", &STALL_EVERY_S.to_string()])
            .args(["--stall-ms", &STALL_MS.to_string()]);
    }
    let m0 = http_get(&server.addr, "/metrics")?;
    let pid = procs.start("tickwire-bots", &mut bots)?;
    let limit = Instant::now() + Duration::from_secs(args.warmup + args.window + 60);
    while procs.running(pid)? {
        if Instant::now() > limit {
            bail!("the feel probes did not end within a minute of their window");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let m1 = http_get(&server.addr, "/metrics")?;
    procs.stop(server.pid)?;
    let mut r: Value = serde_json::from_str(
        &std::fs::read_to_string(&json_path)
            .with_context(|| format!("no feel report at {}", json_path.display()))?,
    )?;
    let diff = |name: &str| metric_sum(&m1, name) - metric_sum(&m0, name);
    r["server_inputs_repeated"] = json!(diff("tickwire_inputs_repeated_total"));
    r["server_inputs_folded"] = json!(diff("tickwire_inputs_folded_total"));
    r["machine_loadavg_at_start"] = json!(setup.load_at_start.trim());
    Ok(r)
}

/// A table row: its label and how a run's JSON shows in it.
type Row<'a> = (&'a str, &'a dyn Fn(&Value) -> String);

/// The two runs side by side.
fn print_feel(runs: &[Value]) {
    let rows: [Row<'_>; 11] = [
        ("probes joined / failed", &|r| {
            format!("{} / {}", r["joined"], r["failed"])
        }),
        ("mispredicted ticks % of living", &|r| {
            format!(
                "{} % ({} of {})",
                r["mispredicted_pct"], r["mispredicted_ticks"], r["living_ticks"]
            )
        }),
        ("correction p50 / p99 / max (u)", &|r| {
            format!(
                "{} / {} / {}",
                r["correction_p50"], r["correction_p99"], r["correction_max"]
            )
        }),
        ("visible jump p99 / max (u)", &|r| {
            format!("{} / {}", r["visible_jump_p99"], r["visible_jump_max"])
        }),
        ("teleports", &|r| r["teleports"].to_string()),
        ("underruns % of frames", &|r| r["underrun_pct"].to_string()),
        ("stalls % of frames", &|r| r["stall_pct"].to_string()),
        ("backward steps", &|r| r["backward_steps"].to_string()),
        ("snapshot age p50 / p99 (ms)", &|r| {
            format!(
                "{} / {}",
                r["snapshot_age_p50_ms"], r["snapshot_age_p99_ms"]
            )
        }),
        ("repeated / folded inputs (probes)", &|r| {
            format!("{} / {}", r["repeated_inputs"], r["folded_inputs"])
        }),
        ("repeated / folded inputs (server)", &|r| {
            format!(
                "{} / {}",
                r["server_inputs_repeated"], r["server_inputs_folded"]
            )
        }),
    ];
    let w = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    println!();
    let head: Vec<String> = runs
        .iter()
        .map(|r| format!("{:<30}", r["scenario"].as_str().unwrap_or("?")))
        .collect();
    println!("  {:<w$}  {}", "", head.join(""));
    for (k, f) in rows {
        let cells: Vec<String> = runs.iter().map(|r| format!("{:<30}", f(r))).collect();
        println!("  {k:<w$}  {}", cells.join(""));
    }
    println!(
        "  (link {LATENCY_MS} ms ± {JITTER_MS} ms each way; the second run adds a {STALL_MS} ms stall every {STALL_EVERY_S} s each way)"
    );
    println!();
}
