//! Test only (`--autobahn-echo`): an echo WebSocket at `/echo` for the Autobahn conformance
//! suite. It runs behind the same accept path, caps, WebSocket limits and close-code
//! mapping as a game session; only the payload handling differs (text is echoed, not 1003).

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

use super::close::{close, Closing};
use super::connection::Ws;
use crate::Shared;

/// Echoes every text and binary message until the peer closes or breaks the protocol.
pub async fn run(mut ws: Ws, shared: &Shared) {
    let cfg = &shared.config;
    let closing = loop {
        let msg = tokio::select! {
            biased;
            () = shared.shutdown.cancelled() => break Closing::code(CloseCode::Away, "server shutting down"),
            m = ws.next() => m,
        };
        let msg = match msg {
            None => break Closing::gone("peer vanished"),
            Some(Err(e)) => break Closing::from_ws_error(&e),
            Some(Ok(m)) => m,
        };
        match msg {
            Message::Text(_) | Message::Binary(_) => {
                match tokio::time::timeout(cfg.write_timeout, ws.send(msg)).await {
                    Ok(Ok(())) => {}
                    _ => break Closing::gone("write failed or timed out"),
                }
            }
            Message::Close(_) => break Closing::peer_closed(),
            _ => {}
        }
    };
    close(&mut ws, &closing, cfg.close_linger).await;
}
