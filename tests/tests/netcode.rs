//! The browser client's netcode, natively and in virtual time: the real `Room::tick` and the
//! real client core (`tickwire_client_wasm::game::GameClient`) joined by a simulated link
//! with latency and jitter. Deterministic: no sockets, no wall clock.

use std::collections::VecDeque;
use std::sync::Arc;

use tickwire_client_wasm::game::GameClient;
use tickwire_server::net::game_socket::{GameSocket, MemoryLink};
use tickwire_server::room::{Baselines, Ending, NetLimits, Room, RoomSettings};
use tickwire_shared::protocol::{codec, ClientMsg};
use tickwire_shared::{Controls, Map};
use tokio::sync::oneshot;

const TICK_MS: f64 = 1000.0 / 30.0;
const FRAME_MS: f64 = 1000.0 / 60.0;

fn room() -> Room {
    let settings = RoomSettings {
        seed: 7,
        max_players: 8,
        input_queue: 64,
        max_ack_lag_ticks: 10_000,
        // The link is TCP: every frame arrives, in order.
        baselines: Baselines::Sent,
        // Virtual time runs faster than real time here: no rate limit.
        net: NetLimits {
            max_msgs_per_s: f64::MAX,
            msg_burst: f64::MAX,
            ..NetLimits::default()
        },
        ..RoomSettings::default()
    };
    Room::new(settings, Arc::new(Map::open("netcode", 2000.0))).0
}

/// A one-way link: messages leave in order and arrive after `base + jitter` ms, never
/// overtaking each other (TCP).
struct Link {
    base: f64,
    jitter: f64,
    seed: u64,
    last: f64,
    queue: VecDeque<(f64, Vec<u8>)>,
}

impl Link {
    fn new(base: f64, jitter: f64, seed: u64) -> Link {
        Link {
            base,
            jitter,
            seed,
            last: 0.0,
            queue: VecDeque::new(),
        }
    }
    fn send(&mut self, now: f64, bytes: Vec<u8>) {
        self.seed = self
            .seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let r = (self.seed >> 33) as f64 / f64::from(1u32 << 31);
        let at = (now + self.base + r * self.jitter).max(self.last);
        self.last = at;
        self.queue.push_back((at, bytes));
    }
    fn due(&mut self, now: f64) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while self.queue.front().is_some_and(|(t, _)| *t <= now) {
            out.push(self.queue.pop_front().unwrap().1);
        }
        out
    }
}

/// One client session over links, against the room.
struct Session {
    client: GameClient,
    room_side: MemoryLink,
    ended: oneshot::Receiver<(GameSocket, Ending)>,
    up: Link,
    down: Link,
}

impl Session {
    fn new(room: &mut Room, name: &str, up: Link, mut down: Link) -> Session {
        let mut client = GameClient::new(name);
        let _join = client.on_open();
        let (conn, room_side) = GameSocket::memory();
        let (ended_tx, ended) = oneshot::channel();
        room.join_now(name, conn, ended_tx).expect("room has space");
        for welcome in room_side.take_messages() {
            down.send(0.0, welcome.to_vec());
        }
        Session {
            client,
            room_side,
            ended,
            up,
            down,
        }
    }

    /// Moves what the room sent (the welcome first) onto the simulated link.
    fn collect(&mut self, now: f64) {
        assert!(self.ended.try_recv().is_err(), "the player is not dropped");
        for b in self.room_side.take_messages() {
            self.down.send(now, b.to_vec());
        }
    }

    /// Delivers what is due both ways (the room reads the client's messages, pings
    /// included, at its next tick).
    fn deliver(&mut self, now: f64) {
        for b in self.down.due(now) {
            self.client
                .on_message(&b, now)
                .expect("server messages apply");
        }
        for b in self.up.due(now) {
            assert!(
                !matches!(codec::decode_client(&b), Ok(ClientMsg::Join(_))),
                "joined directly"
            );
            self.room_side.push(b);
        }
    }

    fn frame(&mut self, now: f64, controls: &Controls) {
        for msg in self.client.update(now, controls) {
            self.up.send(now, msg);
        }
    }
}

fn script(t: f64) -> Controls {
    let mut c = Controls::default();
    if (1000.0..2500.0).contains(&t) {
        c.move_x = 1.0;
        // Dashes (a movement ability with a cooldown): predicted through the replicated
        // timers, so the prediction stays exact.
        c.buttons = tickwire_shared::input::Buttons::DASH.when((t as u64 / 100).is_multiple_of(7));
    } else if (2500.0..4000.0).contains(&t) {
        c.move_y = 1.0;
        c.move_x = -0.5;
        c.buttons = tickwire_shared::input::Buttons::FIRE;
    }
    c
}

/// Runs the scripted session with `jitter` ms of jitter each way; returns the corrections
/// after warm-up and at the end, the final prediction and the server's position.
fn scripted_prediction(jitter: f64) -> (u64, u64, Option<glam::Vec2>, glam::Vec2) {
    scripted_prediction_from(jitter, 1)
}

