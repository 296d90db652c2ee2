//! The tick: a plain synchronous function, callable from tests with no socket and no clock.
//! It is a short list of phases, each a method below, in the order they run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tickwire_shared::entity::{EntityKind, QVec2};
use tickwire_shared::protocol::codec::{self, SNAPSHOT_HEADER_LEN};
use tickwire_shared::protocol::snapshot::{entity_hash, SnapshotHeader};
use tickwire_shared::protocol::DisconnectReason;
use tickwire_shared::replay::Record;
use tickwire_shared::sim::{self, GameEvent, TickEvent};
use tickwire_shared::{EntityId, NetEntity, NetId, PlayerInput};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::{inbound, Baselines, Room};
use crate::net::close::Closing;
use crate::net::game_socket::Sent;
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
    /// Players (connected, with an input applied before) that had no input due at this
    /// tick: the simulation repeated their last one.
    pub inputs_repeated: usize,
    /// Late inputs folded into a later one (their buttons carried over).
    pub inputs_folded: usize,
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
    /// Players held for a resume after a lost connection, after the tick.
    pub players_in_grace: usize,
    /// Players resumed since the previous tick.
    pub resumes: usize,
    /// The room's recording was cut (its queue was full) since the previous tick.
    pub recording_cut: bool,
    /// Time spent queuing this tick's records for the recording (part of `step_time`).
    pub recording_time: Duration,
}

/// The buffers a tick fills and empties, kept between ticks for their memory.
#[derive(Debug, Default)]
pub(super) struct Scratch {
    /// This tick's inputs, one per player at most.
    inputs: Vec<(EntityId, PlayerInput)>,
    /// Sessions to end, with their close.
    ending: Vec<(EntityId, Closing)>,
    /// This tick's frames, their body keys and their bodies, in the same order.
    frames: Vec<Frame>,
    keys: Vec<BodyKey>,
    bodies: Vec<Body>,
}

/// Who a frame goes to.
#[derive(Clone, Copy, Debug)]
enum To {
    Player(EntityId),
    /// A live spectator, by its index in the room's list.
    Spectator(usize),
}

/// One client's frame of this tick, before its body is known.
#[derive(Debug)]
struct Frame {
    to: To,
    header: [u8; SNAPSHOT_HEADER_LEN],
    /// A full state (no baseline).
    full: bool,
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
    /// 1. [`read_inbound`](Self::read_inbound): what each client sent, read from its socket;
    /// 2. [`simulate`](Self::simulate): `sim::step` with this tick's inputs;
    /// 3. [`record`](Self::record): the replicated state and events into the history ring;
    /// 4. [`prepare_frames`](Self::prepare_frames): each player's header and body;
    /// 5. [`write_frames`](Self::write_frames): one sweep of non-blocking socket writes;
    ///
    /// then the players found too far behind are ended.
    pub fn tick(&mut self) -> TickReport {
        let mut report = TickReport::default();
        self.read_inbound(&mut report);
        let events = self.simulate(&mut report);
        self.record(events, &mut report);
        self.prepare_frames(&mut report);
        self.write_frames(&mut report);
        self.delayed_frames(&mut report);
        report.dropped_too_slow = self.scratch.ending.len();
        self.end_pending();
        report.players = self.players.len();
        report.players_in_grace = self.held;
        report.resumes = std::mem::take(&mut self.resumes);
        report.recording_cut = std::mem::take(&mut self.recording_cut);
        report
    }

    /// Phase 1: what each client sent since the last tick (inputs, acks, pings; see
    /// `inbound`), and the input due at this tick (see `input_queue`). A client that broke
    /// a rule, went silent or stopped reading is ended with its close, before the step.
    fn read_inbound(&mut self, report: &mut TickReport) {
        let clock = Instant::now();
        let now = self.world.tick;
        let newest_sent = self.history.latest().map_or(now, |r| r.tick);
        let step = self.settings.baselines.step();
        let grace = self.settings.reconnect_grace;
        let Scratch { inputs, ending, .. } = &mut self.scratch;
        inputs.clear();
        for (id, p) in &mut self.players {
            if let Some(lost_at) = p.lost_at {
                // Held for a resume: no input (it stands still) until then, or until the
                // grace ends and it leaves.
                if clock.saturating_duration_since(lost_at) >= grace {
                    ending.push((id, Closing::gone("reconnect grace over")));
                }
                continue;
            }
            let read =
                inbound::read_client(p, &self.settings.net, clock, now, newest_sent, step, report);
            match read {
                Err(closing) => ending.push((id, closing)),
                Ok(()) => match p.queue.take_for_tick(now) {
                    Some(i) => {
                        report.inputs_folded += p.queue.folded() as usize;
                        inputs.push((id, i));
                    }
                    None if p.queue.last_applied() != tickwire_shared::seq::NONE => {
                        report.inputs_repeated += 1;
                    }
                    None => {}
                },
            }
        }
        self.end_pending();
        self.read_spectators(clock, report);
        report.recv_time = clock.elapsed();
        report.inputs_applied = self.scratch.inputs.len();
    }

    /// Phase 2: the deterministic step (and, when the match is recorded, its inputs and
    /// the world hash into the recording's queue).
    fn simulate(&mut self, report: &mut TickReport) -> Vec<GameEvent> {
        let clock = Instant::now();
        let recording = self.recorder.as_ref().is_some_and(|r| r.active());
        if recording {
            let entities = &self.world.entities;
            let mut applied: Vec<(NetId, PlayerInput)> = (self.scratch.inputs.iter())
                .filter_map(|(id, i)| Some((entities.get(*id)?.net_id, *i)))
                .collect();
            applied.sort_unstable_by_key(|(n, _)| *n);
            self.rec(move |_| Record::Tick { inputs: applied });
            report.recording_time = clock.elapsed();
        }
        let events = sim::step(&mut self.world, &self.scratch.inputs);
        if recording {
            let hashing = Instant::now();
            let every = self.recorder.as_ref().map_or(1, |r| r.hash_every.max(1));
            if self.world.tick.0.is_multiple_of(every) {
                self.rec(|w| Record::Hash {
                    tick: w.tick,
                    hash: w.hash(),
                });
            }
            report.recording_time += hashing.elapsed();
        }
        report.step_time = clock.elapsed();
        events
    }

