//! One player's queue of inputs waiting for their tick.
//!
//! Rules (all deterministic, applied by the tick):
//! - an input applies at the tick it is meant for, or as soon as possible if it arrives late;
//! - duplicate or old sequence numbers never apply (a sequence number applies at most once);
//!   they are compared in wrapping order ([`seq`]), so a client whose numbers cross
//!   `u32::MAX`, or start anywhere, plays on;
//! - at most [`MAX_DUE_BACKLOG`] late inputs are kept: older late ones are folded into the
//!   next (their buttons carry over, their movement is superseded), so a client that fell
//!   behind catches up instead of lagging for ever;
//! - a backlog of late inputs that lasts [`BACKLOG_PATIENCE`] ticks is shortened by one
//!   fold: one input arrives per tick and one applies per tick, so without this a single
//!   late packet would delay every later input by a tick for the rest of the session.
//!   A short burst of jitter keeps every step (exact prediction); a lasting one costs one
//!   folded step (a small correction) and the latency comes back down;
//! - inputs for ticks too far ahead, or too far behind, are dropped;
//! - no input due: the player's last input stays in force (the simulation repeats it).

use std::collections::VecDeque;

use tickwire_shared::input::{Buttons, InputMsg, InvalidInput};
use tickwire_shared::{seq, PlayerInput, Tick};

/// Late inputs kept at most; the rest are folded.
pub const MAX_DUE_BACKLOG: usize = 2;
/// Ticks a backlog of late inputs may last before one of them is folded.
pub const BACKLOG_PATIENCE: u32 = 15;
/// Inputs meant for further ahead than this many ticks are dropped.
pub const MAX_LEAD_TICKS: u32 = 60;
/// Inputs meant for longer ago than this many ticks are dropped.
pub const MAX_LATE_TICKS: u32 = 60;

/// An input accepted from the connection (already validated).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QueuedInput {
    /// Client sequence number.
    pub seq: u32,
    /// Tick it is meant for.
    pub tick: Tick,
    /// The simulation input.
    pub input: PlayerInput,
}

impl QueuedInput {
    /// Validates a wire input ([`PlayerInput::from_wire`]): the one way a client's input
    /// becomes room input.
    ///
    /// # Errors
    /// [`InvalidInput`] for NaN or infinity.
    pub fn from_wire(msg: &InputMsg) -> Result<QueuedInput, InvalidInput> {
        Ok(QueuedInput {
            seq: msg.seq,
            tick: msg.tick,
            input: PlayerInput::from_wire(msg)?,
        })
    }
}

/// A player's pending inputs, ordered by sequence number.
#[derive(Debug)]
pub struct InputQueue {
    pending: VecDeque<QueuedInput>,
    last_applied: u32,
    capacity: usize,
    /// Consecutive ticks that found more than one input due.
    backlog_ticks: u32,
    /// Inputs folded into a later one by the last [`InputQueue::take_for_tick`].
    folded: u32,
}

/// What happened to a pushed input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Push {
    /// Queued.
    Queued,
    /// Already applied or already queued.
    Duplicate,
    /// The queue was full: the oldest pending input was dropped to make room.
    Overflow,
}

impl InputQueue {
    /// An empty queue holding at most `capacity` inputs.
    pub fn new(capacity: usize) -> InputQueue {
        InputQueue {
            pending: VecDeque::with_capacity(capacity.min(64)),
            last_applied: 0,
            capacity: capacity.max(1),
            backlog_ticks: 0,
            folded: 0,
        }
    }

    /// The newest sequence number applied ([`seq::NONE`]: none yet).
    pub fn last_applied(&self) -> u32 {
        self.last_applied
    }

    /// Queues an input.
    pub fn push(&mut self, q: QueuedInput) -> Push {
        // 0 is never a sequence number; one not after the last applied was applied already.
        if q.seq == seq::NONE || seq::applied(q.seq, self.last_applied) {
            return Push::Duplicate;
        }
        let at = self
            .pending
            .partition_point(|p| seq::is_after(q.seq, p.seq));
        if self.pending.get(at).is_some_and(|p| p.seq == q.seq) {
            return Push::Duplicate;
        }
        self.pending.insert(at, q);
        if self.pending.len() > self.capacity {
            self.pending.pop_front();
            return Push::Overflow;
        }
        Push::Queued
    }

