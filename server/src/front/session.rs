//! A game session on an upgraded connection: the join, then the room owns the connection
//! for the whole play (it reads and writes the socket itself, once per tick), then it hands
//! it back here for the close. While the room has it this task sleeps on one channel: a
//! playing client costs no task wake at all.

use std::time::Duration;

use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tracing::debug;

use std::sync::Arc;

use tickwire_shared::protocol::{
    codec, ClientMsg, DisconnectReason, Join, Resume, ResumeRefusal, SeatRefusal, Watch,
    MAX_RESUME_TOKEN_BYTES, MAX_SEAT_TOKEN_BYTES, PROTOCOL_VERSION,
};
use tickwire_shared::{NetId, Tick};

use crate::directory::ClaimError;
use crate::net::close::{binary_payload, close_conn, Closing};
use crate::net::game_socket::GameSocket;
use crate::room::{replay_room, Arrival, Ending, Lease, RoomCommand};
use crate::rooms::{Claimed, RoomEntry, RoomId};
use crate::Shared;

/// What the WebSocket URL asked for (`/ws?room=CODE&seat=TOKEN`): a room's URL must come
/// with a seat in it; the seat may travel in the URL for tools that cannot put it in the
/// join.
#[derive(Clone, Debug, Default)]
pub struct Asked {
    /// `room=`: the room this URL is for.
    pub room: Option<String>,
    /// `seat=`: a seat token, when the join carries none.
    pub seat: Option<String>,
    /// `replay=`: a recorded match to watch (with a `Watch`), by its id under
    /// `--record-dir`.
    pub replay: Option<String>,
}

/// How long a session whose room let go waits to learn whether the server is stopping
/// (1001 / 1011).
const ROOM_GONE_GRACE: Duration = Duration::from_millis(250);

