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
//!  dropped ─reconnect()─▶ Next::Call(POST /rooms/{room}/seat)   (a seat token is single-use:
//!                                                              never presented twice)
//! ```
//!
//! Quick play without a mode (`/?name=you`) is the plain `/ws` join with no seat (the server
//! seats it in its default mode). A quick-play player whose room is gone or full when
//! it comes back simply plays quick play again; a player who chose a room goes back to the
//! lobby with a message.

use tickwire_shared::protocol::SeatRefusal;

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
}

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
        }
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
                    Next::Open {
                        url: self.page.socket_url(a.url.as_deref()),
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
            503 => Next::Lobby(
                "The server is at capacity right now: no room can be opened. Try again in a minute."
                    .to_owned(),
            ),
            401 => Next::Lobby(format!("This server needs you to sign in ({reason}).")),
            500..=599 => Next::Retry(format!("server error {status}")),
            _ => Next::Lobby(format!("The server refused: {reason} ({status}).")),
        }
    }

    /// The server welcomed the player into `room`.
    pub fn on_welcome(&mut self, room: &str) {
        self.room = Some(room.to_owned());
        self.refusals = 0;
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
        s.on_welcome("KX3PQR");
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
        s.on_welcome("ROOM77");
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
        s.on_welcome("ROOM77");
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
        s.on_welcome("KX3PQR");
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
        s.on_welcome("KX3PQR");
        assert_eq!(s.on_seat_refused(SeatRefusal::Expired), None);
        let m = s.on_seat_refused(SeatRefusal::Expired).expect("gives up");
        assert!(m.contains("KX3PQR") && m.contains("expired"), "{m}");
        // A room gone: a chosen room ends in the lobby at once, quick play goes on.
        let mut s = Seating::new(page(), Intent::Room("KX3PQR".into()));
        assert!(s.on_seat_refused(SeatRefusal::RoomGone).is_some());
        let mut s = Seating::new(page(), Intent::QuickPlay { mode: None });
        s.on_welcome("ROOM77");
        assert_eq!(s.on_seat_refused(SeatRefusal::RoomGone), None);
        assert_eq!(s.room(), None);
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
    }
}
