//! The rooms API (JSON over HTTP): matchmaking, room creation, invites, the lobby's list.
//!
//! | method, path | answer |
//! | --- | --- |
//! | `POST /matchmake/{mode}` | a seat reservation (join-or-create); 404 unknown mode; 503 at capacity |
//! | `POST /rooms` `{"mode", "private"}` | a seat reservation in a new room |
//! | `POST /rooms/{code}/seat` | a seat reservation in that room; 404 unknown; 409 full |
//! | `GET /rooms?mode=` | the public rooms |
//! | `GET /rooms/{code}` | one room: players, seats, tick figures |
//!
//! A reservation is `{"room", "mode", "url", "seat", "expires_in_ms"}`: the client opens
//! the WebSocket at `url` and presents `seat` in its join within `expires_in_ms`. A refusal
//! is `{"reason": "..."}` with its status. With `--auth-jwt-key`, the `POST`s need
//! `Authorization: Bearer <JWT>` (401 without a valid one), and the player's name comes
//! from the token.

use std::time::Instant;

use serde::Deserialize;
use serde_json::json;
use tokio::net::TcpStream;

use super::auth;
use crate::net::http::{self, Request};
use crate::rooms::{Identity, Reservation, ReserveError};
use crate::Shared;

/// An answer: status and JSON body.
type Answer = (u16, serde_json::Value);

/// Whether `req` is for this API (then [`serve`] answers it).
#[must_use]
pub fn is_api(req: &Request) -> bool {
    req.path.starts_with("/matchmake/")
        || req.path == "/rooms"
        || req.path.starts_with("/rooms/")
        || (cfg!(feature = "test-hooks") && req.path.starts_with("/debug/rooms/"))
}

/// Answers one API request (its body already read).
pub async fn serve(stream: &mut TcpStream, req: &Request, body: &[u8], shared: &Shared) {
    let clock = Instant::now();
    let (endpoint, (status, answer)) = route(req, body, shared);
    let outcome = if status < 300 {
        "ok"
    } else {
        answer["reason_code"].as_str().unwrap_or("error")
    };
    let m = &shared.metrics;
    m.matchmake_requests
        .with_label_values(&[endpoint, outcome])
        .inc();
    if req.method == "POST" {
        m.matchmake_seconds.observe(clock.elapsed().as_secs_f64());
    }
    let body = serde_json::to_vec(&answer).expect("JSON values serialize");
    let _ = http::respond(stream, status, "application/json", &body, "").await;
}

fn route(req: &Request, body: &[u8], shared: &Shared) -> (&'static str, Answer) {
    let parts: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    let rooms = &shared.rooms;
    match (req.method.as_str(), parts.as_slice()) {
        ("POST", ["matchmake", mode]) => (
            "matchmake",
            with_identity(req, shared, |who| {
                reservation(req, rooms.matchmake(mode, who))
            }),
        ),
        ("POST", ["rooms"]) => (
            "create",
            with_identity(req, shared, |who| {
                let ask: CreateRoom = match serde_json::from_slice(body) {
                    Ok(a) => a,
                    Err(e) => return refusal(400, "bad_request", &e.to_string()),
                };
                let mode = ask
                    .mode
                    .unwrap_or_else(|| rooms.modes().default_mode().name.clone());
                reservation(req, rooms.create(&mode, ask.private, who))
            }),
        ),
        ("POST", ["rooms", code, "seat"]) => (
            "seat",
            with_identity(req, shared, |who| {
                reservation(req, rooms.seat_in(code, who))
            }),
        ),
        ("GET" | "HEAD", ["rooms"]) => {
            let list = rooms.list(req.query_param("mode"));
            ("list", (200, json!(list)))
        }
        ("GET" | "HEAD", ["rooms", code]) => (
            "info",
            match rooms.info(code) {
                Some(info) => (200, json!(info)),
                None => refusal(404, "unknown_room", &format!("no room `{code}`")),
            },
        ),
        #[cfg(feature = "test-hooks")]
        ("POST", ["debug", "rooms", code, "panic"]) => (
            "debug",
            if rooms.panic_room(code) {
                (200, json!({"panicking": code}))
            } else {
                refusal(404, "unknown_room", &format!("no room `{code}`"))
            },
        ),
        (_, _) => ("other", refusal(405, "method", "method not allowed")),
    }
}

/// The body of `POST /rooms`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateRoom {
    /// Default: the default mode.
    mode: Option<String>,
    #[serde(default)]
    private: bool,
}

/// Runs `f` with the caller's identity; without a valid one where one is required, 401.
fn with_identity(
    req: &Request,
    shared: &Shared,
    f: impl FnOnce(Option<Identity>) -> Answer,
) -> Answer {
    match auth::identify(req, shared.auth.as_ref()) {
        Ok(who) => f(who),
        Err(e) => refusal(401, "unauthorized", &e.to_string()),
    }
}

fn reservation(req: &Request, r: Result<Reservation, ReserveError>) -> Answer {
    let r = match r {
        Ok(r) => r,
        Err(e) => {
            let (status, code) = match &e {
                ReserveError::UnknownMode(_) => (404, "unknown_mode"),
                ReserveError::UnknownRoom(_) => (404, "unknown_room"),
                ReserveError::NotPublic(_) => (404, "not_public"),
                ReserveError::Full(_) => (409, "room_full"),
                ReserveError::AtCapacity(_) => (503, "at_capacity"),
                ReserveError::ShuttingDown => (503, "shutting_down"),
            };
            return refusal(status, code, &e.to_string());
        }
    };
    let host = req.header("host").unwrap_or("127.0.0.1");
    (
        200,
        json!({
            "room": r.room.id.to_string(),
            "mode": r.room.mode.name,
            "url": format!("ws://{host}/ws?room={}", r.room.id),
            "seat": r.token,
            "expires_in_ms": r.expires_in.as_millis() as u64,
        }),
    )
}

fn refusal(status: u16, code: &str, why: &str) -> Answer {
    (status, json!({"reason": why, "reason_code": code}))
}
