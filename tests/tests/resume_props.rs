//! Resume at random ticks with random inputs in flight, against the real `Room::tick` on
//! in-memory connections: no input is applied twice or lost, the replica equals the server
//! after every snapshot (it checks the state hash of each one), and a resume within the
//! history ring is served a delta against the tick the client held.

use std::sync::Arc;

use proptest::prelude::*;
use tickwire_server::net::game_socket::{GameSocket, MemoryLink};
use tickwire_server::room::{Arrival, Ending, NetLimits, ResumeTicket, Room, RoomSettings};
use tickwire_shared::protocol::{codec, ClientMsg, ServerMsg};
use tickwire_shared::{Controls, Map, NetId, Replica, Tick};
use tokio::sync::oneshot;

/// The client's side: its replica, its inputs, what it last saw applied.
struct Client {
    link: MemoryLink,
    _ended: oneshot::Receiver<(GameSocket, Ending)>,
    replica: Replica,
    me: NetId,
    next_seq: u32,
    /// Every input sent, by sequence number (1-based), as encoded.
    sent: Vec<Vec<u8>>,
    last_applied: u32,
}

fn arrival(key: u64) -> (Arrival, MemoryLink, oneshot::Receiver<(GameSocket, Ending)>) {
    let (conn, link) = GameSocket::memory();
    let (ended_tx, ended) = oneshot::channel();
    let arrival = Arrival {
        conn,
        ended: ended_tx,
        ticket: ResumeTicket {
            key,
            token: format!("token-{key}"),
        },
    };
    (arrival, link, ended)
}

impl Client {
    /// Sends the next input (a new direction every few ticks).
    fn send_input(&mut self, rng: u64) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let angle = (rng % 8) as f32 * std::f32::consts::FRAC_PI_4;
        let controls = Controls {
            move_x: angle.cos(),
            move_y: angle.sin(),
            ..Controls::default()
        };
        let tick = self.replica.tick().unwrap_or(Tick(0));
        let msg = ClientMsg::Input(controls.to_msg(seq, tick, self.replica.tick()));
        let bytes = codec::encode_client(&msg);
        self.sent.push(bytes.clone());
        self.link.push(bytes);
    }

    /// Applies what the room sent; returns the baselines of the snapshots.
    fn receive(&mut self) -> Vec<Option<Tick>> {
        let mut baselines = Vec::new();
        for b in self.link.take_messages() {
            match codec::decode_server(&b).expect("decodes") {
                ServerMsg::Snapshot(s) => {
                    self.replica
                        .apply(&s)
                        .expect("the replica follows the server");
                    assert!(
                        s.header.last_input_seq >= self.last_applied,
                        "the applied sequence never goes back"
                    );
                    self.last_applied = s.header.last_input_seq;
                    baselines.push(s.header.baseline);
                }
                ServerMsg::Welcome(w) => {
                    assert!(w.resumed, "a resume's welcome says so");
                    assert_eq!(w.player, self.me, "the same entity");
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        baselines
    }
}

fn room() -> Room {
    let settings = RoomSettings {
        max_ack_lag_ticks: 10_000,
        net: NetLimits {
            max_msgs_per_s: f64::MAX,
            msg_burst: f64::MAX,
            ..NetLimits::default()
        },
        ..RoomSettings::default()
    };
    Room::new(settings, Arc::new(Map::open("resume", 2000.0))).0
}

/// One cut: after `at` ticks of play, `in_flight` inputs are sent and lost with the
/// connection, and the client stays away `away` ticks: a few (its tick is still in the
/// room's 64-tick history) or more than the history holds.
#[derive(Clone, Debug)]
struct Cut {
    at: u32,
    in_flight: usize,
    away: u32,
}

fn cut() -> impl Strategy<Value = Cut> {
    (3u32..30, 0usize..4, prop_oneof![0u32..5, 70u32..90]).prop_map(|(at, in_flight, away)| Cut {
        at,
        in_flight,
        away,
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn resumes_lose_no_input_apply_none_twice_and_follow_the_server(
        cuts in proptest::collection::vec(cut(), 1..4),
        seed in any::<u64>(),
    ) {
        let mut room = room();
        let (first, link, ended) = arrival(1);
        room.join_resumable_now("runner", first).expect("joins");
        let welcome = match codec::decode_server(&link.take_messages()[0]).expect("decodes") {
            ServerMsg::Welcome(w) => w,
            other => panic!("expected the welcome, got {other:?}"),
        };
        let mut client = Client {
            link,
            _ended: ended,
            replica: Replica::from_welcome(&welcome),
            me: welcome.player,
            next_seq: 1,
            sent: Vec::new(),
            last_applied: 0,
        };
        let mut applied = 0;
        let mut rng = seed;
        let mut step = || {
            rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            rng >> 33
        };
        for (key, c) in (1u64..).zip(&cuts) {
            for _ in 0..c.at {
                client.send_input(step());
                applied += room.tick().inputs_applied;
                client.receive();
            }
            // Inputs in flight when the connection breaks: lost with it.
            for _ in 0..c.in_flight {
                client.send_input(step());
            }
            client.link.cut();
            for _ in 0..=c.away {
                applied += room.tick().inputs_applied;
            }
            let held = client.replica.tick();
            let (next, link, ended) = arrival(key + 1);
            room.resume_now(key, held, client.next_seq, next);
            client.link = link;
            client._ended = ended;
            // The welcome, then the first snapshot: a delta against the tick held when the
            // room still has it (64 ticks of history), else a full state.
            applied += room.tick().inputs_applied;
            let baselines = client.receive();
            let expected = if c.away < 5 { held } else { None };
            prop_assert_eq!(baselines.first().copied().flatten(), expected);
            // What was not seen applied is sent again (a duplicate is refused, never
            // applied twice).
            let again: Vec<Vec<u8>> = client.sent[client.last_applied as usize..].to_vec();
            for b in again {
                client.link.push(b);
            }
        }
        for _ in 0..10 {
            client.send_input(step());
            applied += room.tick().inputs_applied;
            client.receive();
        }
        for _ in 0..5 {
            applied += room.tick().inputs_applied;
            client.receive();
        }
        // Every input arrived in the end: none lost; and no more were applied than were
        // sent (a resent input is refused as a duplicate, never applied twice).
        prop_assert_eq!(client.last_applied, client.next_seq - 1);
        prop_assert!(applied <= client.sent.len(), "{applied} applied of {} sent", client.sent.len());
        // The replica is the server's state.
        let server_state = room.world().net_state();
        prop_assert_eq!(client.replica.entities(), server_state.as_slice());
    }
}
