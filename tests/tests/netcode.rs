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
    room_with(tickwire_shared::SimConfig::default())
}

/// [`room`] with these rules.
fn room_with(sim: tickwire_shared::SimConfig) -> Room {
    let settings = RoomSettings {
        sim,
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
                view: None,
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

/// A memory connection driven by the test with raw inputs (no client core): a target that
/// walks as told, one input per tick.
struct Puppet {
    link: MemoryLink,
    _ended: oneshot::Receiver<(GameSocket, Ending)>,
    player: tickwire_shared::EntityId,
    seq: u32,
}

impl Puppet {
    fn join(room: &mut Room, name: &str) -> Puppet {
        let (conn, link) = GameSocket::memory();
        let (ended_tx, ended) = oneshot::channel();
        let joined = room.join_now(name, conn, ended_tx).expect("room has space");
        Puppet {
            link,
            _ended: ended,
            player: joined.player,
            seq: 1,
        }
    }

    /// Sends this tick's input (before the room's tick).
    fn walk(&mut self, room: &Room, move_x: f32, move_y: f32) {
        self.act(room, move_x, move_y, 0.0, false);
    }

    /// Sends this tick's input, aiming at `aim` radians and firing or not.
    fn act(&mut self, room: &Room, move_x: f32, move_y: f32, aim: f32, fire: bool) {
        let msg = tickwire_shared::input::InputMsg {
            seq: self.seq,
            tick: room.world().tick,
            ack: None,
            buttons: Controls::default()
                .with(tickwire_shared::input::Buttons::FIRE, fire)
                .buttons(),
            move_x,
            move_y,
            aim,
            view: None,
        };
        self.seq += 1;
        self.link.push(codec::encode_client(&ClientMsg::Input(msg)));
        let _ = self.link.take_messages();
    }

    fn hp(&self, room: &Room) -> u8 {
        room.world().player(self.player).map_or(0, |p| p.hp)
    }
}

/// Where the client draws player `id` at `now_ms`.
fn drawn(client: &GameClient, id: tickwire_shared::NetId, now_ms: f64) -> Option<glam::Vec2> {
    client
        .render(now_ms)
        .players
        .iter()
        .find(|p| p.id == id)
        .map(|p| p.pos)
}

/// Where the shot should be aimed, seen from `from`: at `target` moving at `vel` (units per
/// second), led by the projectile's flight time (the same for every shooter, whatever the
/// latency).
fn lead(from: glam::Vec2, target: glam::Vec2, vel: glam::Vec2) -> f32 {
    let cfg = fast();
    let start = cfg.player_radius + cfg.projectile_radius + 2.0;
    // The intercept: the flight time to where the target will be, refined a few times.
    let mut aim = target;
    for _ in 0..8 {
        let flight = ((aim - from).length() - start) / cfg.projectile_speed;
        aim = target + vel * flight;
    }
    (aim.y - from.y).atan2(aim.x - from.x)
}

/// Rules where players run at 400 units a second: fast enough sideways that where a target
/// is drawn and where it is differ by more than the hit radius at 150 ms round trip.
fn fast() -> tickwire_shared::SimConfig {
    tickwire_shared::SimConfig {
        player_speed: 400.0,
        ..tickwire_shared::SimConfig::default()
    }
}

/// Aim at the target as drawn (`true`) or where it really is now (`false`): a shooter at
/// 150 ms round trip fires once at a target running sideways; returns the target's hit
/// points before and after.
fn shoot_at_a_crossing_target(at_drawn: bool, max_rewind_s: f32) -> (u8, u8) {
    let mut room = room_with(tickwire_shared::SimConfig {
        max_rewind_s,
        ..fast()
    });
    let mut shooter = Session::new(
        &mut room,
        "shooter",
        Link::new(75.0, 0.0, 11),
        Link::new(75.0, 0.0, 12),
    );
    let mut target = Puppet::join(&mut room, "target");
    let target_net = room.world().entities[target.player].net_id;
    let full = target.hp(&room);
    let (mut t, mut next_tick, mut next_frame) = (0.0, 0.0, 0.0);
    let mut fire_at: Option<f64> = None;
    let mut trail: VecDeque<(f64, glam::Vec2)> = VecDeque::new();
    while t < 5000.0 {
        if t >= next_tick {
            if (900.0..1000.0).contains(&t) {
                // Placed: the shooter at (600, 1000), the target 250 units to its right
                // and 500 up, about to run down across the line of fire.
                let me = shooter.client.me().expect("welcomed by now");
                let w = room.world_mut();
                let s = w.find_net(me).expect("shooter");
                w.entities[s].pos = glam::Vec2::new(600.0, 1000.0);
                w.entities[target.player].pos = glam::Vec2::new(850.0, 500.0);
            }
            let down = if t >= 1000.0 { 1.0 } else { 0.0 };
            target.walk(&room, 0.0, down);
            room.tick();
            next_tick += TICK_MS;
            shooter.collect(t);
        }
        shooter.deliver(t);
        if t >= next_frame {
            next_frame += FRAME_MS;
            let mut c = Controls::default();
            let own = shooter.client.predicted();
            if let (Some(own), Some(seen)) = (own, drawn(&shooter.client, target_net, t)) {
                trail.push_back((t, seen));
                while trail.len() > 8 {
                    trail.pop_front();
                }
                // Fire once, when the drawn target is about 60 units above the line.
                if fire_at.is_none() && t > 1500.0 && seen.y > 940.0 {
                    let (t0, p0) = trail[0];
                    let vel = (seen - p0) / (((t - t0) / 1000.0) as f32).max(1e-3);
                    c.aim = if at_drawn {
                        lead(own, seen, vel)
                    } else {
                        let now = room.world().entities[target.player].pos;
                        lead(own, now, glam::Vec2::new(0.0, fast().player_speed))
                    };
                    c = c.with(tickwire_shared::input::Buttons::FIRE, true);
                }
            }
            let sent = shooter.client.update(t, &c);
            for msg in sent {
                if c.holds(tickwire_shared::input::Buttons::FIRE)
                    && matches!(codec::decode_client(&msg), Ok(ClientMsg::Input(ref i)) if i.buttons.0 != 0)
                {
                    fire_at = Some(t);
                }
                shooter.up.send(t, msg);
            }
        }
        t += 1.0;
    }
    assert!(fire_at.is_some(), "the shot was fired");
    (full, target.hp(&room))
}

#[test]
fn a_shot_aimed_at_the_drawn_target_hits_and_one_aimed_at_its_true_place_misses() {
    // 150 ms round trip: the shooter draws the target about 125 ms (50 units at 400 u/s)
    // behind where it is (one way plus the interpolation delay) and its shot reaches the
    // server later still; the server judges the shot where the shooter saw the target.
    let bound = tickwire_shared::SimConfig::default().max_rewind_s;
    let (full, after) = shoot_at_a_crossing_target(true, bound);
    let damage = tickwire_shared::SimConfig::default().projectile_damage;
    assert_eq!(after, full - damage, "aimed where it was drawn: a hit");
    let (full, after) = shoot_at_a_crossing_target(false, bound);
    assert_eq!(after, full, "aimed where it truly was: a miss");
    // Without lag compensation the same shot at the drawn target misses: the shooter
    // would have to lead by its own latency.
    let (full, after) = shoot_at_a_crossing_target(true, 0.0);
    assert_eq!(after, full, "judged against the present: a miss");
}

#[test]
fn render_time_never_goes_backwards_at_50_ms_plus_or_minus_50() {
    let mut room = room();
    // 50 ± 50 ms each way (TCP: in order).
    let mut watcher = Session::new(
        &mut room,
        "watcher",
        Link::new(0.0, 100.0, 21),
        Link::new(0.0, 100.0, 22),
    );
    let mut runner = Puppet::join(&mut room, "runner");
    let runner_net = room.world().entities[runner.player].net_id;
    let (mut t, mut next_tick, mut next_frame) = (0.0, 0.0, 0.0);
    let (mut times, mut xs) = (Vec::new(), Vec::new());
    while t < 8000.0 {
        if t >= next_tick {
            // Runs right and back, 2 s each way.
            let dir = if ((t / 2000.0) as u32).is_multiple_of(2) {
                1.0
            } else {
                -1.0
            };
            runner.walk(&room, dir, 0.0);
            room.tick();
            next_tick += TICK_MS;
            watcher.collect(t);
        }
        watcher.deliver(t);
        if t >= next_frame {
            watcher.frame(t, &Controls::default());
            next_frame += FRAME_MS;
            if let Some(r) = watcher.client.render_time() {
                times.push(r);
            }
            if t > 1000.0 {
                xs.push(
                    drawn(&watcher.client, runner_net, t)
                        .expect("runner drawn")
                        .x,
                );
            }
        }
        t += 1.0;
    }
    assert!(times.len() > 400);
    for w in times.windows(2) {
        assert!(w[1] >= w[0], "render time went back: {} -> {}", w[0], w[1]);
    }
    let feel = watcher.client.feel();
    assert_eq!(feel.backward_steps, 0);
    assert!(feel.frames as usize >= times.len());
    // The runner is drawn moving in steps of about a frame's walk (3.3 units), never a
    // jump: the render clock only speeds up or slows down.
    let per_frame = 200.0 * (FRAME_MS / 1000.0) as f32;
    let worst = xs
        .windows(2)
        .map(|w| (w[1] - w[0]).abs())
        .fold(0.0f32, f32::max);
    assert!(worst < per_frame * 3.0, "worst step {worst}");
}

/// A crowd of `n` clients at `base ± jitter` ms each way, every one walking towards the
/// map's centre (pushing the others), circling a little and firing at the centre, for `ms`; returns each
/// client's feel over the last `ms - 2000`, and the share of those ticks in which at least
/// one player touched another (on the server).
fn crowd(
    n: usize,
    base: f64,
    jitter: f64,
    ms: f64,
) -> (Vec<tickwire_shared::replica::feel::Feel>, f64) {
    let mut room = room();
    let mut sessions: Vec<Session> = (0..n)
        .map(|i| {
            let s = 100 + 2 * i as u64;
            Session::new(
                &mut room,
                &format!("p{i}"),
                Link::new(base - jitter, 2.0 * jitter, s),
                Link::new(base - jitter, 2.0 * jitter, s + 1),
            )
        })
        .collect();
    let centre = glam::Vec2::new(1000.0, 1000.0);
    let (mut t, mut next_tick, mut next_frame) = (0.0, 0.0, 0.0);
    let mut reset = false;
    let (mut ticks, mut touching) = (0u32, 0u32);
    let touch = 2.0 * tickwire_shared::SimConfig::default().player_radius + 0.5;
    while t < ms {
        if t >= next_tick {
            room.tick();
            next_tick += TICK_MS;
            if reset {
                let w = room.world();
                let at: Vec<glam::Vec2> = w
                    .entities
                    .values()
                    .filter(|e| matches!(e.kind, tickwire_shared::entity::EntityKind::Player(_)))
                    .map(|e| e.pos)
                    .collect();
                ticks += 1;
                let any = at
                    .iter()
                    .enumerate()
                    .any(|(i, a)| at[i + 1..].iter().any(|b| a.distance(*b) <= touch));
                touching += u32::from(any);
            }
            for s in &mut sessions {
                s.collect(t);
            }
        }
        for s in &mut sessions {
            s.deliver(t);
        }
        if t >= next_frame {
            next_frame += FRAME_MS;
            if !reset && t >= 2000.0 {
                reset = true;
                for s in &mut sessions {
                    s.client.reset_feel();
                }
            }
            for (i, s) in sessions.iter_mut().enumerate() {
                let mut c = Controls::default();
                if let Some(p) = s.client.predicted() {
                    let to = centre - p;
                    let side = glam::Vec2::new(-to.y, to.x) * if i % 2 == 0 { 0.3 } else { -0.3 };
                    let d = (to + side).normalize_or_zero();
                    // Pause now and then, so pushes start and stop.
                    if (t / 700.0) as usize % 4 != i % 4 {
                        c.move_x = d.x;
                        c.move_y = d.y;
                    }
                    // Firing into the crowd: players die and come back among the others.
                    c.aim = to.y.atan2(to.x);
                    c = c.with(tickwire_shared::input::Buttons::FIRE, true);
                }
                s.frame(t, &c);
            }
        }
        t += 1.0;
    }
    let feels = sessions.iter().map(|s| s.client.feel().clone()).collect();
    (feels, f64::from(touching) / f64::from(ticks.max(1)))
}

#[test]
fn a_crowd_of_8_pushing_at_60_ms_plus_or_minus_20_is_predicted() {
    let (feels, touching) = crowd(8, 60.0, 20.0, 12_000.0);
    assert!(
        touching > 0.5,
        "the crowd pushes: in contact {touching:.2} of the ticks"
    );
    let mut all = tickwire_shared::replica::feel::Feel::default();
    for f in &feels {
        all.merge(f);
    }
    eprintln!("{}", all.lines().join("\n"));
    assert!(all.living_ticks > 8 * 200, "{}", all.living_ticks);
    assert!(
        all.teleports > 4,
        "players died and came back: {}",
        all.teleports
    );
    assert!(
        all.mispredicted_pct() < 1.0,
        "mispredicted {} of {} living ticks",
        all.mispredicted_ticks,
        all.living_ticks
    );
    assert!(all.correction.quantile(0.99) < 1.0, "{}", all.lines()[1]);
}

#[test]
fn nothing_is_predicted_while_dead_and_the_respawn_is_a_teleport() {
    let mut room = room();
    let mut victim = Session::new(
        &mut room,
        "victim",
        Link::new(50.0, 0.0, 31),
        Link::new(50.0, 0.0, 32),
    );
    let mut shooter = Puppet::join(&mut room, "shooter");
    let respawn_s = tickwire_shared::SimConfig::default().respawn_delay_s;
    let (mut t, mut next_tick, mut next_frame) = (0.0, 0.0, 0.0);
    let (mut died_at, mut back_at) = (None, None);
    let (mut corrections_at_death, mut corrections_while_dead) = (0, 0);
    while t < 9000.0 {
        if t >= next_tick {
            let me = victim.client.me();
            let vid = me.and_then(|m| room.world().find_net(m));
            if (900.0..900.0 + TICK_MS).contains(&t) {
                // The victim stands 100 units right of the shooter (placed once: a
                // teleport, before the figures are taken).
                let w = room.world_mut();
                w.entities[shooter.player].pos = glam::Vec2::new(500.0, 1000.0);
                w.entities[vid.expect("victim in the room")].pos = glam::Vec2::new(600.0, 1000.0);
            }
            // The shooter fires at it (+x) from 1.5 s until it dies, then stops.
            let dead = vid
                .and_then(|v| room.world().player(v))
                .is_some_and(|p| !p.alive());
            let fire = t > 1500.0 && died_at.is_none() && !dead;
            shooter.act(&room, 0.0, 0.0, 0.0, fire);
            room.tick();
            next_tick += TICK_MS;
            victim.collect(t);
        }
        victim.deliver(t);
        if t >= next_frame {
            next_frame += FRAME_MS;
            // The victim keeps walking up and down the whole time, dead or alive.
            let c = Controls {
                move_y: if ((t / 500.0) as u32).is_multiple_of(2) {
                    1.0
                } else {
                    -1.0
                },
                ..Controls::default()
            };
            victim.frame(t, &c);
            if (1300.0..1300.0 + FRAME_MS).contains(&t) {
                victim.client.reset_feel();
            }
            let me = victim.client.me();
            let dead_here = me
                .and_then(|m| victim.client.replica().get(m))
                .and_then(tickwire_shared::NetEntity::as_player)
                .is_some_and(|p| p.respawn_at.is_some());
            match (dead_here, died_at, back_at) {
                (true, None, _) => {
                    died_at = Some(t);
                    corrections_at_death = victim.client.corrections();
                }
                (true, Some(_), None) => {
                    corrections_while_dead = victim.client.corrections() - corrections_at_death;
                }
                (false, Some(_), None) => back_at = Some(t),
                _ => {}
            }
        }
        t += 1.0;
    }
    let (died, back) = (
        died_at.expect("the victim died"),
        back_at.expect("it came back"),
    );
    assert!(
        back - died > f64::from(respawn_s) * 1000.0 - 100.0,
        "{died} {back}"
    );
    assert_eq!(corrections_while_dead, 0, "no correction while dead");
    let feel = victim.client.feel();
    assert_eq!(
        feel.teleports,
        1,
        "the respawn is a teleport: {:?}",
        feel.lines()
    );
    assert_eq!(feel.mispredicted_ticks, 0, "{:?}", feel.lines());
    assert!(feel.living_ticks > 100);
}
