//! A room: one world, its players and its fixed tick. The room task owns everything here,
//! the players' connections included: during play it reads and writes their sockets
//! itself, once per tick and without ever blocking (see [`crate::net::game_socket`]); joins come
//! through a bounded command channel, and it never awaits a client.

mod inbound;
pub mod input_queue;
pub mod names;
mod players;
pub mod record;
pub mod replay_room;
mod settings;
mod spectators;
mod tick;

use std::sync::Arc;
use std::time::{Duration, Instant};

use slotmap::SecondaryMap;
use tokio::sync::{mpsc, oneshot};
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, info_span, Instrument};

use tickwire_shared::{EntityId, Map, Tick, World};

use crate::net::close::Closing;
use crate::net::game_socket::GameSocket;
use crate::snapshot::delta::BodyCache;
use crate::snapshot::history::History;
pub use crate::snapshot::interest::Interest;
use players::PlayerSlot;
pub use settings::{Baselines, NetLimits, RoomSettings};
use tick::Scratch;
pub use tick::TickReport;

/// A successful join (the welcome went out on the connection first thing).
#[derive(Debug)]
pub struct Joined {
    /// The player's entity (the connection's identity inside the room).
    pub player: EntityId,
}

/// How the room hands a connection back to its task, which then closes it.
#[derive(Debug)]
pub enum Ending {
    /// The room ended the session: close like this.
    Close(Closing),
    /// The room let go without a verdict: it is stopping, or it failed.
    RoomGone,
}

/// Where the room hands a connection back when its session ends.
pub type EndedTx = oneshot::Sender<(GameSocket, Ending)>;

/// Why a join was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JoinRefused {
    /// The room has `max_players` players.
    #[error("room is full")]
    Full,
}

/// A connection arriving for a player (a join or a resume): the room owns it until it hands
/// it back on `ended`.
#[derive(Debug)]
pub struct Arrival {
    /// The upgraded connection; the welcome and every snapshot go there.
    pub conn: GameSocket,
    /// Where the connection goes back when the session ends (or the room refuses it).
    pub ended: EndedTx,
    /// What this connection's welcome hands out for the next resume.
    pub ticket: ResumeTicket,
}

/// The key by which the room knows a player's next resume, and the token the client
/// presents for it (made and checked by the caller: opaque to the room). Each connection
/// gets a new one, so a token works once.
#[derive(Clone, Debug, Default)]
pub struct ResumeTicket {
    /// The key (0: no resume).
    pub key: u64,
    /// The token for the welcome.
    pub token: String,
}

/// Whatever the caller holds for as long as a player is in the room (its seat, counted
/// elsewhere): dropped when the player leaves for good, not when a connection is lost.
pub struct Lease {
    _held: Box<dyn std::any::Any + Send>,
}

impl Lease {
    /// Holds `held` until the player leaves.
    pub fn new(held: impl std::any::Any + Send) -> Lease {
        Lease {
            _held: Box::new(held),
        }
    }

    /// Holds nothing.
    #[must_use]
    pub fn none() -> Lease {
        Lease::new(())
    }
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Lease(..)")
    }
}

/// Commands from connections.
#[derive(Debug)]
pub enum RoomCommand {
    /// Add a player on this connection.
    Join {
        /// Sanitised display name.
        name: String,
        /// The connection.
        arrival: Arrival,
        /// Held while the player is in the room.
        lease: Lease,
    },
    /// Re-attach a player whose connection was lost (or is about to be replaced) to this
    /// connection.
    Resume {
        /// The player's resume key (from its last welcome's ticket).
        key: u64,
        /// The newest snapshot tick the client holds.
        last_tick: Option<Tick>,
        /// The sequence number of the client's next input.
        next_input_seq: u32,
        /// The connection (with the next ticket).
        arrival: Arrival,
    },
    /// Add a spectator on this connection.
    Watch {
        /// The player it follows at first.
        follow: Option<tickwire_shared::NetId>,
        /// The connection.
        arrival: Arrival,
    },
}

impl RoomCommand {
    fn into_arrival(self) -> Arrival {
        match self {
            RoomCommand::Join { arrival, .. }
            | RoomCommand::Resume { arrival, .. }
            | RoomCommand::Watch { arrival, .. } => arrival,
        }
    }
}

/// A cheap, cloneable way to reach a room.
#[derive(Clone, Debug)]
pub struct RoomHandle {
    tx: mpsc::Sender<RoomCommand>,
}

