//! `cargo xtask bench SCENARIO --n N`: one run of a scenario of the benchmark doc
//! (`shared/docs/benchmarks.md`).
//!
//! Builds the release binaries, starts `tickwire-server` pinned to CPU 0 on 127.0.0.1
//! port 0 and `tickwire-bots` pinned to CPU 1. The bots ramp up, warm up, then mark the
//! measured window on their stdout ("window start" / "window end"); at those marks this
//! driver resets and reads the server's `/stats` and samples both processes' CPU time from
//! `/proc`. It prints a table and appends one JSON line to `bench/results.jsonl`. Every
//! process it starts is stopped by PID, also on error.

mod cluster;
mod feel;
mod probe;
mod procs;
mod rooms;
mod scenario;

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::util::{cargo, root, run_cmd};
use probe::{
    clock_ticks_per_s, core_ticks, cpu_model, cpu_ticks, git_commit, http_get, rss_kb, target_dir,
};
use procs::{echo_bots, lines_of, pinned, priority, wait_line, Procs};
use scenario::{open_world_side, parse_scenario, write_open_world_map, Kind};

/// Arguments of `cargo xtask bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// arena, combat or open-world (also accepted with the size: arena-200); rooms-RxP,
    /// rooms-churn, rooms-idle; cluster-K; feel (16 feel probes in combat at 50 ± 10 ms each way, then
    /// with a 200 ms stall every 2 s).
    scenario: String,
    /// Players (bots).
    #[arg(long)]
    n: Option<usize>,
    /// Measured window, seconds.
    #[arg(long, default_value_t = 30)]
    window: u64,
    /// Warm-up after every bot has joined, seconds.
    #[arg(long, default_value_t = 10)]
    warmup: u64,
    /// Run the server with --full-snapshots (deltas off): the baseline of the delta/full ratio.
    #[arg(long)]
    full: bool,
    /// Bots that decode every snapshot; the others read headers only. Default: 5 in arena
    /// and combat (everything visible: decoding is O(N) per snapshot), every bot in
    /// open-world (small views).
    #[arg(long)]
    probes: Option<usize>,
    /// Bots started per second.
    #[arg(long, default_value_t = 250.0)]
    ramp: f64,
    /// Seed of the bots.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Niceness of the server and the bots (negative: ahead of other work on the machine;
    /// needs the right to raise priority, else they run at normal priority).
    #[arg(long, default_value_t = -10, allow_hyphen_values = true)]
    nice: i32,
    /// Run the server and the bots with a real-time round-robin priority (`chrt --rr 10`),
    /// so that other work on a shared machine cannot delay them (the kernel still keeps 5 %
    /// of each core for everything else). Replaces --nice.
    #[arg(long)]
    realtime: bool,
    /// Skip the release build (use the binaries already in target/release).
    #[arg(long)]
    no_build: bool,
    /// Measure the room's own work without sockets: N players on in-memory connections,
    /// ticks run back to back in one process on CPU 0 (the `room_load` example of the
    /// server crate). For sizes the bot process cannot drive over sockets (open-world
    /// 10,000); reports tick work, bodies and bytes, not CPU or round trips. The window
    /// and warm-up count ticks at 30 per second.
    #[arg(long)]
    in_process: bool,
    /// Measure the kernel's floor under the scenario instead: N plain TCP connections on
    /// 127.0.0.1 that carry an input up and a message down per tick, with no game, no
    /// WebSocket and no tokio on the server's side (the `loopback_floor` example of the
    /// server crate, on CPU 0; its clients on CPU 1). What one connection per player costs
    /// this machine's kernel before Tickwire does anything.
    #[arg(long, conflicts_with_all = ["in_process", "full", "baselines"])]
    floor: bool,
    /// With --floor: bytes of each message down (arena-500's snapshots are about 480).
    #[arg(long, default_value_t = 480)]
    floor_bytes: usize,
    /// The server's `--baselines` (`sent`, its default, or `acked`), for comparisons.
    #[arg(long)]
    baselines: Option<String>,
    /// With --in-process: clients acknowledge the snapshot 1 to this many ticks old (a
    /// crowd with varied round trips; what acknowledged baselines cost).
    #[arg(long)]
    max_ack_age: Option<usize>,
    /// Where the JSON line is appended.
    #[arg(long, default_value = "bench/results.jsonl")]
    out: PathBuf,
}

