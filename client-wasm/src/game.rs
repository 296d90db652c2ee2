//! The client core: everything the browser client does that is not the browser. Native
//! code, tested natively: the session (join, welcome, snapshots, disconnects, a resume
//! after a lost connection that keeps the replica and re-sends the inputs not seen
//! applied), input timing
//! and sequence numbers, prediction of the own player, interpolation of the rest, own shots
//! shown at once, network statistics, the HUD ([`crate::hud`]) and the model the renderer
//! draws.
//!
//! The web shell feeds it socket events and a clock, asks it every frame for the messages
//! to send, and draws [`GameClient::render`].

use glam::Vec2;
use std::collections::VecDeque;
use tickwire_shared::entity::net_aim_to_radians;

use tickwire_shared::input::{aim_to_radians, Buttons, InputMsg};
use tickwire_shared::protocol::{
    codec, ClientMsg, Disconnect, DisconnectReason, Join, Ping, Resume, ServerMsg, Welcome,
    PROTOCOL_VERSION,
};
use tickwire_shared::replica::feel::Feel;
use tickwire_shared::replica::interpolation::{
    Interpolator, RenderClock, ServerClock, MAX_EXTRAPOLATION_MS,
};
use tickwire_shared::replica::prediction::{Contact, Predictor, SNAP_DISTANCE};
use tickwire_shared::sim::rewind::ViewTime;
use tickwire_shared::{Controls, Map, NetEntity, NetId, PlayerInput, Replica, SimConfig, Tick};

use crate::hud::{Hud, HudModel, Sound};

/// The connection as the player sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Socket opening / join sent, no welcome yet.
    Connecting,
    /// Playing.
    Connected,
    /// The connection dropped; the shell reconnects with backoff. The state is kept (and
    /// drawn) for a resume; prediction is paused (no input is sent or predicted).
    Lost(String),
    /// A new connection is open and has asked to resume the player: the state is kept,
    /// prediction still paused, until the welcome.
    Resuming,
    /// The server refused us for good (e.g. protocol version): no reconnect.
    Refused(String),
}

impl Phase {
    /// Short name for scripts: `connecting`, `connected`, `lost`, `resuming`, `refused`.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Phase::Connecting => "connecting",
            Phase::Connected => "connected",
            Phase::Lost(_) => "lost",
            Phase::Resuming => "resuming",
            Phase::Refused(_) => "refused",
        }
    }
}

/// A shot fired locally, drawn until the server's projectile replaces it.
#[derive(Clone, Debug)]
struct LocalShot {
    origin: Vec2,
    vel: Vec2,
    /// Input tick it was fired at (the server spawns its projectile at that tick + 1).
    tick: Tick,
    fired_ms: f64,
}

/// Rolling one-second counters.
#[derive(Clone, Debug, Default)]
struct Rate {
    window_start: f64,
    count: f64,
    last_rate: f64,
}

impl Rate {
    fn add(&mut self, now_ms: f64, n: f64) {
        self.roll(now_ms);
        self.count += n;
    }
    fn roll(&mut self, now_ms: f64) {
        if now_ms - self.window_start >= 1000.0 {
            let secs = ((now_ms - self.window_start) / 1000.0).max(1.0);
            self.last_rate = self.count / secs;
            self.count = 0.0;
            self.window_start = now_ms;
        }
    }
    fn per_s(&self) -> f64 {
        self.last_rate
    }
}

/// Network and frame statistics for the debug overlay.
#[derive(Clone, Debug, Default)]
pub struct NetStats {
    /// Round trip of the last ping, ms.
    pub ping_ms: f64,
    /// Bytes received per second.
    down: Rate,
    /// Bytes sent per second.
    up: Rate,
    /// Prediction corrections per second.
    corrections: Rate,
    /// Size of the last snapshot, bytes.
    pub last_snapshot_bytes: usize,
    /// Frame time, ms (smoothed).
    pub frame_ms: f64,
}

/// One player as drawn.
#[derive(Clone, Debug)]
pub struct DrawPlayer {
    /// Network id.
    pub id: NetId,
    /// Position.
    pub pos: Vec2,
    /// Aim, radians.
    pub aim: f32,
    /// Name.
    pub name: String,
    /// Hit points.
    pub hp: u8,
    /// Dead (waiting to respawn).
    pub dead: bool,
    /// This is the local player.
    pub me: bool,
    /// Its connection is lost (held by the room for a resume): drawn faded, marked.
    pub disconnected: bool,
}

/// Everything the renderer draws for one frame.
#[derive(Clone, Debug, Default)]
pub struct RenderModel {
    /// Camera centre (the own player, or the map centre).
    pub camera: Vec2,
    /// Players.
    pub players: Vec<DrawPlayer>,
    /// Projectile positions.
    pub projectiles: Vec<Vec2>,
    /// Health pickups: position and whether it can be taken now.
    pub pickups: Vec<(Vec2, bool)>,
    /// The HUD: own health, score and rank, kill feed, death screen, flashes, connection.
    pub hud: HudModel,
    /// Scoreboard rows (name, kills, deaths, me), best first.
    pub scores: Vec<(String, u16, u16, bool)>,
    /// Debug overlay lines.
    pub debug: Vec<String>,
}

/// The client core of one player's session: one connection, or several when a lost
/// connection resumes the same player ([`GameClient::resume`]); a reconnect that cannot
/// resume starts a new one.
pub struct GameClient {
    name: String,
    /// The seat token to present in the join (used once).
    seat: Option<String>,
    /// The resume token the next [`GameClient::on_open`] presents instead of a join.
    resume: Option<String>,
    /// Resumes that kept this client's state.
    resumes: u32,
    /// Inputs sent and not yet seen applied, oldest first: sent again after a resume.
    unapplied: VecDeque<InputMsg>,
    /// Why the server said it closed the connection, if it did.
    disconnect: Option<DisconnectReason>,
    phase: Phase,
    welcome: Option<Welcome>,
    replica: Replica,
    predictor: Predictor,
    interp: Interpolator,
    clock: ServerClock,
    /// Which past moment others are drawn at (advanced once a frame by `update`).
    render_clock: RenderClock,
    /// The feel figures (F3 overlay, probe bots).
    feel: Feel,
    /// Whether the own player was alive at the last snapshot (`None`: not seen yet).
    own_alive: Option<bool>,
    /// Tick of the last snapshot applied.
    last_snapshot_tick: Option<Tick>,
    next_seq: u32,
    last_input_tick: Option<Tick>,
    next_input_ms: Option<f64>,
    /// Predicted fire cooldown, in input ticks.
    next_fire: Tick,
    shots: Vec<LocalShot>,
    hud: Hud,
    last_snapshot_ms: Option<f64>,
    stats: NetStats,
    last_ping_sent: Option<(u32, f64)>,
    next_ping_ms: f64,
    last_frame_ms: Option<f64>,
    outgoing: Vec<Vec<u8>>,
    /// A spectator's session (no player, no input): what it watches and how.
    watch: Option<Watching>,
    /// Pongs received (scripts and tests: the server answered since).
    pongs: u32,
}

