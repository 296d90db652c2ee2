//! Client-side prediction of the player's own avatar: apply each input locally the moment
//! it is sent, and on every snapshot start again from the server's state, replaying the
//! inputs the server has not applied yet. A visible correction is smoothed, not snapped.
//!
//! The predicted state is the simulation's own [`Motion`] (position and ability timers),
//! advanced by the simulation's own [`advance`] with each input at the tick it is meant
//! for (the tick the server applies it at), and reconciled with the [`Motion`] the server
//! replicates ([`crate::entity::PlayerNet::motion`]).
//!
//! Contact is predicted: after each input's step the own player yields to the other
//! players where the client drew them when it sent that input (its view time, which the
//! input carries), exactly as the server resolves it ([`crate::sim::rewind::yield_to`]).
//! Those are interpolated positions, not extrapolated ones: the server holds the same past
//! states, so it reproduces them exactly, while a guess at where others are now would
//! disagree whenever one of them turns.
//!
//! Dead is dead: nothing is predicted while the own player is dead (its inputs still go
//! out and are still reconciled), and coming back to life is a teleport: snapped, counted
//! apart ([`Predictor::teleports`]), never a correction. A residual correction is blended
//! out as a render offset that decays over about 100 ms ([`Predictor::smooth`]).

use std::collections::VecDeque;

use glam::Vec2;

use crate::config::SimConfig;
use crate::entity::NetId;
use crate::input::PlayerInput;
use crate::map::Map;
use crate::sim::movement::{advance, Motion};
use crate::sim::rewind::{yield_to, ViewTime};
use crate::tick::Tick;

/// Inputs kept for replay at most (about 4 s at 30 Hz); older ones are dropped.
pub const MAX_PENDING: usize = 128;

/// Corrections larger than this many units are snapped (a respawn, a teleport).
pub const SNAP_DISTANCE: f32 = 120.0;

/// A correction is blended out over this long, seconds: the drawn player moves towards the
/// prediction at a steady speed (the smallest per-frame move for the time taken).
pub const BLEND_S: f32 = 0.1;

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

/// The other players as the client saw them, for predicting contact: `me`, and where the
/// others were at a view time (sorted by id, e.g.
/// [`crate::replica::interpolation::Interpolator::players_at`]).
pub struct Contact<'a> {
    /// The own player.
    pub me: NetId,
    /// The other living players at a view time.
    pub seen: &'a dyn Fn(ViewTime) -> Vec<(NetId, Vec2)>,
}

/// The own player's predicted motion.
#[derive(Debug, Clone)]
pub struct Predictor {
    pending: VecDeque<PendingInput>,
    predicted: Option<Motion>,
    /// What is still to be smoothed away: rendered = predicted + offset.
    offset: Vec2,
    /// How fast the offset is blended out, units per second.
    blend_speed: f32,
    corrections: u64,
    teleports: u64,
    last_error: f32,
    /// Whether the own player was alive at the last snapshot.
    alive: bool,
}

impl Default for Predictor {
    fn default() -> Self {
        Predictor {
            pending: VecDeque::new(),
            predicted: None,
            offset: Vec2::ZERO,
            blend_speed: 0.0,
            corrections: 0,
            teleports: 0,
            last_error: 0.0,
            alive: true,
        }
    }
}

/// One predicted step: the simulation's [`advance`], then contact as the client saw it.
fn step(
    m: &Motion,
    p: &PendingInput,
    config: &SimConfig,
    map: &Map,
    contact: Option<&Contact<'_>>,
) -> Motion {
    let mut next = advance(m, &p.input, p.tick, config, map);
    if let (Some(c), Some(view)) = (contact, p.input.view) {
        let others = (c.seen)(view);
        if let Some(pos) = yield_to(next.pos, c.me, &others, config, map) {
            next.pos = pos;
        }
    }
    next
}

impl Predictor {
    /// A predictor with no state yet (the first snapshot provides it).
    #[must_use]
    pub fn new() -> Predictor {
        Predictor::default()
    }

    /// Records input `seq`, meant for server tick `tick`, as sent and applies it to the
    /// prediction at once (not while dead), with contact when `contact` is given.
    pub fn on_input(
        &mut self,
        seq: u32,
        tick: Tick,
        input: PlayerInput,
        config: &SimConfig,
        map: &Map,
        contact: Option<&Contact<'_>>,
    ) {
        let pending = PendingInput { seq, tick, input };
        self.pending.push_back(pending);
        while self.pending.len() > MAX_PENDING {
            self.pending.pop_front();
        }
        if let (Some(m), true) = (self.predicted, self.alive) {
            self.predicted = Some(step(&m, &pending, config, map, contact));
        }
    }

