//! The rooms scenarios of `shared/docs/rooms.md`:
//!
//! - `rooms-RxP`: R rooms of the arena mode with P bots each, seated through the rooms API
//!   (`tickwire-bots --mode arena --rooms R --per-room P`); the keys of every socket run
//!   plus `rooms`, `per_room`, `us_per_player_tick`, `rss_per_room_kb`, `matchmake_ms`,
//!   `rooms_failed`. The arena mode plays on the map of arena-N (so that µs per
//!   player-tick compares with arena-N's).
//! - `rooms-churn`: for 60 s, waves of bot processes each create [`CHURN_ROOMS`] rooms,
//!   play in them for [`CHURN_HOLD_S`] s and leave; rooms empty for 2 s are disposed.
//!   Reports rooms created and disposed, RSS at 10 s and at the end, open descriptors
//!   before and after, matchmaking latency.
//! - `rooms-idle --n N`: N rooms created with nobody in them (an hour's `empty_ttl`), the
//!   server's RSS growth / N (`rss_per_idle_room_kb`) and the CPU they take.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use super::probe::{cpu_ticks, http_get, http_request, metric_sum, open_fds, rss_kb};
use super::procs::{pinned, Procs};
use super::scenario::Kind;
use super::{print_table, round, scenario_map, BenchArgs, BotPlan, Setup};
use crate::util::root;

/// rooms-churn: how long waves are started.
const CHURN_S: u64 = 60;
/// rooms-churn: rooms each wave creates.
const CHURN_ROOMS: usize = 20;
/// rooms-churn: bots in each room.
const CHURN_PER_ROOM: usize = 4;
/// rooms-churn: seconds each wave plays.
const CHURN_HOLD_S: u64 = 3;
/// rooms-churn: waves at most (each takes more than a second).
const CHURN_MAX_WAVES: usize = 60;
/// rooms-churn: how long a room lives empty.
const CHURN_EMPTY_TTL: &str = "2s";
/// rooms-idle: rooms created when `--n` is not given.
const IDLE_ROOMS: usize = 1000;
/// Rooms this many seconds old count as settled (their history ring full at 30 Hz).
const SETTLE: Duration = Duration::from_secs(5);

/// A rooms scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// `rooms-RxP`.
    Rooms { rooms: usize, per_room: usize },
    /// `rooms-churn`.
    Churn,
    /// `rooms-idle` (`--n` rooms).
    Idle,
}

/// `rooms-250x8`, `rooms-churn`, `rooms-idle`; `None` for a scenario of another kind.
pub fn parse(s: &str) -> Result<Option<Scenario>> {
    let Some(rest) = s.strip_prefix("rooms-") else {
        return Ok(None);
    };
    Ok(Some(match rest {
        "churn" => Scenario::Churn,
        "idle" => Scenario::Idle,
        _ => {
            let parsed = rest
                .split_once('x')
                .and_then(|(r, p)| Some((r.parse().ok()?, p.parse().ok()?)));
            match parsed {
                Some((rooms, per_room)) if rooms > 0 && per_room > 0 && rooms * per_room <= 20_000 => {
                    Scenario::Rooms { rooms, per_room }
                }
                _ => bail!("unknown rooms scenario {s:?}: rooms-RxP (e.g. rooms-250x8), rooms-churn or rooms-idle"),
            }
        }
    }))
}

/// Runs a rooms scenario.
pub fn run(args: &BenchArgs, scenario: &Scenario) -> Result<()> {
    if args.in_process || args.floor {
        bail!("the rooms scenarios run over sockets only");
    }
    let root = root();
    let setup = Setup::new(args, &root)?;
    match scenario {
        Scenario::Rooms { rooms, per_room } => rooms_rxp(args, &root, &setup, *rooms, *per_room),
        Scenario::Churn => churn(args, &root, &setup),
        Scenario::Idle => idle(args, &root, &setup, args.n.unwrap_or(IDLE_ROOMS)),
    }
}

