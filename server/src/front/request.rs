//! One client connection, from the first byte to the upgrade: the request head (bounded in
//! size and time), the client's address, the caps, then HTTP or a WebSocket session.
//!
//! Refusals are cheap and explicit: over the caps, a WebSocket upgrade is completed and
//! closed at once with 1013 (browsers report no code for a refused handshake), plain HTTP
//! gets 503; a head too large gets 431, a slow or silent one 408.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tracing::{debug, field, info_span, Instrument};

use tickwire_shared::protocol::DisconnectReason;

use super::{api, session};
use crate::net::close::refuse_upgraded;
#[cfg(feature = "test-hooks")]
use crate::net::echo;
use crate::net::forwarded;
use crate::net::game_socket::GameSocket;
use crate::net::http::{self, BodyError, HeadError, Request};
use crate::net::limits::{Capacity, ConnSlot};
use crate::{Config, Shared};

/// The WebSocket limits of the configuration: small reads (client messages are tiny),
/// eager writes, a bounded write buffer, message and frame caps checked before buffering.
#[must_use]
pub fn ws_config(c: &Config) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(c.ws_read_buffer_bytes)
        .write_buffer_size(c.ws_write_buffer_bytes)
        .max_write_buffer_size(c.ws_max_write_buffer_bytes)
        .max_message_size(Some(c.max_message_bytes))
        .max_frame_size(Some(c.max_frame_bytes))
        .accept_unmasked_frames(false)
}

/// Serves one accepted TCP connection.
pub async fn handle(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>, cap: Capacity) {
    shared.metrics.connections_total.inc();
    shared.metrics.connections_open.inc();
    let _open = OpenGuard(shared.clone());
    let span = info_span!("conn", %peer, client = field::Empty, player = field::Empty);
    let shutdown = shared.shutdown.clone();
    async move {
        // Before the session starts, shutting down just drops the connection; a session
        // watches the shutdown itself, to say goodbye with 1001.
        let upgraded = tokio::select! {
            () = shutdown.cancelled() => None,
            u = upgrade(stream, peer, &shared, cap) => u,
        };
        match upgraded {
            Some((Route::Game(conn, asked), slot)) => {
                session::run(conn, &shared, asked).await;
                drop(slot);
            }
            #[cfg(feature = "test-hooks")]
            Some((Route::Echo(ws), slot)) => {
                let cfg = &shared.config;
                echo::run(ws, &shared.shutdown, cfg.write_timeout, cfg.close_linger).await;
                drop(slot);
            }
            None => {}
        }
    }
    .instrument(span)
    .await;
}

/// An upgraded connection, by what it does next.
enum Route {
    /// A game session: the room will drive it.
    Game(GameSocket, session::Asked),
    /// The test-only echo endpoint.
    #[cfg(feature = "test-hooks")]
    Echo(echo::Ws),
}

