//! Interpolation of other entities: render them a little in the past, between two received
//! states, so they move smoothly whatever the network's jitter. Also the clock that maps
//! local time to server ticks, shared with input timing, and the render clock that says
//! which past moment is drawn.
//!
//! The delay behind the server adapts to the measured lateness of snapshots
//! ([`ServerClock::wanted_delay_ms`]) with hysteresis (up at once, down only after a few
//! calm seconds), and the [`RenderClock`] reaches a new delay by running slightly slower or
//! faster than real time (0.85x to 1.1x), so the render time never moves backwards and
//! never jumps. When it runs past the newest state (an underrun), movers are extrapolated
//! along their last motion for at most [`MAX_EXTRAPOLATION_MS`], then held (a stall).

use std::collections::VecDeque;

use glam::Vec2;

use crate::entity::{NetEntity, NetId};
use crate::replica::NetState;
use crate::tick::Tick;

/// States kept for interpolation at most.
const MAX_STATES: usize = 32;

/// Snapshot lateness samples kept (about 3 s at 30 Hz) for the delay choice.
const LATENESS_WINDOW: usize = 90;
/// The lateness quantile the delay covers (the rest is extrapolated).
const LATENESS_QUANTILE: f64 = 0.95;
/// Added to the wanted delay, ms.
const DELAY_MARGIN_MS: f64 = 10.0;
/// Smallest interpolation delay, ms (two states to interpolate between).
pub const MIN_DELAY_MS: f64 = 50.0;
/// Largest interpolation delay, ms.
pub const MAX_DELAY_MS: f64 = 400.0;
/// The delay in force comes down only when the wanted one is this much lower...
const DELAY_DOWN_MARGIN_MS: f64 = 15.0;
/// ...for this long, ms.
const DELAY_DOWN_AFTER_MS: f64 = 3000.0;
/// Slowest and fastest render clock rate, as a fraction of real time.
const MIN_RATE: f64 = 0.85;
const MAX_RATE: f64 = 1.10;
/// The render clock closes its distance to the target at this rate per ms of distance
/// (500 ms of distance: full speed up or slow down).
const RATE_GAIN_PER_MS: f64 = 1.0 / 500.0;
/// A render clock this far from its target (a tab in the background, a clock reset)
/// moves forward to it at once: a resync, counted, never a step back.
const RESYNC_MS: f64 = 1000.0;
/// Longest extrapolation past the newest state, ms; beyond it movers are held (a stall).
pub const MAX_EXTRAPOLATION_MS: f64 = 250.0;

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
    /// How late recent snapshots arrived after the earliest-arrival estimate, ms.
    lateness: VecDeque<f64>,
}

