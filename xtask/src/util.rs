//! Small helpers for running commands.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// `cargo` as invoked by the user (rustup's), in the workspace root.
pub fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

/// Runs a command, echoing it, and fails on a non-zero exit.
pub fn run_cmd(c: &mut Command) -> Result<()> {
    println!("$ {}", describe(c));
    let status = c
        .status()
        .with_context(|| format!("cannot start {}", describe(c)))?;
    if !status.success() {
        bail!("{} failed: {status}", describe(c));
    }
    Ok(())
}

/// Whether a command runs and exits 0 (output discarded).
pub fn succeeds(c: &mut Command) -> bool {
    c.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether `cargo nextest` is installed.
pub fn has_nextest() -> bool {
    succeeds(cargo().args(["nextest", "--version"]))
}

fn describe(c: &Command) -> String {
    let mut s = c.get_program().to_string_lossy().into_owned();
    for a in c.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Makes sure `tool probe...` runs; when it does not, installs Debian's `package` once
/// ([`crate::client::apt_install`]: as root or through `sudo -n`, waiting for another apt
/// run's lock) for `what`, and checks again. Nothing happens when the tool is there.
pub fn ensure_debian_tool(tool: &str, probe: &[&str], package: &str, what: &str) -> Result<()> {
    if succeeds(Command::new(tool).args(probe)) {
        return Ok(());
    }
    println!("==> installing {package} ({what})");
    crate::client::apt_install(&[package])?;
    if !succeeds(Command::new(tool).args(probe)) {
        bail!("{tool} is still not runnable after installing the Debian package {package}");
    }
    Ok(())
}
