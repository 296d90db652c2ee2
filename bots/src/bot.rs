//! One bot of a swarm, in its own task: connect and join, then until stopped send one input
//! per tick on an absolute schedule (with a random phase) and take in every snapshot,
//! through the link conditioner when there is one. Every failure is counted, by kind.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use tickwire_shared::rng::Rng;
use tickwire_shared::NetEntity;

use crate::brain::{decide, Behavior, Brain, Sight};
use crate::connection::{BotConnection, BotError, DecodeMode, ServerEvent};
use crate::failure;
use crate::link::{Lane, LinkConfig, MAX_HELD_FRAMES};
use crate::seats::{SeatError, Seats};
use crate::stats::{Disruption, Stats};

/// Longest wait for a seat, a connection and its welcome.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for a polite close at the end.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(3);
/// A probe with a set phase moves it through the whole tick once in this many inputs
/// (10 s at 30 Hz), see `session`.
pub const SWEEP_TICKS: u32 = 300;

/// What every bot of a swarm shares.
pub struct Fleet {
    /// WebSocket URL.
    pub url: String,
    /// Where each bot sits (quick play, or a reservation from the rooms API).
    pub seats: Seats,
    /// Counters and histograms.
    pub stats: Arc<Stats>,
    /// Cancelled at the end of the run (each bot's own `stop` is a child of it).
    pub stop: CancellationToken,
    /// Connection attempts finished (joined or failed).
    pub attempts: watch::Sender<usize>,
    /// The server's tick rate, from the first welcome (0 before).
    pub tick_hz: AtomicU32,
    /// When each bot's session was open, by index (for per-client rates over the window).
    pub sessions: Mutex<Vec<Session>>,
    /// Cut each bot's TCP connection about this often (uniformly 0.5x to 1.5x), then resume.
    pub drop_every: Option<Duration>,
    /// Reload each bot about this often: a fresh connection resumes with no state.
    pub reload_every: Option<Duration>,
}

/// One bot's part.
#[derive(Clone, Debug)]
pub struct BotSpec {
    /// Position in the join order.
    pub index: usize,
    /// Decodes every snapshot (a probe) or only headers (a load bot).
    pub mode: DecodeMode,
    /// Seed of its brain, phase and jitter.
    pub seed: u64,
    /// Where in the tick its inputs go, as a fraction of a tick (`None`: random).
    pub phase: Option<f64>,
    /// What it does.
    pub behavior: Behavior,
    /// Its link.
    pub link: LinkConfig,
    /// Ends this bot's session politely (the end of the run, or a stage that lowers the
    /// bot count): a child of [`Fleet::stop`].
    pub stop: CancellationToken,
}

/// When a bot's session was open.
#[derive(Clone, Copy, Debug, Default)]
pub struct Session {
    /// Welcome received (`None`: never joined).
    pub joined: Option<Instant>,
    /// Session over (`None`: still open).
    pub ended: Option<Instant>,
}

/// How a session ended.
enum End {
    Stopped,
    Failed(BotError),
    Invariant(String),
    /// Time for a planned drop or reload.
    Disrupt(Disruption),
}

