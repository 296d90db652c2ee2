//! `tickwire-replay`: checks and summarises recorded matches (docs/replay.md).
//!
//! - `tickwire-replay verify FILE`: re-simulates the match from its header and inputs and
//!   checks every recorded world hash. Exit 0 when every hash matches, 1 at the first
//!   difference (its tick and the entities that differ are printed), 2 when the file is not
//!   a readable replay.
//! - `tickwire-replay info FILE`: players, duration, kills (`--json` for tools).

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use tickwire_shared::replay::verify;

#[derive(Parser)]
#[command(
    name = "tickwire-replay",
    version,
    about = "Verify and summarise Tickwire replays"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Re-simulates a replay and checks every recorded hash (exit 1 at a difference).
    Verify {
        /// The replay file.
        file: PathBuf,
        /// Also prints the re-simulated world hash of every tick, one per line (hex).
        #[arg(long)]
        hashes: bool,
        /// Prints the verdict as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Summarises a replay: players, duration, kills.
    Info {
        /// The replay file.
        file: PathBuf,
        /// Prints the summary as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

fn open(file: &PathBuf) -> Result<BufReader<File>, ExitCode> {
    File::open(file).map(BufReader::new).map_err(|e| {
        eprintln!("{}: {e}", file.display());
        ExitCode::from(2)
    })
}

fn main() -> ExitCode {
    match Cli::parse().cmd {
        Cmd::Verify { file, hashes, json } => {
            let input = match open(&file) {
                Ok(i) => i,
                Err(code) => return code,
            };
            let start = Instant::now();
            let v = match verify::verify(input) {
                Ok(v) => v,
                Err(e) => {
                    eprintln!("{}: {e}", file.display());
                    return ExitCode::from(2);
                }
            };
            let secs = start.elapsed().as_secs_f64();
            let speed = f64::from(v.ticks) / secs.max(1e-9);
            if json {
                let m = v.mismatch.as_ref();
                println!(
                    "{}",
                    serde_json::json!({
                        "ok": v.ok(),
                        "ticks": v.ticks,
                        "hashes_checked": v.hashes_checked,
                        "keyframes_checked": v.keyframes_checked,
                        "complete": v.complete,
                        "end_reason": v.end_reason,
                        "ticks_per_second": speed.round(),
                        "first_differing_tick": m.map(|m| m.tick.0),
                        "keyframe": m.and_then(|m| m.keyframe.map(|k| k.0)),
                        "entities": m.map(|m| m.entities.iter().map(|e| e.0).collect::<Vec<_>>()),
                        "detail": m.map(ToString::to_string),
                    })
                );
            } else {
                match &v.mismatch {
                    None => println!(
                        "OK: {} ticks re-simulated, {} hashes and {} keyframes equal; {} ({}); {:.0} ticks/s",
                        v.ticks,
                        v.hashes_checked,
                        v.keyframes_checked,
                        if v.complete { "complete" } else { "incomplete" },
                        v.end_reason,
                        speed
                    ),
                    Some(m) => println!("MISMATCH: {m}"),
                }
            }
            if hashes {
                for h in &v.tick_hashes {
                    println!("{h:016x}");
                }
            }
            if v.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Cmd::Info { file, json } => {
            let input = match open(&file) {
                Ok(i) => i,
                Err(code) => return code,
            };
            let info = match verify::info(input) {
                Ok(i) => i,
                Err(e) => {
                    eprintln!("{}: {e}", file.display());
                    return ExitCode::from(2);
                }
            };
            let h = &info.header;
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "room": h.room,
                        "mode": h.mode,
                        "map": h.map.name,
                        "protocol_version": h.protocol_version,
                        "start_unix_ms": h.start_unix_ms,
                        "tick_hz": h.config.tick_hz,
                        "ticks": info.ticks,
                        "seconds": info.seconds,
                        "kills": info.kills,
                        "complete": info.complete,
                        "end_reason": info.end_reason,
                        "players": info.players.iter().map(|p| serde_json::json!({
                            "id": p.id.0, "name": p.name, "kills": p.kills,
                            "deaths": p.deaths, "seconds": f64::from(p.ticks) / f64::from(h.config.tick_hz.max(1)),
                        })).collect::<Vec<_>>(),
                    })
                );
            } else {
                println!(
                    "room {} (mode {}, map {}), protocol {}, {} Hz",
                    h.room, h.mode, h.map.name, h.protocol_version, h.config.tick_hz
                );
                println!(
                    "{} ticks = {:.1} s, {} kills, {} ({})",
                    info.ticks,
                    info.seconds,
                    info.kills,
                    if info.complete {
                        "complete"
                    } else {
                        "incomplete"
                    },
                    info.end_reason
                );
                println!("{} players:", info.players.len());
                for p in &info.players {
                    println!(
                        "  #{:<5} {:<16} {:>3} kills {:>3} deaths {:>6.1} s",
                        p.id.0,
                        p.name,
                        p.kills,
                        p.deaths,
                        f64::from(p.ticks) / f64::from(h.config.tick_hz.max(1))
                    );
                }
            }
            ExitCode::SUCCESS
        }
    }
}
