//! The rooms API (JSON over HTTP): matchmaking, room creation, invites, the lobby's list.
//!
//! | method, path | answer |
//! | --- | --- |
//! | `POST /matchmake/{mode}` | a seat reservation (join-or-create); 404 unknown mode; 503 at capacity, draining, or the directory (Redis) unavailable |
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
use crate::directory::Seated;
use crate::net::http::{self, Request};
use crate::rooms::ReserveError;
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
    let (endpoint, (status, answer)) = route(req, body, shared).await;
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

async fn route(req: &Request, body: &[u8], shared: &Shared) -> (&'static str, Answer) {
    let parts: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    let rooms = &shared.directory;
    let who = || auth::identify(req, shared.auth.as_ref());
    match (req.method.as_str(), parts.as_slice()) {
        ("POST", ["matchmake", mode]) => (
            "matchmake",
            match who() {
                Ok(who) => reservation(req, rooms.matchmake(mode, who).await),
                Err(e) => unauthorized(&e),
            },
        ),
        ("POST", ["rooms"]) => (
            "create",
            match who() {
                Ok(who) => match serde_json::from_slice::<CreateRoom>(body) {
                    Ok(ask) => {
                        let mode = ask.mode.unwrap_or_else(|| {
                            rooms.registry().modes().default_mode().name.clone()
                        });
                        reservation(req, rooms.create(&mode, ask.private, who).await)
                    }
                    Err(e) => refusal(400, "bad_request", &e.to_string()),
                },
                Err(e) => unauthorized(&e),
            },
        ),
        ("POST", ["rooms", code, "seat"]) => (
            "seat",
            match who() {
                Ok(who) => reservation(req, rooms.seat_in(code, who).await),
                Err(e) => unauthorized(&e),
            },
        ),
        ("GET" | "HEAD", ["rooms"]) => (
            "list",
            match rooms.list(req.query_param("mode")).await {
                Ok(list) => (200, json!(list)),
                Err(e) => refused(&e),
            },
        ),
        ("GET" | "HEAD", ["rooms", code]) => (
            "info",
            match rooms.info(code).await {
                Ok(Some(info)) => (200, json!(info)),
                Ok(None) => refusal(404, "unknown_room", &format!("no room `{code}`")),
                Err(e) => refused(&e),
            },
        ),
        #[cfg(feature = "test-hooks")]
        ("POST", ["debug", "rooms", code, "panic"]) => (
            "debug",
            if rooms.registry().panic_room(code) {
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

fn unauthorized(e: &impl std::fmt::Display) -> Answer {
    refusal(401, "unauthorized", &e.to_string())
}

/// The status and body of a refused reservation.
fn refused(e: &ReserveError) -> Answer {
    let (status, code) = match e {
        ReserveError::UnknownMode(_) => (404, "unknown_mode"),
        ReserveError::UnknownRoom(_) => (404, "unknown_room"),
        ReserveError::NotPublic(_) => (404, "not_public"),
        ReserveError::Full(_) => (409, "room_full"),
        ReserveError::AtCapacity(_) => (503, "at_capacity"),
        ReserveError::ShuttingDown => (503, "shutting_down"),
        ReserveError::Draining => (503, "draining"),
        ReserveError::Unavailable(_) => (503, "directory_unavailable"),
        ReserveError::NoNode(_) => (503, "no_node"),
    };
    refusal(status, code, &e.to_string())
}

fn reservation(req: &Request, r: Result<Seated, ReserveError>) -> Answer {
    let r = match r {
        Ok(r) => r,
        Err(e) => return refused(&e),
    };
    // This node's room: the address the client used; another node's: its --public-url.
    let url = r.url.unwrap_or_else(|| {
        let host = req.header("host").unwrap_or("127.0.0.1");
        format!("ws://{host}/ws?room={}", r.room)
    });
    (
        200,
        json!({
            "room": r.room,
            "mode": r.mode,
            "url": url,
            "seat": r.token,
            "expires_in_ms": r.expires_in.as_millis() as u64,
        }),
    )
}

fn refusal(status: u16, code: &str, why: &str) -> Answer {
    (status, json!({"reason": why, "reason_code": code}))
}
