//! Recorded matches, through the real `Room::tick` in virtual time (see
//! `tickwire_tests::replay`): a 2-minute combat match of 20 bots re-simulates with every
//! hash equal; a recording whose disk does not keep up is cut cleanly while the room ticks
//! on.

use std::time::Duration;

use tickwire_server::room::record::{RecordOptions, RecordSink};
use tickwire_shared::replay::verify;
use tickwire_shared::Tick;
use tickwire_tests::replay::{
    arena_map, finished_verdict, record_combat_match, recorded_settings, replay_dir, VirtualMatch,
};

#[test]
fn a_two_minute_combat_match_of_20_bots_verifies_every_hash() {
    let dir = replay_dir("combat20");
    let ticks = 2 * 60 * 30;
    let path = record_combat_match(&dir, 20, ticks);
    let v = finished_verdict(&path, Duration::from_secs(60));
    assert!(v.ok(), "{:?}", v.mismatch);
    assert!(v.complete, "{}", v.end_reason);
    assert_eq!(v.ticks, ticks);
    assert_eq!(v.hashes_checked, u64::from(ticks), "a hash every tick");
    assert_eq!(
        v.keyframes_checked,
        u64::from(ticks / 30),
        "a keyframe every second"
    );
    assert_eq!(v.tick_hashes.len(), ticks as usize);

    let info = verify::info(std::fs::read(&path).unwrap().as_slice()).unwrap();
    assert_eq!(info.players.len(), 21, "20 bots and the latecomer");
    assert!((info.seconds - 120.0).abs() < 1e-9);
    assert!(info.kills > 10, "a combat match: {} kills", info.kills);
    assert_eq!(
        info.players.iter().map(|p| p.kills).sum::<u32>(),
        info.kills,
        "every kill credited"
    );
    assert_eq!(info.header.room, "TESTROOM");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_full_recording_queue_cuts_the_file_cleanly_and_the_room_ticks_on() {
    let dir = replay_dir("queue-full");
    let sink = RecordSink::new(RecordOptions {
        queue: 16,
        ..RecordOptions::new(&dir)
    })
    .unwrap();
    // The disk stops taking anything: the writer thread is held before its first write.
    sink.hold_writes(true);
    let mut m = VirtualMatch::new(recorded_settings(Some(sink.clone()), 8), arena_map());
    for i in 0..4 {
        m.join(&format!("bot{i}"));
    }
    let path = m.room.recording().unwrap().to_path_buf();
    let mut cut_at = Vec::new();
    for t in 0..300u32 {
        // Every call returns: a tick never waits for the recording.
        if m.tick().recording_cut {
            cut_at.push(t);
        }
    }
    assert_eq!(m.room.world().tick, Tick(300), "no tick missed");
    assert_eq!(cut_at.len(), 1, "cut once: {cut_at:?}");
    assert!(cut_at[0] < 20, "a 16-record queue fills within a few ticks");
    assert!(m.room.recording().is_none(), "nothing more is recorded");
    assert_eq!(
        sink.stats
            .cut_queue_full
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    // The disk comes back: the file ends, marked incomplete, and what it holds verifies.
    sink.hold_writes(false);
    drop(m);
    let v = finished_verdict(&path, Duration::from_secs(30));
    assert!(!v.complete);
    assert!(v.end_reason.contains("queue was full"), "{}", v.end_reason);
    assert!(v.ok(), "{:?}", v.mismatch);
    assert!(v.ticks > 0 && v.ticks <= cut_at[0] + 1, "{} ticks", v.ticks);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A mode with `record_dir` records its rooms through the real server: a bot plays, leaves,
/// the empty room is disposed, and its file is complete and verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mode_with_a_record_dir_records_its_rooms_through_the_server() {
    use tickwire_bots::brain::Behavior;
    use tickwire_bots::swarm::{self, SwarmConfig};
    use tickwire_tests::{test_config, workspace_root, TestServer};

    let dir = replay_dir("mode-record");
    let modes = dir.join("modes.toml");
    std::fs::write(
        &modes,
        format!(
            "default = \"rec\"\n[[mode]]\nname = \"rec\"\nmap = \"maps/arena.json\"\nmax_players = 4\nempty_ttl = \"100ms\"\nrecord_dir = \"{}\"\n",
            dir.join("replays").display()
        ),
    )
    .unwrap();
    let mut config = test_config();
    config.modes = Some(modes);
    assert!(workspace_root().join("assets/maps/arena.json").exists());
    let server = TestServer::start_with(config).await;
    let mut bots = SwarmConfig::new(server.ws_url(), 2, Duration::from_secs(2));
    bots.behavior = Behavior::Arena;
    let report = swarm::run(bots).await.expect("valid swarm");
    assert_eq!(report.joined, 2);
    // The bots left: the room is disposed and its recording ends.
    let replays = dir.join("replays");
    let start = std::time::Instant::now();
    let path = loop {
        let file = std::fs::read_dir(&replays)
            .ok()
            .and_then(|mut d| d.next())
            .and_then(Result::ok)
            .map(|e| e.path());
        if let Some(p) = file {
            break p;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "no replay file");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let v = tokio::task::spawn_blocking(move || finished_verdict(&path, Duration::from_secs(30)))
        .await
        .unwrap();
    assert!(v.ok() && v.complete, "{:?} {}", v.mismatch, v.end_reason);
    assert!(v.ticks > 30, "{} ticks", v.ticks);
    server.shutdown().await.expect("clean shutdown");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn recordings_are_bounded_in_size_and_count() {
    let dir = replay_dir("bounds");
    // Count: the directory keeps the newest two.
    let sink = RecordSink::new(RecordOptions {
        max_files: 2,
        ..RecordOptions::new(&dir)
    })
    .unwrap();
    let mut paths = Vec::new();
    for i in 0..3 {
        let settings = tickwire_server::room::RoomSettings {
            id: format!("ROOM{i}"),
            ..recorded_settings(Some(sink.clone()), 4)
        };
        let mut m = VirtualMatch::new(settings, arena_map());
        m.join("a");
        for _ in 0..30 {
            m.tick();
        }
        paths.push(m.room.recording().unwrap().to_path_buf());
        drop(m);
        let _ = finished_verdict(paths.last().unwrap(), Duration::from_secs(30));
    }
    assert!(!paths[0].exists(), "the oldest was removed");
    assert!(paths[1].exists() && paths[2].exists());
    let files = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(files, 2);

    // A recording still being written is never pruned: three rooms recording at once with
    // max_files = 2 keep their three files, and each ends complete.
    let live_dir = replay_dir("bounds-live");
    let sink = RecordSink::new(RecordOptions {
        max_files: 2,
        ..RecordOptions::new(&live_dir)
    })
    .unwrap();
    let mut live = Vec::new();
    for i in 0..3 {
        let settings = tickwire_server::room::RoomSettings {
            id: format!("LIVE{i}"),
            ..recorded_settings(Some(sink.clone()), 4)
        };
        let mut m = VirtualMatch::new(settings, arena_map());
        m.join("a");
        m.tick();
        live.push(m);
    }
    let live_paths: Vec<_> = live
        .iter()
        .map(|m| m.room.recording().unwrap().to_path_buf())
        .collect();
    for p in &live_paths {
        assert!(p.exists(), "a live recording was deleted: {}", p.display());
    }
    drop(live);
    for p in &live_paths {
        let v = finished_verdict(p, Duration::from_secs(30));
        assert!(v.complete && v.ok(), "{}: {:?}", p.display(), v.mismatch);
    }
    let _ = std::fs::remove_dir_all(&live_dir);

    // Size: past max_bytes the recording is cut, marked so, and verifies up to the cut.
    let small = replay_dir("bounds-size");
    let sink = RecordSink::new(RecordOptions {
        max_bytes: 20_000,
        ..RecordOptions::new(&small)
    })
    .unwrap();
    let mut m = VirtualMatch::new(recorded_settings(Some(sink.clone()), 12), arena_map());
    for i in 0..10 {
        m.join(&format!("bot{i}"));
    }
    let path = m.room.recording().unwrap().to_path_buf();
    for _ in 0..1800 {
        m.tick();
    }
    drop(m);
    let v = finished_verdict(&path, Duration::from_secs(30));
    assert!(!v.complete);
    assert!(v.end_reason.contains("size bound"), "{}", v.end_reason);
    assert!(v.ok(), "{:?}", v.mismatch);
    assert!(v.ticks > 0 && v.ticks < 1800, "{} ticks", v.ticks);
    let len = std::fs::metadata(&path).unwrap().len();
    assert!(
        len < 20_000 + 70_000,
        "{len} bytes: one compressed block past the bound at most"
    );
    assert_eq!(
        sink.stats
            .cut_size
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&small);
}