impl RoomHandle {
    /// Hands a connection to the room (a join or a resume). The answer comes on the
    /// arrival's `ended`: the connection back with a refusal, or, after the session, with
    /// how it ended.
    ///
    /// # Errors
    /// The arrival back when the room cannot take commands now (overloaded or gone).
    #[allow(clippy::result_large_err)]
    pub fn send(&self, cmd: RoomCommand) -> Result<(), Arrival> {
        self.tx
            .try_send(cmd)
            .map_err(|e| e.into_inner().into_arrival())
    }
}

/// Statistics of the tick loop, reported to the caller of [`Room::run`] per tick.
pub trait TickObserver: Send + 'static {
    /// Called after every tick with its report, the time spent inside [`Room::tick`], and
    /// the time since the previous tick started.
    fn on_tick(&mut self, report: &TickReport, work: Duration, interval: Duration);
}

impl TickObserver for () {
    fn on_tick(&mut self, _: &TickReport, _: Duration, _: Duration) {}
}

impl Drop for Room {
    /// Joins still queued when the room goes (it stopped, or failed) get their connection
    /// back too, so that those clients hear why.
    fn drop(&mut self) {
        self.rx.close();
        while let Ok(cmd) = self.rx.try_recv() {
            let Arrival { conn, ended, .. } = cmd.into_arrival();
            let _ = ended.send((conn, Ending::RoomGone));
        }
    }
}

/// The instant every room's tick cadence is counted from.
static TICK_EPOCH: std::sync::OnceLock<tokio::time::Instant> = std::sync::OnceLock::new();

/// The next instant on the shared cadence of period `dt`: rooms of the same tick rate tick
/// at the same instants, so the runtime wakes once per tick for all of them and runs them
/// back to back, instead of once per room (a wake-up costs more than a small room's tick).
fn next_tick_instant(dt: Duration) -> tokio::time::Instant {
    let now = tokio::time::Instant::now();
    let epoch = *TICK_EPOCH.get_or_init(|| now);
    let since = now.saturating_duration_since(epoch).as_nanos();
    let period = dt.as_nanos().max(1);
    let ticks = since.div_ceil(period);
    let offset = u64::try_from(ticks * period).unwrap_or(u64::MAX);
    epoch + Duration::from_nanos(offset)
}

/// One room.
pub struct Room {
    world: World,
    players: SecondaryMap<EntityId, PlayerSlot>,
    history: History,
    bodies: BodyCache,
    settings: RoomSettings,
    scratch: Scratch,
    rx: mpsc::Receiver<RoomCommand>,
    /// Resumes since the last tick (reported by it).
    resumes: usize,
    /// Players held for a resume after a lost connection.
    held: usize,
    /// Spectators: connections that watch, with no player.
    spectators: spectators::Spectators,
    /// The recording of the match, if recorded: a bounded queue to its writer.
    recorder: Option<record::Recorder>,
    /// The recording was cut since the last tick report.
    recording_cut: bool,
}

impl Room {
    /// A room with an empty world on `map`, and the handle to reach it.
    pub fn new(settings: RoomSettings, map: Arc<Map>) -> (Room, RoomHandle) {
        // Joins only: the room reads its players' sockets itself.
        let (tx, rx) = mpsc::channel(1024);
        let recorder = settings.recording.as_ref().and_then(|sink| {
            sink.start(tickwire_shared::replay::Header::new(
                &settings.id,
                &settings.mode,
                &map,
                &settings.sim,
                settings.seed,
            ))
        });
        let world = World::new(settings.sim.clone(), map, settings.seed);
        let room = Room {
            world,
            players: SecondaryMap::new(),
            history: History::new(settings.history_ticks),
            bodies: BodyCache::default(),
            settings,
            scratch: Scratch::default(),
            rx,
            resumes: 0,
            held: 0,
            recorder,
            recording_cut: false,
            spectators: spectators::Spectators::default(),
        };
        (room, RoomHandle { tx })
    }

    /// The world (for tests and tools).
    pub fn world(&self) -> &World {
        &self.world
    }

    /// The world, to change (test hook: tests place players where a scenario needs them).
    #[cfg(feature = "test-hooks")]
    pub fn world_mut(&mut self) -> &mut World {
        &mut self.world
    }

