//! The lobby's logic: how a player gets a seat, and gets one again after a drop. Native
//! code, tested natively; the web shell (`web/lobby.rs`, `web.rs`) only does the DOM and
//! the HTTP and WebSocket calls it is told to.
//!
//! A [`Seating`] follows one intent of the player ([`Intent`]: quick play, a room by its
//! code, a new private room) from the first request to the end of the stay in the room:
//!
//! ```text
//!  Intent ─start()─▶ Next::Call(POST /matchmake/{mode} | /rooms | /rooms/{code}/seat)
//!                      └─on_answer(status, reservation)─▶ Next::Open{url, seat} ─▶ socket + Join{seat}
//!                                                      └─▶ Next::Lobby(message)  (404, 409, 503, ...)
//!  dropped ─on_drop(reason)─▶ AfterDrop::Resume{url, token}  (the same player: socket + Resume)
//!                           └─▶ AfterDrop::Reseat ─reconnect()─▶ Next::Call(POST /rooms/{room}/seat)
//!                           └─▶ AfterDrop::Now(next)   (a refused resume: what the page does without one)
//!                           └─▶ AfterDrop::TakenOver   (another tab resumed this player)
//! ```
//!
//! A seat token is single-use: a reconnect that cannot resume asks for a new seat (a new
//! player). A lost connection resumes its player with the newest resume token of the
//! welcomes ([`Seating::on_welcome`]); the page keeps it in `sessionStorage` as a
//! [`Ticket`], so that a reload within the room's grace resumes too
//! ([`Seating::reloaded`]).
//!
//! Quick play without a mode (`/?name=you`) is the plain `/ws` join with no seat (the server
//! seats it in its default mode). A quick-play player whose room is gone or full when
//! it comes back simply plays quick play again; a player who chose a room goes back to the
//! lobby with a message.

use tickwire_shared::protocol::{DisconnectReason, ResumeRefusal, SeatRefusal};

/// What the player asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Intent {
    /// Any room: `Some(mode)` through the matchmaker, `None` the server's default mode by a
    /// plain `/ws` join.
    QuickPlay {
        /// The mode to matchmake in.
        mode: Option<String>,
    },
    /// Room `code` (an invite, a room picked in the list, a typed code).
    Room(String),
    /// A new private room of `mode`.
    CreatePrivate {
        /// Its mode.
        mode: String,
    },
}

/// One call to the rooms API (JSON over HTTP, same origin as the page).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiCall {
    /// `GET` or `POST`.
    pub method: &'static str,
    /// Path from the page's origin, e.g. `/rooms/ABCDEF/seat`.
    pub path: String,
    /// JSON body, if any.
    pub body: Option<String>,
}

/// The fields of an answer of the rooms API that the lobby reads (a reservation, or a
/// refusal), as the shell decoded them from the JSON.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApiAnswer {
    /// The room's code.
    pub room: Option<String>,
    /// The WebSocket URL to open.
    pub url: Option<String>,
    /// The seat token to present in the join.
    pub seat: Option<String>,
    /// A refusal's machine-readable reason (`room_full`, `unknown_room`, ...).
    pub reason_code: Option<String>,
    /// A refusal's text.
    pub reason: Option<String>,
}

/// What the shell does next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// Call the rooms API and hand the answer to [`Seating::on_answer`].
    Call(ApiCall),
    /// Open a WebSocket at `url` and join with `seat` (`None`: quick play).
    Open {
        /// Absolute `ws://` or `wss://` URL.
        url: String,
        /// The seat token, used once.
        seat: Option<String>,
    },
    /// Back to the lobby, showing this message.
    Lobby(String),
    /// The server could not be reached: call [`Seating::reconnect`] after a backoff,
    /// showing this message meanwhile.
    Retry(String),
}

/// The page's origin: where the API and the WebSocket are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    /// Served over `https:` (the WebSocket is then `wss:`).
    pub https: bool,
    /// `host[:port]`.
    pub host: String,
}

impl Page {
    /// `http(s)://host`.
    #[must_use]
    pub fn origin(&self) -> String {
        format!(
            "{}://{}",
            if self.https { "https" } else { "http" },
            self.host
        )
    }

    /// The invite link of room `code`: opening it offers to join that room.
    #[must_use]
    pub fn invite_url(&self, code: &str) -> String {
        format!("{}/?room={code}", self.origin())
    }

    /// The WebSocket URL of room `code` (where a resume goes).
    #[must_use]
    pub fn room_socket_url(&self, code: &str) -> String {
        let scheme = if self.https { "wss" } else { "ws" };
        format!("{scheme}://{}/ws?room={}", self.host, path_segment(code))
    }

    /// The WebSocket URL to open: the reservation's `url` (upgraded to `wss:` on an https
    /// page; a server behind a TLS proxy sees plain http and answers `ws:`), else the plain
    /// quick-play endpoint.
    #[must_use]
    pub fn socket_url(&self, reserved: Option<&str>) -> String {
        let scheme = if self.https { "wss" } else { "ws" };
        match reserved {
            Some(url) if self.https => match url.strip_prefix("ws://") {
                Some(rest) => format!("wss://{rest}"),
                None => url.to_owned(),
            },
            Some(url) => url.to_owned(),
            None => format!("{scheme}://{}/ws", self.host),
        }
    }
}

