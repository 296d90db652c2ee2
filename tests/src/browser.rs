//! Headless Chromium driven through chromedriver (WebDriver) with `fantoccini`.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::{bail, Context, Result};
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The Chromium binary (Debian's `chromium`).
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// The driver binary (Debian's `chromium-driver`).
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A chromedriver process in its own process group; the group (chromedriver and the
/// Chromium it started) is ended when dropped, even if the test panicked mid-session.
pub struct Driver {
    child: Child,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The group id is chromedriver's PID (process_group(0) at spawn).
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether browser tests are to be skipped (`TICKWIRE_SKIP_BROWSER` set: the client is not
/// built); says so on stderr.
#[must_use]
pub fn skipped() -> bool {
    let skip = std::env::var_os("TICKWIRE_SKIP_BROWSER").is_some();
    if skip {
        eprintln!("TICKWIRE_SKIP_BROWSER is set: browser test skipped");
    }
    skip
}

/// Starts chromedriver on a port of its choosing (`--port=0`) and reads the port from its
/// banner.
///
/// # Errors
/// chromedriver is missing or did not start.
pub fn start_chromedriver() -> Result<Driver> {
    if !Path::new(CHROMEDRIVER).exists() {
        bail!("{CHROMEDRIVER} is missing: `cargo xtask test` installs chromium-driver");
    }
    let mut child = Command::new(CHROMEDRIVER)
        .args(["--port=0", "--allowed-ips=127.0.0.1"])
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("spawn chromedriver")?;
    let stdout = child.stdout.take().context("piped stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line?;
        if let Some(rest) = line.split("started successfully on port ").nth(1) {
            let port: u16 = rest.trim_end_matches('.').trim().parse()?;
            // Keep draining so chromedriver never blocks on a full pipe.
            std::thread::spawn(move || lines.for_each(drop));
            return Ok(Driver { child, port });
        }
    }
    let _ = child.kill();
    bail!("chromedriver exited without printing its port")
}

/// Opens a headless Chromium session (window `w` x `h`) with its own empty profile.
///
/// # Errors
/// The session could not be created.
pub async fn session(driver: &Driver, profile: &Path, w: u32, h: u32) -> Result<Client> {
    open(driver, profile, w, h, None).await
}

/// Opens a headless Chromium session that is a phone: a `w` x `h` CSS-pixel touch screen
/// at device pixel ratio `dpr` (chromedriver's mobile emulation: touch events, pointer
/// type `touch`).
///
/// # Errors
/// The session could not be created.
pub async fn phone_session(
    driver: &Driver,
    profile: &Path,
    w: u32,
    h: u32,
    dpr: f64,
) -> Result<Client> {
    let emulation = json!({
        "deviceMetrics": { "width": w, "height": h, "pixelRatio": dpr, "touch": true, "mobile": true },
    });
    open(driver, profile, w, h, Some(emulation)).await
}

async fn open(
    driver: &Driver,
    profile: &Path,
    w: u32,
    h: u32,
    emulation: Option<Value>,
) -> Result<Client> {
    let mut caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                format!("--window-size={w},{h}"),
                format!("--user-data-dir={}", profile.display()),
            ],
        },
        "goog:loggingPrefs": { "browser": "ALL" },
    });
    if let Some(e) = emulation {
        caps["goog:chromeOptions"]["mobileEmulation"] = e;
    }
    let Value::Object(caps) = caps else {
        bail!("capabilities are an object");
    };
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .context("new WebDriver session")
}

/// chromedriver's browser console log (drained on each call): `POST /session/{id}/se/log`.
#[derive(Debug)]
pub struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> std::result::Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({ "type": "browser" }).to_string()),
        )
    }
}

/// A TCP proxy on 127.0.0.1 port 0 in front of a server, which the test cuts as a network
/// failure would: every connection open through it is reset on both sides (no close
/// frame, no FIN), as a Wi-Fi hand-over or a dead NAT entry does; later connections go
/// through again. Point the page at [`CutProxy::http_url`].
pub struct CutProxy {
    /// Where it listens.
    pub addr: SocketAddr,
    cuts: watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl CutProxy {
    /// Starts proxying to `target`.
    ///
    /// # Errors
    /// It could not bind.
    pub async fn start(target: SocketAddr) -> std::io::Result<CutProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (cuts, cut_rx) = watch::channel(0u64);
        let task = tokio::spawn(async move {
            while let Ok((mut down, _)) = listener.accept().await {
                let mut cut = cut_rx.clone();
                // Only cuts after this connection arrived end it.
                cut.borrow_and_update();
                tokio::spawn(async move {
                    let Ok(mut up) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut down, &mut up) => {}
                        _ = cut.changed() => {
                            // Closing with a zero linger sends a reset.
                            let _ = down.set_zero_linger();
                            let _ = up.set_zero_linger();
                        }
                    }
                });
            }
        });
        Ok(CutProxy { addr, cuts, task })
    }

    /// Resets every connection open through the proxy now.
    pub fn cut(&self) {
        self.cuts.send_modify(|n| *n += 1);
    }

    /// The server's HTTP base URL, through the proxy.
    #[must_use]
    pub fn http_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
