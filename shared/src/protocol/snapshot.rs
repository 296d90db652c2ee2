//! Snapshots: a fixed header every client reads cheaply, and a body that is a delta of the
//! replicated world against a baseline tick ([`diff`]).

use bincode::de::Decoder;
use bincode::enc::Encoder;
use bincode::error::{DecodeError, EncodeError};
use bincode::{Decode, Encode};

use std::borrow::Cow;

use crate::config::SimConfig;
use crate::entity::{NetEntity, NetId, NetPatch, QVec2};
use crate::map::Map;
use crate::protocol::id_gaps::IdGaps;
use crate::sim::TickEvent;
use crate::tick::Tick;

/// The per-client part of a snapshot, at a fixed place in the frame (see
/// [`crate::protocol::codec`]) so that a client can read it without decoding the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotHeader {
    /// The tick this snapshot describes.
    pub tick: Tick,
    /// The tick whose state the body is a delta against; `None` for a full state.
    pub baseline: Option<Tick>,
    /// The newest input sequence number the server has applied for this client (0: none).
    pub last_input_seq: u32,
}

/// The shared part of a snapshot: how to go from the baseline state to this tick's state,
/// and the events since the baseline. Clients with the same baseline and view get the same
/// body bytes (encode once, send many).
///
/// On the wire the body is its state hash (4 bytes), then the entity changes in one or more
/// *chunks*, then the events. A chunk holds the three id-sorted lists for part of the
/// world (a server with interest management sends one chunk per cell of the client's view
/// and encodes each chunk once for every client that shares it); decoding merges the
/// chunks into the three lists of this struct, sorted by id. An entity may be despawned
/// by one chunk and spawned by another (an entity that changed cell and is sent again
/// whole; the replica applies despawns before spawns). In a chunk each list carries its ids as gaps
/// from the previous id (a one-byte varint for neighbours in a dense id range, where the id
/// itself takes three to five); the decoder refuses a chunk list that is not strictly
/// increasing, and merged lists that repeat an id.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SnapshotBody {
    /// Entities new to the client, sorted by id.
    pub spawns: Vec<(NetId, NetEntity)>,
    /// Entities that changed, sorted by id. A player's position in a patch is an offset
    /// from the position the receiver holds once the baseline is carried forward
    /// ([`NetPatch::pos_as_offset`], [`NetEntity::apply_wire`]).
    pub patches: Vec<(NetId, NetPatch)>,
    /// Entities gone, sorted by id.
    pub despawns: Vec<NetId>,
    /// Events after the baseline tick up to this tick, oldest first.
    pub events: Vec<TickEvent>,
    /// [`state_hash`] of the state the client must hold once the body is applied: a replica
    /// that disagrees with the server detects it at once.
    pub state_hash: u32,
}

/// An entry of an id-sorted list of a body: its id, and what follows it on the wire.
trait IdEntry {
    fn id(&self) -> NetId;
    fn encode_rest<E: Encoder>(&self, e: &mut E) -> Result<(), EncodeError>;
}

/// Decoding an [`IdEntry`] once its id is known.
trait DecodeIdEntry<Ctx>: Sized {
    fn decode_rest<D: Decoder<Context = Ctx>>(id: NetId, d: &mut D) -> Result<Self, DecodeError>;
}

impl<T: Encode> IdEntry for (NetId, T) {
    fn id(&self) -> NetId {
        self.0
    }
    fn encode_rest<E: Encoder>(&self, e: &mut E) -> Result<(), EncodeError> {
        self.1.encode(e)
    }
}

impl<Ctx, T: Decode<Ctx>> DecodeIdEntry<Ctx> for (NetId, T) {
    fn decode_rest<D: Decoder<Context = Ctx>>(id: NetId, d: &mut D) -> Result<Self, DecodeError> {
        Ok((id, T::decode(d)?))
    }
}

impl IdEntry for NetId {
    fn id(&self) -> NetId {
        *self
    }
    fn encode_rest<E: Encoder>(&self, _: &mut E) -> Result<(), EncodeError> {
        Ok(())
    }
}

impl<Ctx> DecodeIdEntry<Ctx> for NetId {
    fn decode_rest<D: Decoder<Context = Ctx>>(id: NetId, _: &mut D) -> Result<Self, DecodeError> {
        Ok(id)
    }
}

/// Encodes a strictly increasing list: its length, then each id as its gap ([`IdGaps`])
/// followed by the rest of its entry.
fn encode_by_id<T: IdEntry, E: Encoder>(list: &[T], e: &mut E) -> Result<(), EncodeError> {
    (list.len() as u64).encode(e)?;
    let mut gaps = IdGaps::default();
    for entry in list {
        gaps.gap(entry.id())
            .map_err(EncodeError::Other)?
            .encode(e)?;
        entry.encode_rest(e)?;
    }
    Ok(())
}

