//! Installs nginx (Debian's `nginx-light`) for the reverse-proxy end-to-end test, once and
//! idempotently: nothing happens when `nginx` is already on the PATH.

use std::process::Command;

use anyhow::{bail, Result};

use crate::util::{run_cmd, succeeds};

/// Makes sure `nginx` can run.
pub fn ensure() -> Result<()> {
    if succeeds(Command::new("nginx").arg("-v")) {
        return Ok(());
    }
    println!("==> installing nginx-light (reverse-proxy test)");
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let apt = |args: &[&str]| {
        let mut c = if root {
            Command::new("apt-get")
        } else {
            let mut c = Command::new("sudo");
            c.arg("apt-get");
            c
        };
        c.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        c
    };
    run_cmd(&mut apt(&["update", "-qq"]))?;
    run_cmd(&mut apt(&[
        "install",
        "-y",
        "-qq",
        "--no-install-recommends",
        "nginx-light",
    ]))?;
    if !succeeds(Command::new("nginx").arg("-v")) {
        bail!("nginx is still not runnable after installing nginx-light");
    }
    Ok(())
}
