//! # tickwire-client-wasm
//!
//! The browser client. [`game`] is the client core (native Rust, tested natively):
//! session, input timing, prediction, interpolation, the render model. The `web` module
//! (wasm32 only) is the thin shell around it: the WebSocket, the frame loop, keyboard and
//! mouse, and the canvas.

pub mod game;

#[cfg(target_arch = "wasm32")]
mod web;
