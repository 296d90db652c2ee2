//! Players in a room: joining, leaving, being dropped, and their acknowledgements.

use std::sync::Arc;

use crossbeam_queue::ArrayQueue;
use tracing::{debug, info};

use tickwire_shared::protocol::{codec, DisconnectReason, ServerMsg, Welcome, PROTOCOL_VERSION};
use tickwire_shared::sim::spawn;
use tickwire_shared::{EntityId, NetId, Tick};

use super::input_queue::InputQueue;
use super::{Inbox, JoinRefused, Joined, Room};
use crate::net::downlink::Downlink;

/// The room's hold on a connection's downlink: when the slot goes (a leave, a kick, or the
/// room itself dropped after a failure), the session learns that the room let go.
#[derive(Debug)]
pub(super) struct Link(pub Arc<Downlink>);

impl Drop for Link {
    fn drop(&mut self) {
        self.0.detach();
    }
}

/// The room's side of one player.
#[derive(Debug)]
pub(super) struct PlayerSlot {
    pub net_id: NetId,
    pub inbox: Inbox,
    pub downlink: Link,
    pub queue: InputQueue,
    /// Newest snapshot tick the client acknowledged.
    pub acked: Option<Tick>,
    pub joined_at: Tick,
}

impl PlayerSlot {
    /// Takes an acknowledgement into account: only forward, never past what was sent.
    pub fn note_ack(&mut self, ack: Option<Tick>, newest_sent: Tick) {
        let Some(a) = ack else { return };
        if a.is_after(newest_sent) {
            return; // Acknowledges a tick not sent yet: ignore.
        }
        if self.acked.is_none_or(|old| a.is_after(old)) {
            self.acked = Some(a);
        }
    }

    /// Ticks since the newest acknowledgement (or since joining, before the first one).
    pub fn ack_lag(&self, now: Tick) -> u32 {
        let since = self.acked.unwrap_or(self.joined_at);
        if since.is_after(now) {
            0
        } else {
            now.since(since)
        }
    }
}

impl Room {
    pub(super) fn join(
        &mut self,
        name: &str,
        downlink: Arc<Downlink>,
    ) -> Result<Joined, JoinRefused> {
        if self.players.len() >= self.settings.max_players {
            return Err(JoinRefused::Full);
        }
        let player = spawn::add_player(&mut self.world, name);
        let net_id = self.world.entities[player].net_id;
        let inbox: Inbox = Arc::new(ArrayQueue::new(self.settings.input_queue.max(1)));
        let welcome = ServerMsg::Welcome(Welcome {
            protocol_version: PROTOCOL_VERSION,
            player: net_id,
            tick: self.world.tick,
            config: self.world.config.clone(),
            map: (*self.world.map).clone(),
        });
        // The welcome goes first on the connection; snapshots follow from the next tick.
        let welcome = codec::encode_server(&welcome);
        downlink.send([&welcome, &[]]);
        self.players.insert(
            player,
            PlayerSlot {
                net_id,
                inbox: inbox.clone(),
                downlink: Link(downlink),
                queue: InputQueue::new(self.settings.input_queue),
                acked: None,
                joined_at: self.world.tick,
            },
        );
        info!(
            player = net_id.0,
            name,
            players = self.players.len(),
            "player joined"
        );
        Ok(Joined {
            player,
            inputs: inbox,
        })
    }

    pub(super) fn leave(&mut self, player: EntityId) {
        if let Some(slot) = self.players.remove(player) {
            spawn::remove_player(&mut self.world, player);
            info!(
                player = slot.net_id.0,
                players = self.players.len(),
                "player left"
            );
        }
    }

    /// Drops a player from the room and tells its connection why.
    pub(super) fn kick(&mut self, player: EntityId, reason: DisconnectReason) {
        if let Some(slot) = self.players.remove(player) {
            slot.downlink.0.kick(reason);
            spawn::remove_player(&mut self.world, player);
            debug!(player = slot.net_id.0, ?reason, "player dropped");
        }
    }
}
