//! Entity kinds: each kind's authoritative state (kept by the server's [`crate::World`]) and
//! its replicated view (what travels to clients), side by side.
//!
//! To add a kind, follow the one checklist in `docs/extending.md` ("The entity-kind checklist").

use bincode::{Decode, Encode};
use glam::Vec2;
use serde::{Deserialize, Serialize};
use slotmap::new_key_type;

use crate::input::PlayerInput;
use crate::replication::{Patch, Replicated};
use crate::sim::movement::{Abilities, Motion};
use crate::tick::Tick;

mod wire;

pub use wire::{
    aim_to_net, dir_from_net, dir_to_net, net_aim_to_radians, quantize, Name, NetId, QVec2,
    POS_SCALE,
};

new_key_type! {
    /// Server-side handle of an entity in [`crate::World::entities`]. Never sent on the wire.
    pub struct EntityId;
}

/// One thing in the world. Its every field (and its kind's) is part of
/// [`crate::World::hash`] through the derived `Serialize`: nothing to list by hand.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entity {
    /// Network identity.
    pub net_id: NetId,
    /// Centre, world units (on the `1 / POS_SCALE` grid between ticks).
    pub pos: Vec2,
    /// Kind-specific state.
    pub kind: EntityKind,
}

/// Kind-specific authoritative state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum EntityKind {
    /// A connected player's avatar.
    Player(Player),
    /// A shot in flight.
    Projectile(Projectile),
    /// A health pickup at a fixed map point.
    Pickup(Pickup),
}

/// A player's authoritative state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Player {
    /// Display name (shared with its replicated view: copying it is a reference count).
    pub name: Name,
    /// Hit points; 0 while dead.
    pub hp: u8,
    /// Kills scored.
    pub kills: u16,
    /// Deaths suffered.
    pub deaths: u16,
    /// While dead: the tick of the respawn.
    pub respawn_at: Option<Tick>,
    /// First tick at which the player may fire again.
    pub next_fire: Tick,
    /// Movement ability timers (its [`Motion`] is these and the entity's position).
    pub abilities: Abilities,
    /// The input in force (the last one received; repeated while none arrives).
    pub input: PlayerInput,
    /// Its connection was lost and the server holds the player for a reconnection: it
    /// stands still and fires nothing until it resumes (or the grace ends and it leaves).
    pub disconnected: bool,
}

impl Player {
    /// Whether the player is alive (can move, fire and be hit).
    #[must_use]
    pub fn alive(&self) -> bool {
        self.respawn_at.is_none()
    }
}

/// A projectile. Its position is a pure function of the tick (`origin + vel * age`), so
/// clients compute it exactly and its view never changes after the spawn.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Projectile {
    /// Who fired it (no damage to them).
    pub owner: NetId,
    /// The shooter's entity, to credit the kill (may be gone by then).
    pub shooter: EntityId,
    /// Where it was at `spawn_tick` (on the position grid).
    pub origin: Vec2,
    /// Velocity, units per second (on the position grid).
    pub vel: Vec2,
    /// The tick it was fired at.
    pub spawn_tick: Tick,
    /// Lag compensation: players are hit where they were this long ago, 1/256 ticks
    /// (where its shooter saw them; see [`crate::sim::rewind`]).
    pub lag: u16,
}

impl Projectile {
    /// Position at `tick`, given the tick length `dt`.
    #[must_use]
    pub fn position_at(&self, tick: Tick, dt: f32) -> Vec2 {
        let age = tick.since(self.spawn_tick) as f32;
        self.origin + self.vel * (age * dt)
    }
}

/// A health pickup: sits at a map point, heals the first hurt player who touches it, then
/// stays away for `pickup_respawn_s`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pickup {
    /// While taken: the tick it comes back.
    pub respawn_at: Option<Tick>,
}

crate::replicated! {
    /// What clients see of a player.
    pub struct PlayerNet {
        /// Centre.
        pub pos: QVec2,
        /// Aim angle for display, in 1/256 turns ([`aim_to_net`], [`net_aim_to_radians`]);
        /// the simulation fires along the input's finer aim.
        pub aim: u8,
        /// The movement direction in force, in `1 / DIR_SCALE` units (exactly the
        /// simulation's input, see [`crate::input::PlayerInput::from_wire`]): lets clients
        /// extrapolate the position, so a player moving steadily costs no bytes.
        pub dir: [i8; 2],
        /// Hit points.
        pub hp: u8,
        /// Kills scored.
        pub kills: u16,
        /// Deaths suffered.
        pub deaths: u16,
        /// While dead: the respawn tick.
        pub respawn_at: Option<Tick>,
        /// Display name: shared, not copied, from tick to tick (and compared by pointer
        /// first in every diff, see [`Name`]).
        pub name: Name,
        /// Connection lost, waiting for the player to resume (drawn faded).
        pub disconnected: bool,
        /// Movement ability timers, as the server's step left them: the client reconciles
        /// its prediction with them ([`PlayerNet::motion`]).
        pub abilities: Abilities,
    }
}

