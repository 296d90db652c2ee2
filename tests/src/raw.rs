//! A raw-TCP client for hostile tests: handshakes and WebSocket frames written byte by byte
//! (masking, RSV bits, fragments, opcodes, declared lengths), server frames parsed by hand,
//! so a test can send exactly what a broken or malicious client would and see exactly what
//! the server answers.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;

use tickwire_shared::protocol::{
    codec, ClientMsg, Disconnect, Join, ServerMsg, Welcome, PROTOCOL_VERSION,
};

/// Frame opcodes (RFC 6455 section 5.2).
pub mod op {
    /// Continuation.
    pub const CONT: u8 = 0x0;
    /// Text.
    pub const TEXT: u8 = 0x1;
    /// Binary.
    pub const BINARY: u8 = 0x2;
    /// Close.
    pub const CLOSE: u8 = 0x8;
    /// Ping.
    pub const PING: u8 = 0x9;
    /// Pong.
    pub const PONG: u8 = 0xA;
}

/// A frame as a client writes it, every bit under the test's control.
#[derive(Clone, Debug)]
pub struct Frame {
    /// FIN bit.
    pub fin: bool,
    /// RSV1..3 as the low three bits (RSV1 = 0b100).
    pub rsv: u8,
    /// Opcode.
    pub opcode: u8,
    /// Masking key (clients must mask; `None` writes an unmasked frame).
    pub mask: Option<[u8; 4]>,
    /// Payload bytes actually written.
    pub payload: Vec<u8>,
    /// Length written in the header when it should lie about the payload.
    pub declared_len: Option<u64>,
}

impl Frame {
    /// A complete, masked frame.
    #[must_use]
    pub fn new(opcode: u8, payload: impl Into<Vec<u8>>) -> Frame {
        Frame {
            fin: true,
            rsv: 0,
            opcode,
            mask: Some([0x37, 0xfa, 0x21, 0x3d]),
            payload: payload.into(),
            declared_len: None,
        }
    }

    /// A complete, masked binary frame.
    #[must_use]
    pub fn binary(payload: impl Into<Vec<u8>>) -> Frame {
        Frame::new(op::BINARY, payload)
    }

    /// The wire bytes.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.payload.len() + 14);
        out.push(u8::from(self.fin) << 7 | (self.rsv & 7) << 4 | (self.opcode & 0xF));
        let len = self.declared_len.unwrap_or(self.payload.len() as u64);
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        if len < 126 {
            out.push(mask_bit | len as u8);
        } else if len <= u64::from(u16::MAX) {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            out.push(mask_bit | 127);
            out.extend_from_slice(&len.to_be_bytes());
        }
        match self.mask {
            Some(key) => {
                out.extend_from_slice(&key);
                out.extend(self.payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
            }
            None => out.extend_from_slice(&self.payload),
        }
        out
    }
}

/// A frame as the server sent it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerFrame {
    /// FIN bit.
    pub fin: bool,
    /// Opcode.
    pub opcode: u8,
    /// Payload.
    pub payload: Vec<u8>,
}

impl ServerFrame {
    /// The close code of a close frame.
    #[must_use]
    pub fn close_code(&self) -> Option<u16> {
        (self.opcode == op::CLOSE && self.payload.len() >= 2)
            .then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }
}

/// How a connection ended, as the client saw it.
#[derive(Clone, Debug, Default)]
pub struct Ending {
    /// The close frame's code, if one arrived.
    pub code: Option<u16>,
    /// The close frame's reason text.
    pub reason: String,
    /// The game-level `Disconnect` sent before the close, if any.
    pub disconnect: Option<Disconnect>,
    /// Whether the server then closed the TCP connection (EOF or reset) within the limit.
    pub closed: bool,
    /// Data frames received before the close.
    pub frames: usize,
}

/// An HTTP response head and body.
#[derive(Clone, Debug, Default)]
pub struct HttpReply {
    /// Status code (0 when the server answered nothing).
    pub status: u16,
    /// Head and body as text.
    pub text: String,
}

impl HttpReply {
    /// Whether a header line `name: value` appears (case-insensitive name).
    #[must_use]
    pub fn has_header(&self, name: &str) -> bool {
        let head = self.text.split("\r\n\r\n").next().unwrap_or("");
        head.lines().skip(1).any(|l| {
            l.split_once(':')
                .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        })
    }
}

/// A raw connection.
pub struct Raw {
    /// The socket.
    pub stream: TcpStream,
    buf: Vec<u8>,
    host: String,
}