/// A room code typed or pasted by the player: the code itself (any case, spaces around)
/// or a whole invite link. `None` if it cannot be one.
#[must_use]
pub fn parse_code(text: &str) -> Option<String> {
    let text = text.trim();
    let code = match text.find("room=") {
        Some(at) => text[at + 5..].split(['&', '#']).next().unwrap_or_default(),
        None => text,
    };
    let code = code.trim().to_ascii_uppercase();
    (!code.is_empty() && code.len() <= 16 && code.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then_some(code)
}

/// What a refused seat at the join means for the player.
#[must_use]
pub fn seat_refusal_text(why: SeatRefusal) -> &'static str {
    match why {
        SeatRefusal::Missing | SeatRefusal::Invalid | SeatRefusal::OtherRoom => {
            "the server did not accept this page's seat"
        }
        SeatRefusal::Expired => "the seat expired before the game could join",
        SeatRefusal::Used => "the seat was already used",
        SeatRefusal::RoomGone => "the room no longer exists",
    }
}

/// What a resume refused for `why` means for the player.
#[must_use]
pub fn resume_refusal_text(why: ResumeRefusal) -> &'static str {
    match why {
        ResumeRefusal::Expired => "the connection was lost for too long",
        ResumeRefusal::Invalid | ResumeRefusal::OtherRoom => {
            "the server did not accept this page's resume"
        }
        ResumeRefusal::RoomGone => "the room no longer exists",
    }
}

/// What the page does when its connection ended ([`Seating::on_drop`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AfterDrop {
    /// After the backoff, open `url` again and send `Resume` with `token`: the same
    /// player, the game client keeping its state (the canvas stays).
    Resume {
        /// The room's WebSocket URL.
        url: String,
        /// The newest welcome's resume token.
        token: String,
    },
    /// After the backoff, [`Seating::reconnect`]: a new seat (a new player).
    Reseat,
    /// At once, this step (a refused resume, or a seat refused for good).
    Now(Next),
    /// Another tab or window resumed this player: say this, and do not take it back.
    TakenOver(String),
}

/// The wait before reconnection attempt `attempt` (0 = the first after a drop), ms:
/// exponential from 250 ms, at most 5 s, with "equal jitter" (`jitter` in [0, 1): the
/// wait is between half and all of the step) so that clients dropped together do not
/// come back together.
#[must_use]
pub fn backoff_ms(attempt: u32, jitter: f64) -> f64 {
    let step = (250.0 * f64::from(1u32 << attempt.min(5))).min(5000.0);
    step * (0.5 + 0.5 * jitter.clamp(0.0, 1.0))
}

/// What a page keeps in `sessionStorage` (per tab, kept across a reload) to take its
/// player back: the room, the newest resume token, the intent and the name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ticket {
    /// The room's code.
    pub room: String,
    /// The newest welcome's resume token.
    pub token: String,
    /// The player's intent (what a drop falls back to when the resume is refused).
    pub intent: Intent,
    /// The player's name.
    pub name: String,
}

impl Ticket {
    /// The `sessionStorage` key.
    pub const KEY: &'static str = "tickwire.resume";

    /// One line per field: `1`, room, token, intent, name (last: the rest of the text).
    #[must_use]
    pub fn encode(&self) -> String {
        let intent = match &self.intent {
            Intent::QuickPlay { mode: None } => "q".to_owned(),
            Intent::QuickPlay { mode: Some(m) } => format!("q:{m}"),
            Intent::Room(code) => format!("r:{code}"),
            Intent::CreatePrivate { mode } => format!("p:{mode}"),
        };
        format!("1\n{}\n{}\n{intent}\n{}", self.room, self.token, self.name)
    }

    /// The ticket in `text` (`None`: not one this page wrote).
    #[must_use]
    pub fn decode(text: &str) -> Option<Ticket> {
        let mut parts = text.splitn(5, '\n');
        if parts.next()? != "1" {
            return None;
        }
        let room = parse_code(parts.next()?)?;
        let token = parts.next()?.to_owned();
        let intent = match parts.next()? {
            "q" => Intent::QuickPlay { mode: None },
            other => match other.split_once(':')? {
                ("q", m) => Intent::QuickPlay {
                    mode: Some(m.to_owned()),
                },
                ("r", code) => Intent::Room(parse_code(code)?),
                ("p", m) => Intent::CreatePrivate { mode: m.to_owned() },
                _ => return None,
            },
        };
        let name = parts.next()?.to_owned();
        (!token.is_empty() && token.len() <= 512).then_some(Ticket {
            room,
            token,
            intent,
            name,
        })
    }

    /// Whether a page opened at a URL naming `url_room` (if any) resumes this ticket: a
    /// link to another room is a new intent, not a reload.
    #[must_use]
    pub fn applies_to(&self, url_room: Option<&str>) -> bool {
        url_room.is_none_or(|r| r == self.room)
    }
}