/// Runs one benchmark.
pub fn bench(args: &BenchArgs) -> Result<()> {
    if let Some(k) = cluster::parse(&args.scenario)? {
        return cluster::run(args, k);
    }
    if args.scenario == "replay" {
        return replay(args, &root());
    }
    if let Some(scenario) = rooms::parse(&args.scenario)? {
        return rooms::run(args, &scenario);
    }
    if feel::is_feel(&args.scenario) {
        return feel::run(args);
    }
    let (kind, n) = parse_scenario(&args.scenario, args.n)?;
    let scenario = format!("{}-{n}", kind.name());
    let root = root();
    if args.in_process {
        return in_process(args, kind, n, &root);
    }
    if args.floor {
        return floor(args, n, &root);
    }
    if kind == Kind::OpenWorld {
        println!(
            "open-world-{n}: a {0:.0} x {0:.0} map, 1600 x 900 views",
            open_world_side(n)
        );
    }
    let setup = Setup::new(args, &root)?;
    let map = scenario_map(&root, kind, n)?;
    let mut procs = Procs::default();
    // Quick play: one room of the default mode, its seats opened for N bots.
    let interest = kind == Kind::OpenWorld;
    let server = setup.start_server(&mut procs, n, |server| {
        server
            .arg("--map")
            .arg(&map)
            .args(["--max-players", &(n + 16).to_string()]);
        // open-world-N: each client receives its 1600 x 900 view (plus the server's margin).
        if interest {
            server.args(["--view-width", "1600", "--view-height", "900"]);
        }
    })?;
    let behavior = match kind {
        Kind::Combat => "chase",
        Kind::Arena | Kind::OpenWorld => "arena",
    };
    let probes = match (args.probes, kind) {
        (Some(k), _) => k.min(n),
        (None, Kind::OpenWorld) => n,
        (None, Kind::Arena | Kind::Combat) => 5.min(n),
    };
    let bots = setup.start_bots(
        &mut procs,
        &server,
        &BotPlan {
            scenario: &scenario,
            n,
            behavior,
            probes,
            join: vec!["--count".into(), n.to_string()],
        },
    )?;
    let window = bots.window(&server, &setup)?;
    let report = bots.finish(&mut procs)?;
    procs.stop(server.pid)?;
    let mut result = setup.result(&scenario, n, probes, &window, &report);
    result["interest_management"] = json!(interest);
    setup.finish(args, &root, result, print_table)
}

/// What every socket run shares: the binaries, the run's stamp and directory, the load of
/// the machine at its start.
pub struct Setup {
    priority: procs::Priority,
    args: BenchSettings,
    bench_dir: PathBuf,
    server_bin: PathBuf,
    bots_bin: PathBuf,
    clk_tck: f64,
    load_at_start: String,
    stamp: u64,
}

/// The settings of a run that the shared steps need.
struct BenchSettings {
    window: u64,
    warmup: u64,
    ramp: f64,
    seed: u64,
    full: bool,
    baselines: Option<String>,
    nice: i32,
    realtime: bool,
}

/// The bots of a socket run.
pub struct BotPlan<'a> {
    /// Names their report file.
    pub scenario: &'a str,
    /// Bots.
    pub n: usize,
    /// `--behavior`.
    pub behavior: &'a str,
    /// `--probes`.
    pub probes: usize,
    /// How they find their seats: `--count N` (quick play), `--mode M --rooms R
    /// --per-room P`...
    pub join: Vec<String>,
}

