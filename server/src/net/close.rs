//! How a session ends: the close code (RFC 6455 section 7.4.1), the game-level reason, and
//! sending both so that the client actually receives them.
//!
//! tungstenite sends no close frame when it meets a protocol or size error: it returns the
//! error and would let the TCP connection drop. So the server maps the error to a code
//! ([`Closing::from_ws_error`]) and sends the close itself ([`close`]), then lingers: it
//! reads until the peer answers or hangs up, so that unread client bytes do not make the
//! kernel answer with a reset that destroys the close frame before the client reads it.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

use tickwire_shared::protocol::{codec, Disconnect, DisconnectReason, ServerMsg};

use super::game_socket::GameSocket;

/// The end of a session.
#[derive(Debug, Clone)]
pub struct Closing {
    /// Close code to send; `None` when the transport is already gone.
    pub code: Option<CloseCode>,
    /// Game-level reason sent as a `Disconnect` message before the close frame.
    pub reason: Option<DisconnectReason>,
    /// Short human-readable text (close frame reason, at most 123 bytes).
    pub detail: String,
    /// The connection was lost (reset, cut, silent, not reading) rather than closed by
    /// either side on purpose: a room that holds players for a resume keeps this one.
    pub lost: bool,
    /// The peer's frames broke the protocol: what it sends next is read as raw bytes.
    pub frames_broken: bool,
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
            lost: false,
            frames_broken: false,
        }
    }

    /// This closing as a lost connection (see [`Closing::lost`]).
    #[must_use]
    pub fn as_lost(self) -> Self {
        Closing { lost: true, ..self }
    }

    /// Close with `code` only (transport-level problems).
    pub fn code(code: CloseCode, detail: impl Into<String>) -> Self {
        Closing {
            code: Some(code),
            reason: None,
            detail: detail.into(),
            lost: false,
            frames_broken: false,
        }
    }

    /// The connection is already gone (lost): nothing to send.
    pub fn gone(detail: impl Into<String>) -> Self {
        Closing {
            code: None,
            reason: None,
            detail: detail.into(),
            lost: true,
            frames_broken: false,
        }
    }

    /// The peer sent a close frame (it left on purpose): tungstenite answers it; just flush.
    pub fn peer_closed() -> Self {
        Closing {
            lost: false,
            ..Closing::gone("peer closed")
        }
    }

    /// Maps a WebSocket read error to the close code the client should get: 1009 for a
    /// frame or message over the limit, 1002 for a protocol error (unmasked frame, RSV bits,
    /// bad fragmentation, reserved opcode), 1007 for invalid UTF-8 in a text message.
    pub fn from_ws_error(e: &WsError) -> Self {
        let closing = match e {
            WsError::Capacity(c) => Closing::code(CloseCode::Size, c.to_string()),
            // The TCP connection ended without a close frame: lost, not left.
            WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
                Closing::gone(e.to_string())
            }
            WsError::Protocol(p) => Closing::code(CloseCode::Protocol, p.to_string()),
            WsError::Utf8(_) => Closing::code(CloseCode::Invalid, "invalid utf-8"),
            WsError::ConnectionClosed | WsError::AlreadyClosed => Closing::peer_closed(),
            WsError::Io(_) => Closing::gone(e.to_string()),
            other => Closing::code(CloseCode::Error, other.to_string()),
        };
        Closing {
            frames_broken: true,
            ..closing
        }
    }
}

/// The payload of a client's binary message; `None` for a control frame (pings are
/// answered by tungstenite, pongs only show the client is alive); the close a text message
/// (1003) or the client's own close calls for.
///
/// # Errors
/// The [`Closing`] for a text message or a close frame.
pub fn binary_payload(msg: Message) -> Result<Option<bytes::Bytes>, Closing> {
    match msg {
        Message::Binary(b) => Ok(Some(b)),
        Message::Text(_) => Err(Closing::code(CloseCode::Unsupported, "binary frames only")),
        // 1001 ("going away") is what a browser sends for a page it reloads or closes: the
        // player may be back within the grace (a reload resumes), so it is held as lost.
        Message::Close(Some(f)) if f.code == CloseCode::Away => {
            Err(Closing::gone("the page went away (1001)"))
        }
        Message::Close(_) => Err(Closing::peer_closed()),
        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => Ok(None),
    }
}

/// Sends the reason and the close frame, then reads until the peer closes, for at most
/// `linger`. Never fails: the connection is ending either way.
pub async fn close<S>(ws: &mut WebSocketStream<S>, closing: &Closing, linger: Duration)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let deadline = Instant::now() + linger;
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
        match tokio::time::timeout_at(deadline, send).await {
            // The peer does not take what we write: nothing more to do for it.
            Err(_) => return,
            Ok(Err(e)) => tracing::debug!(error = %e, "close frame not sent"),
            Ok(Ok(())) => {}
        }
    }
    // Read until the peer's close reply ends the stream. After a protocol or size error the
    // frame reader cannot be trusted to make sense of what follows: fall back to raw bytes.
    let orderly = tokio::time::timeout_at(deadline, async {
        loop {
            match ws.next().await {
                Some(Ok(_)) => {}
                None | Some(Err(WsError::ConnectionClosed | WsError::AlreadyClosed)) => {
                    return true
                }
                Some(Err(_)) => return false,
            }
        }
    })
    .await;
    if orderly == Ok(false) {
        drain(ws.get_mut(), deadline).await;
    }
}