/// Runs one bot until the fleet stops or its session fails.
pub async fn run(spec: BotSpec, fleet: Arc<Fleet>) {
    let stats = &fleet.stats;
    let name = format!("bot-{}", spec.index);
    let connect = tokio::time::timeout(CONNECT_TIMEOUT, join(&spec, &fleet, &name));
    let conn = tokio::select! {
        () = spec.stop.cancelled() => None,
        res = connect => Some(res),
    };
    fleet.attempts.send_modify(|n| *n += 1);
    let (mut conn, mut url) = match conn {
        None => return,
        Some(Ok(Ok(c))) => c,
        Some(Ok(Err(JoinError::Seat(e)))) => {
            stats.add(|c| &c.matchmake_errors, 1);
            stats.note_failure(&seat_kind(&e), format!("{name}: no seat: {e}"));
            return;
        }
        Some(Ok(Err(JoinError::Join(e)))) => {
            stats.add(|c| &c.connect_errors, 1);
            stats.note_failure(
                &format!("join: {}", failure::kind(&e)),
                format!("{name}: join failed: {e}"),
            );
            return;
        }
        Some(Err(_)) => {
            stats.add(|c| &c.connect_errors, 1);
            stats.note_failure("join: timeout", format!("{name}: join timed out"));
            return;
        }
    };
    stats.note_room(&conn.welcome.room);
    fleet.set_session(spec.index, |s| s.joined = Some(Instant::now()));
    stats.add(|c| &c.joined, 1);
    stats.add(|c| &c.bytes_up, conn.bytes_up);
    stats.counters.connected.fetch_add(1, Ordering::Relaxed);
    let tick_hz = conn.welcome.config.tick_hz.max(1);
    let _ =
        fleet
            .tick_hz
            .compare_exchange(0, u32::from(tick_hz), Ordering::Relaxed, Ordering::Relaxed);

    let mut rng = Rng::new(spec.seed ^ 0x005e_ed0f_0b07);
    let mut brain = Brain::new(spec.behavior, spec.seed, tick_hz);
    let mut plan = Disruptions::new(&fleet, &mut rng);
    let mut first = true;
    let end = loop {
        let end = session(
            &mut conn,
            &spec,
            &fleet,
            tick_hz,
            (&mut brain, &mut rng),
            first,
            plan.next(),
        )
        .await;
        first = false;
        let kind = match end {
            End::Disrupt(kind) => kind,
            // The connection was lost (no close frame): resume where it was; when the room
            // is gone (its node died), find a seat again and play on.
            End::Failed(e) if lost(&e) => match recover(conn, &url, &spec, &fleet, &name).await {
                Ok((c, u)) => {
                    conn = c;
                    url = u;
                    continue;
                }
                Err(e) => {
                    fleet.set_session(spec.index, |s| s.ended = Some(Instant::now()));
                    stats.counters.connected.fetch_sub(1, Ordering::Relaxed);
                    stats.add(|c| &c.disconnects, 1);
                    stats.note_failure(
                        &format!("in play: {}", failure::kind(&e)),
                        format!("{name}: lost and not seated again: {e}"),
                    );
                    return;
                }
            },
            end => break end,
        };
        let cut_at = Instant::now();
        let held = conn.cut();
        let held = match kind {
            Disruption::Drop => held,
            Disruption::Reload => held.reload(),
        };
        stats.note_cut(kind);
        let attempt = tokio::select! {
            () = spec.stop.cancelled() => None,
            r = tokio::time::timeout(CONNECT_TIMEOUT, held.resume(&url)) => Some(r),
        };
        let failed = match attempt {
            None => None,
            Some(Ok(Ok(c))) => {
                conn = c;
                match first_snapshot(&mut conn, &fleet, &spec.stop).await {
                    Ok(Some(full)) => {
                        stats.note_resumed(kind, cut_at.elapsed(), full);
                        plan.done(kind, &fleet, &mut rng);
                        continue;
                    }
                    Ok(None) => break End::Stopped,
                    Err(End::Failed(e)) => {
                        stats.note_resume_failed(
                            kind,
                            format!("no snapshot: {}", failure::kind(&e)),
                        );
                        break End::Failed(e);
                    }
                    Err(end) => break end,
                }
            }
            Some(Ok(Err(e))) => Some(e),
            Some(Err(_)) => Some(BotError::Timeout),
        };
        // The resume failed (or the run stopped during it): the player is lost.
        if let Some(e) = failed {
            stats.note_resume_failed(kind, failure::kind(&e));
            stats.add(|c| &c.errors, 1);
            stats.note_failure(
                &format!("resume after a {}: {}", kind.name(), failure::kind(&e)),
                format!("{name}: resume after a {} failed: {e}", kind.name()),
            );
        }
        fleet.set_session(spec.index, |s| s.ended = Some(Instant::now()));
        stats.counters.connected.fetch_sub(1, Ordering::Relaxed);
        return;
    };
    fleet.set_session(spec.index, |s| s.ended = Some(Instant::now()));
    stats.counters.connected.fetch_sub(1, Ordering::Relaxed);
    match end {
        End::Stopped | End::Disrupt(_) => {
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, conn.close()).await;
        }
        End::Invariant(why) => {
            stats.add(|c| &c.desyncs, 1);
            stats.note_failure(
                "in play: desync: replica invariant",
                format!("{name}: replica broke an invariant: {why}"),
            );
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, conn.close()).await;
        }
        End::Failed(e) => {
            match &e {
                BotError::Desync(_) => stats.add(|c| &c.desyncs, 1),
                BotError::Ws(_) | BotError::Disconnected(..) => stats.add(|c| &c.disconnects, 1),
                BotError::Decode(_) => {
                    stats.add(|c| &c.decode_errors, 1);
                    stats.add(|c| &c.errors, 1);
                }
                BotError::Protocol(_) | BotError::Timeout => stats.add(|c| &c.errors, 1),
            }
            stats.note_failure(
                &format!("in play: {}", failure::kind(&e)),
                format!("{name}: {e}"),
            );
        }
    }
}

