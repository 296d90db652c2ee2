//! `cargo xtask bench SCENARIO --n N`: one run of a scenario of the benchmark doc
//! (`shared/docs/benchmarks.md`).
//!
//! Builds the release binaries, starts `tickwire-server` pinned to CPU 0 on 127.0.0.1
//! port 0 and `tickwire-bots` pinned to CPU 1. The bots ramp up, warm up, then mark the
//! measured window on their stdout ("window start" / "window end"); at those marks this
//! driver resets and reads the server's `/stats` and samples both processes' CPU time from
//! `/proc`. It prints a table and appends one JSON line to `bench/results.jsonl`. Every
//! process it starts is stopped by PID, also on error.

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};

use crate::util::{cargo, root, run_cmd};

/// Arguments of `cargo xtask bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// arena, combat or open-world (also accepted with the size: arena-200).
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
    /// Bots that decode every snapshot; the others read headers only.
    #[arg(long, default_value_t = 5)]
    probes: usize,
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
    /// Where the JSON line is appended.
    #[arg(long, default_value = "bench/results.jsonl")]
    out: PathBuf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Arena,
    Combat,
    OpenWorld,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Arena => "arena",
            Kind::Combat => "combat",
            Kind::OpenWorld => "open-world",
        }
    }
}

fn parse_scenario(s: &str, n: Option<usize>) -> Result<(Kind, usize)> {
    let (name, size) = match s.rsplit_once('-') {
        Some((a, b)) if b.chars().all(|c| c.is_ascii_digit()) && !b.is_empty() => {
            (a, Some(b.parse::<usize>()?))
        }
        _ => (s, None),
    };
    let kind = match name {
        "arena" => Kind::Arena,
        "combat" => Kind::Combat,
        "open-world" => Kind::OpenWorld,
        other => bail!("unknown scenario {other:?}: arena, combat or open-world"),
    };
    let n = match (size, n) {
        (Some(a), Some(b)) if a != b => bail!("{s} and --n {b} disagree"),
        (Some(a), _) | (None, Some(a)) => a,
        (None, None) => bail!("how many players? --n N (or {name}-N)"),
    };
    if n == 0 || n > 20_000 {
        bail!("--n must be 1..=20000");
    }
    Ok((kind, n))
}

