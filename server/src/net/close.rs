//! How a session ends: the close code (RFC 6455 section 7.4.1), the game-level reason, and
//! sending both so that the client actually receives them.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

use tickwire_shared::protocol::{codec, Disconnect, DisconnectReason, ServerMsg};

/// How long the server keeps reading after sending its close frame, so that unread client
/// bytes do not make the kernel reset the connection before the close frame arrives.
pub const LINGER: Duration = Duration::from_secs(2);

/// The end of a session.
#[derive(Debug, Clone)]
pub struct Closing {
    /// Close code to send; `None` when the transport is already gone.
    pub code: Option<CloseCode>,
    /// Game-level reason sent as a `Disconnect` message before the close frame.
    pub reason: Option<DisconnectReason>,
    /// Short human-readable text (close frame reason, at most 123 bytes).
    pub detail: String,
}

impl Closing {
    /// Close with `code` and a game-level `reason`.
    pub fn with_reason(
        code: CloseCode,
        reason: DisconnectReason,
        detail: impl Into<String>,
    ) -> Self {
        Closing {
            code: Some(code),
            reason: Some(reason),
            detail: detail.into(),
        }
    }

    /// Close with `code` only (transport-level problems).
    pub fn code(code: CloseCode, detail: impl Into<String>) -> Self {
        Closing {
            code: Some(code),
            reason: None,
            detail: detail.into(),
        }
    }

    /// The connection is already gone: nothing to send.
    pub fn gone(detail: impl Into<String>) -> Self {
        Closing {
            code: None,
            reason: None,
            detail: detail.into(),
        }
    }

    /// The peer sent a close frame: tungstenite answers it; just flush.
    pub fn peer_closed() -> Self {
        Closing::gone("peer closed")
    }

    /// Maps a WebSocket read error to the close code the client should get.
    pub fn from_ws_error(e: &WsError) -> Self {
        match e {
            WsError::Capacity(c) => Closing::code(CloseCode::Size, c.to_string()),
            WsError::Protocol(p) => Closing::code(CloseCode::Protocol, p.to_string()),
            WsError::Utf8(_) => Closing::code(CloseCode::Invalid, "invalid utf-8"),
            WsError::ConnectionClosed | WsError::AlreadyClosed | WsError::Io(_) => {
                Closing::gone(e.to_string())
            }
            other => Closing::code(CloseCode::Error, other.to_string()),
        }
    }
}

/// Sends the reason and the close frame, then reads and discards until the peer closes or
/// [`LINGER`] passes. Never fails: the connection is ending either way.
pub async fn close<S>(ws: &mut WebSocketStream<S>, closing: &Closing)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if let Some(code) = closing.code {
        let send = async {
            if let Some(reason) = closing.reason {
                let msg = ServerMsg::Disconnect(Disconnect {
                    reason,
                    detail: closing.detail.clone(),
                });
                ws.feed(Message::Binary(codec::encode_server(&msg).into()))
                    .await?;
            }
            let mut text = closing.detail.clone();
            truncate_utf8(&mut text, 120);
            ws.send(Message::Close(Some(CloseFrame {
                code,
                reason: text.into(),
            })))
            .await
        };
        if tokio::time::timeout(LINGER, send).await.is_err() {
            return;
        }
    }
    // Drain until the peer's close (or EOF), bounded in time.
    let _ =
        tokio::time::timeout(LINGER, async { while let Some(Ok(_)) = ws.next().await {} }).await;
}

fn truncate_utf8(s: &mut String, max: usize) {
    if s.len() > max {
        let mut i = max;
        while !s.is_char_boundary(i) {
            i -= 1;
        }
        s.truncate(i);
    }
}
