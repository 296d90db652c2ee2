//! Failures by kind: every failure of a run is counted under a short, stable, readable
//! kind ("join refused: HTTP 503", "closed 1008 Resume(Expired)", "reset", "timeout",
//! "desync: hash mismatch"), so that a report groups them and a threshold can count them.

use std::io::ErrorKind;

use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::Error as WsError;

use tickwire_shared::replica::ReplicaError;

use crate::connection::BotError;

/// The kind of a bot failure, for grouping (no ids, ticks or hashes in it).
#[must_use]
pub fn kind(e: &BotError) -> String {
    match e {
        BotError::Ws(ws) => ws_kind(ws),
        BotError::Decode(_) => "undecodable server message".into(),
        BotError::Desync(d) => format!("desync: {}", desync_kind(d)),
        BotError::Disconnected(Some(d), Some((code, _))) => {
            format!("closed {code} {:?}", d.reason)
        }
        BotError::Disconnected(Some(d), None) => format!("closed {:?} (no close frame)", d.reason),
        BotError::Disconnected(None, Some((code, reason))) if reason.is_empty() => {
            format!("closed {code}")
        }
        BotError::Disconnected(None, Some((code, reason))) => format!("closed {code} {reason}"),
        BotError::Disconnected(None, None) => "closed without a close frame".into(),
        BotError::Protocol(_) => "protocol: unexpected server message".into(),
        BotError::Timeout => "timeout".into(),
    }
}

fn ws_kind(e: &WsError) -> String {
    match e {
        WsError::Http(resp) => format!("refused: HTTP {}", resp.status()),
        WsError::Io(io) => match io.kind() {
            ErrorKind::ConnectionRefused => "connection refused (no server)".into(),
            ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe => {
                "reset".into()
            }
            ErrorKind::TimedOut => "timeout".into(),
            other => format!("i/o: {other}"),
        },
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => "reset".into(),
        WsError::ConnectionClosed | WsError::AlreadyClosed => "closed".into(),
        WsError::Protocol(p) => format!("websocket protocol: {p}"),
        other => format!("websocket: {other}"),
    }
}

fn desync_kind(e: &ReplicaError) -> &'static str {
    match e {
        ReplicaError::MissingBaseline(_) => "baseline not held",
        ReplicaError::Stale(_) => "stale snapshot",
        ReplicaError::UnknownEntity(_) => "unknown entity",
        ReplicaError::DuplicateSpawn(_) => "duplicate spawn",
        ReplicaError::KindMismatch(_) => "patch kind mismatch",
        ReplicaError::HashMismatch { .. } => "hash mismatch",
        ReplicaError::BaselineTooOld(_) => "baseline too old",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickwire_shared::protocol::{Disconnect, DisconnectReason, ResumeRefusal};

    #[test]
    fn kinds_group_without_details() {
        let closed = BotError::Disconnected(
            Some(Disconnect {
                reason: DisconnectReason::Resume(ResumeRefusal::Expired),
                detail: "gone".into(),
            }),
            Some((1008, "gone".into())),
        );
        assert_eq!(kind(&closed), "closed 1008 Resume(Expired)");
        assert_eq!(kind(&BotError::Timeout), "timeout");
        let reset = BotError::Ws(WsError::Io(std::io::Error::from(
            ErrorKind::ConnectionReset,
        )));
        assert_eq!(kind(&reset), "reset");
        let d1 = BotError::Desync(ReplicaError::HashMismatch { want: 1, got: 2 });
        let d2 = BotError::Desync(ReplicaError::HashMismatch { want: 3, got: 4 });
        assert_eq!(kind(&d1), kind(&d2));
    }
}
