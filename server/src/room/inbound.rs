//! What a client sent since the last tick, read by the room from the client's socket at
//! the start of the tick: everything is checked here, and anything wrong ends the session
//! with its close code and reason. Nothing a client sends can reach another player.

use std::io;
use std::time::Instant;

use tokio_tungstenite::tungstenite::error::Error as WsError;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tracing::{debug, warn};

use tickwire_shared::protocol::{codec, ClientMsg, DisconnectReason, Pong, ServerMsg};
use tickwire_shared::Tick;

use super::input_queue::{Push, QueuedInput};
use super::players::PlayerSlot;
use super::{NetLimits, TickReport};
use crate::net::close::{binary_payload, Closing};
use crate::net::game_socket::GameSocket;
use crate::net::rate_limit::TokenBucket;

/// Reads and applies what one client sent: inputs into its queue, acknowledgements, pings
/// answered; then keepalive and the idle and write-stall limits. `Err` ends the session.
pub(super) fn read_client(
    p: &mut PlayerSlot,
    limits: &NetLimits,
    now: Instant,
    tick: Tick,
    newest_sent: Tick,
    ack_step: u32,
    report: &mut TickReport,
) -> Result<(), Closing> {
    let PlayerSlot {
        net_id,
        conn,
        queue,
        acks,
        bucket,
        last_heard,
        last_ping,
        ..
    } = p;
    let Some(conn) = conn.as_mut() else {
        return Ok(());
    };
    read_messages(
        conn,
        limits,
        now,
        tick,
        bucket,
        last_heard,
        report,
        net_id.0,
        |_, msg, report| match msg {
            ClientMsg::Input(msg) => {
                let q = QueuedInput::from_wire(&msg).map_err(|e| bad_message(e.to_string()))?;
                acks.note(msg.ack, newest_sent, ack_step);
                match queue.push(q) {
                    Push::Queued => {}
                    Push::Duplicate => report.inputs_duplicate += 1,
                    Push::Overflow => report.inputs_overflow += 1,
                }
                Ok(())
            }
            // A player has no camera of its own: ignored.
            ClientMsg::Camera(_) | ClientMsg::Playback(_) | ClientMsg::Ping(_) => Ok(()),
            ClientMsg::Join(_) | ClientMsg::Resume(_) | ClientMsg::Watch(_) => {
                Err(Closing::with_reason(
                    CloseCode::Policy,
                    DisconnectReason::BadMessage,
                    "already joined",
                ))
            }
        },
    )?;
    keepalive(conn, limits, now, *last_heard, last_ping, net_id.0)
}

/// The read every client gets, player or spectator: up to `max_msgs_per_tick` messages
/// within the byte budget, each counted and rate-limited, decoded, pings answered; every
/// other message goes to `handle`. `Err` ends the session.
#[allow(clippy::too_many_arguments)]
pub(super) fn read_messages(
    conn: &mut GameSocket,
    limits: &NetLimits,
    now: Instant,
    tick: Tick,
    bucket: &mut TokenBucket,
    last_heard: &mut Instant,
    report: &mut TickReport,
    who: u32,
    mut handle: impl FnMut(&mut GameSocket, ClientMsg, &mut TickReport) -> Result<(), Closing>,
) -> Result<(), Closing> {
    conn.rearm(limits.max_read_bytes_per_tick);
    for _ in 0..limits.max_msgs_per_tick {
        let msg = match conn.read() {
            Ok(m) => m,
            Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => {
                return Err(Closing::peer_closed())
            }
            Err(e) => return Err(Closing::from_ws_error(&e)),
        };
        *last_heard = now;
        report.messages_in += 1;
        let Some(bytes) = binary_payload(msg)? else {
            continue;
        };
        report.bytes_in += bytes.len();
        if !bucket.take_at(now) {
            return Err(Closing::with_reason(
                CloseCode::Policy,
                DisconnectReason::RateLimited,
                "too many messages",
            ));
        }
        match codec::decode_client(&bytes) {
            Err(e) => {
                report.decode_errors += 1;
                warn!(client = who, error = %e, "undecodable message");
                return Err(bad_message(e.to_string()));
            }
            Ok(ClientMsg::Ping(ping)) => {
                let pong = codec::encode_server(&ServerMsg::Pong(Pong { id: ping.id, tick }));
                conn.send_binary([&pong, &[]], false);
            }
            Ok(msg) => handle(conn, msg, report)?,
        }
    }
    Ok(())
}

/// The end of a client's read, player or spectator: the idle limit, the server's pings,
/// what waits written out, the write-stall limit.
pub(super) fn keepalive(
    conn: &mut GameSocket,
    limits: &NetLimits,
    now: Instant,
    last_heard: Instant,
    last_ping: &mut Instant,
    who: u32,
) -> Result<(), Closing> {
    if now.saturating_duration_since(last_heard) > limits.idle_timeout {
        // Silent: most likely a connection that died without a word (half-open).
        return Err(
            Closing::with_reason(CloseCode::Policy, DisconnectReason::IdleTimeout, "idle")
                .as_lost(),
        );
    }
    if now.saturating_duration_since(*last_ping) >= limits.ping_interval {
        *last_ping = now;
        if let Err(e) = conn.send_control(Message::Ping(Default::default())) {
            return Err(Closing::gone(format!("write failed: {e}")));
        }
    }
    // What waits goes out as far as the socket takes it. The socket's kernel buffers are
    // bounded (`--tcp-send-buffer-bytes`, `--tcp-unsent-bytes`): bytes wait here only while
    // they are full, i.e. while the client does not read what it is sent, whatever it
    // acknowledges. Snapshots are skipped meanwhile (`send_binary`); a queue that has not
    // emptied for `write_timeout` ends the session, with its close behind what waits.
    if let Err(e) = conn.flush() {
        return Err(Closing::gone(format!("write failed: {e}")));
    }
    if let Some(waited) = conn.stalled_for(now).filter(|w| *w > limits.write_timeout) {
        debug!(player = who, waiting = conn.waiting_bytes(), "not reading");
        return Err(Closing::with_reason(
            CloseCode::Policy,
            DisconnectReason::TooSlow,
            format!(
                "not reading: {} bytes waited {} s for the connection",
                conn.waiting_bytes(),
                waited.as_secs()
            ),
        )
        // Most likely a network stall: a room that holds players keeps this one.
        .as_lost());
    }
    Ok(())
}

pub(super) fn bad_message(detail: String) -> Closing {
    Closing::with_reason(CloseCode::Invalid, DisconnectReason::BadMessage, detail)
}