fn rooms_rxp(
    args: &BenchArgs,
    root: &Path,
    setup: &Setup,
    rooms: usize,
    per_room: usize,
) -> Result<()> {
    let n = rooms * per_room;
    let scenario = format!("rooms-{rooms}x{per_room}");
    let map = scenario_map(root, Kind::Arena, n)?;
    let mut procs = Procs::default();
    // The arena mode is the default mode: --map and --max-players apply to it.
    let server = setup.start_server(&mut procs, n, |s| {
        s.arg("--map")
            .arg(&map)
            .args(["--max-rooms", &(rooms + 16).to_string()]);
        if per_room > 16 {
            s.args(["--max-players", &per_room.to_string()]);
        }
    })?;
    let rss_base_kb = rss_kb(server.pid)?;
    // One probe per room (the first bot of each): views of a few players decode cheaply.
    let probes = args.probes.unwrap_or(rooms).min(n);
    let bots = setup.start_bots(
        &mut procs,
        &server,
        &BotPlan {
            scenario: &scenario,
            n,
            behavior: "arena",
            probes,
            join: ["--mode", "arena", "--rooms", &rooms.to_string()]
                .into_iter()
                .map(str::to_owned)
                .chain(["--per-room".to_owned(), per_room.to_string()])
                .collect(),
        },
    )?;
    let window = bots.window(&server, setup)?;
    let report = bots.finish(&mut procs)?;
    let metrics = http_get(&server.addr, "/metrics")?;
    procs.stop(server.pid)?;

    let mut result = setup.result(&scenario, n, probes, &window, &report);
    let listed = window.rooms.as_array().cloned().unwrap_or_default();
    let full = listed
        .iter()
        .filter(|r| r["players"].as_u64() == Some(per_room as u64))
        .count();
    let rss_kb_end = window.rss_mb * 1024.0;
    let extra = json!({
        "rooms": rooms,
        "per_room": per_room,
        "map": map.file_name().map(|f| f.to_string_lossy().into_owned()),
        "server_rss_base_mb": round(rss_base_kb as f64 / 1024.0, 1),
        "rss_per_room_kb": round((rss_kb_end - rss_base_kb as f64) / rooms as f64, 1),
        "matchmake_ms": latency(&report["matchmake_ms"]),
        "matchmake_errors": report["matchmake_errors"],
        "rooms_joined": report["rooms_joined"],
        "rooms_listed": listed.len(),
        "rooms_listed_full": full,
        "rooms_created": metric_sum(&metrics, "tickwire_rooms_created_total"),
        "rooms_failed": metric_sum(&metrics, "tickwire_rooms_failed_total"),
    });
    merge(&mut result, extra);
    setup.finish(args, root, result, |r| {
        print_table(r);
        print_flat(
            r,
            &[
                "rooms",
                "per_room",
                "rooms_joined",
                "rooms_listed_full",
                "rss_per_room_kb",
                "matchmake_ms",
                "matchmake_errors",
                "rooms_failed",
            ],
        );
    })
}

