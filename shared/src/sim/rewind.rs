//! Lag compensation: shots are judged against where the shooter saw its targets.
//!
//! A client draws other players in the past, at its render time (interpolation, see
//! [`crate::replica::interpolation`]), and says which in every input ([`ViewTime`]). When a
//! player fires, its projectile keeps the shooter's *lag*: how far the tick after the shot
//! (the projectile's first tick, where the shooter's own screen starts drawing it) is ahead
//! of what the shooter saw, in 1/256 ticks, at most `max_rewind_s` ([`lag`], 350 ms by default). For its whole
//! flight, the projectile is tested against every player where that player was `lag`
//! earlier ([`victim`]), interpolated between two recorded ticks exactly as the client
//! interpolates them: the shooter's screen shows the projectile at tick `t` next to the
//! targets at `t - lag`, and the server compares the same pair. Walls stay where they are.
//!
//! The target's side: the rewind is bounded (`max_rewind_s`), so a
//! target can be hit at most that long after it left a place (behind a wall, say), and a
//! shooter with a longer lag must lead its targets by the excess; a rewound position counts
//! only in the same life of the target (a target that died, or respawned, since is never
//! hit where it was before), and only living targets are hit at all, as without a rewind.
//! This favours the shooter within the bound, as Source's and Overwatch's lag compensation
//! do.
//!
//! Deterministic: the history is recorded from the world at the end of every step
//! ([`Rewind::record`]), kept in the [`World`] and covered by its hash; lags are fixed
//! point.

use std::collections::VecDeque;

use bincode::{Decode, Encode};
use glam::Vec2;

use crate::entity::{EntityId, EntityKind, NetId};
use crate::tick::Tick;
use crate::world::World;

/// Sub-tick resolution of view times and lags.
pub const SUB: u32 = 256;
/// Longest rewind whatever the configuration, ticks (the lag fits a `u16`).
pub const MAX_REWIND_TICKS: u32 = 200;

/// The moment a client draws others at: a tick plus `sub / 256` of the next.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    Encode,
    Decode,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct ViewTime {
    /// The whole tick.
    pub tick: Tick,
    /// Fraction towards the next tick, in 1/256.
    pub sub: u8,
}

impl ViewTime {
    /// A fractional tick as a view time (negative: tick 0).
    #[must_use]
    pub fn from_ticks(at: f64) -> ViewTime {
        let at = if at.is_finite() { at.max(0.0) } else { 0.0 };
        let whole = at.floor();
        ViewTime {
            tick: Tick(whole as u32),
            sub: ((at - whole) * f64::from(SUB)).floor().clamp(0.0, 255.0) as u8,
        }
    }
}

/// The lag of a shot fired at `fire_tick` by a shooter who saw `view`: from `view` to the
/// projectile's first tick (`fire_tick + 1`), in 1/256 ticks, clamped to `0..=max_ticks`
/// ticks. No view (an old client, a bot): 0, judged against the present.
#[must_use]
pub fn lag(fire_tick: Tick, view: Option<ViewTime>, max_ticks: u32) -> u16 {
    let Some(v) = view else {
        return 0;
    };
    let first = fire_tick.next();
    if v.tick.is_after(first) {
        return 0;
    }
    let whole = i64::from(first.since(v.tick));
    let l = whole * i64::from(SUB) - i64::from(v.sub);
    let max = i64::from(max_ticks.min(MAX_REWIND_TICKS) * SUB);
    l.clamp(0, max) as u16
}

/// One recorded tick: every living player's position and life (its death count).
type Frame = (Tick, Vec<(EntityId, NetId, Vec2, u16)>);

/// The recent positions of living players, for rewinds (in the world's hash through its
/// `Serialize`).
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Rewind {
    frames: VecDeque<Frame>,
}