/// One intent of the player, from its first request to the end of its stay in a room.
#[derive(Clone, Debug)]
pub struct Seating {
    page: Page,
    intent: Intent,
    /// The room it is in (from a reservation or the welcome): where a reconnect asks for
    /// a new seat.
    room: Option<String>,
    /// The call in flight asks for a seat back in `room` after a drop.
    coming_back: bool,
    /// Seat refusals at the join since the last welcome.
    refusals: u32,
    /// The newest welcome's resume token: a lost connection takes its player back with it.
    resume: Option<String>,
    /// A page reloaded with a [`Ticket`] and not welcomed yet: what the page would have
    /// done without one (`Some(intent)`: that intent; `None`: the lobby).
    reloaded: Option<Option<Intent>>,
    /// The room's WebSocket URL from its reservation (in a cluster, its node's): where a
    /// resume goes (else the page's own host).
    room_url: Option<String>,
    /// Connections lost since the last welcome: past [`MAX_RESUME_TRIES`] the room's node
    /// is taken for gone (killed, unreachable) and the player is seated again.
    lost: u32,
}

/// Resumes tried without a welcome before the page gives the room up.
pub const MAX_RESUME_TRIES: u32 = 3;

impl Seating {
    /// Follows `intent` for a page at `page`.
    #[must_use]
    pub fn new(page: Page, intent: Intent) -> Seating {
        Seating {
            page,
            intent,
            room: None,
            coming_back: false,
            refusals: 0,
            resume: None,
            reloaded: None,
            room_url: None,
            lost: 0,
        }
    }

    /// A page reloaded with `ticket` in its `sessionStorage`: resumes the player first
    /// ([`Seating::first_resume`]); if the resume is refused, `fallback` is what the page
    /// does next (the intent its URL names, or `None`: the lobby).
    #[must_use]
    pub fn reloaded(page: Page, ticket: Ticket, fallback: Option<Intent>) -> Seating {
        Seating {
            room: Some(ticket.room),
            resume: Some(ticket.token),
            reloaded: Some(fallback),
            ..Seating::new(page, ticket.intent)
        }
    }

    /// The first step of a reloaded page: resume the player of its ticket (a full state:
    /// the page holds no snapshot).
    #[must_use]
    pub fn first_resume(&self) -> Option<AfterDrop> {
        self.resume_step()
    }

    fn resume_step(&self) -> Option<AfterDrop> {
        match (&self.room, &self.resume) {
            (Some(room), Some(token)) => Some(AfterDrop::Resume {
                url: self
                    .room_url
                    .clone()
                    .unwrap_or_else(|| self.page.room_socket_url(room)),
                token: token.clone(),
            }),
            _ => None,
        }
    }

    /// What the page keeps in `sessionStorage` for a reload (`None`: nothing to resume).
    #[must_use]
    pub fn ticket(&self, name: &str) -> Option<Ticket> {
        Some(Ticket {
            room: self.room.clone()?,
            token: self.resume.clone()?,
            intent: self.intent.clone(),
            name: name.to_owned(),
        })
    }

    /// What the player asked for.
    #[must_use]
    pub fn intent(&self) -> &Intent {
        &self.intent
    }

    /// The room, once known.
    #[must_use]
    pub fn room(&self) -> Option<&str> {
        self.room.as_deref()
    }

    /// The page's origin.
    #[must_use]
    pub fn page(&self) -> &Page {
        &self.page
    }

    /// The first step towards a seat.
    #[must_use]
    pub fn start(&mut self) -> Next {
        self.coming_back = false;
        let call =
            |method, path: String, body: Option<String>| Next::Call(ApiCall { method, path, body });
        match &self.intent {
            Intent::QuickPlay { mode: None } => Next::Open {
                url: self.page.socket_url(None),
                seat: None,
            },
            Intent::QuickPlay { mode: Some(m) } => {
                call("POST", format!("/matchmake/{}", path_segment(m)), None)
            }
            Intent::Room(code) => call("POST", format!("/rooms/{}/seat", path_segment(code)), None),
            Intent::CreatePrivate { mode } => call(
                "POST",
                "/rooms".to_owned(),
                Some(format!(
                    "{{\"mode\":{},\"private\":true}}",
                    crate::game::json_str(mode)
                )),
            ),
        }
    }

    /// The connection dropped (or the server could not be reached) and the backoff is
    /// over: a new seat in the same room, or the first step again if no room is known yet.
    #[must_use]
    pub fn reconnect(&mut self) -> Next {
        match &self.room {
            Some(room) => {
                self.coming_back = true;
                Next::Call(ApiCall {
                    method: "POST",
                    path: format!("/rooms/{}/seat", path_segment(room)),
                    body: None,
                })
            }
            None => self.start(),
        }
    }

