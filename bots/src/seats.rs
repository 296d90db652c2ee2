//! Where each bot of a swarm sits: quick play (a `/ws` join with no seat, the default), or a
//! seat reservation from the server's rooms API, over HTTP on the same host and port as the
//! WebSocket URL:
//!
//! | plan | each bot |
//! | --- | --- |
//! | [`JoinPlan::QuickPlay`] | joins `/ws` without a seat (the server's default mode) |
//! | [`JoinPlan::Mode`] | `POST /matchmake/{mode}` (join-or-create) |
//! | [`JoinPlan::Rooms`] | bot `i` sits in room `i / per_room`: the room's first bot to ask creates it (`POST /rooms {"mode"}`), the others `POST /rooms/{code}/seat` |
//! | [`JoinPlan::Room`] | `POST /rooms/{code}/seat` |
//!
//! Every request is timed (the matchmaking latency of the report); the WebSocket join then
//! presents the reservation's seat at the reservation's URL.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use crate::stats::Stats;

/// Longest wait for one answer of the rooms API.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest answer body read (a reservation is a few hundred bytes).
const MAX_BODY: usize = 64 * 1024;

/// How the bots of a swarm find their seats.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JoinPlan {
    /// A `/ws` join with no seat: the server's default mode.
    #[default]
    QuickPlay,
    /// Every bot matchmakes into this mode.
    Mode(String),
    /// `rooms` new rooms of `mode`, `per_room` bots in each (bot `i` in room `i / per_room`).
    Rooms {
        /// The mode of every room (`None`: the server's default mode).
        mode: Option<String>,
        /// Rooms created.
        rooms: usize,
        /// Bots per room.
        per_room: usize,
    },
    /// Every bot takes a seat in this room (its code).
    Room(String),
}

impl JoinPlan {
    /// The bots this plan seats, when it fixes their number.
    #[must_use]
    pub fn count(&self) -> Option<usize> {
        match self {
            JoinPlan::Rooms {
                rooms, per_room, ..
            } => Some(rooms * per_room),
            _ => None,
        }
    }
}

/// A seat reservation: where to join and the token to present.
#[derive(Clone, Debug, Deserialize)]
pub struct Reservation {
    /// The room's code.
    pub room: String,
    /// The WebSocket URL to join at.
    pub url: String,
    /// The seat token.
    pub seat: String,
}

/// Why no seat was reserved.
#[derive(Debug, thiserror::Error)]
pub enum SeatError {
    /// The request failed (connection, timeout, malformed answer).
    #[error("rooms API: {0}")]
    Http(String),
    /// The server refused: its status and reason.
    #[error("rooms API refused ({0}): {1}")]
    Refused(u16, String),
}

/// The bots' way to the rooms API.
pub struct Seats {
    plan: JoinPlan,
    /// `http://host:port`, from the WebSocket URL.
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
    /// With [`JoinPlan::Rooms`]: each room's code, once its first bot created it.
    codes: Vec<OnceCell<String>>,
}

/// `ws://host:port/path` -> `http://host:port`.
///
/// # Errors
/// The URL is not a `ws://` URL with a host.
pub fn http_base(ws_url: &str) -> Result<String, SeatError> {
    let uri: Uri = ws_url
        .parse()
        .map_err(|_| SeatError::Http(format!("not a URL: {ws_url}")))?;
    match (uri.scheme_str(), uri.authority()) {
        (Some("ws"), Some(authority)) => Ok(format!("http://{authority}")),
        _ => Err(SeatError::Http(format!("not a ws:// URL: {ws_url}"))),
    }
}

impl Seats {
    /// The rooms API of the server at `ws_url`, for `plan`.
    ///
    /// # Errors
    /// `ws_url` is not a `ws://host:port/...` URL.
    pub fn new(ws_url: &str, plan: JoinPlan) -> Result<Seats, SeatError> {
        let rooms = match &plan {
            JoinPlan::Rooms { rooms, .. } => *rooms,
            _ => 0,
        };
        let mut http = HttpConnector::new();
        // As for the WebSockets: a request is small and waits for its answer.
        http.set_nodelay(true);
        Ok(Seats {
            base: http_base(ws_url)?,
            client: Client::builder(TokioExecutor::new()).build(http),
            codes: (0..rooms).map(|_| OnceCell::new()).collect(),
            plan,
        })
    }

    /// The plan.
    #[must_use]
    pub fn plan(&self) -> &JoinPlan {
        &self.plan
    }

    /// The seat of bot `index` (`None`: quick play, no reservation). Every request is
    /// timed into `stats`.
    ///
    /// # Errors
    /// [`SeatError`] when the API fails or refuses.
    pub async fn reserve(
        &self,
        index: usize,
        stats: &Stats,
    ) -> Result<Option<Reservation>, SeatError> {
        let r = match &self.plan {
            JoinPlan::QuickPlay => return Ok(None),
            JoinPlan::Mode(mode) => self.post(&format!("/matchmake/{mode}"), "", stats).await?,
            JoinPlan::Room(code) => self.post(&format!("/rooms/{code}/seat"), "", stats).await?,
            JoinPlan::Rooms { mode, per_room, .. } => {
                let cell = &self.codes[index / per_room];
                // The first of the room's bots to get here creates it with its own seat;
                // the others wait for its code (a failed creation lets the next one try).
                let mut created = None;
                let code = cell
                    .get_or_try_init(|| async {
                        let body = match mode {
                            Some(mode) => serde_json::json!({ "mode": mode }),
                            None => serde_json::json!({}),
                        }
                        .to_string();
                        let r = self.post("/rooms", &body, stats).await?;
                        let code = r.room.clone();
                        created = Some(r);
                        Ok::<_, SeatError>(code)
                    })
                    .await?;
                match created {
                    Some(r) => r,
                    None => self.post(&format!("/rooms/{code}/seat"), "", stats).await?,
                }
            }
        };
        Ok(Some(r))
    }

    /// One `POST` to the rooms API, timed.
    async fn post(&self, path: &str, body: &str, stats: &Stats) -> Result<Reservation, SeatError> {
        let request = Request::builder()
            .method(Method::POST)
            .uri(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_owned())))
            .map_err(|e| SeatError::Http(e.to_string()))?;
        let t0 = Instant::now();
        let (status, bytes) = tokio::time::timeout(REQUEST_TIMEOUT, async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| SeatError::Http(chain(&e)))?;
            let status = response.status().as_u16();
            let body = http_body_util::Limited::new(response.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|e| SeatError::Http(e.to_string()))?
                .to_bytes();
            Ok::<_, SeatError>((status, body))
        })
        .await
        .map_err(|_| SeatError::Http(format!("POST {path}: no answer in time")))??;
        stats.record_matchmake(t0.elapsed());
        if status != 200 {
            let reason = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v["reason"].as_str().map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
            return Err(SeatError::Refused(status, reason));
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| SeatError::Http(format!("POST {path}: bad reservation: {e}")))
    }
}

/// An error and its causes, on one line (the client's own text is only "client error").
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_http_base_is_the_websockets_host_and_port() {
        assert_eq!(
            http_base("ws://127.0.0.1:8080/ws").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(http_base("ws://[::1]:1/ws").unwrap(), "http://[::1]:1");
        assert!(http_base("http://127.0.0.1/ws").is_err());
    }

    #[test]
    fn only_the_rooms_plan_fixes_the_count() {
        let plan = JoinPlan::Rooms {
            mode: Some("arena".into()),
            rooms: 3,
            per_room: 4,
        };
        assert_eq!(plan.count(), Some(12));
        assert_eq!(JoinPlan::Mode("arena".into()).count(), None);
    }
}
