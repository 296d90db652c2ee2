//! One client connection: join, send inputs, receive and apply snapshots, and time each
//! input until a snapshot reports it applied (the input round trip).
//!
//! Sending and receiving are split in two steps ([`BotConnection::prepare_input`] then
//! [`BotConnection::send_frame`]; [`BotConnection::recv_frame`] then
//! [`BotConnection::handle_frame`]) so that a link conditioner can hold frames in between;
//! [`BotConnection::send_input`] and [`BotConnection::recv`] do both at once.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use tickwire_shared::protocol::snapshot::SnapshotHeader;
use tickwire_shared::protocol::{
    codec, ClientMsg, Disconnect, Join, Ping, Pong, Resume, ServerMsg, Welcome, PROTOCOL_VERSION,
};
use tickwire_shared::replica::ReplicaError;
use tickwire_shared::sim::TickEvent;
use tickwire_shared::{seq, Controls, Replica, Tick};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Why a bot connection failed.
#[derive(Debug, thiserror::Error)]
pub enum BotError {
    /// WebSocket or TCP failure.
    #[error("websocket: {0}")]
    Ws(#[from] tokio_tungstenite::tungstenite::Error),
    /// The server sent bytes that do not decode.
    #[error("undecodable server message: {0}")]
    Decode(#[from] codec::DecodeError),
    /// A snapshot did not apply to the replica (a desync).
    #[error("desync: {0}")]
    Desync(#[from] ReplicaError),
    /// The server refused or ended the session.
    #[error("disconnected: {0:?}")]
    Disconnected(Option<Disconnect>, Option<(u16, String)>),
    /// The server sent something unexpected at this point.
    #[error("protocol: {0}")]
    Protocol(String),
    /// No answer in time.
    #[error("timed out")]
    Timeout,
}

/// How much of each snapshot a bot decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeMode {
    /// Decode and apply every snapshot to the replica (what a player's client does).
    Full,
    /// Read only the fixed header (tick, input ack): a load bot. The server cannot tell.
    HeaderOnly,
}

/// Something the server sent, after the connection handled it.
#[derive(Debug, Clone)]
pub enum ServerEvent {
    /// A snapshot arrived (and, in [`DecodeMode::Full`], was applied).
    Snapshot {
        /// Its header.
        header: SnapshotHeader,
        /// Events not seen before (empty in header-only mode).
        events: Vec<TickEvent>,
        /// Frame size in bytes.
        bytes: usize,
    },
    /// A pong.
    Pong(Pong),
}

/// A joined client.
pub struct BotConnection {
    ws: Ws,
    /// The server's welcome.
    pub welcome: Welcome,
    /// The replicated world (empty in header-only mode).
    pub replica: Replica,
    /// How snapshots are decoded.
    pub mode: DecodeMode,
    /// Newest snapshot tick received (the ack sent with inputs).
    pub latest_tick: Option<Tick>,
    /// Newest input sequence number the server applied.
    pub last_input_seq: u32,
    next_seq: u32,
    /// Payload bytes received.
    pub bytes_down: u64,
    /// Payload bytes sent.
    pub bytes_up: u64,
    /// Inputs prepared and not yet reported applied: `(seq, prepared at, frame)`, oldest
    /// first (sent again after a resume).
    in_flight: VecDeque<(u32, Instant, Vec<u8>)>,
    /// Round trips measured since the caller last took them.
    rtts: Vec<Duration>,
}

/// Inputs remembered for round-trip timing at most (8 s at 30 Hz); older ones are forgotten.
const MAX_IN_FLIGHT: usize = 256;

impl BotConnection {
    /// Connects to `url` (`ws://host:port/ws`), joins as `name` and waits for the welcome.
    ///
    /// # Errors
    /// [`BotError`] when the connection, the join or the welcome fails (a refusal carries
    /// the server's reason and close code).
    pub async fn connect(url: &str, name: &str, mode: DecodeMode) -> Result<Self, BotError> {
        Self::connect_with_version(url, name, mode, PROTOCOL_VERSION).await
    }

    /// Connects to `url` (a seat reservation's `url`) and joins with the reservation's
    /// seat token.
    ///
    /// # Errors
    /// As [`BotConnection::connect`].
    pub async fn connect_with_seat(
        url: &str,
        name: &str,
        seat: &str,
        mode: DecodeMode,
    ) -> Result<Self, BotError> {
        let join = Join {
            version: PROTOCOL_VERSION,
            name: name.to_owned(),
            seat: Some(seat.to_owned()),
        };
        Self::open(url, join, mode).await
    }

    /// [`BotConnection::connect`] claiming another protocol version (for tests).
    ///
    /// # Errors
    /// As [`BotConnection::connect`].
    pub async fn connect_with_version(
        url: &str,
        name: &str,
        mode: DecodeMode,
        version: u16,
    ) -> Result<Self, BotError> {
        let join = Join {
            version,
            name: name.to_owned(),
            seat: None,
        };
        Self::open(url, join, mode).await
    }

    /// Connects to `url` (`ws://host:port/ws?room=CODE`, or `/ws` for the default mode's
    /// fullest room) as a spectator following `follow`, and waits for the welcome (it
    /// names no player).
    ///
    /// # Errors
    /// As [`BotConnection::connect`].
    pub async fn watch(
        url: &str,
        follow: Option<tickwire_shared::NetId>,
        mode: DecodeMode,
    ) -> Result<Self, BotError> {
        let watch = tickwire_shared::protocol::Watch {
            version: PROTOCOL_VERSION,
            follow,
        };
        Self::open_with(url, ClientMsg::Watch(watch), mode).await
    }

    /// Connects to `url`, sends `join` and waits for the welcome.
    async fn open(url: &str, join: Join, mode: DecodeMode) -> Result<Self, BotError> {
        Self::open_with(url, ClientMsg::Join(join), mode).await
    }

    /// Connects to `url`, sends `first` and waits for the welcome.
    async fn open_with(url: &str, first: ClientMsg, mode: DecodeMode) -> Result<Self, BotError> {
        let (ws, welcome, up) = hello(url, first).await?;
        Ok(BotConnection {
            ws,
            replica: Replica::from_welcome(&welcome),
            welcome,
            mode,
            latest_tick: None,
            last_input_seq: 0,
            next_seq: 1,
            bytes_down: 0,
            bytes_up: up,
            in_flight: VecDeque::new(),
            rtts: Vec::new(),
        })
    }

    /// Cuts the connection as a network failure would (a TCP reset: no close frame) and
    /// keeps what a resume needs.
    #[must_use]
    pub fn cut(self) -> Detached {
        if let MaybeTlsStream::Plain(tcp) = self.ws.get_ref() {
            // Closing with a zero linger sends a reset, not a FIN.
            let _ = socket2::SockRef::from(tcp).set_linger(Some(Duration::ZERO));
        }
        self.detached()
    }

    /// What a resume needs, copied, with this connection left as it is (to take a player
    /// over from a connection that still looks alive).
    #[must_use]
    pub fn detached(&self) -> Detached {
        Detached {
            welcome: self.welcome.clone(),
            replica: self.replica.clone(),
            mode: self.mode,
            latest_tick: self.latest_tick,
            last_input_seq: self.last_input_seq,
            next_seq: self.next_seq,
            bytes_down: self.bytes_down,
            bytes_up: self.bytes_up,
            in_flight: self.in_flight.clone(),
        }
    }

    /// Sends one input for the next tick, acknowledging the newest snapshot; returns its
    /// sequence number.
    ///
    /// # Errors
    /// The socket failed.
    pub async fn send_input(&mut self, input: Controls) -> Result<u32, BotError> {
        let (seq, bytes) = self.prepare_input(input);
        self.send_frame(bytes).await?;
        Ok(seq)
    }

    /// Encodes one input for the next tick, acknowledging the newest snapshot, and starts
    /// its round-trip clock; returns its sequence number and the frame for
    /// [`BotConnection::send_frame`].
    pub fn prepare_input(&mut self, input: Controls) -> (u32, Vec<u8>) {
        let seq = self.next_seq;
        self.next_seq = seq::next(seq);
        // A snapshot of tick T is the world at the start of tick T: the next tick the server
        // simulates is T itself. A bot has no predictor to keep in step, so it asks for the
        // earliest tick (an input that arrives after that tick ran applies at the next one);
        // asking for T + 1 would add a whole tick to every round trip.
        let tick = self.latest_tick.unwrap_or(self.welcome.tick);
        let msg = ClientMsg::Input(input.to_msg(seq, tick, self.latest_tick));
        let frame = codec::encode_client(&msg);
        self.in_flight
            .push_back((seq, Instant::now(), frame.clone()));
        if self.in_flight.len() > MAX_IN_FLIGHT {
            self.in_flight.pop_front();
        }
        (seq, frame)
    }

    /// Sends an encoded client frame.
    ///
    /// # Errors
    /// The socket failed.
    pub async fn send_frame(&mut self, bytes: Vec<u8>) -> Result<(), BotError> {
        self.bytes_up += bytes.len() as u64;
        self.ws.send(Message::Binary(bytes.into())).await?;
        Ok(())
    }

    /// Sends a ping.
    ///
    /// # Errors
    /// The socket failed.
    pub async fn ping(&mut self, id: u32) -> Result<(), BotError> {
        self.send(&ClientMsg::Ping(Ping { id })).await
    }

    async fn send(&mut self, msg: &ClientMsg) -> Result<(), BotError> {
        self.send_frame(codec::encode_client(msg)).await
    }

    /// Waits for the next server message and handles it (snapshots are applied).
    ///
    /// # Errors
    /// Disconnection (with the server's reason and close code), a decode error or a desync.
    pub async fn recv(&mut self) -> Result<ServerEvent, BotError> {
        let frame = self.recv_frame().await?;
        self.handle_frame(&frame).await
    }

    /// Waits for the next binary frame from the server and counts its bytes, without
    /// looking inside. Cancel-safe: nothing is lost when the future is dropped.
    ///
    /// # Errors
    /// The socket failed or the server closed it.
    pub async fn recv_frame(&mut self) -> Result<Bytes, BotError> {
        loop {
            let msg = match self.ws.next().await {
                None => return Err(BotError::Disconnected(None, None)),
                Some(Err(e)) => return Err(e.into()),
                Some(Ok(m)) => m,
            };
            match msg {
                Message::Binary(b) => {
                    self.bytes_down += b.len() as u64;
                    return Ok(b);
                }
                Message::Close(f) => {
                    let close = f.map(|f| (u16::from(f.code), f.reason.to_string()));
                    return Err(BotError::Disconnected(None, close));
                }
                _ => {}
            }
        }
    }

    /// Handles a frame from [`BotConnection::recv_frame`]: a snapshot is read (header only
    /// in [`DecodeMode::HeaderOnly`]) and applied to the replica; inputs it reports applied
    /// get their round trip (see [`BotConnection::take_rtts`]).
    ///
    /// # Errors
    /// A decode error, a desync, or the server's `Disconnect` (then the close frame is read).
    pub async fn handle_frame(&mut self, bytes: &[u8]) -> Result<ServerEvent, BotError> {
        // The round trip ends when the snapshot is here, not after this client decoded and
        // checked it (a probe's 500-player snapshot takes a while: that is the client's
        // time, not the network's or the server's).
        let arrived = Instant::now();
        if self.mode == DecodeMode::HeaderOnly {
            if let Some(header) = codec::read_snapshot_header(bytes) {
                self.note_header(&header, arrived);
                return Ok(ServerEvent::Snapshot {
                    header,
                    events: Vec::new(),
                    bytes: bytes.len(),
                });
            }
        }
        match codec::decode_server(bytes)? {
            ServerMsg::Snapshot(snap) => {
                let events = self.replica.apply(&snap)?;
                self.note_header(&snap.header, arrived);
                Ok(ServerEvent::Snapshot {
                    header: snap.header,
                    events,
                    bytes: bytes.len(),
                })
            }
            ServerMsg::Pong(p) => Ok(ServerEvent::Pong(p)),
            ServerMsg::Disconnect(d) => {
                let close = read_close(&mut self.ws).await;
                Err(BotError::Disconnected(Some(d), close))
            }
            ServerMsg::Welcome(_) => Err(BotError::Protocol("second welcome".into())),
        }
    }

    /// A frame just arrived, to be handled later ([`BotConnection::handle_frame`]): the
    /// round trips it ends are taken now, from its header, so that they do not include the
    /// time the frame waits for this client to decode it (or other clients of the process
    /// to decode theirs). Nothing else changes until it is handled.
    pub fn note_arrival(&mut self, bytes: &[u8]) {
        let Some(h) = codec::read_snapshot_header(bytes) else {
            return; // Not a snapshot (a pong): handled in full later.
        };
        let arrived = Instant::now();
        while let Some((seq, sent, _)) = self.in_flight.front() {
            if !seq::applied(*seq, h.last_input_seq) {
                break;
            }
            self.rtts.push(arrived.saturating_duration_since(*sent));
            self.in_flight.pop_front();
        }
    }

    fn note_header(&mut self, h: &SnapshotHeader, arrived: Instant) {
        if self.latest_tick.is_none_or(|t| h.tick.is_after(t)) {
            self.latest_tick = Some(h.tick);
        }
        self.last_input_seq = h.last_input_seq;
        while let Some((seq, sent, _)) = self.in_flight.front() {
            if !seq::applied(*seq, h.last_input_seq) {
                break;
            }
            self.rtts.push(arrived.saturating_duration_since(*sent));
            self.in_flight.pop_front();
        }
    }

    /// Round trips measured since the last call: for each input, the time from
    /// [`BotConnection::prepare_input`] to the arrival (before decoding) of the first
    /// snapshot reporting it applied.
    pub fn take_rtts(&mut self) -> std::vec::Drain<'_, Duration> {
        self.rtts.drain(..)
    }

    /// Closes the connection politely (close 1000) and waits briefly for the server's reply.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while let Some(Ok(_)) = self.ws.next().await {}
        })
        .await;
    }
}

