//! What a bot does: [`decide`], a pure function from the bot's memory ([`Brain`]) and what
//! its replica shows ([`Sight`]) to the next input. No clock, no I/O: time is counted in
//! inputs (one per tick), randomness comes from the brain's own seeded generator, so a
//! brain with the same seed shown the same states decides the same inputs.

use std::f32::consts::TAU;

use tickwire_shared::entity::{PickupNet, PlayerNet};
use tickwire_shared::input::{Buttons, BUTTONS};
use tickwire_shared::rng::Rng;
use tickwire_shared::{Controls, Map, NetEntity, NetId};

/// How a bot plays.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Behavior {
    /// Stands still (still sends an input every tick, as an idle player's client does).
    Idle,
    /// Walks in random directions and turns away from the map's edges it can see.
    Wander,
    /// Walks to the nearest visible living enemy, aims at it and fires about once a second.
    Chase,
    /// The arena-N benchmark: a random direction every 0.5-1.5 s, a random aim, no shooting.
    #[default]
    Arena,
    /// Wanders and presses every button of the game's table
    /// (`tickwire_shared::input::BUTTONS`), each one input in five, so that a new button is
    /// played by bots the day it is added.
    Press,
}

/// What the bot's replica shows it. Load bots (header-only) have none.
#[derive(Clone, Copy, Debug)]
pub struct Sight<'a> {
    /// The bot's own player.
    pub me: NetId,
    /// The replicated state, sorted by id.
    pub state: &'a [(NetId, NetEntity)],
    /// The map from the welcome.
    pub map: &'a Map,
}

impl Sight<'_> {
    fn player(&self, id: NetId) -> Option<&PlayerNet> {
        let i = self.state.binary_search_by_key(&id, |(i, _)| *i).ok()?;
        self.state[i].1.as_player()
    }

    /// The nearest living player other than the bot itself: `(dx, dy, distance)`.
    fn nearest_enemy(&self, from: (f32, f32)) -> Option<(f32, f32, f32)> {
        let mut best: Option<(f32, f32, f32)> = None;
        for (id, e) in self.state {
            let Some(p) = e.view::<PlayerNet>() else {
                continue;
            };
            if *id == self.me || p.respawn_at.is_some() {
                continue;
            }
            let q = p.pos.to_vec2();
            let (dx, dy) = (q.x - from.0, q.y - from.1);
            let d = (dx * dx + dy * dy).sqrt();
            if best.is_none_or(|b| d < b.2) {
                best = Some((dx, dy, d));
            }
        }
        best
    }

    /// The nearest active health pickup: `(dx, dy, distance)`.
    fn nearest_pickup(&self, from: (f32, f32)) -> Option<(f32, f32, f32)> {
        let mut best: Option<(f32, f32, f32)> = None;
        for (_, e) in self.state {
            let Some(k) = e.view::<PickupNet>() else {
                continue;
            };
            if !k.active {
                continue;
            }
            let q = k.pos.to_vec2();
            let (dx, dy) = (q.x - from.0, q.y - from.1);
            let d = (dx * dx + dy * dy).sqrt();
            if best.is_none_or(|b| d < b.2) {
                best = Some((dx, dy, d));
            }
        }
        best
    }
}

/// A chasing bot at or under this many hit points goes for the nearest health pickup.
const SEEK_PICKUP_HP: u8 = 50;

/// A bot's memory between two decisions.
#[derive(Clone, Debug)]
pub struct Brain {
    behavior: Behavior,
    rng: Rng,
    /// Inputs per second (the server's tick rate).
    hz: u32,
    /// Inputs decided so far.
    inputs: u32,
    /// Current walking direction and aim.
    dir: (f32, f32),
    aim: f32,
    /// Input count of the next random turn.
    next_turn: u32,
    /// Input count of the next shot (chase).
    next_shot: u32,
}

/// Distance from a map edge at which a wandering bot turns back, world units.
const EDGE_MARGIN: f32 = 150.0;
/// A chasing bot walks towards its target until this close, then circles it.
const CHASE_RANGE: f32 = 300.0;

impl Brain {
    /// A brain playing `behavior` at `tick_hz` inputs per second, seeded with `seed`.
    #[must_use]
    pub fn new(behavior: Behavior, seed: u64, tick_hz: u16) -> Brain {
        let mut b = Brain {
            behavior,
            rng: Rng::new(seed),
            hz: u32::from(tick_hz.max(1)),
            inputs: 0,
            dir: (0.0, 0.0),
            aim: 0.0,
            next_turn: 0,
            next_shot: 0,
        };
        b.next_shot = b.between_s(0.0, 1.0);
        b
    }

    /// The behaviour played.
    #[must_use]
    pub fn behavior(&self) -> Behavior {
        self.behavior
    }

