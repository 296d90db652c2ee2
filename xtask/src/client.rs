//! `cargo xtask client`: builds the browser client for `wasm32-unknown-unknown` and binds it
//! with `wasm-bindgen --target web`.
//!
//! Two routes, picked by [`ensure_toolchain`]:
//!
//! - [`RouteKind::Rustup`]: the active rustup toolchain already has the wasm32 standard
//!   library (a normal developer machine). Plain `cargo build --target wasm32-unknown-unknown`.
//! - [`RouteKind::Debian`]: no wasm32 std in rustup (our build machines, where
//!   `rustup target add` hangs). Debian's `rustc-web`/`cargo-web` (1.96) build std from
//!   `rust-web-src` with `-Z build-std` (allowed by `RUSTC_BOOTSTRAP=1`) and link with
//!   `wasm-ld-16` from `lld-16`.
//!
//! Both routes build into `target/wasm` so the native `target/` built by rustup's cargo is
//! never invalidated, with the workspace's size-oriented `wasm-release` profile, so the
//! native `release` profile (used by the server) is left alone.
//!
//! Every install step checks first, prints what it does, and does nothing when the tool is
//! already there, so running `cargo xtask client` twice installs nothing the second time.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// Version of `wasm-bindgen-cli` to use. Must equal the `wasm-bindgen = "=X.Y.Z"` pin in
/// `client-wasm/Cargo.toml` (the CLI refuses modules from any other crate version);
/// [`build_client`] checks it against `Cargo.lock`.
pub const WASM_BINDGEN_VERSION: &str = "0.2.130";

/// Cargo package name of the browser client.
pub const CLIENT_PACKAGE: &str = "tickwire-client-wasm";

/// Library (artifact) name of the browser client: `<lib>.wasm`, `<lib>.js`, `<lib>_bg.wasm`.
pub const CLIENT_LIB: &str = "tickwire_client_wasm";

/// The browser target triple.
pub const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// Target directory for the wasm build, relative to the workspace root. Kept apart from the
/// native `target/` so the two cargos (and their different env) never rebuild each other.
pub const WASM_TARGET_DIR: &str = "target/wasm";

/// Keep the wasm `name` section (function names in browser stack traces). Costs about 40 KB
/// raw / 7 KB gzip on the probe; panic messages and locations are printed either way.
pub const KEEP_NAME_SECTION: bool = false;

/// Debian packages of the build route: rustc 1.96 with its std sources, and the wasm linker.
const DEBIAN_PACKAGES: &[&str] = &["rustc-web", "cargo-web", "rust-web-src", "lld-16"];
/// Debian's clippy for that rustc (`cargo-clippy` and `clippy-driver` in /usr/bin): only
/// [`clippy`] needs it, so only it installs it.
const DEBIAN_CLIPPY_PACKAGE: &str = "rust-web-clippy";
/// Debian packages for headless browser tests.
const CHROMIUM_PACKAGES: &[&str] = &["chromium", "chromium-driver"];

const DEBIAN_RUSTC: &str = "/usr/bin/rustc";
const DEBIAN_CARGO: &str = "/usr/bin/cargo";
const DEBIAN_WASM_LD: &str = "/usr/bin/wasm-ld-16";
/// Present when `rust-web-src` is installed; `-Z build-std` reads this lock file.
const DEBIAN_STD_SRC: &str = "/usr/lib/rustlib/src/rust/library/Cargo.lock";
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// `rustup target add` hangs on machines without access to static.rust-lang.org.
const RUSTUP_TARGET_ADD_TIMEOUT: Duration = Duration::from_secs(20);

/// The cargo profile of the wasm build (`[profile.wasm-release]` in the workspace
/// `Cargo.toml`: size-optimised, fat LTO, `panic = "abort"`); native builds never use it.
pub const WASM_PROFILE: &str = "wasm-release";

/// Which compiler builds the wasm32 client on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteKind {
    /// rustup's active toolchain has the wasm32 std: ordinary `cargo build --target`.
    Rustup,
    /// Debian `rustc-web` + `rust-web-src` + `wasm-ld-16`, std built with `-Z build-std`.
    Debian,
}

/// A ready-to-use wasm toolchain: the compiler route and a `wasm-bindgen` of the pinned version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WasmRoute {
    /// How `cargo build` is run for wasm32.
    pub kind: RouteKind,
    /// Path of a `wasm-bindgen` binary that prints [`WASM_BINDGEN_VERSION`].
    pub wasm_bindgen: PathBuf,
}

