//! Recorded matches for the replay tests: the real `Room::tick`, driven in virtual time
//! (no clock: a tick is a call), with in-memory connections ([`GameSocket::memory`]) whose
//! "bots" read the world and send real input messages through the room's inbound path.
//! Two minutes of a 30 Hz match are 3,600 calls: seconds of real time.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tickwire_bots::brain::{self, Behavior, Brain, Sight};
use tickwire_server::net::game_socket::{GameSocket, MemoryLink};
use tickwire_server::room::record::{RecordOptions, RecordSink};
use tickwire_server::room::{Arrival, Ending, NetLimits, ResumeTicket, Room, RoomSettings};
use tickwire_shared::entity::EntityKind;
use tickwire_shared::protocol::{codec, ClientMsg, ServerMsg};
use tickwire_shared::replay::verify;
use tickwire_shared::{Controls, Map, NetId, Tick};
use tokio::sync::oneshot;

use crate::workspace_root;

/// The arena map of `assets/maps/arena.json`.
#[must_use]
pub fn arena_map() -> Map {
    let text = std::fs::read_to_string(workspace_root().join("assets/maps/arena.json"))
        .expect("read the arena map");
    Map::from_json(&text).expect("valid arena map")
}

/// Settings of a recorded test room: no rate limit (virtual time runs faster than real
/// time), a long reconnect grace, recording into `sink`.
#[must_use]
pub fn recorded_settings(sink: Option<RecordSink>, max_players: usize) -> RoomSettings {
    RoomSettings {
        id: "TESTROOM".into(),
        mode: "arena".into(),
        seed: 19,
        max_players,
        input_queue: 64,
        max_ack_lag_ticks: 10_000,
        reconnect_grace: Duration::from_secs(3600),
        net: NetLimits {
            max_msgs_per_s: f64::MAX,
            msg_burst: f64::MAX,
            ..NetLimits::default()
        },
        recording: sink,
        ..RoomSettings::default()
    }
}

/// One in-memory client of a [`VirtualMatch`].
pub struct Bot {
    /// Its name.
    pub name: String,
    /// The client's end of its connection.
    pub link: MemoryLink,
    /// Where the room hands the connection back.
    pub ended: oneshot::Receiver<(GameSocket, Ending)>,
    /// Its resume key.
    pub key: u64,
    /// Its player's network id.
    pub net_id: NetId,
    seq: u32,
    rng: u64,
    brain: Option<Brain>,
}

/// A spectator's client end: the messages it got, applied to a replica.
pub struct Watcher {
    /// The client's end of its connection.
    pub link: MemoryLink,
    /// Where the room hands the connection back.
    pub ended: oneshot::Receiver<(GameSocket, Ending)>,
    /// The replica built from its welcome and snapshots.
    pub replica: Option<tickwire_shared::Replica>,
}

impl Watcher {
    /// Applies what arrived; the ticks of the snapshots, in order.
    ///
    /// # Panics
    /// On a message that does not decode or apply.
    pub fn receive(&mut self) -> Vec<Tick> {
        let mut ticks = Vec::new();
        for bytes in self.link.take_messages() {
            match codec::decode_server(&bytes).expect("server message decodes") {
                ServerMsg::Welcome(w) => {
                    assert_eq!(w.player, NetId(0), "a spectator has no player");
                    self.replica = Some(tickwire_shared::Replica::from_welcome(&w));
                }
                ServerMsg::Snapshot(s) => {
                    ticks.push(s.header.tick);
                    self.replica
                        .as_mut()
                        .expect("welcomed first")
                        .apply(&s)
                        .expect("the snapshot applies");
                }
                ServerMsg::Pong(_) | ServerMsg::Disconnect(_) => {}
            }
        }
        ticks
    }
}

/// A room and its bots, stepped in virtual time.
pub struct VirtualMatch {
    /// The room.
    pub room: Room,
    /// The bots, in joining order.
    pub bots: Vec<Bot>,
    next_key: u64,
    /// Bots joining from now on decide with `tickwire-bots`' brain of this behaviour
    /// (else the combat bot below).
    pub behavior: Option<Behavior>,
}

