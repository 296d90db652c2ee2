//! Interest management through the real `Room::tick`: with random motion, shooting, late
//! acknowledgements (and, with acknowledged baselines, dropped snapshots), every client's
//! replica equals exactly the entities in its view (plus margin) after every snapshot it
//! applies; entities entering and leaving views are created and removed.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

use tickwire_server::net::game_socket::{GameSocket, MemoryLink};
use tickwire_server::room::{Baselines, Ending, Interest, NetLimits, Room, RoomSettings};
use tickwire_server::snapshot::delta::MOVERS_MAX_AGE;
use tickwire_server::snapshot::interest::{ViewKey, CELL};
use tickwire_shared::protocol::snapshot::{diff, Extrapolation};
use tickwire_shared::protocol::{codec, ClientMsg, ServerMsg};
use tickwire_shared::rng::Rng;
use tickwire_shared::{Controls, Map, NetEntity, NetId, Replica, Tick};
use tokio::sync::oneshot;

const SIDE: f32 = 3000.0;

struct Client {
    link: MemoryLink,
    ended: oneshot::Receiver<(GameSocket, Ending)>,
    me: NetId,
    replica: Replica,
    acks: VecDeque<(u32, Tick)>,
    ack: Option<Tick>,
    seq: u32,
    dir: (f32, f32),
    seen: BTreeSet<NetId>,
    lost_sight: usize,
    applied: usize,
    /// States this client holds, by tick (the possible baselines).
    held: Vec<(Tick, Vec<(NetId, NetEntity)>)>,
}

/// The cell an entity counts in at `tick` (the one its position falls in, clamped to the
/// map).
fn cell_of(e: &NetEntity, tick: Tick, dt: f32) -> (i32, i32) {
    let last = (SIDE / CELL).ceil() as i32 - 1;
    let p = e.position_at(tick, dt);
    (
        ((p.x / CELL).floor() as i32).clamp(0, last),
        ((p.y / CELL).floor() as i32).clamp(0, last),
    )
}

/// Entities of `state` at `tick` in the view `key` (cells clamped to the map, as a
/// client-visible rule: an entity counts in the cell its position falls in).
fn expected(
    state: &[(NetId, NetEntity)],
    key: ViewKey,
    tick: Tick,
    dt: f32,
) -> Vec<(NetId, NetEntity)> {
    let ViewKey::Cells { x0, y0, x1, y1 } = key else {
        return state.to_vec();
    };
    state
        .iter()
        .filter(|(_, e)| {
            let (cx, cy) = cell_of(e, tick, dt);
            (x0..=x1).contains(&cx) && (y0..=y1).contains(&cy)
        })
        .cloned()
        .collect()
}

/// A room with `interest` and `baselines` whose players never trail too far.
fn settings(interest: Interest, baselines: Baselines, seed: u64) -> RoomSettings {
    RoomSettings {
        seed,
        history_ticks: 32,
        max_players: 64,
        input_queue: 64,
        max_ack_lag_ticks: 10_000,
        interest,
        baselines,
        // Ticks run faster than real time here: no rate limit.
        net: NetLimits {
            max_msgs_per_s: f64::MAX,
            msg_burst: f64::MAX,
            ..NetLimits::default()
        },
        ..RoomSettings::default()
    }
}

/// The default: each delta against the last snapshot sent (every one arrives, in order,
/// as over TCP), whatever the client acknowledges.
#[test]
fn every_replica_holds_exactly_its_view() {
    replicas_hold_exactly_their_views(Baselines::Sent);
}

/// Deltas against acknowledged ticks, with a fifth of the snapshots lost.
#[test]
fn every_replica_holds_exactly_its_view_with_acked_baselines() {
    replicas_hold_exactly_their_views(Baselines::Acked { step: 1 });
}

/// Baselines shared on a lattice of every 4th tick (`--baseline-step 4`): a baseline is
/// always one the client still holds, with snapshots lost and acknowledgements late.
#[test]
fn every_replica_holds_exactly_its_view_with_shared_baselines() {
    replicas_hold_exactly_their_views(Baselines::Acked { step: 4 });
}

