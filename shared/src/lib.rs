//! # tickwire-shared
//!
//! Everything the server, the browser client and the bots must agree on: the wire protocol
//! and its codec, the gameplay constants, and the deterministic simulation itself.
//! It compiles to native code and to `wasm32-unknown-unknown`; it has no async runtime,
//! no clock and no I/O.
//!
//! ## What lives where
//!
//! | module | what |
//! | --- | --- |
//! | [`tick`] | [`Tick`] (wrapping order), the default tick rate |
//! | [`seq`] | input sequence numbers: wrapping order, never 0 |
//! | [`config`] | [`SimConfig`]: every gameplay constant, sent to clients at join |
//! | [`map`] | [`Map`]: size, walls, spawn points; loaded from `assets/maps/*.json` |
//! | [`entity`] | entity kinds: authoritative state and replicated view side by side |
//! | [`replication`] | [`replicated!`](crate::replicated): per-field change masks and patches, derived |
//! | [`input`] | [`Controls`] in clients, [`InputMsg`](input::InputMsg) on the wire, [`PlayerInput`] in the sim |
//! | [`world`] | [`World`]: the whole state of one room |
//! | [`sim`] | [`sim::step`] and its phases: movement, combat, spawn |
//! | [`cells`] | items bucketed by grid cell (the sim's neighbour grid, a server's interest cells) |
//! | [`protocol`] | [`protocol::ClientMsg`] / [`protocol::ServerMsg`], snapshots, [`protocol::codec`] |
//! | [`replica`] | the client-side world that applies snapshots |
//! | [`replay`] | recorded matches: the file format, its writer and reader, verification by re-simulation |
//!
//! ## One tick, end to end
//!
//! ```text
//! client: InputMsg { seq, tick, ack } --codec--> server: input queue of that player
//! server tick T: inputs due at T -> sim::step(world) -> world at T+1
//!                -> replicated view -> per baseline: diff(view at ack, view now) -> body
//!                -> per client: header { tick, baseline, last_input_seq } + body
//! client: codec -> Replica::apply -> render / predict / decide; next input acks T+1
//! ```
//!
//! ## Extending the game
//!
//! `docs/extending.md` in the repository walks through adding two features end to end (health
//! pickups, an entity kind; the dash, a predicted movement ability). In short, what to touch for each kind of addition:
//!
//! | to add | touch |
//! | --- | --- |
//! | a gameplay constant | a field of [`SimConfig`] |
//! | map data | a field of [`Map`] (`#[serde(default)]`) and `assets/maps/*.json` |
//! | an entity kind | the one checklist in `docs/extending.md` ("The entity-kind checklist") |
//! | a replicated field | a field of its `replicated!` view and of `to_net` |
//! | a rule | a module in [`sim`] and one phase line in [`sim::step`] |
//! | a game event | a variant of [`sim::GameEvent`] |
//! | an input button | a [`input::Buttons`] constant and its row of [`input::BUTTONS`], the rule that reads it |
//! | a movement ability | fields of [`sim::movement::Abilities`] and lines of [`sim::movement::advance`] |
//! | damage | [`sim::combat::hurt`] |
//! | anything on the wire | [`protocol::PROTOCOL_VERSION`] and the recorded wire fingerprint |
//!
//! ## Determinism
//!
//! [`sim::step`] is a pure function of the [`World`] and the inputs: no clock, no I/O,
//! randomness only from [`World::rng`], iteration in deterministic orders, float math only
//! through IEEE-exact operations (`+ - * /`, `sqrt`) and `libm` for trigonometry, so native
//! and wasm32 builds compute the same bits. Positions are rounded to a 1/8-unit grid at the
//! end of each phase, which keeps the replicated view exact. [`World::hash`] fingerprints a
//! state for determinism tests and replays.
//!
//! ## Prediction
//!
//! A client predicts its own player's [`sim::movement::Motion`] with
//! [`sim::movement::advance`], the same function the server's step uses, replaying the inputs the server has not yet applied (those after
//! [`SnapshotHeader::last_input_seq`](protocol::SnapshotHeader)) on top of the server state.

#![deny(missing_docs)]

pub mod cells;
pub mod config;
pub mod entity;
pub mod input;
pub mod map;
pub mod num;
pub mod protocol;
pub mod replay;
pub mod replica;
pub mod replication;
pub mod rng;
pub mod seq;
pub mod sim;
pub mod tick;
pub mod world;

pub use config::SimConfig;
pub use entity::{EntityId, NetEntity, NetId};
pub use input::{Controls, PlayerInput};
pub use map::Map;
pub use replica::Replica;
pub use tick::Tick;
pub use world::World;
