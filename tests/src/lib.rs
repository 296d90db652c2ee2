//! Test harness: [`TestServer`] runs the real server (`tickwire_server::run`) on
//! 127.0.0.1 port 0 inside the test's runtime; [`wait_for`] polls a condition with a bound.

pub mod browser;

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub mod raw;
pub mod replay;

pub use tickwire_bots as bots;
pub use tickwire_server::Config;

/// The workspace root (where `assets/` lives).
#[must_use]
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// A configuration for tests: assets from the workspace, everything else default.
#[must_use]
pub fn test_config() -> Config {
    Config {
        assets: workspace_root().join("assets"),
        client_dir: workspace_root().join("target").join("client"),
        ..Config::default()
    }
}

/// A running server.
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), tickwire_server::ServerError>>,
}

impl TestServer {
    /// Starts a server with the default test configuration.
    pub async fn start() -> TestServer {
        TestServer::start_with(test_config()).await
    }

    /// Starts a server with `config` on 127.0.0.1:0.
    pub async fn start_with(config: Config) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        TestServer::start_on(listener, config)
    }

    /// Starts a server with `config` on an already bound listener (e.g. the address a
    /// previous server used, to test reconnection).
    #[must_use]
    pub fn start_on(listener: TcpListener, config: Config) -> TestServer {
        init_tracing();
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(tickwire_server::run(listener, config, async move {
            let _ = stopped.await;
        }));
        TestServer {
            addr,
            stop: Some(stop),
            task,
        }
    }

    /// The WebSocket URL.
    #[must_use]
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// The HTTP base URL.
    #[must_use]
    pub fn http_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Shuts the server down (as on SIGTERM) and returns its result.
    pub async fn shutdown(mut self) -> Result<(), tickwire_server::ServerError> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        (&mut self.task).await.expect("server task did not panic")
    }
}

/// A plain HTTP/1.1 GET over a fresh connection: `(status, body)`.
pub async fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    http_request(addr, "GET", path, &[], "").await
}

/// A plain HTTP/1.1 POST of a JSON `body` (may be empty) over a fresh connection.
pub async fn http_post(addr: SocketAddr, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    http_request(addr, "POST", path, &[], body).await
}

/// One HTTP/1.1 request over a fresh connection, with extra `headers`: `(status, body)`.
pub async fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        req.push_str(&format!("{name}: {value}\r\n"));
    }
    if method == "POST" {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut raw))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// A seat reservation from the rooms API (`POST /matchmake/{mode}`, `POST /rooms`,
/// `POST /rooms/{code}/seat`).
#[derive(Clone, Debug)]
pub struct Seat {
    /// The room's code.
    pub room: String,
    /// Its mode.
    pub mode: String,
    /// The WebSocket URL to join at.
    pub url: String,
    /// The seat token.
    pub token: String,
}

/// POSTs to the rooms API and reads the reservation; panics on anything but 200.
pub async fn reserve(addr: SocketAddr, path: &str, body: &str) -> Seat {
    let (status, text) = http_post(addr, path, body).await.expect("POST");
    assert_eq!(status, 200, "POST {path}: {text}");
    let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let field = |k: &str| {
        v[k].as_str()
            .unwrap_or_else(|| panic!("{k} in {text}"))
            .to_owned()
    };
    Seat {
        room: field("room"),
        mode: field("mode"),
        url: field("url"),
        token: field("seat"),
    }
}

/// The value of an unlabelled metric in a Prometheus text exposition.
#[must_use]
pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (n, v) = l.split_once(' ')?;
        (n == name).then(|| v.trim().parse().ok()).flatten()
    })
}

/// Polls `cond` every 20 ms until it holds or `limit` passes; panics with `what` on timeout.
pub async fn wait_for<F, Fut>(what: &str, limit: Duration, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if cond().await {
            return;
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Logs to the test output when `RUST_LOG` is set.
pub fn init_tracing() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}
