//! Client-side prediction of the player's own avatar: apply each input locally the moment
//! it is sent, and on every snapshot start again from the server's state, replaying the
//! inputs the server has not applied yet. A visible correction is smoothed, not snapped.

use std::collections::VecDeque;

use glam::Vec2;

use crate::config::SimConfig;
use crate::input::PlayerInput;
use crate::map::Map;
use crate::sim::movement::move_player;

/// Inputs kept for replay at most (about 4 s at 30 Hz); older ones are dropped.
pub const MAX_PENDING: usize = 128;

/// Corrections larger than this many units are snapped (a respawn, a teleport).
pub const SNAP_DISTANCE: f32 = 120.0;

/// The own player's predicted position.
#[derive(Debug, Clone, Default)]
pub struct Predictor {
    pending: VecDeque<(u32, PlayerInput)>,
    predicted: Option<Vec2>,
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

    /// Records input `seq` as sent and applies it to the prediction at once.
    pub fn on_input(&mut self, seq: u32, input: PlayerInput, config: &SimConfig, map: &Map) {
        self.pending.push_back((seq, input));
        while self.pending.len() > MAX_PENDING {
            self.pending.pop_front();
        }
        if let Some(p) = self.predicted {
            self.predicted = Some(move_player(p, &input, config, map));
        }
    }

    /// Reconciles with the server: `server_pos` is the own player's position in a snapshot
    /// that has applied every input up to `last_input_seq`; `alive` is false while dead (no
    /// movement is predicted then). Returns the correction's size in units (0 when the
    /// prediction was right).
    pub fn on_snapshot(
        &mut self,
        server_pos: Vec2,
        last_input_seq: u32,
        alive: bool,
        config: &SimConfig,
        map: &Map,
    ) -> f32 {
        while self
            .pending
            .front()
            .is_some_and(|(s, _)| crate::seq::applied(*s, last_input_seq))
        {
            self.pending.pop_front();
        }
        let mut p = server_pos;
        if alive {
            for (_, input) in &self.pending {
                p = move_player(p, input, config, map);
            }
        }
        let error = match self.predicted {
            Some(old) => old - p,
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
        self.predicted = Some(p);
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
        self.predicted
    }

    /// Where to draw the own player: the prediction plus what is left of corrections.
    #[must_use]
    pub fn rendered(&self) -> Option<Vec2> {
        self.predicted.map(|p| p + self.offset)
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
}
