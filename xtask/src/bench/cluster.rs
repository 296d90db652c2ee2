//! `cluster-K` (`shared/docs/rooms.md`): K `tickwire-server` nodes sharing a redis-server
//! (`--redis`), all on CPU 0 with it; N bots (default 300) on CPU 1 matchmaking through
//! node 1 (`POST /matchmake/arena`). In order:
//!
//! 1. the single-process reference of the same sitting: one server without Redis, the same
//!    N bots through its matchmaker, its µs per player-tick over the window;
//! 2. the cluster: matchmaking throughput through Redis first (`bench/matchmake_rps.py`
//!    against node 1, `POST /matchmake/arena-big`, 16 at a time, 5 s; its reservations
//!    left to expire), then the bots: the arena rooms per node (`GET /rooms?mode=arena`), the CPU of every node summed and of redis-server over
//!    the window, the bots' matchmaking latency;
//! 3. node K killed (SIGKILL): `rebalance_s` until its rooms are gone from node 1's
//!    listing and every player plays again on the others, `players_lost` those that do not
//!    within 30 s.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use super::probe::{cpu_ticks, http_get};
use super::procs::{echo_bots, lines_of, pinned, wait_line, Procs};
use super::{round, BenchArgs, BotPlan, Setup};
use crate::redis;
use crate::util::root;

/// Bots when `--n` is not given.
const DEFAULT_BOTS: usize = 300;
/// How long the bots play on after the window (the node kill and the rebalance).
const REBALANCE_WAIT: Duration = Duration::from_secs(30);
/// The matchmaking throughput run.
const RPS_SECONDS: u64 = 5;
const RPS_CONCURRENCY: usize = 16;

/// `cluster-K`: K; `None` for a scenario of another kind.
pub fn parse(s: &str) -> Result<Option<usize>> {
    let Some(k) = s.strip_prefix("cluster-") else {
        return Ok(None);
    };
    match k.parse() {
        Ok(k) if (2..=8).contains(&k) => Ok(Some(k)),
        _ => bail!("unknown cluster scenario {s:?}: cluster-K with K from 2 to 8 (e.g. cluster-3)"),
    }
}