/// A server started by [`Setup::start_server`].
pub struct Server {
    pub pid: u32,
    /// `127.0.0.1:PORT`.
    pub addr: String,
}

/// A bot process started by [`Setup::start_bots`], its output and its JSON report.
pub struct Bots {
    pid: u32,
    lines: std::sync::mpsc::Receiver<String>,
    json: PathBuf,
    n: usize,
}

/// What the measured window of a socket run saw of the server and the machine.
pub struct Window {
    secs: f64,
    server_cpu_pct: f64,
    bots_cpu_pct: f64,
    core_busy_pct: Vec<Value>,
    rss_mb: f64,
    /// The server's `/stats` at the end of the window.
    stats: Value,
    /// The server's `GET /rooms` at the start of the window.
    rooms: Value,
}

impl Setup {
    /// Builds the release binaries (unless `--no-build`) and notes the machine's load.
    pub fn new(args: &BenchArgs, root: &std::path::Path) -> Result<Setup> {
        let bench_dir = target_dir(root).join("bench");
        std::fs::create_dir_all(&bench_dir)?;
        if !args.no_build {
            release_build(&["--package", "tickwire-server", "--package", "tickwire-bots"])?;
        }
        let release = target_dir(root).join("release");
        let (server_bin, bots_bin) = (
            release.join("tickwire-server"),
            release.join("tickwire-bots"),
        );
        for b in [&server_bin, &bots_bin] {
            require_bin(b)?;
        }
        Ok(Setup {
            priority: priority(args),
            args: BenchSettings {
                window: args.window,
                warmup: args.warmup,
                ramp: args.ramp,
                seed: args.seed,
                full: args.full,
                baselines: args.baselines.clone(),
                nice: args.nice,
                realtime: args.realtime,
            },
            bench_dir,
            server_bin,
            bots_bin,
            clk_tck: clock_ticks_per_s(),
            load_at_start: std::fs::read_to_string("/proc/loadavg").unwrap_or_default(),
            stamp: SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs(),
        })
    }

    /// The bench's scratch directory (`target/bench`).
    pub fn dir(&self) -> &std::path::Path {
        &self.bench_dir
    }

    /// Starts the server on CPU 0, 127.0.0.1 port 0, its limits opened for `n` bots from
    /// one address, with `configure`'s further arguments; waits until it listens.
    pub fn start_server(
        &self,
        procs: &mut Procs,
        n: usize,
        configure: impl FnOnce(&mut std::process::Command),
    ) -> Result<Server> {
        let root = root();
        let mut server = pinned("0", self.priority, &self.server_bin);
        server
            .current_dir(&root)
            .env("RUST_LOG", "warn")
            .args(["--bind", "127.0.0.1:0"])
            .args(["--max-connections", &(2 * n + 256).to_string()])
            .args(["--max-connections-per-ip", "0"]);
        if self.args.full {
            server.arg("--full-snapshots");
        }
        if let Some(b) = &self.args.baselines {
            server.args(["--baselines", b]);
        }
        configure(&mut server);
        let server_log = std::fs::File::create(self.bench_dir.join("server.log"))?;
        server
            .stdout(Stdio::piped())
            .stderr(Stdio::from(server_log));
        let pid = procs.start("tickwire-server", &mut server)?;
        let server_lines = lines_of(procs.stdout(pid)?);
        let addr = wait_line(&server_lines, Duration::from_secs(30), |l| {
            l.strip_prefix("tickwire-server listening on http://")
                .map(|a| a.trim_end_matches('/').to_owned())
        })
        .context("the server did not say where it listens")?;
        println!("server pid {pid} on {addr} (CPU 0)");
        Ok(Server { pid, addr })
    }

