//! The playable arena end to end: a real server on 127.0.0.1:0, real WebSocket clients.

use std::time::Duration;

use tickwire_bots::{BotConnection, BotError, DecodeMode, Driver};
use tickwire_shared::protocol::DisconnectReason;
use tickwire_shared::sim::GameEvent;
use tickwire_shared::{Controls, NetEntity, NetId};
use tickwire_tests::{test_config, wait_for, workspace_root, TestServer};

const LIMIT: Duration = Duration::from_secs(20);

async fn join(server: &TestServer, name: &str) -> Driver {
    let conn = BotConnection::connect(&server.ws_url(), name, DecodeMode::Full)
        .await
        .expect("join");
    Driver::spawn(conn)
}

fn player_pos(d: &Driver, id: NetId) -> Option<(f32, f32)> {
    d.view(|v| match v.get(id) {
        Some(NetEntity::Player(p)) => {
            let q = p.pos.to_vec2();
            Some((q.x, q.y))
        }
        _ => None,
    })
}

fn players_seen(d: &Driver) -> usize {
    d.view(|v| {
        v.state
            .iter()
            .filter(|(_, e)| matches!(e, NetEntity::Player(_)))
            .count()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_clients_join_move_see_each_other_and_leave() {
    let server = TestServer::start().await;
    let a = join(&server, "alice").await;
    let b = join(&server, "bob").await;
    let c = join(&server, "carol").await;
    let (ida, idb, idc) = (a.view(View::me), b.view(View::me), c.view(View::me));
    assert!(
        ida != idb && idb != idc && ida != idc,
        "distinct player ids"
    );

    for d in [&a, &b, &c] {
        wait_for("every client sees three players", LIMIT, || async {
            players_seen(d) == 3
        })
        .await;
    }
    let name_seen_by_b = b.view(|v| match v.get(ida) {
        Some(NetEntity::Player(p)) => p.name.to_string(),
        _ => String::new(),
    });
    assert_eq!(name_seen_by_b, "alice");

    // Alice walks; Bob and Carol see her move the way she walks.
    let start = player_pos(&b, ida).expect("bob sees alice");
    let dir = if start.0 < 1200.0 { 1.0 } else { -1.0 };
    a.set(Controls {
        move_x: dir,
        ..Controls::default()
    });
    for d in [&b, &c] {
        wait_for("others see alice move 60 units", LIMIT, || async {
            player_pos(d, ida).is_some_and(|p| (p.0 - start.0) * dir > 60.0)
        })
        .await;
    }
    // And she is where the server says she is, in her own view too.
    a.set(Controls::default());
    wait_for("views agree on alice's position", LIMIT, || async {
        let pa = player_pos(&a, ida);
        pa.is_some()
            && pa == player_pos(&b, ida)
            && pa == player_pos(&c, ida)
            && a.view(|v| v.tick) == b.view(|v| v.tick)
    })
    .await;

    // Carol leaves: she disappears from the others' replicas.
    let final_c = c.stop().await;
    assert!(final_c.snapshots > 0);
    for d in [&a, &b] {
        wait_for("carol disappears", LIMIT, || async {
            d.view(|v| v.get(idc).is_none()) && players_seen(d) == 2
        })
        .await;
    }
    for d in [a, b] {
        let v = d.stop().await;
        let ended = v.ended.expect("stopped");
        assert!(!ended.desync, "no desync: {}", ended.error);
        assert!(v.rtt_us.len() > 10, "inputs were acknowledged");
    }
    server.shutdown().await.expect("clean shutdown");
}

use tickwire_bots::View;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shooting_kills_scores_and_respawns() {
    let mut config = test_config();
    config.map = Some(workspace_root().join("tests/fixtures/duel.json"));
    let server = TestServer::start_with(config).await;
    let shooter = join(&server, "shooter").await;
    let target = join(&server, "target").await;
    let (ids, idt) = (shooter.view(View::me), target.view(View::me));

    wait_for("shooter sees target", LIMIT, || async {
        player_pos(&shooter, idt).is_some() && player_pos(&shooter, ids).is_some()
    })
    .await;
    // Aim at the target and hold fire until a kill is registered.
    let aim_and_fire = |fire: bool| {
        let (s, t) = (
            player_pos(&shooter, ids).unwrap(),
            player_pos(&shooter, idt).unwrap(),
        );
        Controls {
            aim: (t.1 - s.1).atan2(t.0 - s.0),
            buttons: tickwire_shared::input::Buttons::FIRE.when(fire),
            ..Controls::default()
        }
    };
    shooter.set(aim_and_fire(true));
    let killed = |d: &Driver| {
        d.view(|v| {
            v.events.iter().any(|e| {
                e.event
                    == GameEvent::Kill {
                        killer: ids,
                        victim: idt,
                    }
            })
        })
    };
    wait_for("both see the kill event", LIMIT, || async {
        killed(&shooter) && killed(&target)
    })
    .await;
    shooter.set(aim_and_fire(false));
    let (kills, deaths) = shooter.view(|v| {
        let k = match v.get(ids) {
            Some(NetEntity::Player(p)) => p.kills,
            _ => 0,
        };
        let d = match v.get(idt) {
            Some(NetEntity::Player(p)) => p.deaths,
            _ => 0,
        };
        (k, d)
    });
    assert!(
        kills >= 1 && deaths >= 1,
        "scored: kills {kills} deaths {deaths}"
    );

    wait_for("target respawns with full hp", LIMIT, || async {
        let respawned = target.view(|v| {
            v.events
                .iter()
                .any(|e| e.event == GameEvent::Respawn { player: idt })
        });
        let hp_full = target.view(|v| {
            matches!(v.get(idt), Some(NetEntity::Player(p)) if p.hp == 100 && p.respawn_at.is_none())
        });
        respawned && hp_full
    })
    .await;
    for d in [shooter, target] {
        let v = d.stop().await;
        assert!(!v.ended.expect("stopped").desync);
    }
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_protocol_version_is_refused_with_a_reason() {
    let server = TestServer::start().await;
    let err = BotConnection::connect_with_version(&server.ws_url(), "old", DecodeMode::Full, 999)
        .await
        .err()
        .expect("refused");
    match err {
        BotError::Disconnected(Some(d), close) => {
            assert_eq!(
                d.reason,
                DisconnectReason::VersionMismatch {
                    server: tickwire_shared::protocol::PROTOCOL_VERSION,
                    client: 999
                }
            );
            assert_eq!(
                close.map(|c| c.0),
                Some(1008),
                "policy violation close code"
            );
        }
        other => panic!("expected a refusal with a reason, got {other:?}"),
    }
    // The server still serves a well-behaved client afterwards.
    let ok = BotConnection::connect(&server.ws_url(), "new", DecodeMode::Full).await;
    assert!(ok.is_ok());
    server.shutdown().await.expect("clean shutdown");
}