    /// A resumed client's next input is `next`: when that is not after the last applied
    /// number (it numbers from scratch, e.g. a reloaded page), its numbering starts over
    /// there, so its inputs are not refused as old; otherwise nothing changes (it sends
    /// again what it has not seen applied, and duplicates are still refused).
    pub fn continue_from(&mut self, next: u32) {
        if next != seq::NONE && seq::applied(next, self.last_applied) {
            self.pending.clear();
            self.backlog_ticks = 0;
            self.last_applied = next.wrapping_sub(1);
        }
    }

    /// Forgets the inputs waiting (a lost connection's): the last applied sequence number
    /// stays, so none of them can apply later as a duplicate either.
    pub fn clear_pending(&mut self) {
        self.pending.clear();
        self.backlog_ticks = 0;
    }

    /// Inputs the last [`InputQueue::take_for_tick`] folded into the one it returned.
    pub fn folded(&self) -> u32 {
        self.folded
    }

    /// The input to apply at tick `now`, if any is due.
    pub fn take_for_tick(&mut self, now: Tick) -> Option<PlayerInput> {
        self.folded = 0;
        // Inputs from the distant past or the far future are not playable.
        self.pending.retain(|p| {
            let late = now.is_after(p.tick) && now.since(p.tick) > MAX_LATE_TICKS;
            let early = p.tick.is_after(now) && p.tick.since(now) > MAX_LEAD_TICKS;
            !(late || early)
        });
        let due = self
            .pending
            .iter()
            .take_while(|p| !p.tick.is_after(now))
            .count();
        if due == 0 {
            self.backlog_ticks = 0;
            return None;
        }
        let mut keep = MAX_DUE_BACKLOG;
        if due > 1 {
            self.backlog_ticks += 1;
            if self.backlog_ticks > BACKLOG_PATIENCE {
                keep = 1;
                self.backlog_ticks = 0;
            }
        } else {
            self.backlog_ticks = 0;
        }
        let mut carried = Buttons::default();
        self.folded = due.saturating_sub(keep) as u32;
        for _ in 0..due.saturating_sub(keep) {
            let folded = self.pending.pop_front().expect("counted as due");
            carried = carried.union(folded.input.buttons);
        }
        let next = self.pending.pop_front().expect("at least one due");
        self.last_applied = next.seq;
        let mut input = next.input;
        input.buttons = input.buttons.union(carried);
        Some(input)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(seq: u32, tick: u32, x: f32) -> QueuedInput {
        let mut input = PlayerInput::default();
        input.move_dir.x = x;
        QueuedInput {
            seq,
            tick: Tick(tick),
            input,
        }
    }

    #[test]
    fn applies_each_sequence_number_once_in_order() {
        let mut iq = InputQueue::new(8);
        assert_eq!(iq.push(q(2, 10, 0.2)), Push::Queued);
        assert_eq!(iq.push(q(1, 10, 0.1)), Push::Queued);
        assert_eq!(iq.push(q(1, 10, 0.1)), Push::Duplicate);
        assert_eq!(iq.take_for_tick(Tick(10)).unwrap().move_dir.x, 0.1);
        assert_eq!(
            iq.push(q(1, 10, 0.1)),
            Push::Duplicate,
            "replay after apply"
        );
        assert_eq!(iq.take_for_tick(Tick(11)).unwrap().move_dir.x, 0.2);
        assert_eq!(iq.take_for_tick(Tick(12)), None);
        assert_eq!(iq.last_applied(), 2);
    }

    #[test]
    fn a_resume_continues_the_numbering_or_starts_it_over() {
        let mut iq = InputQueue::new(8);
        for s in 1..=5 {
            iq.push(q(s, 10, 0.1));
            iq.take_for_tick(Tick(10));
        }
        assert_eq!(iq.last_applied(), 5);
        // The client goes on with 6 (it had not seen 4 and 5 applied and sends them again):
        // nothing changes, 4 and 5 are still duplicates.
        iq.continue_from(6);
        assert_eq!(iq.last_applied(), 5);
        assert_eq!(iq.push(q(4, 11, 0.1)), Push::Duplicate);
        assert_eq!(iq.push(q(5, 11, 0.1)), Push::Duplicate);
        // A reloaded page numbers from 1 again: its inputs apply.
        iq.continue_from(1);
        assert_eq!(iq.push(q(1, 12, 0.7)), Push::Queued);
        assert_eq!(iq.take_for_tick(Tick(12)).unwrap().move_dir.x, 0.7);
        assert_eq!(iq.last_applied(), 1);
        // A client ahead of the server (inputs lost in flight, sent again): nothing
        // changes.
        iq.continue_from(9);
        assert_eq!(iq.last_applied(), 1);
    }

    #[test]
    fn future_inputs_wait_for_their_tick() {
        let mut iq = InputQueue::new(8);
        iq.push(q(1, 12, 0.5));
        assert_eq!(iq.take_for_tick(Tick(11)), None);
        assert!(iq.take_for_tick(Tick(12)).is_some());
    }

    #[test]
    fn a_late_backlog_is_folded_keeping_buttons() {
        let mut iq = InputQueue::new(16);
        let mut fire = q(1, 1, 0.1);
        fire.input.buttons = Buttons::FIRE;
        iq.push(fire);
        for s in 2..=5 {
            iq.push(q(s, s, 0.1 * s as f32));
        }
        // 5 due at tick 20: 3 are folded into the 4th, 1 left for the next tick.
        let got = iq.take_for_tick(Tick(20)).unwrap();
        assert_eq!(iq.folded(), 3);
        assert_eq!(got.move_dir.x, 0.4);
        assert!(got.buttons.contains(Buttons::FIRE));
        assert_eq!(iq.last_applied(), 4);
        assert_eq!(iq.take_for_tick(Tick(21)).unwrap().move_dir.x, 0.5);
    }

    #[test]
    fn a_lasting_backlog_is_shortened_so_latency_recovers() {
        let mut iq = InputQueue::new(16);
        // One late packet: inputs 1 and 2 are both due at tick 2, then one input per tick.
        iq.push(q(1, 1, 0.0));
        iq.push(q(2, 2, 0.0));
        let mut applied_at = Vec::new();
        for t in 2..40u32 {
            iq.push(q(t + 1, t + 1, 0.0));
            assert!(iq.take_for_tick(Tick(t)).is_some());
            applied_at.push((t, iq.last_applied()));
        }
        // The backlog of one holds for BACKLOG_PATIENCE ticks (every step applied, one tick
        // late), then one input is folded and each input applies at its own tick again.
        let lag = |(t, seq): &(u32, u32)| t - seq;
        assert!(applied_at[..BACKLOG_PATIENCE as usize]
            .iter()
            .all(|a| lag(a) == 1));
        assert!(
            applied_at[BACKLOG_PATIENCE as usize + 1..]
                .iter()
                .all(|a| lag(a) == 0),
            "{applied_at:?}"
        );
    }

    #[test]
    fn stale_and_far_future_inputs_are_dropped() {
        let mut iq = InputQueue::new(8);
        iq.push(q(1, 0, 0.1));
        iq.push(q(2, 1000, 0.2));
        assert_eq!(iq.take_for_tick(Tick(100)), None);
        assert_eq!(iq.take_for_tick(Tick(1000)), None);
    }

    #[test]
    fn sequence_numbers_apply_in_order_across_the_wrap() {
        let mut iq = InputQueue::new(8);
        // A client that starts near the top: its first numbers are not "old".
        let seqs = [u32::MAX - 1, u32::MAX, 1, 2];
        for (i, s) in seqs.iter().enumerate() {
            assert_eq!(iq.push(q(*s, 10 + i as u32, i as f32)), Push::Queued, "{s}");
        }
        for (i, s) in seqs.iter().enumerate() {
            let t = 10 + i as u32;
            assert_eq!(iq.take_for_tick(Tick(t)).unwrap().move_dir.x, i as f32);
            assert_eq!(iq.last_applied(), *s);
        }
        // Replays from before the wrap, and 0, never apply; the next number does.
        for old in [u32::MAX, u32::MAX - 1, 1, 2, 0] {
            assert_eq!(iq.push(q(old, 20, 9.0)), Push::Duplicate, "{old}");
        }
        assert_eq!(iq.push(q(3, 20, 0.5)), Push::Queued);
        // Out of order around the wrap: sorted in wrapping order.
        let mut iq = InputQueue::new(8);
        iq.push(q(1, 31, 0.2));
        iq.push(q(u32::MAX, 30, 0.1));
        assert_eq!(iq.take_for_tick(Tick(30)).unwrap().move_dir.x, 0.1);
        assert_eq!(iq.take_for_tick(Tick(31)).unwrap().move_dir.x, 0.2);
    }

    #[test]
    fn the_queue_is_bounded() {
        let mut iq = InputQueue::new(2);
        iq.push(q(1, 5, 0.0));
        iq.push(q(2, 5, 0.0));
        assert_eq!(iq.push(q(3, 5, 0.0)), Push::Overflow);
    }
}
