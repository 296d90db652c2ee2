//! A `redis-server` of the test's own on a free loopback port, with no persistence
//! (`--save "" --appendonly no`), stopped by its PID. `cargo xtask test` installs the Debian
//! package `redis-server` when it is missing.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::LIMIT;

/// A running redis-server.
pub struct RedisProcess {
    child: Option<Child>,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

/// A port free on 127.0.0.1 right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl RedisProcess {
    /// Starts one on a free port.
    pub async fn start() -> RedisProcess {
        RedisProcess::start_on(free_port()).await
    }

    /// Starts one on `port` (e.g. the port of one stopped before).
    pub async fn start_on(port: u16) -> RedisProcess {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "start redis-server (`cargo xtask test` installs the Debian package redis-server)",
            );
        let r = RedisProcess {
            child: Some(child),
            port,
        };
        let deadline = tokio::time::Instant::now() + LIMIT;
        while !r.answers() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "redis-server on {port} did not answer PING"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        r
    }

    /// `redis://127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Whether it answers PING.
    pub fn answers(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
        let mut buf = [0u8; 7];
        s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    }

    /// Stops it (SIGKILL, by its PID), and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        self.stop();
    }
}
