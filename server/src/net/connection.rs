//! One client connection, from the first byte to the close: HTTP or WebSocket, the join,
//! then the session loop. Each connection task has one owner and one exit: it tells the
//! room `Leave` exactly once, after its session loop, whatever ended it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc::error::TrySendError;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tracing::{debug, field, info_span, warn, Instrument};

use tickwire_shared::protocol::{
    codec, ClientMsg, DisconnectReason, Pong, ServerMsg, MAX_NAME_BYTES, PROTOCOL_VERSION,
};
use tickwire_shared::PlayerInput;

use super::close::{close, Closing};
use super::http::{self, HeadError};
use super::rate_limit::TokenBucket;
use crate::room::{ConnInput, JoinRefused, Joined, Outgoing};
use crate::Shared;

type Ws = WebSocketStream<TcpStream>;

/// The WebSocket limits: small reads (client messages are tiny), bounded write buffer.
pub fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_write_buffer_size(1024 * 1024)
        .max_message_size(Some(codec::MAX_CLIENT_MSG_BYTES))
        .max_frame_size(Some(codec::MAX_CLIENT_MSG_BYTES))
}

/// Serves one accepted TCP connection.
pub async fn handle(mut stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    shared.metrics.connections_total.inc();
    shared.metrics.connections_open.inc();
    let _open = OpenGuard(shared.clone());
    let span = info_span!("conn", %peer, player = field::Empty);
    async move {
        let handshake = Duration::from_secs(shared.config.handshake_timeout_s);
        let (req, leftover) = match tokio::time::timeout(handshake, http::read_head(&mut stream))
            .await
        {
            Err(_) => return debug!("handshake timed out"),
            Ok(Err(HeadError::TooLarge)) => {
                let _ = http::respond(
                    &mut stream,
                    431,
                    "text/plain",
                    b"request head too large\n",
                    "",
                )
                .await;
                return;
            }
            Ok(Err(HeadError::Malformed(e))) => {
                debug!(error = %e, "malformed request");
                let _ = http::respond(&mut stream, 400, "text/plain", b"bad request\n", "").await;
                return;
            }
            Ok(Err(HeadError::Io(_))) => return,
            Ok(Ok(r)) => r,
        };
        if req.path != "/ws" {
            return serve_http(&mut stream, &req, &shared).await;
        }
        let accept = match http::check_upgrade(&req, &[]) {
            Ok(a) => a,
            Err(refusal) => {
                let extra = if refusal.status == 426 {
                    "Sec-WebSocket-Version: 13\r\n"
                } else {
                    ""
                };
                let body = format!("{}\n", refusal.text);
                let _ = http::respond(
                    &mut stream,
                    refusal.status,
                    "text/plain",
                    body.as_bytes(),
                    extra,
                )
                .await;
                return;
            }
        };
        if stream
            .write_all(http::switching_protocols(&accept).as_bytes())
            .await
            .is_err()
        {
            return;
        }
        let ws =
            WebSocketStream::from_partially_read(stream, leftover, Role::Server, Some(ws_config()))
                .await;
        session(ws, &shared).await;
    }
    .instrument(span)
    .await;
}

/// Counts the connection as open until dropped.
struct OpenGuard(Arc<Shared>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.metrics.connections_open.dec();
    }
}

async fn serve_http(stream: &mut TcpStream, req: &http::Request, shared: &Shared) {
    if req.method != "GET" && req.method != "HEAD" {
        let _ = http::respond(stream, 405, "text/plain", b"method not allowed\n", "").await;
        return;
    }
    match req.path.as_str() {
        "/metrics" => {
            let body = shared.metrics.render();
            let _ = http::respond(stream, 200, "text/plain; version=0.0.4", &body, "").await;
            return;
        }
        "/stats" | "/stats/reset" => {
            let body = {
                let mut stats = shared.metrics.tick_stats.lock();
                let body = stats.to_json();
                if req.path == "/stats/reset" {
                    stats.reset();
                }
                body
            };
            let _ = http::respond(stream, 200, "application/json", body.as_bytes(), "").await;
            return;
        }
        _ => {}
    }
    if req.path == "/healthz" {
        let (status, body): (u16, &[u8]) = if shared.healthy() {
            (200, b"ok\n")
        } else {
            (503, b"unhealthy\n")
        };
        let _ = http::respond(stream, status, "text/plain", body, "").await;
        return;
    }
    let Some(path) = http::static_path(&req.path, &shared.config.assets, &shared.config.client_dir)
    else {
        let _ = http::respond(stream, 404, "text/plain", b"not found\n", "").await;
        return;
    };
    match tokio::fs::read(&path).await {
        Ok(body) => {
            let _ = http::respond(stream, 200, http::content_type(&path), &body, "").await;
        }
        Err(_) => {
            let _ = http::respond(stream, 404, "text/plain", b"not found\n", "").await;
        }
    }
}

