//! [`World`]: the whole authoritative state of one room, owned by its tick.

use std::sync::Arc;

use slotmap::SlotMap;

use crate::config::SimConfig;
use crate::entity::{Entity, EntityId, EntityKind, NetEntity, NetId, Player};
use crate::map::Map;
use crate::rng::Rng;
use crate::sim::grid::SpatialGrid;
use crate::tick::Tick;

/// The state of one room's simulation. Everything [`crate::sim::step`] reads or writes is
/// in here, so two worlds built the same way and stepped with the same inputs stay equal.
///
/// Its `Serialize` is what [`World::hash`] fingerprints: every field is in it unless marked
/// `#[serde(skip)]` (the map, constant and large, and the step's scratch space).
#[derive(Clone, Debug, serde::Serialize)]
pub struct World {
    /// The current tick: the state is the state at the *start* of this tick.
    pub tick: Tick,
    /// Gameplay constants.
    pub config: SimConfig,
    /// The map (shared: it never changes during a game; not hashed).
    #[serde(skip)]
    pub map: Arc<Map>,
    /// Every entity.
    pub entities: SlotMap<EntityId, Entity>,
    /// The only randomness the simulation may use.
    pub rng: Rng,
    next_net_id: u32,
    /// Scratch space reused by the step (not part of the state).
    #[serde(skip)]
    pub(crate) grid: SpatialGrid,
    /// Whether players moved since `grid` was built (see
    /// [`crate::sim::movement::fresh_player_grid`]).
    #[serde(skip)]
    pub(crate) grid_stale: bool,
    /// Scratch space reused by the step: the separation pushes of a tick.
    #[serde(skip)]
    pub(crate) pushes: Vec<(EntityId, glam::Vec2)>,
}

impl World {
    /// A world at tick 0 with what the map places in it (see [`crate::sim::spawn::populate`])
    /// and no players.
    #[must_use]
    pub fn new(config: SimConfig, map: Arc<Map>, seed: u64) -> World {
        let grid = SpatialGrid::new(config.player_radius * 4.0);
        let mut world = World {
            tick: Tick(0),
            config,
            map,
            entities: SlotMap::with_key(),
            rng: Rng::new(seed),
            next_net_id: 1,
            grid,
            grid_stale: false,
            pushes: Vec::new(),
        };
        crate::sim::spawn::populate(&mut world);
        world
    }

    /// Adds an entity with a fresh network id.
    pub fn spawn(&mut self, pos: glam::Vec2, kind: EntityKind) -> EntityId {
        let net_id = NetId(self.next_net_id);
        self.next_net_id = self.next_net_id.wrapping_add(1).max(1);
        self.entities.insert(Entity { net_id, pos, kind })
    }

    /// Removes an entity; `None` if it was already gone.
    pub fn despawn(&mut self, id: EntityId) -> Option<Entity> {
        self.entities.remove(id)
    }

    /// The player state of entity `id`, if it is a player.
    #[must_use]
    pub fn player(&self, id: EntityId) -> Option<&Player> {
        match &self.entities.get(id)?.kind {
            EntityKind::Player(p) => Some(p),
            _ => None,
        }
    }

    /// The entity with network id `net`, by linear search (tests and tools only).
    #[must_use]
    pub fn find_net(&self, net: NetId) -> Option<EntityId> {
        self.entities
            .iter()
            .find(|(_, e)| e.net_id == net)
            .map(|(id, _)| id)
    }

    /// Number of player entities.
    #[must_use]
    pub fn player_count(&self) -> usize {
        self.entities
            .values()
            .filter(|e| matches!(e.kind, EntityKind::Player(_)))
            .count()
    }

    /// The replicated view of every entity, sorted by network id: what a client that sees
    /// everything should hold after applying this tick's snapshot.
    #[must_use]
    pub fn net_state(&self) -> Vec<(NetId, NetEntity)> {
        let mut v = Vec::new();
        self.net_state_into(&mut v);
        v
    }

    /// [`World::net_state`] into `out` (cleared first; a server reuses the memory of an
    /// old state, thousands of entries a tick).
    pub fn net_state_into(&self, out: &mut Vec<(NetId, NetEntity)>) {
        out.clear();
        out.extend(self.entities.values().map(|e| (e.net_id, e.to_net())));
        out.sort_unstable_by_key(|(id, _)| *id);
    }

    /// A 64-bit FNV-1a hash of the complete state: the bincode encoding of its derived
    /// `Serialize` (tick, constants, randomness, every entity with every field, in slot
    /// order), hashed as it is written (no buffer). A field added to the world or to any
    /// entity kind is in it by construction; `shared/tests/world_hash.rs` perturbs each one.
    /// For determinism checks and replays.
    #[must_use]
    pub fn hash(&self) -> u64 {
        let mut h = Fnv(0xcbf2_9ce4_8422_2325);
        bincode::serde::encode_into_writer(self, &mut h, bincode::config::standard())
            .expect("hashing cannot fail");
        h.0
    }
}

/// FNV-1a, 64 bits, fed the encoding as it is written.
struct Fnv(u64);

impl bincode::enc::write::Writer for Fnv {
    fn write(&mut self, bytes: &[u8]) -> Result<(), bincode::error::EncodeError> {
        for &x in bytes {
            self.0 ^= u64::from(x);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
        Ok(())
    }
}
