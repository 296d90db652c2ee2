//! `cargo xtask autobahn` (and part of `cargo xtask test`): the Autobahn|Testsuite case set,
//! run by `kosoku` (PyPI) against the server's test-only echo endpoint (`--autobahn-echo`,
//! `/echo`) on the real accept path, with the verdicts compared to the pinned ones in
//! `tests/autobahn/expected.txt`.
//!
//! Cases 9.* (performance, up to 16 MiB messages), 12.* and 13.* (compression, never
//! negotiated) are left out. Cases that send messages over the game's size limit fail by
//! design (the server closes with 1009): they are pinned as such, so any change shows.
//!
//! Installs, once and idempotently: a Python venv in `target/autobahn-venv` with
//! `kosoku==0.1.0`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::util::{cargo, root, run_cmd, succeeds};

const KOSOKU: &str = "kosoku==0.1.0";
const EXPECTED: &str = "tests/autobahn/expected.txt";

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from)
}

/// The venv's `kosoku`, installed if missing.
pub fn ensure_kosoku() -> Result<PathBuf> {
    let venv = target_dir().join("autobahn-venv");
    let kosoku = venv.join("bin").join("kosoku");
    if succeeds(Command::new(&kosoku).arg("--help")) {
        return Ok(kosoku);
    }
    println!("==> installing {KOSOKU} into {}", venv.display());
    // `--clear`: a venv left half-made (an interrupted install, a full disk) starts over.
    run_cmd(
        Command::new("python3")
            .args(["-m", "venv", "--clear"])
            .arg(&venv),
    )?;
    run_cmd(Command::new(venv.join("bin").join("pip")).args([
        "install",
        "--quiet",
        "--disable-pip-version-check",
        KOSOKU,
    ]))?;
    if !succeeds(Command::new(&kosoku).arg("--help")) {
        bail!("kosoku did not install into {}", venv.display());
    }
    Ok(kosoku)
}

/// Runs the suite; with `bless`, writes the verdicts as the new expectation.
pub fn run(bless: bool) -> Result<()> {
    let kosoku = ensure_kosoku()?;
    run_cmd(cargo().args([
        "build",
        "--quiet",
        "--package",
        "tickwire-server",
        "--features",
        "test-hooks",
    ]))?;
    let bin = target_dir().join("debug").join("tickwire-server");
    let mut server = Command::new(&bin)
        .args(["--bind", "127.0.0.1:0", "--autobahn-echo", "--assets"])
        .arg(root().join("assets"))
        .env("RUST_LOG", "warn")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {}", bin.display()))?;
    let stdout = server.stdout.take().context("server stdout")?;
    let (tx, rx) = mpsc::channel::<SocketAddr>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("listening on http://").nth(1) {
                if let Ok(addr) = rest.trim_end_matches('/').parse() {
                    let _ = tx.send(addr);
                }
            }
        }
    });
    let result = rx
        .recv_timeout(Duration::from_secs(30))
        .context("the server did not report its address")
        .and_then(|addr| suite(&kosoku, addr));
    // Our own child, by its handle.
    let _ = server.kill();
    let _ = server.wait();
    let got = result?;
    compare(&got, bless)
}

/// Runs kosoku and reads its verdicts: case id -> "behavior behaviorClose".
fn suite(kosoku: &Path, addr: SocketAddr) -> Result<BTreeMap<String, String>> {
    let out = target_dir().join("autobahn");
    let _ = std::fs::remove_dir_all(&out);
    let url = format!("ws://{addr}/echo");
    println!("==> autobahn: kosoku against {url}");
    // Its exit code says whether every case passed; some fail by design, so the verdicts
    // are compared instead.
    let status = Command::new(kosoku)
        .args(["-m", "fuzzingclient", &url])
        .args(["-x", "9.*", "-x", "12.*", "-x", "13.*", "-p", "2", "-o"])
        .arg(&out)
        .stdout(Stdio::null())
        .status()
        .context("cannot run kosoku")?;
    println!("kosoku exit status: {status}");
    let python = kosoku.with_file_name("python");
    let listing = Command::new(python)
        .args([
            "-c",
            "import json,sys\n\
             idx=json.load(open(sys.argv[1]))\n\
             for agent in idx.values():\n\
             \x20   for case, v in agent.items():\n\
             \x20       print(case, v['behavior'], v['behaviorClose'])",
        ])
        .arg(out.join("index.json"))
        .output()
        .context("cannot read the autobahn report")?;
    if !listing.status.success() {
        bail!(
            "no autobahn report: {}",
            String::from_utf8_lossy(&listing.stderr)
        );
    }
    Ok(parse(&String::from_utf8_lossy(&listing.stdout)))
}

fn parse(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let (case, verdict) = l.trim().split_once(' ')?;
            Some((case.to_owned(), verdict.trim().to_owned()))
        })
        .collect()
}

/// Orders case ids numerically (1.1.10 after 1.1.9).
fn case_key(id: &str) -> Vec<u32> {
    id.split('.').map(|p| p.parse().unwrap_or(0)).collect()
}

fn compare(got: &BTreeMap<String, String>, bless: bool) -> Result<()> {
    let mut ids: Vec<&String> = got.keys().collect();
    ids.sort_by_key(|id| case_key(id));
    let mut summary: BTreeMap<&str, usize> = BTreeMap::new();
    for v in got.values() {
        *summary
            .entry(v.split(' ').next().unwrap_or("?"))
            .or_default() += 1;
    }
    println!("autobahn: {} cases; behavior: {summary:?}", got.len());
    let path = root().join(EXPECTED);
    if bless {
        let mut text = String::from(
            "# Autobahn verdicts of the /echo endpoint (cargo xtask autobahn --bless).\n\
             # case behavior behaviorClose. Over-limit messages (256 bytes) fail by design.\n",
        );
        for id in ids {
            text.push_str(&format!("{id} {}\n", got[id]));
        }
        std::fs::write(&path, text)?;
        println!("wrote {}", path.display());
        return Ok(());
    }
    let expected = parse(
        &std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?,
    );
    let mut diffs = Vec::new();
    for (id, want) in &expected {
        match got.get(id) {
            Some(v) if v == want => {}
            Some(v) => diffs.push(format!("{id}: expected {want}, got {v}")),
            None => diffs.push(format!("{id}: expected {want}, not run")),
        }
    }
    for id in got.keys().filter(|id| !expected.contains_key(*id)) {
        diffs.push(format!("{id}: not pinned, got {}", got[id]));
    }
    if !diffs.is_empty() {
        bail!(
            "autobahn verdicts differ from {EXPECTED} (reports in target/autobahn):\n{}",
            diffs.join("\n")
        );
    }
    println!("autobahn: every verdict matches {EXPECTED}");
    Ok(())
}
