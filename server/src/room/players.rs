//! Players in a room: joining, leaving, being dropped, and their acknowledgements.

use bytes::Bytes;
use tokio::sync::mpsc;
use tracing::{debug, info};

use tickwire_shared::protocol::{codec, DisconnectReason, ServerMsg, Welcome, PROTOCOL_VERSION};
use tickwire_shared::sim::spawn;
use tickwire_shared::{EntityId, NetId, Tick};

use super::input_queue::InputQueue;
use super::{ConnInput, JoinRefused, Joined, Outgoing, Room};

/// The room's side of one player.
#[derive(Debug)]
pub(super) struct PlayerSlot {
    pub net_id: NetId,
    pub inbox: mpsc::Receiver<ConnInput>,
    pub outbox: mpsc::Sender<Outgoing>,
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
    pub(super) fn join(&mut self, name: &str) -> Result<Joined, JoinRefused> {
        if self.players.len() >= self.settings.max_players {
            return Err(JoinRefused::Full);
        }
        let player = spawn::add_player(&mut self.world, name);
        let net_id = self.world.entities[player].net_id;
        let (in_tx, in_rx) = mpsc::channel(self.settings.input_queue);
        let (out_tx, out_rx) = mpsc::channel(self.settings.outbox_depth);
        let welcome = ServerMsg::Welcome(Welcome {
            protocol_version: PROTOCOL_VERSION,
            player: net_id,
            tick: self.world.tick,
            config: self.world.config.clone(),
            map: (*self.world.map).clone(),
        });
        self.players.insert(
            player,
            PlayerSlot {
                net_id,
                inbox: in_rx,
                outbox: out_tx,
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
            welcome: Bytes::from(codec::encode_server(&welcome)),
            inputs: in_tx,
            outbox: out_rx,
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
            // If the outbox is full the kick cannot be queued; dropping the sender closes the
            // channel, which the connection reads as "too slow" as well.
            let _ = slot.outbox.try_send(Outgoing::Kick(reason));
            spawn::remove_player(&mut self.world, player);
            debug!(player = slot.net_id.0, ?reason, "player dropped");
        }
    }
}