    /// Starts the bots of `plan` on CPU 1 against `server`, for the run's ramp, warm-up and
    /// window.
    pub fn start_bots(&self, procs: &mut Procs, server: &Server, plan: &BotPlan) -> Result<Bots> {
        let a = &self.args;
        let BotPlan {
            scenario,
            n,
            behavior,
            probes,
            join,
        } = plan;
        let (n, probes) = (*n, *probes);
        let json = self
            .bench_dir
            .join(format!("bots-{scenario}-{}.json", self.stamp));
        let mut bots = pinned("1", self.priority, &self.bots_bin);
        bots.args(["--url", &format!("ws://{}/ws", server.addr)])
            .args(join)
            .args(["--duration", &a.window.to_string()])
            .args(["--warmup", &a.warmup.to_string()])
            .args(["--ramp", &a.ramp.to_string()])
            .args(["--behavior", behavior])
            .args(["--probes", &probes.to_string()])
            .args(["--seed", &a.seed.to_string()])
            .args(["--progress", "plain", "--json"])
            .arg(&json)
            .stdout(Stdio::piped());
        let pid = procs.start("tickwire-bots", &mut bots)?;
        let lines = lines_of(procs.stdout(pid)?);
        println!("bots pid {pid}: {n} x {behavior} (CPU 1)");
        Ok(Bots {
            pid,
            lines,
            json,
            n,
        })
    }

    /// The keys every socket run reports (benchmarks.md), from its window and the bots'
    /// report.
    pub fn result(
        &self,
        scenario: &str,
        n: usize,
        probes: usize,
        w: &Window,
        report: &Value,
    ) -> Value {
        let a = &self.args;
        let tick_hz = report["tick_hz"].as_f64().unwrap_or(30.0);
        let joined = report["joined"].as_f64().unwrap_or(0.0);
        let interval_p99 = w.stats["tick_interval_ms"]["p99"]
            .as_f64()
            .unwrap_or(f64::NAN);
        // Server CPU time / (players x ticks): every player is in a room ticking at tick_hz.
        let us_per_player_tick = if joined > 0.0 {
            w.server_cpu_pct / 100.0 * 1e6 / (tick_hz * joined)
        } else {
            f64::NAN
        };
        let num = |k: &str, digits| round(report[k].as_f64().unwrap_or(f64::NAN), digits);
        json!({
            "scenario": scenario,
            "n": n,
            "tick_hz": tick_hz,
            "window_s": round(w.secs, 2),
            "warmup_s": a.warmup,
            "full_snapshots": a.full,
            "baselines": a.baselines.as_deref().unwrap_or("sent"),
            "probes": probes,
            "nice": if a.realtime { Value::Null } else { json!(a.nice) },
            "realtime": a.realtime,
            "server_cpu_pct": round(w.server_cpu_pct, 2),
            "server_rss_mb": round(w.rss_mb, 1),
            "tick_work_ms": w.stats["tick_work_ms"],
            "recv_ms": w.stats["recv_ms"],
            "send_ms": w.stats["send_ms"],
            "tick_interval_ms": w.stats["tick_interval_ms"],
            "ticks": w.stats["ticks"],
            "late_ticks": w.stats["late_ticks"],
            "bytes_down_per_client_per_s": num("bytes_down_per_client_per_s", 1),
            "bytes_up_per_client_per_s": num("bytes_up_per_client_per_s", 1),
            "snapshots_per_client_per_s": num("snapshots_per_client_per_s", 2),
            "rtt_ms": report["rtt_ms"],
            "bots_cpu_pct": round(w.bots_cpu_pct, 2),
            // Whole cores, whoever used them (softirq work of the loopback, other processes).
            "core_busy_pct": w.core_busy_pct,
            "inputs_per_bot_per_s": num("inputs_per_bot_per_s", 2),
            "desyncs": report["desyncs"],
            "disconnects": report["disconnects"],
            "decode_errors": report["decode_errors"],
            "errors": report["errors"],
            "joined": report["joined"],
            "server_cpu_us_per_player_tick": round(us_per_player_tick, 3),
            "us_per_player_tick": round(us_per_player_tick, 3),
            "saturated": interval_p99 > 50.0 || w.server_cpu_pct >= 95.0,
        })
    }

