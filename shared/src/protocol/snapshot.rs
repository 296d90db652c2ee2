//! Snapshots: a fixed header every client reads cheaply, and a body that is a delta of the
//! replicated world against a baseline tick ([`diff`]).

use bincode::{Decode, Encode};

use std::borrow::Cow;

use crate::config::SimConfig;
use crate::entity::{NetEntity, NetId, NetPatch, QVec2};
use crate::map::Map;
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
#[derive(Clone, Debug, Default, PartialEq, Encode, Decode)]
pub struct SnapshotBody {
    /// Entities new to the client, sorted by id.
    pub spawns: Vec<(NetId, NetEntity)>,
    /// Entities that changed, sorted by id.
    pub patches: Vec<(NetId, NetPatch)>,
    /// Entities gone, sorted by id.
    pub despawns: Vec<NetId>,
    /// Events after the baseline tick up to this tick, oldest first.
    pub events: Vec<TickEvent>,
    /// [`state_hash`] of the state the client must hold once the body is applied: a replica
    /// that disagrees with the server detects it at once.
    pub state_hash: u32,
}

/// A 32-bit FNV-1a fingerprint of a replicated state (entries sorted by id): ids and the
/// bincode encoding of each view.
#[must_use]
pub fn state_hash<'a>(entries: impl IntoIterator<Item = &'a (NetId, NetEntity)>) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    let mut buf = Vec::with_capacity(64);
    for (id, e) in entries {
        buf.clear();
        buf.extend_from_slice(&id.0.to_le_bytes());
        bincode::encode_into_std_write(e, &mut buf, bincode::config::standard())
            .expect("encoding into a Vec cannot fail");
        for &b in &buf {
            h ^= u32::from(b);
            h = h.wrapping_mul(0x0100_0193);
        }
    }
    h
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
/// is carried forward ([`crate::entity::PlayerNet::carried_pos`]) `ticks` ticks (the baseline's age) with the
/// game's rules. Server and replica use the same one.
#[derive(Clone, Copy, Debug)]
pub struct Extrapolation<'a> {
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
        match e {
            NetEntity::Player(p) => match p.carried_pos(self.ticks, self.config, self.map) {
                Some(pos) => {
                    let mut moved = p.clone();
                    moved.pos = pos;
                    Cow::Owned(NetEntity::Player(moved))
                }
                None => Cow::Borrowed(e),
            },
            _ => Cow::Borrowed(e),
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
            .as_player()
            .and_then(|p| p.carried_pos(ext.ticks, ext.config, ext.map));
        (entry, carried)
    });
    diff_carried(carried, now)
}

/// [`diff`] with each baseline entry's carried position already computed
/// ([`crate::entity::PlayerNet::carried_pos`]): the server computes them once per baseline and tick.
#[must_use]
pub fn diff_carried<'a, B, N>(base: B, now: N) -> SnapshotBody
where
    B: IntoIterator<Item = (&'a (NetId, NetEntity), Option<QVec2>)>,
    N: IntoIterator<Item = &'a (NetId, NetEntity)>,
{
    let mut body = SnapshotBody::default();
    let mut base = base.into_iter().peekable();
    let now: Vec<&(NetId, NetEntity)> = now.into_iter().collect();
    body.state_hash = state_hash(now.iter().copied());
    let mut now = now.into_iter().peekable();
    loop {
        match (base.peek(), now.peek()) {
            (Some(((bid, b), carried)), Some((nid, n))) if bid == nid => {
                match n.diff_with_carried_pos(b, *carried) {
                    Ok(Some(p)) => body.patches.push((*nid, p)),
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
    body
}