impl WasmRoute {
    /// A `cargo build` command for the client in release for wasm32, env already set.
    fn cargo_build(&self, workspace_root: &Path, target_dir: &Path) -> Command {
        let mut cmd = match self.kind {
            RouteKind::Rustup => Command::new("cargo"),
            RouteKind::Debian => {
                let mut c = Command::new(DEBIAN_CARGO);
                // Debian's cargo must run Debian's rustc (rustup's proxy comes first on PATH).
                c.env("RUSTC", DEBIAN_RUSTC)
                    // Lets the stable Debian toolchain accept -Z build-std (cargo) and
                    // -Z unstable-options (rustc). Keep this env identical between runs:
                    // changing it invalidates every fingerprint in target/wasm.
                    .env("RUSTC_BOOTSTRAP", "1")
                    // Debian's rustc has no rust-lld; without this, linking fails.
                    .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER", DEBIAN_WASM_LD);
                c
            }
        };
        // `cargo rustc --crate-type cdylib`: the crate is also an rlib (native tests use its
        // client core), and cargo skips LTO for a crate built as both.
        cmd.current_dir(workspace_root)
            .args([
                "rustc",
                "--lib",
                "--profile",
                WASM_PROFILE,
                "-p",
                CLIENT_PACKAGE,
                "--target",
                WASM_TARGET,
                "--crate-type",
                "cdylib",
            ])
            .arg("--target-dir")
            .arg(target_dir);
        if self.kind == RouteKind::Debian {
            cmd.args(["-Z", "build-std=std,panic_abort"]);
        }
        // Native-only flags (e.g. -C target-cpu=native) from the caller's env would be applied
        // to wasm32 code; per-target flags belong in .cargo/config.toml
        // [target.wasm32-unknown-unknown] rustflags, which still apply.
        for var in [
            "RUSTFLAGS",
            "CARGO_ENCODED_RUSTFLAGS",
            "CARGO_BUILD_RUSTFLAGS",
        ] {
            if std::env::var_os(var).is_some() {
                println!("xtask: ignoring {var} from the environment for the wasm build");
                cmd.env_remove(var);
            }
        }
        cmd
    }
}

/// Makes sure a wasm32 compiler route and the pinned `wasm-bindgen` CLI are available,
/// installing only what is missing, and returns the route to use.
///
/// Order: (1) rustup toolchain with an installed wasm32 std → [`RouteKind::Rustup`];
/// (2) Debian route, running `apt-get update` + `apt-get install -y` only for the packages
/// that are not installed; (3) where there is no `apt-get`, `rustup target add` bounded by a
/// timeout. Then `cargo install wasm-bindgen-cli --version` unless a `wasm-bindgen` on
/// PATH or in `$CARGO_HOME/bin` already prints [`WASM_BINDGEN_VERSION`].
pub fn ensure_toolchain() -> Result<WasmRoute> {
    let kind = ensure_compiler()?;
    let wasm_bindgen = ensure_wasm_bindgen(kind)?;
    println!(
        "xtask: wasm route: {kind:?}, wasm-bindgen {WASM_BINDGEN_VERSION} at {}",
        wasm_bindgen.display()
    );
    Ok(WasmRoute { kind, wasm_bindgen })
}

/// `cargo clippy -D warnings` of the browser client for wasm32, by the route that builds it
/// (installing what is missing, once): its web shell (`client-wasm/src/web/`) compiles for
/// wasm32 only, so the native clippy never sees it.
pub fn clippy(workspace_root: &Path) -> Result<()> {
    let kind = ensure_compiler()?;
    let mut cmd = match kind {
        RouteKind::Rustup => Command::new("cargo"),
        RouteKind::Debian => {
            if !dpkg_installed(DEBIAN_CLIPPY_PACKAGE) {
                apt_install(&[DEBIAN_CLIPPY_PACKAGE])?;
            }
            let mut c = Command::new(DEBIAN_CARGO);
            // Debian's cargo-clippy and clippy-driver (in /usr/bin) before rustup's proxies,
            // and the build route's env (identical to the build's, see `cargo_build`).
            let path = std::env::var("PATH").unwrap_or_default();
            c.env("PATH", format!("/usr/bin:{path}"))
                .env("RUSTC", DEBIAN_RUSTC)
                .env("RUSTC_BOOTSTRAP", "1")
                .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER", DEBIAN_WASM_LD);
            c
        }
    };
    cmd.current_dir(workspace_root)
        .args([
            "clippy",
            "-p",
            CLIENT_PACKAGE,
            "--lib",
            "--target",
            WASM_TARGET,
        ])
        .arg("--target-dir")
        .arg(workspace_root.join(WASM_TARGET_DIR));
    if kind == RouteKind::Debian {
        cmd.args(["-Z", "build-std=std,panic_abort"]);
    }
    cmd.args(["--", "-D", "warnings"]);
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
    ] {
        cmd.env_remove(var);
    }
    run(&mut cmd, "clippy the browser client for wasm32")
}