/// A spectator's camera and, for a replay, its playback.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Watching {
    /// The player followed (`None`: the camera stays where it is).
    pub follow: Option<NetId>,
    /// A recorded match (pause, speed and seek apply).
    pub replay: bool,
    /// Paused (a replay).
    pub paused: bool,
    /// Speed in quarters (4: x1).
    pub speed_quarters: u8,
    /// A free camera's centre (world units), when it follows no one.
    pub center: Option<Vec2>,
}

impl GameClient {
    /// A spectator's session: joins with `Watch`, sends no input; `replay`: a recorded
    /// match (`/ws?replay=ID`) that [`GameClient::playback`] drives.
    #[must_use]
    pub fn spectator(replay: bool) -> GameClient {
        let mut c = GameClient::new("");
        c.watch = Some(Watching {
            follow: None,
            replay,
            paused: false,
            speed_quarters: 4,
            center: None,
        });
        c
    }

    /// A spectator's free camera moves by `(dx, dy)` world units (from where it looks now)
    /// and follows no one; the server is told (its view, with interest management).
    pub fn pan(&mut self, dx: f32, dy: f32, now_ms: f64) {
        let Some(mut w) = self.watch else { return };
        let from = self.render(now_ms).camera;
        let to = Vec2::new(from.x + dx, from.y + dy);
        w.follow = None;
        w.center = Some(to);
        self.watch = Some(w);
        self.push(
            &ClientMsg::Camera(tickwire_shared::protocol::Camera {
                follow: None,
                x: to.x,
                y: to.y,
            }),
            now_ms,
        );
    }

    /// What a spectator watches (`None` for a player).
    #[must_use]
    pub fn watching(&self) -> Option<Watching> {
        self.watch
    }

