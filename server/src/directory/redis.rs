//! The directory in Redis (`--redis`), through the `redis` crate (redis-rs: the most used
//! Rust client, async on tokio; its `ConnectionManager` reconnects on its own and, on RESP3,
//! resubscribes its channels after a reconnect, so one connection carries the commands and
//! the room-creation requests).
//!
//! ```text
//!  any node: POST /matchmake/arena ─▶ MATCHMAKE (Lua: fullest open room on a live node,
//!            seat reserved in the same script) ─▶ token signed with the shared --secret,
//!            url = that room's node's --public-url
//!     none ▶ lock tw:lock:create:{mode} ─▶ PICK_NODE (least loaded, live, not draining)
//!            ─▶ itself: host the room │ another node: PUBLISH tw:create:{node}, its answer
//!               on tw:reply:{us} within 2 s (else 503) ─▶ RESERVE (Lua) in the new room
//!  owner:    /ws?room=CODE Join{seat} ─▶ seat counted here, then CLAIM (Lua: the
//!            reservation taken once, seated + 1) ─▶ the room
//!  every 1 s: BEAT (node record with a 3 s TTL, load; dead nodes and their rooms reaped),
//!            FIGURES, RETIRE idle rooms (atomic: only with nothing reserved)
//! ```
//!
//! Redis unreachable: the rooms play on (nothing in a tick waits for Redis), the rooms API
//! answers 503 `directory_unavailable`; when Redis is back the next heartbeat finds the
//! node's record gone (expired, or a restarted Redis) and registers every room again with
//! the seats counted here.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{FromRedisValue, IntoConnectionInfo, ProtocolVersion, PushInfo, PushKind, Script};
use serde_json::json;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use tickwire_shared::protocol::SeatRefusal;

use super::scripts;
use super::{ClaimError, Seated};
use crate::rooms::seats::{self, Seat};
use crate::rooms::{Claimed, Identity, Registry, ReserveError, RoomEvent, RoomId, RoomInfo};

/// How often a node renews its record.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// How long a node's record lives without a heartbeat: a dead node leaves the listings
/// this long after its last beat.
pub const NODE_TTL: Duration = Duration::from_secs(3);
/// How long a node asked to host a room has to answer.
pub const CREATE_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest wait for one Redis answer.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);
/// How long join-or-create waits for another request's new room before giving up (503).
const MATCHMAKE_WAIT: Duration = Duration::from_secs(4);
/// Room-creation requests waiting for their answer, at most.
const MAX_WAITING: usize = 1024;
/// Push messages (creation requests and answers) queued, at most.
const PUSH_QUEUE: usize = 1024;

struct Scripts {
    reserve: Script,
    matchmake: Script,
    pick: Script,
    claim: Script,
    release: Script,
    register: Script,
    unregister: Script,
    retire: Script,
    beat: Script,
    figures: Script,
    leave: Script,
    list: Script,
    unlock: Script,
}

impl Scripts {
    fn new() -> Scripts {
        Scripts {
            reserve: Script::new(scripts::RESERVE),
            matchmake: Script::new(scripts::MATCHMAKE),
            pick: Script::new(scripts::PICK_NODE),
            claim: Script::new(scripts::CLAIM),
            release: Script::new(scripts::RELEASE),
            register: Script::new(scripts::REGISTER),
            unregister: Script::new(scripts::UNREGISTER),
            retire: Script::new(scripts::RETIRE),
            beat: Script::new(scripts::BEAT),
            figures: Script::new(scripts::FIGURES),
            leave: Script::new(scripts::LEAVE),
            list: Script::new(scripts::LIST),
            unlock: Script::new(
                "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
            ),
        }
    }
}

/// This node's view of the cluster directory.
pub struct RedisDirectory {
    node: String,
    url: String,
    conn: ConnectionManager,
    registry: Arc<Registry>,
    scripts: Scripts,
    waiting: Mutex<HashMap<u64, oneshot::Sender<Result<String, String>>>>,
    next_request: AtomicU64,
    /// An announcement to the directory failed: rewrite every hosted room at the next beat.
    resync: AtomicBool,
    wake: Notify,
    shutdown: CancellationToken,
}

