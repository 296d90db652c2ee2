//! Players in a room: joining, leaving, being dropped, and their acknowledgements.

use std::time::Instant;

use tracing::info;

use tickwire_shared::protocol::{
    codec, DisconnectReason, ResumeRefusal, ServerMsg, Welcome, CLOSE_REPLACED, PROTOCOL_VERSION,
};
use tickwire_shared::replay::{self, Record};
use tickwire_shared::sim::spawn;
use tickwire_shared::{EntityId, NetId, Tick};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::input_queue::InputQueue;
use super::{Arrival, Closing, EndedTx, Ending, GameSocket, JoinRefused, Joined, Lease, Room};
use crate::net::rate_limit::TokenBucket;
use crate::snapshot::interest::ViewKey;

/// The room's side of one player: its connection (owned while the session lasts), its
/// input queue, acknowledgements and connection bookkeeping.
#[derive(Debug)]
pub(super) struct PlayerSlot {
    pub net_id: NetId,
    /// Boxed: the connection is most of a slot's bytes and only the reads and the writes
    /// touch it, so the passes over every player that do not stay in fewer cache lines.
    pub conn: Option<Box<GameSocket>>,
    ended: Option<EndedTx>,
    /// Whatever the caller holds while the player is in the room (its seat).
    _lease: Lease,
    /// The key of this player's next resume (0: none).
    resume_key: u64,
    /// Since when its connection is lost (it is held for a resume until the grace ends).
    pub lost_at: Option<Instant>,
    pub queue: InputQueue,
    /// What the client acknowledged, and the baselines chosen from it.
    pub acks: Acks,
    /// Tick of the last snapshot its connection accepted (the baseline under
    /// [`super::Baselines::Sent`]).
    pub last_sent: Option<Tick>,
    pub joined_at: Tick,
    pub bucket: TokenBucket,
    pub last_heard: Instant,
    pub last_ping: Instant,
    /// The player's view at each of the last [`VIEW_MEMORY`] ticks (slot `tick %
    /// VIEW_MEMORY`): the view at its baseline without searching the baseline's state.
    pub views: [Option<(Tick, ViewKey)>; VIEW_MEMORY],
}

/// What a client acknowledged, and the baselines chosen from it under
/// [`super::Baselines::Acked`].
///
/// Every baseline in use costs the room a delta of the whole map per tick (see
/// `snapshot::delta`), so with a baseline step of `s` > 1 a client's baseline is the newest
/// acknowledged tick that is a multiple of `s` when there is one less than `s` ticks older
/// than its newest acknowledgement: clients with different round trips share a few
/// baselines, at the price of deltas up to `s - 1` ticks older. A baseline is always a tick
/// the client acknowledged (so holds) and never older than the last one it was sent (the
/// replica drops the states before each baseline it applies).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Acks {
    /// Newest snapshot tick acknowledged.
    pub newest: Option<Tick>,
    /// Newest acknowledged tick that is a multiple of the baseline step.
    pub on_step: Option<Tick>,
    /// Baseline of the last snapshot prepared for the client.
    pub last_baseline: Option<Tick>,
}

impl Acks {
    /// Takes an acknowledgement into account: only forward, never past what was sent.
    pub fn note(&mut self, ack: Option<Tick>, newest_sent: Tick, step: u32) {
        let Some(a) = ack else { return };
        if a.is_after(newest_sent) {
            return; // Acknowledges a tick not sent yet: ignore.
        }
        let newer = |old: Option<Tick>| old.is_none_or(|old| a.is_after(old));
        if newer(self.newest) {
            self.newest = Some(a);
        }
        if step > 1 && a.0 % step == 0 && newer(self.on_step) {
            self.on_step = Some(a);
        }
    }

    /// The baseline for the next snapshot (`None`: a full state), remembered as the last.
    pub fn choose_baseline(&mut self, step: u32) -> Option<Tick> {
        let newest = self.newest?;
        let not_before_last = |t: Tick| self.last_baseline.is_none_or(|l| t == l || t.is_after(l));
        let chosen = match self.on_step {
            Some(s) if step > 1 && newest.since(s) < step && not_before_last(s) => s,
            _ => newest,
        };
        self.last_baseline = Some(chosen);
        Some(chosen)
    }
}

/// Ticks of views a player slot remembers (older baselines look the view up in the
/// baseline's state).
pub(super) const VIEW_MEMORY: usize = 8;

impl Drop for PlayerSlot {
    /// A slot dropped without a verdict (the room stopping, or failing) still hands its
    /// connection back, so that the client hears why.
    fn drop(&mut self) {
        self.finish(Ending::RoomGone);
    }
}