    /// A spectator follows the player drawn nearest to world point `at` (within 60 units;
    /// a click elsewhere changes nothing).
    pub fn follow_at(&mut self, at: Vec2, now_ms: f64) {
        if self.watch.is_none() {
            return;
        }
        let nearest = self
            .render(now_ms)
            .players
            .iter()
            .map(|p| (p.pos.distance(at), p.id))
            .filter(|(d, _)| *d <= 60.0)
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, id)| id);
        if let Some(id) = nearest {
            self.follow(Some(id), now_ms);
        }
    }

    /// A spectator follows `id` (`None`: no one) and tells the server.
    pub fn follow(&mut self, id: Option<NetId>, now_ms: f64) {
        let Some(mut w) = self.watch else { return };
        w.follow = id;
        w.center = None;
        self.watch = Some(w);
        self.push(
            &ClientMsg::Camera(tickwire_shared::protocol::Camera {
                follow: id,
                x: 0.0,
                y: 0.0,
            }),
            now_ms,
        );
    }

    /// A spectator follows the next player (by id, wrapping; the first when following
    /// none) and tells the server (its view, with interest management).
    pub fn follow_next(&mut self, now_ms: f64) {
        let Some(w) = self.watch else { return };
        let ids: Vec<NetId> = self
            .replica
            .entities()
            .iter()
            .filter(|(_, e)| e.as_player().is_some())
            .map(|(id, _)| *id)
            .collect();
        let next = match w.follow {
            Some(f) => ids.iter().find(|id| **id > f).or(ids.first()).copied(),
            None => ids.first().copied(),
        };
        self.follow(next, now_ms);
    }

    /// A replay's playback: pause, speed (quarters: 2, 4, 8, 16) and a seek by
    /// `seek_ticks` from the tick shown (clamped at 0).
    pub fn playback(&mut self, paused: bool, speed_quarters: u8, seek_ticks: i64, now_ms: f64) {
        let Some(mut w) = self.watch.filter(|w| w.replay) else {
            return;
        };
        w.paused = paused;
        w.speed_quarters = speed_quarters;
        self.watch = Some(w);
        let seek = (seek_ticks != 0).then(|| {
            let now = i64::from(self.replica.tick().map_or(0, |t| t.0));
            Tick((now + seek_ticks).max(0) as u32)
        });
        self.push(
            &ClientMsg::Playback(tickwire_shared::protocol::Playback {
                paused,
                speed_quarters,
                seek,
            }),
            now_ms,
        );
    }
    /// A session for a player called `name` (not connected yet).
    #[must_use]
    pub fn new(name: &str) -> GameClient {
        GameClient {
            name: name.to_owned(),
            seat: None,
            resume: None,
            resumes: 0,
            unapplied: VecDeque::new(),
            disconnect: None,
            phase: Phase::Connecting,
            welcome: None,
            replica: Replica::new(
                SimConfig::default(),
                std::sync::Arc::new(Map::open("none", 1.0)),
            ),
            predictor: Predictor::new(),
            interp: Interpolator::new(),
            clock: ServerClock::new(1000.0 / 30.0),
            render_clock: RenderClock::new(),
            feel: Feel::default(),
            own_alive: None,
            last_snapshot_tick: None,
            next_seq: 1,
            last_input_tick: None,
            next_input_ms: None,
            next_fire: Tick(0),
            shots: Vec::new(),
            hud: Hud::default(),
            last_snapshot_ms: None,
            stats: NetStats::default(),
            last_ping_sent: None,
            next_ping_ms: 0.0,
            last_frame_ms: None,
            outgoing: Vec::new(),
            watch: None,
            pongs: 0,
        }
    }

    /// The same session joining with the seat token of a reservation (`POST /matchmake`,
    /// `/rooms`, `/rooms/{code}/seat`); without one, the join is quick play.
    #[must_use]
    pub fn with_seat(mut self, seat: Option<String>) -> GameClient {
        self.seat = seat;
        self
    }

    /// The same session numbering its inputs from `seq` (wrapping past `u32::MAX` to 1);
    /// tests use it to cross the wrap.
    #[must_use]
    pub fn with_first_seq(mut self, seq: u32) -> GameClient {
        self.next_seq = seq.max(1);
        self
    }

    /// Why the server closed the connection, when it said so before closing.
    #[must_use]
    pub fn disconnect_reason(&self) -> Option<DisconnectReason> {
        self.disconnect
    }

    /// The connection state.
    #[must_use]
    pub fn phase(&self) -> &Phase {
        &self.phase
    }

    /// The welcome, once joined.
    #[must_use]
    pub fn welcome(&self) -> Option<&Welcome> {
        self.welcome.as_ref()
    }

    /// The replica (newest server state).
    #[must_use]
    pub fn replica(&self) -> &Replica {
        &self.replica
    }

    /// The own player's id, once joined.
    #[must_use]
    pub fn me(&self) -> Option<NetId> {
        self.welcome.as_ref().map(|w| w.player)
    }

    /// The own predicted position (unsmoothed).
    #[must_use]
    pub fn predicted(&self) -> Option<Vec2> {
        self.predictor.predicted()
    }

    /// Prediction corrections so far.
    #[must_use]
    pub fn corrections(&self) -> u64 {
        self.predictor.corrections()
    }

    /// The shell opens a new socket to take the player back with resume `token` (the
    /// newest welcome's; for a reloaded page, the one it kept): the next
    /// [`GameClient::on_open`] sends `Resume` instead of a join. The state (replica,
    /// prediction, HUD) is kept until the welcome says whether it resumed.
    pub fn resume(&mut self, token: String) {
        if matches!(self.phase, Phase::Refused(_)) {
            return;
        }
        self.resume = Some(token);
        self.disconnect = None;
        self.phase = Phase::Resuming;
    }

    /// Resumes that kept this client's state (the same player, the same replica).
    #[must_use]
    pub fn resumes(&self) -> u32 {
        self.resumes
    }

    /// Inputs sent and not yet seen applied by the server.
    #[must_use]
    pub fn unapplied_inputs(&self) -> usize {
        self.unapplied.len()
    }

    /// The socket opened: returns the first message to send, a join, or a resume after
    /// [`GameClient::resume`] (with the newest snapshot tick the replica holds, none for a
    /// reloaded page, and the sequence number the next input will carry).
    #[must_use]
    pub fn on_open(&mut self) -> Vec<u8> {
        let first = match self.resume.take() {
            _ if self.watch.is_some() => ClientMsg::Watch(tickwire_shared::protocol::Watch {
                version: PROTOCOL_VERSION,
                follow: self.watch.and_then(|w| w.follow),
            }),
            Some(token) => ClientMsg::Resume(Resume {
                version: PROTOCOL_VERSION,
                token,
                last_tick: self.replica.tick(),
                next_input_seq: self.next_seq,
            }),
            None => ClientMsg::Join(Join {
                version: PROTOCOL_VERSION,
                name: self.name.clone(),
                // A seat token is single-use: a second join would go without.
                seat: self.seat.take(),
            }),
        };
        let bytes = codec::encode_client(&first);
        self.stats.up.add(0.0, bytes.len() as f64);
        bytes
    }

    /// The socket closed with `code` and `reason`.
    pub fn on_close(&mut self, code: u16, reason: &str) {
        self.resume = None;
        if matches!(self.phase, Phase::Refused(_)) {
            return;
        }
        self.phase = Phase::Lost(if reason.is_empty() {
            format!("connection closed ({code})")
        } else {
            format!("{reason} ({code})")
        });
    }

    /// A binary message arrived at local time `now_ms`.
    ///
    /// # Errors
    /// A message that does not decode or does not apply: the shell closes the socket
    /// and reconnects (the session's state can no longer be trusted).
    pub fn on_message(&mut self, bytes: &[u8], now_ms: f64) -> Result<(), String> {
        self.stats.down.add(now_ms, bytes.len() as f64);
        match codec::decode_server(bytes).map_err(|e| e.to_string())? {
            ServerMsg::Welcome(w) => {
                let kept = w.resumed
                    && self
                        .welcome
                        .as_ref()
                        .is_some_and(|old| old.player == w.player && old.room == w.room);
                if kept {
                    // The same player on a new connection: the replica, the prediction,
                    // the HUD and the clock stay; the next snapshot is a delta against the
                    // newest tick held (or a full state). What was sent and not seen
                    // applied goes again: the server applies each input at most once.
                    self.resumes += 1;
                    let again: Vec<ClientMsg> = self
                        .unapplied
                        .iter()
                        .cloned()
                        .map(ClientMsg::Input)
                        .collect();
                    for msg in &again {
                        self.push(msg, now_ms);
                    }
                } else {
                    if self.watch.is_some() {
                        // A spectator's new welcome (a replay's seek): a new timeline.
                        self.interp = Interpolator::new();
                    }
                    self.replica = Replica::from_welcome(&w);
                    self.clock = ServerClock::new(1000.0 / f64::from(w.config.tick_hz.max(1)));
                    self.render_clock.reset();
                    self.interp = Interpolator::new();
                    self.own_alive = None;
                    self.last_snapshot_tick = None;
                    self.next_fire = w.tick;
                    self.hud = Hud::new(w.player, w.config.max_hp);
                    self.unapplied.clear();
                }
                self.welcome = Some(w);
                self.phase = Phase::Connected;
            }
            ServerMsg::Snapshot(snap) => {
                self.stats.last_snapshot_bytes = bytes.len();
                let events = self.replica.apply(&snap).map_err(|e| e.to_string())?;
                self.clock.on_snapshot(snap.header.tick, now_ms);
                if let Some((tick, state)) = self.replica.state() {
                    self.interp.push(tick, state);
                }
                let applied = snap.header.last_input_seq;
                let mut popped = 0u32;
                while self
                    .unapplied
                    .front()
                    .is_some_and(|m| tickwire_shared::seq::applied(m.seq, applied))
                {
                    self.unapplied.pop_front();
                    popped += 1;
                }
                self.count_input_fate(snap.header.tick, popped);
                self.reconcile(applied, now_ms);
                self.last_snapshot_ms = Some(now_ms);
                let tick = snap.header.tick;
                let dt = self.welcome.as_ref().map_or(1.0 / 30.0, |w| w.config.dt());
                self.hud
                    .on_state(self.replica.entities(), |e| e.position_at(tick, dt), now_ms);
                for e in events {
                    let replica = &self.replica;
                    let name = |id: NetId| match replica.get(id) {
                        Some(NetEntity::Player(p)) => p.name.to_string(),
                        _ => format!("#{}", id.0),
                    };
                    self.hud.on_event(&e.event, name, now_ms);
                }
            }
            ServerMsg::Pong(p) => {
                self.pongs += 1;
                if let Some((id, sent)) = self.last_ping_sent {
                    if id == p.id {
                        self.stats.ping_ms = now_ms - sent;
                    }
                }
            }
            ServerMsg::Disconnect(d) => self.on_disconnect(&d),
        }
        Ok(())
    }

    fn on_disconnect(&mut self, d: &Disconnect) {
        self.disconnect = Some(d.reason);
        self.phase = match d.reason {
            DisconnectReason::VersionMismatch { server, client } => Phase::Refused(format!(
                "This page speaks protocol version {client}; the server speaks {server}. \
                 Reload the page to get the current client."
            )),
            _ => Phase::Lost(d.detail.clone()),
        };
    }

    /// What the server did with our inputs over the ticks since the last snapshot, as its
    /// acknowledged sequence number shows: inputs applied beyond one a tick were folded;
    /// inputs meant for a tick already run and still not applied mean the server repeated
    /// the previous input at that tick.
    fn count_input_fate(&mut self, tick: Tick, popped: u32) {
        if let Some(prev) = self.last_snapshot_tick {
            let ticks = tick.since(prev);
            self.feel.folded_inputs += u64::from(popped.saturating_sub(ticks));
            let late = self
                .unapplied
                .iter()
                .filter(|m| tick.is_after(m.tick) && !prev.is_after(m.tick))
                .count();
            self.feel.repeated_inputs += late as u64;
        }
        self.last_snapshot_tick = Some(tick);
    }

    fn reconcile(&mut self, last_input_seq: u32, now_ms: f64) {
        let (Some(w), Some(me)) = (self.welcome.as_ref(), self.me()) else {
            return;
        };
        if let Some(NetEntity::Player(p)) = self.replica.get(me) {
            let alive = p.respawn_at.is_none();
            let interp = &self.interp;
            let seen = |v: ViewTime| interp.players_at(v, me);
            let contact = Contact { me, seen: &seen };
            let err = self.predictor.on_snapshot(
                p.motion(),
                last_input_seq,
                alive,
                &w.config,
                &w.map,
                Some(&contact),
            );
            if err > 0.0 && err <= SNAP_DISTANCE {
                self.stats.corrections.add(now_ms, 1.0);
            }
            match (self.own_alive, alive) {
                (Some(true), true) => {
                    self.feel.living_ticks += 1;
                    if err > SNAP_DISTANCE {
                        self.feel.teleports += 1;
                    } else if err > 0.0 {
                        self.feel.mispredicted_ticks += 1;
                        self.feel.correction.add(err);
                    }
                }
                // Back to life at a spawn point: a teleport, not a correction.
                (Some(false), true) => self.feel.teleports += 1,
                _ => {}
            }
            self.own_alive = Some(alive);
        }
    }

    /// The feel figures so far (what the F3 overlay shows; the probe bots report them).
    #[must_use]
    pub fn feel(&self) -> &Feel {
        &self.feel
    }

    /// The render time of the last frame (fractional server ticks): where others are
    /// drawn. Never decreases within a session.
    #[must_use]
    pub fn render_time(&self) -> Option<f64> {
        self.render_clock.at()
    }

    /// Starts the feel figures over (a measured window begins).
    pub fn reset_feel(&mut self) {
        self.feel = Feel::default();
    }

    /// Advances the render clock for the frame at `now_ms` and counts how the frame is
    /// covered (interpolated, extrapolated, stalled) and how far behind it is.
    fn advance_render_clock(&mut self, now_ms: f64) {
        let before = self.render_clock.at();
        let Some(at) = self.render_clock.advance(&self.clock, now_ms) else {
            return;
        };
        let dt_ms = self.clock.dt_ms();
        self.feel.frames += 1;
        if before.is_some_and(|b| at < b) {
            self.feel.backward_steps += 1;
        }
        if let Some((_, newest)) = self.interp.span() {
            let past_ms = (at - f64::from(newest.0)) * dt_ms;
            if past_ms > MAX_EXTRAPOLATION_MS {
                self.feel.stalls += 1;
            } else if past_ms > 0.0 {
                self.feel.underruns += 1;
            }
        }
        if let Some(server_now) = self.clock.server_tick(now_ms) {
            self.feel
                .snapshot_age_ms
                .add(((server_now - at) * dt_ms) as f32);
        }
    }

    /// The tick the next input should be meant for: the server's tick when it arrives
    /// (clock estimate + round trip) plus one tick of margin, and always after the previous
    /// input's tick so that the server applies one input per tick.
    fn input_tick(&self, now_ms: f64) -> Tick {
        let dt = self.clock.dt_ms();
        let est = self
            .clock
            .server_tick(now_ms)
            .map(|t| t + self.stats.ping_ms / dt + 1.0);
        let wanted = est.map_or(Tick(0), |t| Tick(t.max(0.0).ceil() as u32));
        match self.last_input_tick {
            // Keep the sequence consecutive unless it drifted more than a few ticks off.
            Some(last) if !wanted.is_after(last.plus(4)) && !last.is_after(wanted.plus(4)) => {
                last.next()
            }
            _ => wanted,
        }
    }

    /// Advances the client to `now_ms` with the current `controls`: sends inputs on the tick
    /// schedule, pings once a second. Returns the messages to send, in order.
    pub fn update(&mut self, now_ms: f64, controls: &Controls) -> Vec<Vec<u8>> {
        if let Some(last) = self.last_frame_ms {
            let ft = now_ms - last;
            self.stats.frame_ms += (ft - self.stats.frame_ms) * 0.1;
            // What smoothing moves the drawn player by this frame: a visible jump.
            let offset = |p: &Predictor| match (p.rendered(), p.predicted()) {
                (Some(r), Some(q)) => r - q,
                _ => Vec2::ZERO,
            };
            let before = offset(&self.predictor);
            self.predictor.smooth((ft / 1000.0) as f32);
            let jump = (before - offset(&self.predictor)).length();
            if jump > 1e-3 {
                self.feel.visible_jump.add(jump);
            }
        }
        self.last_frame_ms = Some(now_ms);
        if self.welcome.is_some() && self.replica.tick().is_some() {
            self.advance_render_clock(now_ms);
        }
        if self.phase != Phase::Connected || self.replica.tick().is_none() {
            return std::mem::take(&mut self.outgoing);
        }
        let dt = self.clock.dt_ms();
        let mut due = *self.next_input_ms.get_or_insert(now_ms);
        let mut sent = 0;
        // One input per tick of wall time; after a stall (background tab) do not burst.
        // A spectator sends none.
        while due <= now_ms && sent < 3 && self.watch.is_none() {
            self.send_input(controls, now_ms);
            due += dt;
            sent += 1;
        }
        if due <= now_ms {
            due = now_ms + dt;
        }
        self.next_input_ms = Some(due);
        if now_ms >= self.next_ping_ms {
            let id = (now_ms as u64 & 0xFFFF_FFFF) as u32;
            self.last_ping_sent = Some((id, now_ms));
            self.push(&ClientMsg::Ping(Ping { id }), now_ms);
            self.next_ping_ms = now_ms + 1000.0;
        }
        self.shots.retain(|s| now_ms - s.fired_ms < 1500.0);
        self.hud.prune(now_ms);
        std::mem::take(&mut self.outgoing)
    }

    fn push(&mut self, msg: &ClientMsg, now_ms: f64) {
        let bytes = codec::encode_client(msg);
        self.stats.up.add(now_ms, bytes.len() as f64);
        self.outgoing.push(bytes);
    }

    fn send_input(&mut self, c: &Controls, now_ms: f64) {
        let Some(w) = self.welcome.clone() else {
            return;
        };
        let tick = self.input_tick(now_ms);
        let mut msg = c.to_msg(self.next_seq, tick, self.replica.tick());
        // Where others are drawn now: the server judges this input's shots and contact
        // there (no further back than it rewinds, so that it judges exactly this view).
        // Past the newest state held (an underrun, drawn extrapolated), the view is that
        // state: the server then places the others exactly where this client can.
        let oldest = f64::from(tick.next().0) - f64::from(w.config.ticks(w.config.max_rewind_s));
        let newest = self.interp.span().map_or(0.0, |(_, n)| f64::from(n.0));
        msg.view = self
            .render_clock
            .at()
            .filter(|_| w.config.max_rewind_s > 0.0)
            .map(|at| ViewTime::from_ticks(at.min(newest).max(oldest)));
        let Ok(input) = PlayerInput::from_wire(&msg) else {
            return; // Non-finite controls: nothing sensible to send.
        };
        self.next_seq = tickwire_shared::seq::next(self.next_seq);
        self.last_input_tick = Some(tick);
        let me = w.player;
        let interp = &self.interp;
        let seen = |v: ViewTime| interp.players_at(v, me);
        let contact = Contact { me, seen: &seen };
        self.predictor
            .on_input(msg.seq, tick, input, &w.config, &w.map, Some(&contact));
        self.predict_shot(&input, tick, &w.config, now_ms);
        self.unapplied.push_back(msg.clone());
        while self.unapplied.len() > tickwire_shared::replica::prediction::MAX_PENDING {
            self.unapplied.pop_front();
        }
        self.push(&ClientMsg::Input(msg), now_ms);
    }

    fn predict_shot(&mut self, input: &PlayerInput, tick: Tick, cfg: &SimConfig, now_ms: f64) {
        let alive = self.me().and_then(|me| match self.replica.get(me) {
            Some(NetEntity::Player(p)) => Some(p.respawn_at.is_none()),
            _ => None,
        });
        if alive != Some(true)
            || !input.buttons.contains(Buttons::FIRE)
            || self.next_fire.is_after(tick)
        {
            return;
        }
        let Some(pos) = self.predictor.predicted() else {
            return;
        };
        self.next_fire = tick.plus(cfg.ticks(cfg.fire_cooldown_s));
        self.hud.on_shot();
        let a = aim_to_radians(input.aim);
        let dir = Vec2::new(a.cos(), a.sin());
        self.shots.push(LocalShot {
            origin: pos + dir * (cfg.player_radius + cfg.projectile_radius + 2.0),
            vel: dir * cfg.projectile_speed,
            tick,
            fired_ms: now_ms,
        });
    }

    /// Interpolation delay in force, ms (adapted to the measured lateness of snapshots,
    /// with hysteresis; the render clock reaches it gradually).
    #[must_use]
    pub fn interp_delay_ms(&self) -> f64 {
        self.render_clock.delay_ms()
    }

    /// The frame to draw at local time `now_ms`.
    #[must_use]
    pub fn render(&self, now_ms: f64) -> RenderModel {
        let mut m = RenderModel::default();
        let Some(w) = &self.welcome else {
            return m;
        };
        let me = w.player;
        let dt = w.config.dt();
        let dt_ms = self.clock.dt_ms();
        let server_now = self.clock.server_tick(now_ms).unwrap_or(0.0);
        // The render clock's time, as `update` advanced it for this frame.
        let at = self
            .render_clock
            .at()
            .unwrap_or(server_now - self.interp_delay_ms() / dt_ms);
        // Own things are drawn at the present (predicted) time, others in the past.
        let present = server_now + self.stats.ping_ms / dt_ms;
        m.camera = self
            .watch
            .and_then(|w| w.center)
            .unwrap_or(Vec2::new(w.map.width / 2.0, w.map.height / 2.0));

        let drawn = self.interp.sample(at, dt);
        let mut own_server_shots: Vec<Tick> = Vec::new();
        for d in &drawn {
            match d.entity {
                NetEntity::Player(p) => {
                    let is_me = d.id == me;
                    let dead = p.respawn_at.is_some();
                    let pos = if is_me && !dead {
                        self.predictor.rendered().unwrap_or(d.pos)
                    } else if is_me {
                        self.replica
                            .get(me)
                            .map_or(d.pos, |e| e.position_at(Tick(0), dt))
                    } else {
                        d.pos
                    };
                    if is_me || self.watch.is_some_and(|w| w.follow == Some(d.id)) {
                        m.camera = pos;
                    }
                    m.players.push(DrawPlayer {
                        id: d.id,
                        pos,
                        aim: net_aim_to_radians(p.aim),
                        name: p.name.to_string(),
                        hp: p.hp,
                        dead,
                        me: is_me,
                        disconnected: p.disconnected,
                    });
                }
                NetEntity::Projectile(p) if p.owner == me => {
                    own_server_shots.push(p.spawn_tick);
                    let age = (present - f64::from(p.spawn_tick.0)).max(0.0) as f32;
                    m.projectiles
                        .push(p.origin.to_vec2() + p.vel.to_vec2() * (age * dt));
                }
                NetEntity::Projectile(_) => m.projectiles.push(d.pos),
                NetEntity::Pickup(p) => m.pickups.push((d.pos, p.active)),
            }
        }
        // Local shots the server has not confirmed yet.
        for s in &self.shots {
            let confirmed = own_server_shots
                .iter()
                .any(|t| t.since(s.tick) <= 3 || s.tick.since(*t) <= 3);
            if !confirmed {
                let age = ((now_ms - s.fired_ms) / 1000.0) as f32;
                let p = s.origin + s.vel * age;
                if !w.map.blocks(p, w.config.projectile_radius) {
                    m.projectiles.push(p);
                }
            }
        }
        m.hud = self.hud.model(
            now_ms,
            server_now,
            dt,
            self.stats.ping_ms,
            self.last_snapshot_ms.map_or(0.0, |t| now_ms - t),
        );
        m.scores = self
            .replica
            .entities()
            .iter()
            .filter_map(|(id, e)| match e {
                NetEntity::Player(p) => Some((p.name.to_string(), p.kills, p.deaths, *id == me)),
                _ => None,
            })
            .collect();
        m.scores.sort_by(|a, b| b.1.cmp(&a.1).then(a.2.cmp(&b.2)));
        m.debug = vec![
            format!("ping {:.0} ms", self.stats.ping_ms),
            format!(
                "down {:.1} kbps  up {:.1} kbps",
                self.stats.down.per_s() * 8.0 / 1000.0,
                self.stats.up.per_s() * 8.0 / 1000.0
            ),
            format!("last snapshot {} B", self.stats.last_snapshot_bytes),
            format!("server tick {}", self.replica.tick().map_or(0, |t| t.0)),
            format!("interp delay {:.0} ms", self.interp_delay_ms()),
            format!(
                "corrections {:.1}/s (last {:.2} u)",
                self.stats.corrections.per_s(),
                self.predictor.last_error()
            ),
            format!("frame {:.1} ms", self.stats.frame_ms),
        ];
        m.debug.extend(self.feel.lines());
        m
    }

    /// The sounds to play since the last call (shots, hits, kills, pickups…).
    pub fn take_sounds(&mut self) -> Vec<Sound> {
        self.hud.take_sounds()
    }

    /// Frame time, ms (smoothed).
    #[must_use]
    pub fn frame_ms(&self) -> f64 {
        self.stats.frame_ms
    }

    /// The client's state as JSON, for page scripts and tests (`window.tickwire.state()`),
    /// with the HUD as drawn at `now_ms`.
    #[must_use]
    pub fn state_json_at(&self, now_ms: f64) -> String {
        let json = self.state_json();
        let hud = hud_json(&self.render(now_ms).hud);
        format!(
            "{},\"frame_ms\":{:.2},\"hud\":{hud}}}",
            &json[..json.len() - 1],
            self.stats.frame_ms
        )
    }

    /// The client's state as JSON, for page scripts and tests (`window.tickwire.state()`).
    #[must_use]
    pub fn state_json(&self) -> String {
        let me = self.me();
        let pos = self.predictor.predicted();
        let players: Vec<String> = self
            .replica
            .entities()
            .iter()
            .filter_map(|(id, e)| match e {
                NetEntity::Player(p) => {
                    let q = p.pos.to_vec2();
                    Some(format!(
                        "{{\"id\":{},\"name\":{},\"x\":{},\"y\":{},\"hp\":{},\"kills\":{},\"disconnected\":{}}}",
                        id.0,
                        json_str(&p.name),
                        q.x,
                        q.y,
                        p.hp,
                        p.kills,
                        p.disconnected
                    ))
                }
                _ => None,
            })
            .collect();
        let message = match &self.phase {
            Phase::Lost(m) | Phase::Refused(m) => json_str(m),
            _ => "null".to_owned(),
        };
        let (room, mode) = self.welcome.as_ref().map_or_else(
            || ("null".to_owned(), "null".to_owned()),
            |w| (json_str(&w.room), json_str(&w.mode)),
        );
        format!(
            "{{\"connection\":\"{}\",\"message\":{},\"room\":{room},\"mode\":{mode},\"id\":{},\"x\":{},\"y\":{},\"tick\":{},\
             \"entities\":{},\"players\":[{}],\"corrections\":{},\"ping_ms\":{:.1},\"resumes\":{},\"resumed\":{},\"unapplied\":{},\
             \"pongs\":{},\"watching\":{}}}",
            self.phase.name(),
            message,
            me.map_or("null".to_owned(), |m| m.0.to_string()),
            pos.map_or("null".to_owned(), |p| p.x.to_string()),
            pos.map_or("null".to_owned(), |p| p.y.to_string()),
            self.replica
                .tick()
                .map_or("null".to_owned(), |t| t.0.to_string()),
            self.replica.entities().len(),
            players.join(","),
            self.predictor.corrections(),
            self.stats.ping_ms,
            self.resumes,
            self.welcome.as_ref().is_some_and(|w| w.resumed),
            self.unapplied.len(),
            self.pongs,
            self.watch.map_or("null".to_owned(), |w| format!(
                "{{\"follow\":{},\"replay\":{},\"paused\":{},\"speed_quarters\":{}}}",
                w.follow.map_or("null".to_owned(), |f| f.0.to_string()),
                w.replay,
                w.paused,
                w.speed_quarters
            )),
        )
    }

    /// The map, once joined.
    #[must_use]
    pub fn map(&self) -> Option<&Map> {
        self.welcome.as_ref().map(|w| &w.map)
    }
}

