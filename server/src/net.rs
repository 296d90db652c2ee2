//! Networking: the accept loop, HTTP (static files, health) and WebSocket sessions on one
//! port. Everything a client sends is read here and nowhere else.

pub mod close;
pub mod connection;
pub mod http;
pub mod listener;
pub mod rate_limit;