/// A handshake request for `path` with extra header lines (`"Name: value"`).
#[must_use]
pub fn upgrade_request(host: &str, path: &str, extra: &[&str]) -> String {
    let mut req = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    );
    for h in extra {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    req
}

/// The join message bytes of a well-behaved client.
#[must_use]
pub fn join_bytes(name: &str) -> Vec<u8> {
    codec::encode_client(&ClientMsg::Join(Join {
        version: PROTOCOL_VERSION,
        name: name.to_owned(),
        seat: None,
    }))
}

impl Raw {
    /// Connects from 127.0.0.1.
    ///
    /// # Errors
    /// The connection failed.
    pub async fn connect(addr: SocketAddr) -> std::io::Result<Raw> {
        let stream = TcpStream::connect(addr).await?;
        Ok(Raw::from_stream(stream, addr))
    }

    /// Connects from `source` (any 127.0.0.x: loopback is a whole /8, so tests can be many
    /// clients).
    ///
    /// # Errors
    /// Binding or connecting failed.
    pub async fn connect_from(addr: SocketAddr, source: IpAddr) -> std::io::Result<Raw> {
        let stream = connect_from(addr, source).await?;
        Ok(Raw::from_stream(stream, addr))
    }

    /// Wraps a stream the test connected itself (e.g. with socket options set).
    #[must_use]
    pub fn from_connected(stream: TcpStream, addr: SocketAddr) -> Raw {
        Raw::from_stream(stream, addr)
    }

    fn from_stream(stream: TcpStream, addr: SocketAddr) -> Raw {
        let _ = stream.set_nodelay(true);
        Raw {
            stream,
            buf: Vec::new(),
            host: addr.to_string(),
        }
    }

    /// The bytes read from the socket but not parsed yet (for a test that reads the socket
    /// itself from now on).
    pub fn take_buffered(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    /// Writes bytes as they are.
    ///
    /// # Errors
    /// The socket failed.
    pub async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// Writes a frame.
    ///
    /// # Errors
    /// The socket failed.
    pub async fn send_frame(&mut self, frame: &Frame) -> std::io::Result<()> {
        self.send(&frame.to_bytes()).await
    }

    /// Sends an upgrade request for `path` with extra headers and reads the response head.
    /// Returns the reply; a 101 leaves the connection upgraded.
    ///
    /// # Errors
    /// The socket failed before a response head arrived.
    pub async fn upgrade_with(&mut self, path: &str, extra: &[&str]) -> std::io::Result<HttpReply> {
        let req = upgrade_request(&self.host, path, extra);
        self.send(req.as_bytes()).await?;
        self.read_response_head(Duration::from_secs(10)).await
    }

    /// Upgrades at `/ws`, panicking unless the server switches protocols.
    pub async fn upgrade(&mut self) {
        let reply = self.upgrade_with("/ws", &[]).await.expect("upgrade reply");
        assert_eq!(reply.status, 101, "upgrade refused: {}", reply.text);
    }

    /// Upgrades, joins and waits for the welcome: a player, ready for hostile bytes.
    pub async fn joined(addr: SocketAddr, name: &str) -> Raw {
        Raw::joined_welcome(addr, name).await.0
    }

    /// [`Raw::joined`], also returning the welcome.
    pub async fn joined_welcome(addr: SocketAddr, name: &str) -> (Raw, Welcome) {
        let mut raw = Raw::connect(addr).await.expect("connect");
        raw.upgrade().await;
        raw.send_frame(&Frame::binary(join_bytes(name)))
            .await
            .expect("send join");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let f = raw
                .recv_frame(deadline)
                .await
                .expect("welcome before the connection ends");
            if f.opcode == op::BINARY {
                match codec::decode_server(&f.payload) {
                    Ok(ServerMsg::Welcome(w)) => return (raw, w),
                    other => panic!("expected a welcome, got {other:?}"),
                }
            }
        }
    }

