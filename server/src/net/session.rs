//! A game session on an upgraded WebSocket: the join, then the play loop, then the close.
//! The session has one owner and one exit: it tells the room `Leave` exactly once, after
//! its play loop, whatever ended it.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc::error::TrySendError;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tracing::{debug, field, warn};

use tickwire_shared::protocol::{
    codec, ClientMsg, DisconnectReason, Pong, ServerMsg, MAX_NAME_BYTES, PROTOCOL_VERSION,
};

use super::close::{close, Closing};
use super::rate_limit::TokenBucket;
use crate::room::{ConnInput, JoinRefused, Joined, Outgoing};
use crate::Shared;

type Ws = WebSocketStream<TcpStream>;

/// How long a session whose room channel closed waits to learn whether the server is
/// stopping (1001 / 1011) rather than the room having dropped this player (1008).
const ROOM_GONE_GRACE: Duration = Duration::from_millis(250);

/// Runs a game session to its end, close frame included.
pub async fn run(mut ws: Ws, shared: &Shared) {
    let linger = shared.config.close_linger;
    let joined = tokio::select! {
        biased;
        () = shared.shutdown.cancelled() => Err(stopping(shared)),
        r = tokio::time::timeout(shared.config.join_timeout, read_join(&mut ws)) => match r {
            Ok(Ok(name)) => join(shared, name).await,
            Ok(Err(closing)) => Err(closing),
            Err(_) => Err(Closing::with_reason(
                CloseCode::Policy,
                DisconnectReason::JoinTimeout,
                "no join in time",
            )),
        },
    };
    let joined = match joined {
        Ok(j) => j,
        Err(closing) => {
            count(shared, &closing);
            return close(&mut ws, &closing, linger).await;
        }
    };
    let player = joined.player;
    tracing::Span::current().record("player", field::debug(player));
    tracing::info!("session started");
    let closing = play(&mut ws, joined, shared).await;
    shared.room.leave(player).await;
    count(shared, &closing);
    debug!(?closing, "session ended");
    close(&mut ws, &closing, linger).await;
}

async fn join(shared: &Shared, name: String) -> Result<Joined, Closing> {
    shared.room.join(name).await.map_err(|e| {
        let reason = match e {
            JoinRefused::Full => DisconnectReason::ServerFull,
            JoinRefused::Unavailable => DisconnectReason::ShuttingDown,
        };
        Closing::with_reason(CloseCode::Again, reason, e.to_string())
    })
}

fn count(shared: &Shared, closing: &Closing) {
    if let Some(reason) = closing.reason {
        shared.metrics.kick(reason_label(reason));
    } else if closing.code.is_some() {
        shared.metrics.kick("protocol");
    }
}

/// The close for a server that stops: 1001 when asked to, 1011 when the room failed.
fn stopping(shared: &Shared) -> Closing {
    if shared.healthy() {
        Closing::with_reason(
            CloseCode::Away,
            DisconnectReason::ShuttingDown,
            "server shutting down",
        )
    } else {
        Closing::with_reason(
            CloseCode::Error,
            DisconnectReason::ShuttingDown,
            "internal error: the game stopped",
        )
    }
}

/// Waits for the join message; refuses anything else with the right close code.
async fn read_join(ws: &mut Ws) -> Result<String, Closing> {
    loop {
        let msg = match ws.next().await {
            None => return Err(Closing::gone("closed before join")),
            Some(Err(e)) => return Err(Closing::from_ws_error(&e)),
            Some(Ok(m)) => m,
        };
        let bytes = match msg {
            Message::Binary(b) => b,
            Message::Text(_) => {
                return Err(Closing::code(CloseCode::Unsupported, "binary frames only"))
            }
            Message::Close(_) => return Err(Closing::peer_closed()),
            _ => continue,
        };
        return match codec::decode_client(&bytes) {
            Ok(ClientMsg::Join(j)) if j.version == PROTOCOL_VERSION => Ok(clean_name(&j.name)),
            Ok(ClientMsg::Join(j)) => Err(version_mismatch(j.version)),
            Ok(_) => Err(Closing::with_reason(
                CloseCode::Policy,
                DisconnectReason::BadMessage,
                "join first",
            )),
            Err(e) => match codec::peek_join_version(&bytes) {
                Some(v) if v != PROTOCOL_VERSION => Err(version_mismatch(v)),
                _ => Err(Closing::with_reason(
                    CloseCode::Invalid,
                    DisconnectReason::BadMessage,
                    e.to_string(),
                )),
            },
        };
    }
}

/// The `reason` label of `tickwire_kicks_total`.
fn reason_label(reason: DisconnectReason) -> &'static str {
    match reason {
        DisconnectReason::VersionMismatch { .. } => "version_mismatch",
        DisconnectReason::ServerFull => "server_full",
        DisconnectReason::ShuttingDown => "shutting_down",
        DisconnectReason::BadMessage => "bad_message",
        DisconnectReason::RateLimited => "rate_limited",
        DisconnectReason::IdleTimeout => "idle_timeout",
        DisconnectReason::TooSlow => "too_slow",
        DisconnectReason::JoinTimeout => "join_timeout",
    }
}

fn version_mismatch(client: u16) -> Closing {
    Closing::with_reason(
        CloseCode::Policy,
        DisconnectReason::VersionMismatch {
            server: PROTOCOL_VERSION,
            client,
        },
        format!("protocol version {client} not supported; server speaks {PROTOCOL_VERSION}"),
    )
}

