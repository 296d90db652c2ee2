//! The tick: a plain synchronous function, callable from tests with no socket and no clock.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::mpsc::error::TrySendError;

use tickwire_shared::protocol::snapshot::SnapshotHeader;
use tickwire_shared::protocol::DisconnectReason;
use tickwire_shared::sim::{self, TickEvent};
use tickwire_shared::EntityId;

use super::input_queue::{Push, QueuedInput};
use super::{Outgoing, Room};
use crate::snapshot::delta::frame;
use crate::snapshot::history::TickRecord;

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
    /// Frames not queued because the player's outbox was full.
    pub outbox_drops: usize,
    /// Full (non-delta) snapshots among the frames.
    pub full_snapshots: usize,
    /// Distinct snapshot bodies encoded.
    pub bodies_encoded: usize,
    /// Players dropped for trailing too far behind.
    pub dropped_too_slow: usize,
}

impl Room {
    /// Runs one tick:
    ///
    /// 1. inbound: each player's new inputs and acknowledgements are taken from its
    ///    channel; the input due at this tick is chosen (see `input_queue`);
    /// 2. simulate: `sim::step`;
    /// 3. record: the replicated state and events go into the history ring;
    /// 4. outbound: each player gets a delta against the tick it acknowledged (or a full
    ///    state), bodies encoded once per baseline; a full outbox skips the player this
    ///    tick; a player whose acknowledgements trail too far is dropped.
    pub fn tick(&mut self) -> TickReport {
        let mut report = TickReport::default();
        let now = self.world.tick;
        let newest_sent = self.history.latest().map_or(now, |r| r.tick);

        // 1. Inbound.
        self.inputs.clear();
        for (id, p) in &mut self.players {
            while let Ok(msg) = p.inbox.try_recv() {
                p.note_ack(msg.ack, newest_sent);
                let q = QueuedInput {
                    seq: msg.seq,
                    tick: msg.tick,
                    input: msg.input,
                };
                match p.queue.push(q) {
                    Push::Queued => {}
                    Push::Duplicate => report.inputs_duplicate += 1,
                    Push::Overflow => report.inputs_overflow += 1,
                }
            }
            if let Some(input) = p.queue.take_for_tick(now) {
                self.inputs.push((id, input));
            }
        }
        report.inputs_applied = self.inputs.len();

        // 2. Simulate.
        let events = sim::step(&mut self.world, &self.inputs);

        // 3. Record.
        let tick = self.world.tick;
        self.history.push(TickRecord {
            tick,
            state: Arc::new(self.world.net_state()),
            events: events
                .into_iter()
                .map(|event| TickEvent { tick, event })
                .collect(),
        });

        // 4. Outbound.
        let mut too_slow: Vec<EntityId> = Vec::new();
        for (id, p) in &self.players {
            if p.ack_lag(tick) > self.settings.max_ack_lag_ticks {
                too_slow.push(id);
                continue;
            }
            let baseline = if self.settings.full_snapshots {
                None
            } else {
                p.acked.filter(|a| self.history.get(*a).is_some())
            };
            let body =
                self.bodies
                    .body(&self.history, baseline, &self.world.config, &self.world.map);
            let header = SnapshotHeader {
                tick,
                baseline,
                last_input_seq: p.queue.last_applied(),
            };
            let bytes = frame(&header, &body);
            let len = bytes.len();
            match p.outbox.try_send(Outgoing::Frame(bytes)) {
                Ok(()) => {
                    report.frames_sent += 1;
                    report.bytes_sent += len;
                    report.full_snapshots += usize::from(baseline.is_none());
                }
                Err(TrySendError::Full(_)) => report.outbox_drops += 1,
                // The connection is gone; its Leave is on the way.
                Err(TrySendError::Closed(_)) => {}
            }
        }
        report.bodies_encoded = self.bodies.encoded();
        report.dropped_too_slow = too_slow.len();
        for id in too_slow {
            self.kick(id, DisconnectReason::TooSlow);
        }
        report.players = self.players.len();
        self.tick_now.store(tick.0, Ordering::Relaxed);
        report
    }
}