/// Runs one benchmark.
pub fn bench(args: &BenchArgs) -> Result<()> {
    let (kind, n) = parse_scenario(&args.scenario, args.n)?;
    let scenario = format!("{}-{n}", kind.name());
    let root = root();
    let bench_dir = target_dir(&root).join("bench");
    std::fs::create_dir_all(&bench_dir)?;
    if kind == Kind::OpenWorld {
        println!(
            "note: the server has no interest management yet, so open-world-{n} measures \
             everything-visible on a {0:.0} x {0:.0} map",
            open_world_side(n)
        );
    }
    if !args.no_build {
        run_cmd(cargo().args([
            "build",
            "--release",
            "--package",
            "tickwire-server",
            "--package",
            "tickwire-bots",
        ]))?;
    }
    let release = target_dir(&root).join("release");
    let (server_bin, bots_bin) = (
        release.join("tickwire-server"),
        release.join("tickwire-bots"),
    );
    for b in [&server_bin, &bots_bin] {
        if !b.exists() {
            bail!("{} is missing (build it, or drop --no-build)", b.display());
        }
    }
    let map = match kind {
        Kind::Arena | Kind::Combat => root.join("assets/maps/open-4000.json"),
        Kind::OpenWorld => write_open_world_map(&bench_dir, n)?,
    };
    let clk_tck = clock_ticks_per_s();
    let load_at_start = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let stamp = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let bots_json = bench_dir.join(format!("bots-{scenario}-{stamp}.json"));

    let mut procs = Procs::default();
    // The server: CPU 0, port 0, limits opened for N bots from one address.
    let mut server = pinned("0", priority(args), &server_bin);
    server
        .current_dir(&root)
        .env("RUST_LOG", "warn")
        .args(["--bind", "127.0.0.1:0", "--map"])
        .arg(&map)
        .args(["--max-players", &(n + 16).to_string()])
        .args(["--max-connections", &(2 * n + 256).to_string()])
        .args(["--max-connections-per-ip", "0"]);
    if args.full {
        server.arg("--full-snapshots");
    }
    let server_log = std::fs::File::create(bench_dir.join("server.log"))?;
    server
        .stdout(Stdio::piped())
        .stderr(Stdio::from(server_log));
    let server_pid = procs.start("tickwire-server", &mut server)?;
    let server_lines = lines_of(procs.stdout(server_pid)?);
    let addr = wait_line(&server_lines, Duration::from_secs(30), |l| {
        l.strip_prefix("tickwire-server listening on http://")
            .map(|a| a.trim_end_matches('/').to_owned())
    })
    .context("the server did not say where it listens")?;
    println!("server pid {server_pid} on {addr} (CPU 0)");

    let behavior = match kind {
        Kind::Combat => "chase",
        Kind::Arena | Kind::OpenWorld => "arena",
    };
    let mut bots = pinned("1", priority(args), &bots_bin);
    bots.args(["--url", &format!("ws://{addr}/ws")])
        .args(["--count", &n.to_string()])
        .args(["--duration", &args.window.to_string()])
        .args(["--warmup", &args.warmup.to_string()])
        .args(["--ramp", &args.ramp.to_string()])
        .args(["--behavior", behavior])
        .args(["--probes", &args.probes.to_string()])
        .args(["--seed", &args.seed.to_string()])
        .args(["--progress", "plain", "--json"])
        .arg(&bots_json)
        .stdout(Stdio::piped());
    let bots_pid = procs.start("tickwire-bots", &mut bots)?;
    let bot_lines = lines_of(procs.stdout(bots_pid)?);
    println!("bots pid {bots_pid}: {n} x {behavior} (CPU 1)");

    let ramp_s = n as f64 / args.ramp.max(1.0);
    let to_window = Duration::from_secs_f64(ramp_s + args.warmup as f64 + 60.0);
    wait_line(&bot_lines, to_window, |l| {
        echo_bots(l).contains("window start").then_some(())
    })
    .context("the bots never started their window")?;
    http_get(&addr, "/stats/reset")?;
    let (s0, b0, c0, t0) = (
        cpu_ticks(server_pid)?,
        cpu_ticks(bots_pid)?,
        core_ticks()?,
        Instant::now(),
    );
    let to_end = Duration::from_secs(args.window + 60);
    wait_line(&bot_lines, to_end, |l| {
        echo_bots(l).contains("window end").then_some(())
    })
    .context("the bots never ended their window")?;
    let (s1, b1, c1, t1) = (
        cpu_ticks(server_pid)?,
        cpu_ticks(bots_pid)?,
        core_ticks()?,
        Instant::now(),
    );
    let rss_mb = rss_kb(server_pid)? as f64 / 1024.0;
    let stats: Value =
        serde_json::from_str(&http_get(&addr, "/stats")?).context("/stats is not JSON")?;

    // The bots stop by themselves; give them a bound.
    let deadline = Instant::now() + Duration::from_secs(60);
    while procs.running(bots_pid)? {
        if Instant::now() > deadline {
            bail!("the bots did not stop within 60 s of their window");
        }
        while let Ok(l) = bot_lines.recv_timeout(Duration::from_millis(100)) {
            echo_bots(&l);
        }
    }
    procs.stop(server_pid)?;
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(&bots_json)
            .with_context(|| format!("no bot report at {}", bots_json.display()))?,
    )?;

    let secs = t1.duration_since(t0).as_secs_f64();
    let pct = |a: u64, b: u64| (b - a) as f64 / clk_tck / secs * 100.0;
    let server_cpu_pct = pct(s0, s1);
    let tick_hz = report["tick_hz"].as_f64().unwrap_or(30.0);
    let joined = report["joined"].as_f64().unwrap_or(0.0);
    let interval_p99 = stats["tick_interval_ms"]["p99"]
        .as_f64()
        .unwrap_or(f64::NAN);
    let cpu_us_per_player_tick = if joined > 0.0 {
        server_cpu_pct / 100.0 * 1e6 / (tick_hz * joined)
    } else {
        f64::NAN
    };
    let result = json!({
        "scenario": scenario,
        "n": n,
        "tick_hz": tick_hz,
        "window_s": round(secs, 2),
        "warmup_s": args.warmup,
        "full_snapshots": args.full,
        "probes": args.probes,
        "nice": if args.realtime { Value::Null } else { json!(args.nice) },
        "realtime": args.realtime,
        "interest_management": false,
        "server_cpu_pct": round(server_cpu_pct, 2),
        "server_rss_mb": round(rss_mb, 1),
        "tick_work_ms": stats["tick_work_ms"],
        "tick_interval_ms": stats["tick_interval_ms"],
        "ticks": stats["ticks"],
        "late_ticks": stats["late_ticks"],
        "bytes_down_per_client_per_s": round(report["bytes_down_per_client_per_s"].as_f64().unwrap_or(f64::NAN), 1),
        "bytes_up_per_client_per_s": round(report["bytes_up_per_client_per_s"].as_f64().unwrap_or(f64::NAN), 1),
        "snapshots_per_client_per_s": round(report["snapshots_per_client_per_s"].as_f64().unwrap_or(f64::NAN), 2),
        "rtt_ms": report["rtt_ms"],
        "bots_cpu_pct": round(pct(b0, b1), 2),
        // Whole cores, whoever used them (softirq work of the loopback, other processes).
        "core_busy_pct": c0.iter().zip(&c1).map(|((b0, t0), (b1, t1))| {
            round((b1 - b0) as f64 / ((t1 - t0) as f64).max(1.0) * 100.0, 1)
        }).collect::<Vec<_>>(),
        "inputs_per_bot_per_s": round(report["inputs_per_bot_per_s"].as_f64().unwrap_or(f64::NAN), 2),
        "desyncs": report["desyncs"],
        "disconnects": report["disconnects"],
        "decode_errors": report["decode_errors"],
        "errors": report["errors"],
        "joined": report["joined"],
        "server_cpu_us_per_player_tick": round(cpu_us_per_player_tick, 3),
        "saturated": interval_p99 > 50.0 || server_cpu_pct >= 95.0,
        "commit": git_commit(&root),
        "unix_time": stamp,
        "machine": {
            "cpus": std::thread::available_parallelism().map_or(0, |p| p.get()),
            "model": cpu_model(),
            "loadavg_at_start": load_at_start.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
        },
    });
    print_table(&result);
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
        ("tick work", ms3(&r["tick_work_ms"])),
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

