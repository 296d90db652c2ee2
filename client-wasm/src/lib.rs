//! # tickwire-client-wasm
//!
//! The browser client. [`game`] is the client core (native Rust, tested natively):
//! session, input timing, prediction, interpolation, the render model. [`lobby`] is how a
//! player gets a seat in a room (quick play, a room's code, a new private room) and a new
//! one after a drop (native too, tested natively). [`hud`] decides what the HUD says and
//! which sounds play, [`touch`] turns fingers into controls, [`settings`] keeps the
//! player's settings and the camera (all native, tested). The `web` module (wasm32 only) is the
//! thin shell around them: the lobby's page, the rooms API calls, the WebSocket, the frame
//! loop, keyboard and mouse, and the canvas.

pub mod game;
pub mod hud;
pub mod lobby;
pub mod replay;
pub mod settings;
pub mod touch;

#[cfg(target_arch = "wasm32")]
mod web;