    /// Reads an HTTP response head (and whatever body arrives with it) within `limit`.
    ///
    /// # Errors
    /// The socket failed, or the time ran out with no complete head.
    pub async fn read_response_head(&mut self, limit: Duration) -> std::io::Result<HttpReply> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                let head: Vec<u8> = self.buf.drain(..end + 4).collect();
                let text = String::from_utf8_lossy(&head).into_owned();
                let status = text
                    .split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                return Ok(HttpReply { status, text });
            }
            if !self.fill(deadline).await? {
                return Ok(HttpReply {
                    status: 0,
                    text: String::from_utf8_lossy(&self.buf).into_owned(),
                });
            }
        }
    }

    /// Reads a whole HTTP response until the server closes (or `limit`).
    ///
    /// # Errors
    /// The socket failed.
    pub async fn read_http_response(&mut self, limit: Duration) -> std::io::Result<HttpReply> {
        let deadline = Instant::now() + limit;
        while self.fill(deadline).await? {}
        let text = String::from_utf8_lossy(&self.buf).into_owned();
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        Ok(HttpReply { status, text })
    }

    /// Reads more bytes; `Ok(false)` on EOF or reset, `Err(TimedOut)` past `deadline`.
    async fn fill(&mut self, deadline: Instant) -> std::io::Result<bool> {
        let mut chunk = [0u8; 4096];
        match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
            Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
            Ok(Ok(0)) => Ok(false),
            Ok(Ok(n)) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(true)
            }
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => Ok(false),
            Ok(Err(e)) => Err(e),
        }
    }

    /// Reads the next server frame; `None` when the connection ended first (or `deadline`).
    pub async fn recv_frame(&mut self, deadline: Instant) -> Option<ServerFrame> {
        loop {
            if let Some((frame, used)) = parse_server_frame(&self.buf) {
                self.buf.drain(..used);
                return Some(frame);
            }
            match self.fill(deadline).await {
                Ok(true) => {}
                _ => return None,
            }
        }
    }

    /// Reads until the server's close frame and then the end of the connection, within
    /// `limit`; counts data frames and keeps the `Disconnect` reason.
    pub async fn ending(&mut self, limit: Duration) -> Ending {
        let deadline = Instant::now() + limit;
        let mut ending = Ending::default();
        while let Some(f) = self.recv_frame(deadline).await {
            match f.opcode {
                op::CLOSE => {
                    ending.code = f.close_code();
                    ending.reason =
                        String::from_utf8_lossy(f.payload.get(2..).unwrap_or(&[])).into_owned();
                    // Answer like a polite client, then expect the server to hang up.
                    let reply = Frame::new(op::CLOSE, f.payload.get(..2).unwrap_or(&[]).to_vec());
                    let _ = self.send_frame(&reply).await;
                    ending.closed = self.until_eof(deadline).await;
                    return ending;
                }
                op::BINARY => {
                    ending.frames += 1;
                    if let Ok(ServerMsg::Disconnect(d)) = codec::decode_server(&f.payload) {
                        ending.disconnect = Some(d);
                    }
                }
                _ => {}
            }
        }
        ending.closed = Instant::now() < deadline;
        ending
    }

    /// Discards input until EOF or reset (`true`), or `deadline` (`false`).
    pub async fn until_eof(&mut self, deadline: Instant) -> bool {
        self.buf.clear();
        loop {
            match self.fill(deadline).await {
                Ok(true) => self.buf.clear(),
                Ok(false) => return true,
                Err(e) => return e.kind() != std::io::ErrorKind::TimedOut,
            }
        }
    }
}

/// A TCP connection to `addr` from source address `source`.
///
/// # Errors
/// Binding or connecting failed.
pub async fn connect_from(addr: SocketAddr, source: IpAddr) -> std::io::Result<TcpStream> {
    let socket = match source {
        IpAddr::V4(_) => TcpSocket::new_v4()?,
        IpAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.bind(SocketAddr::new(source, 0))?;
    socket.connect(addr).await
}

/// Parses one unmasked server frame from the front of `buf`: `(frame, bytes used)`.
#[must_use]
pub fn parse_server_frame(buf: &[u8]) -> Option<(ServerFrame, usize)> {
    let b0 = *buf.first()?;
    let b1 = *buf.get(1)?;
    let (len, mut at) = match b1 & 0x7F {
        126 => (
            u64::from(u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?])),
            4,
        ),
        127 => {
            let bytes: [u8; 8] = buf.get(2..10)?.try_into().ok()?;
            (u64::from_be_bytes(bytes), 10)
        }
        n => (u64::from(n), 2),
    };
    let mask = if b1 & 0x80 != 0 {
        let key: [u8; 4] = buf.get(at..at + 4)?.try_into().ok()?;
        at += 4;
        Some(key)
    } else {
        None
    };
    let len = usize::try_from(len).ok()?;
    let mut payload = buf.get(at..at.checked_add(len)?)?.to_vec();
    if let Some(key) = mask {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= key[i % 4];
        }
    }
    Some((
        ServerFrame {
            fin: b0 & 0x80 != 0,
            opcode: b0 & 0x0F,
            payload,
        },
        at + len,
    ))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
