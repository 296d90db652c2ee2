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
    /// Starts one on a free port (another if a process of someone else's took the port
    /// between its choice and the start).
    pub async fn start() -> RedisProcess {
        for _ in 0..5 {
            if let Some(r) = RedisProcess::try_start_on(free_port()).await {
                return r;
            }
        }
        panic!("redis-server did not start on any of 5 free ports");
    }

    /// Starts one on `port` (e.g. the port of one stopped before).
    pub async fn start_on(port: u16) -> RedisProcess {
        RedisProcess::try_start_on(port)
            .await
            .unwrap_or_else(|| panic!("redis-server could not listen on {port}"))
    }

    /// Starts one on `port`; `None` when it exits at once (the port is taken).
    async fn try_start_on(port: u16) -> Option<RedisProcess> {
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
        let mut r = RedisProcess {
            child: Some(child),
            port,
        };
        let deadline = tokio::time::Instant::now() + LIMIT;
        // Ours answers: the server on the port reports our child's PID (not another test's
        // redis that took the same port).
        while !r.is_ours() {
            if r.child
                .as_mut()
                .is_some_and(|c| c.try_wait().ok().flatten().is_some())
            {
                r.child = None;
                return None;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "redis-server on {port} did not answer"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Some(r)
    }

    /// Whether the server answering on the port is this child (`INFO server`'s process_id).
    fn is_ours(&self) -> bool {
        let Some(pid) = self.child.as_ref().map(Child::id) else {
            return false;
        };
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
        if s.write_all(b"INFO server\r\n").is_err() {
            return false;
        }
        let mut text = Vec::new();
        let mut buf = [0u8; 4096];
        let want = format!("process_id:{pid}\r\n");
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
            text.extend_from_slice(&buf[..n]);
            let t = String::from_utf8_lossy(&text);
            if t.contains(&want) {
                return true;
            }
            if t.contains("process_id:") && t.contains("\r\nexecutable:") {
                return false;
            }
        }
        false
    }

    /// `redis://127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
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