impl PlayerSlot {
    /// Hands the connection back to its task (once).
    fn finish(&mut self, ending: Ending) {
        if let (Some(conn), Some(ended)) = (self.conn.take(), self.ended.take()) {
            let _ = ended.send((*conn, ending));
        }
    }
}

impl PlayerSlot {
    /// Remembers the player's view at `tick`.
    pub fn note_view(&mut self, tick: Tick, view: ViewKey) {
        self.views[tick.0 as usize % VIEW_MEMORY] = Some((tick, view));
    }

    /// The player's view at `tick`, if remembered.
    pub fn view_at(&self, tick: Tick) -> Option<ViewKey> {
        match self.views[tick.0 as usize % VIEW_MEMORY] {
            Some((t, view)) if t == tick => Some(view),
            _ => None,
        }
    }

    /// Ticks since the newest acknowledgement (or since joining, before the first one).
    pub fn ack_lag(&self, now: Tick) -> u32 {
        let since = self.acks.newest.unwrap_or(self.joined_at);
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
        arrival: Arrival,
        lease: Lease,
    ) -> Result<Joined, JoinRefused> {
        if self.players.len() >= self.settings.max_players {
            let closing = Closing::with_reason(
                CloseCode::Again,
                DisconnectReason::ServerFull,
                "room is full",
            );
            let _ = arrival.ended.send((arrival.conn, Ending::Close(closing)));
            return Err(JoinRefused::Full);
        }
        let name = &self.shown_name(name);
        let player = spawn::add_player(&mut self.world, name);
        let net_id = self.world.entities[player].net_id;
        self.rec(|_| Record::Join {
            player: net_id,
            name: name.clone(),
        });
        let now = Instant::now();
        let net = &self.settings.net;
        self.players.insert(
            player,
            PlayerSlot {
                net_id,
                conn: None,
                ended: None,
                _lease: lease,
                resume_key: 0,
                lost_at: None,
                queue: InputQueue::new(self.settings.input_queue),
                acks: Acks::default(),
                last_sent: None,
                joined_at: self.world.tick,
                bucket: TokenBucket::new(net.max_msgs_per_s, net.msg_burst),
                last_heard: now,
                last_ping: now,
                views: [None; VIEW_MEMORY],
            },
        );
        self.attach(player, arrival, false);
        info!(
            player = net_id.0,
            name,
            players = self.players.len(),
            "player joined"
        );
        Ok(Joined { player })
    }

    /// Re-attaches the player with resume `key` to `arrival`'s connection: a player held
    /// after a lost connection, or one whose old connection still looks alive (it is
    /// closed with [`CLOSE_REPLACED`]: the newer connection wins). The next snapshot is a
    /// delta against `last_tick` when the history still holds it, else a full state.
    pub(super) fn resume(
        &mut self,
        key: u64,
        last_tick: Option<Tick>,
        next_input_seq: u32,
        arrival: Arrival,
    ) {
        let found = (key != 0)
            .then(|| self.players.iter().find(|(_, p)| p.resume_key == key))
            .flatten()
            .map(|(id, _)| id);
        let Some(player) = found else {
            let closing = Closing::with_reason(
                CloseCode::Policy,
                DisconnectReason::Resume(ResumeRefusal::Expired),
                "no player to resume: the grace ran out, or it left, or a newer connection took it",
            );
            let _ = arrival.ended.send((arrival.conn, Ending::Close(closing)));
            return;
        };
        let base = last_tick.filter(|t| self.history.get(*t).is_some());
        let now = Instant::now();
        let tick = self.world.tick;
        let net = &self.settings.net;
        let slot = &mut self.players[player];
        if slot.lost_at.is_some() {
            self.held -= 1;
        }
        slot.finish(Ending::Close(Closing::with_reason(
            CloseCode::Library(CLOSE_REPLACED),
            DisconnectReason::Replaced,
            "replaced by a newer connection of the same player",
        )));
        // Pending inputs of the old connection stay (none is applied twice: the queue
        // knows the last applied sequence number); the client sends again what it has not
        // seen applied, or numbers from scratch (a reloaded page).
        slot.queue.continue_from(next_input_seq);
        slot.lost_at = None;
        slot.last_sent = base;
        slot.acks = Acks {
            newest: base,
            ..Acks::default()
        };
        slot.joined_at = tick;
        slot.bucket = TokenBucket::new(net.max_msgs_per_s, net.msg_burst);
        slot.last_heard = now;
        slot.last_ping = now;
        let net_id = slot.net_id;
        replay::mark_resumed(&mut self.world, player);
        self.rec(|_| Record::Resumed { player: net_id });
        self.resumes += 1;
        info!(player = net_id.0, delta = base.is_some(), "player resumed");
        self.attach(player, arrival, true);
    }

