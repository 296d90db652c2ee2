//! Encode once, send many: this tick's snapshot bodies, one per distinct baseline, shared
//! by every client with that baseline. Each client's frame is its small fixed header plus
//! the shared body.

use bytes::Bytes;
use tickwire_shared::protocol::codec;
use tickwire_shared::protocol::snapshot::{diff, Extrapolation, SnapshotHeader};
use tickwire_shared::{Map, SimConfig, Tick};

use super::history::History;

/// The encoded bodies of the current tick, keyed by baseline (`None`: full state).
#[derive(Default)]
pub struct BodyCache {
    tick: Option<Tick>,
    bodies: Vec<(Option<Tick>, Bytes)>,
}

impl BodyCache {
    /// The encoded body for clients whose baseline is `baseline` at the newest tick of
    /// `history`; encoded on first use in a tick, shared afterwards.
    ///
    /// `baseline` must be held by `history` (or `None`); `config` and `map` are the game's
    /// rules, which carry the baseline forward (see [`Extrapolation`]).
    pub fn body(
        &mut self,
        history: &History,
        baseline: Option<Tick>,
        config: &SimConfig,
        map: &Map,
    ) -> Bytes {
        let now = history
            .latest()
            .expect("the room records a tick before sending it");
        if self.tick != Some(now.tick) {
            self.tick = Some(now.tick);
            self.bodies.clear();
        }
        if let Some((_, b)) = self.bodies.iter().find(|(t, _)| *t == baseline) {
            return b.clone();
        }
        let base = baseline.and_then(|t| history.get(t));
        let ext = Extrapolation {
            ticks: base.map_or(0, |r| now.tick.since(r.tick)),
            config,
            map,
        };
        let mut body = diff(base.map_or(&[], |r| r.state.as_slice()), &now.state, &ext);
        body.events = history.events_since(base.map(|r| r.tick));
        let mut buf = Vec::with_capacity(64 + body.spawns.len() * 32 + body.patches.len() * 8);
        codec::encode_body(&body, &mut buf);
        let bytes = Bytes::from(buf);
        self.bodies.push((baseline, bytes.clone()));
        bytes
    }

    /// Number of distinct bodies encoded this tick.
    pub fn encoded(&self) -> usize {
        self.bodies.len()
    }
}

/// One client's snapshot frame: header + shared body.
pub fn frame(header: &SnapshotHeader, body: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(codec::SNAPSHOT_HEADER_LEN + body.len());
    codec::write_snapshot_frame(header, body, &mut out);
    Bytes::from(out)
}