/// Builds `tickwire-client-wasm` for wasm32 in release (size-optimised), runs
/// `wasm-bindgen --target web --no-typescript` into `out_dir`, and prints the raw and
/// gzip -9 sizes of the files it wrote.
///
/// `out_dir` receives `tickwire_client_wasm.js` and `tickwire_client_wasm_bg.wasm`; a page
/// loads them with `<script type="module">import init from './tickwire_client_wasm.js';
/// await init();</script>` (the server must send `.js` as `text/javascript` and `.wasm` as
/// `application/wasm`).
pub fn build_client(workspace_root: &Path, out_dir: &Path) -> Result<()> {
    let route = ensure_toolchain()?;
    check_lock_pin(workspace_root)?;

    let target_dir = workspace_root.join(WASM_TARGET_DIR);
    let started = Instant::now();
    let mut cargo = route.cargo_build(workspace_root, &target_dir);
    run(&mut cargo, "build the client for wasm32")?;
    let wasm = target_dir
        .join(WASM_TARGET)
        .join(WASM_PROFILE)
        .join(format!("{CLIENT_LIB}.wasm"));
    if !wasm.is_file() {
        bail!(
            "{} was not produced; is `{CLIENT_PACKAGE}` a `crate-type = [\"cdylib\"]` with lib name `{CLIENT_LIB}`?",
            wasm.display()
        );
    }
    let built = started.elapsed();

    std::fs::create_dir_all(out_dir).with_context(|| format!("create {}", out_dir.display()))?;
    let mut bindgen = Command::new(&route.wasm_bindgen);
    bindgen.args(["--target", "web", "--no-typescript"]);
    if !KEEP_NAME_SECTION {
        bindgen.args(["--remove-name-section", "--remove-producers-section"]);
    }
    bindgen.arg("--out-dir").arg(out_dir).arg(&wasm);
    run(&mut bindgen, "generate JS bindings")?;

    println!(
        "xtask: client built in {:.1?} (cargo {:.1?}) -> {}",
        started.elapsed(),
        built,
        out_dir.display()
    );
    for name in [format!("{CLIENT_LIB}_bg.wasm"), format!("{CLIENT_LIB}.js")] {
        let path = out_dir.join(&name);
        let raw = std::fs::metadata(&path)
            .with_context(|| format!("stat {}", path.display()))?
            .len();
        match gzip_size(&path) {
            Some(gz) => println!("xtask:   {name:<32} {raw:>9} bytes raw {gz:>9} bytes gzip -9"),
            None => println!("xtask:   {name:<32} {raw:>9} bytes raw (gzip not available)"),
        }
    }
    Ok(())
}

