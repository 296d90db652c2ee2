//! Client-side prediction of the player's own avatar: apply each input locally the moment
//! it is sent, and on every snapshot start again from the server's state, replaying the
//! inputs the server has not applied yet. A visible correction is smoothed, not snapped.
//!
//! The predicted state is the simulation's own [`Motion`] (position and ability timers),
//! advanced by the simulation's own [`advance`] with each input at the tick it is meant
//! for (the tick the server applies it at), and reconciled with the [`Motion`] the server
//! replicates ([`crate::entity::PlayerNet::motion`]).

use std::collections::VecDeque;

use glam::Vec2;

use crate::config::SimConfig;
use crate::input::PlayerInput;
use crate::map::Map;
use crate::sim::movement::{advance, Motion};
use crate::tick::Tick;

/// Inputs kept for replay at most (about 4 s at 30 Hz); older ones are dropped.
pub const MAX_PENDING: usize = 128;

/// Corrections larger than this many units are snapped (a respawn, a teleport).
pub const SNAP_DISTANCE: f32 = 120.0;

/// An input sent and not yet applied by the server.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PendingInput {
    /// Its sequence number.
    pub seq: u32,
    /// The server tick it is meant for (the server applies it then, or as soon as it can).
    pub tick: Tick,
    /// The simulation input.
    pub input: PlayerInput,
}

/// The own player's predicted motion.
#[derive(Debug, Clone, Default)]
pub struct Predictor {
    pending: VecDeque<PendingInput>,
    predicted: Option<Motion>,
    /// What is still to be smoothed away: rendered = predicted + offset.
    offset: Vec2,
    corrections: u64,
    last_error: f32,
}

impl Predictor {
    /// A predictor with no state yet (the first snapshot provides it).
    #[must_use]
    pub fn new() -> Predictor {
        Predictor::default()
    }

    /// Records input `seq`, meant for server tick `tick`, as sent and applies it to the
    /// prediction at once.
    pub fn on_input(
        &mut self,
        seq: u32,
        tick: Tick,
        input: PlayerInput,
        config: &SimConfig,
        map: &Map,
    ) {
        self.pending.push_back(PendingInput { seq, tick, input });
        while self.pending.len() > MAX_PENDING {
            self.pending.pop_front();
        }
        if let Some(m) = self.predicted {
            self.predicted = Some(advance(&m, &input, tick, config, map));
        }
    }

    /// Reconciles with the server: `server` is the own player's motion in a snapshot that
    /// has applied every input up to `last_input_seq` ([`crate::entity::PlayerNet::motion`]);
    /// `alive` is false while dead (no movement is predicted then). Returns the correction's
    /// size in units (0 when the predicted position was right).
    pub fn on_snapshot(
        &mut self,
        server: Motion,
        last_input_seq: u32,
        alive: bool,
        config: &SimConfig,
        map: &Map,
    ) -> f32 {
        while self
            .pending
            .front()
            .is_some_and(|p| crate::seq::applied(p.seq, last_input_seq))
        {
            self.pending.pop_front();
        }
        let mut m = server;
        if alive {
            for p in &self.pending {
                m = advance(&m, &p.input, p.tick, config, map);
            }
        }
        let error = match self.predicted {
            Some(old) => old.pos - m.pos,
            None => Vec2::ZERO,
        };
        let size = error.length();
        if size > 0.0 {
            self.corrections += 1;
            if size > SNAP_DISTANCE || !alive {
                self.offset = Vec2::ZERO;
            } else {
                self.offset += error;
            }
        }
        self.last_error = size;
        self.predicted = Some(m);
        size
    }

    /// Decays the smoothing offset over `dt_s` seconds of rendering (about 100 ms to fade).
    pub fn smooth(&mut self, dt_s: f32) {
        let k = (-dt_s.max(0.0) * 20.0).exp();
        self.offset *= k;
        if self.offset.length_squared() < 1e-4 {
            self.offset = Vec2::ZERO;
        }
    }

    /// The predicted position (unsmoothed), once known.
    #[must_use]
    pub fn predicted(&self) -> Option<Vec2> {
        self.predicted.map(|m| m.pos)
    }

    /// The whole predicted motion state (position and ability timers), once known.
    #[must_use]
    pub fn motion(&self) -> Option<&Motion> {
        self.predicted.as_ref()
    }

    /// Where to draw the own player: the prediction plus what is left of corrections.
    #[must_use]
    pub fn rendered(&self) -> Option<Vec2> {
        self.predicted.map(|m| m.pos + self.offset)
    }

    /// Corrections so far (snapshots that disagreed with the prediction).
    #[must_use]
    pub fn corrections(&self) -> u64 {
        self.corrections
    }

    /// Size of the last correction, units.
    #[must_use]
    pub fn last_error(&self) -> f32 {
        self.last_error
    }

    /// Inputs sent but not yet applied by the server.
    #[must_use]
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Those inputs, oldest first, each with the tick it is meant for.
    pub fn pending_inputs(&self) -> impl Iterator<Item = &PendingInput> {
        self.pending.iter()
    }
}