fn churn(args: &BenchArgs, root: &Path, setup: &Setup) -> Result<()> {
    let modes = write_modes(setup.dir(), "churn", CHURN_EMPTY_TTL)?;
    let mut procs = Procs::default();
    let wave_bots = CHURN_ROOMS * CHURN_PER_ROOM;
    let server = setup.start_server(&mut procs, 2 * wave_bots, |s| {
        s.arg("--modes").arg(&modes).args(["--max-rooms", "1000"]);
    })?;
    let (fds_before, cpu0) = (open_fds(server.pid)?, cpu_ticks(server.pid)?);
    let t0 = Instant::now();
    let mut rss_at_10s = None;
    let mut waves: Vec<Value> = Vec::new();
    while t0.elapsed() < Duration::from_secs(CHURN_S) && waves.len() < CHURN_MAX_WAVES {
        let json = setup
            .dir()
            .join(format!("bots-rooms-churn-{}.json", waves.len()));
        let _ = std::fs::remove_file(&json);
        let mut bots = pinned("1", setup.priority, &setup.bots_bin);
        bots.args(["--url", &format!("ws://{}/ws", server.addr)])
            .args(["--mode", "arena", "--rooms", &CHURN_ROOMS.to_string()])
            .args(["--per-room", &CHURN_PER_ROOM.to_string()])
            .args(["--duration", &CHURN_HOLD_S.to_string()])
            .args(["--warmup", "0", "--ramp", "0", "--behavior", "arena"])
            .args(["--seed", &(waves.len() + 1).to_string()])
            .args(["--progress", "quiet", "--json"])
            .arg(&json)
            .stdout(Stdio::null());
        let pid = procs.start("tickwire-bots", &mut bots)?;
        let deadline = Instant::now() + Duration::from_secs(CHURN_HOLD_S + 60);
        while procs.running(pid)? {
            if Instant::now() > deadline {
                procs.stop(pid)?;
                bail!("a churn wave did not end within 60 s of its hold");
            }
            if rss_at_10s.is_none() && t0.elapsed() >= Duration::from_secs(10) {
                rss_at_10s = Some(rss_kb(server.pid)?);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let report: Value = serde_json::from_str(
            &std::fs::read_to_string(&json).context("no report from a churn wave")?,
        )?;
        println!(
            "  wave {}: {} joined in {} rooms, matchmaking p50 {} / p99 {} ms, {} errors",
            waves.len() + 1,
            report["joined"],
            report["rooms_joined"],
            report["matchmake_ms"]["p50"],
            report["matchmake_ms"]["p99"],
            report["errors"]
        );
        waves.push(report);
    }
    let churn_s = t0.elapsed().as_secs_f64();
    // Every room empties, lives its empty_ttl and is disposed: wait for none left.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut left;
    loop {
        left = metric_sum(&http_get(&server.addr, "/metrics")?, "tickwire_rooms");
        if left == 0.0 || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // The last sessions' closes linger a moment after their rooms are gone.
    std::thread::sleep(Duration::from_secs(2));
    let metrics = http_get(&server.addr, "/metrics")?;
    let (fds_after, rss_end, cpu1) = (
        open_fds(server.pid)?,
        rss_kb(server.pid)?,
        cpu_ticks(server.pid)?,
    );
    procs.stop(server.pid)?;

    let sum = |k: &str| waves.iter().filter_map(|w| w[k].as_u64()).sum::<u64>();
    let mut p50s: Vec<f64> = waves
        .iter()
        .filter_map(|w| w["matchmake_ms"]["p50"].as_f64())
        .collect();
    p50s.sort_by(f64::total_cmp);
    let p99_max = waves
        .iter()
        .filter_map(|w| w["matchmake_ms"]["p99"].as_f64())
        .fold(f64::NAN, f64::max);
    let mb = |kb: Option<u64>| kb.map_or(Value::Null, |kb| round(kb as f64 / 1024.0, 1));
    let secs = churn_s.max(1e-9);
    let result = json!({
        "scenario": "rooms-churn",
        "churn_s": round(churn_s, 1),
        "waves": waves.len(),
        "rooms_per_wave": CHURN_ROOMS,
        "per_room": CHURN_PER_ROOM,
        "hold_s": CHURN_HOLD_S,
        "empty_ttl": CHURN_EMPTY_TTL,
        "realtime": args.realtime,
        "rooms_created": metric_sum(&metrics, "tickwire_rooms_created_total"),
        "rooms_disposed": metric_sum(&metrics, "tickwire_rooms_disposed_total"),
        "rooms_failed": metric_sum(&metrics, "tickwire_rooms_failed_total"),
        "rooms_left": left,
        "rooms_joined": sum("rooms_joined"),
        "joined": sum("joined"),
        "errors": sum("errors"),
        "matchmake_errors": sum("matchmake_errors"),
        "desyncs": sum("desyncs"),
        "disconnects": sum("disconnects"),
        // Per wave: the median of the waves' medians, the worst of their p99s.
        "matchmake_ms": {
            "p50": p50s.get(p50s.len() / 2).map_or(Value::Null, |v| json!(v)),
            "p99": round(p99_max, 3),
            "samples": waves.iter().filter_map(|w| w["matchmake_ms"]["samples"].as_u64()).sum::<u64>(),
        },
        "server_rss_mb_at_10s": mb(rss_at_10s),
        "server_rss_mb_at_end": mb(Some(rss_end)),
        "server_rss_mb": mb(Some(rss_end)),
        "open_fds_before": fds_before,
        "open_fds_after": fds_after,
        "server_cpu_pct": round((cpu1 - cpu0) as f64 / setup.clk_tck / secs * 100.0, 2),
    });
    setup.finish(args, root, result, |r| print_flat(r, &[]))
}

fn idle(args: &BenchArgs, root: &Path, setup: &Setup, n: usize) -> Result<()> {
    if n == 0 || n > 10_000 {
        bail!("rooms-idle: --n must be 1..=10000");
    }
    let modes = write_modes(setup.dir(), "idle", "3600s")?;
    let mut procs = Procs::default();
    // Reservations expire after a second: the rooms are then empty of seats too.
    let server = setup.start_server(&mut procs, 16, |s| {
        s.arg("--modes")
            .arg(&modes)
            .args(["--max-rooms", &(n + 16).to_string()])
            .args(["--seat-ttl", "1s"]);
    })?;
    std::thread::sleep(SETTLE);
    http_get(&server.addr, "/rooms")?;
    let rss0 = rss_kb(server.pid)?;
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut created = 0usize;
    for _ in 0..n {
        if Instant::now() > deadline {
            break;
        }
        let (status, body) = http_request(&server.addr, "POST", "/rooms", r#"{"mode":"arena"}"#)?;
        if status != 200 {
            println!("  POST /rooms: {status} {body}");
            break;
        }
        created += 1;
    }
    std::thread::sleep(SETTLE);
    let (c0, t0) = (cpu_ticks(server.pid)?, Instant::now());
    std::thread::sleep(Duration::from_secs(args.window.min(30)));
    let (c1, secs) = (cpu_ticks(server.pid)?, t0.elapsed().as_secs_f64());
    let rss1 = rss_kb(server.pid)?;
    let listed: Value = serde_json::from_str(&http_get(&server.addr, "/rooms?mode=arena")?)?;
    let empty = listed
        .as_array()
        .map_or(0, |l| l.iter().filter(|r| r["seats_taken"] == 0).count());
    procs.stop(server.pid)?;
    if created == 0 {
        bail!("no room was created");
    }
    let cpu_pct = (c1 - c0) as f64 / setup.clk_tck / secs * 100.0;
    let result = json!({
        "scenario": "rooms-idle",
        "n": n,
        "rooms_created": created,
        "rooms_listed_empty": empty,
        "realtime": args.realtime,
        "server_rss_mb_before": round(rss0 as f64 / 1024.0, 1),
        "server_rss_mb": round(rss1 as f64 / 1024.0, 1),
        "rss_per_idle_room_kb": round((rss1 as f64 - rss0 as f64) / created as f64, 2),
        "window_s": round(secs, 1),
        "server_cpu_pct": round(cpu_pct, 2),
        // Each empty room still ticks at 30 Hz.
        "us_per_idle_room_tick": round(cpu_pct / 100.0 * 1e6 / (30.0 * created as f64), 3),
    });
    setup.finish(args, root, result, |r| print_flat(r, &[]))
}

/// A modes file of one mode, `arena`, with the shipped arena mode's map and seats and
/// another `empty_ttl`.
fn write_modes(dir: &Path, name: &str, empty_ttl: &str) -> Result<PathBuf> {
    let path = dir.join(format!("modes-{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "default = \"arena\"\n\n[[mode]]\nname = \"arena\"\nmap = \"maps/arena.json\"\n\
             max_players = 16\nempty_ttl = \"{empty_ttl}\"\n"
        ),
    )?;
    Ok(path)
}

/// `{p50, p99}` of a bots report's latency figures.
fn latency(v: &Value) -> Value {
    json!({ "p50": v["p50"], "p99": v["p99"] })
}

fn merge(into: &mut Value, from: Value) {
    if let (Some(into), Value::Object(from)) = (into.as_object_mut(), from) {
        into.extend(from);
    }
}

/// `keys` of `r` (every key when empty), one a line.
fn print_flat(r: &Value, keys: &[&str]) {
    let Some(map) = r.as_object() else { return };
    let w = map.keys().map(String::len).max().unwrap_or(0);
    for (k, v) in map {
        if (keys.is_empty() && k != "machine") || keys.contains(&k.as_str()) {
            println!("  {k:<w$}  {v}");
        }
    }
    println!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms_scenarios_parse() {
        assert_eq!(
            parse("rooms-250x8").unwrap(),
            Some(Scenario::Rooms {
                rooms: 250,
                per_room: 8
            })
        );
        assert_eq!(parse("rooms-churn").unwrap(), Some(Scenario::Churn));
        assert_eq!(parse("rooms-idle").unwrap(), Some(Scenario::Idle));
        assert_eq!(parse("arena-500").unwrap(), None);
        assert!(parse("rooms-0x8").is_err());
        assert!(parse("rooms-many").is_err());
    }
}