/// Reads the request and answers it: HTTP responses and refusals end here (`None`), an
/// accepted upgrade returns the WebSocket.
async fn upgrade(
    mut stream: TcpStream,
    peer: SocketAddr,
    shared: &Shared,
    cap: Capacity,
) -> Option<(Route, ConnSlot)> {
    let cfg = &shared.config;
    // A refusal needs the head too (to answer in the right language), but not for long.
    let head_time = match cap {
        Capacity::Within(_) => cfg.handshake_timeout,
        Capacity::Over(_) => cfg.handshake_timeout.min(cfg.close_linger),
    };
    let (req, leftover) = read_request(&mut stream, head_time).await?;
    let client = forwarded::client_ip(peer.ip(), &req, &cfg.trusted_proxies);
    tracing::Span::current().record("client", field::display(client));
    #[cfg(feature = "test-hooks")]
    if cfg.debug_panic_path.as_deref() == Some(req.path.as_str()) {
        panic!("test-only panic requested by {}", req.path);
    }
    let over = match cap {
        Capacity::Within(mut slot) => {
            if slot.claim_ip(client) {
                Ok(slot)
            } else {
                shared.metrics.kick("per_ip_limit");
                Err("too many connections from your address")
            }
        }
        Capacity::Over(_refusal) => {
            shared.metrics.kick("over_capacity");
            Err("server full")
        }
    };
    #[cfg(feature = "test-hooks")]
    let echo = cfg.autobahn_echo && req.path == "/echo";
    #[cfg(not(feature = "test-hooks"))]
    let echo = false;
    if req.path != "/ws" && !echo {
        match over {
            Ok(_slot) => {
                let serve = serve_http(&mut stream, &req, leftover, shared);
                let _ = tokio::time::timeout(cfg.write_timeout, serve).await;
            }
            Err(why) => {
                let body = format!("{why}\n");
                let _ = http::respond(
                    &mut stream,
                    503,
                    "text/plain",
                    body.as_bytes(),
                    "Retry-After: 5\r\n",
                )
                .await;
            }
        }
        return None;
    }
    let accept = match http::check_upgrade(&req, &cfg.allowed_origins) {
        Ok(a) => a,
        Err(refusal) => {
            debug!(
                status = refusal.status,
                why = refusal.text,
                "upgrade refused"
            );
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
            return None;
        }
    };
    let asked = session::Asked {
        room: req.query_param("room").map(str::to_owned),
        seat: req.query_param("seat").map(str::to_owned),
        replay: req.query_param("replay").map(str::to_owned),
    };
    drop(req);
    let response = http::switching_protocols(&accept);
    let wrote = tokio::time::timeout(head_time, stream.write_all(response.as_bytes())).await;
    if !matches!(wrote, Ok(Ok(()))) {
        return None;
    }
    let slot = match over {
        Ok(slot) => slot,
        Err(why) => {
            debug!(why, "over capacity: closing with 1013");
            refuse_upgraded(
                &mut stream,
                CloseCode::Again,
                DisconnectReason::ServerFull,
                why,
                cfg.close_linger,
            )
            .await;
            return None;
        }
    };
    if cfg.tcp_send_buffer_bytes > 0 {
        let _ = socket2::SockRef::from(&stream).set_send_buffer_size(cfg.tcp_send_buffer_bytes);
    }
    if cfg.tcp_unsent_bytes > 0 {
        let _ = socket2::SockRef::from(&stream).set_tcp_notsent_lowat(cfg.tcp_unsent_bytes);
    }
    #[cfg(feature = "test-hooks")]
    if echo {
        let ws = tokio_tungstenite::WebSocketStream::from_partially_read(
            stream,
            leftover,
            tokio_tungstenite::tungstenite::protocol::Role::Server,
            Some(ws_config(cfg)),
        )
        .await;
        return Some((Route::Echo(ws), slot));
    }
    // A game connection: the session waits for the join, then the room drives it.
    let conn = GameSocket::new(
        stream,
        leftover,
        ws_config(cfg),
        cfg.outbox_depth as usize,
        cfg.ws_max_write_buffer_bytes,
    );
    Some((Route::Game(conn, asked), slot))
}

/// Reads the request head within `limit`; answers and returns `None` when it is refused.
async fn read_request(
    stream: &mut TcpStream,
    limit: std::time::Duration,
) -> Option<(Request, Vec<u8>)> {
    let (status, body): (u16, &[u8]) =
        match tokio::time::timeout(limit, http::read_head(stream)).await {
            Ok(Ok(r)) => return Some(r),
            Ok(Err(HeadError::Io(_))) => return None,
            Err(_) => {
                debug!("request head timed out");
                (408, b"request timeout\n")
            }
            Ok(Err(HeadError::TooLarge)) => (431, b"request head too large\n"),
            Ok(Err(HeadError::Malformed(e))) => {
                debug!(error = %e, "malformed request");
                (400, b"bad request\n")
            }
        };
    // The peer may not read at all: the answer gets as long as the head had.
    let _ =
        tokio::time::timeout(limit, http::respond(stream, status, "text/plain", body, "")).await;
    None
}

/// Counts the connection as open until dropped.
struct OpenGuard(Arc<Shared>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.metrics.connections_open.dec();
    }
}

async fn serve_http(stream: &mut TcpStream, req: &Request, leftover: Vec<u8>, shared: &Shared) {
    if api::is_api(req) {
        let body = match http::read_body(stream, req, leftover).await {
            Ok(b) => b,
            Err(BodyError::Io(_)) => return,
            Err(e) => {
                let status = if matches!(e, BodyError::TooLarge) {
                    413
                } else {
                    411
                };
                let body = format!("{e}\n");
                let _ = http::respond(stream, status, "text/plain", body.as_bytes(), "").await;
                return;
            }
        };
        return api::serve(stream, req, &body, shared).await;
    }
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
        "/healthz" => {
            let _ = http::respond(stream, 200, "text/plain", b"ok\n", "").await;
            return;
        }
        _ => {}
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
