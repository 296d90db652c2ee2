//! The HUD's state: what the player is told about the game, decided here (native, tested)
//! and only drawn by the web shell. Own health, score and rank, the kill feed with its
//! fading lines, the death screen (who killed you, when you come back), the hurt flash and
//! hit markers, the connection's quality, and the sounds the page should play.
//!
//! [`Hud`] is fed by [`crate::game::GameClient`]: the replicated state after each snapshot
//! ([`Hud::on_state`]), the game events ([`Hud::on_event`]) and own shots
//! ([`Hud::on_shot`]); [`Hud::model`] is the frame's [`HudModel`].

use std::collections::{HashMap, VecDeque};

use glam::Vec2;
use tickwire_shared::sim::GameEvent;
use tickwire_shared::{NetEntity, NetId, Tick};

/// Kill feed lines kept.
pub const FEED_LINES: usize = 5;
/// A feed line is fully visible this long (ms)…
pub const FEED_SOLID_MS: f64 = 4000.0;
/// …then fades out over this long (ms).
pub const FEED_FADE_MS: f64 = 2000.0;
/// The hurt flash lasts this long (ms).
pub const HURT_MS: f64 = 350.0;
/// A hit marker lasts this long (ms).
pub const MARKER_MS: f64 = 300.0;
/// How near (world units) a vanished own projectile must have been to a player whose
/// health dropped for the drop to count as our hit.
const HIT_NEAR: f32 = 80.0;

/// A short sound the page plays (generated with the Web Audio API).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sound {
    /// We fired.
    Shot,
    /// Our shot hit someone.
    Hit,
    /// We were hit.
    Hurt,
    /// We killed someone.
    Kill,
    /// We died.
    Death,
    /// We took a health pickup.
    Pickup,
}

/// A synthesized tone: an oscillator gliding from `f0` to `f1` Hz over `secs`, at `gain`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tone {
    /// `sine`, `square`, `sawtooth` or `triangle`.
    pub wave: &'static str,
    /// Start frequency, Hz.
    pub f0: f32,
    /// End frequency, Hz.
    pub f1: f32,
    /// Length, seconds.
    pub secs: f32,
    /// Peak gain (before the volume setting).
    pub gain: f32,
}

impl Sound {
    /// How this sound is made.
    #[must_use]
    pub fn tone(self) -> Tone {
        let t = |wave, f0, f1, secs, gain| Tone {
            wave,
            f0,
            f1,
            secs,
            gain,
        };
        match self {
            Sound::Shot => t("square", 880.0, 220.0, 0.07, 0.08),
            Sound::Hit => t("triangle", 1400.0, 1100.0, 0.06, 0.25),
            Sound::Hurt => t("sawtooth", 220.0, 70.0, 0.18, 0.18),
            Sound::Kill => t("sine", 660.0, 1320.0, 0.25, 0.3),
            Sound::Death => t("sawtooth", 320.0, 50.0, 0.6, 0.2),
            Sound::Pickup => t("sine", 520.0, 1040.0, 0.15, 0.25),
        }
    }
}

/// The connection's quality at a glance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quality {
    /// Ping under 80 ms and snapshots flowing.
    Good,
    /// Ping under 160 ms.
    Fair,
    /// Slower, or no snapshot for a second.
    Poor,
}

impl Quality {
    /// From the last ping and the age of the newest snapshot.
    #[must_use]
    pub fn of(ping_ms: f64, snapshot_age_ms: f64) -> Quality {
        if snapshot_age_ms > 1000.0 || ping_ms >= 160.0 {
            Quality::Poor
        } else if ping_ms >= 80.0 {
            Quality::Fair
        } else {
            Quality::Good
        }
    }

    /// Bars lit out of three.
    #[must_use]
    pub fn bars(self) -> u8 {
        match self {
            Quality::Good => 3,
            Quality::Fair => 2,
            Quality::Poor => 1,
        }
    }

    /// Lower-case name for scripts.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Quality::Good => "good",
            Quality::Fair => "fair",
            Quality::Poor => "poor",
        }
    }
}

/// Who a feed line concerns, for its colour and marker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeedKind {
    /// We killed someone.
    MyKill,
    /// We died.
    MyDeath,
    /// Others.
    Other,
    /// We were healed.
    Heal,
}

/// One kill feed line as drawn.
#[derive(Clone, Debug, PartialEq)]
pub struct FeedLine {
    /// The text (`alice ✖ bob`).
    pub text: String,
    /// Whose line.
    pub kind: FeedKind,
    /// How old, ms.
    pub age_ms: f64,
    /// Opacity, 1 fading to 0.
    pub alpha: f32,
}

