//! A recorded match served to a viewer (`/ws?replay=ID` with a `Watch`): the file's world
//! re-simulated tick by tick and sent as snapshots, as a live room's spectators get them,
//! with pause, speed (x0.5, x1, x2, x4) and seek driven by the viewer's `Playback`
//! messages. Each viewer has its own playback (one's pause is not another's).
//!
//! Seeking does not re-simulate from the start: while the replay is loaded, the world is
//! kept every [`CHECKPOINT_SECS`] seconds (in memory); a seek starts from the checkpoint
//! before the tick sought. After a seek the viewer gets a new welcome (at that tick) and a
//! full state.

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::time::MissedTickBehavior;
use tokio_tungstenite::tungstenite::error::Error as WsError;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tracing::info;

use tickwire_shared::protocol::codec;
use tickwire_shared::protocol::snapshot::{entity_hash, SnapshotHeader};
use tickwire_shared::protocol::{
    ClientMsg, DisconnectReason, Playback, Pong, ServerMsg, Welcome, PROTOCOL_VERSION,
};
use tickwire_shared::replay::verify::Replayer;
use tickwire_shared::replay::{Header, Reader, Record};
use tickwire_shared::sim::TickEvent;
use tickwire_shared::{NetId, Tick};

use super::inbound::{bad_message, keepalive};
use super::NetLimits;
use crate::net::close::{binary_payload, Closing};
use crate::net::game_socket::{GameSocket, Sent};
use crate::net::rate_limit::TokenBucket;
use crate::snapshot::delta::{Body, BodyCache, BodyKey};
use crate::snapshot::history::{History, TickRecord};
use crate::snapshot::interest::ViewKey;

/// Seconds of match between two in-memory checkpoints.
pub const CHECKPOINT_SECS: u32 = 5;

/// Largest replay file served, in bytes (its records are held in memory).
pub const MAX_REPLAY_BYTES: u64 = 64 << 20;

/// Seconds between two seeks a viewer gets (paused or not): a seek re-simulates up to
/// [`CHECKPOINT_SECS`] of match on the runtime's threads (which also tick the live rooms),
/// so one a tick would cost as much as 150x playback. A seek asked sooner waits for its
/// turn (the newest one asked wins).
pub const SEEK_EVERY_SECS: u32 = 1;

/// A loaded replay: its records and the world every few seconds.
pub struct Loaded {
    header: Header,
    records: Vec<Record>,
    /// `(index of the next record, the replayer there)`, the first at tick 0.
    checkpoints: Vec<(usize, Replayer)>,
    /// Ticks in the replay.
    pub ticks: u32,
}

/// Why a replay cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// No such file (or a name that cannot be one).
    #[error("no such replay")]
    Missing,
    /// Too large to serve.
    #[error("replay too large to serve")]
    TooLarge,
    /// Not a readable replay, or it does not re-simulate.
    #[error("unreadable replay: {0}")]
    Bad(String),
}

/// The file of replay `id` under `dir` (`None` for an id that is not a file name).
#[must_use]
pub fn replay_path(dir: &Path, id: &str) -> Option<std::path::PathBuf> {
    let ok = !id.is_empty()
        && id.len() <= 80
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    ok.then(|| dir.join(format!("{id}.twr")))
}

impl Loaded {
    /// Reads and re-simulates a replay once, keeping checkpoints.
    ///
    /// # Errors
    /// [`LoadError`].
    pub fn load(path: &Path) -> Result<Loaded, LoadError> {
        let meta = std::fs::metadata(path).map_err(|_| LoadError::Missing)?;
        if meta.len() > MAX_REPLAY_BYTES {
            return Err(LoadError::TooLarge);
        }
        let bytes = std::fs::read(path).map_err(|_| LoadError::Missing)?;
        let mut reader =
            Reader::new(bytes.as_slice()).map_err(|e| LoadError::Bad(e.to_string()))?;
        let header = reader.header().clone();
        let mut records = Vec::new();
        while let Some(r) = reader.next().map_err(|e| LoadError::Bad(e.to_string()))? {
            records.push(r);
        }
        let every = CHECKPOINT_SECS * u32::from(header.config.tick_hz.max(1));
        let mut rep = Replayer::new(&header);
        let mut checkpoints = vec![(0, clone_replayer(&rep))];
        let mut ticks: u32 = 0;
        for (i, r) in records.iter().enumerate() {
            rep.apply(r).map_err(|e| LoadError::Bad(e.to_string()))?;
            if matches!(r, Record::Tick { .. }) {
                ticks += 1;
                if ticks.is_multiple_of(every) {
                    checkpoints.push((i + 1, clone_replayer(&rep)));
                }
            }
        }
        Ok(Loaded {
            header,
            records,
            checkpoints,
            ticks,
        })
    }
}

