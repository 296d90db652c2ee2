//! # tickwire-bots
//!
//! Headless Tickwire clients. [`connection::BotConnection`] speaks the protocol exactly as
//! the browser client does (join, inputs with acks, replica of every snapshot);
//! [`driver`] runs one in its own task at the tick rate with a shared view, for tests and
//! for the bot swarm.

pub mod connection;
pub mod driver;

pub use connection::{BotConnection, BotError, DecodeMode, ServerEvent};
pub use driver::{Driver, Intent, View};