/// The death screen.
#[derive(Clone, Debug, PartialEq)]
pub struct DeathScreen {
    /// Who killed us, when we saw it.
    pub killer: Option<String>,
    /// Seconds until the respawn.
    pub respawn_in: f32,
}

/// Everything the HUD shows in one frame.
#[derive(Clone, Debug, PartialEq)]
pub struct HudModel {
    /// Own hit points.
    pub hp: u8,
    /// Hit points at spawn.
    pub max_hp: u8,
    /// Own kills.
    pub score: u16,
    /// Own deaths.
    pub deaths: u16,
    /// Own rank among the players the client has (1 = best).
    pub rank: usize,
    /// How many players the rank is among.
    pub ranked: usize,
    /// Kill feed, oldest first.
    pub feed: Vec<FeedLine>,
    /// While dead.
    pub death: Option<DeathScreen>,
    /// Hurt flash strength, 1 fading to 0.
    pub hurt: f32,
    /// Hit markers: where (world) and opacity.
    pub markers: Vec<(Vec2, f32)>,
    /// Last ping, ms.
    pub ping_ms: f64,
    /// Connection quality.
    pub quality: Quality,
}

impl Default for HudModel {
    fn default() -> Self {
        HudModel {
            hp: 0,
            max_hp: 100,
            score: 0,
            deaths: 0,
            rank: 1,
            ranked: 1,
            feed: Vec::new(),
            death: None,
            hurt: 0.0,
            markers: Vec::new(),
            ping_ms: 0.0,
            quality: Quality::Good,
        }
    }
}

/// Own player's numbers, as last seen.
#[derive(Clone, Copy, Debug, Default)]
struct Own {
    hp: u8,
    kills: u16,
    deaths: u16,
    respawn_at: Option<Tick>,
}

/// The HUD's memory between frames.
#[derive(Debug, Default)]
pub struct Hud {
    me: Option<NetId>,
    max_hp: u8,
    own: Option<Own>,
    /// Ranking of the players the client has: (kills, deaths) of everyone else.
    others: Vec<(u16, u16)>,
    /// Other players' health at the previous snapshot.
    hp: HashMap<NetId, u8>,
    /// Own projectiles at the previous snapshot: where they were.
    shots: HashMap<NetId, Vec2>,
    feed: VecDeque<(f64, String, FeedKind)>,
    killer: Option<String>,
    hurt_at: Option<f64>,
    markers: Vec<(f64, Vec2)>,
    sounds: Vec<Sound>,
}

impl Hud {
    /// A HUD for player `me`, who spawns with `max_hp`.
    #[must_use]
    pub fn new(me: NetId, max_hp: u8) -> Hud {
        Hud {
            me: Some(me),
            max_hp,
            ..Hud::default()
        }
    }

    /// The replicated state after a snapshot (`entities` sorted by id, as the replica
    /// keeps them; `pos_of` places a projectile at the snapshot's tick).
    pub fn on_state(
        &mut self,
        entities: &[(NetId, NetEntity)],
        pos_of: impl Fn(&NetEntity) -> Vec2,
        now_ms: f64,
    ) {
        let Some(me) = self.me else { return };
        let mut shots = HashMap::new();
        let mut hp = HashMap::new();
        let mut hurt_players: Vec<Vec2> = Vec::new();
        self.others.clear();
        for (id, e) in entities {
            match e {
                NetEntity::Player(p) if *id == me => {
                    if let Some(old) = self.own {
                        if p.hp < old.hp && p.respawn_at.is_none() {
                            self.hurt_at = Some(now_ms);
                            self.sounds.push(Sound::Hurt);
                        }
                    }
                    self.own = Some(Own {
                        hp: p.hp,
                        kills: p.kills,
                        deaths: p.deaths,
                        respawn_at: p.respawn_at,
                    });
                }
                NetEntity::Player(p) => {
                    self.others.push((p.kills, p.deaths));
                    if self.hp.get(id).is_some_and(|old| p.hp < *old) {
                        hurt_players.push(p.pos.to_vec2());
                    }
                    hp.insert(*id, p.hp);
                }
                NetEntity::Projectile(p) if p.owner == me => {
                    shots.insert(*id, pos_of(e));
                }
                _ => {}
            }
        }
        // An own shot that vanished near a player who lost health: our hit.
        let gone: Vec<Vec2> = self
            .shots
            .iter()
            .filter(|(id, _)| !shots.contains_key(id))
            .map(|(_, p)| *p)
            .collect();
        for victim in hurt_players {
            if gone.iter().any(|s| s.distance(victim) <= HIT_NEAR) {
                self.markers.push((now_ms, victim));
                self.sounds.push(Sound::Hit);
            }
        }
        self.shots = shots;
        self.hp = hp;
    }