/// After a `Disconnect`, the close frame that follows: `(code, reason)`.
/// Connects to `url` (TCP_NODELAY, as browsers set for WebSockets: with Nagle on, a 20-byte
/// input waits for the ACK of the previous one, which rides on the next snapshot), sends
/// the first message (a join or a resume) and waits for the welcome: the socket, the
/// welcome, the bytes sent.
async fn hello(url: &str, first: ClientMsg) -> Result<(Ws, Welcome, u64), BotError> {
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url, None, true).await?;
    let bytes = codec::encode_client(&first);
    let up = bytes.len() as u64;
    ws.send(Message::Binary(bytes.into())).await?;
    let welcome = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match ws.next().await {
                None => return Err(BotError::Disconnected(None, None)),
                Some(Err(e)) => return Err(e.into()),
                Some(Ok(Message::Binary(b))) => match codec::decode_server(&b)? {
                    ServerMsg::Welcome(w) => return Ok(w),
                    ServerMsg::Disconnect(d) => {
                        let close = read_close(&mut ws).await;
                        return Err(BotError::Disconnected(Some(d), close));
                    }
                    other => {
                        return Err(BotError::Protocol(format!(
                            "expected welcome, got {other:?}"
                        )))
                    }
                },
                Some(Ok(Message::Close(f))) => {
                    let close = f.map(|f| (u16::from(f.code), f.reason.to_string()));
                    return Err(BotError::Disconnected(None, close));
                }
                Some(Ok(_)) => {}
            }
        }
    })
    .await
    .map_err(|_| BotError::Timeout)??;
    Ok((ws, welcome, up))
}