fn clone_replayer(r: &Replayer) -> Replayer {
    r.clone()
}

impl std::fmt::Debug for Loaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loaded")
            .field("room", &self.header.room)
            .field("ticks", &self.ticks)
            .finish_non_exhaustive()
    }
}

/// One viewer's playback.
struct Player {
    rep: Replayer,
    /// The next record to apply.
    next: usize,
    paused: bool,
    speed_quarters: u8,
    /// Quarter ticks owed.
    owed: u32,
    history: History,
    bodies: BodyCache,
    last_sent: Option<Tick>,
    events: Vec<TickEvent>,
}

impl Player {
    fn at_checkpoint(loaded: &Loaded, target: u32) -> Player {
        let every = CHECKPOINT_SECS * u32::from(loaded.header.config.tick_hz.max(1));
        let k = (target / every) as usize;
        let (next, rep) = &loaded.checkpoints[k.min(loaded.checkpoints.len() - 1)];
        let mut p = Player {
            rep: clone_replayer(rep),
            next: *next,
            paused: false,
            speed_quarters: 4,
            owed: 0,
            history: History::new(64),
            bodies: BodyCache::default(),
            last_sent: None,
            events: Vec::new(),
        };
        while p.rep.world.tick.0 < target && p.step(loaded) {}
        p.events.clear();
        p
    }

    /// Applies records up to and including the next tick; `false` at the end.
    fn step(&mut self, loaded: &Loaded) -> bool {
        while let Some(r) = loaded.records.get(self.next) {
            self.next += 1;
            let Ok(events) = self.rep.apply(r) else {
                self.next = loaded.records.len();
                return false;
            };
            if matches!(r, Record::Tick { .. }) {
                let tick = self.rep.world.tick;
                self.events
                    .extend(events.into_iter().map(|event| TickEvent { tick, event }));
                return true;
            }
        }
        false
    }

    /// The world's state into the history (as a room records a tick).
    fn record(&mut self) {
        let tick = self.rep.world.tick;
        let (mut state, mut hashes) = self.history.take_spare();
        self.rep.world.net_state_into(&mut state);
        hashes.extend(state.iter().map(|(id, e)| entity_hash(*id, e)));
        self.history.push(TickRecord {
            tick,
            hashes,
            state: Arc::new(state),
            events: std::mem::take(&mut self.events),
            index: None,
        });
    }
}

fn welcome(loaded: &Loaded, id: &str, tick: Tick) -> Vec<u8> {
    codec::encode_server(&ServerMsg::Welcome(Welcome {
        protocol_version: PROTOCOL_VERSION,
        player: NetId(0),
        tick,
        room: format!("replay:{id}"),
        mode: loaded.header.mode.clone(),
        resume: String::new(),
        resumed: false,
        config: loaded.header.config.clone(),
        map: loaded.header.map.clone(),
    }))
}

