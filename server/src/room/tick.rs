//! The tick: a plain synchronous function, callable from tests with no socket and no clock.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tickwire_shared::entity::{EntityKind, QVec2};
use tickwire_shared::protocol::codec;
use tickwire_shared::protocol::snapshot::{entity_hash, SnapshotHeader};
use tickwire_shared::protocol::DisconnectReason;
use tickwire_shared::sim::{self, TickEvent};
use tickwire_shared::{EntityId, NetEntity, NetId};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::{inbound, Baselines, Closing, Room};
use crate::net::conn::Sent;
use crate::snapshot::delta::{Body, BodyKey};
use crate::snapshot::history::TickRecord;
use crate::snapshot::interest::{StateIndex, ViewKey};

/// What one tick did (for metrics and tests).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TickReport {
    /// Players in the room after the tick.
    pub players: usize,
    /// Inputs applied.
    pub inputs_applied: usize,
    /// Inputs refused as duplicates or replays.
    pub inputs_duplicate: usize,
    /// Inputs dropped because a player's queue was full.
    pub inputs_overflow: usize,
    /// Snapshot frames queued to players.
    pub frames_sent: usize,
    /// Bytes of those frames.
    pub bytes_sent: usize,
    /// Frames skipped because `outbox_depth` frames waited for the player's socket.
    pub outbox_drops: usize,
    /// Full (non-delta) snapshots among the frames.
    pub full_snapshots: usize,
    /// Distinct snapshot bodies encoded.
    pub bodies_encoded: usize,
    /// Players dropped for trailing too far behind.
    pub dropped_too_slow: usize,
    /// Time spent writing the frames to the sockets (part of the tick's time).
    pub send_time: Duration,
    /// Time spent reading what clients sent (part of the tick's time).
    pub recv_time: Duration,
    /// Time spent in the simulation step.
    pub step_time: Duration,
    /// Time spent recording the tick (replicated state, hashes, interest index).
    pub record_time: Duration,
    /// Time spent preparing every client's frame (bodies, headers).
    pub frames_time: Duration,
    /// Client messages read.
    pub messages_in: usize,
    /// Payload bytes of the binary messages read.
    pub bytes_in: usize,
    /// Client messages that did not decode (each ends its session).
    pub decode_errors: usize,
}

/// Where player `id` is in a recorded tick (the centre of its view then).
fn own_pos(rec: &TickRecord, id: NetId) -> Option<glam::Vec2> {
    let i = rec.state.binary_search_by_key(&id, |(n, _)| *n).ok()?;
    match &rec.state[i].1 {
        NetEntity::Player(p) => Some(p.pos.to_vec2()),
        _ => None,
    }
}