/// A client whose connection is gone, with what it needs to take its player back.
#[derive(Clone)]
pub struct Detached {
    welcome: Welcome,
    replica: Replica,
    mode: DecodeMode,
    latest_tick: Option<Tick>,
    last_input_seq: u32,
    next_seq: u32,
    bytes_down: u64,
    bytes_up: u64,
    in_flight: VecDeque<(u32, Instant, Vec<u8>)>,
}

impl Detached {
    /// Resumes the player on a new connection to `url` (the room's URL): the same entity,
    /// the replica kept (the next snapshot is a delta against the newest tick it holds, or
    /// a full state), the inputs not seen applied sent again (the server applies each at
    /// most once).
    ///
    /// # Errors
    /// [`BotError`]; a refused resume is `Disconnected` with the server's reason.
    pub async fn resume(self, url: &str) -> Result<BotConnection, BotError> {
        let first = ClientMsg::Resume(Resume {
            version: PROTOCOL_VERSION,
            token: self.welcome.resume.clone(),
            last_tick: self.latest_tick,
            next_input_seq: self.next_seq,
        });
        let (ws, welcome, up) = hello(url, first).await?;
        if !welcome.resumed || welcome.player != self.welcome.player {
            return Err(BotError::Protocol(format!(
                "resumed as {:?} (resumed: {}), was {:?}",
                welcome.player, welcome.resumed, self.welcome.player
            )));
        }
        let mut conn = BotConnection {
            ws,
            welcome,
            replica: self.replica,
            mode: self.mode,
            latest_tick: self.latest_tick,
            last_input_seq: self.last_input_seq,
            next_seq: self.next_seq,
            bytes_down: self.bytes_down,
            bytes_up: self.bytes_up + up,
            in_flight: self.in_flight,
            rtts: Vec::new(),
        };
        let again: Vec<Vec<u8>> = conn.in_flight.iter().map(|(_, _, f)| f.clone()).collect();
        for frame in again {
            conn.send_frame(frame).await?;
        }
        Ok(conn)
    }