impl ServerClock {
    /// A clock for ticks of `dt_ms` milliseconds.
    #[must_use]
    pub fn new(dt_ms: f64) -> ServerClock {
        ServerClock {
            dt_ms,
            offset_ms: None,
            jitter_ms: 0.0,
            lateness: VecDeque::with_capacity(LATENESS_WINDOW),
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
                if self.lateness.len() == LATENESS_WINDOW {
                    self.lateness.pop_front();
                }
                self.lateness.push_back((-d).clamp(0.0, MAX_DELAY_MS));
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

    /// The interpolation delay the recent arrivals call for, ms: a tick (the next state is
    /// a tick away) plus the 95th percentile of how late snapshots came (the earliest
    /// arrivals set the clock), plus a margin, within [`MIN_DELAY_MS`]..[`MAX_DELAY_MS`].
    #[must_use]
    pub fn wanted_delay_ms(&self) -> f64 {
        let mut late: Vec<f64> = self.lateness.iter().copied().collect();
        let q = if late.is_empty() {
            0.0
        } else {
            late.sort_by(f64::total_cmp);
            let i = ((late.len() - 1) as f64 * LATENESS_QUANTILE).round() as usize;
            late[i.min(late.len() - 1)]
        };
        (self.dt_ms + q + DELAY_MARGIN_MS).clamp(MIN_DELAY_MS, MAX_DELAY_MS)
    }
}

/// Which past moment is drawn: the server's estimated time minus the interpolation delay,
/// advanced smoothly (see the module's documentation).
#[derive(Debug, Clone, Default)]
pub struct RenderClock {
    /// Render time, fractional ticks; `None` before the first frame with a clock.
    at: Option<f64>,
    last_now_ms: f64,
    /// Delay in force, ms (`None`: not chosen yet).
    delay_ms: Option<f64>,
    /// Since when the wanted delay has been lower than the one in force.
    lower_since: Option<f64>,
    /// Forward resyncs (the target was more than [`RESYNC_MS`] ahead).
    resyncs: u64,
}

impl RenderClock {
    /// A clock that has not rendered yet.
    #[must_use]
    pub fn new() -> RenderClock {
        RenderClock::default()
    }

    /// The render time for the frame at local time `now_ms`, fractional ticks (`None`
    /// before the server clock knows anything). Never less than the previous frame's.
    pub fn advance(&mut self, clock: &ServerClock, now_ms: f64) -> Option<f64> {
        let server_now = clock.server_tick(now_ms)?;
        let dt_ms = clock.dt_ms();
        let wanted = clock.wanted_delay_ms();
        let delay = match self.delay_ms {
            None => wanted,
            Some(d) if wanted > d => {
                self.lower_since = None;
                wanted
            }
            Some(d) if wanted < d - DELAY_DOWN_MARGIN_MS => {
                let since = *self.lower_since.get_or_insert(now_ms);
                if now_ms - since >= DELAY_DOWN_AFTER_MS {
                    self.lower_since = None;
                    wanted
                } else {
                    d
                }
            }
            Some(d) => {
                self.lower_since = None;
                d
            }
        };
        self.delay_ms = Some(delay);
        let target = server_now - delay / dt_ms;
        let at = match self.at {
            None => target,
            Some(at) => {
                let elapsed = (now_ms - self.last_now_ms).max(0.0) / dt_ms;
                let behind_ms = (target - at - elapsed) * dt_ms;
                if behind_ms > RESYNC_MS {
                    self.resyncs += 1;
                    target
                } else {
                    // Never backwards, never a jump: slower or faster, within bounds.
                    let rate = (1.0 + behind_ms * RATE_GAIN_PER_MS).clamp(MIN_RATE, MAX_RATE);
                    at + elapsed * rate
                }
            }
        };
        self.last_now_ms = now_ms;
        self.at = Some(at);
        Some(at)
    }

    /// The render time of the last frame, fractional ticks.
    #[must_use]
    pub fn at(&self) -> Option<f64> {
        self.at
    }

    /// The delay in force, ms (the wanted delay with hysteresis; the render time reaches
    /// it gradually).
    #[must_use]
    pub fn delay_ms(&self) -> f64 {
        self.delay_ms.unwrap_or(MIN_DELAY_MS)
    }

    /// Forward resyncs so far.
    #[must_use]
    pub fn resyncs(&self) -> u64 {
        self.resyncs
    }

    /// Starts over (a new session: the next frame takes the target as it is).
    pub fn reset(&mut self) {
        *self = RenderClock::default();
    }
}

/// How a sample covered its render time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Coverage {
    /// Between two states (or nothing received yet).
    Interpolated,
    /// Past the newest state by this many ms, movers extrapolated.
    Extrapolated(f64),
    /// Past the newest state by more than [`MAX_EXTRAPOLATION_MS`]: movers held there.
    Stalled,
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
    /// around it (entities present in only one use that one), clamped to the oldest state.
    /// Projectiles are placed exactly by their flight formula. `dt` is the tick length in
    /// seconds. Past the newest state, see [`Interpolator::sample_covered`].
    #[must_use]
    pub fn sample(&self, at: f64, dt: f32) -> Vec<Drawn<'_>> {
        self.sample_covered(at, dt).0
    }