/// [`scripted_prediction`] with the client's inputs numbered from `first_seq`.
fn scripted_prediction_from(
    jitter: f64,
    first_seq: u32,
) -> (u64, u64, Option<glam::Vec2>, glam::Vec2) {
    let mut room = room();
    let up = Link::new(60.0, jitter, 1);
    let down = Link::new(60.0, jitter, 2);
    let mut s = Session::new(&mut room, "predictor", up, down);
    s.client = GameClient::new("predictor").with_first_seq(first_seq);
    let _join = s.client.on_open();
    let (mut t, mut next_tick, mut next_frame) = (0.0, 0.0, 0.0);
    let mut warm = None;
    while t < 6000.0 {
        if t >= next_tick {
            room.tick();
            next_tick += TICK_MS;
            s.collect(t);
        }
        s.deliver(t);
        if t >= next_frame {
            s.frame(t, &script(t));
            next_frame += FRAME_MS;
        }
        // Before moving starts (1 s), the clock and the ping are known.
        if t >= 900.0 && warm.is_none() {
            warm = Some(s.client.corrections());
        }
        t += 1.0;
    }
    let me = s.client.me().expect("welcomed");
    let id = room.world().find_net(me).expect("player in the world");
    let server = room.world().entities[id].pos;
    (
        warm.unwrap(),
        s.client.corrections(),
        s.client.predicted(),
        server,
    )
}

#[test]
fn prediction_reconciles_with_zero_error_over_a_delayed_lossless_link() {
    let (warm, end, predicted, server) = scripted_prediction(0.0);
    assert!(
        (server.x - 1000.0).abs() > 150.0 || (server.y - 1000.0).abs() > 150.0,
        "the script moved the player: {server}"
    );
    assert_eq!(
        predicted,
        Some(server),
        "prediction ends exactly on the server state"
    );
    assert_eq!(
        end, warm,
        "no correction at all once moving: every snapshot matched"
    );
}

#[test]
fn inputs_timed_ahead_absorb_jitter_without_corrections() {
    // 60 ms each way with up to 40 ms of jitter: inputs are meant for the tick at which
    // they will arrive plus a margin, so late arrivals do not make the server repeat or
    // fold inputs, and the prediction stays exact.
    let (warm, end, predicted, server) = scripted_prediction(40.0);
    assert_eq!(predicted, Some(server));
    assert_eq!(end, warm, "no correction under jitter");
}

#[test]
fn prediction_stays_exact_across_the_sequence_number_wrap() {
    // The client starts near the top of the sequence numbers and crosses u32::MAX while
    // moving (about 2 s in): the server applies every input in order and the client
    // reconciles against numbers on both sides of the wrap, exactly as far from it.
    let (warm, end, predicted, server) = scripted_prediction_from(20.0, u32::MAX - 60);
    assert!(
        (server.x - 1000.0).abs() > 150.0 || (server.y - 1000.0).abs() > 150.0,
        "the script moved the player after the wrap: {server}"
    );
    assert_eq!(predicted, Some(server));
    assert_eq!(end, warm, "no correction across the wrap");
}

#[test]
fn interpolation_is_smooth_under_jitter() {
    let mut room = room();
    let mut watcher = Session::new(
        &mut room,
        "watcher",
        Link::new(40.0, 0.0, 3),
        Link::new(40.0, 45.0, 4),
    );
    let (runner_conn, runner_link) = GameSocket::memory();
    let (runner_ended, _runner_end) = oneshot::channel();
    let runner = room
        .join_now("runner", runner_conn, runner_ended)
        .expect("room has space");
    let runner_id = room.world().entities[runner.player].net_id;
    let (mut t, mut next_tick, mut next_frame, mut seq) = (0.0, 0.0, 0.0, 1u32);
    let mut xs: Vec<f32> = Vec::new();
    while t < 5000.0 {
        if t >= next_tick {
            // The runner runs right along the whole test, one input per tick.
            let msg = tickwire_shared::input::InputMsg {
                seq,
                tick: room.world().tick,
                ack: None,
                buttons: Default::default(),
                move_x: 1.0,
                move_y: 0.0,
                aim: 0.0,
            };
            seq += 1;
            runner_link.push(codec::encode_client(&ClientMsg::Input(msg)));
            room.tick();
            next_tick += TICK_MS;
            watcher.collect(t);
        }
        watcher.deliver(t);
        if t >= next_frame {
            watcher.frame(t, &Controls::default());
            next_frame += FRAME_MS;
            if t > 1500.0 {
                let m = watcher.client.render(t);
                let p = m
                    .players
                    .iter()
                    .find(|p| p.id == runner_id)
                    .expect("runner drawn");
                xs.push(p.pos.x);
            }
        }
        t += 1.0;
    }
    assert!(xs.len() > 150);
    let per_frame = 200.0 * (FRAME_MS / 1000.0) as f32;
    let mut worst = 0.0f32;
    for w in xs.windows(2) {
        let step = w[1] - w[0];
        assert!(step >= 0.0, "never moves backwards: {} -> {}", w[0], w[1]);
        worst = worst.max(step);
    }
    assert!(
        worst < per_frame * 3.0,
        "no visible jumps: worst step {worst} vs {per_frame} a frame"
    );
    assert!(
        xs.last().unwrap() - xs[0] > 300.0,
        "the runner was seen running"
    );
}