/// Runs `cluster-K`.
pub fn run(args: &BenchArgs, k: usize) -> Result<()> {
    if args.in_process || args.floor {
        bail!("cluster-K runs over sockets only");
    }
    redis::ensure()?;
    let root = root();
    let setup = Setup::new(args, &root)?;
    let n = args.n.unwrap_or(DEFAULT_BOTS);
    let probes = args.probes.unwrap_or(5).min(n);
    let scenario = format!("cluster-{k}");
    let plan = BotPlan {
        scenario: &scenario,
        n,
        behavior: "arena",
        probes,
        join: vec![
            "--count".into(),
            n.to_string(),
            "--mode".into(),
            "arena".into(),
        ],
    };

    // 1. The single-process reference.
    println!("==> single-process reference: {n} bots, one node, no Redis");
    let single_us = {
        let mut procs = Procs::default();
        let server = setup.start_server(&mut procs, n, |_| {})?;
        let bots = setup.start_bots(&mut procs, &server, &plan)?;
        let window = bots.window(&server, &setup)?;
        let report = bots.finish(&mut procs)?;
        procs.stop(server.pid)?;
        us_per_player_tick(window.server_cpu_pct, &report)
    };

    // 2. The cluster.
    println!("==> {k} nodes sharing a redis-server");
    let mut procs = Procs::default();
    let port = redis::free_port()?;
    let mut redis_cmd = pinned("0", setup.priority, Path::new("redis-server"));
    redis_cmd
        .args(redis::server_args(port))
        .stdout(Stdio::null());
    let redis_pid = procs.start("redis-server", &mut redis_cmd)?;
    redis::wait_ready(port)?;
    let redis_url = format!("redis://127.0.0.1:{port}/0");
    let mut nodes = Vec::new();
    for i in 1..=k {
        let id = format!("n{i}");
        nodes.push(setup.start_server(&mut procs, n, |s| {
            s.args(["--redis", &redis_url, "--secret", "bench-cluster"])
                .args(["--node-id", &id, "--seat-ttl", "5s"]);
        })?);
    }
    let rps = matchmake_rps(&root, &nodes[0].addr, &setup)?;
    // Its reservations expire (--seat-ttl 5s) before the bots come: the nodes' loads are
    // then their rooms only, not the seats the throughput run reserved.
    std::thread::sleep(Duration::from_secs(6));

    let json_path = setup
        .dir()
        .join(format!("bots-{scenario}-{}.json", setup.stamp));
    let a = &setup.args;
    let mut bots_cmd = pinned("1", setup.priority, &setup.bots_bin);
    bots_cmd
        .args(["--url", &format!("ws://{}/ws", nodes[0].addr)])
        .args(&plan.join)
        .args([
            "--duration",
            &(a.window + REBALANCE_WAIT.as_secs()).to_string(),
        ])
        .args(["--warmup", &a.warmup.to_string()])
        .args(["--ramp", &a.ramp.to_string()])
        .args(["--behavior", plan.behavior])
        .args(["--probes", &probes.to_string()])
        .args(["--seed", &a.seed.to_string()])
        .args(["--progress", "plain", "--json"])
        .arg(&json_path)
        .stdout(Stdio::piped());
    let bots_pid = procs.start("tickwire-bots", &mut bots_cmd)?;
    let lines = lines_of(procs.stdout(bots_pid)?);
    println!("bots pid {bots_pid}: {n} x arena through node n1 (CPU 1)");
    let to_window = Duration::from_secs_f64(n as f64 / a.ramp.max(1.0) + a.warmup as f64 + 60.0);
    wait_line(&lines, to_window, |l| {
        echo_bots(l).contains("window start").then_some(())
    })
    .context("the bots never started their window")?;
    let rooms_per_node = per_node(&nodes[0].addr)?;
    let pids: Vec<u32> = nodes.iter().map(|s| s.pid).collect();
    let cpu = |pids: &[u32]| -> Result<u64> { pids.iter().map(|p| cpu_ticks(*p)).sum() };
    let (n0, r0, t0) = (cpu(&pids)?, cpu_ticks(redis_pid)?, Instant::now());
    let window = Duration::from_secs(a.window);
    while t0.elapsed() < window {
        while let Ok(l) = lines.recv_timeout(Duration::from_millis(100)) {
            echo_bots(&l);
        }
    }
    let (n1, r1) = (cpu(&pids)?, cpu_ticks(redis_pid)?);
    let secs = t0.elapsed().as_secs_f64();
    let pct = |a: u64, b: u64| (b - a) as f64 / setup.clk_tck / secs * 100.0;
    let (nodes_cpu, redis_cpu) = (pct(n0, n1), pct(r0, r1));
    let players_before: u64 = per_node(&nodes[0].addr)?.values().map(|v| v.1).sum();

    // 3. Node K killed.
    let victim = nodes.last().expect("K >= 2");
    let victim_id = format!("n{k}");
    println!("==> kill -9 node {victim_id} (pid {})", victim.pid);
    procs.kill(victim.pid)?;
    let killed = Instant::now();
    let mut rebalance_s = None;
    let mut players_after = 0;
    while killed.elapsed() < REBALANCE_WAIT {
        while let Ok(l) = lines.recv_timeout(Duration::from_millis(100)) {
            echo_bots(&l);
        }
        let by = per_node(&nodes[0].addr)?;
        players_after = by.values().map(|v| v.1).sum();
        if !by.contains_key(&victim_id) && players_after >= players_before {
            rebalance_s = Some(killed.elapsed().as_secs_f64());
            break;
        }
    }
    let deadline = Instant::now() + REBALANCE_WAIT + Duration::from_secs(60);
    while procs.running(bots_pid)? {
        if Instant::now() > deadline {
            bail!("the bots did not stop");
        }
        while let Ok(l) = lines.recv_timeout(Duration::from_millis(100)) {
            echo_bots(&l);
        }
    }
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(&json_path)
            .with_context(|| format!("no bot report at {}", json_path.display()))?,
    )?;
    for s in &nodes[..k - 1] {
        procs.stop(s.pid)?;
    }
    procs.stop(redis_pid)?;

    let cluster_us = us_per_player_tick(nodes_cpu, &report);
    let result = json!({
        "scenario": scenario,
        "nodes": k,
        "n": n,
        "probes": probes,
        "window_s": round(secs, 2),
        "warmup_s": a.warmup,
        "realtime": a.realtime,
        "joined": report["joined"],
        "rooms_per_node": rooms_per_node.iter().map(|(k, v)| (k.clone(), v.0)).collect::<BTreeMap<_, _>>(),
        "players_per_node": rooms_per_node.iter().map(|(k, v)| (k.clone(), v.1)).collect::<BTreeMap<_, _>>(),
        "matchmake_ms": report["matchmake_ms"],
        "matchmake_rps": rps["rps"],
        "matchmake_rps_ms": {"p50": rps["p50"], "p99": rps["p99"]},
        "nodes_cpu_pct": round(nodes_cpu, 2),
        "redis_cpu_pct": round(redis_cpu, 2),
        "us_per_player_tick": round(cluster_us, 3),
        "single_process_us_per_player_tick": round(single_us, 3),
        "ratio_to_single": round(cluster_us / single_us, 2),
        "rebalance_s": rebalance_s.map(|s| round(s, 2)),
        "players_lost": players_before.saturating_sub(players_after),
        "rejoins": report["rejoins"],
        "desyncs": report["desyncs"],
        "disconnects": report["disconnects"],
        "errors": report["errors"],
        "rtt_ms": report["rtt_ms"],
    });
    setup.finish(args, &root, result, print_cluster)
}