    /// The rooms API answered `status` (`None`: no answer, the server is unreachable).
    #[must_use]
    pub fn on_answer(&mut self, status: Option<u16>, a: &ApiAnswer) -> Next {
        let Some(status) = status else {
            return Next::Retry("cannot reach the server".to_owned());
        };
        let code = a.reason_code.as_deref().unwrap_or_default();
        let reason = a.reason.clone().unwrap_or_else(|| format!("HTTP {status}"));
        let room = self
            .room
            .clone()
            .or_else(|| match &self.intent {
                Intent::Room(c) => Some(c.clone()),
                _ => None,
            })
            .unwrap_or_default();
        match status {
            200..=299 => match (&a.room, &a.seat) {
                (Some(r), Some(seat)) => {
                    self.room = Some(r.clone());
                    self.coming_back = false;
                    let url = self.page.socket_url(a.url.as_deref());
                    self.room_url = a.url.is_some().then(|| url.clone());
                    Next::Open {
                        url,
                        seat: Some(seat.clone()),
                    }
                }
                _ => Next::Lobby("The server's answer had no seat in it.".to_owned()),
            },
            // Quick play is any room: back into play elsewhere rather than to the lobby.
            404 | 409 if self.coming_back && matches!(self.intent, Intent::QuickPlay { .. }) => {
                self.room = None;
                self.start()
            }
            404 if code == "unknown_mode" => {
                Next::Lobby(format!("This server has no such game mode ({reason})."))
            }
            404 => Next::Lobby(format!(
                "Room {room} does not exist (or no longer does): check the code, or create a room."
            )),
            409 => Next::Lobby(format!(
                "Room {room} is full. Pick another room, or press Quick play."
            )),
            503 if code == "shutting_down" => Next::Retry("the server is restarting".to_owned()),
            // A cluster between states (a node draining or just lost, its directory
            // unreachable for a moment): ask again after the backoff.
            503 if matches!(code, "draining" | "no_node" | "directory_unavailable") => {
                Next::Retry(format!("no game server can take you right now ({reason})"))
            }
            503 => Next::Lobby(
                "The server is at capacity right now: no room can be opened. Try again in a minute."
                    .to_owned(),
            ),
            401 => Next::Lobby(format!("This server needs you to sign in ({reason}).")),
            500..=599 => Next::Retry(format!("server error {status}")),
            _ => Next::Lobby(format!("The server refused: {reason} ({status}).")),
        }
    }

    /// The server welcomed the player into `room`, with `resume`, the token that takes
    /// the player back after a lost connection (empty: the room does not hold players).
    /// Each welcome's token replaces the previous one.
    pub fn on_welcome(&mut self, room: &str, resume: &str) {
        if self.room.as_deref() != Some(room) {
            self.room_url = None;
        }
        self.room = Some(room.to_owned());
        self.refusals = 0;
        self.lost = 0;
        self.resume = (!resume.is_empty()).then(|| resume.to_owned());
        self.reloaded = None;
    }

    /// The session's connection ended; `reason` is what the server said before closing,
    /// if it did. A lost connection (no reason, or one the room holds players for)
    /// resumes the player while there is a token; a refused resume falls back at once to
    /// what the page does without one; another tab that took the player over is not
    /// fought.
    #[must_use]
    pub fn on_drop(&mut self, reason: Option<DisconnectReason>) -> AfterDrop {
        match reason {
            Some(DisconnectReason::Replaced) => {
                self.resume = None;
                AfterDrop::TakenOver(
                    "This game went on in another tab or window: it is played there now."
                        .to_owned(),
                )
            }
            Some(DisconnectReason::Resume(why)) => {
                self.resume = None;
                AfterDrop::Now(self.on_resume_refused(why))
            }
            Some(DisconnectReason::Seat(why)) => match self.on_seat_refused(why) {
                Some(message) => AfterDrop::Now(Next::Lobby(message)),
                None => AfterDrop::Reseat,
            },
            None | Some(DisconnectReason::IdleTimeout | DisconnectReason::TooSlow) => {
                self.lost += 1;
                if self.lost > MAX_RESUME_TRIES && self.resume.is_some() {
                    // The room's node does not answer (killed, or unreachable): the room
                    // is as good as gone, quick play finds a seat elsewhere.
                    self.resume = None;
                    self.lost = 0;
                    if matches!(self.intent, Intent::QuickPlay { .. }) {
                        self.room = None;
                        self.room_url = None;
                        return AfterDrop::Now(self.start());
                    }
                    return AfterDrop::Reseat;
                }
                self.resume_step().unwrap_or(AfterDrop::Reseat)
            }
            // The player is gone from the room (kicked, the room failed, the server
            // stops): a new seat, as before resume existed.
            Some(_) => {
                self.resume = None;
                AfterDrop::Reseat
            }
        }
    }

    /// A resume refused for `why`: the next step without it.
    fn on_resume_refused(&mut self, why: ResumeRefusal) -> Next {
        let room = self.room.clone().unwrap_or_default();
        let ended = format!(
            "Your game in room {room} has ended ({}).",
            resume_refusal_text(why)
        );
        if let Some(fallback) = self.reloaded.take() {
            // A reload: what the page would have done without a ticket.
            self.room = None;
            return match fallback {
                Some(intent) => {
                    self.intent = intent;
                    self.start()
                }
                None => Next::Lobby(ended),
            };
        }
        let quick = matches!(self.intent, Intent::QuickPlay { .. });
        match why {
            ResumeRefusal::RoomGone if quick => {
                self.room = None;
                self.start()
            }
            ResumeRefusal::RoomGone => Next::Lobby(ended),
            // The player is no longer held (or the token is not good here): a new seat in
            // the same room, a new player.
            ResumeRefusal::Expired | ResumeRefusal::Invalid | ResumeRefusal::OtherRoom => {
                self.reconnect()
            }
        }
    }

