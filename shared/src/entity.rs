//! Entity kinds. Each kind lives in its own file (`entity/player.rs`, `projectile.rs`,
//! `pickup.rs`): its authoritative state, its replicated view, and how one becomes the other
//! and where it is ([`Kind`], [`View`]); the world hash covers the state by its derived
//! `Serialize`. The one list of kinds is the [`kinds!`] invocation below, which generates
//! [`EntityKind`], [`NetEntity`], [`NetPatch`] and every match over kinds.
//!
//! To add a kind, follow the one checklist in `docs/extending.md` ("The entity-kind checklist").

use bincode::{Decode, Encode};
use glam::Vec2;
use serde::{Deserialize, Serialize};
use slotmap::new_key_type;

use crate::replication::{Patch, Replicated};
use crate::tick::Tick;

mod pickup;
mod player;
mod projectile;
mod wire;

pub use pickup::{Pickup, PickupNet};
pub use player::{Player, PlayerNet};
pub use projectile::{Projectile, ProjectileNet};

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

/// What an entity kind declares, in its own file: its authoritative state is `Self` (a
/// field of it is in [`crate::World::hash`] by its derived `Serialize`), its replicated view
/// is [`Kind::Net`], and [`Kind::to_net`] says how the state becomes the view.
pub trait Kind: Clone + std::fmt::Debug + PartialEq + Serialize {
    /// Its replicated view, declared with [`crate::replicated!`].
    type Net: View;
    /// The view of this entity, whose centre is `pos`.
    fn to_net(&self, pos: Vec2) -> Self::Net;
}

/// What a replicated view declares besides its fields: where the entity is and, for a kind
/// that moves by itself, how a baseline of it is carried forward.
pub trait View: Replicated + std::fmt::Debug {
    /// Where the entity is at `tick` (interest cells, interpolation and drawing use it).
    fn position_at(&self, tick: Tick, dt: f32) -> Vec2;

    /// For a kind that moves by itself: its position field, which must be the view's first
    /// field (`pos: QVec2`, mask bit 1). Baselines of the kind are then carried forward
    /// with [`View::carry_from`] before a delta applies, and its patches send the position
    /// as an offset from the carried one. `None` (the default): the view says where it is.
    fn carried_field(&self) -> Option<QVec2> {
        None
    }

    /// The same field, to write.
    fn carried_field_mut(&mut self) -> Option<&mut QVec2> {
        None
    }

    /// Where the entity will be `ticks` ticks after tick `at`, starting from `from` (its
    /// position at `at`), if nothing but its own motion happens (the baseline's tick is
    /// given: timers are absolute ticks); `None` when it stays where it is.
    fn carry_from(
        &self,
        from: QVec2,
        at: Tick,
        ticks: u32,
        config: &crate::SimConfig,
        map: &crate::Map,
    ) -> Option<QVec2> {
        let _ = (from, at, ticks, config, map);
        None
    }
}

