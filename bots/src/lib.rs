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
//! | [`link`] | the link conditioner: latency ± jitter, stalls, bandwidth cap |
//! | [`feel`] | feel probes: the browser's client core behind the conditioner, its figures |
//! | [`stats`] | counters and round-trip histograms shared by the bots |
//! | [`failure`] | failures by kind, for grouping and thresholds |
//! | [`progress`] | live status line or plain periodic lines |
//! | [`report`] | [`report::Report`]: the table and the JSON |
//! | [`scenario`] | scenario files: stages, groups (behaviour mix, links), thresholds |
//! | [`series`] | the time series: one row a second |
//! | [`html`] | `--out DIR`: the summary, the series and the self-contained HTML report |
//! | [`verdict`] | thresholds, pass/fail lines, the outcome (the exit code) |
//! | [`watchdog`] | server unreachable or gone, the harness's late timers |

pub mod bot;
pub mod brain;
pub mod connection;
pub mod driver;
pub mod failure;
pub mod feel;
pub mod html;
pub mod link;
pub mod progress;
pub mod report;
pub mod scenario;
pub mod seats;
pub mod series;
pub mod spectate;
pub mod stats;
pub mod swarm;
pub mod verdict;
pub mod watchdog;

pub use connection::{BotConnection, BotError, DecodeMode, Detached, ServerEvent};
pub use driver::{Driver, Intent, View};