    /// A game event; `name` names a player.
    pub fn on_event(&mut self, e: &GameEvent, name: impl Fn(NetId) -> String, now_ms: f64) {
        let me = self.me;
        match e {
            GameEvent::Kill { killer, victim } => {
                let kind = if Some(*victim) == me {
                    self.killer = Some(name(*killer));
                    self.sounds.push(Sound::Death);
                    FeedKind::MyDeath
                } else if Some(*killer) == me {
                    self.sounds.push(Sound::Kill);
                    FeedKind::MyKill
                } else {
                    FeedKind::Other
                };
                let text = format!("{} ✖ {}", name(*killer), name(*victim));
                self.push_feed(now_ms, text, kind);
            }
            GameEvent::Healed { player, amount } if Some(*player) == me => {
                self.sounds.push(Sound::Pickup);
                self.push_feed(now_ms, format!("+{amount} health"), FeedKind::Heal);
            }
            GameEvent::Respawn { player } if Some(*player) == me => self.killer = None,
            _ => {}
        }
    }

    fn push_feed(&mut self, now_ms: f64, text: String, kind: FeedKind) {
        self.feed.push_back((now_ms, text, kind));
        while self.feed.len() > FEED_LINES {
            self.feed.pop_front();
        }
    }

    /// We fired (predicted, at once).
    pub fn on_shot(&mut self) {
        self.sounds.push(Sound::Shot);
    }

    /// The sounds to play since the last call.
    pub fn take_sounds(&mut self) -> Vec<Sound> {
        std::mem::take(&mut self.sounds)
    }

    /// The HUD at `now_ms`, at server tick `server_now` (fractional) with `dt` seconds a
    /// tick, and the connection's `ping_ms` and `snapshot_age_ms`.
    #[must_use]
    pub fn model(
        &self,
        now_ms: f64,
        server_now: f64,
        dt: f32,
        ping_ms: f64,
        snapshot_age_ms: f64,
    ) -> HudModel {
        let own = self.own.unwrap_or_default();
        let better = self
            .others
            .iter()
            .filter(|(k, d)| *k > own.kills || (*k == own.kills && *d < own.deaths))
            .count();
        let feed = self
            .feed
            .iter()
            .filter_map(|(t, text, kind)| {
                let age_ms = now_ms - t;
                let alpha = fade(age_ms, FEED_SOLID_MS, FEED_FADE_MS);
                (alpha > 0.0).then(|| FeedLine {
                    text: text.clone(),
                    kind: *kind,
                    age_ms,
                    alpha,
                })
            })
            .collect();
        HudModel {
            hp: own.hp,
            max_hp: self.max_hp,
            score: own.kills,
            deaths: own.deaths,
            rank: better + 1,
            ranked: self.others.len() + 1,
            feed,
            death: own.respawn_at.map(|t| DeathScreen {
                killer: self.killer.clone(),
                respawn_in: ((f64::from(t.0) - server_now).max(0.0) as f32) * dt,
            }),
            hurt: self.hurt_at.map_or(0.0, |t| fade(now_ms - t, 0.0, HURT_MS)),
            markers: self
                .markers
                .iter()
                .map(|(t, p)| (*p, fade(now_ms - t, 0.0, MARKER_MS)))
                .filter(|(_, a)| *a > 0.0)
                .collect(),
            ping_ms,
            quality: Quality::of(ping_ms, snapshot_age_ms),
        }
    }

    /// Forgets expired hit markers (called once a frame).
    pub fn prune(&mut self, now_ms: f64) {
        self.markers.retain(|(t, _)| now_ms - t < MARKER_MS);
    }
}