/// Trims, drops control characters and cuts to [`MAX_NAME_BYTES`].
fn clean_name(raw: &str) -> String {
    let mut name = String::new();
    for c in raw.trim().chars().filter(|c| !c.is_control()) {
        if name.len() + c.len_utf8() > MAX_NAME_BYTES {
            break;
        }
        name.push(c);
    }
    if name.is_empty() {
        "player".to_owned()
    } else {
        name
    }
}

/// The play loop: snapshots out, inputs in, keepalive; returns how it ended.
async fn play(ws: &mut Ws, joined: Joined, shared: &Shared) -> Closing {
    let Joined {
        welcome,
        inputs,
        mut outbox,
        ..
    } = joined;
    let cfg = &shared.config;
    if let Err(closing) = send(ws, Message::Binary(welcome), cfg.write_timeout).await {
        return closing;
    }
    let mut keepalive = tokio::time::interval(cfg.ping_interval);
    keepalive.tick().await;
    let mut bucket = TokenBucket::new(cfg.max_msgs_per_s, cfg.msg_burst);
    let mut last_heard = Instant::now();
    loop {
        tokio::select! {
            biased;
            () = shared.shutdown.cancelled() => return stopping(shared),
            out = outbox.recv() => match out {
                Some(Outgoing::Frame(bytes)) => {
                    if let Err(closing) = send(ws, Message::Binary(bytes), cfg.write_timeout).await {
                        return closing;
                    }
                }
                Some(Outgoing::Kick(reason)) => {
                    return Closing::with_reason(CloseCode::Policy, reason, "dropped by the room");
                }
                None => return room_gone(shared).await,
            },
            msg = ws.next() => {
                let msg = match msg {
                    None => return Closing::gone("peer vanished"),
                    Some(Err(e)) => return Closing::from_ws_error(&e),
                    Some(Ok(m)) => m,
                };
                last_heard = Instant::now();
                shared.metrics.messages_in.inc();
                let bytes = match msg {
                    Message::Binary(b) => b,
                    Message::Text(_) => return Closing::code(CloseCode::Unsupported, "binary frames only"),
                    Message::Close(_) => return Closing::peer_closed(),
                    // Pings are answered by tungstenite on the next write; pongs just count as life.
                    _ => continue,
                };
                shared.metrics.bytes_in.inc_by(bytes.len() as u64);
                if !bucket.take_at(last_heard) {
                    return Closing::with_reason(CloseCode::Policy, DisconnectReason::RateLimited, "too many messages");
                }
                match codec::decode_client(&bytes) {
                    Err(e) => {
                        shared.metrics.decode_errors.inc();
                        warn!(error = %e, "undecodable message");
                        return Closing::with_reason(CloseCode::Invalid, DisconnectReason::BadMessage, e.to_string());
                    }
                    Ok(ClientMsg::Input(msg)) => {
                        let conn_input = match ConnInput::from_wire(&msg) {
                            Ok(i) => i,
                            Err(e) => return Closing::with_reason(CloseCode::Invalid, DisconnectReason::BadMessage, e.to_string()),
                        };
                        match inputs.try_send(conn_input) {
                            Ok(()) => {}
                            // Queue full: the client sends faster than the room ticks; drop.
                            Err(TrySendError::Full(_)) => debug!("input queue full, input dropped"),
                            Err(TrySendError::Closed(_)) => return room_gone(shared).await,
                        }
                    }
                    Ok(ClientMsg::Ping(p)) => {
                        let pong = ServerMsg::Pong(Pong { id: p.id, tick: shared.room.tick() });
                        let bytes = codec::encode_server(&pong).into();
                        if let Err(closing) = send(ws, Message::Binary(bytes), cfg.write_timeout).await {
                            return closing;
                        }
                    }
                    Ok(ClientMsg::Join(_)) => {
                        return Closing::with_reason(CloseCode::Policy, DisconnectReason::BadMessage, "already joined");
                    }
                }
            }
            _ = keepalive.tick() => {
                if last_heard.elapsed() > cfg.idle_timeout {
                    return Closing::with_reason(CloseCode::Policy, DisconnectReason::IdleTimeout, "idle");
                }
                if let Err(closing) = send(ws, Message::Ping(Default::default()), cfg.write_timeout).await {
                    return closing;
                }
            }
        }
    }
}

/// The room closed this player's channels: either it dropped the player (too slow, with a
/// full outbox so the kick could not be queued), or the server is stopping or failed.
async fn room_gone(shared: &Shared) -> Closing {
    if tokio::time::timeout(ROOM_GONE_GRACE, shared.shutdown.cancelled())
        .await
        .is_ok()
    {
        return stopping(shared);
    }
    Closing::with_reason(
        CloseCode::Policy,
        DisconnectReason::TooSlow,
        "too far behind",
    )
}

/// Sends one message within `timeout`.
async fn send(ws: &mut Ws, msg: Message, timeout: Duration) -> Result<(), Closing> {
    match tokio::time::timeout(timeout, ws.send(msg)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Closing::gone(format!("write failed: {e}"))),
        // The peer stopped reading and the buffers are full: nothing can reach it any more,
        // not even a close frame; count it as too slow and let go.
        Err(_) => Err(Closing {
            code: None,
            reason: Some(DisconnectReason::TooSlow),
            detail: "write timed out".to_owned(),
        }),
    }
}
