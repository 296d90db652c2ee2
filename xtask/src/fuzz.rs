//! `cargo xtask fuzz [--seconds N]`: the cargo-fuzz targets of `fuzz/` on nightly, each for
//! N seconds; prints executions and crashes per target. Installs `cargo-fuzz` when missing.
//! Not part of `cargo xtask test`: the sanitizer build alone takes about two minutes here.

use std::process::Command;

use anyhow::{bail, Result};

use crate::util::{root, run_cmd, succeeds};

const TARGETS: [&str; 2] = ["decode_client", "replica_apply"];

/// Options of `cargo xtask fuzz`.
#[derive(clap::Args)]
pub struct FuzzArgs {
    /// Seconds per target.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
}

fn rustup_cargo() -> Command {
    // The rustup proxy (not $CARGO, which is the stable toolchain's own binary), so that
    // `+nightly` selects the toolchain.
    let mut c = Command::new("cargo");
    c.env_remove("RUSTUP_TOOLCHAIN").env_remove("CARGO");
    c
}

/// Installs cargo-fuzz if `cargo fuzz` does not run.
pub fn ensure_cargo_fuzz() -> Result<()> {
    if succeeds(rustup_cargo().args(["+nightly", "fuzz", "--version"])) {
        return Ok(());
    }
    run_cmd(rustup_cargo().args(["install", "cargo-fuzz", "--locked"]))
}

/// Runs every target for `args.seconds`.
pub fn run(args: &FuzzArgs) -> Result<()> {
    ensure_cargo_fuzz()?;
    let dir = root().join("fuzz");
    let mut failed = Vec::new();
    for target in TARGETS {
        println!("==> fuzz {target} for {} s", args.seconds);
        let out = rustup_cargo()
            .current_dir(&dir)
            .args([
                "+nightly",
                "fuzz",
                "run",
                target,
                "--",
                "-print_final_stats=1",
            ])
            .arg(format!("-max_total_time={}", args.seconds))
            .output()?;
        let log = String::from_utf8_lossy(&out.stderr);
        let execs = log
            .lines()
            .find_map(|l| l.strip_prefix("stat::number_of_executed_units:"))
            .map_or("?".to_owned(), |v| v.trim().to_owned());
        let crashed = !out.status.success();
        println!(
            "fuzz {target}: {execs} executions, {} crashes",
            u8::from(crashed)
        );
        if crashed {
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            for l in tail.iter().rev() {
                println!("  {l}");
            }
            failed.push(target);
        }
    }
    if !failed.is_empty() {
        bail!("fuzz targets crashed: {failed:?} (inputs in fuzz/artifacts/)");
    }
    Ok(())
}
