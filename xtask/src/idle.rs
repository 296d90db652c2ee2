//! `cargo xtask bench-idle --n 10000`: memory per idle WebSocket connection. Runs the
//! ignored test `server/tests/idle_bench.rs` in release mode: it starts the real server
//! binary, upgrades N connections from 127.0.0.x source addresses, and reports the growth
//! of the server's resident memory divided by N.

use anyhow::Result;

use crate::util::{cargo, run_cmd};

/// Options of `cargo xtask bench-idle`.
#[derive(clap::Args)]
pub struct IdleArgs {
    /// Idle connections to open.
    #[arg(long, default_value_t = 10_000)]
    n: usize,
}

/// Runs the benchmark.
pub fn run(args: &IdleArgs) -> Result<()> {
    run_cmd(
        cargo()
            .args(["test", "--release", "--package", "tickwire-server"])
            .args(["--test", "idle_bench", "--", "--ignored", "--nocapture"])
            .env("TICKWIRE_IDLE_N", args.n.to_string()),
    )
}
