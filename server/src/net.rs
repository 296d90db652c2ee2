//! Networking: the accept loop, HTTP (static files, health) and WebSocket sessions on one
//! port. Everything a client sends is read here and nowhere else.
//!
//! - `listener`: accept, admission under the caps, back-off when descriptors run out;
//! - `connection`: request head, client address, refusals, upgrade;
//! - `conn`: an upgraded game connection, driven by the room during play;
//! - `session`: join and play loop; `echo`: the test-only Autobahn endpoint;
//! - `close`: close codes and the linger that delivers them; `limits`, `forwarded`,
//!   `rate_limit`, `http`: the pieces.

pub mod close;
pub mod conn;
pub mod connection;
pub mod echo;
pub mod forwarded;
pub mod http;
pub mod limits;
pub mod listener;
pub mod rate_limit;
pub mod session;