/// Plays `loaded` to `conn` until the viewer leaves (or breaks a rule); the close.
pub async fn serve(
    mut conn: GameSocket,
    loaded: &Loaded,
    id: &str,
    limits: &NetLimits,
    shutdown: tokio_util::sync::CancellationToken,
) -> (GameSocket, Closing) {
    let hz = loaded.header.config.tick_hz.max(1);
    let dt = Duration::from_secs_f64(1.0 / f64::from(hz));
    let mut player = Player::at_checkpoint(loaded, 0);
    conn.send_binary([&welcome(loaded, id, Tick(0)), &[]], false);
    let mut interval = tokio::time::interval(dt);
    interval.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut bucket = TokenBucket::new(limits.max_msgs_per_s, limits.msg_burst);
    let (mut last_heard, mut last_ping) = (Instant::now(), Instant::now());
    info!(replay = id, ticks = loaded.ticks, "replay viewer joined");
    let (mut seek, mut seek_wait) = (None, 0u32);
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => {
                return (conn, Closing::with_reason(
                    CloseCode::Away,
                    DisconnectReason::ShuttingDown,
                    "server shutting down",
                ));
            }
            _ = interval.tick() => {}
        }
        let now = Instant::now();
        // What the viewer sent.
        conn.rearm(limits.max_read_bytes_per_tick);
        for _ in 0..limits.max_msgs_per_tick {
            let msg = match conn.read() {
                Ok(m) => m,
                Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => {
                    return (conn, Closing::peer_closed());
                }
                Err(e) => return (conn, Closing::from_ws_error(&e)),
            };
            last_heard = now;
            let bytes = match binary_payload(msg) {
                Ok(Some(b)) => b,
                Ok(None) => continue,
                Err(c) => return (conn, c),
            };
            if !bucket.take_at(now) {
                return (
                    conn,
                    Closing::with_reason(
                        CloseCode::Policy,
                        DisconnectReason::RateLimited,
                        "too many messages",
                    ),
                );
            }
            match codec::decode_client(&bytes) {
                Err(e) => return (conn, bad_message(e.to_string())),
                Ok(ClientMsg::Ping(ping)) => {
                    let tick = player.rep.world.tick;
                    let pong = codec::encode_server(&ServerMsg::Pong(Pong { id: ping.id, tick }));
                    conn.send_binary([&pong, &[]], false);
                }
                Ok(ClientMsg::Playback(Playback {
                    paused,
                    speed_quarters,
                    seek: to,
                })) => {
                    if ![2, 4, 8, 16].contains(&speed_quarters) {
                        return (
                            conn,
                            bad_message(format!("speed of {speed_quarters} quarters")),
                        );
                    }
                    player.paused = paused;
                    player.speed_quarters = speed_quarters;
                    if to.is_some() {
                        seek = to;
                    }
                }
                Ok(ClientMsg::Camera(_)) => {}
                Ok(_) => {
                    return (
                        conn,
                        Closing::with_reason(
                            CloseCode::Policy,
                            DisconnectReason::BadMessage,
                            "a replay's viewer sends pings, camera and playback only",
                        ),
                    );
                }
            }
        }
        if let Err(c) = keepalive(&mut conn, limits, now, last_heard, &mut last_ping, 0) {
            return (conn, c);
        }
        seek_wait = seek_wait.saturating_sub(1);
        if let Some(to) = seek.take_if(|_| seek_wait == 0) {
            seek_wait = SEEK_EVERY_SECS * u32::from(hz);
            let (paused, speed) = (player.paused, player.speed_quarters);
            player = Player::at_checkpoint(loaded, to.0.min(loaded.ticks));
            player.paused = paused;
            player.speed_quarters = speed;
            let tick = player.rep.world.tick;
            conn.send_binary([&welcome(loaded, id, tick), &[]], false);
            player.record();
            send(&mut conn, &mut player, loaded);
            continue;
        }
        if player.paused {
            continue;
        }
        player.owed += u32::from(player.speed_quarters);
        let mut stepped = false;
        while player.owed >= 4 {
            player.owed -= 4;
            if player.step(loaded) {
                player.record();
                stepped = true;
            }
        }
        if stepped {
            send(&mut conn, &mut player, loaded);
        }
    }
}

/// The newest tick's frame to the viewer (a delta against the last one it accepted).
fn send(conn: &mut GameSocket, p: &mut Player, loaded: &Loaded) {
    let Some(now) = p.history.latest() else {
        return;
    };
    let tick = now.tick;
    let baseline = p.last_sent.filter(|t| p.history.get(*t).is_some());
    let key = BodyKey {
        baseline,
        base_view: ViewKey::All,
        view: ViewKey::All,
    };
    let mut out = Vec::with_capacity(1);
    p.bodies.bodies(
        &p.history,
        &[key],
        &loaded.header.config,
        &loaded.header.map,
        &mut out,
    );
    let header = codec::snapshot_header_bytes(&SnapshotHeader {
        tick,
        baseline,
        last_input_seq: 0,
    });
    let body: &[u8] = match &out[0] {
        Body::Shared(b) => b,
        Body::Assembled(r) => &p.bodies.frames[r.clone()],
    };
    if matches!(
        conn.send_binary([&header, body], true),
        Sent::Written | Sent::Queued
    ) {
        p.last_sent = Some(tick);
    }
}