/// How long a bot whose room is gone keeps looking for a seat.
const REJOIN_WINDOW: Duration = Duration::from_secs(20);

/// Whether `e` is a connection lost without a close (a reset, an end of stream, a node
/// killed), as opposed to a session the server ended with a reason.
fn lost(e: &BotError) -> bool {
    use tokio_tungstenite::tungstenite::error::ProtocolError;
    use tokio_tungstenite::tungstenite::Error as Ws;
    matches!(
        e,
        BotError::Ws(
            Ws::Io(_)
                | Ws::ConnectionClosed
                | Ws::AlreadyClosed
                | Ws::Protocol(ProtocolError::ResetWithoutClosingHandshake)
        )
    )
}

/// Whether a failed resume means the room is gone for good (refused `RoomGone` or
/// `Expired`, or its node unreachable): then a new seat, through matchmaking.
fn room_gone(e: &BotError) -> bool {
    use tickwire_shared::protocol::{DisconnectReason, ResumeRefusal};
    match e {
        BotError::Disconnected(Some(d), _) => matches!(
            d.reason,
            DisconnectReason::Resume(ResumeRefusal::RoomGone | ResumeRefusal::Expired)
        ),
        e => lost(e) || matches!(e, BotError::Timeout),
    }
}

/// After a lost connection: a resume at `url`; if the room is gone, a new seat (the join
/// plan again, retried for up to [`REJOIN_WINDOW`] while dead nodes leave the directory).
async fn recover(
    conn: BotConnection,
    url: &str,
    spec: &BotSpec,
    fleet: &Fleet,
    name: &str,
) -> Result<(BotConnection, String), BotError> {
    let stats = &fleet.stats;
    let held = conn.cut();
    let err = match tokio::time::timeout(CONNECT_TIMEOUT, held.resume(url)).await {
        Ok(Ok(c)) => return Ok((c, url.to_owned())),
        Ok(Err(e)) => e,
        Err(_) => BotError::Timeout,
    };
    if !room_gone(&err) {
        return Err(err);
    }
    let deadline = Instant::now() + REJOIN_WINDOW;
    let mut pause = Duration::from_millis(100);
    loop {
        let tried = tokio::select! {
            () = spec.stop.cancelled() => return Err(err),
            r = tokio::time::timeout(CONNECT_TIMEOUT, join(spec, fleet, name)) => r,
        };
        match tried {
            Ok(Ok((c, u))) => {
                stats.note_room(&c.welcome.room);
                stats.add(|c| &c.rejoins, 1);
                return Ok((c, u));
            }
            Ok(Err(JoinError::Join(e))) if Instant::now() + pause >= deadline => return Err(e),
            Ok(Err(JoinError::Seat(e))) if Instant::now() + pause >= deadline => {
                return Err(BotError::Protocol(format!("no seat: {e}")))
            }
            Err(_) if Instant::now() + pause >= deadline => return Err(BotError::Timeout),
            _ => {}
        }
        // A seat on the dead node again (the directory drops it when its heartbeat
        // expires): ask again shortly.
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

/// The kind of a seat failure: the rooms API's status, or a failed request.
fn seat_kind(e: &SeatError) -> String {
    match e {
        SeatError::Refused(status, _) => format!("seat refused: HTTP {status}"),
        SeatError::Http(_) => "seat: request failed".into(),
    }
}

/// When a bot's next drop and next reload are due.
struct Disruptions {
    drop: Option<Instant>,
    reload: Option<Instant>,
}

/// About `every`: uniformly between half and one and a half times it.
fn around(every: Duration, rng: &mut Rng) -> Duration {
    let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    every.mul_f64(0.5 + u)
}

impl Disruptions {
    fn new(fleet: &Fleet, rng: &mut Rng) -> Disruptions {
        let now = Instant::now();
        Disruptions {
            drop: fleet.drop_every.map(|e| now + around(e, rng)),
            reload: fleet.reload_every.map(|e| now + around(e, rng)),
        }
    }

    /// The next one due, and when.
    fn next(&self) -> Option<(Instant, Disruption)> {
        match (self.drop, self.reload) {
            (Some(d), Some(r)) if r < d => Some((r, Disruption::Reload)),
            (Some(d), _) => Some((d, Disruption::Drop)),
            (None, Some(r)) => Some((r, Disruption::Reload)),
            (None, None) => None,
        }
    }

    /// `kind` happened: the next one of that kind is about its period from now.
    fn done(&mut self, kind: Disruption, fleet: &Fleet, rng: &mut Rng) {
        let now = Instant::now();
        match kind {
            Disruption::Drop => self.drop = fleet.drop_every.map(|e| now + around(e, rng)),
            Disruption::Reload => self.reload = fleet.reload_every.map(|e| now + around(e, rng)),
        }
    }
}

/// After a resume: waits for the first snapshot and applies it. `Ok(Some(full))`: it came,
/// a full state when `full`; `Ok(None)`: the run stopped first.
async fn first_snapshot(
    conn: &mut BotConnection,
    fleet: &Fleet,
    stop: &CancellationToken,
) -> Result<Option<bool>, End> {
    let stats = &fleet.stats;
    let wait = async {
        loop {
            let frame = conn.recv_frame().await.map_err(End::Failed)?;
            stats.add(|c| &c.frames_down, 1);
            stats.add(|c| &c.bytes_down, frame.len() as u64);
            match conn.handle_frame(&frame).await {
                Ok(ServerEvent::Snapshot { header, .. }) => {
                    stats.add(|c| &c.snapshots, 1);
                    if conn.mode == DecodeMode::Full {
                        stats.record_rtts(conn.take_rtts());
                        check_replica(conn).map_err(End::Invariant)?;
                    } else {
                        conn.take_rtts().for_each(drop);
                    }
                    return Ok(Some(header.baseline.is_none()));
                }
                Ok(ServerEvent::Pong(_)) => {}
                Err(e) => return Err(End::Failed(e)),
            }
        }
    };
    tokio::select! {
        () = stop.cancelled() => Ok(None),
        r = tokio::time::timeout(CONNECT_TIMEOUT, wait) => r.unwrap_or(Err(End::Failed(BotError::Timeout))),
    }
}

/// Why a bot did not join.
enum JoinError {
    Seat(SeatError),
    Join(BotError),
}

/// A seat (when the plan asks the rooms API for one), then the WebSocket join.
/// Returns the connection and the URL it joined at (where a resume goes).
async fn join(
    spec: &BotSpec,
    fleet: &Fleet,
    name: &str,
) -> Result<(BotConnection, String), JoinError> {
    match fleet.seats.reserve(spec.index, &fleet.stats).await {
        Err(e) => Err(JoinError::Seat(e)),
        Ok(None) => BotConnection::connect(&fleet.url, name, spec.mode)
            .await
            .map(|c| (c, fleet.url.clone()))
            .map_err(JoinError::Join),
        Ok(Some(r)) => BotConnection::connect_with_seat(&r.url, name, &r.seat, spec.mode)
            .await
            .map(|c| (c, r.url.clone()))
            .map_err(JoinError::Join),
    }
}

impl Fleet {
    fn set_session(&self, index: usize, f: impl FnOnce(&mut Session)) {
        if let Some(s) = self.sessions.lock().get_mut(index) {
            f(s);
        }
    }
}

/// Plays until the run stops, the connection fails, or `disrupt` is due. `first`: the
/// session right after the join (a probe with a set phase takes it from a snapshot then).
async fn session(
    conn: &mut BotConnection,
    spec: &BotSpec,
    fleet: &Fleet,
    tick_hz: u16,
    (brain, rng): (&mut Brain, &mut Rng),
    first: bool,
    disrupt: Option<(Instant, Disruption)>,
) -> End {
    let stats = &fleet.stats;
    let dt = Duration::from_secs_f64(1.0 / f64::from(tick_hz));
    let random = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let phase = dt.mul_f64(spec.phase.unwrap_or(random).clamp(0.0, 1.0));
    // Absolute schedule: input k goes at start + phase + k * dt; a late bot skips ticks
    // rather than bursting (so inputs_per_bot_per_s shows a harness that cannot keep up).
    // A probe with a set phase takes it from the arrival of a snapshot (a mark of the
    // server's tick), so that the probes' phases are spread over the server's tick.
    // The mark is a frame's arrival, not a frame that waited in the socket while the bot
    // joined (or decoded another): what is already there is taken in first.
    let mut mark = Instant::now();
    if first && spec.phase.is_some() {
        use futures_util::FutureExt;
        let mut fresh = false;
        for _ in 0..=MAX_HELD_FRAMES {
            let frame = match conn.recv_frame().now_or_never() {
                Some(frame) => frame,
                None => {
                    fresh = true;
                    let frame = conn.recv_frame().await;
                    mark = Instant::now();
                    frame
                }
            };
            match frame {
                Err(e) => return End::Failed(e),
                Ok(frame) => {
                    stats.add(|c| &c.frames_down, 1);
                    stats.add(|c| &c.bytes_down, frame.len() as u64);
                    if let Err(end) = handle(conn, &frame, stats).await {
                        return end;
                    }
                }
            }
            if fresh {
                break;
            }
        }
    }
    // A probe with a set phase sweeps it: its inputs go a little slower than the ticks
    // (one tick in SWEEP_TICKS longer), so its phase moves through the whole tick every
    // SWEEP_TICKS inputs. A few probes at fixed phases sample the round trip at a few points
    // only, and where those points fall against the server's read of the inputs decides the
    // median (a probe just after the read waits a whole tick more); sweeping, every probe
    // samples every phase alike, as a crowd of players with random phases does (and as the
    // floor's clients do). Slower, never faster: an input due with another one would wait
    // a tick in the server's queue; one tick in SWEEP_TICKS has none (the server repeats the
    // last one).
    let mut schedule = tokio::time::interval_at(mark + phase, input_period(dt, spec.phase));
    schedule.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let direct = spec.link.is_transparent();
    // A probe takes each frame's round trips when it arrives and decodes the frames once a
    // tick, before it decides (as a load bot does): decoding a large snapshot as it comes
    // would delay the other probes' frames, and their round trips with them.
    let mut arrived: std::collections::VecDeque<Bytes> = std::collections::VecDeque::new();
    let mut up: Lane<Vec<u8>> = Lane::new(spec.link, rng.next_u64());
    let mut down: Lane<Bytes> = Lane::new(spec.link, rng.next_u64());
    let never = Instant::now() + Duration::from_secs(365 * 24 * 3600);
    let stopped = spec.stop.cancelled();
    tokio::pin!(stopped);
    let (disrupt_at, disruption) = disrupt.unwrap_or((never, Disruption::Drop));
    let disrupted = tokio::time::sleep_until(disrupt_at);
    tokio::pin!(disrupted);
    if direct && conn.mode == DecodeMode::HeaderOnly {
        let disrupted = async move {
            disrupted.await;
            disruption
        };
        return load_session(conn, brain, &mut schedule, stopped, disrupted, stats).await;
    }

    loop {
        let (up_at, down_at) = (up.next_release(), down.next_release());
        tokio::select! {
            biased;
            () = &mut stopped => return End::Stopped,
            () = &mut disrupted => return End::Disrupt(disruption),
            () = tokio::time::sleep_until(up_at.map_or(never, Instant::from_std)), if up_at.is_some() => {
                while let Some(frame) = up.pop_due(std::time::Instant::now()) {
                    if let Err(e) = send(conn, frame, stats).await {
                        return End::Failed(e);
                    }
                }
            }
            () = tokio::time::sleep_until(down_at.map_or(never, Instant::from_std)), if down_at.is_some() => {
                while let Some(frame) = down.pop_due(std::time::Instant::now()) {
                    if let Err(end) = arrive(conn, frame, &mut arrived, stats).await {
                        return end;
                    }
                }
            }
            _ = schedule.tick() => {
                while let Some(frame) = arrived.pop_front() {
                    if let Err(end) = handle(conn, &frame, stats).await {
                        return end;
                    }
                }
                let input = {
                    let sight = (conn.mode == DecodeMode::Full).then(|| Sight {
                        me: conn.welcome.player,
                        state: conn.replica.entities(),
                        map: &conn.welcome.map,
                    });
                    decide(brain, sight.as_ref())
                };
                let (_, frame) = conn.prepare_input(input);
                if direct {
                    if let Err(e) = send(conn, frame, stats).await {
                        return End::Failed(e);
                    }
                } else {
                    up.push(std::time::Instant::now(), frame.len(), frame);
                }
            }
            frame = conn.recv_frame(), if !down.is_full() => match frame {
                Err(e) => return End::Failed(e),
                Ok(frame) => {
                    stats.add(|c| &c.frames_down, 1);
                    stats.add(|c| &c.bytes_down, frame.len() as u64);
                    if direct {
                        if let Err(end) = arrive(conn, frame, &mut arrived, stats).await {
                            return end;
                        }
                    } else {
                        down.push(std::time::Instant::now(), frame.len(), frame);
                    }
                }
            },
        }
    }
}

/// The time between a bot's inputs: the tick, or for a probe with a set phase a tick and
/// 1/[`SWEEP_TICKS`] of one (see `session`).
fn input_period(dt: Duration, phase: Option<f64>) -> Duration {
    if phase.is_some() {
        dt + dt / SWEEP_TICKS
    } else {
        dt
    }
}

/// A load bot on a direct link: it wakes once per tick, takes in every frame that arrived
/// since the last one (acknowledging the newest, as a player's next input does), then sends
/// its input. The server sees exactly what a player sends; the bot process is spared a task
/// wake per snapshot, so one core drives more bots. Round trips come from the probes.
async fn load_session(
    conn: &mut BotConnection,
    brain: &mut Brain,
    schedule: &mut tokio::time::Interval,
    mut stopped: std::pin::Pin<&mut tokio_util::sync::WaitForCancellationFuture<'_>>,
    disrupted: impl std::future::Future<Output = Disruption>,
    stats: &Stats,
) -> End {
    use futures_util::FutureExt;
    tokio::pin!(disrupted);
    loop {
        tokio::select! {
            biased;
            () = &mut stopped => return End::Stopped,
            kind = &mut disrupted => return End::Disrupt(kind),
            _ = schedule.tick() => {
                // Bounded: what the socket holds now (the server sends one frame per tick).
                for _ in 0..MAX_HELD_FRAMES {
                    let Some(frame) = conn.recv_frame().now_or_never() else {
                        break;
                    };
                    match frame {
                        Err(e) => return End::Failed(e),
                        Ok(frame) => {
                            stats.add(|c| &c.frames_down, 1);
                            stats.add(|c| &c.bytes_down, frame.len() as u64);
                            match conn.handle_frame(&frame).await {
                                Ok(ServerEvent::Snapshot { .. }) => {
                                    stats.add(|c| &c.snapshots, 1);
                                    // Read up to a tick late: its round trips are not
                                    // measured (the probes measure them).
                                    conn.take_rtts().for_each(drop);
                                }
                                Ok(ServerEvent::Pong(_)) => {}
                                Err(e) => return End::Failed(e),
                            }
                        }
                    }
                }
                let (_, frame) = conn.prepare_input(decide(brain, None));
                if let Err(e) = send(conn, frame, stats).await {
                    return End::Failed(e);
                }
            }
        }
    }
}

async fn send(conn: &mut BotConnection, frame: Vec<u8>, stats: &Stats) -> Result<(), BotError> {
    let len = frame.len() as u64;
    conn.send_frame(frame).await?;
    stats.add(|c| &c.inputs, 1);
    stats.add(|c| &c.bytes_up, len);
    Ok(())
}

/// A frame arrived: a snapshot's round trips are taken now and it is handled at the next
/// input (at once when [`MAX_HELD_FRAMES`] wait already); any other message at once.
async fn arrive(
    conn: &mut BotConnection,
    frame: Bytes,
    arrived: &mut std::collections::VecDeque<Bytes>,
    stats: &Stats,
) -> Result<(), End> {
    if tickwire_shared::protocol::codec::read_snapshot_header(&frame).is_none() {
        // Not a snapshot (a pong, the server's goodbye): handled now, after the snapshots
        // before it.
        while let Some(f) = arrived.pop_front() {
            handle(conn, &f, stats).await?;
        }
        return handle(conn, &frame, stats).await;
    }
    conn.note_arrival(&frame);
    stats.record_rtts(conn.take_rtts());
    arrived.push_back(frame);
    while arrived.len() > MAX_HELD_FRAMES {
        if let Some(f) = arrived.pop_front() {
            handle(conn, &f, stats).await?;
        }
    }
    Ok(())
}

async fn handle(conn: &mut BotConnection, frame: &[u8], stats: &Stats) -> Result<(), End> {
    match conn.handle_frame(frame).await {
        Ok(ServerEvent::Snapshot { .. }) => {
            stats.add(|c| &c.snapshots, 1);
            stats.record_rtts(conn.take_rtts());
            if conn.mode == DecodeMode::Full {
                check_replica(conn).map_err(End::Invariant)?;
            }
            Ok(())
        }
        Ok(ServerEvent::Pong(_)) => Ok(()),
        Err(e) => Err(End::Failed(e)),
    }
}

/// What must hold of a replica after every snapshot: the bot's own player is in it, and
/// every player is inside the map, with hit points in range, dead exactly at 0 hp.
fn check_replica(conn: &BotConnection) -> Result<(), String> {
    let me = conn.welcome.player;
    if !matches!(conn.replica.get(me), Some(NetEntity::Player(_))) {
        return Err(format!("own player {me:?} missing"));
    }
    let (map, max_hp) = (&conn.welcome.map, conn.welcome.config.max_hp);
    for (id, e) in conn.replica.entities() {
        let NetEntity::Player(p) = e else { continue };
        let pos = p.pos.to_vec2();
        if !(-1.0..=map.width + 1.0).contains(&pos.x) || !(-1.0..=map.height + 1.0).contains(&pos.y)
        {
            return Err(format!("player {id:?} outside the map at {pos}"));
        }
        if p.hp > max_hp || (p.hp == 0) != p.respawn_at.is_some() {
            return Err(format!(
                "player {id:?} has hp {} and respawn {:?}",
                p.hp, p.respawn_at
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A probe's inputs go at `k * period` from its start: over [`SWEEP_TICKS`] inputs their
    /// place in the server's tick takes every part of the tick, and no server tick gets two
    /// of them (a second input due in a tick would wait a tick in the server's queue).
    #[test]
    fn a_probe_sweeps_the_whole_tick_and_never_sends_twice_in_one() {
        let dt = Duration::from_secs(1) / 30;
        let period = input_period(dt, Some(0.5));
        assert!(period > dt);
        let (dt_ns, period_ns) = (dt.as_nanos(), period.as_nanos());
        let parts = 30u128;
        let mut seen = vec![false; parts as usize];
        let mut last_tick = None;
        for k in 0..=u128::from(SWEEP_TICKS) {
            let at = k * period_ns;
            seen[(at % dt_ns * parts / dt_ns) as usize] = true;
            let tick = at / dt_ns;
            assert_ne!(
                last_tick,
                Some(tick),
                "input {k} in the same tick as the one before"
            );
            last_tick = Some(tick);
        }
        assert!(
            seen.iter().all(|s| *s),
            "parts of the tick never sampled: {seen:?}"
        );
        // A load bot (random phase) keeps the tick's own period.
        assert_eq!(input_period(dt, None), dt);
    }
}