    fn unit(&mut self) -> f32 {
        (self.rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// An input count between `lo` and `hi` seconds from now.
    fn between_s(&mut self, lo: f32, hi: f32) -> u32 {
        let s = lo + (hi - lo) * self.unit();
        self.inputs + ((s * self.hz as f32).round() as u32).max(1)
    }

    /// A new random direction, `(dx, dy)` each in [-1, 1], and a random aim.
    fn turn(&mut self) {
        self.dir = (self.unit() * 2.0 - 1.0, self.unit() * 2.0 - 1.0);
        self.aim = self.unit() * TAU;
        self.next_turn = self.between_s(0.5, 1.5);
    }
}

/// The next input of a bot: `brain` remembers, `sight` is what its replica shows now
/// (`None` for a load bot, which then plays its behaviour blind).
pub fn decide(brain: &mut Brain, sight: Option<&Sight<'_>>) -> Controls {
    let input = match brain.behavior {
        Behavior::Idle => Controls::default(),
        Behavior::Arena => arena(brain),
        Behavior::Wander => wander(brain, sight),
        Behavior::Chase => chase(brain, sight),
        Behavior::Press => press(brain, sight),
    };
    brain.inputs = brain.inputs.wrapping_add(1);
    input
}

fn arena(brain: &mut Brain) -> Controls {
    if brain.inputs >= brain.next_turn {
        brain.turn();
    }
    Controls {
        move_x: brain.dir.0,
        move_y: brain.dir.1,
        aim: brain.aim,
        buttons: Buttons::default(),
    }
}

fn wander(brain: &mut Brain, sight: Option<&Sight<'_>>) -> Controls {
    let mut input = arena(brain);
    let Some(s) = sight else { return input };
    let Some(me) = s.player(s.me) else {
        return input;
    };
    let p = me.pos.to_vec2();
    // Heading out of the map: turn that axis back towards the middle.
    if (p.x < EDGE_MARGIN && brain.dir.0 < 0.0)
        || (p.x > s.map.width - EDGE_MARGIN && brain.dir.0 > 0.0)
    {
        brain.dir.0 = -brain.dir.0;
    }
    if (p.y < EDGE_MARGIN && brain.dir.1 < 0.0)
        || (p.y > s.map.height - EDGE_MARGIN && brain.dir.1 > 0.0)
    {
        brain.dir.1 = -brain.dir.1;
    }
    input.move_x = brain.dir.0;
    input.move_y = brain.dir.1;
    input
}

fn press(brain: &mut Brain, sight: Option<&Sight<'_>>) -> Controls {
    let mut input = wander(brain, sight);
    for b in BUTTONS {
        let held = brain.unit() < 0.2;
        input.buttons = input.buttons.with(b.bit, held);
    }
    input
}

fn chase(brain: &mut Brain, sight: Option<&Sight<'_>>) -> Controls {
    let shoot = brain.inputs >= brain.next_shot;
    if shoot {
        brain.next_shot = brain.between_s(0.8, 1.2);
    }
    let target = sight.and_then(|s| {
        let me = s.player(s.me)?;
        if me.respawn_at.is_some() {
            return None;
        }
        let p = me.pos.to_vec2();
        s.nearest_enemy((p.x, p.y))
    });
    // Hurt: walk to the nearest health pickup, still shooting at whoever is nearest.
    let heal = sight.and_then(|s| {
        let me = s.player(s.me)?;
        if me.respawn_at.is_some() || me.hp > SEEK_PICKUP_HP {
            return None;
        }
        let p = me.pos.to_vec2();
        s.nearest_pickup((p.x, p.y))
    });
    if let Some((dx, dy, d)) = heal {
        let (mx, my) = if d > 0.0 {
            (dx / d, dy / d)
        } else {
            (0.0, 0.0)
        };
        let aim = target.map_or(brain.aim, |(tx, ty, _)| ty.atan2(tx));
        return Controls {
            move_x: mx,
            move_y: my,
            aim,
            buttons: Buttons::FIRE.when(shoot && target.is_some()),
        };
    }
    match (target, sight) {
        (Some((dx, dy, d)), _) => {
            let aim = dy.atan2(dx);
            let (ux, uy) = if d > 0.0 {
                (dx / d, dy / d)
            } else {
                (1.0, 0.0)
            };
            // Close enough: circle the target instead of walking into it.
            let (mx, my) = if d > CHASE_RANGE { (ux, uy) } else { (-uy, ux) };
            Controls {
                move_x: mx,
                move_y: my,
                aim,
                buttons: Buttons::FIRE.when(shoot),
            }
        }
        // Sees the world but nobody to shoot: wander.
        (None, Some(_)) => wander(brain, sight),
        // A load bot is blind: it fires its random aim about once a second, so the server
        // carries the same projectiles, hits and respawns as with seeing bots.
        (None, None) => Controls {
            buttons: Buttons::FIRE.when(shoot),
            ..arena(brain)
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickwire_shared::entity::{PlayerNet, QVec2, POS_SCALE};

    fn player(x: f32, y: f32) -> NetEntity {
        NetEntity::Player(PlayerNet {
            pos: QVec2 {
                x: (x * POS_SCALE) as i32,
                y: (y * POS_SCALE) as i32,
            },
            aim: 0,
            dir: [0, 0],
            hp: 100,
            kills: 0,
            deaths: 0,
            respawn_at: None,
            name: "".into(),
            disconnected: false,
            abilities: Default::default(),
        })
    }

    #[test]
    fn a_pressing_bot_presses_every_button_of_the_table() {
        let mut brain = Brain::new(Behavior::Press, 3, 30);
        let mut pressed = Buttons::default();
        let mut inputs = 0;
        while pressed != Buttons::ALL && inputs < 300 {
            pressed = pressed.union(decide(&mut brain, None).buttons);
            inputs += 1;
        }
        assert_eq!(pressed, Buttons::ALL, "after {inputs} inputs");
        // Not held all the time either.
        let held = (0..100)
            .filter(|_| decide(&mut brain, None).holds(Buttons::FIRE))
            .count();
        assert!(held > 5 && held < 50, "{held}");
    }

    #[test]
    fn same_seed_same_inputs() {
        let mut a = Brain::new(Behavior::Arena, 7, 30);
        let mut b = Brain::new(Behavior::Arena, 7, 30);
        for _ in 0..300 {
            assert_eq!(decide(&mut a, None), decide(&mut b, None));
        }
    }

    #[test]
    fn arena_turns_every_half_to_one_and_a_half_seconds_and_never_fires() {
        let mut b = Brain::new(Behavior::Arena, 3, 30);
        let mut last = decide(&mut b, None);
        let (mut since, mut gaps) = (0u32, Vec::new());
        for _ in 0..3000 {
            let i = decide(&mut b, None);
            assert!(!i.holds(Buttons::FIRE));
            assert!((-1.0..=1.0).contains(&i.move_x) && (-1.0..=1.0).contains(&i.move_y));
            since += 1;
            if i != last {
                gaps.push(since);
                since = 0;
            }
            last = i;
        }
        assert!(gaps.len() > 50);
        assert!(gaps.iter().all(|g| (15..=45).contains(g)), "{gaps:?}");
    }

    #[test]
    fn chase_aims_at_the_nearest_living_enemy_and_fires_about_once_a_second() {
        let map = Map::open("t", 4000.0);
        let state = vec![
            (NetId(1), player(1000.0, 1000.0)),
            (NetId(2), player(1000.0, 1500.0)), // 500 below: nearest
            (NetId(3), player(2000.0, 1000.0)),
        ];
        let sight = Sight {
            me: NetId(1),
            state: &state,
            map: &map,
        };
        let mut b = Brain::new(Behavior::Chase, 1, 30);
        let mut shots = 0;
        for _ in 0..300 {
            let i = decide(&mut b, Some(&sight));
            assert!((i.aim - std::f32::consts::FRAC_PI_2).abs() < 1e-3, "{i:?}");
            assert!(i.move_y > 0.99, "walks towards it: {i:?}");
            shots += usize::from(i.holds(Buttons::FIRE));
        }
        assert!((8..=12).contains(&shots), "{shots} shots in 10 s");
    }

    #[test]
    fn a_hurt_chaser_goes_for_the_nearest_active_pickup() {
        use tickwire_shared::entity::PickupNet;
        let map = Map::open("t", 4000.0);
        let pickup = |x: f32, y: f32, active: bool| {
            NetEntity::Pickup(PickupNet {
                pos: QVec2 {
                    x: (x * POS_SCALE) as i32,
                    y: (y * POS_SCALE) as i32,
                },
                active,
            })
        };
        let mut me = player(1000.0, 1000.0);
        if let NetEntity::Player(p) = &mut me {
            p.hp = 25;
        }
        let state = vec![
            (NetId(1), me),
            (NetId(2), player(1000.0, 1500.0)),
            (NetId(3), pickup(900.0, 1000.0, false)), // nearest but taken
            (NetId(4), pickup(1000.0, 600.0, true)),  // nearest active: straight up
        ];
        let sight = Sight {
            me: NetId(1),
            state: &state,
            map: &map,
        };
        let mut b = Brain::new(Behavior::Chase, 1, 30);
        let i = decide(&mut b, Some(&sight));
        assert!(i.move_y < -0.99, "walks to the pickup: {i:?}");
        assert!(
            (i.aim - std::f32::consts::FRAC_PI_2).abs() < 1e-3,
            "still aims at the enemy"
        );
    }

    #[test]
    fn wander_turns_back_at_the_edge() {
        let map = Map::open("t", 4000.0);
        let state = vec![(NetId(1), player(50.0, 2000.0))];
        let sight = Sight {
            me: NetId(1),
            state: &state,
            map: &map,
        };
        let mut b = Brain::new(Behavior::Wander, 9, 30);
        for _ in 0..200 {
            assert!(decide(&mut b, Some(&sight)).move_x >= 0.0);
        }
    }
}
