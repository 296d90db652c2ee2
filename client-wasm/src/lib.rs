//! # tickwire-client-wasm
//!
//! The browser client. [`game`] is the client core (native Rust, tested natively):
//! session, input timing, prediction, interpolation, the render model. [`lobby`] is how a
//! player gets a seat in a room (quick play, a room's code, a new private room) and a new
//! one after a drop (native too, tested natively). The `web` module (wasm32 only) is the
//! thin shell around them: the lobby's page, the rooms API calls, the WebSocket, the frame
//! loop, keyboard and mouse, and the canvas.

pub mod game;
pub mod lobby;

#[cfg(target_arch = "wasm32")]
mod web;
