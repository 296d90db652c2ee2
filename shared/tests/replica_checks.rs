//! The replica checks every snapshot against the server's fingerprint of the state: a
//! body that applies but leads elsewhere (a server bug, a tampering proxy) is a desync.

mod common;

use common::{open_map, world};
use tickwire_shared::entity::NetEntity;
use tickwire_shared::protocol::snapshot::{diff, Extrapolation, Snapshot, SnapshotHeader};
use tickwire_shared::replica::ReplicaError;
use tickwire_shared::sim::{self, spawn};
use tickwire_shared::Replica;

#[test]
fn a_body_that_leads_to_another_state_is_refused() {
    let mut w = world(open_map(1000.0, 1000.0, &[[500.0, 500.0]]), 3);
    spawn::add_player(&mut w, "a");
    sim::step(&mut w, &[]);
    let ext = Extrapolation {
        baseline: w.tick,
        ticks: 0,
        config: &w.config,
        map: &w.map,
    };
    let full = diff(&[], &w.net_state(), &ext);
    let header = SnapshotHeader {
        tick: w.tick,
        baseline: None,
        last_input_seq: 0,
    };
    let mut honest = Replica::new(w.config.clone(), w.map.clone());
    honest
        .apply(&Snapshot {
            header,
            body: full.clone(),
        })
        .expect("the server's own body applies");

    let mut tampered = full;
    if let NetEntity::Player(p) = &mut tampered.spawns[0].1 {
        p.hp = 1;
    }
    let mut replica = Replica::new(w.config.clone(), w.map.clone());
    let err = replica
        .apply(&Snapshot {
            header,
            body: tampered,
        })
        .expect_err("a state the server did not have");
    assert!(matches!(err, ReplicaError::HashMismatch { .. }), "{err}");
    assert_eq!(replica.tick(), None, "the replica is unchanged");
}