    /// Reconciles with the server: `server` is the own player's motion in a snapshot that
    /// has applied every input up to `last_input_seq` ([`crate::entity::PlayerNet::motion`]);
    /// `alive` is false while dead (no movement is predicted then). Returns the correction's
    /// size in units (0 when the predicted position was right, while dead, and at a
    /// respawn: a teleport).
    pub fn on_snapshot(
        &mut self,
        server: Motion,
        last_input_seq: u32,
        alive: bool,
        config: &SimConfig,
        map: &Map,
        contact: Option<&Contact<'_>>,
    ) -> f32 {
        while self
            .pending
            .front()
            .is_some_and(|p| crate::seq::applied(p.seq, last_input_seq))
        {
            self.pending.pop_front();
        }
        let was_alive = self.alive;
        self.alive = alive;
        if !alive || !was_alive {
            // Dead: nothing is predicted, the player is where the server says. Back to
            // life: a teleport to the spawn point, snapped.
            if alive && self.predicted.is_some() {
                self.teleports += 1;
            }
            let mut m = server;
            if alive {
                for p in &self.pending {
                    m = step(&m, p, config, map, contact);
                }
            }
            self.predicted = Some(m);
            self.offset = Vec2::ZERO;
            self.last_error = 0.0;
            return 0.0;
        }
        let mut m = server;
        for p in &self.pending {
            m = step(&m, p, config, map, contact);
        }
        let error = match self.predicted {
            Some(old) => old.pos - m.pos,
            None => Vec2::ZERO,
        };
        let size = error.length();
        if size > SNAP_DISTANCE {
            // Too far to blend (a teleport by the server): snapped, counted apart.
            self.teleports += 1;
            self.offset = Vec2::ZERO;
        } else if size > 0.0 {
            self.corrections += 1;
            self.offset += error;
            self.blend_speed = self.offset.length() / BLEND_S;
        }
        self.last_error = size;
        self.predicted = Some(m);
        size
    }

    /// Blends the smoothing offset out over `dt_s` seconds of rendering: a correction fades
    /// at a steady speed in [`BLEND_S`] (a 6.6-unit step moves the drawn player about 1.1
    /// units a frame at 60 frames a second, for 100 ms).
    pub fn smooth(&mut self, dt_s: f32) {
        let len = self.offset.length();
        let step = self.blend_speed * dt_s.max(0.0);
        if len <= step || len < 1e-3 {
            self.offset = Vec2::ZERO;
            self.blend_speed = 0.0;
        } else {
            self.offset *= (len - step) / len;
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

    /// Teleports so far: respawns and corrections too large to blend, snapped.
    #[must_use]
    pub fn teleports(&self) -> u64 {
        self.teleports
    }

    /// Corrections so far (snapshots that disagreed with the prediction, teleports apart).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_correction_is_blended_out_at_a_steady_speed_in_100_ms() {
        let config = SimConfig::default();
        let map = Map::open("t", 1000.0);
        let mut p = Predictor::new();
        let at = |x: f32| Motion {
            pos: Vec2::new(x, 500.0),
            ..Motion::default()
        };
        assert_eq!(p.on_snapshot(at(500.0), 0, true, &config, &map, None), 0.0);
        // The server says 6 units further: the prediction jumps, the drawn player not.
        assert_eq!(p.on_snapshot(at(506.0), 0, true, &config, &map, None), 6.0);
        assert_eq!(p.rendered(), Some(Vec2::new(500.0, 500.0)));
        let mut last = 500.0;
        for _ in 0..6 {
            p.smooth(1.0 / 60.0);
            let x = p.rendered().unwrap().x;
            assert!((x - last - 1.0).abs() < 1e-3, "{last} -> {x}");
            last = x;
        }
        assert_eq!(
            p.rendered(),
            Some(Vec2::new(506.0, 500.0)),
            "gone in 100 ms"
        );
        assert_eq!((p.corrections(), p.teleports()), (1, 0));
        // Far beyond blending: snapped and counted as a teleport.
        assert_eq!(
            p.on_snapshot(at(900.0), 0, true, &config, &map, None),
            394.0
        );
        assert_eq!(p.rendered(), Some(Vec2::new(900.0, 500.0)));
        assert_eq!((p.corrections(), p.teleports()), (1, 1));
        // Dead: nothing predicted, no correction; back to life: one teleport.
        let walk = PlayerInput {
            move_dir: Vec2::X,
            ..PlayerInput::default()
        };
        assert_eq!(p.on_snapshot(at(100.0), 0, false, &config, &map, None), 0.0);
        p.on_input(1, Tick(5), walk, &config, &map, None);
        assert_eq!(
            p.predicted(),
            Some(Vec2::new(100.0, 500.0)),
            "not while dead"
        );
        assert_eq!(p.on_snapshot(at(300.0), 0, true, &config, &map, None), 0.0);
        assert_eq!((p.corrections(), p.teleports()), (1, 2));
        assert!(
            p.predicted().unwrap().x > 300.0,
            "the pending input replays once alive"
        );
    }
}