    /// Adds the provenance and the load at the start, prints the table, appends the line.
    pub fn finish(
        &self,
        args: &BenchArgs,
        root: &std::path::Path,
        mut result: Value,
        table: fn(&Value),
    ) -> Result<()> {
        provenance(&mut result, root, self.stamp);
        result["machine"]["loadavg_at_start"] = json!(self
            .load_at_start
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "));
        table(&result);
        append_result(args, root, &result)
    }
}

impl Bots {
    /// Waits for the bots' window, measuring the server, the bots and the cores over it
    /// (the server's `/stats` reset at its start, read at its end).
    pub fn window(&self, server: &Server, setup: &Setup) -> Result<Window> {
        let a = &setup.args;
        let ramp_s = self.n as f64 / a.ramp.max(1.0);
        let to_window = Duration::from_secs_f64(ramp_s + a.warmup as f64 + 60.0);
        wait_line(&self.lines, to_window, |l| {
            echo_bots(l).contains("window start").then_some(())
        })
        .context("the bots never started their window")?;
        let rooms: Value = serde_json::from_str(&http_get(&server.addr, "/rooms")?)
            .context("/rooms is not JSON")?;
        http_get(&server.addr, "/stats/reset")?;
        let (s0, b0, c0, t0) = (
            cpu_ticks(server.pid)?,
            cpu_ticks(self.pid)?,
            core_ticks()?,
            Instant::now(),
        );
        wait_line(&self.lines, Duration::from_secs(a.window + 60), |l| {
            echo_bots(l).contains("window end").then_some(())
        })
        .context("the bots never ended their window")?;
        let (s1, b1, c1, t1) = (
            cpu_ticks(server.pid)?,
            cpu_ticks(self.pid)?,
            core_ticks()?,
            Instant::now(),
        );
        let rss_mb = rss_kb(server.pid)? as f64 / 1024.0;
        let stats: Value = serde_json::from_str(&http_get(&server.addr, "/stats")?)
            .context("/stats is not JSON")?;
        let secs = t1.duration_since(t0).as_secs_f64();
        let pct = |a: u64, b: u64| (b - a) as f64 / setup.clk_tck / secs * 100.0;
        Ok(Window {
            secs,
            server_cpu_pct: pct(s0, s1),
            bots_cpu_pct: pct(b0, b1),
            core_busy_pct: c0
                .iter()
                .zip(&c1)
                .map(|((b0, t0), (b1, t1))| {
                    round((b1 - b0) as f64 / ((t1 - t0) as f64).max(1.0) * 100.0, 1)
                })
                .collect(),
            rss_mb,
            stats,
            rooms,
        })
    }

    /// Waits (bounded) for the bots to stop by themselves and reads their report.
    pub fn finish(&self, procs: &mut Procs) -> Result<Value> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while procs.running(self.pid)? {
            if Instant::now() > deadline {
                bail!("the bots did not stop within 60 s of their window");
            }
            while let Ok(l) = self.lines.recv_timeout(Duration::from_millis(100)) {
                echo_bots(&l);
            }
        }
        Ok(serde_json::from_str(
            &std::fs::read_to_string(&self.json)
                .with_context(|| format!("no bot report at {}", self.json.display()))?,
        )?)
    }
}

/// `cargo build --release` with `what` (packages, examples).
fn release_build(what: &[&str]) -> Result<()> {
    run_cmd(cargo().args(["build", "--release"]).args(what))
}

/// Appends one run's JSON line to `--out` (relative to the repository root).
fn append_result(args: &BenchArgs, root: &std::path::Path, result: &Value) -> Result<()> {
    let out = if args.out.is_absolute() {
        args.out.clone()
    } else {
        root.join(&args.out)
    };
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = OpenOptions::new().create(true).append(true).open(&out)?;
    writeln!(f, "{result}")?;
    println!("appended to {}", out.display());
    Ok(())
}