    /// The join was refused for its seat: `Some(message)` if the player should go back to
    /// the lobby rather than retry with a fresh seat (a second refusal in a row, or a room
    /// that is gone and was not quick play).
    #[must_use]
    pub fn on_seat_refused(&mut self, why: SeatRefusal) -> Option<String> {
        self.refusals += 1;
        let quick = matches!(self.intent, Intent::QuickPlay { .. });
        if why == SeatRefusal::RoomGone && quick {
            self.room = None;
        }
        let give_up = self.refusals >= 2 || (why == SeatRefusal::RoomGone && !quick);
        give_up.then(|| {
            let room = self.room.as_deref().unwrap_or("the room");
            format!("Could not join {room}: {}.", seat_refusal_text(why))
        })
    }
}

/// `s` made safe as one path segment (room codes and mode names are plain already).
fn path_segment(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> Page {
        Page {
            https: false,
            host: "game.test:8080".into(),
        }
    }

    fn reservation(room: &str, seat: &str) -> ApiAnswer {
        ApiAnswer {
            room: Some(room.into()),
            url: Some(format!("ws://game.test:8080/ws?room={room}")),
            seat: Some(seat.into()),
            ..ApiAnswer::default()
        }
    }

    fn refusal(code: &str) -> ApiAnswer {
        ApiAnswer {
            reason_code: Some(code.into()),
            reason: Some("nope".into()),
            ..ApiAnswer::default()
        }
    }

    #[test]
    fn quick_play_without_a_mode_is_the_plain_join() {
        let mut s = Seating::new(page(), Intent::QuickPlay { mode: None });
        assert_eq!(
            s.start(),
            Next::Open {
                url: "ws://game.test:8080/ws".into(),
                seat: None
            }
        );
    }

    #[test]
    fn each_intent_asks_the_right_endpoint() {
        let path = |intent| match Seating::new(page(), intent).start() {
            Next::Call(c) => (c.method, c.path, c.body),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            path(Intent::QuickPlay {
                mode: Some("arena-big".into())
            }),
            ("POST", "/matchmake/arena-big".into(), None)
        );
        assert_eq!(
            path(Intent::Room("KX3PQR".into())),
            ("POST", "/rooms/KX3PQR/seat".into(), None)
        );
        assert_eq!(
            path(Intent::CreatePrivate {
                mode: "arena".into()
            }),
            (
                "POST",
                "/rooms".into(),
                Some("{\"mode\":\"arena\",\"private\":true}".into())
            )
        );
        // Nothing typed by a player leaves its path segment.
        assert_eq!(
            path(Intent::Room("../debug/x?y".into())).1,
            "/rooms/..debugxy/seat"
        );
    }

    #[test]
    fn a_reservation_opens_its_url_with_its_seat_and_records_the_room() {
        let mut s = Seating::new(
            page(),
            Intent::CreatePrivate {
                mode: "arena".into(),
            },
        );
        let _ = s.start();
        assert_eq!(
            s.on_answer(Some(200), &reservation("KX3PQR", "tok1")),
            Next::Open {
                url: "ws://game.test:8080/ws?room=KX3PQR".into(),
                seat: Some("tok1".into())
            }
        );
        assert_eq!(s.room(), Some("KX3PQR"));
    }

    #[test]
    fn a_reconnect_asks_for_a_new_seat_in_the_same_room_never_the_spent_one() {
        let mut s = Seating::new(page(), Intent::Room("KX3PQR".into()));
        let _ = s.start();
        let _ = s.on_answer(Some(200), &reservation("KX3PQR", "tok1"));
        s.on_welcome("KX3PQR", "");
        match s.reconnect() {
            Next::Call(c) => {
                assert_eq!((c.method, c.path.as_str()), ("POST", "/rooms/KX3PQR/seat"))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            s.on_answer(Some(200), &reservation("KX3PQR", "tok2")),
            Next::Open {
                url: "ws://game.test:8080/ws?room=KX3PQR".into(),
                seat: Some("tok2".into())
            }
        );
    }

    #[test]
    fn a_quick_play_reconnect_goes_back_to_its_room_or_plays_quick_play_again() {
        let mut s = Seating::new(page(), Intent::QuickPlay { mode: None });
        let _ = s.start();
        s.on_welcome("ROOM77", "");
        assert!(matches!(s.reconnect(), Next::Call(c) if c.path == "/rooms/ROOM77/seat"));
        // The server restarted: the room is unknown now. Quick play again, no lobby.
        assert_eq!(
            s.on_answer(Some(404), &refusal("unknown_room")),
            Next::Open {
                url: "ws://game.test:8080/ws".into(),
                seat: None
            }
        );
        assert_eq!(s.room(), None);
        // A matchmade one goes through the matchmaker again.
        let mut s = Seating::new(
            page(),
            Intent::QuickPlay {
                mode: Some("arena".into()),
            },
        );
        s.on_welcome("ROOM77", "");
        let _ = s.reconnect();
        assert!(matches!(
            s.on_answer(Some(409), &refusal("room_full")),
            Next::Call(c) if c.path == "/matchmake/arena"
        ));
    }

    #[test]
    fn refusals_are_clear_messages_in_the_lobby() {
        let lobby = |intent, status, code: &str| {
            let mut s = Seating::new(page(), intent);
            let _ = s.start();
            match s.on_answer(Some(status), &refusal(code)) {
                Next::Lobby(m) => m,
                other => panic!("{other:?}"),
            }
        };
        let room = || Intent::Room("KX3PQR".into());
        let m = lobby(room(), 404, "unknown_room");
        assert!(m.contains("KX3PQR") && m.contains("does not exist"), "{m}");
        let m = lobby(room(), 409, "room_full");
        assert!(m.contains("KX3PQR is full"), "{m}");
        let m = lobby(
            Intent::QuickPlay {
                mode: Some("arena".into()),
            },
            503,
            "at_capacity",
        );
        assert!(m.contains("at capacity"), "{m}");
        let m = lobby(
            Intent::QuickPlay {
                mode: Some("chess".into()),
            },
            404,
            "unknown_mode",
        );
        assert!(m.contains("no such game mode"), "{m}");
        // A room chosen by code is not swapped for another after a drop either.
        let mut s = Seating::new(page(), room());
        s.on_welcome("KX3PQR", "");
        let _ = s.reconnect();
        assert!(matches!(
            s.on_answer(Some(404), &refusal("unknown_room")),
            Next::Lobby(m) if m.contains("KX3PQR")
        ));
    }

    #[test]
    fn an_unreachable_or_restarting_server_is_retried() {
        let mut s = Seating::new(page(), Intent::Room("KX3PQR".into()));
        let _ = s.start();
        assert!(matches!(
            s.on_answer(None, &ApiAnswer::default()),
            Next::Retry(_)
        ));
        assert!(matches!(
            s.on_answer(Some(503), &refusal("shutting_down")),
            Next::Retry(_)
        ));
        // No room known yet: the retry is the first step again.
        assert!(matches!(s.reconnect(), Next::Call(c) if c.path == "/rooms/KX3PQR/seat"));
    }

    #[test]
    fn seat_refusals_retry_once_then_go_to_the_lobby() {
        let mut s = Seating::new(page(), Intent::Room("KX3PQR".into()));
        s.on_welcome("KX3PQR", "");
        assert_eq!(s.on_seat_refused(SeatRefusal::Expired), None);
        let m = s.on_seat_refused(SeatRefusal::Expired).expect("gives up");
        assert!(m.contains("KX3PQR") && m.contains("expired"), "{m}");
        // A room gone: a chosen room ends in the lobby at once, quick play goes on.
        let mut s = Seating::new(page(), Intent::Room("KX3PQR".into()));
        assert!(s.on_seat_refused(SeatRefusal::RoomGone).is_some());
        let mut s = Seating::new(page(), Intent::QuickPlay { mode: None });
        s.on_welcome("ROOM77", "");
        assert_eq!(s.on_seat_refused(SeatRefusal::RoomGone), None);
        assert_eq!(s.room(), None);
    }

    fn resume_to(room: &str, token: &str) -> AfterDrop {
        AfterDrop::Resume {
            url: format!("ws://game.test:8080/ws?room={room}"),
            token: token.into(),
        }
    }

    #[test]
    fn a_lost_connection_resumes_with_the_newest_token_not_a_new_seat() {
        let mut s = Seating::new(page(), Intent::Room("KX3PQR".into()));
        let _ = s.start();
        let _ = s.on_answer(Some(200), &reservation("KX3PQR", "seat1"));
        s.on_welcome("KX3PQR", "r1");
        // Cut without a word, silent, or not reading: the room holds the player.
        assert_eq!(s.on_drop(None), resume_to("KX3PQR", "r1"));
        assert_eq!(
            s.on_drop(Some(DisconnectReason::IdleTimeout)),
            resume_to("KX3PQR", "r1")
        );
        // Each welcome rotates the token: the newest is the one presented.
        s.on_welcome("KX3PQR", "r2");
        assert_eq!(
            s.on_drop(Some(DisconnectReason::TooSlow)),
            resume_to("KX3PQR", "r2")
        );
        // A room that holds nobody hands out no token: a new seat, as before.
        s.on_welcome("KX3PQR", "");
        assert_eq!(s.on_drop(None), AfterDrop::Reseat);
    }

    #[test]
    fn a_resume_goes_to_the_rooms_node_and_a_node_gone_for_good_means_a_new_seat() {
        let mut s = Seating::new(
            page(),
            Intent::QuickPlay {
                mode: Some("arena".into()),
            },
        );
        let _ = s.start();
        // In a cluster the reservation names the room's node.
        let on_node_2 = ApiAnswer {
            url: Some("ws://node2.game.test/ws?room=KX3PQR".into()),
            ..reservation("KX3PQR", "seat1")
        };
        let _ = s.on_answer(Some(200), &on_node_2);
        s.on_welcome("KX3PQR", "r1");
        let to_node_2 = AfterDrop::Resume {
            url: "ws://node2.game.test/ws?room=KX3PQR".into(),
            token: "r1".into(),
        };
        // The node was killed: its resumes never get a welcome.
        for _ in 0..MAX_RESUME_TRIES {
            assert_eq!(s.on_drop(None), to_node_2);
        }
        assert_eq!(
            s.on_drop(None),
            AfterDrop::Now(Next::Call(ApiCall {
                method: "POST",
                path: "/matchmake/arena".into(),
                body: None
            })),
            "quick play matchmakes again"
        );
        // A node just lost and still listed: the cluster says so, the page asks again.
        assert!(matches!(
            s.on_answer(Some(503), &refusal("no_node")),
            Next::Retry(_)
        ));
        // Refused "room gone" by a live node: matchmaking at once, too.
        let _ = s.on_answer(Some(200), &reservation("NEWRM1", "seat2"));
        s.on_welcome("NEWRM1", "r2");
        assert!(matches!(
            s.on_drop(Some(DisconnectReason::Resume(ResumeRefusal::RoomGone))),
            AfterDrop::Now(Next::Call(_))
        ));
    }

    #[test]
    fn a_player_removed_by_the_server_gets_a_new_seat_not_a_resume() {
        for reason in [
            DisconnectReason::ShuttingDown,
            DisconnectReason::RoomFailed,
            DisconnectReason::BadMessage,
            DisconnectReason::RateLimited,
        ] {
            let mut s = Seating::new(page(), Intent::QuickPlay { mode: None });
            s.on_welcome("ROOM77", "r1");
            assert_eq!(s.on_drop(Some(reason)), AfterDrop::Reseat, "{reason:?}");
            // The token is spent: the next drop does not try it either.
            assert_eq!(s.on_drop(None), AfterDrop::Reseat);
        }
    }

    #[test]
    fn a_refused_resume_falls_back_to_what_the_lobby_does_today() {
        let gone = Some(DisconnectReason::Resume(ResumeRefusal::RoomGone));
        // Expired (or invalid, or another room's): a new seat in the same room.
        for why in [
            ResumeRefusal::Expired,
            ResumeRefusal::Invalid,
            ResumeRefusal::OtherRoom,
        ] {
            let mut s = Seating::new(page(), Intent::Room("KX3PQR".into()));
            s.on_welcome("KX3PQR", "r1");
            assert!(matches!(
                s.on_drop(Some(DisconnectReason::Resume(why))),
                AfterDrop::Now(Next::Call(c)) if c.path == "/rooms/KX3PQR/seat"
            ));
            // The refused token is never presented again.
            assert_eq!(s.on_drop(None), AfterDrop::Reseat);
        }
        // The room is gone: quick play plays on elsewhere, a chosen room ends in the lobby.
        let mut s = Seating::new(page(), Intent::QuickPlay { mode: None });
        s.on_welcome("ROOM77", "r1");
        assert_eq!(
            s.on_drop(gone),
            AfterDrop::Now(Next::Open {
                url: "ws://game.test:8080/ws".into(),
                seat: None
            })
        );
        let mut s = Seating::new(
            page(),
            Intent::QuickPlay {
                mode: Some("arena".into()),
            },
        );
        s.on_welcome("ROOM77", "r1");
        assert!(matches!(
            s.on_drop(gone),
            AfterDrop::Now(Next::Call(c)) if c.path == "/matchmake/arena"
        ));
        let mut s = Seating::new(page(), Intent::Room("KX3PQR".into()));
        s.on_welcome("KX3PQR", "r1");
        assert!(matches!(
            s.on_drop(gone),
            AfterDrop::Now(Next::Lobby(m)) if m.contains("KX3PQR") && m.contains("no longer exists")
        ));
    }

    #[test]
    fn another_tab_taking_the_player_over_is_said_and_not_fought() {
        let mut s = Seating::new(page(), Intent::QuickPlay { mode: None });
        s.on_welcome("ROOM77", "r1");
        assert!(matches!(
            s.on_drop(Some(DisconnectReason::Replaced)),
            AfterDrop::TakenOver(m) if m.contains("another tab")
        ));
        assert_eq!(s.ticket("ann"), None, "the token is the other tab's now");
    }

    #[test]
    fn a_seat_refused_at_the_join_is_retried_once_then_the_lobby() {
        let mut s = Seating::new(page(), Intent::Room("KX3PQR".into()));
        let expired = Some(DisconnectReason::Seat(SeatRefusal::Expired));
        assert_eq!(s.on_drop(expired), AfterDrop::Reseat);
        assert!(
            matches!(s.on_drop(expired), AfterDrop::Now(Next::Lobby(m)) if m.contains("expired"))
        );
    }

    #[test]
    fn a_reload_resumes_its_ticket_first_and_falls_back_to_its_url() {
        let mut s = Seating::new(
            page(),
            Intent::QuickPlay {
                mode: Some("arena".into()),
            },
        );
        s.on_welcome("ROOM77", "r9");
        let ticket = s.ticket("ann").expect("a ticket");
        let text = ticket.encode();
        assert_eq!(Ticket::decode(&text), Some(ticket.clone()));

        // The reloaded page resumes (a full state), then plays on as the ticket's intent.
        let mut r = Seating::reloaded(page(), ticket.clone(), None);
        assert_eq!(r.first_resume(), Some(resume_to("ROOM77", "r9")));
        assert_eq!(r.room(), Some("ROOM77"));
        r.on_welcome("ROOM77", "r10");
        assert_eq!(r.on_drop(None), resume_to("ROOM77", "r10"));
        assert!(matches!(
            r.on_drop(Some(DisconnectReason::Resume(ResumeRefusal::RoomGone))),
            AfterDrop::Now(Next::Call(c)) if c.path == "/matchmake/arena"
        ));

        // Refused before any welcome: what the page would have done without a ticket.
        let refused = Some(DisconnectReason::Resume(ResumeRefusal::Expired));
        let mut r = Seating::reloaded(page(), ticket.clone(), None);
        assert!(matches!(
            r.on_drop(refused),
            AfterDrop::Now(Next::Lobby(m)) if m.contains("ROOM77") && m.contains("too long")
        ));
        let mut r = Seating::reloaded(
            page(),
            ticket.clone(),
            Some(Intent::QuickPlay { mode: None }),
        );
        assert_eq!(
            r.on_drop(refused),
            AfterDrop::Now(Next::Open {
                url: "ws://game.test:8080/ws".into(),
                seat: None
            })
        );
        assert_eq!(r.intent(), &Intent::QuickPlay { mode: None });
        // A server that cannot be reached yet: the resume is tried again.
        let mut r = Seating::reloaded(page(), ticket, None);
        assert_eq!(r.on_drop(None), resume_to("ROOM77", "r9"));
    }

    #[test]
    fn tickets_round_trip_and_refuse_what_this_page_did_not_write() {
        for intent in [
            Intent::QuickPlay { mode: None },
            Intent::QuickPlay {
                mode: Some("arena-big".into()),
            },
            Intent::Room("KX3PQR".into()),
            Intent::CreatePrivate {
                mode: "arena".into(),
            },
        ] {
            let t = Ticket {
                room: "KX3PQR".into(),
                token: "abc.DEF-123_x".into(),
                intent,
                name: "ann\nb: c".into(),
            };
            assert_eq!(Ticket::decode(&t.encode()), Some(t));
        }
        assert_eq!(Ticket::decode(""), None);
        assert_eq!(Ticket::decode("2\nKX3PQR\ntok\nq\nann"), None);
        assert_eq!(Ticket::decode("1\nKX3PQR\n\nq\nann"), None);
        assert_eq!(Ticket::decode("1\nKX3PQR\ntok\nz:1\nann"), None);
        assert_eq!(Ticket::decode("1\nKX3PQR\ntok\nq"), None);
        let t = Ticket::decode("1\nkx3pqr\ntok\nq\nann").expect("decodes");
        assert_eq!(t.room, "KX3PQR");
        // An invite to another room is a new intent, not a reload.
        assert!(t.applies_to(None) && t.applies_to(Some("KX3PQR")));
        assert!(!t.applies_to(Some("ZZZZZZ")));
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        assert!((backoff_ms(0, 0.0) - 125.0).abs() < 1e-9);
        assert!((backoff_ms(0, 0.999) - 250.0).abs() < 1.0);
        assert!(backoff_ms(1, 0.5) > backoff_ms(0, 0.5));
        assert!(backoff_ms(3, 0.5) > backoff_ms(2, 0.5));
        for attempt in 0..40 {
            let (lo, hi) = (backoff_ms(attempt, 0.0), backoff_ms(attempt, 1.0));
            assert!(
                lo >= 125.0 && hi <= 5000.0 && lo * 2.0 <= hi + 1e-9,
                "{attempt}"
            );
        }
        // Out-of-range randomness is clamped.
        assert_eq!(backoff_ms(2, -3.0), backoff_ms(2, 0.0));
        assert_eq!(backoff_ms(2, 7.0), backoff_ms(2, 1.0));
    }

    #[test]
    fn codes_and_links() {
        assert_eq!(parse_code(" kx3pqr "), Some("KX3PQR".into()));
        assert_eq!(
            parse_code("http://game.test:8080/?room=kx3pqr&x=1"),
            Some("KX3PQR".into())
        );
        assert_eq!(parse_code(""), None);
        assert_eq!(parse_code("no spaces"), None);
        let p = page();
        assert_eq!(p.invite_url("KX3PQR"), "http://game.test:8080/?room=KX3PQR");
        let tls = Page {
            https: true,
            host: "game.test".into(),
        };
        assert_eq!(
            tls.socket_url(Some("ws://game.test/ws?room=A")),
            "wss://game.test/ws?room=A"
        );
        assert_eq!(tls.socket_url(None), "wss://game.test/ws");
        assert_eq!(
            tls.room_socket_url("KX3PQR"),
            "wss://game.test/ws?room=KX3PQR"
        );
    }
}
