//! `cargo xtask`: the project's commands (the alias lives in `.cargo/config.toml`).
//!
//! - `cargo xtask run [-- SERVER ARGS]`: build the browser client and start the server on
//!   http://127.0.0.1:8080/ (installs what the client build needs, once);
//! - `cargo xtask test`: everything CI runs: format check, clippy with warnings denied,
//!   every test (including the headless-browser one);
//! - `cargo xtask client`: build the browser client into `target/client`;
//! - `cargo xtask clippy-wasm`: clippy of the browser client for wasm32 (the test command
//!   runs it too);
//! - `cargo xtask bench SCENARIO --n N`: a benchmark of docs/benchmarks.md.

mod autobahn;
mod bench;
mod client;
mod fuzz;
mod idle;
mod nginx;
mod redis;
mod util;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

use util::{cargo, root, run_cmd};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Tickwire project commands")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build the browser client and run the server (release) on http://127.0.0.1:8080/.
    Run {
        /// Start a local redis-server and this many nodes sharing it (`--redis`), on
        /// ports 8080, 8081...
        #[arg(long)]
        cluster: Option<u16>,
        /// Arguments passed to tickwire-server (after `--`).
        #[arg(last = true)]
        server_args: Vec<String>,
    },
    /// Run everything CI runs: fmt check, clippy (warnings denied), all tests.
    Test {
        /// Skip the browser client build and the headless-browser test.
        #[arg(long)]
        no_browser: bool,
    },
    /// Build the browser client (wasm) into target/client.
    Client,
    /// Clippy of the browser client for wasm32 (its web shell), warnings denied.
    ClippyWasm,
    /// Run a benchmark scenario (server on CPU 0, bots on CPU 1); appends to bench/results.jsonl.
    Bench(bench::BenchArgs),
    /// Memory per idle WebSocket connection (10,000 by default).
    BenchIdle(idle::IdleArgs),
    /// The Autobahn conformance suite against the test-only echo endpoint.
    Autobahn {
        /// Pin the verdicts of this run as the expected ones.
        #[arg(long)]
        bless: bool,
    },
    /// Run the cargo-fuzz targets (nightly) for a while each.
    Fuzz(fuzz::FuzzArgs),
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Run {
            cluster: Some(k),
            server_args,
        } => run_cluster(k, &server_args),
        Cmd::Run {
            cluster: None,
            server_args,
        } => run(&server_args),
        Cmd::Test { no_browser } => test(no_browser),
        Cmd::Client => client_build().map(|_| ()),
        Cmd::ClippyWasm => client::clippy(&root()),
        Cmd::Bench(args) => bench::bench(&args),
        Cmd::BenchIdle(args) => idle::run(&args),
        Cmd::Autobahn { bless } => autobahn::run(bless),
        Cmd::Fuzz(args) => fuzz::run(&args),
    }
}

fn client_dir() -> PathBuf {
    root().join("target").join("client")
}

fn client_build() -> Result<PathBuf> {
    let out = client_dir();
    client::build_client(&root(), &out)?;
    Ok(out)
}

fn run(server_args: &[String]) -> Result<()> {
    let out = client_build()?;
    let mut c = cargo();
    c.args([
        "run",
        "--release",
        "--package",
        "tickwire-server",
        "--bin",
        "tickwire-server",
        "--",
    ]);
    c.arg("--client-dir").arg(&out);
    c.args(server_args);
    run_cmd(&mut c)
}

/// `cargo xtask run --cluster K`: a redis-server of its own (a free loopback port, no
/// persistence) and K nodes on http://127.0.0.1:8080/, :8081/... sharing it, until Ctrl-C;
/// every process stopped by its PID.
fn run_cluster(k: u16, server_args: &[String]) -> Result<()> {
    use std::process::{Command, Stdio};
    anyhow::ensure!((1..=16).contains(&k), "--cluster takes 1 to 16 nodes");
    redis::ensure()?;
    let out = client_build()?;
    run_cmd(cargo().args(["build", "--release", "--package", "tickwire-server"]))?;
    let bin = root()
        .join("target")
        .join("release")
        .join("tickwire-server");
    let port = redis::free_port()?;
    let mut children = Vec::new();
    let redis_child = Command::new("redis-server")
        .args(redis::server_args(port))
        .stdout(Stdio::null())
        .spawn()?;
    children.push(redis_child);
    let stop_all = |children: &mut Vec<std::process::Child>| {
        for c in children.iter_mut().rev() {
            if !matches!(c.try_wait(), Ok(None)) {
                continue;
            }
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let _ = c.wait();
        }
    };
    if let Err(e) = redis::wait_ready(port) {
        stop_all(&mut children);
        return Err(e);
    }
    let secret = format!("local-cluster-{}", std::process::id());
    for i in 0..k {
        let addr = format!("127.0.0.1:{}", 8080 + i);
        let node = Command::new(&bin)
            .arg("--client-dir")
            .arg(&out)
            .args([
                "--bind",
                &addr,
                "--redis",
                &format!("redis://127.0.0.1:{port}/0"),
            ])
            .args(["--secret", &secret, "--node-id", &format!("node-{}", i + 1)])
            .args(server_args)
            .spawn();
        match node {
            Ok(c) => children.push(c),
            Err(e) => {
                stop_all(&mut children);
                return Err(e.into());
            }
        }
    }
    println!(
        "redis-server on 127.0.0.1:{port}; {k} nodes on http://127.0.0.1:8080/ to :{} (Ctrl-C stops them all)",
        8080 + k - 1
    );
    // The nodes stop on the terminal's Ctrl-C with us; wait for the first to end, then
    // stop the rest by PID.
    loop {
        if children
            .iter_mut()
            .any(|c| matches!(c.try_wait(), Ok(Some(_))))
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    stop_all(&mut children);
    Ok(())
}

fn test(no_browser: bool) -> Result<()> {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    println!("==> cargo xtask test (CI={ci})");
    run_cmd(cargo().args(["fmt", "--all", "--", "--check"]))?;
    run_cmd(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--locked",
        "--",
        "-D",
        "warnings",
    ]))?;
    client::clippy(&root())?;
    if !no_browser {
        client_build()?;
        client::ensure_chromium()?;
    }
    nginx::ensure()?;
    redis::ensure()?;
    let mut t = cargo();
    if util::has_nextest() {
        t.args([
            "nextest",
            "run",
            "--workspace",
            "--locked",
            "--no-fail-fast",
        ]);
    } else {
        t.args(["test", "--workspace", "--locked", "--no-fail-fast"]);
    }
    if no_browser {
        t.env("TICKWIRE_SKIP_BROWSER", "1");
    }
    run_cmd(&mut t)?;
    // nextest does not run doctests; the walkthrough and API examples live there.
    if util::has_nextest() {
        run_cmd(cargo().args(["test", "--workspace", "--locked", "--doc"]))?;
    }
    autobahn::run(false)?;
    println!("==> all checks passed");
    Ok(())
}
