//! Test only (`--autobahn-echo`): an echo WebSocket at `/echo` for the Autobahn conformance
//! suite. It runs behind the same accept path, caps, WebSocket limits and close-code
//! mapping as a game session; only the payload handling differs (text is echoed, not 1003).

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;

use super::close::{close, Closing};

/// An upgraded echo connection.
pub type Ws = WebSocketStream<TcpStream>;

/// Echoes every text and binary message until the peer closes, breaks the protocol or
/// `shutdown` is cancelled; a write may take `write_timeout`, the close lingers `linger`.
pub async fn run(
    mut ws: Ws,
    shutdown: &CancellationToken,
    write_timeout: Duration,
    linger: Duration,
) {
    let closing = loop {
        let msg = tokio::select! {
            biased;
            () = shutdown.cancelled() => break Closing::code(CloseCode::Away, "server shutting down"),
            m = ws.next() => m,
        };
        let msg = match msg {
            None => break Closing::gone("peer vanished"),
            Some(Err(e)) => break Closing::from_ws_error(&e),
            Some(Ok(m)) => m,
        };
        match msg {
            Message::Text(_) | Message::Binary(_) => {
                match tokio::time::timeout(write_timeout, ws.send(msg)).await {
                    Ok(Ok(())) => {}
                    _ => break Closing::gone("write failed or timed out"),
                }
            }
            Message::Close(_) => break Closing::peer_closed(),
            _ => {}
        }
    };
    close(&mut ws, &closing, linger).await;
}