impl Rewind {
    /// Records the world as it is at the end of a step (labelled `world.tick`, the tick of
    /// the snapshot that shows it), keeping `max_rewind_s` of ticks and one more.
    pub fn record(world: &mut World) {
        let keep = (world.config.ticks(world.config.max_rewind_s) + 2) as usize;
        let mut frame = if world.rewind.frames.len() >= keep {
            world
                .rewind
                .frames
                .pop_front()
                .map(|(_, v)| v)
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        frame.clear();
        frame.extend(world.entities.iter().filter_map(|(id, e)| match &e.kind {
            EntityKind::Player(p) if p.alive() => Some((id, e.net_id, e.pos, p.deaths)),
            _ => None,
        }));
        frame.sort_unstable_by_key(|(id, _, _, _)| *id);
        world.rewind.frames.push_back((world.tick, frame));
        while world.rewind.frames.len() > keep {
            world.rewind.frames.pop_front();
        }
    }

    /// Where living player `id` was at recorded tick `tick`: its network id, position and
    /// life then.
    fn life_at(&self, id: EntityId, tick: Tick) -> Option<(NetId, Vec2, u16)> {
        let newest = self.frames.back()?.0;
        if tick.is_after(newest) {
            return None;
        }
        let back = newest.since(tick) as usize;
        let i = self.frames.len().checked_sub(1 + back)?;
        let (t, frame) = &self.frames[i];
        if *t != tick {
            return None;
        }
        let j = frame.binary_search_by_key(&id, |(i, _, _, _)| *i).ok()?;
        let (_, net, pos, d) = frame[j];
        Some((net, pos, d))
    }

    /// Where living player `id` (in life `deaths`) was at recorded tick `tick`.
    fn at_tick(&self, id: EntityId, deaths: u16, tick: Tick) -> Option<Vec2> {
        self.life_at(id, tick)
            .and_then(|(_, pos, d)| (d == deaths).then_some(pos))
    }
}

/// Where living player `id` was `lag` (1/256 ticks) before `now` (the tick its current
/// position is labelled with), between the two recorded ticks around that moment; `None`
/// when it was not alive in this same life then.
fn rewound(world: &World, id: EntityId, now: Tick, lag: u16) -> Option<Vec2> {
    let e = world.entities.get(id)?;
    let EntityKind::Player(p) = &e.kind else {
        return None;
    };
    if !p.alive() {
        return None;
    }
    let at = |t: Tick| {
        if t == now {
            Some(e.pos)
        } else {
            world.rewind.at_tick(id, p.deaths, t)
        }
    };
    let lag = u32::from(lag);
    let (whole, sub) = (lag.div_ceil(SUB), (SUB - lag % SUB) % SUB);
    // The moment is `now - whole + sub / 256`: between ticks `a` and `a + 1`.
    let a = now.minus(whole);
    let pa = at(a)?;
    if sub == 0 {
        return Some(pa);
    }
    let pb = at(a.next())?;
    Some(pa.lerp(pb, sub as f32 / SUB as f32))
}

/// The first living player other than `owner` within `radius` of `at`, with every player
/// where it was `lag` before `now` (the tick the players' current positions are labelled
/// with): see the module's documentation. Candidates come in the grid's order, so the
/// answer is deterministic. The world's player grid must be fresh.
#[must_use]
pub fn victim(
    world: &World,
    at: Vec2,
    radius: f32,
    owner: NetId,
    now: Tick,
    lag: u16,
) -> Option<EntityId> {
    let mut found = None;
    if lag == 0 {
        world.grid.query(at, radius, |other, _| {
            if found.is_none() && world.entities[other].net_id != owner {
                found = Some(other);
            }
        });
        return found;
    }
    // A player rewound `lag` ticks is at most that many steps (and pushes) from where it
    // is now: widen the search by that, then test where it was.
    let ticks = u32::from(lag).div_ceil(SUB) as f32;
    let step = world.config.player_speed * world.config.dt() * 1.5 + world.config.player_radius;
    let r2 = radius * radius;
    world.grid.query(at, radius + ticks * step, |other, _| {
        if found.is_some() || world.entities[other].net_id == owner {
            return;
        }
        if rewound(world, other, now, lag).is_some_and(|p| p.distance_squared(at) <= r2) {
            found = Some(other);
        }
    });
    found
}

/// The moment a player moving at tick `now` saw the others: its view, no further back than
/// the bound (as [`lag`] clamps it), and no later than `now`, the newest recorded tick (a
/// view ahead of the present, which no client can have, would see nobody: it would walk
/// through the others and shove them); `None` without a view.
#[must_use]
pub fn seen_moment(now: Tick, view: Option<ViewTime>, max_ticks: u32) -> Option<ViewTime> {
    view?;
    let l = u32::from(lag(now, view, max_ticks)).max(SUB);
    Some(ViewTime {
        tick: now.next().minus(l.div_ceil(SUB)),
        sub: ((SUB - l % SUB) % SUB) as u8,
    })
}

/// The players the mover `me` (now at `pos`) may touch, where they were at the moment
/// `at`, sorted by network id: every player alive in the same life at the recorded ticks
/// around `at` (at `at.tick` alone when the next one is not recorded yet), interpolated as
/// a client interpolates them
/// ([`crate::replica::interpolation::Interpolator::players_at`]), whether or not it is
/// alive now: the candidates are the living players near `pos` (the grid) and `dead`, the
/// players dead now.
#[must_use]
pub fn seen_players(
    world: &World,
    me: EntityId,
    pos: Vec2,
    at: ViewTime,
    dead: &[EntityId],
) -> Vec<(NetId, Vec2)> {
    let Some(newest) = world.rewind.frames.back().map(|(t, _)| *t) else {
        return Vec::new();
    };
    let back = if at.tick.is_after(newest) {
        0
    } else {
        newest.since(at.tick)
    };
    // A player moves at most a step and a yield (the whole overlap) a tick.
    let step =
        world.config.player_speed * world.config.dt() * 1.5 + world.config.player_radius * 2.0;
    let reach = world.config.player_radius * 2.0 + (back + 1) as f32 * step;
    let frac = f32::from(at.sub) / SUB as f32;
    let mut out = Vec::new();
    let mut take = |other: EntityId| {
        if other == me {
            return;
        }
        let Some((net, pa, da)) = world.rewind.life_at(other, at.tick) else {
            return;
        };
        let seen = if at.sub == 0 || at.tick.next().is_after(newest) {
            pa
        } else {
            match world.rewind.life_at(other, at.tick.next()) {
                Some((_, pb, db)) if db == da => pa.lerp(pb, frac),
                _ => return,
            }
        };
        out.push((net, seen));
    };
    world.grid.query(pos, reach, |other, _| take(other));
    for &other in dead {
        take(other);
    }
    out.sort_unstable_by_key(|(id, _)| *id);
    out
}

/// Phase 2 of the step, for a player whose input carries a view time: where living player
/// `id`, moved to `pos`, ends up yielding to the others as it saw them (`Some(None)`: it
/// touches nobody); `None` for a player without a view (the symmetric push applies).
/// `dead`: the players dead now (seen alive, they count; see [`seen_players`]).
#[must_use]
pub fn contact(
    world: &World,
    id: EntityId,
    pos: Vec2,
    max_ticks: u32,
    dead: &[EntityId],
) -> Option<Option<Vec2>> {
    let e = world.entities.get(id)?;
    let EntityKind::Player(p) = &e.kind else {
        return None;
    };
    let at = seen_moment(world.tick, p.input.view, max_ticks)?;
    let others = seen_players(world, id, pos, at, dead);
    Some(yield_to(pos, e.net_id, &others, &world.config, &world.map))
}

/// Contact as the mover saw it: player `me` at `pos` steps out of every player of `others`
/// (where it saw them, sorted by network id) by the whole overlap, the others do not move
/// (the mover yields), then walls stop it and the position is put on the grid. `None` when
/// it touches nobody. The server and the client's prediction both call this.
#[must_use]
pub fn yield_to(
    pos: Vec2,
    me: NetId,
    others: &[(NetId, Vec2)],
    config: &crate::SimConfig,
    map: &crate::Map,
) -> Option<Vec2> {
    let r2 = config.player_radius * 2.0;
    let mut push = Vec2::ZERO;
    for (id, q) in others {
        if *id == me {
            continue;
        }
        let d = pos - *q;
        let dist = d.length();
        let overlap = r2 - dist;
        if overlap <= 0.0 {
            continue;
        }
        let dir = if dist > 1e-6 {
            d / dist
        } else if me < *id {
            Vec2::X
        } else {
            Vec2::NEG_X
        };
        push += dir * overlap;
    }
    (push != Vec2::ZERO)
        .then(|| crate::entity::quantize(map.resolve_circle(pos + push, config.player_radius)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lags_are_bounded_fixed_point_and_never_negative() {
        let v = |t: u32, sub: u8| Some(ViewTime { tick: Tick(t), sub });
        // Fired at 100, first tick 101; saw 96.5: 4.5 ticks.
        assert_eq!(lag(Tick(100), v(96, 128), 8), 4 * 256 + 128);
        assert_eq!(lag(Tick(100), v(50, 0), 8), 8 * 256, "bounded");
        assert_eq!(lag(Tick(100), v(120, 0), 8), 0, "a view ahead: no rewind");
        assert_eq!(lag(Tick(100), None, 8), 0);
        assert_eq!(
            lag(Tick(1000), v(0, 0), 100_000),
            (MAX_REWIND_TICKS * 256) as u16
        );
        assert_eq!(
            ViewTime::from_ticks(96.5),
            ViewTime {
                tick: Tick(96),
                sub: 128
            }
        );
        assert_eq!(ViewTime::from_ticks(-3.0), ViewTime::default());
        assert_eq!(ViewTime::from_ticks(f64::NAN), ViewTime::default());
    }

    /// A world with a shooter at (200, 500) aiming along +x and a target at (400, 300)
    /// walking down (+y) at full speed, both on a wall-less map.
    fn duel() -> (World, EntityId, EntityId) {
        let map = crate::Map::open("rewind", 1000.0);
        let mut w = World::new(crate::SimConfig::default(), std::sync::Arc::new(map), 1);
        let shooter = crate::sim::spawn::add_player(&mut w, "shooter");
        let target = crate::sim::spawn::add_player(&mut w, "target");
        w.entities[shooter].pos = Vec2::new(200.0, 500.0);
        w.entities[target].pos = Vec2::new(400.0, 300.0);
        (w, shooter, target)
    }

    fn hp(w: &World, id: EntityId) -> u8 {
        w.player(id).map_or(0, |p| p.hp)
    }

    /// Walks the target down for 60 ticks; at `fire_at` the shooter fires along +x having
    /// seen the world `seen` ticks before. Returns the target's hit points at the end.
    fn shot(seen: u32, fire_at: u32, max_rewind_s: f32) -> u8 {
        let (mut w, shooter, target) = duel();
        w.config.max_rewind_s = max_rewind_s;
        let walk = crate::PlayerInput {
            move_dir: Vec2::Y,
            ..crate::PlayerInput::default()
        };
        for _ in 0..60 {
            let now = w.tick;
            let mut fire = crate::PlayerInput::default();
            if now.0 == fire_at {
                fire.buttons = crate::input::Buttons::FIRE;
                fire.view = Some(ViewTime {
                    tick: now.next().minus(seen),
                    sub: 0,
                });
            }
            crate::sim::step(&mut w, &[(shooter, fire), (target, walk)]);
        }
        hp(&w, target)
    }

    #[test]
    fn a_shot_hits_where_the_shooter_saw_the_target_within_the_bound_only() {
        // The target crosses y = 500 (the line of fire) at tick 30 (200 units at 6.625 a
        // tick); the projectile needs about 9 ticks to reach x = 400.
        let (w, _, _) = duel();
        let max = 0.25;
        let full = w.config.max_hp;
        let damage = w.config.projectile_damage;
        // Fired at tick 27 with a view 6 ticks (200 ms) old: in that view the target
        // crosses the line when the projectile arrives (about tick 36): a hit.
        assert_eq!(shot(6, 27, max), full - damage, "hit where it was seen");
        // The same shot judged against the present (no view): the target is long past.
        assert_eq!(shot(0, 27, max), full, "the present: a miss");
        // Fired at tick 33 having seen the world 12 ticks (400 ms) before: beyond the
        // 250 ms bound the shot is judged 8 ticks back, where the target is 4 ticks (26
        // units) further down than it was seen: outside the hit radius, a miss.
        assert_eq!(shot(12, 33, max), full, "beyond the bound: a miss");
        // With the bound raised to 500 ms the same shot hits.
        assert_eq!(
            shot(12, 33, 0.5),
            full - damage,
            "within a larger bound: a hit"
        );
        // Lag compensation off: as the present.
        assert_eq!(shot(6, 27, 0.0), full);
    }

    /// Player A walks (+x) into player B, who stands still, for 30 ticks, every input of
    /// A carrying a view `ahead` ticks past the present. Returns both positions.
    fn walk_into(ahead: u32) -> (Vec2, Vec2) {
        let (mut w, a, b) = duel();
        w.entities[a].pos = Vec2::new(300.0, 500.0);
        w.entities[b].pos = Vec2::new(400.0, 500.0);
        for _ in 0..30 {
            let walk = crate::PlayerInput {
                move_dir: Vec2::X,
                view: Some(ViewTime {
                    tick: w.tick.plus(ahead),
                    sub: 0,
                }),
                ..crate::PlayerInput::default()
            };
            crate::sim::step(&mut w, &[(a, walk), (b, crate::PlayerInput::default())]);
        }
        (w.entities[a].pos, w.entities[b].pos)
    }

    #[test]
    fn a_view_ahead_of_the_present_sees_the_others_where_they_are() {
        let present = walk_into(0);
        // A view no client can have (the future) contacts as the present does: it does
        // not walk through B nor shove it further.
        for ahead in [1, 2, 1000, u32::MAX / 2] {
            assert_eq!(walk_into(ahead), present, "{ahead} ticks ahead");
        }
        let (a, b) = present;
        let r = crate::SimConfig::default().player_radius;
        assert!(a.distance(b) >= 2.0 * r - 1.0, "A yields to B: {a} {b}");
    }
}
