//! The replay figures (`cargo xtask bench replay`): the real `Room::tick` in virtual time
//! with in-memory connections whose bots decide with `tickwire-bots`' brain (as in the
//! socket benchmarks: chase for combat, arena for arena), on the benchmarks' map
//! (`assets/maps/open-4000.json`).
//!
//! - replay bytes per player-minute: combat-N recorded for M minutes (a hash every tick, a
//!   keyframe every 5 s), the file's size over N x M;
//! - recording's cost per tick at arena-N: the time the tick spends queuing its records
//!   (the applied inputs by network id, the world hash; `TickReport::recording_time`), and
//!   the tick work of the same room recorded against unrecorded (same seed, same bots);
//! - `verify`'s re-simulation speed: ticks per second over each file.
//!
//! Prints a table and one JSON line.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use hdrhistogram::Histogram;
use tickwire_bots::brain::Behavior;
use tickwire_server::room::record::{RecordOptions, RecordSink};
use tickwire_shared::replay::verify;
use tickwire_shared::Map;
use tickwire_tests::replay::{finished_verdict, recorded_settings, VirtualMatch};

#[derive(Parser, Debug)]
struct Args {
    /// Players of the combat match.
    #[arg(long, default_value_t = 20)]
    combat_n: usize,
    /// Minutes of the combat match.
    #[arg(long, default_value_t = 2)]
    combat_minutes: u32,
    /// Players of the arena room.
    #[arg(long, default_value_t = 500)]
    arena_n: usize,
    /// Ticks of the arena room measured (after 150 of warm-up).
    #[arg(long, default_value_t = 900)]
    arena_ticks: u32,
    /// Where the replay files go.
    #[arg(long, default_value = "target/bench/replays")]
    dir: PathBuf,
}

fn map() -> Map {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(root.join("assets/maps/open-4000.json")).expect("map");
    Map::from_json(&text).expect("valid map")
}

fn sink(dir: &PathBuf) -> RecordSink {
    RecordSink::new(RecordOptions {
        max_files: 10,
        ..RecordOptions::new(dir)
    })
    .expect("record dir")
}

fn room(n: usize, behavior: Behavior, recording: Option<RecordSink>) -> VirtualMatch {
    let mut m = VirtualMatch::new(recorded_settings(recording, n + 4), map());
    m.behavior = Some(behavior);
    for i in 0..n {
        m.join(&format!("bot{i}"));
    }
    m
}

/// Verifies `path` again, timed: (ticks, ticks per second).
fn verify_speed(path: &PathBuf) -> (u32, f64) {
    let bytes = std::fs::read(path).expect("replay");
    let start = Instant::now();
    let v = verify::verify(bytes.as_slice()).expect("readable");
    let secs = start.elapsed().as_secs_f64();
    assert!(v.ok(), "{:?}", v.mismatch);
    (v.ticks, f64::from(v.ticks) / secs)
}

fn main() {
    let args = Args::parse();
    let _ = std::fs::remove_dir_all(&args.dir);
    std::fs::create_dir_all(&args.dir).expect("dir");

    // combat-N, recorded.
    let ticks = args.combat_minutes * 60 * 30;
    let mut m = room(args.combat_n, Behavior::Chase, Some(sink(&args.dir)));
    let path = m.room.recording().expect("recording").to_path_buf();
    for _ in 0..ticks {
        m.tick();
    }
    drop(m);
    let v = finished_verdict(&path, Duration::from_secs(120));
    assert!(v.ok() && v.complete, "{:?} {}", v.mismatch, v.end_reason);
    let bytes = std::fs::metadata(&path).expect("file").len();
    let info = verify::info(std::fs::read(&path).unwrap().as_slice()).expect("info");
    let per_player_minute = bytes as f64 / (args.combat_n as f64 * f64::from(args.combat_minutes));
    let (_, combat_speed) = verify_speed(&path);

    // arena-N: the same room recorded and not, tick by tick.
    let mut on = room(args.arena_n, Behavior::Arena, Some(sink(&args.dir)));
    let mut off = room(args.arena_n, Behavior::Arena, None);
    let arena_path = on.room.recording().expect("recording").to_path_buf();
    let mut rec_us = Histogram::<u64>::new_with_bounds(1, 10_000_000, 3).unwrap();
    let (mut work_on, mut work_off) = (Duration::ZERO, Duration::ZERO);
    let mut cut = false;
    for t in 0..150 + args.arena_ticks {
        let a = Instant::now();
        let r = on.room.tick();
        let w_on = a.elapsed();
        let b = Instant::now();
        let _ = off.room.tick();
        let w_off = b.elapsed();
        // The bots' inputs for the next tick, outside the timed ticks.
        on.feed();
        off.feed();
        cut |= r.recording_cut;
        if t >= 150 {
            rec_us
                .record((r.recording_time.as_nanos() as u64 / 1000).max(1))
                .unwrap();
            work_on += w_on;
            work_off += w_off;
        }
    }
    drop(on);
    drop(off);
    let av = finished_verdict(&arena_path, Duration::from_secs(300));
    assert!(av.ok(), "{:?}", av.mismatch);
    let arena_bytes = std::fs::metadata(&arena_path).expect("file").len();
    let (arena_ticks, arena_speed) = verify_speed(&arena_path);
    let n = f64::from(args.arena_ticks);
    let mean_on = work_on.as_secs_f64() * 1e6 / n;
    let mean_off = work_off.as_secs_f64() * 1e6 / n;

    println!("replay figures (Room::tick in virtual time, tickwire-bots' brains, open-4000 map)");
    println!(
        "  combat-{}: {} min, {} kills, {} bytes: {:.0} bytes per player-minute",
        args.combat_n, args.combat_minutes, info.kills, bytes, per_player_minute
    );
    println!(
        "  arena-{}: recording {} us per tick p50, {} p99 (queueing inputs + world hash); tick {:.0} us recorded vs {:.0} us not (mean){}",
        args.arena_n,
        rec_us.value_at_quantile(0.5),
        rec_us.value_at_quantile(0.99),
        mean_on,
        mean_off,
        if cut { "; the recording was CUT" } else { "" }
    );
    println!(
        "  arena-{}: {} bytes for {} ticks ({:.0} bytes per player-minute)",
        args.arena_n,
        arena_bytes,
        arena_ticks,
        arena_bytes as f64 / (args.arena_n as f64 * f64::from(arena_ticks) / 1800.0)
    );
    println!(
        "  verify: {combat_speed:.0} ticks/s (combat-{}), {arena_speed:.0} ticks/s (arena-{})",
        args.combat_n, args.arena_n
    );
    println!(
        "JSON {}",
        serde_json::json!({
            "scenario": "replay",
            "combat_n": args.combat_n,
            "combat_minutes": args.combat_minutes,
            "combat_kills": info.kills,
            "combat_bytes": bytes,
            "bytes_per_player_minute": per_player_minute.round(),
            "arena_n": args.arena_n,
            "recording_us_p50": rec_us.value_at_quantile(0.5),
            "recording_us_p99": rec_us.value_at_quantile(0.99),
            "tick_us_recorded_mean": mean_on.round(),
            "tick_us_unrecorded_mean": mean_off.round(),
            "arena_recording_cut": cut,
            "arena_bytes_per_player_minute": (arena_bytes as f64 / (args.arena_n as f64 * f64::from(arena_ticks) / 1800.0)).round(),
            "verify_ticks_per_s_combat": combat_speed.round(),
            "verify_ticks_per_s_arena": arena_speed.round(),
        })
    );
}
