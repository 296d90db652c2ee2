//! `tickwire-bots`: a swarm of headless players against a Tickwire server on this machine.
//!
//! ```text
//! tickwire-bots --url ws://127.0.0.1:8080/ws --count 200 --duration 30 --behavior arena \
//!     --probes 5 --json report.json
//! tickwire-bots --url ws://127.0.0.1:8080/ws --mode arena --rooms 250 --per-room 8
//! ```
//!
//! Without `--mode`, `--rooms` or `--room`, every bot joins by quick play (the server's
//! default mode); with them, every bot first takes a seat from the rooms API at the same
//! host and port (`POST /matchmake/M`, `POST /rooms`, `POST /rooms/CODE/seat`).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Parser;
use tokio_util::sync::CancellationToken;

use tickwire_bots::brain::Behavior;
use tickwire_bots::link::LinkConfig;
use tickwire_bots::progress::ProgressMode;
use tickwire_bots::seats::JoinPlan;
use tickwire_bots::swarm::{self, SwarmConfig};

/// The same allocator as the server: thousands of bots' frames come and go every tick.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Drive a Tickwire server with headless bots and measure what they see.
#[derive(Debug, Parser)]
#[command(name = "tickwire-bots", version)]
struct Args {
    /// Server WebSocket URL (this machine only).
    #[arg(long, default_value = "ws://127.0.0.1:8080/ws")]
    url: String,
    /// Bots to start (default 10; with --rooms, rooms x per-room).
    #[arg(long, conflicts_with = "rooms")]
    count: Option<usize>,
    /// Every bot matchmakes into this mode (`POST /matchmake/MODE`); with --rooms, the
    /// mode of the rooms created (default: the server's default mode).
    #[arg(long, conflicts_with = "room")]
    mode: Option<String>,
    /// Create this many rooms (`POST /rooms`) and seat --per-room bots in each
    /// (`POST /rooms/CODE/seat`).
    #[arg(long, requires = "per_room", conflicts_with = "room")]
    rooms: Option<usize>,
    /// Bots per room, with --rooms.
    #[arg(long, requires = "rooms")]
    per_room: Option<usize>,
    /// Every bot takes a seat in the room of this code (`POST /rooms/CODE/seat`).
    #[arg(long)]
    room: Option<String>,
    /// Seconds measured, after every bot has joined and the warm-up.
    #[arg(long, default_value_t = 30.0)]
    duration: f64,
    /// Seconds between the end of the ramp and the measured window.
    #[arg(long, default_value_t = 0.0)]
    warmup: f64,
    /// Bots started per second (0: all at once).
    #[arg(long, default_value_t = 200.0)]
    ramp: f64,
    /// What the bots do.
    #[arg(long, value_enum, default_value_t = Behavior::Wander)]
    behavior: Behavior,
    /// Seed of the bots' decisions, phases and jitter.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Only this many bots (spread through the join order) decode every snapshot; the
    /// others read snapshot headers only (load bots). Default: every bot decodes.
    #[arg(long)]
    probes: Option<usize>,
    /// Link conditioner: delay added to every message, each way, in ms.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Link conditioner: further random delay per message, up to this many ms.
    #[arg(long, default_value_t = 0)]
    jitter_ms: u64,
    /// Link conditioner: bandwidth cap per bot and direction, kbit/s.
    #[arg(long)]
    bandwidth_kbps: Option<u64>,
    /// Write the report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Runtime threads (1: a single-threaded runtime, best when pinned to one core).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Progress output.
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    progress: ProgressMode,
}

fn seconds(s: f64, what: &str) -> Result<Duration> {
    Duration::try_from_secs_f64(s).with_context(|| format!("--{what} must be >= 0 seconds"))
}

fn main() -> Result<()> {
    let args = Args::parse();
    let plan = match (args.rooms, args.per_room, &args.room, &args.mode) {
        (Some(rooms), Some(per_room), _, mode) => JoinPlan::Rooms {
            mode: mode.clone(),
            rooms,
            per_room,
        },
        (_, _, Some(code), _) => JoinPlan::Room(code.clone()),
        (_, _, None, Some(mode)) => JoinPlan::Mode(mode.clone()),
        _ => JoinPlan::QuickPlay,
    };
    let config = SwarmConfig {
        url: args.url.clone(),
        count: args.count.or(plan.count()).unwrap_or(10),
        plan,
        duration: seconds(args.duration, "duration")?,
        warmup: seconds(args.warmup, "warmup")?,
        ramp_per_s: args.ramp,
        behavior: args.behavior,
        seed: args.seed,
        probes: args.probes,
        link: LinkConfig {
            latency: Duration::from_millis(args.latency_ms),
            jitter: Duration::from_millis(args.jitter_ms),
            bandwidth_bps: args.bandwidth_kbps.map(|k| k * 1000),
        },
        progress: args.progress,
    };
    let runtime = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()?
    };
    let report = runtime.block_on(async {
        let cancel = CancellationToken::new();
        let on_signal = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                on_signal.cancel();
            }
        });
        swarm::run_until(config, cancel).await
    })?;
    println!("{}", report.table());
    if let Some(path) = &args.json {
        std::fs::write(path, report.to_json() + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if report.joined == 0 {
        bail!("no bot joined");
    }
    Ok(())
}