/// How the benchmarked processes are scheduled.
#[derive(Clone, Copy, Debug)]
enum Priority {
    Nice(i32),
    Realtime,
}

fn priority(args: &BenchArgs) -> Priority {
    if args.realtime {
        Priority::Realtime
    } else {
        Priority::Nice(args.nice)
    }
}

/// `taskset -c CPU nice -n NICE BIN` (or `chrt --rr 10` instead of nice): pinned, and ahead
/// of other work on a shared machine (taskset, nice and chrt exec the binary, so the PID is
/// the binary's; nice runs it anyway, at normal priority, where raising the priority is not
/// allowed). Unpinned where taskset is missing.
fn pinned(cpu: &str, priority: Priority, bin: &Path) -> Command {
    let has = |tool: &str| {
        Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let mut argv: Vec<std::ffi::OsString> = Vec::new();
    if has("taskset") {
        argv.extend(["taskset".into(), "-c".into(), cpu.into()]);
    } else {
        println!(
            "warning: taskset not found, {} runs unpinned",
            bin.display()
        );
    }
    match priority {
        Priority::Realtime => argv.extend(["chrt".into(), "--rr".into(), "10".into()]),
        Priority::Nice(n) if n != 0 && has("nice") => {
            argv.extend(["nice".into(), "-n".into(), n.to_string().into()]);
        }
        Priority::Nice(_) => {}
    }
    argv.push(bin.into());
    let mut c = Command::new(&argv[0]);
    c.args(&argv[1..]);
    c
}

/// The processes this run started; whatever is still running when it is dropped (an
/// error, a panic) is killed by PID.
#[derive(Default)]
struct Procs {
    children: Vec<(String, Child)>,
}

impl Procs {
    fn start(&mut self, name: &str, c: &mut Command) -> Result<u32> {
        let child = c.spawn().with_context(|| format!("cannot start {name}"))?;
        let pid = child.id();
        self.children.push((name.to_owned(), child));
        Ok(pid)
    }

    fn child(&mut self, pid: u32) -> Result<&mut Child> {
        self.children
            .iter_mut()
            .map(|(_, c)| c)
            .find(|c| c.id() == pid)
            .ok_or_else(|| anyhow!("no process {pid}"))
    }

    fn stdout(&mut self, pid: u32) -> Result<std::process::ChildStdout> {
        self.child(pid)?
            .stdout
            .take()
            .ok_or_else(|| anyhow!("stdout of {pid} not piped"))
    }

    fn running(&mut self, pid: u32) -> Result<bool> {
        Ok(self.child(pid)?.try_wait()?.is_none())
    }

    /// SIGTERM (a clean shutdown), then SIGKILL after 10 s.
    fn stop(&mut self, pid: u32) -> Result<()> {
        if !self.running(pid)? {
            return Ok(());
        }
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.running(pid)? {
            if Instant::now() > deadline {
                let c = self.child(pid)?;
                c.kill()?;
                c.wait()?;
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        for (name, c) in &mut self.children {
            if matches!(c.try_wait(), Ok(None)) {
                eprintln!("stopping {name} (pid {})", c.id());
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

/// The lines of a child's output, read on a thread (so the child never blocks on a full
/// pipe).
fn lines_of(out: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                // Nobody listens any more: keep draining so the child is never blocked.
                continue;
            }
        }
    });
    rx
}

fn wait_line<T>(
    rx: &Receiver<String>,
    limit: Duration,
    mut pick: impl FnMut(&str) -> Option<T>,
) -> Result<T> {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                if let Some(v) = pick(&line) {
                    return Ok(v);
                }
            }
            Err(RecvTimeoutError::Timeout) => bail!("timed out after {limit:?}"),
            Err(RecvTimeoutError::Disconnected) => bail!("the process exited"),
        }
    }
}

