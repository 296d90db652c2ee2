//! `tickwire-replay`, the real binary, on a recorded match (the real `Room::tick` in
//! virtual time): `verify` passes an untouched file and names the first diverging tick and
//! the entity of a file with one input tampered with; `info` summarises it.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use tickwire_shared::replay::verify::Replayer;
use tickwire_shared::replay::{Encoder, Reader, Record};
use tickwire_tests::replay::{finished_verdict, record_combat_match, replay_dir};

fn replay_tool(args: &[&str], file: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tickwire-replay"))
        .args(args)
        .arg(file)
        .output()
        .expect("run tickwire-replay");
    (
        out.status.code().expect("exit code"),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// A copy of the replay at `from` with one input of its `nth` tick record changed: the
/// first living player's, made to run the other way; returns that player's network id.
fn tamper(from: &Path, to: &Path, nth: usize) -> u32 {
    let bytes = std::fs::read(from).unwrap();
    let mut reader = Reader::new(bytes.as_slice()).unwrap();
    let mut enc = Encoder::new(Vec::new(), reader.header()).unwrap();
    let mut replayer = Replayer::new(reader.header());
    let (mut ticks, mut victim) = (0, None);
    while let Some(mut record) = reader.next().unwrap() {
        if let Record::Tick { inputs } = &mut record {
            ticks += 1;
            if ticks == nth {
                let world = &replayer.world;
                let (id, input) = inputs
                    .iter_mut()
                    .find(|(id, _)| {
                        let e = replayer.entity(*id).unwrap();
                        world.player(e).is_some_and(|p| p.alive())
                    })
                    .expect("a living player");
                input.move_dir = if input.move_dir.x > 0.0 {
                    glam::Vec2::new(-1.0, 0.0)
                } else {
                    glam::Vec2::new(1.0, 0.0)
                };
                victim = Some(id.0);
            }
        }
        enc.write(&record).unwrap();
        replayer.apply(&record).unwrap();
    }
    std::fs::write(to, enc.finish().unwrap()).unwrap();
    victim.expect("the match has that many ticks")
}

#[test]
fn verify_passes_a_recording_and_names_the_first_tick_and_entity_of_a_tampered_one() {
    let dir = replay_dir("cli");
    let path = record_combat_match(&dir, 20, 900);
    let _ = finished_verdict(&path, Duration::from_secs(30));

    let (code, out) = replay_tool(&["verify"], &path);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.starts_with("OK: 900 ticks re-simulated, 900 hashes"),
        "{out}"
    );

    let (code, out) = replay_tool(&["info"], &path);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("900 ticks = 30.0 s"), "{out}");
    assert!(
        out.contains("20 players:") && out.contains("bot19"),
        "{out}"
    );

    let tampered = dir.join("tampered.twr");
    let victim = tamper(&path, &tampered, 400);
    let (code, out) = replay_tool(&["verify", "--json"], &tampered);
    assert_eq!(code, 1, "{out}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["first_differing_tick"], 400, "{out}");
    assert_eq!(
        v["keyframe"], 420,
        "the next keyframe (every second) names the entities"
    );
    let entities: Vec<u64> = v["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_u64().unwrap())
        .collect();
    assert!(entities.contains(&u64::from(victim)), "{out}");

    let (code, _) = replay_tool(&["verify"], &dir.join("missing.twr"));
    assert_eq!(code, 2, "an unreadable file");
    let _ = std::fs::remove_dir_all(&dir);
}
