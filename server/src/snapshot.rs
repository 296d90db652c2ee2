//! What the room keeps of past ticks and how it turns them into per-client snapshots.

pub mod delta;
pub mod history;
pub mod interest;