/// Decodes what [`encode_by_id`] wrote, appending to `list` and refusing ids that do not
/// strictly increase.
fn decode_by_id<Ctx, T: DecodeIdEntry<Ctx>, D: Decoder<Context = Ctx>>(
    d: &mut D,
    list: &mut Vec<T>,
) -> Result<(), DecodeError> {
    let len = usize::try_from(u64::decode(d)?)
        .map_err(|_| DecodeError::Other("list length out of range"))?;
    // Counts against the decoder's byte limit before anything is allocated.
    d.claim_container_read::<T>(len)?;
    list.reserve(len);
    let mut gaps = IdGaps::default();
    for _ in 0..len {
        let id = gaps.id(u32::decode(d)?).map_err(DecodeError::Other)?;
        list.push(T::decode_rest(id, d)?);
    }
    Ok(())
}

/// Sorts a list merged from several chunks and refuses a repeated id.
fn merge_sorted<T: IdEntry>(list: &mut [T]) -> Result<(), DecodeError> {
    list.sort_by_key(IdEntry::id);
    if list.windows(2).any(|w| w[0].id() == w[1].id()) {
        return Err(DecodeError::Other("snapshot chunks repeat an entity"));
    }
    Ok(())
}

/// Appends one chunk of a body to `out`: the three id-sorted lists of `changes` (its
/// events and hash are not part of a chunk). A server that splits a delta by cells
/// encodes each cell's chunk once and sends it to every client whose view holds the cell.
///
/// # Errors
/// When a list is not strictly increasing.
pub(crate) fn encode_chunk<E: Encoder>(
    changes: &SnapshotBody,
    e: &mut E,
) -> Result<(), EncodeError> {
    encode_by_id(&changes.spawns, e)?;
    encode_by_id(&changes.patches, e)?;
    encode_by_id(&changes.despawns, e)
}

/// Whether a chunk would carry nothing (a server leaves such chunks out).
#[must_use]
pub fn chunk_is_empty(changes: &SnapshotBody) -> bool {
    changes.spawns.is_empty() && changes.patches.is_empty() && changes.despawns.is_empty()
}

impl<Ctx> Decode<Ctx> for SnapshotBody {
    fn decode<D: Decoder<Context = Ctx>>(d: &mut D) -> Result<Self, DecodeError> {
        let state_hash = u32::from_le_bytes(<[u8; 4]>::decode(d)?);
        let chunks = u64::decode(d)?;
        let mut body = SnapshotBody {
            state_hash,
            ..SnapshotBody::default()
        };
        for _ in 0..chunks {
            decode_by_id(d, &mut body.spawns)?;
            decode_by_id(d, &mut body.patches)?;
            decode_by_id(d, &mut body.despawns)?;
        }
        if chunks > 1 {
            merge_sorted(&mut body.spawns)?;
            merge_sorted(&mut body.patches)?;
            merge_sorted(&mut body.despawns)?;
        }
        body.events = Vec::decode(d)?;
        Ok(body)
    }
}

bincode::impl_borrow_decode!(SnapshotBody);

/// A 32-bit FNV-1a fingerprint of one replicated entity: its id, then its encoding.
#[must_use]
pub fn entity_hash(id: NetId, e: &NetEntity) -> u32 {
    // The encoding is hashed as it is written: no buffer, no allocation.
    struct Fnv(u32);
    impl bincode::enc::write::Writer for Fnv {
        fn write(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
            self.0 = fnv1a(self.0, bytes);
            Ok(())
        }
    }
    let mut h = Fnv(fnv1a(0x811c_9dc5, &id.0.to_le_bytes()));
    bincode::encode_into_writer(e, &mut h, bincode::config::standard())
        .expect("hashing cannot fail");
    h.0
}

fn fnv1a(mut h: u32, bytes: &[u8]) -> u32 {
    for &b in bytes {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// [`state_hash`] from the entities' [`entity_hash`]es, in any order: their wrapping sum,
/// so a server that hashes each entity once per tick sums them per cell once and adds up
/// the cells of every view.
#[must_use]
pub fn combine_hashes(hashes: impl IntoIterator<Item = u32>) -> u32 {
    hashes.into_iter().fold(0, u32::wrapping_add)
}

/// A 32-bit fingerprint of a replicated state: the wrapping sum of each entity's
/// [`entity_hash`] (which covers its id), so it does not depend on order.
#[must_use]
pub fn state_hash<'a>(entries: impl IntoIterator<Item = &'a (NetId, NetEntity)>) -> u32 {
    combine_hashes(entries.into_iter().map(|(id, e)| entity_hash(*id, e)))
}

/// A decoded snapshot.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    /// Per-client header.
    pub header: SnapshotHeader,
    /// Shared body.
    pub body: SnapshotBody,
}

