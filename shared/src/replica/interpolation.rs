//! Interpolation of other entities: render them a little in the past, between two received
//! states, so they move smoothly whatever the network's jitter. Also the clock that maps
//! local time to server ticks, shared with input timing.

use std::collections::VecDeque;

use glam::Vec2;

use crate::entity::{NetEntity, NetId};
use crate::replica::NetState;
use crate::tick::Tick;

/// States kept for interpolation at most.
const MAX_STATES: usize = 32;

/// Estimates the server's current tick from snapshot arrival times.
///
/// Each arrival gives a sample of `tick * dt - arrival_time`; the estimate follows the
/// earliest-arriving samples (least delayed by the network) quickly and later ones slowly,
/// so jitter does not drag it around, and jitter itself is measured for the delay choice.
#[derive(Debug, Clone, Default)]
pub struct ServerClock {
    dt_ms: f64,
    /// `server_time_ms - local_time_ms`, filtered.
    offset_ms: Option<f64>,
    /// Mean absolute deviation of arrivals, ms.
    jitter_ms: f64,
}

impl ServerClock {
    /// A clock for ticks of `dt_ms` milliseconds.
    #[must_use]
    pub fn new(dt_ms: f64) -> ServerClock {
        ServerClock {
            dt_ms,
            offset_ms: None,
            jitter_ms: 0.0,
        }
    }

    /// Notes that the snapshot of `tick` arrived at local time `now_ms`.
    pub fn on_snapshot(&mut self, tick: Tick, now_ms: f64) {
        let sample = f64::from(tick.0) * self.dt_ms - now_ms;
        match self.offset_ms {
            None => self.offset_ms = Some(sample),
            Some(o) => {
                let d = sample - o;
                self.jitter_ms += (d.abs() - self.jitter_ms) * 0.1;
                // Way off (a stall, a tab in the background): start again.
                let next = if d.abs() > 1000.0 {
                    sample
                } else if d > 0.0 {
                    o + d * 0.5
                } else {
                    o + d * 0.05
                };
                self.offset_ms = Some(next);
            }
        }
    }

    /// The server's tick at local time `now_ms`, fractional (`None` before any snapshot).
    #[must_use]
    pub fn server_tick(&self, now_ms: f64) -> Option<f64> {
        self.offset_ms.map(|o| (now_ms + o) / self.dt_ms)
    }

    /// Measured arrival jitter, ms.
    #[must_use]
    pub fn jitter_ms(&self) -> f64 {
        self.jitter_ms
    }

    /// Milliseconds per tick.
    #[must_use]
    pub fn dt_ms(&self) -> f64 {
        self.dt_ms
    }
}

/// An entity as drawn: interpolated position plus its newest replicated view.
#[derive(Debug, Clone)]
pub struct Drawn<'a> {
    /// Network id.
    pub id: NetId,
    /// Position at the render time.
    pub pos: Vec2,
    /// Replicated state (of the newer of the two states interpolated).
    pub entity: &'a NetEntity,
}

/// A buffer of received states, sampled at `server time - delay`.
#[derive(Debug, Clone, Default)]
pub struct Interpolator {
    states: VecDeque<(Tick, NetState)>,
}

impl Interpolator {
    /// An empty buffer.
    #[must_use]
    pub fn new() -> Interpolator {
        Interpolator::default()
    }

    /// Adds a received state (ticks in increasing order).
    pub fn push(&mut self, tick: Tick, state: NetState) {
        if self.states.back().is_some_and(|(t, _)| !tick.is_after(*t)) {
            return;
        }
        self.states.push_back((tick, state));
        while self.states.len() > MAX_STATES {
            self.states.pop_front();
        }
    }

    /// The entities at fractional tick `at`: positions interpolated between the two states
    /// around it (entities present in only one use that one), clamped to the oldest and
    /// newest states. Projectiles are placed exactly by their flight formula. `dt` is the
    /// tick length in seconds.
    #[must_use]
    pub fn sample(&self, at: f64, dt: f32) -> Vec<Drawn<'_>> {
        let Some((newest_tick, _)) = self.states.back() else {
            return Vec::new();
        };
        let newest = f64::from(newest_tick.0);
        let at = at.min(newest);
        // The pair (a, b) with a.tick <= at < b.tick, or the newest state alone.
        let mut a = self.states.len() - 1;
        while a > 0 && f64::from(self.states[a].0 .0) > at {
            a -= 1;
        }
        let (ta, sa) = &self.states[a];
        let next = self.states.get(a + 1);
        let frac = match next {
            Some((tb, _)) => {
                let span = f64::from(tb.since(*ta)).max(1.0);
                ((at - f64::from(ta.0)) / span).clamp(0.0, 1.0) as f32
            }
            None => 0.0,
        };
        let at_tick = Tick(at.max(0.0).floor() as u32);
        let sub = (at - at.floor()) as f32;
        let place = |e: &NetEntity| match e {
            NetEntity::Projectile(p) => p.position_at(at_tick, dt) + p.vel.to_vec2() * (sub * dt),
            other => other.position_at(at_tick, dt),
        };
        match next {
            None => sa
                .iter()
                .map(|(id, e)| Drawn {
                    id: *id,
                    pos: place(e),
                    entity: e,
                })
                .collect(),
            Some((_, sb)) => sb
                .iter()
                .map(|(id, e)| {
                    let pos = match (e, sa.binary_search_by_key(id, |(i, _)| *i)) {
                        (NetEntity::Projectile(_), _) => place(e),
                        (_, Ok(i)) => place(&sa[i].1).lerp(place(e), frac),
                        (_, Err(_)) => place(e),
                    };
                    Drawn {
                        id: *id,
                        pos,
                        entity: e,
                    }
                })
                .collect(),
        }
    }

    /// Ticks held (oldest, newest).
    #[must_use]
    pub fn span(&self) -> Option<(Tick, Tick)> {
        Some((self.states.front()?.0, self.states.back()?.0))
    }
}
