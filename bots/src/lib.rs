//! # tickwire-bots
//!
//! Headless Tickwire clients. [`connection::BotConnection`] speaks the protocol exactly as
//! the browser client does (join, inputs with acks, replica of every snapshot);
//! [`driver`] runs one in its own task at the tick rate with a shared view, for tests.
//!
//! The bot swarm (`tickwire-bots`, or [`swarm::run`] from code) drives thousands of them on
//! one runtime:
//!
//! | module | what |
//! | --- | --- |
//! | [`swarm`] | the run: ramp, warm-up, measured window, close; [`swarm::SwarmConfig`] |
//! | [`bot`] | one bot's session: absolute input schedule, snapshots, failures by kind |
//! | [`brain`] | [`brain::decide`]: the next input from what the bot's replica shows |
//! | [`seats`] | where each bot sits: quick play, or a seat from the rooms API |
//! | [`link`] | the link conditioner: latency, jitter, bandwidth cap |
//! | [`stats`] | counters and round-trip histograms shared by the bots |
//! | [`progress`] | live status line or plain periodic lines |
//! | [`report`] | [`report::Report`]: the table and the JSON |

pub mod bot;
pub mod brain;
pub mod connection;
pub mod driver;
pub mod link;
pub mod progress;
pub mod report;
pub mod seats;
pub mod stats;
pub mod swarm;

pub use connection::{BotConnection, BotError, DecodeMode, Detached, ServerEvent};
pub use driver::{Driver, Intent, View};