/// Bytes a closing connection may still read and discard: a client that keeps sending
/// past this is flooding, not closing.
pub const MAX_CLOSE_DISCARD_BYTES: usize = 1 << 20;

/// [`close`] for a game connection ([`GameSocket`]), the way RFC 6455 (section 7.1.1)
/// intends: the reason and the close frame go out behind whatever still waits to be
/// written; once the kernel has it all the write side is shut down (FIN after the close
/// frame); meanwhile and after, what the client sends is read and discarded (at most
/// [`MAX_CLOSE_DISCARD_BYTES`]), so its unread input never makes the kernel answer with a
/// reset that destroys the tail of what was sent. It ends when the client has answered the
/// close or hung up, or at `linger`: a client that took nothing of its close by then is
/// reset, so that what it never read is freed at once instead of lingering in the kernel.
/// Never fails.
pub async fn close_conn(conn: &mut GameSocket, closing: &Closing, linger: Duration) {
    let deadline = Instant::now() + linger;
    let Ok(socket) = conn.attach() else {
        return;
    };
    if let Some(code) = closing.code {
        if let Some(reason) = closing.reason {
            let msg = ServerMsg::Disconnect(Disconnect {
                reason,
                detail: closing.detail.clone(),
            });
            conn.send_binary([&codec::encode_server(&msg), &[]], false);
        }
        let mut text = closing.detail.clone();
        truncate_utf8(&mut text, 120);
        let frame = CloseFrame {
            code,
            reason: text.into(),
        };
        if let Err(e) = conn.send_control(Message::Close(Some(frame))) {
            tracing::debug!(error = %e, "close frame not sent");
        }
    }
    let done =
        tokio::time::timeout_at(deadline, conn.finish_close(&socket, closing.frames_broken)).await;
    if !matches!(done, Ok(true)) {
        // Out of time, or the peer misbehaved: let go now, unsent bytes included.
        conn.abort(&socket);
    }
}

/// Half-closes `stream` and discards what the peer still sends until it hangs up or
/// `deadline` passes.
pub async fn drain<S>(stream: &mut S, deadline: Instant)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let _ = tokio::time::timeout_at(deadline, stream.shutdown()).await;
    let mut scratch = [0u8; 512];
    let _ = tokio::time::timeout_at(deadline, async {
        while let Ok(n) = stream.read(&mut scratch).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

/// The bytes of an unmasked (server) WebSocket frame with a payload under 126 bytes.
fn small_frame(opcode: u8, payload: &[u8], out: &mut Vec<u8>) {
    debug_assert!(payload.len() < 126);
    out.push(0x80 | opcode);
    out.push(payload.len() as u8);
    out.extend_from_slice(payload);
}

/// Writes a `Disconnect` message and a close frame by hand on a freshly upgraded stream
/// (used to refuse cheaply, without setting up a WebSocket), then lingers.
pub async fn refuse_upgraded<S>(
    stream: &mut S,
    code: CloseCode,
    reason: DisconnectReason,
    detail: &str,
    linger: Duration,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let deadline = Instant::now() + linger;
    let mut detail = detail.to_owned();
    truncate_utf8(&mut detail, 40);
    let msg = codec::encode_server(&ServerMsg::Disconnect(Disconnect {
        reason,
        detail: detail.clone(),
    }));
    let mut out = Vec::with_capacity(256);
    if msg.len() < 126 {
        small_frame(0x2, &msg, &mut out);
    }
    let mut payload = u16::from(code).to_be_bytes().to_vec();
    payload.extend_from_slice(detail.as_bytes());
    small_frame(0x8, &payload, &mut out);
    if let Ok(Ok(())) = tokio::time::timeout_at(deadline, stream.write_all(&out)).await {
        drain(stream, deadline).await;
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn close(code: CloseCode) -> Message {
        Message::Close(Some(CloseFrame {
            code,
            reason: "".into(),
        }))
    }

    #[test]
    fn a_page_going_away_is_held_a_close_is_a_leave() {
        let lost = |m| {
            binary_payload(m)
                .expect_err("a close ends the session")
                .lost
        };
        assert!(
            lost(close(CloseCode::Away)),
            "1001: a reload or a closed tab"
        );
        assert!(!lost(close(CloseCode::Normal)), "1000: the player left");
        assert!(!lost(Message::Close(None)));
    }
}
