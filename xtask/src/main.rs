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
        Cmd::Run { server_args } => run(&server_args),
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
    c.args(["run", "--release", "--package", "tickwire-server", "--"]);
    c.arg("--client-dir").arg(&out);
    c.args(server_args);
    run_cmd(&mut c)
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