/// The map of a scenario (open-world maps are written into target/bench).
fn scenario_map(root: &std::path::Path, kind: Kind, n: usize) -> Result<PathBuf> {
    Ok(match kind {
        Kind::Arena | Kind::Combat => root.join("assets/maps/open-4000.json"),
        Kind::OpenWorld => {
            let dir = target_dir(root).join("bench");
            std::fs::create_dir_all(&dir)?;
            write_open_world_map(&dir, n)?
        }
    })
}

/// `--in-process`: runs the server crate's `room_load` example pinned to CPU 0 and appends
/// its JSON line (plus commit and machine) to the results.
fn in_process(args: &BenchArgs, kind: Kind, n: usize, root: &std::path::Path) -> Result<()> {
    if kind == Kind::Combat {
        bail!("--in-process runs arena and open-world (its clients do not aim or shoot)");
    }
    if args.realtime {
        // Ticks run back to back at 100 % of the core: the kernel's real-time throttling
        // (95 % of each second) would stop the run for 50 ms every second, and those
        // stops would be the p99 (50-62 ms in two runs, against 12-15 ms with nice).
        bail!("--in-process runs its ticks back to back: use --nice, not --realtime");
    }
    let mut cmd = pinned(
        "0",
        priority(args),
        &server_example(args, root, "room_load")?,
    );
    cmd.args(["--scenario", kind.name()])
        .arg("--map")
        .arg(scenario_map(root, kind, n)?)
        .args(["--n", &n.to_string()])
        .args(["--warmup", &(args.warmup * 30).to_string()])
        .args(["--ticks", &(args.window * 30).to_string()])
        .args(["--probes", &args.probes.unwrap_or(10).to_string()])
        .args(["--seed", &args.seed.to_string()])
        .stdout(Stdio::piped());
    if let Some(b) = &args.baselines {
        cmd.args(["--baselines", b]);
    }
    if let Some(a) = args.max_ack_age {
        cmd.args(["--max-ack-age", &a.to_string()]);
    }
    run_json(args, root, cmd, "room_load")
}

/// `--floor`: runs the server crate's `loopback_floor` example (itself on CPU 0, its
/// clients on CPU 1) and appends its JSON line (plus commit and machine) to the results.
fn floor(args: &BenchArgs, n: usize, root: &std::path::Path) -> Result<()> {
    let mut cmd = pinned(
        "0",
        priority(args),
        &server_example(args, root, "loopback_floor")?,
    );
    cmd.args(["--n", &n.to_string()])
        .args(["--bytes", &args.floor_bytes.to_string()])
        .args(["--warmup", &args.warmup.to_string()])
        .args(["--window", &args.window.to_string()])
        .args(["--seed", &args.seed.to_string()])
        .args(["--clients-cpu", "1"])
        .stdout(Stdio::piped());
    run_json(args, root, cmd, "loopback_floor")
}

/// The release build of the server crate's example `name` (built first unless
/// `--no-build`).
fn server_example(args: &BenchArgs, root: &std::path::Path, name: &str) -> Result<PathBuf> {
    if !args.no_build {
        release_build(&["--package", "tickwire-server", "--example", name])?;
    }
    let bin = target_dir(root).join("release/examples").join(name);
    require_bin(&bin)?;
    Ok(bin)
}

/// `cargo xtask bench replay`: the replay figures (the server crate's `replay_bench`
/// example pinned to CPU 0): replay bytes per player-minute in combat-20, recording's cost
/// per tick at arena-500 (`--n` sets the arena's players), verify's ticks per second.
fn replay(args: &BenchArgs, root: &std::path::Path) -> Result<()> {
    let mut cmd = pinned(
        "0",
        priority(args),
        &server_example(args, root, "replay_bench")?,
    );
    cmd.args(["--arena-n", &args.n.unwrap_or(500).to_string()])
        .arg("--dir")
        .arg(target_dir(root).join("bench/replays"))
        .current_dir(root);
    run_json(args, root, cmd, "replay_bench")
}

