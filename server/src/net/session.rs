//! A game session on an upgraded WebSocket: the join, then the play loop, then the close.
//! The session has one owner and one exit: it tells the room `Leave` exactly once, after
//! its play loop, whatever ended it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::time::Sleep;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tracing::{debug, field, warn};

use tickwire_shared::protocol::{
    codec, ClientMsg, DisconnectReason, Pong, ServerMsg, MAX_NAME_BYTES, PROTOCOL_VERSION,
};

use super::close::{close, Closing};
use super::connection::Ws;
use super::downlink::{Downlink, Event};
use super::rate_limit::TokenBucket;
use crate::room::{ConnInput, JoinRefused, Joined};
use crate::Shared;

/// How long a session whose room channel closed waits to learn whether the server is
/// stopping (1001 / 1011) rather than the room having dropped this player (1008).
const ROOM_GONE_GRACE: Duration = Duration::from_millis(250);

/// Runs a game session to its end, close frame included.
pub async fn run(mut ws: Ws, shared: &Shared) {
    let linger = shared.config.close_linger;
    let downlink = ws.get_ref().downlink().clone();
    let joined = tokio::select! {
        biased;
        () = shared.shutdown.cancelled() => Err(stopping(shared)),
        r = tokio::time::timeout(shared.config.join_timeout, read_join(&mut ws)) => match r {
            Ok(Ok(name)) => join(shared, name, downlink.clone()).await,
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
    let closing = play(&mut ws, &downlink, joined, shared).await;
    // From here on only the session writes: the room's frames stop before the close.
    downlink.seal();
    shared.room.leave(player).await;
    count(shared, &closing);
    debug!(?closing, "session ended");
    close(&mut ws, &closing, linger).await;
}

async fn join(
    shared: &Shared,
    name: String,
    downlink: std::sync::Arc<Downlink>,
) -> Result<Joined, Closing> {
    shared.room.join(name, downlink).await.map_err(|e| {
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

/// The play loop: inputs in, keepalive, and the downlink's events (the room writes the
/// snapshots itself; this task writes what the socket did not take at once); returns how
/// it ended.
async fn play(ws: &mut Ws, down: &Downlink, joined: Joined, shared: &Shared) -> Closing {
    let Joined { inputs, .. } = joined;
    let cfg = &shared.config;
    let mut keepalive = tokio::time::interval(cfg.ping_interval);
    keepalive.tick().await;
    let mut bucket = TokenBucket::new(cfg.max_msgs_per_s, cfg.msg_burst);
    let mut last_heard = Instant::now();
    let cancelled = shared.shutdown.cancelled();
    tokio::pin!(cancelled);
    let mut downlink = DownlinkEvents::new(down, cfg.write_timeout);
    loop {
        tokio::select! {
            biased;
            () = &mut cancelled => return stopping(shared),
            ev = &mut downlink => match ev {
                DownEvent::Room(Event::Kicked(reason)) => {
                    return Closing::with_reason(CloseCode::Policy, reason, "dropped by the room");
                }
                DownEvent::Room(Event::Detached) => return room_gone(shared).await,
                DownEvent::Room(Event::Failed(e)) => return Closing::gone(format!("write failed: {e}")),
                DownEvent::Stalled => return write_timed_out(),
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
                    // tungstenite queues the pong to a ping and writes it on the next read;
                    // pongs just count as life.
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
                        // Queue full: the client sends faster than the room ticks; drop.
                        if inputs.push(conn_input).is_err() {
                            debug!("input queue full, input dropped");
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

/// What the play loop hears from its downlink.
enum DownEvent {
    /// From the room or the socket.
    Room(Event),
    /// Frames have waited `write_timeout` without a byte going out.
    Stalled,
}

/// The downlink's events as a future the play loop polls again and again: it writes what
/// the socket did not take, and turns a write stall of `timeout` into [`DownEvent::Stalled`]
/// (a timer armed only while bytes wait).
struct DownlinkEvents<'a> {
    down: &'a Downlink,
    timeout: Duration,
    stall: Pin<Box<Sleep>>,
    armed: Option<Instant>,
}

impl<'a> DownlinkEvents<'a> {
    fn new(down: &'a Downlink, timeout: Duration) -> Self {
        DownlinkEvents {
            down,
            timeout,
            stall: Box::pin(tokio::time::sleep(timeout)),
            armed: None,
        }
    }
}

impl Future for DownlinkEvents<'_> {
    type Output = DownEvent;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<DownEvent> {
        if let Poll::Ready(ev) = self.down.poll_event(cx) {
            return Poll::Ready(DownEvent::Room(ev));
        }
        let Some(since) = self.down.stalled_since() else {
            self.armed = None;
            return Poll::Pending;
        };
        if self.armed != Some(since) {
            let deadline = since + self.timeout;
            self.stall.as_mut().reset(deadline.into());
            self.armed = Some(since);
        }
        match self.stall.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(DownEvent::Stalled),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The peer stopped reading and the buffers are full: nothing can reach it any more, not
/// even a close frame; count it as too slow and let go.
fn write_timed_out() -> Closing {
    Closing {
        code: None,
        reason: Some(DisconnectReason::TooSlow),
        detail: "write timed out".to_owned(),
    }
}

/// The room let go of this player without a reason: the server is stopping, or failed.
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
        Err(_) => Err(write_timed_out()),
    }
}