/// Opacity of something `age_ms` old: solid for `solid_ms`, then fading over `fade_ms`.
fn fade(age_ms: f64, solid_ms: f64, fade_ms: f64) -> f32 {
    if age_ms < solid_ms {
        1.0
    } else {
        (1.0 - (age_ms - solid_ms) / fade_ms).clamp(0.0, 1.0) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickwire_shared::entity::{Name, PickupNet, PlayerNet, ProjectileNet, QVec2};

    fn player(name: &str, x: f32, hp: u8, kills: u16, deaths: u16) -> NetEntity {
        NetEntity::Player(PlayerNet {
            pos: QVec2::from_vec2(Vec2::new(x, 100.0)),
            aim: 0,
            dir: [0, 0],
            hp,
            kills,
            deaths,
            respawn_at: None,
            name: Name::from(name),
            disconnected: false,
            abilities: Default::default(),
        })
    }

    fn shot(owner: u32, x: f32) -> NetEntity {
        NetEntity::Projectile(ProjectileNet {
            origin: QVec2::from_vec2(Vec2::new(x, 100.0)),
            vel: QVec2::from_vec2(Vec2::ZERO),
            spawn_tick: Tick(1),
            owner: NetId(owner),
        })
    }

    fn pos(e: &NetEntity) -> Vec2 {
        e.position_at(Tick(1), 1.0 / 30.0)
    }

    fn names(id: NetId) -> String {
        ["me", "ann", "bob"][id.0 as usize - 1].to_owned()
    }

    #[test]
    fn health_score_and_rank_follow_the_state() {
        let mut h = Hud::new(NetId(1), 100);
        let world = vec![
            (NetId(1), player("me", 0.0, 75, 2, 1)),
            (NetId(2), player("ann", 50.0, 100, 3, 0)),
            (NetId(3), player("bob", 90.0, 100, 2, 4)),
            (
                NetId(4),
                NetEntity::Pickup(PickupNet {
                    pos: QVec2::from_vec2(Vec2::ZERO),
                    active: true,
                }),
            ),
        ];
        h.on_state(&world, pos, 0.0);
        let m = h.model(0.0, 10.0, 1.0 / 30.0, 40.0, 10.0);
        assert_eq!((m.hp, m.max_hp, m.score, m.deaths), (75, 100, 2, 1));
        // ann has more kills; bob as many but more deaths.
        assert_eq!((m.rank, m.ranked), (2, 3));
        assert_eq!(m.quality, Quality::Good);
        assert!(m.death.is_none());
    }

    #[test]
    fn a_health_drop_flashes_and_sounds_then_fades() {
        let mut h = Hud::new(NetId(1), 100);
        h.on_state(&[(NetId(1), player("me", 0.0, 100, 0, 0))], pos, 0.0);
        assert!(h.take_sounds().is_empty());
        h.on_state(&[(NetId(1), player("me", 0.0, 75, 0, 0))], pos, 1000.0);
        assert_eq!(h.take_sounds(), vec![Sound::Hurt]);
        let dt = 1.0 / 30.0;
        assert!((h.model(1000.0, 0.0, dt, 0.0, 0.0).hurt - 1.0).abs() < 1e-6);
        assert!(h.model(1000.0 + HURT_MS / 2.0, 0.0, dt, 0.0, 0.0).hurt < 0.6);
        assert_eq!(h.model(1000.0 + HURT_MS, 0.0, dt, 0.0, 0.0).hurt, 0.0);
    }

    #[test]
    fn an_own_shot_vanishing_at_a_hurt_enemy_is_a_hit_marker() {
        let mut h = Hud::new(NetId(1), 100);
        h.on_state(
            &[
                (NetId(1), player("me", 0.0, 100, 0, 0)),
                (NetId(2), player("ann", 100.0, 100, 0, 0)),
                (NetId(3), player("bob", 900.0, 100, 0, 0)),
                (NetId(7), shot(1, 80.0)),
                (NetId(8), shot(2, 880.0)),
            ],
            pos,
            0.0,
        );
        // ann is hit by our shot; bob by someone else's.
        h.on_state(
            &[
                (NetId(1), player("me", 0.0, 100, 0, 0)),
                (NetId(2), player("ann", 100.0, 75, 0, 0)),
                (NetId(3), player("bob", 900.0, 75, 0, 0)),
            ],
            pos,
            50.0,
        );
        assert_eq!(h.take_sounds(), vec![Sound::Hit]);
        let m = h.model(60.0, 0.0, 1.0 / 30.0, 0.0, 0.0);
        assert_eq!(m.markers.len(), 1);
        assert!((m.markers[0].0.x - 100.0).abs() < 0.5);
        h.prune(60.0 + MARKER_MS);
        assert!(h
            .model(60.0 + MARKER_MS, 0.0, 1.0, 0.0, 0.0)
            .markers
            .is_empty());
    }

    #[test]
    fn the_feed_keeps_the_last_lines_and_fades_them() {
        let mut h = Hud::new(NetId(1), 100);
        let kill = |k, v| GameEvent::Kill {
            killer: NetId(k),
            victim: NetId(v),
        };
        h.on_event(&kill(2, 3), names, 0.0);
        h.on_event(&kill(1, 2), names, 1000.0);
        assert_eq!(h.take_sounds(), vec![Sound::Kill]);
        let m = h.model(1000.0, 0.0, 1.0, 0.0, 0.0);
        assert_eq!(m.feed.len(), 2);
        assert_eq!(m.feed[0].text, "ann ✖ bob");
        assert_eq!(m.feed[0].kind, FeedKind::Other);
        assert_eq!(m.feed[1].kind, FeedKind::MyKill);
        assert_eq!(m.feed[1].age_ms, 0.0);
        // The first line fades while the second stays solid, then both go.
        let m = h.model(FEED_SOLID_MS + FEED_FADE_MS / 2.0, 0.0, 1.0, 0.0, 0.0);
        assert!((m.feed[0].alpha - 0.5).abs() < 1e-3);
        assert_eq!(m.feed[1].alpha, 1.0);
        assert!(h
            .model(1000.0 + FEED_SOLID_MS + FEED_FADE_MS, 0.0, 1.0, 0.0, 0.0)
            .feed
            .is_empty());
        for i in 0..10 {
            h.on_event(&kill(2, 3), names, 2000.0 + f64::from(i));
        }
        assert_eq!(h.model(2010.0, 0.0, 1.0, 0.0, 0.0).feed.len(), FEED_LINES);
    }

    #[test]
    fn the_death_screen_names_the_killer_and_counts_down_to_the_respawn() {
        let mut h = Hud::new(NetId(1), 100);
        h.on_state(&[(NetId(1), player("me", 0.0, 25, 0, 0))], pos, 0.0);
        h.on_event(
            &GameEvent::Kill {
                killer: NetId(3),
                victim: NetId(1),
            },
            names,
            10.0,
        );
        assert_eq!(h.take_sounds(), vec![Sound::Death]);
        let mut dead = player("me", 0.0, 0, 0, 1);
        if let NetEntity::Player(p) = &mut dead {
            p.respawn_at = Some(Tick(160));
        }
        h.on_state(&[(NetId(1), dead)], pos, 20.0);
        // Death is no hurt flash: the screen says it.
        assert!(h.take_sounds().is_empty());
        let dt = 1.0 / 30.0;
        let m = h.model(20.0, 100.0, dt, 0.0, 0.0);
        let d = m.death.expect("dead");
        assert_eq!(d.killer.as_deref(), Some("bob"));
        assert!((d.respawn_in - 2.0).abs() < 1e-4);
        assert_eq!(m.feed[0].kind, FeedKind::MyDeath);
        assert_eq!(
            h.model(20.0, 170.0, dt, 0.0, 0.0).death.unwrap().respawn_in,
            0.0
        );
        h.on_event(&GameEvent::Respawn { player: NetId(1) }, names, 30.0);
        h.on_state(&[(NetId(1), player("me", 0.0, 100, 0, 1))], pos, 40.0);
        let m = h.model(40.0, 171.0, dt, 0.0, 0.0);
        assert!(m.death.is_none());
        assert_eq!((m.hp, m.deaths), (100, 1));
    }

    #[test]
    fn quality_from_ping_and_silence() {
        assert_eq!(Quality::of(30.0, 40.0), Quality::Good);
        assert_eq!(Quality::of(100.0, 40.0), Quality::Fair);
        assert_eq!(Quality::of(200.0, 40.0), Quality::Poor);
        assert_eq!(Quality::of(30.0, 1500.0), Quality::Poor);
        assert_eq!(Quality::Good.bars(), 3);
    }

    #[test]
    fn a_heal_is_a_feed_line_and_a_sound() {
        let mut h = Hud::new(NetId(1), 100);
        h.on_event(
            &GameEvent::Healed {
                player: NetId(1),
                amount: 50,
            },
            names,
            0.0,
        );
        h.on_event(
            &GameEvent::Healed {
                player: NetId(2),
                amount: 50,
            },
            names,
            0.0,
        );
        assert_eq!(h.take_sounds(), vec![Sound::Pickup]);
        let m = h.model(0.0, 0.0, 1.0, 0.0, 0.0);
        assert_eq!(m.feed.len(), 1);
        assert_eq!(m.feed[0].kind, FeedKind::Heal);
    }
}