fn replicas_hold_exactly_their_views(baselines: Baselines) {
    let baseline_step = baselines.step();
    // Frames can be lost only where baselines are acknowledged ticks.
    let lossy = baselines != Baselines::Sent;
    let interest = Interest::view(600.0, 400.0, 100.0);
    let settings = settings(interest, baselines, 11);
    let mut room = Room::new(settings, Arc::new(Map::open("interest", SIDE))).0;
    let mut rng = Rng::new(5);
    let join = |room: &mut Room, i: usize| {
        let (conn, link) = GameSocket::memory();
        let (ended_tx, ended) = oneshot::channel();
        room.join_now(&format!("p{i}"), conn, ended_tx)
            .expect("room has space");
        let first = link.take_messages().remove(0);
        let welcome = match codec::decode_server(&first).expect("welcome decodes") {
            ServerMsg::Welcome(w) => w,
            other => panic!("{other:?}"),
        };
        Client {
            me: welcome.player,
            replica: Replica::from_welcome(&welcome),
            link,
            ended,
            acks: VecDeque::new(),
            ack: None,
            seq: 0,
            dir: (0.0, 0.0),
            seen: BTreeSet::new(),
            lost_sight: 0,
            applied: 0,
            held: Vec::new(),
        }
    };
    let mut clients: Vec<Client> = (0..24).map(|i| join(&mut room, i)).collect();
    let dt = room.world().config.dt();
    let mut cell_moves = 0usize;
    let (mut deltas, mut on_step) = (0usize, 0usize);
    let (mut moves_patched, mut recent_whole, mut old_whole) = (0usize, 0usize, 0usize);
    for n in 0..400u32 {
        // Late joiners start from a full state in a world already moving.
        if n == 150 || n == 250 {
            clients.push(join(&mut room, clients.len()));
        }
        let now = room.world().tick;
        for c in &mut clients {
            if rng.below(20) == 0 {
                c.dir = (rng.below(3) as f32 - 1.0, rng.below(3) as f32 - 1.0);
            }
            while c.acks.front().is_some_and(|(at, _)| *at <= n) {
                c.ack = c.acks.pop_front().map(|(_, t)| t);
            }
            c.seq += 1;
            // Drawn in this order (fire, then aim) so the scenario stays the same.
            let fire = rng.below(10) == 0;
            let controls = Controls {
                move_x: c.dir.0,
                move_y: c.dir.1,
                aim: rng.below(628) as f32 / 100.0,
                buttons: tickwire_shared::input::Buttons::FIRE.when(fire),
            };
            let msg = controls.to_msg(c.seq, now, c.ack);
            c.link.push(codec::encode_client(&ClientMsg::Input(msg)));
        }
        room.tick();
        let tick = room.world().tick;
        let state = room.world().net_state();
        for c in &mut clients {
            assert!(c.ended.try_recv().is_err(), "nobody is dropped");
            for bytes in c.link.take_messages() {
                // A fifth of the snapshots never arrive.
                if lossy && rng.below(5) == 0 {
                    continue;
                }
                let ServerMsg::Snapshot(snap) = codec::decode_server(&bytes).expect("decodes")
                else {
                    panic!("a snapshot");
                };
                assert_eq!(snap.header.tick, tick);
                // The body, assembled from cell chunks shared between clients, is the
                // delta `shared::diff` computes from scratch for this client's baseline and
                // view, except that an entity that changed cell comes as a despawn and a
                // spawn instead of a patch.
                if !lossy {
                    // The previous snapshot, late acknowledgements or not.
                    assert_eq!(
                        snap.header.baseline,
                        c.replica.tick(),
                        "baseline = last sent"
                    );
                }
                if let Some(b) = snap.header.baseline {
                    on_step += usize::from(b.0 % baseline_step == 0);
                    deltas += 1;
                    let base = &c
                        .held
                        .iter()
                        .find(|(t, _)| *t == b)
                        .expect("baseline held")
                        .1;
                    let own = state
                        .iter()
                        .find(|(id, _)| *id == c.me)
                        .map(|(_, e)| e.position_at(tick, dt));
                    let want = expected(&state, interest.key(own), tick, dt);
                    let ext = Extrapolation {
                        baseline: b,
                        ticks: tick.since(b),
                        config: &room.world().config,
                        map: &room.world().map,
                    };
                    // The body is cut by cells: an entity that changed cell inside the
                    // view comes as a despawn and a spawn instead of a patch; everything
                    // else is exactly the minimal delta.
                    let reference = diff(base, &want, &ext);
                    let body = &snap.body;
                    let has = |list: &[NetId], id: &NetId| list.binary_search(id).is_ok();
                    let spawned: Vec<NetId> = body.spawns.iter().map(|(id, _)| *id).collect();
                    let moved = |id: &NetId| has(&spawned, id) && has(&body.despawns, id);
                    for p in &body.patches {
                        assert!(reference.patches.contains(p), "patch {p:?} is minimal");
                    }
                    for (id, p) in &reference.patches {
                        assert!(
                            body.patches.iter().any(|(i, q)| i == id && q == p) || moved(id),
                            "patch of {id:?} sent"
                        );
                    }
                    for s in &reference.spawns {
                        assert!(body.spawns.contains(s), "spawn {s:?} sent");
                    }
                    for (id, _) in &body.spawns {
                        let wanted = reference.spawns.iter().any(|(i, _)| i == id);
                        assert!(wanted || moved(id), "spawn of {id:?} needed");
                    }
                    for id in &reference.despawns {
                        assert!(has(&body.despawns, id), "despawn {id:?} sent");
                    }
                    for id in &body.despawns {
                        assert!(reference.despawns.contains(id) || moved(id));
                    }
                    // Sent again whole only because it changed cell; and, against a
                    // recent baseline, only into a cell this view did not hold at the
                    // baseline (that cell comes whole): an entity moving between cells
                    // the view held travels as a patch.
                    let own_then = base
                        .iter()
                        .find(|(id, _)| *id == c.me)
                        .map(|(_, e)| e.position_at(b, dt));
                    let ViewKey::Cells { x0, y0, x1, y1 } = interest.key(own_then) else {
                        panic!("interest is on");
                    };
                    for id in body.despawns.iter().filter(|id| moved(id)) {
                        let then = base.iter().find(|(i, _)| i == id).expect("held");
                        let now = want.iter().find(|(i, _)| i == id).expect("in view");
                        let (from, (cx, cy)) = (cell_of(&then.1, b, dt), cell_of(&now.1, tick, dt));
                        assert_ne!(from, (cx, cy), "{id:?} re-sent whole in the same cell");
                        let held = (x0..=x1).contains(&cx) && (y0..=y1).contains(&cy);
                        let recent = tick.since(b) <= MOVERS_MAX_AGE;
                        assert!(
                            !held || !recent,
                            "{id:?} re-sent whole into a cell the view held"
                        );
                        cell_moves += 1;
                        // Both ways of being re-sent whole occur: into a cell the view
                        // did not hold (recent baseline), and any move (older baseline).
                        if recent {
                            recent_whole += 1;
                        } else if held {
                            old_whole += 1;
                        }
                    }
                    // And a patch of an entity that changed cell inside the view.
                    for (id, _) in &body.patches {
                        let then = base.iter().find(|(i, _)| i == id).expect("held");
                        let now = want.iter().find(|(i, _)| i == id).expect("in view");
                        if cell_of(&then.1, b, dt) != cell_of(&now.1, tick, dt) {
                            moves_patched += 1;
                        }
                    }
                }
                c.replica.apply(&snap).expect("applies");
                c.held.push((tick, c.replica.entities().to_vec()));
                if c.held.len() > 40 {
                    c.held.remove(0);
                }
                c.applied += 1;
                let own = state
                    .iter()
                    .find(|(id, _)| *id == c.me)
                    .map(|(_, e)| e.position_at(tick, dt));
                let want = expected(&state, interest.key(own), tick, dt);
                assert_eq!(
                    c.replica.entities(),
                    want.as_slice(),
                    "client {:?} at tick {tick}",
                    c.me
                );
                let ids: BTreeSet<NetId> = want.iter().map(|(id, _)| *id).collect();
                c.lost_sight += c.seen.difference(&ids).count();
                c.seen = ids;
                // Acknowledged 0 to 5 ticks later, sometimes up to 23 (older than the
                // views a player slot remembers: the server looks the view up).
                let delay = if rng.below(8) == 0 {
                    rng.below(24)
                } else {
                    rng.below(6)
                };
                c.acks.push_back((n + delay, tick));
            }
        }
    }
    let applied: usize = clients.iter().map(|c| c.applied).sum();
    let lost: usize = clients.iter().map(|c| c.lost_sight).sum();
    let max_seen = clients.iter().map(|c| c.seen.len()).max().unwrap_or(0);
    assert!(applied > 24 * 300, "snapshots applied: {applied}");
    if baseline_step > 1 {
        // By chance a quarter would be; lost snapshots and late acks leave the rest on the
        // newest acknowledgement.
        assert!(
            on_step * 3 > deltas,
            "baselines on the lattice: {on_step} of {deltas}"
        );
    }
    // Baselines older than the movers' age limit come only from late acknowledgements.
    let old_baselines = lossy;
    assert!(
        moves_patched > 0 && recent_whole > 0 && (old_whole > 0 || !old_baselines),
        "entities changed cell inside views: {moves_patched} patched, re-sent whole \
         {recent_whole} times into a newly held cell and {old_whole} times against an older \
         baseline ({cell_moves} in all)"
    );
    assert!(
        lost > 50,
        "entities left views ({lost}): the test moves things around"
    );
    assert!(
        max_seen < state_len(&room),
        "views are partial ({max_seen} seen)"
    );
}