crate::replicated! {
    /// What clients see of a projectile: constant from spawn to removal.
    pub struct ProjectileNet {
        /// Position at `spawn_tick`.
        pub origin: QVec2,
        /// Velocity, units per second.
        pub vel: QVec2,
        /// Tick it was fired at.
        pub spawn_tick: Tick,
        /// Who fired it.
        pub owner: NetId,
    }
}

crate::replicated! {
    /// What clients see of a pickup.
    pub struct PickupNet {
        /// Where it sits.
        pub pos: QVec2,
        /// Whether it can be taken now.
        pub active: bool,
    }
}

impl PlayerNet {
    /// Mask bit of `pos` (the first field).
    pub const POS_BIT: u32 = 1;

    /// The player's motion state as the server had it at this view's tick: what the
    /// client's prediction starts again from.
    #[must_use]
    pub fn motion(&self) -> Motion {
        Motion {
            pos: self.pos.to_vec2(),
            abilities: self.abilities,
        }
    }

    /// Where this player will be `ticks` ticks later if it keeps walking its direction and
    /// nothing else happens; `None` when it stands still or is dead (it stays put).
    #[must_use]
    pub fn carried_pos(
        &self,
        ticks: u32,
        config: &crate::SimConfig,
        map: &crate::Map,
    ) -> Option<QVec2> {
        self.carry_from(self.pos, ticks, config, map)
    }

    /// [`PlayerNet::carried_pos`] continued from `from` (a position this view was already
    /// carried to) for `ticks` more ticks: lets the server advance a carried baseline one
    /// tick at a time.
    #[must_use]
    pub fn carry_from(
        &self,
        from: QVec2,
        ticks: u32,
        config: &crate::SimConfig,
        map: &crate::Map,
    ) -> Option<QVec2> {
        if self.respawn_at.is_some() || self.dir == [0, 0] || ticks == 0 {
            return None;
        }
        let dir = dir_from_net(self.dir);
        let mut pos = from.to_vec2();
        for _ in 0..ticks {
            pos = crate::sim::movement::walk(pos, dir, config, map);
        }
        Some(QVec2::from_vec2(pos))
    }
}

impl ProjectileNet {
    /// Position at `tick` (same formula as [`Projectile::position_at`]).
    #[must_use]
    pub fn position_at(&self, tick: Tick, dt: f32) -> Vec2 {
        let age = tick.since(self.spawn_tick) as f32;
        self.origin.to_vec2() + self.vel.to_vec2() * (age * dt)
    }
}