/// µs of server CPU per player-tick: CPU time / (players x ticks).
fn us_per_player_tick(cpu_pct: f64, report: &Value) -> f64 {
    let tick_hz = report["tick_hz"].as_f64().unwrap_or(30.0);
    let joined = report["joined"].as_f64().unwrap_or(0.0);
    if joined > 0.0 {
        cpu_pct / 100.0 * 1e6 / (tick_hz * joined)
    } else {
        f64::NAN
    }
}

/// `GET /rooms?mode=arena` on `addr` (the bots' rooms, not the throughput run's): (rooms,
/// players) by node.
fn per_node(addr: &str) -> Result<BTreeMap<String, (u64, u64)>> {
    let rooms: Value =
        serde_json::from_str(&http_get(addr, "/rooms?mode=arena")?).context("/rooms")?;
    let mut by = BTreeMap::new();
    for r in rooms.as_array().into_iter().flatten() {
        let e = by
            .entry(r["node"].as_str().unwrap_or("?").to_owned())
            .or_insert((0, 0));
        e.0 += 1;
        e.1 += r["players"].as_u64().unwrap_or(0);
    }
    Ok(by)
}

/// Matchmaking through Redis: `bench/matchmake_rps.py` against `addr` on CPU 1.
fn matchmake_rps(root: &Path, addr: &str, setup: &Setup) -> Result<Value> {
    let (host, port) = addr.rsplit_once(':').context("host:port")?;
    let mut c = pinned("1", setup.priority, Path::new("python3"));
    c.arg(root.join("bench/matchmake_rps.py"))
        .args([
            host,
            port,
            &RPS_SECONDS.to_string(),
            &RPS_CONCURRENCY.to_string(),
        ])
        .arg("arena-big");
    let out = c.output().context("python3 bench/matchmake_rps.py")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    println!("matchmaking through Redis: {}", text.trim());
    // "reservations R, refused F, S s: X per second; latency p50 A ms, p99 B ms"
    let num_after = |key: &str| -> Value {
        text.split(key)
            .nth(1)
            .and_then(|t| t.split_whitespace().next())
            .and_then(|v| v.trim_end_matches([',', ';']).parse::<f64>().ok())
            .map_or(Value::Null, |v| json!(v))
    };
    let rps = text
        .split(" per second")
        .next()
        .and_then(|t| t.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok());
    Ok(
        json!({"rps": rps, "p50": num_after("p50 "), "p99": num_after("p99 "), "refused": num_after("refused ")}),
    )
}

fn print_cluster(r: &Value) {
    let rows = [
        (
            "scenario",
            format!("{} ({} bots through node n1)", r["scenario"], r["n"]),
        ),
        ("nodes", r["nodes"].to_string()),
        ("rooms per node", r["rooms_per_node"].to_string()),
        ("players per node", r["players_per_node"].to_string()),
        (
            "matchmake_ms (bots, through Redis)",
            format!(
                "p50 {} / p99 {}",
                r["matchmake_ms"]["p50"], r["matchmake_ms"]["p99"]
            ),
        ),
        (
            "matchmaking req/s (16 at a time)",
            format!(
                "{} (p50 {} / p99 {} ms)",
                r["matchmake_rps"], r["matchmake_rps_ms"]["p50"], r["matchmake_rps_ms"]["p99"]
            ),
        ),
        (
            "CPU: nodes summed / redis",
            format!(
                "{} % / {} % of one core",
                r["nodes_cpu_pct"], r["redis_cpu_pct"]
            ),
        ),
        (
            "us per player-tick: cluster / one process",
            format!(
                "{} / {} ({}x)",
                r["us_per_player_tick"],
                r["single_process_us_per_player_tick"],
                r["ratio_to_single"]
            ),
        ),
        ("rebalance_s (after kill -9)", r["rebalance_s"].to_string()),
        (
            "players_lost / rejoins",
            format!("{} / {}", r["players_lost"], r["rejoins"]),
        ),
        (
            "desyncs / disconnects / errors",
            format!("{} / {} / {}", r["desyncs"], r["disconnects"], r["errors"]),
        ),
    ];
    let w = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    println!();
    for (k, v) in rows {
        println!("  {k:<w$}  {v}");
    }
    println!();
}
