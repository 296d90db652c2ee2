//! A game session on an upgraded connection: the join, then the room owns the connection
//! for the whole play (it reads and writes the socket itself, once per tick), then it hands
//! it back here for the close. While the room has it this task sleeps on one channel: a
//! playing client costs no task wake at all.

use std::time::Duration;

use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tracing::debug;

use tickwire_shared::protocol::{
    codec, ClientMsg, DisconnectReason, MAX_NAME_BYTES, PROTOCOL_VERSION,
};

use super::close::{binary_payload, close_conn, Closing};
use super::conn::Conn;
use crate::room::Ending;
use crate::Shared;

/// How long a session whose room let go waits to learn whether the server is stopping
/// (1001 / 1011).
const ROOM_GONE_GRACE: Duration = Duration::from_millis(250);

/// Runs a game session to its end, close frame included.
pub async fn run(mut conn: Conn, shared: &Shared) {
    let linger = shared.config.close_linger;
    let name = tokio::select! {
        biased;
        () = shared.shutdown.cancelled() => Err(stopping(shared)),
        r = tokio::time::timeout(shared.config.join_timeout, read_join(&mut conn)) => match r {
            Ok(r) => r,
            Err(_) => Err(Closing::with_reason(
                CloseCode::Policy,
                DisconnectReason::JoinTimeout,
                "no join in time",
            )),
        },
    };
    let name = match name {
        Ok(name) => name,
        Err(closing) => {
            count(shared, &closing);
            return close_conn(&mut conn, &closing, linger).await;
        }
    };
    // Out of the runtime's epoll set: from now on the room reads and writes it.
    if let Err(e) = conn.detach() {
        let closing = Closing::gone(format!("cannot hand the socket over: {e}"));
        return close_conn(&mut conn, &closing, linger).await;
    }
    let (ended_tx, ended_rx) = oneshot::channel();
    if let Err(mut conn) = shared.room.join(name, conn, ended_tx) {
        let closing = Closing::with_reason(
            CloseCode::Again,
            DisconnectReason::ShuttingDown,
            "room is overloaded or gone",
        );
        count(shared, &closing);
        return close_conn(&mut conn, &closing, linger).await;
    }
    tracing::info!("session handed to the room");
    // The room hands the connection back when the session ends, or when it stops.
    let Ok((mut conn, ending)) = ended_rx.await else {
        debug!("the room dropped the connection");
        return;
    };
    let closing = match ending {
        Ending::Close(c) => c,
        Ending::RoomGone => room_gone(shared).await,
    };
    count(shared, &closing);
    debug!(?closing, "session ended");
    close_conn(&mut conn, &closing, linger).await;
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
async fn read_join(conn: &mut Conn) -> Result<String, Closing> {
    let socket = conn
        .attach()
        .map_err(|e| Closing::gone(format!("cannot wait on the socket: {e}")))?;
    loop {
        let msg = match conn.read_async(&socket).await {
            Ok(m) => m,
            Err(e) => return Err(Closing::from_ws_error(&e)),
        };
        let Some(bytes) = binary_payload(msg)? else {
            continue;
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

/// The room let go without a verdict: the server is stopping, or the room failed.
async fn room_gone(shared: &Shared) -> Closing {
    if tokio::time::timeout(ROOM_GONE_GRACE, shared.shutdown.cancelled())
        .await
        .is_ok()
    {
        return stopping(shared);
    }
    Closing::with_reason(
        CloseCode::Error,
        DisconnectReason::ShuttingDown,
        "internal error: the game stopped",
    )
}
