//! Spectators: connections that watch a room without a player. No entity, no input, not
//! counted as players; a camera that follows a player or looks where it is told.
//!
//! Without a delay a spectator's frame is made with the players' (one list of body keys):
//! a spectator whose view and baseline are a player's shares that player's encoded body, so
//! watching costs a header and a write. With the mode's `spectator_delay`, spectators are
//! sent the room's ticks that much later: the recorded ticks wait in a queue, and a history
//! and body cache of their own encode them (shared by every delayed spectator with the same
//! view and baseline).

use std::collections::VecDeque;
use std::time::Instant;

use glam::Vec2;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tracing::info;

use tickwire_shared::protocol::codec::{self, SNAPSHOT_HEADER_LEN};
use tickwire_shared::protocol::snapshot::SnapshotHeader;
use tickwire_shared::protocol::{
    Camera, ClientMsg, DisconnectReason, ServerMsg, Welcome, PROTOCOL_VERSION,
};
use tickwire_shared::{NetEntity, NetId, Tick};

use super::inbound::{bad_message, keepalive, read_messages};
use super::players::VIEW_MEMORY;
use super::{Arrival, Closing, EndedTx, Ending, GameSocket, Room, TickReport};
use crate::net::game_socket::Sent;
use crate::net::rate_limit::TokenBucket;
use crate::snapshot::delta::{Body, BodyCache, BodyKey};
use crate::snapshot::history::{History, TickRecord};
use crate::snapshot::interest::{Interest, StateIndex, ViewKey};

/// A spectator's camera.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(super) struct View {
    /// The player followed.
    pub follow: Option<NetId>,
    /// A free camera's centre.
    pub center: Option<Vec2>,
}

/// One spectator.
#[derive(Debug)]
pub(super) struct Spectator {
    conn: Option<Box<GameSocket>>,
    ended: Option<EndedTx>,
    /// Tick of the last snapshot its connection accepted (its baseline).
    pub last_sent: Option<Tick>,
    pub camera: View,
    bucket: TokenBucket,
    last_heard: Instant,
    last_ping: Instant,
    views: [Option<(Tick, ViewKey)>; VIEW_MEMORY],
    /// Its number (logs).
    id: u32,
}

impl Drop for Spectator {
    fn drop(&mut self) {
        self.finish(Ending::RoomGone);
    }
}

impl Spectator {
    fn finish(&mut self, ending: Ending) {
        if let (Some(conn), Some(ended)) = (self.conn.take(), self.ended.take()) {
            let _ = ended.send((*conn, ending));
        }
    }

    fn note_view(&mut self, tick: Tick, view: ViewKey) {
        self.views[tick.0 as usize % VIEW_MEMORY] = Some((tick, view));
    }

    fn view_at(&self, tick: Tick) -> Option<ViewKey> {
        match self.views[tick.0 as usize % VIEW_MEMORY] {
            Some((t, view)) if t == tick => Some(view),
            _ => None,
        }
    }
}

/// The spectators of a room.
#[derive(Debug, Default)]
pub(super) struct Spectators {
    pub list: Vec<Spectator>,
    next_id: u32,
    /// The delayed feed (a delay is set).
    delayed: Option<Delayed>,
}

/// Spectators' ticks, `delay` ticks behind the room.
struct Delayed {
    delay: u32,
    queue: VecDeque<TickRecord>,
    history: History,
    bodies: BodyCache,
    keys: Vec<BodyKey>,
    headers: Vec<[u8; SNAPSHOT_HEADER_LEN]>,
    out: Vec<Body>,
}

impl std::fmt::Debug for Delayed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delayed")
            .field("delay", &self.delay)
            .field("queued", &self.queue.len())
            .finish_non_exhaustive()
    }
}

/// Where player `id` is in a state (sorted by id).
fn pos_in(state: &[(NetId, NetEntity)], id: NetId) -> Option<Vec2> {
    let i = state.binary_search_by_key(&id, |(n, _)| *n).ok()?;
    match &state[i].1 {
        NetEntity::Player(p) => Some(p.pos.to_vec2()),
        _ => None,
    }
}

/// A camera's view in a state.
fn view_key(interest: Interest, camera: View, state: &[(NetId, NetEntity)]) -> ViewKey {
    if !interest.enabled() {
        return ViewKey::All;
    }
    let followed = camera.follow.and_then(|id| pos_in(state, id));
    interest.key(followed.or(camera.center))
}