fn echo_bots(line: &str) -> &str {
    println!("  bots| {line}");
    line
}

/// A plain HTTP/1.1 GET on 127.0.0.1; returns the body.
fn http_get(addr: &str, path: &str) -> Result<String> {
    let mut s = TcpStream::connect(addr).with_context(|| format!("connect {addr}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow!("bad HTTP answer to {path}"))?;
    if !head.starts_with("HTTP/1.1 200") {
        bail!("GET {path}: {}", head.lines().next().unwrap_or_default());
    }
    Ok(body.to_owned())
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let rest = stat
        .rsplit_once(')')
        .ok_or_else(|| anyhow!("bad /proc/{pid}/stat"))?
        .1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| -> Result<u64> {
        Ok(f.get(i)
            .ok_or_else(|| anyhow!("short /proc/{pid}/stat"))?
            .parse()?)
    };
    // Fields 14 and 15 of stat(5), counted from field 3 after the command name.
    Ok(field(11)? + field(12)?)
}

/// Per core from /proc/stat: (busy, total) clock ticks, busy = total - idle - iowait.
fn core_ticks() -> Result<Vec<(u64, u64)>> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let mut cores = Vec::new();
    for line in stat.lines() {
        let mut f = line.split_whitespace();
        let Some(name) = f.next() else { continue };
        if !(name.starts_with("cpu") && name.len() > 3) {
            continue;
        }
        let v: Vec<u64> = f.filter_map(|x| x.parse().ok()).collect();
        let total: u64 = v.iter().take(8).sum();
        let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
        cores.push((total - idle, total));
    }
    Ok(cores)
}

fn rss_kb(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow!("no VmRSS for {pid}"))
}

fn clock_ticks_per_s() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_default()
}

fn git_commit(root: &Path) -> String {
    let out = |args: &[&str]| {
        Command::new("git")
            .current_dir(root)
            .args(args)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    };
    let rev = out(&["rev-parse", "--short", "HEAD"]);
    let dirty = !out(&["status", "--porcelain", "--", "server", "shared", "bots"]).is_empty();
    if dirty {
        format!("{rev}-dirty")
    } else {
        rev
    }
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map_or_else(
            || root.join("target"),
            |p| if p.is_absolute() { p } else { root.join(p) },
        )
}

/// Side of the open-world map: 170 * sqrt(N) units (about 50 others in a 1600 x 900 view).
fn open_world_side(n: usize) -> f64 {
    170.0 * (n as f64).sqrt()
}

/// A square map without walls of side [`open_world_side`], with spawn points on a grid
/// spread over the whole map.
fn write_open_world_map(dir: &Path, n: usize) -> Result<PathBuf> {
    let side = open_world_side(n).max(400.0);
    let per_row = ((n as f64).sqrt().ceil() as usize).clamp(2, 100);
    let mut spawns = Vec::new();
    for i in 0..per_row {
        for j in 0..per_row {
            let at = |k: usize| side * (k as f64 + 0.5) / per_row as f64;
            spawns.push([at(i).round(), at(j).round()]);
        }
    }
    let map = json!({
        "name": format!("Open world {n}"),
        "width": side.round(),
        "height": side.round(),
        "walls": [],
        "spawns": spawns,
    });
    let path = dir.join(format!("open-world-{n}.json"));
    std::fs::write(&path, map.to_string())?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenarios_parse_with_or_without_the_size() {
        assert_eq!(
            parse_scenario("arena", Some(200)).unwrap(),
            (Kind::Arena, 200)
        );
        assert_eq!(
            parse_scenario("arena-500", None).unwrap(),
            (Kind::Arena, 500)
        );
        assert_eq!(
            parse_scenario("open-world-1000", None).unwrap(),
            (Kind::OpenWorld, 1000)
        );
        assert_eq!(
            parse_scenario("combat", Some(200)).unwrap(),
            (Kind::Combat, 200)
        );
        assert!(parse_scenario("arena-5", Some(6)).is_err());
        assert!(parse_scenario("arena", None).is_err());
        assert!(parse_scenario("duel", Some(2)).is_err());
    }
}