/// The HUD as JSON: what the player reads on screen.
fn hud_json(h: &HudModel) -> String {
    let feed: Vec<String> = h
        .feed
        .iter()
        .map(|l| {
            format!(
                "{{\"text\":{},\"age_ms\":{:.0},\"alpha\":{:.2}}}",
                json_str(&l.text),
                l.age_ms,
                l.alpha
            )
        })
        .collect();
    let death = h.death.as_ref().map_or("null".to_owned(), |d| {
        format!(
            "{{\"killer\":{},\"respawn_in\":{:.2}}}",
            d.killer.as_deref().map_or("null".to_owned(), json_str),
            d.respawn_in
        )
    });
    format!(
        "{{\"hp\":{},\"max_hp\":{},\"score\":{},\"deaths\":{},\"rank\":{},\"ranked\":{},         \"feed\":[{}],\"death\":{death},\"quality\":\"{}\",\"ping_ms\":{:.0}}}",
        h.hp,
        h.max_hp,
        h.score,
        h.deaths,
        h.rank,
        h.ranked,
        feed.join(","),
        h.quality.name(),
        h.ping_ms
    )
}

/// `s` as a JSON string literal.
pub(crate) fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickwire_shared::protocol::{Disconnect, DisconnectReason, ServerMsg};

    #[test]
    fn a_version_mismatch_is_a_clear_refusal_not_a_reconnect() {
        let mut c = GameClient::new("old");
        let msg = ServerMsg::Disconnect(Disconnect {
            reason: DisconnectReason::VersionMismatch {
                server: 7,
                client: PROTOCOL_VERSION,
            },
            detail: String::new(),
        });
        c.on_message(&codec::encode_server(&msg), 0.0).unwrap();
        c.on_close(1008, "protocol version");
        match c.phase() {
            Phase::Refused(m) => assert!(m.contains("server speaks 7"), "{m}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert!(c.state_json().contains("\"connection\":\"refused\""));
    }

    #[test]
    fn a_spectator_watches_sends_no_input_and_drives_its_camera_and_playback() {
        let mut c = GameClient::spectator(true);
        assert!(matches!(
            codec::decode_client(&c.on_open()).unwrap(),
            ClientMsg::Watch(w) if w.version == PROTOCOL_VERSION && w.follow.is_none()
        ));
        let welcome = |tick: u32| {
            codec::encode_server(&ServerMsg::Welcome(Welcome {
                protocol_version: PROTOCOL_VERSION,
                player: NetId(0),
                tick: Tick(tick),
                room: "replay:x".into(),
                mode: "arena".into(),
                resume: String::new(),
                resumed: false,
                config: SimConfig::default(),
                map: Map::open("m", 100.0),
            }))
        };
        c.on_message(&welcome(0), 0.0).unwrap();
        assert_eq!(c.phase(), &Phase::Connected);
        // No input, whatever the controls (pings only).
        let fire = Controls {
            buttons: Buttons::FIRE,
            move_x: 1.0,
            ..Controls::default()
        };
        for t in 0..20 {
            for m in c.update(f64::from(t) * 50.0, &fire) {
                assert!(
                    !matches!(codec::decode_client(&m), Ok(ClientMsg::Input(_))),
                    "a spectator sends no input"
                );
            }
        }
        c.playback(true, 16, 150, 1000.0);
        let sent = c.update(1001.0, &fire);
        let playback = sent
            .iter()
            .find_map(|m| match codec::decode_client(m) {
                Ok(ClientMsg::Playback(p)) => Some(p),
                _ => None,
            })
            .expect("a playback message");
        assert_eq!(
            (playback.paused, playback.speed_quarters, playback.seek),
            (true, 16, Some(Tick(150)))
        );
        assert!(c.state_json().contains(
            "\"watching\":{\"follow\":null,\"replay\":true,\"paused\":true,\"speed_quarters\":16}"
        ));
        // A seek's new welcome: a new replica.
        c.on_message(&welcome(150), 1100.0).unwrap();
        assert_eq!(c.replica().tick(), None);
        // The free camera: it moves from where it looks, follows no one, tells the server.
        c.follow(Some(NetId(5)), 1200.0);
        c.pan(120.0, -120.0, 1200.0);
        let cam = c
            .update(1201.0, &fire)
            .iter()
            .rev()
            .find_map(|m| match codec::decode_client(m) {
                Ok(ClientMsg::Camera(cam)) => Some(cam),
                _ => None,
            })
            .expect("camera messages");
        assert_eq!(
            (cam.follow, cam.x, cam.y),
            (None, 50.0 + 120.0, 50.0 - 120.0)
        );
        assert_eq!(c.render(1202.0).camera, Vec2::new(170.0, -70.0));
        // A player session ignores playback.
        let mut p = GameClient::new("p");
        p.playback(true, 4, 0, 0.0);
        assert!(p.watching().is_none());
    }

    #[test]
    fn a_close_is_a_lost_connection_with_its_reason() {
        let mut c = GameClient::new("x");
        c.on_close(1001, "server shutting down");
        assert_eq!(
            c.phase(),
            &Phase::Lost("server shutting down (1001)".into())
        );
    }

    #[test]
    fn garbage_from_the_server_is_an_error_not_a_panic() {
        let mut c = GameClient::new("x");
        assert!(c.on_message(&[1, 2, 3], 0.0).is_err());
        assert!(c.on_message(&[], 0.0).is_err());
    }

    #[test]
    fn the_join_presents_its_seat_once() {
        let join_seat = |bytes: &[u8]| match codec::decode_client(bytes).unwrap() {
            ClientMsg::Join(j) => j.seat,
            other => panic!("{other:?}"),
        };
        let mut c = GameClient::new("x").with_seat(Some("tok1".into()));
        assert_eq!(join_seat(&c.on_open()), Some("tok1".into()));
        // A spent token is never sent again.
        assert_eq!(join_seat(&c.on_open()), None);
        assert_eq!(join_seat(&GameClient::new("q").on_open()), None);
    }

    #[test]
    fn a_seat_refusal_is_kept_for_the_shell_and_the_welcome_names_the_room() {
        let mut c = GameClient::new("x");
        let msg = ServerMsg::Disconnect(Disconnect {
            reason: DisconnectReason::Seat(tickwire_shared::protocol::SeatRefusal::Expired),
            detail: "the seat token has expired".into(),
        });
        c.on_message(&codec::encode_server(&msg), 0.0).unwrap();
        assert_eq!(
            c.disconnect_reason(),
            Some(DisconnectReason::Seat(
                tickwire_shared::protocol::SeatRefusal::Expired
            ))
        );
        assert!(c.state_json().contains("\"room\":null"));

        let mut c = GameClient::new("x");
        let welcome = ServerMsg::Welcome(Welcome {
            protocol_version: PROTOCOL_VERSION,
            player: NetId(3),
            tick: Tick(10),
            room: "KX3PQR".into(),
            mode: "arena".into(),
            resume: String::new(),
            resumed: false,
            config: SimConfig::default(),
            map: Map::open("m", 100.0),
        });
        c.on_message(&codec::encode_server(&welcome), 0.0).unwrap();
        let json = c.state_json();
        assert!(
            json.contains("\"room\":\"KX3PQR\",\"mode\":\"arena\""),
            "{json}"
        );
    }

    /// A server in miniature: a world with one player, and its snapshots.
    struct MiniServer {
        world: tickwire_shared::World,
        history: Vec<(Tick, Vec<(NetId, NetEntity)>)>,
        me: NetId,
    }

    impl MiniServer {
        fn new() -> MiniServer {
            let map = Map {
                name: "t".into(),
                width: 1000.0,
                height: 1000.0,
                walls: Vec::new(),
                spawns: vec![[500.0, 500.0]],
                pickups: Vec::new(),
            };
            let mut world =
                tickwire_shared::World::new(SimConfig::default(), std::sync::Arc::new(map), 7);
            let id = tickwire_shared::sim::spawn::add_player(&mut world, "ann");
            let me = world.entities[id].net_id;
            MiniServer {
                world,
                history: Vec::new(),
                me,
            }
        }

        fn welcome(&self, token: &str, resumed: bool) -> Vec<u8> {
            codec::encode_server(&ServerMsg::Welcome(Welcome {
                protocol_version: PROTOCOL_VERSION,
                player: self.me,
                tick: self.world.tick,
                room: "KX3PQR".into(),
                mode: "arena".into(),
                resume: token.into(),
                resumed,
                config: self.world.config.clone(),
                map: (*self.world.map).clone(),
            }))
        }

        /// One tick, then the snapshot against `baseline` (none: a full state).
        fn step(&mut self, baseline: Option<Tick>, last_input_seq: u32) -> Vec<u8> {
            tickwire_shared::sim::step(&mut self.world, &[]);
            let now = self.world.net_state();
            let tick = self.world.tick;
            let base = baseline
                .and_then(|b| self.history.iter().find(|(t, _)| *t == b))
                .map_or(&[][..], |(_, s)| s.as_slice());
            let ext = tickwire_shared::protocol::snapshot::Extrapolation {
                baseline: baseline.unwrap_or(tick),
                ticks: baseline.map_or(0, |b| tick.since(b)),
                config: &self.world.config,
                map: &self.world.map,
            };
            let body = tickwire_shared::protocol::snapshot::diff(base, &now, &ext);
            self.history.push((tick, now));
            codec::encode_server(&ServerMsg::Snapshot(
                tickwire_shared::protocol::snapshot::Snapshot {
                    header: tickwire_shared::protocol::snapshot::SnapshotHeader {
                        tick,
                        baseline,
                        last_input_seq,
                    },
                    body,
                },
            ))
        }
    }

    fn inputs(msgs: &[Vec<u8>]) -> Vec<InputMsg> {
        msgs.iter()
            .filter_map(|b| match codec::decode_client(b).unwrap() {
                ClientMsg::Input(i) => Some(i),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_resume_keeps_the_state_asks_a_delta_and_sends_again_what_was_not_applied() {
        let mut server = MiniServer::new();
        let mut c = GameClient::new("ann");
        let _ = c.on_open();
        c.on_message(&server.welcome("r1", false), 0.0).unwrap();
        let full = server.step(None, 0);
        c.on_message(&full, 10.0).unwrap();
        let held = c.replica().tick().expect("a state");
        // Three inputs go out; the server reports the first applied.
        let walk = Controls {
            move_x: 1.0,
            ..Controls::default()
        };
        let mut sent = Vec::new();
        for i in 0..3 {
            sent.extend(inputs(&c.update(100.0 + 34.0 * f64::from(i), &walk)));
        }
        assert_eq!(sent.len(), 3, "{sent:?}");
        let delta = server.step(Some(held), sent[0].seq);
        c.on_message(&delta, 200.0).unwrap();
        let held = c.replica().tick().unwrap();
        assert_eq!(c.unapplied_inputs(), 2);

        // The connection drops: the state stays, nothing is sent or predicted meanwhile.
        c.on_close(1006, "");
        assert_eq!(c.phase().name(), "lost");
        let predicted = c.predicted();
        assert!(inputs(&c.update(400.0, &walk)).is_empty());
        assert_eq!(c.predicted(), predicted, "prediction paused");
        assert_eq!(c.render(400.0).players.len(), 1, "still drawn");

        // A new socket: Resume (not a join) with the token, the newest tick held and the
        // next sequence number.
        c.resume("r1".into());
        assert_eq!(c.phase(), &Phase::Resuming);
        match codec::decode_client(&c.on_open()).unwrap() {
            ClientMsg::Resume(r) => {
                assert_eq!(r.token, "r1");
                assert_eq!(r.last_tick, Some(held));
                assert_eq!(r.next_input_seq, sent[2].seq + 1);
            }
            other => panic!("{other:?}"),
        }
        assert!(inputs(&c.update(450.0, &walk)).is_empty());

        // Welcomed back: the same replica; the two unapplied inputs go again, first.
        c.on_message(&server.welcome("r2", true), 500.0).unwrap();
        assert_eq!(c.phase(), &Phase::Connected);
        assert_eq!(c.resumes(), 1);
        assert_eq!(c.replica().tick(), Some(held), "replica kept");
        let out = c.update(500.0, &walk);
        let again = inputs(&out);
        assert_eq!(again[..2], sent[1..], "{again:?}");
        assert!(
            again.len() > 2 && again[2].seq == sent[2].seq + 1,
            "new inputs follow"
        );
        // The next snapshot is a delta against the tick held, and applies.
        let delta = server.step(Some(held), again.last().unwrap().seq);
        c.on_message(&delta, 540.0).unwrap();
        assert_eq!(c.unapplied_inputs(), 0);
        assert!(c.state_json().contains("\"resumes\":1"));
    }

    #[test]
    fn a_reloaded_page_resumes_from_nothing_with_a_full_state() {
        let mut server = MiniServer::new();
        let mut c = GameClient::new("ann");
        c.resume("r7".into());
        match codec::decode_client(&c.on_open()).unwrap() {
            ClientMsg::Resume(r) => {
                assert_eq!((r.token.as_str(), r.last_tick), ("r7", None));
            }
            other => panic!("{other:?}"),
        }
        c.on_message(&server.welcome("r8", true), 0.0).unwrap();
        assert_eq!(c.me(), Some(server.me));
        assert_eq!(c.resumes(), 0, "nothing was kept: a fresh replica");
        c.on_message(&server.step(None, 0), 10.0).unwrap();
        assert!(c.replica().get(server.me).is_some());
        // A refused resume is a lost connection with its reason, for the lobby to decide.
        let mut c = GameClient::new("ann");
        c.resume("old".into());
        let _ = c.on_open();
        let refusal = ServerMsg::Disconnect(Disconnect {
            reason: DisconnectReason::Resume(tickwire_shared::protocol::ResumeRefusal::Expired),
            detail: "no player to resume".into(),
        });
        c.on_message(&codec::encode_server(&refusal), 0.0).unwrap();
        c.on_close(1008, "no player to resume");
        assert_eq!(c.phase().name(), "lost");
        assert_eq!(
            c.disconnect_reason(),
            Some(DisconnectReason::Resume(
                tickwire_shared::protocol::ResumeRefusal::Expired
            ))
        );
        // The next socket of this client is a join again (the token was for one attempt).
        assert!(matches!(
            codec::decode_client(&c.on_open()).unwrap(),
            ClientMsg::Join(_)
        ));
    }

    #[test]
    fn disconnected_players_are_drawn_marked() {
        let mut server = MiniServer::new();
        let mut c = GameClient::new("ann");
        c.on_message(&server.welcome("r1", false), 0.0).unwrap();
        let held = {
            let full = server.step(None, 0);
            c.on_message(&full, 0.0).unwrap();
            c.replica().tick().unwrap()
        };
        let id = server.world.entities.keys().next().unwrap();
        if let Some(tickwire_shared::entity::EntityKind::Player(p)) =
            server.world.entities.get_mut(id).map(|e| &mut e.kind)
        {
            p.disconnected = true;
        }
        let delta = server.step(Some(held), 0);
        c.on_message(&delta, 40.0).unwrap();
        let m = c.render(1000.0);
        assert!(
            !m.players.is_empty() && m.players.iter().all(|p| p.disconnected),
            "{:?}",
            m.players
        );
        assert!(c.state_json().contains("\"disconnected\":true"));
    }
}