/// A spectator's body key against `history`'s newest tick, noting its view.
fn key_for(
    s: &mut Spectator,
    interest: Interest,
    history: &History,
    now: &TickRecord,
) -> (BodyKey, Option<Tick>) {
    let view = view_key(interest, s.camera, &now.state);
    s.note_view(now.tick, view);
    let base = s.last_sent.and_then(|t| history.get(t));
    let key = BodyKey {
        baseline: base.map(|r| r.tick),
        base_view: base.map_or(ViewKey::All, |r| {
            s.view_at(r.tick)
                .unwrap_or_else(|| view_key(interest, s.camera, &r.state))
        }),
        view,
    };
    (key, key.baseline)
}

impl Room {
    /// Takes a spectator on `arrival`'s connection (refused when the mode's cap is reached).
    pub(super) fn watch(&mut self, follow: Option<NetId>, mut arrival: Arrival) {
        if self.spectators.list.len() >= self.settings.max_spectators {
            let closing = Closing::with_reason(
                CloseCode::Again,
                DisconnectReason::ServerFull,
                "no more spectators in this room",
            );
            let _ = arrival.ended.send((arrival.conn, Ending::Close(closing)));
            return;
        }
        let delay = self.spectator_delay_ticks();
        if delay > 0 && self.spectators.delayed.is_none() {
            self.spectators.delayed = Some(Delayed {
                delay,
                queue: VecDeque::with_capacity(delay as usize + 1),
                history: History::new(self.settings.history_ticks),
                bodies: BodyCache::default(),
                keys: Vec::new(),
                headers: Vec::new(),
                out: Vec::new(),
            });
        }
        let welcome = ServerMsg::Welcome(Welcome {
            protocol_version: PROTOCOL_VERSION,
            player: NetId(0),
            tick: Tick(self.world.tick.0.saturating_sub(delay)),
            room: self.settings.id.clone(),
            mode: self.settings.mode.clone(),
            resume: String::new(),
            resumed: false,
            config: self.world.config.clone(),
            map: (*self.world.map).clone(),
        });
        arrival
            .conn
            .send_binary([&codec::encode_server(&welcome), &[]], false);
        let now = Instant::now();
        let net = &self.settings.net;
        let sp = &mut self.spectators;
        sp.next_id += 1;
        info!(
            spectator = sp.next_id,
            spectators = sp.list.len() + 1,
            delay,
            "spectator joined"
        );
        sp.list.push(Spectator {
            conn: Some(Box::new(arrival.conn)),
            ended: Some(arrival.ended),
            last_sent: None,
            camera: View {
                follow,
                center: None,
            },
            bucket: TokenBucket::new(net.max_msgs_per_s, net.msg_burst),
            last_heard: now,
            last_ping: now,
            views: [None; VIEW_MEMORY],
            id: sp.next_id,
        });
    }

    /// The spectators' delay, in ticks.
    fn spectator_delay_ticks(&self) -> u32 {
        let hz = f64::from(self.settings.sim.tick_hz);
        (self.settings.spectator_delay.as_secs_f64() * hz).round() as u32
    }

    /// Number of spectators.
    pub fn spectator_count(&self) -> usize {
        self.spectators.list.len()
    }

    /// What each spectator sent: pings and camera moves; anything else (an input, a
    /// second join) ends its session. Then the same idle, ping and stall limits as players.
    pub(super) fn read_spectators(&mut self, clock: Instant, report: &mut TickReport) {
        let limits = &self.settings.net;
        let tick = self.world.tick;
        let mut i = 0;
        while i < self.spectators.list.len() {
            let s = &mut self.spectators.list[i];
            match read_spectator(s, limits, clock, tick, report) {
                Ok(()) => i += 1,
                Err(closing) => {
                    let mut s = self.spectators.list.swap_remove(i);
                    info!(spectator = s.id, why = %closing.detail, "spectator left");
                    s.finish(Ending::Close(closing));
                }
            }
        }
    }

    /// Live spectators' frames (no delay), in the players' list: keys and headers.
    pub(super) fn spectator_frames(
        &mut self,
        keys: &mut Vec<BodyKey>,
        mut frame: impl FnMut(usize, [u8; SNAPSHOT_HEADER_LEN], bool),
    ) {
        if self.spectators.delayed.is_some() {
            return;
        }
        let Some(now) = self.history.latest() else {
            return;
        };
        let interest = self.settings.interest;
        for (i, s) in self.spectators.list.iter_mut().enumerate() {
            if s.conn.is_none() {
                continue;
            }
            let (key, baseline) = key_for(s, interest, &self.history, now);
            keys.push(key);
            let header = codec::snapshot_header_bytes(&SnapshotHeader {
                tick: now.tick,
                baseline,
                last_input_seq: 0,
            });
            frame(i, header, baseline.is_none());
        }
    }
}