impl VirtualMatch {
    /// A room on `map` with `settings`.
    #[must_use]
    pub fn new(settings: RoomSettings, map: Map) -> VirtualMatch {
        VirtualMatch {
            room: Room::new(settings, Arc::new(map)).0,
            bots: Vec::new(),
            next_key: 1,
            behavior: None,
        }
    }

    /// A bot joins (resumable); returns its index.
    pub fn join(&mut self, name: &str) -> usize {
        let (conn, link) = GameSocket::memory();
        let (tx, ended) = oneshot::channel();
        let key = self.next_key;
        self.next_key += 1;
        let arrival = Arrival {
            conn,
            ended: tx,
            ticket: ResumeTicket {
                key,
                token: format!("t{key}"),
            },
        };
        let joined = self
            .room
            .join_resumable_now(name, arrival)
            .expect("room has space");
        let net_id = self.room.world().entities[joined.player].net_id;
        let _welcome = link.take_messages();
        self.bots.push(Bot {
            name: name.into(),
            link,
            ended,
            key,
            net_id,
            seq: 0,
            rng: 0x9E37_79B9_7F4A_7C15 ^ (key * 0x1000_0001),
            brain: self
                .behavior
                .map(|b| Brain::new(b, key, self.room.world().config.tick_hz)),
        });
        self.bots.len() - 1
    }

    /// A spectator watches (following `follow`); its connection's client end.
    pub fn watch(&mut self, follow: Option<NetId>) -> Watcher {
        let (conn, link) = GameSocket::memory();
        let (tx, ended) = oneshot::channel();
        self.room.watch_now(follow, conn, tx);
        Watcher {
            link,
            ended,
            replica: None,
        }
    }

    /// Bot `i`'s connection drops (the room holds its player for a resume).
    pub fn drop_link(&mut self, i: usize) {
        self.bots[i].link.cut();
    }

    /// Bot `i` comes back on a new connection (a resume).
    pub fn resume(&mut self, i: usize) {
        let (conn, link) = GameSocket::memory();
        let (tx, ended) = oneshot::channel();
        let key = self.next_key;
        self.next_key += 1;
        let old = self.bots[i].key;
        let arrival = Arrival {
            conn,
            ended: tx,
            ticket: ResumeTicket {
                key,
                token: format!("t{key}"),
            },
        };
        let next = self.bots[i].seq.wrapping_add(1).max(1);
        self.room.resume_now(old, None, next, arrival);
        let _welcome = link.take_messages();
        let bot = &mut self.bots[i];
        bot.link = link;
        bot.ended = ended;
        bot.key = key;
    }

    /// Bot `i` sends a message the server refuses (it is closed and leaves the world).
    pub fn misbehave(&mut self, i: usize) {
        self.bots[i].link.push(vec![0xFFu8; 9]);
    }

    /// Every connected bot decides and sends its input for the coming tick, then the room
    /// ticks; what the room sent is read and dropped.
    pub fn tick(&mut self) -> tickwire_server::room::TickReport {
        self.feed();
        let report = self.room.tick();
        for bot in &self.bots {
            drop(bot.link.take_messages());
        }
        report
    }

    /// Every connected bot decides and sends its input for the coming tick; what the room
    /// sent is dropped (a caller that times `Room::tick` alone calls this, then the tick).
    pub fn feed(&mut self) {
        for bot in &self.bots {
            drop(bot.link.take_messages());
        }
        let world = self.room.world();
        let tick = world.tick;
        let ack = (tick.0 > 0).then_some(tick);
        let players: Vec<(NetId, glam::Vec2, bool)> = world
            .entities
            .values()
            .filter_map(|e| match &e.kind {
                EntityKind::Player(p) => Some((e.net_id, e.pos, p.alive())),
                _ => None,
            })
            .collect();
        let state = if self.behavior.is_some() {
            world.net_state()
        } else {
            Vec::new()
        };
        for bot in &mut self.bots {
            let Some(&(_, me, _)) = players.iter().find(|(n, _, _)| *n == bot.net_id) else {
                continue;
            };
            if let Some(brain) = &mut bot.brain {
                let sight = Sight {
                    me: bot.net_id,
                    state: &state,
                    map: &world.map,
                };
                bot.seq = bot.seq.wrapping_add(1).max(1);
                let msg = brain::decide(brain, Some(&sight)).to_msg(bot.seq, tick, ack);
                bot.link.push(codec::encode_client(&ClientMsg::Input(msg)));
                continue;
            }
            bot.seq = bot.seq.wrapping_add(1).max(1);
            if tick.0.is_multiple_of(8) {
                bot.rng = bot
                    .rng
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
            }
            let controls = decide(bot.rng, bot.net_id, me, &players);
            let msg = controls.to_msg(bot.seq, tick, ack);
            bot.link.push(codec::encode_client(&ClientMsg::Input(msg)));
        }
    }
}

