//! Installs Redis (Debian's `redis-server`) for the cluster tests, `cargo xtask run
//! --cluster` and `bench cluster-K`, once and idempotently: nothing happens when
//! `redis-server` is already on the PATH. The Debian package also starts a system service
//! on port 6379; nothing here uses it (every test and run starts its own instance on a
//! port of its own, with no persistence).

use anyhow::{bail, Result};

use crate::util::ensure_debian_tool;

/// Makes sure `redis-server` can run.
pub fn ensure() -> Result<()> {
    ensure_debian_tool(
        "redis-server",
        &["--version"],
        "redis-server",
        "cluster tests",
    )
}

/// A port free on 127.0.0.1 right now.
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The arguments of a redis-server of our own on `port`: loopback only, no persistence.
pub fn server_args(port: u16) -> Vec<String> {
    [
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

/// Waits (bounded) until the redis-server on `port` answers PING.
pub fn wait_ready(port: u16) -> Result<()> {
    use std::io::{Read, Write};
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(1)));
            let mut buf = [0u8; 7];
            if s.write_all(b"PING\r\n").is_ok()
                && s.read_exact(&mut buf).is_ok()
                && &buf == b"+PONG\r\n"
            {
                return Ok(());
            }
        }
        if std::time::Instant::now() > deadline {
            bail!("redis-server on port {port} did not answer within 10 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