impl Spectators {
    /// The room ends (disposed, or the server stops): each spectator hears that it closed
    /// (1001), not that it failed.
    pub(super) fn close_all(&mut self) {
        for mut s in self.list.drain(..) {
            s.finish(Ending::Close(Closing::with_reason(
                CloseCode::Away,
                DisconnectReason::ShuttingDown,
                "the room closed",
            )));
        }
    }

    /// Writes live spectator `i`'s frame; whether it was accepted.
    pub(super) fn send(&mut self, i: usize, parts: [&[u8]; 2], tick: Tick) -> Sent {
        let Some(s) = self.list.get_mut(i) else {
            return Sent::Closed;
        };
        let Some(conn) = s.conn.as_mut() else {
            return Sent::Closed;
        };
        let sent = conn.send_binary(parts, true);
        if matches!(sent, Sent::Written | Sent::Queued) {
            s.last_sent = Some(tick);
        }
        sent
    }
}

impl Room {
    /// Delayed spectators: this tick goes into the queue, the tick `delay` ago comes out and
    /// is sent to every spectator.
    pub(super) fn delayed_frames(&mut self, report: &mut TickReport) {
        let Some(d) = self.spectators.delayed.as_mut() else {
            return;
        };
        let Some(now) = self.history.latest() else {
            return;
        };
        d.queue.push_back(TickRecord {
            tick: now.tick,
            state: now.state.clone(),
            hashes: now.hashes.clone(),
            events: now.events.clone(),
            index: None,
        });
        if d.queue.len() as u32 <= d.delay {
            return;
        }
        let Some(mut rec) = d.queue.pop_front() else {
            return;
        };
        let interest = self.settings.interest;
        if interest.enabled() {
            let map = &self.world.map;
            let dt = self.world.config.dt();
            rec.index = Some(StateIndex::build(
                &rec.state, rec.tick, dt, map.width, map.height,
            ));
        }
        d.history.push(rec);
        let Some(then) = d.history.latest() else {
            return;
        };
        d.keys.clear();
        d.headers.clear();
        for s in &mut self.spectators.list {
            let (key, baseline) = key_for(s, interest, &d.history, then);
            d.keys.push(key);
            d.headers
                .push(codec::snapshot_header_bytes(&SnapshotHeader {
                    tick: then.tick,
                    baseline,
                    last_input_seq: 0,
                }));
        }
        let tick = then.tick;
        d.bodies.bodies(
            &d.history,
            &d.keys,
            &self.world.config,
            &self.world.map,
            &mut d.out,
        );
        for ((s, header), body) in self.spectators.list.iter_mut().zip(&d.headers).zip(&d.out) {
            let Some(conn) = s.conn.as_mut() else {
                continue;
            };
            let body: &[u8] = match body {
                Body::Shared(b) => b,
                Body::Assembled(r) => &d.bodies.frames[r.clone()],
            };
            match conn.send_binary([header, body], true) {
                Sent::Written | Sent::Queued => {
                    s.last_sent = Some(tick);
                    report.frames_sent += 1;
                    report.bytes_sent += header.len() + body.len();
                }
                Sent::Full => report.outbox_drops += 1,
                Sent::Closed => {}
            }
        }
        d.out.clear();
    }
}

/// Reads one spectator's messages.
fn read_spectator(
    s: &mut Spectator,
    limits: &super::NetLimits,
    now: Instant,
    tick: Tick,
    report: &mut TickReport,
) -> Result<(), Closing> {
    let Spectator {
        conn,
        bucket,
        last_heard,
        last_ping,
        camera,
        id,
        ..
    } = s;
    let Some(conn) = conn.as_mut() else {
        return Ok(());
    };
    read_messages(
        conn,
        limits,
        now,
        tick,
        bucket,
        last_heard,
        report,
        *id,
        |_, msg, _| match msg {
            ClientMsg::Camera(Camera { follow, x, y }) => {
                if !(x.is_finite() && y.is_finite()) {
                    return Err(bad_message("non-finite camera".into()));
                }
                *camera = View {
                    follow,
                    center: Some(Vec2::new(x, y)),
                };
                Ok(())
            }
            // A live room has no playback to drive.
            ClientMsg::Playback(_) | ClientMsg::Ping(_) => Ok(()),
            ClientMsg::Input(_) => Err(Closing::with_reason(
                CloseCode::Policy,
                DisconnectReason::BadMessage,
                "a spectator sends no input",
            )),
            ClientMsg::Join(_) | ClientMsg::Resume(_) | ClientMsg::Watch(_) => {
                Err(Closing::with_reason(
                    CloseCode::Policy,
                    DisconnectReason::BadMessage,
                    "already watching",
                ))
            }
        },
    )?;
    keepalive(conn, limits, now, *last_heard, last_ping, *id)
}