/// A combat bot: aims at the nearest living player, closes in, strafes when close, fires
/// in range; a little noise of its own (`rng`, changed every few ticks).
fn decide(
    rng: u64,
    me_id: NetId,
    me: glam::Vec2,
    players: &[(NetId, glam::Vec2, bool)],
) -> Controls {
    let noise = ((rng >> 40) as f32 / (1u64 << 24) as f32) - 0.5;
    let target = players
        .iter()
        .filter(|(n, _, alive)| *n != me_id && *alive)
        .min_by(|a, b| {
            me.distance_squared(a.1)
                .total_cmp(&me.distance_squared(b.1))
        });
    let mut c = Controls::default();
    if let Some(&(_, at, _)) = target {
        let to = at - me;
        let d = to.length();
        c.aim = to.y.atan2(to.x) + noise * 0.2;
        let dir = if d > 250.0 {
            to / d.max(1.0)
        } else {
            glam::Vec2::new(-to.y, to.x) / d.max(1.0)
        };
        c.move_x = (dir.x + noise).clamp(-1.0, 1.0);
        c.move_y = (dir.y - noise).clamp(-1.0, 1.0);
        if d < 700.0 {
            c.buttons = tickwire_shared::input::Buttons::FIRE;
        }
    }
    c
}

/// Waits (a bounded poll) until the replay at `path` holds its `End` record; its verdict.
///
/// # Panics
/// When it never does within `limit`.
#[must_use]
pub fn finished_verdict(path: &Path, limit: Duration) -> verify::Verdict {
    let start = Instant::now();
    loop {
        if let Ok(bytes) = std::fs::read(path) {
            if let Ok(v) = verify::verify(bytes.as_slice()) {
                if v.end_reason != "truncated" {
                    return v;
                }
            }
        }
        assert!(
            start.elapsed() < limit,
            "{} not finished within {limit:?}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A fresh directory under the target directory for a test's replays.
#[must_use]
pub fn replay_dir(test: &str) -> PathBuf {
    let dir = workspace_root()
        .join("target")
        .join("test-replays")
        .join(format!("{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the replay directory");
    dir
}

/// The combat-20 match of the tests: 20 bots fight for `ticks` ticks with churn (one
/// connection lost and resumed, one bot thrown out for a bad message, a late joiner);
/// recorded with a keyframe every second. Returns the replay's path once it is written.
#[must_use]
pub fn record_combat_match(dir: &Path, bots: usize, ticks: u32) -> PathBuf {
    let sink = RecordSink::new(RecordOptions {
        keyframe_secs: 1,
        ..RecordOptions::new(dir)
    })
    .expect("record sink");
    let mut m = VirtualMatch::new(recorded_settings(Some(sink), bots + 4), arena_map());
    for i in 0..bots {
        m.join(&format!("bot{i}"));
    }
    let path = m.room.recording().expect("the room records").to_path_buf();
    for t in 0..ticks {
        match t {
            300 => m.drop_link(3),
            450 => m.resume(3),
            900 => m.misbehave(5),
            1200 => {
                m.join("latecomer");
            }
            _ => {}
        }
        let report = m.tick();
        assert!(!report.recording_cut, "recording cut at tick {t}");
    }
    assert_eq!(m.room.world().tick, Tick(ticks));
    drop(m);
    path
}
