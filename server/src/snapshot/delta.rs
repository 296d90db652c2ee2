//! Encode once, send many: this tick's snapshot bodies ([`BodyCache`]).
//!
//! Everything visible (no interest management): one body per baseline in use, shared by
//! every client with that baseline. With interest management a body is cut along the
//! interest cells into chunks, each encoded once per baseline and tick for every client
//! whose view holds its cell; a client's body is its view's chunks back to back.
//!
//! - **delta chunk**: what changed in a cell since a baseline (carried forward), for a
//!   view that held the cell then and holds it now. Made a whole row of cells at a time,
//!   so a run of cells in a row is one span of bytes.
//! - **enter chunk**: the spawn of everything in a cell now, for a view that newly holds it.
//! - **leave chunk**: the despawn of what a cell held at a baseline, for a view that no
//!   longer holds it.
//! - **mover**: an entity in another cell than at a recent baseline (at most
//!   [`MOVERS_MAX_AGE`] ticks old). Left out of that baseline's delta and leave chunks;
//!   each client gets its own small chunk of them (a patch, a spawn or a despawn), built
//!   from encodings made once per mover and baseline.
//!
//! ```text
//!  columns:  0   1   2   3      a client whose view held columns 0..3 at its baseline
//!          +---+---+---+---+    and holds 1..4 now gets, row by row, its E chunks and
//!   row 0  | L | D | D | E |    then its D run (one copy: a row's chunks lie back to
//!          +---+---+---+---+    back), then its L chunks, then its own chunk of
//!   row 1  | L | D | D | E |    movers; all behind the state hash and chunk count,
//!          +---+---+---+---+    before the events since the baseline.
//!   D delta chunk (held then and now), E enter chunk (new), L leave chunk (gone)
//! ```
//!
//! Chunks, mover entries and event lists are encoded into one arena per tick and named by
//! spans. The clients are worked through by where their views are
//! ([`BodyCache::bodies`]): neighbouring views read the same rows, still in cache, and
//! clients with the same key (same cells, same baseline) share the whole body. Every
//! baseline in use costs a diff of the whole world per tick: under `Baselines::Sent` (the
//! default) every client that keeps up shares the previous tick; under `Baselines::Acked`
//! its step bounds how many are in use.

mod arena;
mod cache;
mod carried;
mod chunks;
mod movers;
mod rows;

use std::ops::Range;

use bytes::Bytes;
use tickwire_shared::Tick;

pub use cache::BodyCache;

use super::interest::ViewKey;

/// What a client's body depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BodyKey {
    /// Delta baseline (`None`: full state).
    pub baseline: Option<Tick>,
    /// The client's view at the baseline (ignored for a full state).
    pub base_view: ViewKey,
    /// The client's view now.
    pub view: ViewKey,
}

/// A client's body this tick.
#[derive(Clone, Debug)]
pub enum Body {
    /// A body shared by every client with the same baseline (everything visible).
    Shared(Bytes),
    /// A body assembled from a view's chunks (shared by the clients with the same key):
    /// these bytes of [`BodyCache::frames`].
    Assembled(Range<usize>),
}

/// Baselines at most this many ticks old have their movers sent per client (see the
/// module docs); older ones leave them in the shared chunks.
pub const MOVERS_MAX_AGE: u32 = 3;
