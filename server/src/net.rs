//! Networking: transport only, with no knowledge of rooms (the caller, [`crate::front`],
//! routes requests and sessions). Everything a client sends is read here and nowhere else.
//!
//! - `listener`: accept, admission under the caps, back-off when descriptors run out;
//! - `http`: request heads, responses, the upgrade handshake, static file paths;
//! - `game_socket`: an upgraded game connection, driven by the room during play;
//! - `close`: close codes and the linger that delivers them; `echo`: the test-only
//!   Autobahn endpoint; `limits`, `forwarded`, `rate_limit`: the pieces.

pub mod close;
#[cfg(feature = "test-hooks")]
pub mod echo;
pub mod forwarded;
pub mod game_socket;
pub mod http;
pub mod limits;
pub mod listener;
pub mod rate_limit;