/// How a baseline is carried forward before a delta applies: every entity of the baseline
/// is carried forward ([`crate::entity::NetEntity::carried_pos`]) `ticks` ticks (the baseline's age) with the
/// game's rules. Server and replica use the same one.
#[derive(Clone, Copy, Debug)]
pub struct Extrapolation<'a> {
    /// The baseline's tick (abilities' timers are absolute ticks: a dash is carried as far
    /// as it lasts).
    pub baseline: Tick,
    /// Ticks from the baseline to the snapshot.
    pub ticks: u32,
    /// Gameplay constants.
    pub config: &'a SimConfig,
    /// The map.
    pub map: &'a Map,
}

impl Extrapolation<'_> {
    /// `e` carried forward.
    #[must_use]
    pub fn apply<'e>(&self, e: &'e NetEntity) -> Cow<'e, NetEntity> {
        match e.carried_pos(self.baseline, self.ticks, self.config, self.map) {
            Some(pos) => Cow::Owned(e.carried_to(pos)),
            None => Cow::Borrowed(e),
        }
    }
}

/// The delta that turns `base`, carried forward by `ext`, into `now` (both sorted by id,
/// any iterable of entries: a whole state or a view of one); `base` empty means a full
/// state. Events are left empty for the caller.
#[must_use]
pub fn diff<'a, B, N>(base: B, now: N, ext: &Extrapolation<'_>) -> SnapshotBody
where
    B: IntoIterator<Item = &'a (NetId, NetEntity)>,
    N: IntoIterator<Item = &'a (NetId, NetEntity)>,
{
    let carried = base.into_iter().map(|entry| {
        let carried = entry
            .1
            .carried_pos(ext.baseline, ext.ticks, ext.config, ext.map);
        (entry, carried)
    });
    diff_carried(carried, now)
}

/// [`diff`] with each baseline entry's carried position already computed
/// ([`crate::entity::NetEntity::carried_pos`]): the server computes them once per baseline and tick.
#[must_use]
pub fn diff_carried<'a, B, N>(base: B, now: N) -> SnapshotBody
where
    B: IntoIterator<Item = (&'a (NetId, NetEntity), Option<QVec2>)>,
    N: IntoIterator<Item = &'a (NetId, NetEntity)>,
{
    let now: Vec<&(NetId, NetEntity)> = now.into_iter().collect();
    let hash = state_hash(now.iter().copied());
    diff_carried_hashed(base, now, hash)
}

/// [`diff_carried`] with the [`state_hash`] of `now` already known (a server combines
/// per-entity hashes it computed once per tick, see [`combine_hashes`]).
#[must_use]
pub fn diff_carried_hashed<'a, B, N>(base: B, now: N, state_hash: u32) -> SnapshotBody
where
    B: IntoIterator<Item = (&'a (NetId, NetEntity), Option<QVec2>)>,
    N: IntoIterator<Item = &'a (NetId, NetEntity)>,
{
    let mut body = SnapshotBody::default();
    diff_carried_into(base, now, &mut body);
    body.state_hash = state_hash;
    body
}

/// The changes of [`diff_carried`] written into `body`'s three lists, which are cleared
/// first (a server reuses one body's memory for every chunk it encodes); events and hash
/// are left alone.
pub fn diff_carried_into<'a, B, N>(base: B, now: N, body: &mut SnapshotBody)
where
    B: IntoIterator<Item = (&'a (NetId, NetEntity), Option<QVec2>)>,
    N: IntoIterator<Item = &'a (NetId, NetEntity)>,
{
    body.spawns.clear();
    body.patches.clear();
    body.despawns.clear();
    let mut base = base.into_iter().peekable();
    let mut now = now.into_iter().peekable();
    loop {
        match (base.peek(), now.peek()) {
            (Some(((bid, b), carried)), Some((nid, n))) if bid == nid => {
                match n.diff_with_carried_pos(b, *carried) {
                    Ok(Some(mut p)) => {
                        if let Some(reference) = carried.or_else(|| b.carried_field()) {
                            p.pos_as_offset(reference);
                        }
                        body.patches.push((*nid, p));
                    }
                    Ok(None) => {}
                    // Same id, other kind: ids are never reused, so this is a programming
                    // error upstream; keep the replica right anyway.
                    Err(()) => {
                        body.despawns.push(*bid);
                        body.spawns.push((*nid, n.clone()));
                    }
                }
                base.next();
                now.next();
            }
            (Some(((bid, _), _)), Some((nid, _))) if bid < nid => {
                body.despawns.push(*bid);
                base.next();
            }
            (Some(((bid, _), _)), None) => {
                body.despawns.push(*bid);
                base.next();
            }
            (_, Some((nid, n))) => {
                body.spawns.push((*nid, n.clone()));
                now.next();
            }
            (None, None) => break,
        }
    }
}
