//! One client connection: join, send inputs, receive and apply snapshots.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use tickwire_shared::input::{Buttons, InputMsg};
use tickwire_shared::protocol::snapshot::SnapshotHeader;
use tickwire_shared::protocol::{
    codec, ClientMsg, Disconnect, Join, Ping, Pong, ServerMsg, Welcome, PROTOCOL_VERSION,
};
use tickwire_shared::replica::ReplicaError;
use tickwire_shared::sim::TickEvent;
use tickwire_shared::{Replica, Tick};

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
}

/// An input as a bot or test chooses it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BotInput {
    /// Move direction x in [-1, 1].
    pub move_x: f32,
    /// Move direction y in [-1, 1].
    pub move_y: f32,
    /// Aim, radians.
    pub aim: f32,
    /// Fire held.
    pub fire: bool,
}

impl BotConnection {
    /// Connects to `url` (`ws://host:port/ws`), joins as `name` and waits for the welcome.
    ///
    /// # Errors
    /// [`BotError`] when the connection, the join or the welcome fails (a refusal carries
    /// the server's reason and close code).
    pub async fn connect(url: &str, name: &str, mode: DecodeMode) -> Result<Self, BotError> {
        Self::connect_with_version(url, name, mode, PROTOCOL_VERSION).await
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
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await?;
        let join = ClientMsg::Join(Join {
            version,
            name: name.to_owned(),
        });
        let bytes = codec::encode_client(&join);
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
        Ok(BotConnection {
            ws,
            welcome,
            replica: Replica::new(),
            mode,
            latest_tick: None,
            last_input_seq: 0,
            next_seq: 1,
            bytes_down: 0,
            bytes_up: up,
        })
    }

    /// Sends one input for the next tick, acknowledging the newest snapshot; returns its
    /// sequence number.
    ///
    /// # Errors
    /// The socket failed.
    pub async fn send_input(&mut self, input: BotInput) -> Result<u32, BotError> {
        let seq = self.next_seq;
        self.next_seq += 1;
        let msg = ClientMsg::Input(InputMsg {
            seq,
            tick: self.latest_tick.map_or(self.welcome.tick, Tick::next),
            ack: self.latest_tick,
            buttons: if input.fire {
                Buttons::FIRE
            } else {
                Buttons::default()
            },
            move_x: input.move_x,
            move_y: input.move_y,
            aim: input.aim,
        });
        self.send(&msg).await?;
        Ok(seq)
    }

    /// Sends a ping.
    ///
    /// # Errors
    /// The socket failed.
    pub async fn ping(&mut self, id: u32) -> Result<(), BotError> {
        self.send(&ClientMsg::Ping(Ping { id })).await
    }

    async fn send(&mut self, msg: &ClientMsg) -> Result<(), BotError> {
        let bytes = codec::encode_client(msg);
        self.bytes_up += bytes.len() as u64;
        self.ws.send(Message::Binary(bytes.into())).await?;
        Ok(())
    }

    /// Waits for the next server message and handles it (snapshots are applied).
    ///
    /// # Errors
    /// Disconnection (with the server's reason and close code), a decode error or a desync.
    pub async fn recv(&mut self) -> Result<ServerEvent, BotError> {
        loop {
            let msg = match self.ws.next().await {
                None => return Err(BotError::Disconnected(None, None)),
                Some(Err(e)) => return Err(e.into()),
                Some(Ok(m)) => m,
            };
            let bytes = match msg {
                Message::Binary(b) => b,
                Message::Close(f) => {
                    let close = f.map(|f| (u16::from(f.code), f.reason.to_string()));
                    return Err(BotError::Disconnected(None, close));
                }
                _ => continue,
            };
            self.bytes_down += bytes.len() as u64;
            if self.mode == DecodeMode::HeaderOnly {
                if let Some(header) = codec::read_snapshot_header(&bytes) {
                    self.note_header(&header);
                    return Ok(ServerEvent::Snapshot {
                        header,
                        events: Vec::new(),
                        bytes: bytes.len(),
                    });
                }
            }
            match codec::decode_server(&bytes)? {
                ServerMsg::Snapshot(snap) => {
                    let events = self.replica.apply(&snap)?;
                    self.note_header(&snap.header);
                    return Ok(ServerEvent::Snapshot {
                        header: snap.header,
                        events,
                        bytes: bytes.len(),
                    });
                }
                ServerMsg::Pong(p) => return Ok(ServerEvent::Pong(p)),
                ServerMsg::Disconnect(d) => {
                    let close = read_close(&mut self.ws).await;
                    return Err(BotError::Disconnected(Some(d), close));
                }
                ServerMsg::Welcome(_) => return Err(BotError::Protocol("second welcome".into())),
            }
        }
    }

    fn note_header(&mut self, h: &SnapshotHeader) {
        if self.latest_tick.is_none_or(|t| h.tick.is_after(t)) {
            self.latest_tick = Some(h.tick);
        }
        self.last_input_seq = h.last_input_seq;
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
