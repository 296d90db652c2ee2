//! Spectator bots (`tickwire-bots --spectate`): connections that watch a room (no player,
//! no input), apply every snapshot to a replica and count what they saw.

use std::time::{Duration, Instant};

use tickwire_shared::NetId;

use crate::connection::{BotConnection, DecodeMode, ServerEvent};

/// What one spectator saw.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Watched {
    /// Snapshots received and applied.
    pub snapshots: u64,
    /// Players in its replica at the end.
    pub players: usize,
    /// Distinct positions the followed (or first) player was seen at: it moved.
    pub positions_seen: usize,
    /// The room's code, from the welcome.
    pub room: String,
    /// Why it stopped early, if it did.
    pub error: Option<String>,
}

/// Watches the room at `url` for `duration`, following `follow`.
pub async fn watch(url: &str, follow: Option<NetId>, duration: Duration) -> Watched {
    let mut seen = Watched::default();
    let mut conn = match BotConnection::watch(url, follow, DecodeMode::Full).await {
        Ok(c) => c,
        Err(e) => {
            seen.error = Some(e.to_string());
            return seen;
        }
    };
    seen.room.clone_from(&conn.welcome.room);
    let end = Instant::now() + duration;
    let mut positions = std::collections::HashSet::new();
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match tokio::time::timeout(left, conn.recv()).await {
            Err(_) => break,
            Ok(Err(e)) => {
                seen.error = Some(e.to_string());
                break;
            }
            Ok(Ok(ServerEvent::Snapshot { .. })) => {
                seen.snapshots += 1;
                let watched = follow.or_else(|| {
                    conn.replica
                        .entities()
                        .iter()
                        .find(|(_, e)| e.as_player().is_some())
                        .map(|(id, _)| *id)
                });
                if let Some(p) = watched.and_then(|id| conn.replica.get(id)) {
                    if let Some(p) = p.as_player() {
                        positions.insert((p.pos.x, p.pos.y));
                    }
                }
            }
            Ok(Ok(ServerEvent::Pong(_))) => {}
        }
    }
    seen.players = conn
        .replica
        .entities()
        .iter()
        .filter(|(_, e)| e.as_player().is_some())
        .count();
    seen.positions_seen = positions.len();
    conn.close().await;
    seen
}