impl std::fmt::Debug for RedisDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisDirectory")
            .field("node", &self.node)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// What a Redis failure becomes for the rooms API.
fn unavailable(e: impl std::fmt::Display) -> ReserveError {
    ReserveError::Unavailable(e.to_string())
}

impl RedisDirectory {
    /// Connects to `redis_url`, registers node `node` (its rooms reached at `public_url`)
    /// and starts its heartbeat, its announcements and its room-creation service, until
    /// `shutdown`. `events` is the receiving end of the registry's announcements.
    ///
    /// # Errors
    /// A bad URL, or Redis unreachable at start.
    pub async fn connect(
        redis_url: &str,
        node: String,
        public_url: String,
        registry: Arc<Registry>,
        events: mpsc::Receiver<RoomEvent>,
        shutdown: CancellationToken,
    ) -> Result<Arc<RedisDirectory>, String> {
        let info = redis_url
            .into_connection_info()
            .map_err(|e| format!("--redis {redis_url:?}: {e}"))?;
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let client = redis::Client::open(info.set_redis_settings(settings))
            .map_err(|e| format!("--redis: {e}"))?;
        let (push_tx, push_rx) = mpsc::channel::<PushInfo>(PUSH_QUEUE);
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(1)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500))
            .set_automatic_resubscription()
            .set_push_sender(move |msg: PushInfo| push_tx.try_send(msg));
        let mut conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|e| format!("cannot reach Redis at --redis: {e}"))?;
        for channel in [create_channel(&node), reply_channel(&node)] {
            conn.subscribe(&channel)
                .await
                .map_err(|e| format!("cannot subscribe to {channel}: {e}"))?;
        }
        let dir = Arc::new(RedisDirectory {
            node,
            url: public_url,
            conn,
            registry,
            scripts: Scripts::new(),
            waiting: Mutex::new(HashMap::new()),
            next_request: AtomicU64::new(1),
            resync: AtomicBool::new(false),
            wake: Notify::new(),
            shutdown,
        });
        dir.beat().await?;
        info!(node = %dir.node, url = %dir.url, "node registered in the Redis directory");
        tokio::spawn(dir.clone().run_heartbeat());
        tokio::spawn(dir.clone().run_announcements(events));
        tokio::spawn(dir.clone().run_requests(push_rx));
        Ok(dir)
    }

    /// The registry of the rooms hosted here.
    #[must_use]
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// This node's id.
    #[must_use]
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Beats at once (the node starts draining).
    pub fn beat_now(&self) {
        self.wake.notify_one();
    }

    /// Join-or-create in `mode` (with `here_only`: rooms hosted here, for quick play).
    ///
    /// # Errors
    /// [`ReserveError`].
    pub async fn matchmake(
        &self,
        mode: &str,
        who: Option<Identity>,
        here_only: bool,
    ) -> Result<Seated, ReserveError> {
        let m = self
            .registry
            .modes()
            .get(mode)
            .cloned()
            .ok_or_else(|| ReserveError::UnknownMode(mode.to_owned()))?;
        if !m.public {
            return Err(ReserveError::NotPublic(m.name.clone()));
        }
        let who_text = who_text(who.as_ref());
        let only = if here_only { self.node.as_str() } else { "" };
        let deadline = Instant::now() + MATCHMAKE_WAIT;
        let lock = format!("tw:lock:create:{mode}");
        loop {
            if let Some(seated) = self.find(mode, &who_text, only).await? {
                return Ok(seated);
            }
            if here_only {
                let id = self.host_here(mode, false).await?;
                return self.reserve_in(&id.to_string(), who).await;
            }
            // One request of the cluster creates the mode's next room; the others wait
            // for it (no burst of half-empty rooms).
            let mut conn = self.conn.clone();
            let locked: Option<String> = tokio::time::timeout(
                REDIS_TIMEOUT,
                redis::cmd("SET")
                    .arg(&lock)
                    .arg(&self.node)
                    .arg("NX")
                    .arg("PX")
                    .arg(CREATE_TIMEOUT.as_millis() as u64 + 1000)
                    .query_async(&mut conn),
            )
            .await
            .map_err(|_| unavailable("no answer in time"))?
            .map_err(unavailable)?;
            if locked.is_some() {
                // A room may have come free between the search and the lock.
                let made = match self.find(mode, &who_text, only).await {
                    Ok(Some(seated)) => Ok(seated),
                    Ok(None) => self.create(mode, false, who).await,
                    Err(e) => Err(e),
                };
                let _: Result<i64, String> = self
                    .run_keys(
                        &self.scripts.unlock,
                        &[lock],
                        std::slice::from_ref(&self.node),
                    )
                    .await;
                return made;
            }
            if Instant::now() >= deadline {
                return Err(ReserveError::NoNode(format!(
                    "no room of `{mode}` came free within {} s",
                    MATCHMAKE_WAIT.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Join-or-create's join: a seat in the fullest open room of `mode` (on node `only`
    /// when not empty), if any.
    async fn find(
        &self,
        mode: &str,
        who_text: &str,
        only: &str,
    ) -> Result<Option<Seated>, ReserveError> {
        let nonce = self.registry.random_nonce();
        let found: Vec<String> = self
            .run(
                &self.scripts.matchmake,
                &[
                    mode.to_owned(),
                    nonce.to_string(),
                    self.ttl_ms(),
                    who_text.to_owned(),
                    only.to_owned(),
                ],
            )
            .await
            .map_err(unavailable)?;
        match found.as_slice() {
            [ok, code, _node, url] if ok == "ok" => self.seated(code, mode, url, nonce).map(Some),
            _ => Ok(None),
        }
    }

    /// A seat in a new room of `mode`, on the least-loaded live node.
    ///
    /// # Errors
    /// [`ReserveError`].
    pub async fn create(
        &self,
        mode: &str,
        private: bool,
        who: Option<Identity>,
    ) -> Result<Seated, ReserveError> {
        if self.registry.modes().get(mode).is_none() {
            return Err(ReserveError::UnknownMode(mode.to_owned()));
        }
        // A node picked that is not listening on its channel is dead (killed and not yet
        // expired): it is taken out of the directory at once and another one picked.
        let mut tries = 0;
        let code = loop {
            tries += 1;
            let picked: Vec<String> = self
                .run(&self.scripts.pick, &[])
                .await
                .map_err(unavailable)?;
            let node = match picked.as_slice() {
                [ok, node, _url] if ok == "ok" => node.clone(),
                _ => {
                    return Err(ReserveError::NoNode(
                        "no live node that is not draining".into(),
                    ))
                }
            };
            if node == self.node {
                break self.host_here(mode, private).await?.to_string();
            }
            match self.ask(&node, mode, private).await? {
                Some(code) => break code,
                None if tries < 3 => self.forget(&node).await,
                None => {
                    return Err(ReserveError::NoNode(format!(
                        "node {node} is not listening"
                    )))
                }
            }
        };
        self.reserve_in(&code, who).await
    }

    /// Node `node` does not listen on its channel (dead): its record goes now, its rooms
    /// with the next heartbeat of any node (a node that is alive after all registers them
    /// again at its own next heartbeat).
    async fn forget(&self, node: &str) {
        warn!(node, "node not listening on its channel: taken for gone");
        let mut conn = self.conn.clone();
        let _: Result<Result<i64, _>, _> = tokio::time::timeout(
            REDIS_TIMEOUT,
            redis::cmd("DEL")
                .arg(format!("tw:node:{node}"))
                .query_async(&mut conn),
        )
        .await;
        self.beat_now();
    }

    /// A seat in room `code`, wherever it is.
    ///
    /// # Errors
    /// [`ReserveError`].
    pub async fn seat_in(&self, code: &str, who: Option<Identity>) -> Result<Seated, ReserveError> {
        if RoomId::parse(code).is_none() {
            return Err(ReserveError::UnknownRoom(code.to_owned()));
        }
        self.reserve_in(code, who).await
    }

    /// Rooms on live nodes: the public ones (of `mode`), or room `code`.
    ///
    /// # Errors
    /// [`ReserveError::Unavailable`].
    pub async fn list(
        &self,
        mode: Option<&str>,
        code: Option<&str>,
    ) -> Result<Vec<RoomInfo>, ReserveError> {
        let flat: Vec<String> = self
            .run(
                &self.scripts.list,
                &[mode.unwrap_or("").to_owned(), code.unwrap_or("").to_owned()],
            )
            .await
            .map_err(unavailable)?;
        let num = |s: &String| s.parse::<u64>().unwrap_or(0);
        let mut rooms: Vec<RoomInfo> = flat
            .chunks_exact(13)
            .map(|f| RoomInfo {
                id: f[0].clone(),
                node: Some(f[1].clone()),
                mode: f[2].clone(),
                map: f[3].clone(),
                players: num(&f[4]) as usize,
                seats_taken: num(&f[5]) as usize,
                max: num(&f[6]) as usize,
                private: f[7] == "1",
                age_s: num(&f[8]),
                ticks: num(&f[9]),
                tick_work_us: num(&f[10]),
                tick_work_max_us: num(&f[11]),
            })
            .collect();
        rooms.sort_by(|a, b| b.players.cmp(&a.players).then(a.id.cmp(&b.id)));
        Ok(rooms)
    }

    /// A join's seat token claimed here: the room must be hosted here, the reservation
    /// taken once in the directory.
    ///
    /// # Errors
    /// [`ClaimError`].
    pub async fn claim(&self, token: &str, room: Option<RoomId>) -> Result<Claimed, ClaimError> {
        let seat: Seat = self
            .registry
            .signer()
            .verify(token, seats::unix_ms())
            .map_err(ClaimError::Refused)?;
        if room.is_some_and(|r| r != seat.room) {
            return Err(ClaimError::Refused(SeatRefusal::OtherRoom));
        }
        // Counted here first: this node never counts fewer seats than the directory.
        let (entry, mut guard) = self.registry.hold(seat.room).map_err(ClaimError::Refused)?;
        let answer: Vec<String> = self
            .run(
                &self.scripts.claim,
                &[
                    seat.room.to_string(),
                    seat.nonce.to_string(),
                    self.node.clone(),
                ],
            )
            .await
            .map_err(|e| {
                // The claim may have been counted with its answer lost: the next beat
                // rewrites the seats from this node's counts.
                self.resync.store(true, Ordering::Relaxed);
                ClaimError::Unavailable(e)
            })?;
        match answer.first().map(String::as_str) {
            Some("ok") => {
                guard.counted();
                let who = answer.get(1).and_then(|w| parse_who(w));
                Ok(Claimed {
                    room: entry,
                    guard,
                    who,
                })
            }
            Some("used") => Err(ClaimError::Refused(SeatRefusal::Used)),
            Some("expired") => Err(ClaimError::Refused(SeatRefusal::Expired)),
            _ => Err(ClaimError::Refused(SeatRefusal::RoomGone)),
        }
    }

    /// Quick play: a seat in the default mode in a room hosted here, claimed at once.
    ///
    /// # Errors
    /// [`ReserveError`].
    pub async fn quick_play(&self) -> Result<Claimed, ReserveError> {
        let mode = self.registry.modes().default_mode().name.clone();
        let seated = self.matchmake(&mode, None, true).await?;
        self.claim(&seated.token, None).await.map_err(|e| match e {
            ClaimError::Unavailable(e) => ReserveError::Unavailable(e),
            ClaimError::Refused(_) => ReserveError::ShuttingDown,
        })
    }

    /// The node leaves the directory with its rooms (a clean shutdown).
    pub async fn leave(&self) {
        let r: Result<i64, String> = self
            .run(&self.scripts.leave, std::slice::from_ref(&self.node))
            .await;
        if let Err(e) = r {
            warn!(error = %e, "could not leave the Redis directory; the node's record expires on its own");
        }
    }

    fn ttl_ms(&self) -> String {
        self.registry.seat_ttl().as_millis().to_string()
    }

    /// The reservation `nonce` in `code` signed, at `url`.
    fn seated(
        &self,
        code: &str,
        mode: &str,
        url: &str,
        nonce: u64,
    ) -> Result<Seated, ReserveError> {
        let id = RoomId::parse(code).ok_or_else(|| unavailable("a bad room code in Redis"))?;
        let ttl = self.registry.seat_ttl();
        let token = self.registry.signer().sign(&Seat {
            room: id,
            nonce,
            expires_ms: seats::expiry(ttl),
        });
        Ok(Seated {
            room: code.to_owned(),
            mode: mode.to_owned(),
            url: Some(format!("{url}/ws?room={code}")),
            token,
            expires_in: ttl,
        })
    }

    async fn reserve_in(&self, code: &str, who: Option<Identity>) -> Result<Seated, ReserveError> {
        let nonce = self.registry.random_nonce();
        let answer: Vec<String> = self
            .run(
                &self.scripts.reserve,
                &[
                    code.to_owned(),
                    nonce.to_string(),
                    self.ttl_ms(),
                    who_text(who.as_ref()),
                ],
            )
            .await
            .map_err(unavailable)?;
        match answer.as_slice() {
            [ok, _node, url, mode] if ok == "ok" => self.seated(code, mode, url, nonce),
            [why] if why == "full" => Err(ReserveError::Full(
                RoomId::parse(code).ok_or_else(|| ReserveError::UnknownRoom(code.to_owned()))?,
            )),
            [why] if why == "draining" => Err(ReserveError::Draining),
            _ => Err(ReserveError::UnknownRoom(code.to_owned())),
        }
    }

    /// A new room of `mode` hosted here, registered in the directory.
    async fn host_here(&self, mode: &str, private: bool) -> Result<RoomId, ReserveError> {
        let m = self
            .registry
            .modes()
            .get(mode)
            .cloned()
            .ok_or_else(|| ReserveError::UnknownMode(mode.to_owned()))?;
        if self.registry.is_draining() {
            return Err(ReserveError::Draining);
        }
        let private = private || !m.public;
        for _ in 0..8 {
            let id = self.registry.random_id();
            if self.registry.hosts(id) {
                continue;
            }
            let fresh: i64 = self
                .run(
                    &self.scripts.register,
                    &[
                        id.to_string(),
                        self.node.clone(),
                        m.name.clone(),
                        m.map.name.clone(),
                        m.max_players().to_string(),
                        u8::from(private).to_string(),
                        "0".into(),
                        "1".into(),
                    ],
                )
                .await
                .map_err(unavailable)?;
            if fresh == 0 {
                continue; // the code is another node's
            }
            return match self.registry.host(id, mode, private) {
                Ok(_) => Ok(id),
                Err(e) => {
                    let _: Result<i64, String> =
                        self.run(&self.scripts.unregister, &[id.to_string()]).await;
                    Err(e)
                }
            };
        }
        Err(unavailable("no free room code after 8 tries"))
    }

    /// Asks `node` to host a room: its code (`None`: the node is not listening).
    async fn ask(
        &self,
        node: &str,
        mode: &str,
        private: bool,
    ) -> Result<Option<String>, ReserveError> {
        let id = self.next_request.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        {
            let mut waiting = self.waiting.lock();
            if waiting.len() >= MAX_WAITING {
                return Err(ReserveError::NoNode("too many rooms being created".into()));
            }
            waiting.insert(id, tx);
        }
        let ask = json!({"req": id, "from": self.node, "mode": mode, "private": private});
        let mut conn = self.conn.clone();
        let sent: Result<Result<i64, _>, _> = tokio::time::timeout(
            REDIS_TIMEOUT,
            redis::cmd("PUBLISH")
                .arg(create_channel(node))
                .arg(ask.to_string())
                .query_async(&mut conn),
        )
        .await;
        let answer = match sent {
            Ok(Ok(n)) if n > 0 => tokio::time::timeout(CREATE_TIMEOUT, rx).await,
            Ok(Ok(_)) => {
                self.waiting.lock().remove(&id);
                return Ok(None);
            }

            Ok(Err(e)) => {
                self.waiting.lock().remove(&id);
                return Err(unavailable(e));
            }
            Err(_) => {
                self.waiting.lock().remove(&id);
                return Err(unavailable("no answer in time"));
            }
        };
        match answer {
            Ok(Ok(Ok(code))) => Ok(Some(code)),
            Ok(Ok(Err(why))) => Err(ReserveError::NoNode(format!("node {node}: {why}"))),
            _ => {
                self.waiting.lock().remove(&id);
                Err(ReserveError::NoNode(format!(
                    "node {node} did not answer within {} s",
                    CREATE_TIMEOUT.as_secs()
                )))
            }
        }
    }

    /// Runs `script` with `args`, bounded in time.
    async fn run<T: FromRedisValue>(&self, script: &Script, args: &[String]) -> Result<T, String> {
        self.run_keys(script, &[], args).await
    }

    async fn run_keys<T: FromRedisValue>(
        &self,
        script: &Script,
        keys: &[String],
        args: &[String],
    ) -> Result<T, String> {
        let mut conn = self.conn.clone();
        let mut call = script.prepare_invoke();
        for k in keys {
            call.key(k);
        }
        for a in args {
            call.arg(a);
        }
        match tokio::time::timeout(REDIS_TIMEOUT, call.invoke_async(&mut conn)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!(
                "no answer from Redis within {} s",
                REDIS_TIMEOUT.as_secs()
            )),
        }
    }

    /// One heartbeat: the node's record and load, its rooms registered again when the
    /// directory lost them, their figures, idle rooms retired.
    async fn beat(&self) -> Result<(), String> {
        let hosted = self.registry.hosted();
        let players: usize = hosted.iter().map(|(e, _)| e.figures.players()).sum();
        let cpu: f64 = hosted
            .iter()
            .map(|(e, _)| {
                e.figures.last_work_us() as f64 * f64::from(e.mode.settings.sim.tick_hz) / 1e6
            })
            .sum();
        let existed: i64 = self
            .run(
                &self.scripts.beat,
                &[
                    self.node.clone(),
                    NODE_TTL.as_millis().to_string(),
                    self.url.clone(),
                    players.to_string(),
                    hosted.len().to_string(),
                    format!("{cpu:.3}"),
                    u8::from(self.registry.is_draining()).to_string(),
                ],
            )
            .await?;
        let lost = self.resync.swap(false, Ordering::Relaxed);
        let resync = existed == 0 || lost || self.registry.take_resync();
        if resync {
            if existed == 0 && !hosted.is_empty() {
                info!(rooms = hosted.len(), "registering this node's rooms again");
            }
            for (entry, taken) in &hosted {
                let r: Result<i64, String> = self
                    .run(
                        &self.scripts.register,
                        &[
                            entry.id.to_string(),
                            self.node.clone(),
                            entry.mode.name.clone(),
                            entry.mode.map.name.clone(),
                            entry.mode.max_players().to_string(),
                            u8::from(entry.private).to_string(),
                            taken.to_string(),
                            "0".into(),
                        ],
                    )
                    .await;
                if let Err(e) = r {
                    self.resync.store(true, Ordering::Relaxed);
                    return Err(e);
                }
            }
        }
        let mut figures = vec![self.node.clone()];
        for (e, _) in &hosted {
            let f = &e.figures;
            figures.extend([
                e.id.to_string(),
                f.players().to_string(),
                f.ticks().to_string(),
                f.last_work_us().to_string(),
                f.max_work_us().to_string(),
            ]);
        }
        let _: i64 = self.run(&self.scripts.figures, &figures).await?;
        for id in self.registry.idle_rooms() {
            let retired: i64 = self
                .run(&self.scripts.retire, &[id.to_string(), self.node.clone()])
                .await?;
            self.registry.dispose_if_empty(id, retired == 1);
        }
        Ok(())
    }

    async fn run_heartbeat(self: Arc<Self>) {
        let mut every = tokio::time::interval(HEARTBEAT);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut up = true;
        loop {
            tokio::select! {
                () = self.shutdown.cancelled() => break,
                _ = every.tick() => {}
                () = self.wake.notified() => {}
            }
            match self.beat().await {
                Ok(()) if !up => {
                    info!("the Redis directory is reachable again; this node is registered");
                    up = true;
                }
                Ok(()) => {}
                Err(e) if up => {
                    warn!(error = %e, "the Redis directory is unreachable: rooms play on, the rooms API answers 503");
                    up = false;
                }
                Err(_) => {}
            }
        }
    }

    async fn run_announcements(self: Arc<Self>, mut events: mpsc::Receiver<RoomEvent>) {
        loop {
            let event = tokio::select! {
                () = self.shutdown.cancelled() => break,
                e = events.recv() => match e { Some(e) => e, None => break },
            };
            let r: Result<i64, String> = match event {
                RoomEvent::Released(id) => self.run(&self.scripts.release, &[id.to_string()]).await,
                RoomEvent::Removed(id) => {
                    self.run(&self.scripts.unregister, &[id.to_string()]).await
                }
            };
            if r.is_err() {
                self.resync.store(true, Ordering::Relaxed);
            }
        }
    }

    async fn run_requests(self: Arc<Self>, mut pushes: mpsc::Receiver<PushInfo>) {
        let create = create_channel(&self.node);
        let reply = reply_channel(&self.node);
        loop {
            let push = tokio::select! {
                () = self.shutdown.cancelled() => break,
                p = pushes.recv() => match p { Some(p) => p, None => break },
            };
            if push.kind != PushKind::Message || push.data.len() < 2 {
                continue;
            }
            let (Ok(channel), Ok(body)) = (
                redis::from_redis_value_ref::<String>(&push.data[0]),
                redis::from_redis_value_ref::<String>(&push.data[1]),
            ) else {
                continue;
            };
            let Ok(msg) = serde_json::from_str::<serde_json::Value>(&body) else {
                continue;
            };
            let Some(req) = msg["req"].as_u64() else {
                continue;
            };
            if channel == reply {
                if let Some(tx) = self.waiting.lock().remove(&req) {
                    let answer = match msg["room"].as_str() {
                        Some(code) => Ok(code.to_owned()),
                        None => Err(msg["error"].as_str().unwrap_or("refused").to_owned()),
                    };
                    let _ = tx.send(answer);
                }
            } else if channel == create {
                let dir = self.clone();
                tokio::spawn(async move {
                    let (Some(from), Some(mode)) = (msg["from"].as_str(), msg["mode"].as_str())
                    else {
                        return;
                    };
                    let private = msg["private"].as_bool().unwrap_or(false);
                    let answer = match dir.host_here(mode, private).await {
                        Ok(id) => json!({"req": req, "room": id.to_string()}),
                        Err(e) => json!({"req": req, "error": e.to_string()}),
                    };
                    let mut conn = dir.conn.clone();
                    let _: Result<Result<i64, _>, _> = tokio::time::timeout(
                        REDIS_TIMEOUT,
                        redis::cmd("PUBLISH")
                            .arg(reply_channel(from))
                            .arg(answer.to_string())
                            .query_async(&mut conn),
                    )
                    .await;
                });
            }
        }
    }
}

fn create_channel(node: &str) -> String {
    format!("tw:create:{node}")
}

fn reply_channel(node: &str) -> String {
    format!("tw:reply:{node}")
}

fn who_text(who: Option<&Identity>) -> String {
    who.map_or_else(String::new, |w| {
        json!({"id": w.id, "name": w.name}).to_string()
    })
}

fn parse_who(text: &str) -> Option<Identity> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    Some(Identity {
        id: v["id"].as_str()?.to_owned(),
        name: v["name"].as_str()?.to_owned(),
    })
}