/// Runs a game session to its end, close frame included: the first message (a join, or a
/// resume of a player whose connection was lost), a place (the join's seat, quick play, or
/// the player held for the resume), the room until it hands the socket back, the close.
pub async fn run(mut conn: GameSocket, shared: &Shared, asked: Asked) {
    let linger = shared.config.close_linger;
    let hello = tokio::select! {
        biased;
        () = shared.shutdown.cancelled() => Err(stopping()),
        r = tokio::time::timeout(shared.config.join_timeout, read_hello(&mut conn)) => match r {
            Ok(r) => r,
            Err(_) => Err(Closing::with_reason(
                CloseCode::Policy,
                DisconnectReason::JoinTimeout,
                "no join in time",
            )),
        },
    };
    if let (Ok(Hello::Watch(_)), Some(id)) = (&hello, asked.replay.clone()) {
        return watch_replay(conn, shared, &id).await;
    }
    let placed = match hello {
        Ok(hello) => place(shared, hello, asked).await,
        Err(e) => Err(e),
    };
    let (room, place) = match placed {
        Ok(p) => p,
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
    let arrival = Arrival {
        conn,
        ended: ended_tx,
        ticket: shared.rooms.ticket(room.id),
    };
    if let Err(mut back) = room.handle.send(place.command(arrival)) {
        let closing = Closing::with_reason(
            CloseCode::Again,
            DisconnectReason::ShuttingDown,
            "room is overloaded or gone",
        );
        count(shared, &closing);
        return close_conn(&mut back.conn, &closing, linger).await;
    }
    tracing::info!(room = %room.id, "session handed to the room");
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

/// A replay's viewer: the file loaded (off the runtime's threads), then played to it until
/// it leaves.
async fn watch_replay(mut conn: GameSocket, shared: &Shared, id: &str) {
    let linger = shared.config.close_linger;
    let missing = |detail: String| {
        Closing::with_reason(
            CloseCode::Policy,
            DisconnectReason::Seat(SeatRefusal::RoomGone),
            detail,
        )
    };
    let path = shared
        .config
        .record_dir
        .as_deref()
        .and_then(|dir| replay_room::replay_path(dir, id))
        .filter(|p| p.is_file());
    let Some(path) = path else {
        let closing = missing("no such replay".into());
        count(shared, &closing);
        return close_conn(&mut conn, &closing, linger).await;
    };
    // Held until the viewer leaves.
    let Ok(_place) = shared.replay_viewers.clone().try_acquire_owned() else {
        let closing = Closing::with_reason(
            CloseCode::Again,
            DisconnectReason::ServerFull,
            "too many replay viewers right now",
        );
        count(shared, &closing);
        return close_conn(&mut conn, &closing, linger).await;
    };
    let loaded = tokio::task::spawn_blocking(move || replay_room::Loaded::load(&path)).await;
    let loaded = match loaded {
        Ok(Ok(l)) => l,
        Ok(Err(e)) => {
            let closing = missing(e.to_string());
            count(shared, &closing);
            return close_conn(&mut conn, &closing, linger).await;
        }
        Err(e) => {
            let closing = Closing::gone(format!("replay load failed: {e}"));
            return close_conn(&mut conn, &closing, linger).await;
        }
    };
    if let Err(e) = conn.detach() {
        let closing = Closing::gone(format!("cannot hand the socket over: {e}"));
        return close_conn(&mut conn, &closing, linger).await;
    }
    let c = &shared.config;
    let limits = crate::room::NetLimits {
        max_msgs_per_s: c.max_msgs_per_s,
        msg_burst: c.msg_burst,
        idle_timeout: c.idle_timeout,
        ping_interval: c.ping_interval,
        write_timeout: c.write_timeout,
        ..crate::room::NetLimits::default()
    };
    let (mut conn, closing) =
        replay_room::serve(conn, &loaded, id, &limits, shared.shutdown.clone()).await;
    count(shared, &closing);
    close_conn(&mut conn, &closing, linger).await;
}

/// The first message of a session.
enum Hello {
    Join(Join),
    Resume(Resume),
    Watch(Watch),
}

/// Where a session's connection goes in its room.
enum Place {
    /// A new player, holding its seat.
    Join { name: String, lease: Lease },
    /// The player held under resume `key`.
    Resume {
        key: u64,
        last_tick: Option<Tick>,
        next_input_seq: u32,
    },
    /// A spectator (no seat: spectators are capped by the room).
    Watch { follow: Option<NetId> },
}

impl Place {
    /// The room command that takes `arrival` there.
    fn command(self, arrival: Arrival) -> RoomCommand {
        match self {
            Place::Join { name, lease } => RoomCommand::Join {
                name,
                arrival,
                lease,
            },
            Place::Resume {
                key,
                last_tick,
                next_input_seq,
            } => RoomCommand::Resume {
                key,
                last_tick,
                next_input_seq,
                arrival,
            },
            Place::Watch { follow } => RoomCommand::Watch { follow, arrival },
        }
    }
}

/// Where the session goes: its room, and its place there (a seat, or a held player).
async fn place(
    shared: &Shared,
    hello: Hello,
    asked: Asked,
) -> Result<(Arc<RoomEntry>, Place), Closing> {
    match hello {
        Hello::Join(join) => {
            let (name, claimed) = seat(shared, join, asked).await?;
            let lease = Lease::new(claimed.guard);
            Ok((claimed.room, Place::Join { name, lease }))
        }
        Hello::Resume(resume) => {
            if resume.token.len() > MAX_RESUME_TOKEN_BYTES {
                return Err(resume_refused(ResumeRefusal::Invalid));
            }
            let room = url_room(&asked).map_err(|()| resume_refused(ResumeRefusal::RoomGone))?;
            let (entry, key) = shared
                .rooms
                .resume_target(&resume.token, room)
                .map_err(resume_refused)?;
            let place = Place::Resume {
                key,
                last_tick: resume.last_tick,
                next_input_seq: resume.next_input_seq,
            };
            Ok((entry, place))
        }
        Hello::Watch(watch) => Ok((
            watched_room(shared, &asked)?,
            Place::Watch {
                follow: watch.follow,
            },
        )),
    }
}

/// The room a spectator watches: the URL's (`?room=CODE`), else the fullest public room of
/// the default mode.
fn watched_room(shared: &Shared, asked: &Asked) -> Result<Arc<RoomEntry>, Closing> {
    let gone = || {
        Closing::with_reason(
            CloseCode::Policy,
            DisconnectReason::Seat(SeatRefusal::RoomGone),
            "no such room to watch",
        )
    };
    let code = match &asked.room {
        Some(code) => code.clone(),
        None => {
            let mode = &shared.rooms.modes().default_mode().name;
            shared
                .rooms
                .list(Some(mode))
                .into_iter()
                .next()
                .ok_or_else(gone)?
                .id
        }
    };
    shared.rooms.entry(&code).ok_or_else(gone)
}

/// The room the URL names (`?room=`); `Err` for a code that cannot be a room's.
fn url_room(asked: &Asked) -> Result<Option<RoomId>, ()> {
    asked
        .room
        .as_deref()
        .map(|code| RoomId::parse(code).ok_or(()))
        .transpose()
}

fn resume_refused(why: ResumeRefusal) -> Closing {
    let detail = match why {
        ResumeRefusal::Invalid => "the resume token is not valid",
        ResumeRefusal::Expired => "the player is no longer held for a resume",
        ResumeRefusal::OtherRoom => "the resume token is for another room",
        ResumeRefusal::RoomGone => "the room no longer exists",
    };
    Closing::with_reason(CloseCode::Policy, DisconnectReason::Resume(why), detail)
}

/// The seat this join takes, and the player's name (the verified identity's, else the
/// join's).
async fn seat(shared: &Shared, join: Join, asked: Asked) -> Result<(String, Claimed), Closing> {
    let room = url_room(&asked).map_err(|()| seat_refused(SeatRefusal::RoomGone))?;
    let token = join.seat.or(asked.seat);
    let claimed = match (token, asked.room) {
        (Some(token), _) => {
            if token.len() > MAX_SEAT_TOKEN_BYTES {
                return Err(seat_refused(SeatRefusal::Invalid));
            }
            match shared.directory.claim(&token, room).await {
                Ok(c) => c,
                Err(ClaimError::Refused(why)) => return Err(seat_refused(why)),
                Err(ClaimError::Unavailable(e)) => {
                    return Err(Closing::with_reason(
                        CloseCode::Again,
                        DisconnectReason::ServerFull,
                        format!("the room directory is unavailable: {e}"),
                    ))
                }
            }
        }
        // A room's URL, or a server whose players come from the game's backend (their
        // identity is in the reservation): a seat is required.
        (None, Some(_)) => return Err(seat_refused(SeatRefusal::Missing)),
        (None, None) if shared.auth.is_some() => return Err(seat_refused(SeatRefusal::Missing)),
        (None, None) => shared.directory.quick_play().await.map_err(|e| {
            Closing::with_reason(
                CloseCode::Again,
                DisconnectReason::ServerFull,
                e.to_string(),
            )
        })?,
    };
    let name = match &claimed.who {
        Some(who) => who.name.clone(),
        // The room cleans every name and keeps them distinct (`room::names`).
        None => join.name,
    };
    Ok((name, claimed))
}

fn seat_refused(why: SeatRefusal) -> Closing {
    let detail = match why {
        SeatRefusal::Missing => "a seat token is required to join this room",
        SeatRefusal::Invalid => "the seat token is not valid",
        SeatRefusal::Expired => "the seat token has expired",
        SeatRefusal::Used => "the seat token was already used",
        SeatRefusal::OtherRoom => "the seat token is for another room",
        SeatRefusal::RoomGone => "the room no longer exists",
    };
    Closing::with_reason(CloseCode::Policy, DisconnectReason::Seat(why), detail)
}

fn count(shared: &Shared, closing: &Closing) {
    if let Some(reason) = closing.reason {
        shared.metrics.kick(reason_label(reason));
    } else if closing.code.is_some() {
        shared.metrics.kick("protocol");
    }
}

/// The close for a server that stops.
fn stopping() -> Closing {
    Closing::with_reason(
        CloseCode::Away,
        DisconnectReason::ShuttingDown,
        "server shutting down",
    )
}

/// Waits for the first message, a join or a resume; refuses anything else with the right
/// close code.
async fn read_hello(conn: &mut GameSocket) -> Result<Hello, Closing> {
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
            Ok(ClientMsg::Join(j)) if j.version == PROTOCOL_VERSION => Ok(Hello::Join(j)),
            Ok(ClientMsg::Join(j)) => Err(version_mismatch(j.version)),
            Ok(ClientMsg::Resume(r)) if r.version == PROTOCOL_VERSION => Ok(Hello::Resume(r)),
            Ok(ClientMsg::Resume(r)) => Err(version_mismatch(r.version)),
            Ok(ClientMsg::Watch(w)) if w.version == PROTOCOL_VERSION => Ok(Hello::Watch(w)),
            Ok(ClientMsg::Watch(w)) => Err(version_mismatch(w.version)),
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
        DisconnectReason::Seat(SeatRefusal::Missing) => "seat_missing",
        DisconnectReason::Seat(SeatRefusal::Invalid) => "seat_invalid",
        DisconnectReason::Seat(SeatRefusal::Expired) => "seat_expired",
        DisconnectReason::Seat(SeatRefusal::Used) => "seat_used",
        DisconnectReason::Seat(SeatRefusal::OtherRoom) => "seat_other_room",
        DisconnectReason::Seat(SeatRefusal::RoomGone) => "seat_room_gone",
        DisconnectReason::RoomFailed => "room_failed",
        DisconnectReason::Resume(ResumeRefusal::Invalid) => "resume_invalid",
        DisconnectReason::Resume(ResumeRefusal::Expired) => "resume_expired",
        DisconnectReason::Resume(ResumeRefusal::OtherRoom) => "resume_other_room",
        DisconnectReason::Resume(ResumeRefusal::RoomGone) => "resume_room_gone",
        DisconnectReason::Replaced => "replaced",
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

/// The room let go without a verdict: the server is stopping, or the room failed.
async fn room_gone(shared: &Shared) -> Closing {
    if tokio::time::timeout(ROOM_GONE_GRACE, shared.shutdown.cancelled())
        .await
        .is_ok()
    {
        return stopping();
    }
    Closing::with_reason(
        CloseCode::Error,
        DisconnectReason::RoomFailed,
        "internal error: the room stopped",
    )
}