/// Declares the replicated kinds: generates [`NetEntity`], [`NetPatch`] and their diff/apply.
macro_rules! net_kinds {
    ($( $(#[$doc:meta])* $kind:ident($view:ty) ),+ $(,)?) => {
        /// The replicated view of any entity.
        #[derive(Clone, Debug, PartialEq, Encode, Decode)]
        pub enum NetEntity {
            $( $(#[$doc])* $kind($view) ),+
        }

        /// The changed fields of an entity's view; same kind as the entity it patches.
        #[derive(Clone, Debug, PartialEq, Encode, Decode)]
        pub enum NetPatch {
            $( $(#[$doc])* $kind(Patch<$view>) ),+
        }

        impl NetPatch {
            /// The name of the kind this patch is for (one of [`NetEntity::KINDS`]).
            #[must_use]
            pub fn kind_name(&self) -> &'static str {
                match self {
                    $( NetPatch::$kind(_) => stringify!($kind), )+
                }
            }
        }

        // Kept honest: a view must fit the 32-bit patch mask.
        const _: () = assert!(true $(&& <$view as Replicated>::FIELD_COUNT <= 32)+);

        impl NetEntity {
            /// The name of every replicated kind, in declaration order: tests that must
            /// cover every kind (determinism, deltas, codec, the world hash) check against it.
            pub const KINDS: &'static [&'static str] = &[$(stringify!($kind)),+];

            /// The name of this entity's kind (one of [`NetEntity::KINDS`]).
            #[must_use]
            pub fn kind_name(&self) -> &'static str {
                match self {
                    $( NetEntity::$kind(_) => stringify!($kind), )+
                }
            }

            /// Every kind and its view's declaration ([`Replicated::SCHEMA`]), in order:
            /// part of the wire's fingerprint.
            #[must_use]
            pub fn schema() -> String {
                let mut s = String::new();
                $( s.push_str(concat!(stringify!($kind), "(")); s.push_str(<$view as Replicated>::SCHEMA); s.push_str(") "); )+
                s
            }

            /// One entity of every kind, each its view's default (in [`NetEntity::KINDS`]
            /// order).
            #[must_use]
            pub fn defaults() -> Vec<NetEntity> {
                vec![$(NetEntity::$kind(<$view>::default())),+]
            }

            /// How `base` must change to become `self`: `Ok(None)` when equal, `Ok(Some)`
            /// with a patch, `Err(())` when the kind differs (send a respawn instead).
            #[allow(clippy::result_unit_err)]
            pub fn diff(&self, base: &NetEntity) -> Result<Option<NetPatch>, ()> {
                match (self, base) {
                    $( (NetEntity::$kind(now), NetEntity::$kind(old)) => {
                        Ok(Patch::diff(old, now).map(NetPatch::$kind))
                    } )+
                    #[allow(unreachable_patterns)]
                    _ => Err(()),
                }
            }

            /// Applies `patch`; `false` (and no change) when its kind differs.
            pub fn apply(&mut self, patch: &NetPatch) -> bool {
                match (self, patch) {
                    $( (NetEntity::$kind(v), NetPatch::$kind(p)) => {
                        p.apply(v);
                        true
                    } )+
                    #[allow(unreachable_patterns)]
                    _ => false,
                }
            }
        }
    };
}

net_kinds! {
    /// A player.
    Player(PlayerNet),
    /// A projectile.
    Projectile(ProjectileNet),
    /// A health pickup.
    Pickup(PickupNet),
}

impl Entity {
    /// The replicated view of this entity.
    #[must_use]
    pub fn to_net(&self) -> NetEntity {
        match &self.kind {
            EntityKind::Player(p) => NetEntity::Player(PlayerNet {
                pos: QVec2::from_vec2(self.pos),
                aim: aim_to_net(p.input.aim),
                dir: dir_to_net(p.input.move_dir),
                hp: p.hp,
                kills: p.kills,
                deaths: p.deaths,
                respawn_at: p.respawn_at,
                name: p.name.clone(),
                disconnected: p.disconnected,
                abilities: p.abilities,
            }),
            EntityKind::Projectile(p) => NetEntity::Projectile(ProjectileNet {
                origin: QVec2::from_vec2(p.origin),
                vel: QVec2::from_vec2(p.vel),
                spawn_tick: p.spawn_tick,
                owner: p.owner,
            }),
            EntityKind::Pickup(p) => NetEntity::Pickup(PickupNet {
                pos: QVec2::from_vec2(self.pos),
                active: p.respawn_at.is_none(),
            }),
        }
    }
}

impl NetEntity {
    /// The player view, if this is a player (the only kind that moves by itself, see
    /// [`PlayerNet::carried_pos`]).
    #[must_use]
    pub fn as_player(&self) -> Option<&PlayerNet> {
        match self {
            NetEntity::Player(p) => Some(p),
            _ => None,
        }
    }

    /// How `base` must change to become `self` when `base` is carried forward first
    /// ([`PlayerNet::carried_pos`]: a living player walks its direction, walls included, so
    /// steady motion costs nothing on the wire); like [`NetEntity::diff`], without copying
    /// `base`. `carried` is computed once per baseline and shared by every client using it.
    #[allow(clippy::result_unit_err)]
    pub fn diff_with_carried_pos(
        &self,
        base: &NetEntity,
        carried: Option<QVec2>,
    ) -> Result<Option<NetPatch>, ()> {
        match (self, base, carried) {
            (NetEntity::Player(now), NetEntity::Player(old), Some(pos)) => {
                let mask = (now.diff_mask(old) & !PlayerNet::POS_BIT) | u32::from(now.pos != pos);
                Ok((mask != 0).then(|| {
                    let mut value = PlayerNet::default();
                    value.apply_fields(mask, now);
                    NetPatch::Player(Patch { mask, value })
                }))
            }
            _ => self.diff(base),
        }
    }

    /// Applies a patch as it travels in a snapshot ([`NetPatch::pos_as_offset`]): a
    /// player's position field is an offset from the position this entity holds (after
    /// the baseline was carried forward). `false` (and no change) when the kind differs.
    pub fn apply_wire(&mut self, patch: &NetPatch) -> bool {
        let reference = match (&*self, patch) {
            (NetEntity::Player(p), NetPatch::Player(q)) if q.mask & PlayerNet::POS_BIT != 0 => {
                Some(p.pos)
            }
            _ => None,
        };
        if !self.apply(patch) {
            return false;
        }
        if let (Some(r), NetEntity::Player(p)) = (reference, self) {
            p.pos = QVec2 {
                x: r.x.wrapping_add(p.pos.x),
                y: r.y.wrapping_add(p.pos.y),
            };
        }
        true
    }

    /// Position of the entity at `tick` (needed for interest management and drawing).
    #[must_use]
    pub fn position_at(&self, tick: Tick, dt: f32) -> Vec2 {
        match self {
            NetEntity::Player(p) => p.pos.to_vec2(),
            NetEntity::Projectile(p) => p.position_at(tick, dt),
            NetEntity::Pickup(p) => p.pos.to_vec2(),
        }
    }
}

impl NetPatch {
    /// Turns a player patch's position into an offset from `reference`, the position the
    /// receiver holds for the entity before applying it (its baseline position, carried
    /// forward): a player that turned a few ticks ago is a few units off, one or two bytes
    /// per axis instead of three. [`NetEntity::apply_wire`] undoes it.
    pub fn pos_as_offset(&mut self, reference: QVec2) {
        if let NetPatch::Player(p) = self {
            if p.mask & PlayerNet::POS_BIT != 0 {
                p.value.pos = QVec2 {
                    x: p.value.pos.x.wrapping_sub(reference.x),
                    y: p.value.pos.y.wrapping_sub(reference.y),
                };
            }
        }
    }
}
