//! The front door: what a connection asks for, and who answers it. Sits above [`crate::net`]
//! (transport: sockets, HTTP heads, WebSocket framing, close codes) and [`crate::room`]
//! (the game), which know nothing of each other's callers.
//!
//! - `request`: one connection from its first byte: request head, client address, caps,
//!   then a plain HTTP answer (static files, health, metrics) or an upgrade;
//! - `api`: the rooms API (matchmaking, create, invite, list) in JSON; `auth`: player
//!   identity from a JWT (`--auth-jwt-key`);
//! - `session`: a game session on an upgraded socket: the join, the hand-over to the room,
//!   the close when the room hands it back.

pub mod api;
pub mod auth;
pub mod request;
pub mod session;