    /// Phase 3: the replicated state, its per-entity hashes, the interest index and the
    /// events of this tick go into the history ring.
    fn record(&mut self, events: Vec<GameEvent>, report: &mut TickReport) {
        let clock = Instant::now();
        let tick = self.world.tick;
        let (mut state, mut hashes) = self.history.take_spare();
        self.world.net_state_into(&mut state);
        let index = self.settings.interest.enabled().then(|| {
            let map = &self.world.map;
            StateIndex::build(&state, tick, self.world.config.dt(), map.width, map.height)
        });
        hashes.extend(state.iter().map(|(id, e)| entity_hash(*id, e)));
        let state = Arc::new(state);
        let every = self.recorder.as_ref().map_or(0, |r| r.keyframe_every);
        if every > 0 && tick.0.is_multiple_of(every) {
            // The state the history keeps, shared: no copy on the tick thread.
            self.rec(|_| Record::Keyframe {
                tick,
                state: state.clone(),
            });
        }
        self.history.push(TickRecord {
            tick,
            hashes,
            state,
            events: events
                .into_iter()
                .map(|event| TickEvent { tick, event })
                .collect(),
            index,
        });
        report.record_time = clock.elapsed();
    }

    /// Phase 4: each player's frame: a delta against its baseline (the last snapshot its
    /// connection accepted, or the tick it acknowledged: [`Baselines`]; or a full state)
    /// of what its view covers (interest management), bodies encoded once per (baseline,
    /// view then, view now). A player whose acknowledgements trail too far is set to end.
    fn prepare_frames(&mut self, report: &mut TickReport) {
        let clock = Instant::now();
        let tick = self.world.tick;
        let interest = self.settings.interest;
        let Scratch {
            ending,
            frames,
            keys,
            ..
        } = &mut self.scratch;
        frames.clear();
        keys.clear();
        for (id, p) in &mut self.players {
            if p.conn.is_none() {
                continue; // Held for a resume: nothing to send it.
            }
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
            frames.push(Frame {
                to: To::Player(id),
                header: codec::snapshot_header_bytes(&SnapshotHeader {
                    tick,
                    baseline,
                    last_input_seq: p.queue.last_applied(),
                }),
                full: baseline.is_none(),
            });
        }
        // Live spectators: in the same list, so that one with a player's view and baseline
        // shares its body.
        let (mut keys, mut frames) = (std::mem::take(keys), std::mem::take(frames));
        self.spectator_frames(&mut keys, |i, header, full| {
            frames.push(Frame {
                to: To::Spectator(i),
                header,
                full,
            });
        });
        self.scratch.keys = keys;
        self.scratch.frames = frames;
        self.bodies.bodies(
            &self.history,
            &self.scratch.keys,
            &self.world.config,
            &self.world.map,
            &mut self.scratch.bodies,
        );
        report.frames_time = clock.elapsed();
    }

    /// Phase 5: every prepared frame written straight to its player's socket, in one sweep
    /// (timed apart: socket writes are kernel work, not the tick's own). A player whose
    /// socket has `outbox_depth` frames waiting is skipped this tick.
    fn write_frames(&mut self, report: &mut TickReport) {
        let sweep = Instant::now();
        let tick = self.world.tick;
        let Scratch { frames, bodies, .. } = &mut self.scratch;
        for (frame, body) in frames.iter().zip(bodies.iter()) {
            let body: &[u8] = match body {
                Body::Shared(b) => b,
                Body::Assembled(r) => &self.bodies.frames[r.clone()],
            };
            let sent = match frame.to {
                To::Spectator(i) => self.spectators.send(i, [&frame.header, body], tick),
                To::Player(id) => {
                    let Some(p) = self.players.get_mut(id) else {
                        continue;
                    };
                    let Some(conn) = p.conn.as_mut() else {
                        continue;
                    };
                    let sent = conn.send_binary([&frame.header, body], true);
                    if matches!(sent, Sent::Written | Sent::Queued) {
                        // Bound to arrive, after every frame accepted before it.
                        p.last_sent = Some(tick);
                    }
                    sent
                }
            };
            match sent {
                Sent::Written | Sent::Queued => {
                    report.frames_sent += 1;
                    report.bytes_sent += frame.header.len() + body.len();
                    report.full_snapshots += usize::from(frame.full);
                }
                Sent::Full => report.outbox_drops += 1,
                // The socket failed: the inbound phase of the next tick ends the session.
                Sent::Closed => {}
            }
        }
        report.send_time = sweep.elapsed();
        // Cleared now: the shared bodies' bytes are released this tick, not the next.
        bodies.clear();
        report.bodies_encoded = self.bodies.encoded(tick);
    }

    /// Ends the sessions set to end, each with its close (a lost connection may keep its
    /// player for a resume; a player whose grace ran out leaves).
    fn end_pending(&mut self) {
        let mut ending = std::mem::take(&mut self.scratch.ending);
        for (id, closing) in ending.drain(..) {
            let held = self.players.get(id).is_some_and(|p| p.lost_at.is_some());
            if held {
                self.end(id, closing);
            } else {
                self.drop_session(id, closing);
            }
        }
        self.scratch.ending = ending;
    }
}