    /// What a page reload keeps: the resume token and the next input sequence number
    /// (both fit in `sessionStorage`), nothing else. The replica, the newest tick held and
    /// the inputs in flight are gone with the page's memory, so the resume asks for a full
    /// state (`last_tick: None`) and sends nothing again.
    #[must_use]
    pub fn reload(self) -> Detached {
        Detached {
            replica: Replica::from_welcome(&self.welcome),
            latest_tick: None,
            in_flight: VecDeque::new(),
            ..self
        }
    }

    /// The player's id.
    #[must_use]
    pub fn player(&self) -> tickwire_shared::NetId {
        self.welcome.player
    }

    /// The newest snapshot tick it holds (the baseline it asks a resume for).
    #[must_use]
    pub fn latest_tick(&self) -> Option<Tick> {
        self.latest_tick
    }

    /// For tests of the server's checks: changes one character of the resume token's
    /// signature.
    pub fn tamper_token(&mut self) {
        let t = &mut self.welcome.resume;
        let last = t.pop().unwrap_or('A');
        t.push(if last == 'A' { 'B' } else { 'A' });
    }
}

async fn read_close(ws: &mut Ws) -> Option<(u16, String)> {
    tokio::time::timeout(Duration::from_secs(3), async {
        while let Some(msg) = ws.next().await {
            match msg {
                Ok(Message::Close(Some(f))) => {
                    return Some((u16::from(f.code), f.reason.to_string()))
                }
                Ok(Message::Close(None)) | Err(_) => return None,
                Ok(_) => {}
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
}
