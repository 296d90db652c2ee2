//! One player's queue of inputs waiting for their tick.
//!
//! Rules (all deterministic, applied by the tick):
//! - an input applies at the tick it is meant for, or as soon as possible if it arrives late;
//! - duplicate or old sequence numbers never apply (a sequence number applies at most once);
//! - at most [`MAX_DUE_BACKLOG`] late inputs are kept: older late ones are folded into the
//!   next (their buttons carry over, their movement is superseded), so a client that fell
//!   behind catches up instead of lagging for ever;
//! - inputs for ticks too far ahead, or too far behind, are dropped;
//! - no input due: the player's last input stays in force (the simulation repeats it).

use std::collections::VecDeque;

use tickwire_shared::input::Buttons;
use tickwire_shared::{PlayerInput, Tick};

/// Late inputs kept at most; the rest are folded.
pub const MAX_DUE_BACKLOG: usize = 2;
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

/// A player's pending inputs, ordered by sequence number.
#[derive(Debug)]
pub struct InputQueue {
    pending: VecDeque<QueuedInput>,
    last_applied: u32,
    capacity: usize,
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
        }
    }

    /// The newest sequence number applied (0: none yet).
    pub fn last_applied(&self) -> u32 {
        self.last_applied
    }

    /// Queues an input.
    pub fn push(&mut self, q: QueuedInput) -> Push {
        if q.seq <= self.last_applied {
            return Push::Duplicate;
        }
        let at = self.pending.partition_point(|p| p.seq < q.seq);
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

    /// The input to apply at tick `now`, if any is due.
    pub fn take_for_tick(&mut self, now: Tick) -> Option<PlayerInput> {
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
            return None;
        }
        let mut carried = Buttons::default();
        for _ in 0..due.saturating_sub(MAX_DUE_BACKLOG) {
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
        assert_eq!(got.move_dir.x, 0.4);
        assert!(got.buttons.contains(Buttons::FIRE));
        assert_eq!(iq.last_applied(), 4);
        assert_eq!(iq.take_for_tick(Tick(21)).unwrap().move_dir.x, 0.5);
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
    fn the_queue_is_bounded() {
        let mut iq = InputQueue::new(2);
        iq.push(q(1, 5, 0.0));
        iq.push(q(2, 5, 0.0));
        assert_eq!(iq.push(q(3, 5, 0.0)), Push::Overflow);
    }
}