/// Installs Chromium and chromedriver from Debian (`/usr/bin/chromium`,
/// `/usr/bin/chromedriver`) if either is missing; does nothing otherwise.
pub fn ensure_chromium() -> Result<()> {
    if Path::new(CHROMIUM).is_file() && Path::new(CHROMEDRIVER).is_file() {
        println!("xtask: chromium and chromedriver present");
        return Ok(());
    }
    let missing: Vec<&str> = CHROMIUM_PACKAGES
        .iter()
        .copied()
        .filter(|p| !dpkg_installed(p))
        .collect();
    let missing = if missing.is_empty() {
        CHROMIUM_PACKAGES.to_vec()
    } else {
        missing
    };
    apt_install(&missing)?;
    for path in [CHROMIUM, CHROMEDRIVER] {
        if !Path::new(path).is_file() {
            bail!("{path} still missing after installing {missing:?}");
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// compiler

fn ensure_compiler() -> Result<RouteKind> {
    if rustup_has_wasm_std() {
        println!("xtask: rustup toolchain has the {WASM_TARGET} std");
        return Ok(RouteKind::Rustup);
    }
    if debian_route_ready() {
        println!("xtask: using Debian rustc-web + rust-web-src + wasm-ld-16 (-Z build-std)");
        return Ok(RouteKind::Debian);
    }
    if which("apt-get").is_some() {
        let missing: Vec<&str> = DEBIAN_PACKAGES
            .iter()
            .copied()
            .filter(|p| !dpkg_installed(p))
            .collect();
        // Packages all "installed" but files missing means something odd; reinstall them all.
        let missing = if missing.is_empty() {
            DEBIAN_PACKAGES.to_vec()
        } else {
            missing
        };
        println!("xtask: no {WASM_TARGET} std in rustup; installing the Debian route: {missing:?}");
        apt_install(&missing)?;
        if debian_route_ready() {
            return Ok(RouteKind::Debian);
        }
        bail!(
            "Debian route still incomplete after apt-get install (need {DEBIAN_RUSTC}, {DEBIAN_CARGO}, \
             {DEBIAN_WASM_LD}, {DEBIAN_STD_SRC})"
        );
    }
    // Not Debian: the ordinary rustup route, bounded because it hangs without network access.
    if which("rustup").is_some() {
        let mut cmd = Command::new("rustup");
        cmd.args(["target", "add", WASM_TARGET]);
        println!(
            "xtask: $ rustup target add {WASM_TARGET}   (timeout {RUSTUP_TARGET_ADD_TIMEOUT:?})"
        );
        match run_with_timeout(&mut cmd, RUSTUP_TARGET_ADD_TIMEOUT)? {
            Some(true) if rustup_has_wasm_std() => return Ok(RouteKind::Rustup),
            Some(_) => println!("xtask: rustup target add failed"),
            None => {
                println!("xtask: rustup target add timed out (no access to static.rust-lang.org?)")
            }
        }
    }
    bail!(
        "no way to build for {WASM_TARGET}: install it with `rustup target add {WASM_TARGET}`, \
         or on Debian 12: apt-get install {}",
        DEBIAN_PACKAGES.join(" ")
    )
}

/// True when `rustc` on PATH (rustup's proxy, same toolchain as the running cargo) has a
/// wasm32 std: `rustc --print target-libdir --target wasm32-unknown-unknown` holds `libstd-*`.
/// The directory is printed even when the target is not installed, so look inside it.
fn rustup_has_wasm_std() -> bool {
    let Ok(out) = Command::new("rustc")
        .args(["--print", "target-libdir", "--target", WASM_TARGET])
        .stderr(Stdio::null())
        .output()
    else {
        return false;
    };
    if !out.status.success() {
        return false;
    }
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    // Debian's own rustc (if it came first on PATH) has no wasm32 std either, so this stays false.
    std::fs::read_dir(&dir).is_ok_and(|mut entries| {
        entries.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("libstd-")))
    })
}

fn debian_route_ready() -> bool {
    [DEBIAN_RUSTC, DEBIAN_CARGO, DEBIAN_WASM_LD, DEBIAN_STD_SRC].iter().all(|p| Path::new(p).is_file())
        // /usr/bin/rustc may also come from bookworm's plain `rustc` (1.63: no edition 2024).
        && dpkg_installed("rustc-web")
}

// ---------------------------------------------------------------------------------------------
// wasm-bindgen

fn ensure_wasm_bindgen(kind: RouteKind) -> Result<PathBuf> {
    if let Some(path) = find_wasm_bindgen() {
        return Ok(path);
    }
    // No --locked: the CLI's own Cargo.lock names a crate version the registry does not serve.
    let mut cmd = match kind {
        RouteKind::Rustup => Command::new("cargo"),
        RouteKind::Debian if which("cargo").is_some() => Command::new("cargo"),
        RouteKind::Debian => {
            let mut c = Command::new(DEBIAN_CARGO);
            c.env("RUSTC", DEBIAN_RUSTC);
            c
        }
    };
    cmd.args([
        "install",
        "wasm-bindgen-cli",
        "--version",
        WASM_BINDGEN_VERSION,
    ]);
    println!(
        "xtask: wasm-bindgen {WASM_BINDGEN_VERSION} not found; installing (about 5 minutes on 2 cores)"
    );
    run(&mut cmd, "install wasm-bindgen-cli")?;
    find_wasm_bindgen().with_context(|| {
        format!("wasm-bindgen {WASM_BINDGEN_VERSION} still not found on PATH or in $CARGO_HOME/bin after cargo install")
    })
}

/// A `wasm-bindgen` whose `--version` prints exactly the pinned version.
fn find_wasm_bindgen() -> Option<PathBuf> {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    let candidates = which("wasm-bindgen")
        .into_iter()
        .chain(cargo_home.map(|h| h.join("bin").join("wasm-bindgen")));
    for path in candidates {
        let Ok(out) = Command::new(&path).arg("--version").output() else {
            continue;
        };
        let text = String::from_utf8_lossy(&out.stdout);
        // "wasm-bindgen 0.2.130"
        let version = text.split_whitespace().nth(1).unwrap_or("");
        if out.status.success() && version == WASM_BINDGEN_VERSION {
            return Some(path);
        }
        println!(
            "xtask: {} is version {:?}, need {WASM_BINDGEN_VERSION}",
            path.display(),
            text.trim()
        );
    }
    None
}

/// The `wasm-bindgen` crate version in `Cargo.lock` must equal [`WASM_BINDGEN_VERSION`].
fn check_lock_pin(workspace_root: &Path) -> Result<()> {
    let lock_path = workspace_root.join("Cargo.lock");
    let Ok(lock) = std::fs::read_to_string(&lock_path) else {
        println!("xtask: no Cargo.lock yet; skipping the wasm-bindgen pin check");
        return Ok(());
    };
    let locked: Vec<&str> = lock
        .split("[[package]]")
        .filter_map(|block| {
            let mut lines = block.lines().map(str::trim);
            let name = lines.find(|l| l.starts_with("name = "))?;
            if name != "name = \"wasm-bindgen\"" {
                return None;
            }
            block
                .lines()
                .map(str::trim)
                .find_map(|l| l.strip_prefix("version = \"")?.strip_suffix('"'))
        })
        .collect();
    match locked.as_slice() {
        [] => println!("xtask: wasm-bindgen not in Cargo.lock yet; cargo will add it"),
        [v] if *v == WASM_BINDGEN_VERSION => {}
        found => bail!(
            "Cargo.lock has wasm-bindgen {found:?} but the CLI is {WASM_BINDGEN_VERSION}: pin \
             `wasm-bindgen = \"={WASM_BINDGEN_VERSION}\"` in the client's Cargo.toml, or change \
             WASM_BINDGEN_VERSION in xtask (they must match exactly)"
        ),
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// helpers

/// `apt-get update` then `apt-get install -y <packages>`, as root (or through `sudo -n`).
/// Waits up to 10 minutes for another apt/dpkg run to release its lock instead of failing.
pub(crate) fn apt_install(packages: &[&str]) -> Result<()> {
    let sudo = !is_root();
    if sudo && which("sudo").is_none() {
        bail!(
            "need root to run: apt-get update && apt-get install -y {}",
            packages.join(" ")
        );
    }
    let apt = |args: &[&str]| {
        let mut cmd = if sudo {
            Command::new("sudo")
        } else {
            Command::new("apt-get")
        };
        if sudo {
            cmd.args(["-n", "apt-get"]);
        }
        cmd.env("DEBIAN_FRONTEND", "noninteractive")
            .args(["-o", "DPkg::Lock::Timeout=600"])
            .args(args);
        cmd
    };
    run(&mut apt(&["update"]), "apt-get update")?;
    let mut install = apt(&["install", "-y"]);
    install.args(packages);
    run(&mut install, "apt-get install")
}

fn dpkg_installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|o| {
            o.status.success()
                && String::from_utf8_lossy(&o.stdout).trim() == "install ok installed"
        })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// First executable named `name` on PATH.
fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// Prints the command, runs it with inherited stdio, fails on a non-zero exit.
fn run(cmd: &mut Command, what: &str) -> Result<()> {
    println!("xtask: $ {}", show(cmd));
    let status = cmd
        .status()
        .with_context(|| format!("{what}: could not start {}", cmd.get_program().display()))?;
    if !status.success() {
        bail!("{what} failed ({status}): {}", show(cmd));
    }
    Ok(())
}

/// Runs `cmd`; `Ok(None)` if it was still running at `timeout` (then it is killed by its PID).
fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> Result<Option<bool>> {
    let mut child = cmd
        .spawn()
        .with_context(|| format!("start {}", cmd.get_program().display()))?;
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status.success()));
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Bytes of `gzip -9` output, if a `gzip` binary is available.
fn gzip_size(path: &Path) -> Option<u64> {
    let out = Command::new("gzip")
        .args(["-9", "-c"])
        .arg(path)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status.success().then_some(out.stdout.len() as u64)
}

/// `KEY=value ... program args` for logs (only the env this module sets).
fn show(cmd: &Command) -> String {
    let mut parts: Vec<String> = cmd
        .get_envs()
        .filter_map(|(k, v)| Some(format!("{}={}", k.to_string_lossy(), v?.to_string_lossy())))
        .collect();
    parts.push(cmd.get_program().to_string_lossy().into_owned());
    parts.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    parts.join(" ")
}