    /// [`Interpolator::sample`], and how `at` was covered: past the newest state, players
    /// and pickups are extrapolated along their motion between the two newest states, for
    /// at most [`MAX_EXTRAPOLATION_MS`] (then held: a stall).
    #[must_use]
    pub fn sample_covered(&self, at: f64, dt: f32) -> (Vec<Drawn<'_>>, Coverage) {
        let Some((newest_tick, newest_state)) = self.states.back() else {
            return (Vec::new(), Coverage::Interpolated);
        };
        let newest = f64::from(newest_tick.0);
        if at > newest {
            let dt_ms = f64::from(dt) * 1000.0;
            let past_ms = (at - newest) * dt_ms;
            let (ahead, coverage) = if past_ms > MAX_EXTRAPOLATION_MS {
                (MAX_EXTRAPOLATION_MS / dt_ms, Coverage::Stalled)
            } else {
                (at - newest, Coverage::Extrapolated(past_ms))
            };
            let prev = self
                .states
                .len()
                .checked_sub(2)
                .map(|i| &self.states[i])
                .filter(|(t, _)| newest_tick.since(*t) <= 3);
            let ahead_tick = Tick(newest_tick.0.wrapping_add(ahead.floor() as u32));
            let sub = (ahead - ahead.floor()) as f32;
            let drawn = newest_state
                .iter()
                .map(|(id, e)| {
                    let pos = match e {
                        NetEntity::Projectile(p) => {
                            p.position_at(ahead_tick, dt) + p.vel.to_vec2() * (sub * dt)
                        }
                        other => {
                            let here = other.position_at(*newest_tick, dt);
                            let before = prev.and_then(|(t, st)| {
                                let i = st.binary_search_by_key(id, |(i, _)| *i).ok()?;
                                Some((newest_tick.since(*t).max(1), st[i].1.position_at(*t, dt)))
                            });
                            match before {
                                // A jump (a respawn) is not a motion to continue.
                                Some((span, b)) if here.distance(b) < 64.0 * span as f32 => {
                                    here + (here - b) * (ahead as f32 / span as f32)
                                }
                                _ => here,
                            }
                        }
                    };
                    Drawn {
                        id: *id,
                        pos,
                        entity: e,
                    }
                })
                .collect();
            return (drawn, coverage);
        }
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
        let drawn = match next {
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
        };
        (drawn, Coverage::Interpolated)
    }

    /// Living players other than `me` at the moment `at` (a tick plus 256ths), exactly as
    /// the server's lag compensation places them ([`crate::sim::rewind::seen_players`]):
    /// between the states of ticks `at.tick` and `at.tick + 1`, for players alive in both
    /// in the same life. When one of those two states was not received (a skipped
    /// snapshot), the nearest held states stand in (an approximation).
    #[must_use]
    pub fn players_at(&self, at: crate::sim::rewind::ViewTime, me: NetId) -> Vec<(NetId, Vec2)> {
        let find = |t: Tick| {
            self.states
                .iter()
                .rev()
                .find(|(s, _)| !s.is_after(t))
                .map(|(_, st)| st)
        };
        let (Some(a), b) = (find(at.tick), find(at.tick.next())) else {
            return Vec::new();
        };
        let b = if at.sub == 0 { a } else { b.unwrap_or(a) };
        let frac = f32::from(at.sub) / crate::sim::rewind::SUB as f32;
        let mut out = Vec::new();
        for (id, e) in a.iter() {
            let NetEntity::Player(pa) = e else { continue };
            if *id == me || pa.respawn_at.is_some() {
                continue;
            }
            let Ok(j) = b.binary_search_by_key(id, |(i, _)| *i) else {
                continue;
            };
            let NetEntity::Player(pb) = &b[j].1 else {
                continue;
            };
            if pb.respawn_at.is_some() || pb.deaths != pa.deaths {
                continue;
            }
            let (qa, qb) = (pa.pos.to_vec2(), pb.pos.to_vec2());
            out.push((*id, if at.sub == 0 { qa } else { qa.lerp(qb, frac) }));
        }
        out
    }

    /// Ticks held (oldest, newest).
    #[must_use]
    pub fn span(&self) -> Option<(Tick, Tick)> {
        Some((self.states.front()?.0, self.states.back()?.0))
    }
}
