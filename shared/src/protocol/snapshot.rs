//! Snapshots: a fixed header every client reads cheaply, and a body that is a delta of the
//! replicated world against a baseline tick ([`diff`]).

use bincode::{Decode, Encode};

use crate::entity::{NetEntity, NetId, NetPatch};
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
}

/// A decoded snapshot.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    /// Per-client header.
    pub header: SnapshotHeader,
    /// Shared body.
    pub body: SnapshotBody,
}

/// The delta that turns `base` into `now` (both sorted by id); `base` empty means a full
/// state. Events are left empty for the caller.
#[must_use]
pub fn diff(base: &[(NetId, NetEntity)], now: &[(NetId, NetEntity)]) -> SnapshotBody {
    let mut body = SnapshotBody::default();
    let (mut i, mut j) = (0, 0);
    while i < base.len() || j < now.len() {
        match (base.get(i), now.get(j)) {
            (Some((bid, b)), Some((nid, n))) if bid == nid => {
                match n.diff(b) {
                    Ok(Some(p)) => body.patches.push((*nid, p)),
                    Ok(None) => {}
                    // Same id, other kind: ids are never reused, so this is a programming
                    // error upstream; keep the replica right anyway.
                    Err(()) => {
                        body.despawns.push(*bid);
                        body.spawns.push((*nid, n.clone()));
                    }
                }
                i += 1;
                j += 1;
            }
            (Some((bid, _)), Some((nid, _))) if bid < nid => {
                body.despawns.push(*bid);
                i += 1;
            }
            (Some((bid, _)), None) => {
                body.despawns.push(*bid);
                i += 1;
            }
            (_, Some((nid, n))) => {
                body.spawns.push((*nid, n.clone()));
                j += 1;
            }
            (None, None) => unreachable!("loop condition"),
        }
    }
    body
}