/// Runs `cmd`, prints its output and appends the JSON line it printed (`JSON {...}`), with
/// its provenance, to the results.
fn run_json(
    args: &BenchArgs,
    root: &std::path::Path,
    mut cmd: std::process::Command,
    what: &str,
) -> Result<()> {
    let out = cmd.output().with_context(|| format!("running {what}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    print!("{text}");
    if !out.status.success() {
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
        bail!("{what} failed: {}", out.status);
    }
    let mut result: Value = text
        .lines()
        .find_map(|l| l.strip_prefix("JSON "))
        .with_context(|| format!("{what} printed no JSON line"))
        .and_then(|j| serde_json::from_str(j).with_context(|| format!("{what}'s JSON")))?;
    provenance(
        &mut result,
        root,
        SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs(),
    );
    append_result(args, root, &result)
}

/// Where a result comes from: the commit, when (`stamp`, Unix seconds) and the machine.
fn provenance(result: &mut Value, root: &std::path::Path, stamp: u64) {
    result["commit"] = json!(git_commit(root));
    result["unix_time"] = json!(stamp);
    result["machine"] = json!({
        "cpus": std::thread::available_parallelism().map_or(0, |p| p.get()),
        "model": cpu_model(),
    });
}

/// A binary the benchmark runs must exist.
fn require_bin(bin: &std::path::Path) -> Result<()> {
    if !bin.exists() {
        bail!(
            "{} is missing (build it, or drop --no-build)",
            bin.display()
        );
    }
    Ok(())
}

fn round(v: f64, digits: i32) -> Value {
    if !v.is_finite() {
        return Value::Null;
    }
    let m = 10f64.powi(digits);
    json!((v * m).round() / m)
}

fn print_table(r: &Value) {
    let ms3 = |v: &Value| format!("p50 {} / p99 {} / max {} ms", v["p50"], v["p99"], v["max"]);
    let rows = [
        (
            "scenario",
            format!(
                "{} (full snapshots: {})",
                r["scenario"], r["full_snapshots"]
            ),
        ),
        (
            "bots joined / probes",
            format!("{} / {}", r["joined"], r["probes"]),
        ),
        (
            "tick rate, window",
            format!("{} Hz, {} s", r["tick_hz"], r["window_s"]),
        ),
        (
            "server CPU",
            format!(
                "{} % of one core ({} us per player-tick)",
                r["server_cpu_pct"], r["server_cpu_us_per_player_tick"]
            ),
        ),
        ("server RSS", format!("{} MB", r["server_rss_mb"])),
        ("tick work (no socket I/O)", ms3(&r["tick_work_ms"])),
        ("socket reads per tick", ms3(&r["recv_ms"])),
        ("socket writes per tick", ms3(&r["send_ms"])),
        (
            "tick interval",
            format!(
                "{} ({} late of {})",
                ms3(&r["tick_interval_ms"]),
                r["late_ticks"],
                r["ticks"]
            ),
        ),
        (
            "down per client",
            format!(
                "{} B/s, {} snapshots/s",
                r["bytes_down_per_client_per_s"], r["snapshots_per_client_per_s"]
            ),
        ),
        (
            "up per client",
            format!(
                "{} B/s, {} inputs/s",
                r["bytes_up_per_client_per_s"], r["inputs_per_bot_per_s"]
            ),
        ),
        (
            "input RTT",
            format!("p50 {} / p99 {} ms", r["rtt_ms"]["p50"], r["rtt_ms"]["p99"]),
        ),
        ("bots CPU", format!("{} % of one core", r["bots_cpu_pct"])),
        (
            "cores busy (all processes)",
            format!("{} %", r["core_busy_pct"]),
        ),
        (
            "desyncs / disconnects / decode errors",
            format!(
                "{} / {} / {}",
                r["desyncs"], r["disconnects"], r["decode_errors"]
            ),
        ),
        ("saturated", r["saturated"].to_string()),
    ];
    let w = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    println!();
    for (k, v) in rows {
        println!("  {k:<w$}  {v}");
    }
    println!();
}