/// Declares the kinds, each as `Kind(State => View)`: generates [`EntityKind`],
/// [`NetEntity`], [`NetPatch`], their diff and apply, and the dispatch to [`Kind`] and
/// [`View`]; no other code lists the kinds.
macro_rules! kinds {
    ($( $(#[$doc:meta])* $kind:ident($state:ty => $view:ty) ),+ $(,)?) => {
        /// Kind-specific authoritative state.
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        pub enum EntityKind {
            $( $(#[$doc])* $kind($state) ),+
        }

        impl Entity {
            /// The replicated view of this entity.
            #[must_use]
            pub fn to_net(&self) -> NetEntity {
                match &self.kind {
                    $( EntityKind::$kind(k) => NetEntity::$kind(Kind::to_net(k, self.pos)), )+
                }
            }
        }

        $(
            impl FromNet for $view {
                fn from_net(e: &NetEntity) -> Option<&Self> {
                    match e {
                        NetEntity::$kind(v) => Some(v),
                        #[allow(unreachable_patterns)]
                        _ => None,
                    }
                }
            }
        )+

        /// The replicated view of any entity. Outside this crate, match it with `_ =>` or
        /// use [`NetEntity::view`]: kinds are added.
        #[derive(Clone, Debug, PartialEq, Encode, Decode)]
        pub enum NetEntity {
            $( $(#[$doc])* $kind($view) ),+
        }

        impl NetEntity {
            /// Position of the entity at `tick` (needed for interest management and drawing).
            #[must_use]
            pub fn position_at(&self, tick: Tick, dt: f32) -> Vec2 {
                match self {
                    $( NetEntity::$kind(v) => View::position_at(v, tick, dt), )+
                }
            }

            /// Its [`View::carried_field`]: the position a baseline of it is carried from,
            /// for a kind that moves by itself.
            #[must_use]
            pub fn carried_field(&self) -> Option<QVec2> {
                match self {
                    $( NetEntity::$kind(v) => View::carried_field(v), )+
                }
            }

            fn carried_field_mut(&mut self) -> Option<&mut QVec2> {
                match self {
                    $( NetEntity::$kind(v) => View::carried_field_mut(v), )+
                }
            }

            /// [`View::carry_from`] of its kind: from `from`, its carried position at tick
            /// `at`, `ticks` ticks on.
            #[must_use]
            pub fn carry_from(
                &self,
                from: QVec2,
                at: Tick,
                ticks: u32,
                config: &crate::SimConfig,
                map: &crate::Map,
            ) -> Option<QVec2> {
                match self {
                    $( NetEntity::$kind(v) => View::carry_from(v, from, at, ticks, config, map), )+
                }
            }

            /// How `base` must change to become `self` when `base` is carried forward first
            /// ([`NetEntity::carried_pos`]: a living player walks its direction, walls
            /// included, so steady motion costs nothing on the wire); like
            /// [`NetEntity::diff`], without copying `base`. `carried` is computed once per
            /// baseline and shared by every client using it.
            #[allow(clippy::result_unit_err)]
            pub fn diff_with_carried_pos(
                &self,
                base: &NetEntity,
                carried: Option<QVec2>,
            ) -> Result<Option<NetPatch>, ()> {
                match (self, base, carried) {
                    $(
                        (NetEntity::$kind(now), NetEntity::$kind(old), Some(pos))
                            if View::carried_field(now).is_some() =>
                        {
                            let moved = View::carried_field(now) != Some(pos);
                            let mask = (now.diff_mask(old) & !CARRIED_BIT) | u32::from(moved);
                            Ok((mask != 0).then(|| {
                                let mut value = <$view>::default();
                                value.apply_fields(mask, now);
                                NetPatch::$kind(Patch { mask, value })
                            }))
                        }
                    )+
                    _ => self.diff(base),
                }
            }
        }

        impl NetPatch {
            /// The fields this patch carries.
            #[must_use]
            pub fn mask(&self) -> u32 {
                match self {
                    $( NetPatch::$kind(p) => p.mask, )+
                }
            }

            fn carried_field_mut(&mut self) -> Option<&mut QVec2> {
                match self {
                    $( NetPatch::$kind(p) => View::carried_field_mut(&mut p.value), )+
                }
            }
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

kinds! {
    /// A connected player's avatar.
    Player(Player => PlayerNet),
    /// A shot in flight.
    Projectile(Projectile => ProjectileNet),
    /// A health pickup at a fixed map point.
    Pickup(Pickup => PickupNet),
}

/// A view type that can be picked out of a [`NetEntity`] ([`NetEntity::view`]); implemented
/// by [`kinds!`] for every view.
pub trait FromNet {
    /// The view, if `e` is of this kind.
    fn from_net(e: &NetEntity) -> Option<&Self>;
}

impl NetEntity {
    /// The view of kind `T`, if this entity is of that kind (`e.view::<PickupNet>()`): the
    /// way outside code picks kinds, without a match that a new kind would break.
    #[must_use]
    pub fn view<T: FromNet>(&self) -> Option<&T> {
        T::from_net(self)
    }

    /// The player view, if this is a player (`self.view::<PlayerNet>()`).
    #[must_use]
    pub fn as_player(&self) -> Option<&PlayerNet> {
        match self {
            NetEntity::Player(p) => Some(p),
            _ => None,
        }
    }

    /// Where this entity will be `ticks` ticks after `at` (the tick of this view) by its own
    /// motion ([`View::carry_from`] from its [`View::carried_field`]); `None` when it stays
    /// where it is.
    #[must_use]
    pub fn carried_pos(
        &self,
        at: Tick,
        ticks: u32,
        config: &crate::SimConfig,
        map: &crate::Map,
    ) -> Option<QVec2> {
        self.carry_from(self.carried_field()?, at, ticks, config, map)
    }

    /// This view carried forward to `pos` (its [`View::carried_field`] set).
    #[must_use]
    pub fn carried_to(&self, pos: QVec2) -> NetEntity {
        let mut moved = self.clone();
        if let Some(p) = moved.carried_field_mut() {
            *p = pos;
        }
        moved
    }

    /// Applies a patch as it travels in a snapshot ([`NetPatch::pos_as_offset`]): the
    /// carried position field of a kind that moves by itself is an offset from the position
    /// this entity holds (after the baseline was carried forward). `false` (and no change)
    /// when the kind differs.
    pub fn apply_wire(&mut self, patch: &NetPatch) -> bool {
        let reference = if patch.mask() & CARRIED_BIT != 0 {
            self.carried_field()
        } else {
            None
        };
        if !self.apply(patch) {
            return false;
        }
        if let (Some(r), Some(p)) = (reference, self.carried_field_mut()) {
            *p = QVec2 {
                x: r.x.wrapping_add(p.x),
                y: r.y.wrapping_add(p.y),
            };
        }
        true
    }
}

/// Mask bit of a carried position field (the first field of its view).
const CARRIED_BIT: u32 = 1;

impl NetPatch {
    /// Turns the carried position of a patch (kinds that move by themselves) into an offset
    /// from `reference`, the position the receiver holds for the entity before applying it
    /// (its baseline position, carried forward): a player that turned a few ticks ago is a
    /// few units off, one or two bytes per axis instead of three.
    /// [`NetEntity::apply_wire`] undoes it.
    pub fn pos_as_offset(&mut self, reference: QVec2) {
        if self.mask() & CARRIED_BIT != 0 {
            if let Some(p) = self.carried_field_mut() {
                *p = QVec2 {
                    x: p.x.wrapping_sub(reference.x),
                    y: p.y.wrapping_sub(reference.y),
                };
            }
        }
    }
}