    /// Gives `player` the connection of `arrival`: its welcome first, snapshots from the
    /// next tick.
    fn attach(&mut self, player: EntityId, mut arrival: Arrival, resumed: bool) {
        let slot = &mut self.players[player];
        let welcome = ServerMsg::Welcome(Welcome {
            protocol_version: PROTOCOL_VERSION,
            player: slot.net_id,
            tick: self.world.tick,
            room: self.settings.id.clone(),
            mode: self.settings.mode.clone(),
            resume: if self.settings.reconnect_grace.is_zero() {
                String::new()
            } else {
                arrival.ticket.token
            },
            resumed,
            config: self.world.config.clone(),
            map: (*self.world.map).clone(),
        });
        arrival
            .conn
            .send_binary([&codec::encode_server(&welcome), &[]], false);
        slot.resume_key = arrival.ticket.key;
        slot.conn = Some(Box::new(arrival.conn));
        slot.ended = Some(arrival.ended);
    }

    /// A session ends: a lost connection of a room that holds players for a resume keeps
    /// the player (marked disconnected, standing still) for the reconnect grace; anything
    /// else ends it.
    pub(super) fn drop_session(&mut self, player: EntityId, closing: Closing) {
        if !closing.lost || self.settings.reconnect_grace.is_zero() {
            return self.end(player, closing);
        }
        let Some(slot) = self.players.get_mut(player) else {
            return;
        };
        info!(player = slot.net_id.0, why = %closing.detail, "connection lost; held for a resume");
        slot.finish(Ending::Close(closing));
        if slot.lost_at.is_none() {
            self.held += 1;
        }
        slot.lost_at = Some(Instant::now());
        slot.queue.clear_pending();
        let net_id = slot.net_id;
        replay::mark_lost(&mut self.world, player);
        self.rec(|_| Record::Lost { player: net_id });
    }

    /// Ends a player's session: out of the world, its connection back to its task with
    /// the close it gets, its lease dropped.
    pub(super) fn end(&mut self, player: EntityId, closing: Closing) {
        if let Some(mut slot) = self.players.remove(player) {
            if slot.lost_at.is_some() {
                self.held -= 1;
            }
            spawn::remove_player(&mut self.world, player);
            let net_id = slot.net_id;
            self.rec(|_| Record::Leave { player: net_id });
            info!(
                player = slot.net_id.0,
                players = self.players.len(),
                why = %closing.detail,
                "player left"
            );
            slot.finish(Ending::Close(closing));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baselines_come_from_the_lattice_and_never_go_back() {
        let mut acks = Acks::default();
        assert_eq!(
            acks.choose_baseline(4),
            None,
            "nothing acknowledged: full state"
        );
        // Step 1: the newest acknowledgement, always.
        acks.note(Some(Tick(9)), Tick(10), 1);
        assert_eq!(acks.choose_baseline(1), Some(Tick(9)));

        let mut acks = Acks::default();
        acks.note(Some(Tick(8)), Tick(10), 4);
        acks.note(Some(Tick(10)), Tick(10), 4);
        // A tick past what was sent is ignored.
        acks.note(Some(Tick(11)), Tick(10), 4);
        assert_eq!(acks.newest, Some(Tick(10)));
        assert_eq!(acks.choose_baseline(4), Some(Tick(8)), "on the lattice");
        acks.note(Some(Tick(11)), Tick(11), 4);
        assert_eq!(acks.choose_baseline(4), Some(Tick(8)));
        // 8 is 4 ticks behind 12, and 12 was never acknowledged: the newest.
        acks.note(Some(Tick(13)), Tick(13), 4);
        assert_eq!(acks.choose_baseline(4), Some(Tick(13)));
        acks.note(Some(Tick(14)), Tick(14), 4);
        assert_eq!(acks.choose_baseline(4), Some(Tick(14)));
        // 16 acknowledged: on the lattice again, not older than the last baseline (14).
        acks.note(Some(Tick(16)), Tick(17), 4);
        acks.note(Some(Tick(17)), Tick(17), 4);
        assert_eq!(acks.choose_baseline(4), Some(Tick(16)));
        // Never back before the last baseline: with the last at 17, lattice tick 16 is
        // out even though it is recent.
        let mut late = Acks {
            last_baseline: Some(Tick(17)),
            ..acks
        };
        late.note(Some(Tick(18)), Tick(18), 4);
        assert_eq!(late.choose_baseline(4), Some(Tick(18)));
    }
}