fn state_len(room: &Room) -> usize {
    room.world().entities.len()
}

/// Players standing in the same cells with the same baseline share one encoded body: once
/// a crowd of six has pushed itself apart and stands still, a tick encodes one body
/// (nothing changed, so no chunk either) for six frames, and every replica still holds
/// exactly its view.
#[test]
fn a_crowd_in_the_same_cells_shares_one_body() {
    // Views 768 units wide with their margins (3 cells), so both side edges lie at the same
    // place in their cells: half a cell from either boundary when the crowd's centre is
    // there. Six players spawned at one point end up in a line 200 units long, inside it.
    let interest = Interest::view(568.0, 368.0, 100.0);
    let settings = settings(interest, Baselines::Sent, 3);
    let mut map = Map::open("crowd", SIDE);
    map.spawns = vec![[2.0 * CELL + CELL / 2.0 + 384.0, 896.0]];
    let mut room = Room::new(settings, Arc::new(map)).0;
    let mut clients: Vec<(NetId, Replica, MemoryLink)> = (0..6)
        .map(|i| {
            let (conn, link) = GameSocket::memory();
            let (ended_tx, _ended) = oneshot::channel();
            room.join_now(&format!("c{i}"), conn, ended_tx)
                .expect("room has space");
            let ServerMsg::Welcome(w) =
                codec::decode_server(&link.take_messages().remove(0)).expect("decodes")
            else {
                panic!("a welcome first");
            };
            (w.player, Replica::from_welcome(&w), link)
        })
        .collect();
    let dt = room.world().config.dt();
    // The crowd pushes itself apart for a few ticks, then stands still (bounded: 300).
    let mut settled = false;
    for _ in 0..300 {
        let report = room.tick();
        let tick = room.world().tick;
        let state = room.world().net_state();
        for (me, replica, link) in &mut clients {
            for bytes in link.take_messages() {
                let ServerMsg::Snapshot(snap) = codec::decode_server(&bytes).expect("decodes")
                else {
                    panic!("a snapshot");
                };
                replica.apply(&snap).expect("applies");
            }
            let own = state
                .iter()
                .find(|(id, _)| id == me)
                .map(|(_, e)| e.position_at(tick, dt));
            let want = expected(&state, interest.key(own), tick, dt);
            assert_eq!(replica.entities(), want.as_slice(), "{me:?} at {tick:?}");
        }
        assert_eq!(report.frames_sent, 6);
        if report.bodies_encoded == 1 {
            settled = true;
            break;
        }
    }
    assert!(settled, "the crowd settles and shares one body per tick");
}