/// A WebSocket session: join, play, leave, close.
async fn session(mut ws: Ws, shared: &Shared) {
    let join_timeout = Duration::from_secs(shared.config.join_timeout_s);
    let name = match tokio::time::timeout(join_timeout, read_join(&mut ws)).await {
        Ok(Ok(name)) => name,
        Ok(Err(closing)) => return close(&mut ws, &closing).await,
        Err(_) => {
            let c = Closing::with_reason(
                CloseCode::Policy,
                DisconnectReason::JoinTimeout,
                "no join in time",
            );
            return close(&mut ws, &c).await;
        }
    };
    let joined = match shared.room.join(name).await {
        Ok(j) => j,
        Err(e) => {
            let reason = match e {
                JoinRefused::Full => DisconnectReason::ServerFull,
                JoinRefused::Unavailable => DisconnectReason::ShuttingDown,
            };
            let c = Closing::with_reason(CloseCode::Again, reason, e.to_string());
            return close(&mut ws, &c).await;
        }
    };
    let player = joined.player;
    tracing::Span::current().record("player", field::debug(player));
    let closing = play(&mut ws, joined, shared).await;
    shared.room.leave(player).await;
    if let Some(reason) = closing.reason {
        shared.metrics.kick(reason_label(reason));
    }
    debug!(?closing, "session ended");
    close(&mut ws, &closing).await;
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

/// The session loop: snapshots out, inputs in, keepalive; returns how it ended.
async fn play(ws: &mut Ws, joined: Joined, shared: &Shared) -> Closing {
    let Joined {
        welcome,
        inputs,
        mut outbox,
        ..
    } = joined;
    let cfg = &shared.config;
    let write_timeout = Duration::from_secs(cfg.idle_timeout_s.max(1));
    if !send(ws, Message::Binary(welcome), write_timeout).await {
        return Closing::gone("welcome not delivered");
    }
    let idle = Duration::from_secs(cfg.idle_timeout_s.max(1));
    let mut keepalive = tokio::time::interval(Duration::from_secs(cfg.ping_interval_s.max(1)));
    keepalive.tick().await;
    let rate = f64::from(cfg.tick_hz) * 2.0;
    let mut bucket = TokenBucket::new(rate, rate);
    let mut last_heard = Instant::now();
    loop {
        tokio::select! {
            biased;
            () = shared.shutdown.cancelled() => {
                return Closing::with_reason(CloseCode::Away, DisconnectReason::ShuttingDown, "server shutting down");
            }
            out = outbox.recv() => match out {
                Some(Outgoing::Frame(bytes)) => {
                    if !send(ws, Message::Binary(bytes), write_timeout).await {
                        return Closing::gone("write failed or timed out");
                    }
                }
                Some(Outgoing::Kick(reason)) => return Closing::with_reason(CloseCode::Policy, reason, "dropped by the room"),
                None => return Closing::with_reason(CloseCode::Policy, DisconnectReason::TooSlow, "too far behind"),
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
                        let input = match PlayerInput::from_wire(&msg) {
                            Ok(i) => i,
                            Err(e) => return Closing::with_reason(CloseCode::Invalid, DisconnectReason::BadMessage, e.to_string()),
                        };
                        let conn_input = ConnInput { seq: msg.seq, tick: msg.tick, ack: msg.ack, input };
                        match inputs.try_send(conn_input) {
                            Ok(()) => {}
                            // Queue full: the client sends faster than the room ticks; drop.
                            Err(TrySendError::Full(_)) => debug!("input queue full, input dropped"),
                            Err(TrySendError::Closed(_)) => return Closing::with_reason(CloseCode::Policy, DisconnectReason::TooSlow, "dropped by the room"),
                        }
                    }
                    Ok(ClientMsg::Ping(p)) => {
                        let pong = ServerMsg::Pong(Pong { id: p.id, tick: shared.room.tick() });
                        if !send(ws, Message::Binary(codec::encode_server(&pong).into()), write_timeout).await {
                            return Closing::gone("write failed or timed out");
                        }
                    }
                    Ok(ClientMsg::Join(_)) => {
                        return Closing::with_reason(CloseCode::Policy, DisconnectReason::BadMessage, "already joined");
                    }
                }
            }
            _ = keepalive.tick() => {
                if last_heard.elapsed() > idle {
                    return Closing::with_reason(CloseCode::Policy, DisconnectReason::IdleTimeout, "idle");
                }
                if !send(ws, Message::Ping(Default::default()), write_timeout).await {
                    return Closing::gone("write failed or timed out");
                }
            }
        }
    }
}

/// Sends one message; `false` if the socket failed or the peer did not take it in time.
async fn send(ws: &mut Ws, msg: Message, timeout: Duration) -> bool {
    matches!(
        tokio::time::timeout(timeout, ws.send(msg)).await,
        Ok(Ok(()))
    )
}
