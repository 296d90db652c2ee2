//! `tickwire-server`: parse the configuration, set up logging, bind, run until Ctrl-C or
//! SIGTERM.

use std::io::IsTerminal;

use anyhow::Context;
use clap::Parser;
use tickwire_server::config::LogFormat;
use tickwire_server::Config;
use tracing_subscriber::EnvFilter;

/// mimalloc keeps freed memory for reuse: with glibc's allocator a room's per-tick tables
/// were returned to the system and faulted back in every tick (docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    // Logs on stderr, coloured only on a terminal (no escape codes in redirected files), or
    // one JSON object a line for log collectors.
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => logs.json().with_ansi(false).init(),
    }
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("cannot listen on {}", config.bind))?;
    let addr = listener.local_addr()?;
    // Printed on stdout so scripts and tests can find the port when binding to :0.
    println!("tickwire-server listening on http://{addr}/");
    println!(
        "  page http://{addr}/  websocket ws://{addr}/ws  metrics http://{addr}/metrics  health http://{addr}/healthz"
    );
    tickwire_server::run(listener, config, shutdown_signal()).await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