impl Room {
    /// Runs one tick:
    ///
    /// 1. inbound: what each client sent is read from its socket (inputs, acks, pings;
    ///    `inbound`), the input due at this tick is chosen (see `input_queue`); a client
    ///    that broke a rule, went silent or stopped reading is ended with its close;
    /// 2. simulate: `sim::step`;
    /// 3. record: the replicated state and events go into the history ring;
    /// 4. outbound: each player gets a delta against its baseline (the last snapshot its
    ///    connection accepted, or the tick it acknowledged: [`Baselines`]; or a full
    ///    state) of what its view covers (interest management), bodies encoded once per
    ///    (baseline, view then, view now), written straight to each player's socket
    ///    (`Conn`); a player whose socket has `outbox_depth` frames waiting is skipped
    ///    this tick; a player whose acknowledgements trail too far is dropped.
    pub fn tick(&mut self) -> TickReport {
        let mut report = TickReport::default();
        let now = self.world.tick;
        let newest_sent = self.history.latest().map_or(now, |r| r.tick);

        // 1. Inbound: what each client sent since the last tick, read from its socket.
        self.inputs.clear();
        let clock = Instant::now();
        let mut ending: Vec<(EntityId, Closing)> = Vec::new();
        for (id, p) in &mut self.players {
            if let Err(closing) = inbound::read_client(
                p,
                &self.settings.net,
                clock,
                now,
                newest_sent,
                self.settings.baselines.step(),
                &mut report,
            ) {
                ending.push((id, closing));
                continue;
            }
            if let Some(input) = p.queue.take_for_tick(now) {
                self.inputs.push((id, input));
            }
        }
        for (id, closing) in ending.drain(..) {
            self.end(id, closing);
        }
        report.recv_time = clock.elapsed();
        report.inputs_applied = self.inputs.len();

        // 2. Simulate.
        let clock = Instant::now();
        let events = sim::step(&mut self.world, &self.inputs);
        report.step_time = clock.elapsed();

        // 3. Record.
        let clock = Instant::now();
        let tick = self.world.tick;
        let (mut state, mut hashes) = self.history.take_spare();
        self.world.net_state_into(&mut state);
        let index = self.settings.interest.enabled().then(|| {
            let map = &self.world.map;
            StateIndex::build(&state, tick, self.world.config.dt(), map.width, map.height)
        });
        hashes.extend(state.iter().map(|(id, e)| entity_hash(*id, e)));
        self.history.push(TickRecord {
            tick,
            hashes,
            state: Arc::new(state),
            events: events
                .into_iter()
                .map(|event| TickEvent { tick, event })
                .collect(),
            index,
        });
        report.record_time = clock.elapsed();

        // 4. Outbound: every frame is prepared first, then all are written in one sweep
        //    (timed apart: the socket writes are kernel work, not the tick's own).
        let clock = Instant::now();
        let mut outgoing = std::mem::take(&mut self.outgoing);
        outgoing.clear();
        let mut keys = std::mem::take(&mut self.keys);
        keys.clear();
        let interest = self.settings.interest;
        for (id, p) in &mut self.players {
            // The view now, from the player's entity (its replicated position is its
            // position on the wire grid); remembered for the deltas against this tick.
            let view = if interest.enabled() {
                let own = self.world.entities.get(id).and_then(|e| {
                    matches!(e.kind, EntityKind::Player(_))
                        .then(|| QVec2::from_vec2(e.pos).to_vec2())
                });
                interest.key(own)
            } else {
                ViewKey::All
            };
            p.note_view(tick, view);
            if p.ack_lag(tick) > self.settings.max_ack_lag_ticks {
                ending.push((
                    id,
                    Closing::with_reason(
                        CloseCode::Policy,
                        DisconnectReason::TooSlow,
                        "too far behind",
                    ),
                ));
                continue;
            }
            let chosen = match self.settings.baselines {
                _ if self.settings.full_snapshots => None,
                Baselines::Sent => p.last_sent,
                Baselines::Acked { step } => p.acks.choose_baseline(step),
            };
            let base = chosen.and_then(|t| self.history.get(t));
            let baseline = base.map(|r| r.tick);
            keys.push(BodyKey {
                baseline,
                base_view: base.map_or(ViewKey::All, |r| {
                    p.view_at(r.tick)
                        .unwrap_or_else(|| interest.key(own_pos(r, p.net_id)))
                }),
                view,
            });
            let header = SnapshotHeader {
                tick,
                baseline,
                last_input_seq: p.queue.last_applied(),
            };
            outgoing.push((
                id,
                codec::snapshot_header_bytes(&header),
                baseline.is_none(),
            ));
        }
        let mut bodies = std::mem::take(&mut self.frame_bodies);
        self.bodies.bodies(
            &self.history,
            &keys,
            &self.world.config,
            &self.world.map,
            &mut bodies,
        );
        report.frames_time = clock.elapsed();
        let sweep = Instant::now();
        for ((id, head, full), body) in outgoing.iter().zip(&bodies) {
            let Some(p) = self.players.get_mut(*id) else {
                continue;
            };
            let Some(conn) = p.conn.as_mut() else {
                continue;
            };
            let body: &[u8] = match body {
                Body::Shared(b) => b,
                Body::Assembled(r) => &self.bodies.frames[r.clone()],
            };
            match conn.send_binary([head, body], true) {
                Sent::Written | Sent::Queued => {
                    // Bound to arrive, after every frame accepted before it.
                    p.last_sent = Some(tick);
                    report.frames_sent += 1;
                    report.bytes_sent += head.len() + body.len();
                    report.full_snapshots += usize::from(*full);
                }
                Sent::Full => report.outbox_drops += 1,
                // The socket failed: the inbound phase of the next tick ends the session.
                Sent::Closed => {}
            }
        }
        report.send_time = sweep.elapsed();
        outgoing.clear();
        self.outgoing = outgoing;
        keys.clear();
        self.keys = keys;
        // (Cleared: the shared bodies' bytes are released now, not a tick later.)
        bodies.clear();
        self.frame_bodies = bodies;
        report.bodies_encoded = self.bodies.encoded(tick);
        report.dropped_too_slow = ending.len();
        for (id, closing) in ending {
            self.end(id, closing);
        }
        report.players = self.players.len();
        self.tick_now.store(tick.0, Ordering::Relaxed);
        report
    }
}