    /// Runs the room until `shutdown`: a fixed-rate tick and the command queue.
    ///
    /// Tick `n` is due at `start + n * dt`, so the cadence never drifts. When a tick
    /// overruns, the ticks whose time has passed are skipped rather than run in a burst:
    /// the game slows down under overload instead of freezing and then jumping, and
    /// clients see a gap they already know how to bridge (interpolation, acks).
    ///
    /// A room with no players does not tick (its world waits, costing nothing): a process
    /// may hold many rooms waiting for their players.
    pub async fn run(mut self, shutdown: CancellationToken, mut observer: impl TickObserver) {
        let dt = Duration::from_secs_f64(1.0 / f64::from(self.settings.sim.tick_hz));
        let span = info_span!("room", tick_hz = self.settings.sim.tick_hz);
        async move {
            info!("room started");
            let mut interval = tokio::time::interval_at(next_tick_instant(dt), dt);
            interval.set_missed_tick_behavior(MissedTickBehavior::Skip);
            let mut last_start: Option<Instant> = None;
            loop {
                tokio::select! {
                    biased;
                    () = shutdown.cancelled() => break,
                    _ = interval.tick(), if !self.players.is_empty() => {
                        let start = Instant::now();
                        let report = self.tick();
                        let work = start.elapsed();
                        let gap = last_start.map_or(dt, |l| start - l);
                        // After the last player left, the next tick starts a new cadence.
                        last_start = (!self.players.is_empty()).then_some(start);
                        observer.on_tick(&report, work, gap);
                    }
                    cmd = self.rx.recv() => match cmd {
                        Some(cmd) => self.handle(cmd),
                        None => break,
                    },
                }
            }
            debug!(players = self.players.len(), "room stopped");
            // Every connection goes back to its task, which says goodbye (1001, or 1011
            // when the server failed).
            self.players.clear();
            self.spectators.close_all();
        }
        .instrument(span)
        .await;
    }

    fn handle(&mut self, cmd: RoomCommand) {
        match cmd {
            RoomCommand::Join {
                name,
                arrival,
                lease,
            } => {
                let _ = self.join(&name, arrival, lease);
            }
            RoomCommand::Resume {
                key,
                last_tick,
                next_input_seq,
                arrival,
            } => self.resume(key, last_tick, next_input_seq, arrival),
            RoomCommand::Watch { follow, arrival } => self.watch(follow, arrival),
        }
    }

    /// Adds a spectator right away, without the room task (tests and tools); a refusal
    /// goes back on `ended`.
    pub fn watch_now(
        &mut self,
        follow: Option<tickwire_shared::NetId>,
        conn: GameSocket,
        ended: EndedTx,
    ) {
        let arrival = Arrival {
            conn,
            ended,
            ticket: ResumeTicket::default(),
        };
        self.watch(follow, arrival);
    }

    /// Adds a player right away, without the room task: for tests and tools that drive
    /// [`Room::tick`] themselves (with a [`GameSocket::memory`] to talk to it).
    ///
    /// # Errors
    /// [`JoinRefused::Full`] when the room is full (the connection went back on `ended`).
    pub fn join_now(
        &mut self,
        name: &str,
        conn: GameSocket,
        ended: EndedTx,
    ) -> Result<Joined, JoinRefused> {
        let arrival = Arrival {
            conn,
            ended,
            ticket: ResumeTicket::default(),
        };
        self.join(name, arrival, Lease::none())
    }

    /// [`Room::join_now`] with a resume ticket: the player can later be resumed with
    /// [`Room::resume_now`].
    ///
    /// # Errors
    /// As [`Room::join_now`].
    pub fn join_resumable_now(
        &mut self,
        name: &str,
        arrival: Arrival,
    ) -> Result<Joined, JoinRefused> {
        self.join(name, arrival, Lease::none())
    }

    /// Resumes the player with resume `key` on `arrival` right away, without the room task
    /// (for tests and tools); a refusal goes back on the arrival's `ended`.
    pub fn resume_now(
        &mut self,
        key: u64,
        last_tick: Option<Tick>,
        next_input_seq: u32,
        arrival: Arrival,
    ) {
        self.resume(key, last_tick, next_input_seq, arrival);
    }

    /// Number of players.
    pub fn player_count(&self) -> usize {
        self.players.len()
    }

    /// The file the room records to, while it does.
    pub fn recording(&self) -> Option<&std::path::Path> {
        self.recorder
            .as_ref()
            .filter(|r| r.active())
            .map(|r| r.path.as_path())
    }

    /// Queues a record of the match, if recorded (never waits: a full queue cuts the
    /// recording).
    fn rec(&mut self, record: impl FnOnce(&World) -> tickwire_shared::replay::Record) {
        if let Some(r) = &mut self.recorder {
            if r.active() && !r.push(self.world.tick, record(&self.world)) {
                self.recording_cut = true;
            }
        }
    }
}
