//! One game connection after the WebSocket upgrade: tungstenite's protocol state
//! ([`WebSocketContext`]) over the non-blocking socket, driven by whoever owns it.
//!
//! During play the room owns every connection and does all of its I/O itself, once per
//! tick: it reads what each socket holds (inputs, pings, closes), then writes each
//! snapshot with one non-blocking vectored send of [frame header + the client's snapshot
//! header, the shared body]. The socket is out of the runtime's epoll set meanwhile, so an
//! arriving input wakes nothing: no readiness event, no task, no channel. The connection's
//! task only handles the join before and the close after, with the socket registered in
//! the runtime again for that time ([`GameSocket::attach`], [`GameSocket::detach`]). Reads are bounded
//! per tick ([`GameSocket::rearm`]): whatever a client sends, it costs the room at most that
//! many bytes of work per tick.
//!
//! Writes never block and never reorder: what the socket does not take waits in the
//! connection's queue (whole frames behind it), which the room retries every tick. While
//! `depth` snapshot frames wait the room skips the client; control frames and replies are
//! always queued, up to a byte cap past which the connection counts as failed.
//!
//! [`GameSocket::memory`] gives a connection without a socket, for tests that drive a room by
//! hand: what the room sends is recorded, what the test pushes is read as client messages.

use std::io::{self, IoSlice};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio_tungstenite::tungstenite::error::Error as WsError;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig, WebSocketContext};
use tokio_tungstenite::tungstenite::Message;

mod pending;

pub use pending::MemoryLink;
use pending::{taken, Io, Sink};

/// What became of a message handed to [`GameSocket::send_binary`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sent {
    /// Written to the socket (or recorded, for a memory connection).
    Written,
    /// Partly or not written yet: queued behind what waits, retried every tick.
    Queued,
    /// A snapshot with `depth` frames already waiting: skipped.
    Full,
    /// The connection failed: nothing is written any more.
    Closed,
}

/// The header of an unmasked (server) binary WebSocket frame of `len` payload bytes, into
/// `out`; returns its length.
fn ws_binary_header(len: usize, out: &mut [u8; 10]) -> usize {
    out[0] = 0x82;
    if len < 126 {
        out[1] = len as u8;
        2
    } else if let Ok(short) = u16::try_from(len) {
        out[1] = 126;
        out[2..4].copy_from_slice(&short.to_be_bytes());
        4
    } else {
        out[1] = 127;
        out[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    }
}

/// One upgraded game connection (see the module documentation).
pub struct GameSocket {
    ctx: WebSocketContext,
    io: Io,
}

impl std::fmt::Debug for GameSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GameSocket")
            .field("pending", &self.io.pending.len())
            .field("failed", &self.io.failed)
            .finish_non_exhaustive()
    }
}

impl GameSocket {
    /// Takes over an upgraded socket (`leftover`: bytes read past the handshake), still
    /// registered with the runtime (the session waits for the join on it); `depth` and
    /// `byte_cap` bound what waits to be written.
    #[must_use]
    pub fn new(
        stream: tokio::net::TcpStream,
        leftover: Vec<u8>,
        config: WebSocketConfig,
        depth: usize,
        byte_cap: usize,
    ) -> GameSocket {
        // Every frame tungstenite makes goes straight into the queue (never held in its own
        // buffer), so the room's frames can follow it in order.
        let config = config.write_buffer_size(0);
        GameSocket {
            ctx: WebSocketContext::from_partially_read(leftover, Role::Server, Some(config)),
            io: Io {
                sink: Sink::Tokio(Arc::new(stream)),
                pending: BytesMut::new(),
                queued_frames: 0,
                stalled_since: None,
                depth: depth.max(1),
                byte_cap,
                failed: None,
                drained: false,
                read_budget: usize::MAX,
            },
        }
    }

    /// A connection without a socket, and the test's end of it.
    #[must_use]
    pub fn memory() -> (GameSocket, MemoryLink) {
        let link = MemoryLink::default();
        let conn = GameSocket {
            ctx: WebSocketContext::new(Role::Server, None),
            io: Io {
                sink: Sink::Memory(link.clone()),
                pending: BytesMut::new(),
                queued_frames: 0,
                stalled_since: None,
                depth: usize::MAX,
                byte_cap: usize::MAX,
                failed: None,
                drained: false,
                read_budget: usize::MAX,
            },
        };
        (conn, link)
    }

    /// The next message, without blocking: `Err(WsError::Io(WouldBlock))` when none is
    /// complete yet. Pings are answered (queued) by tungstenite as they are read.
    ///
    /// # Errors
    /// Protocol, size and I/O errors as tungstenite reports them.
    pub fn read(&mut self) -> Result<Message, WsError> {
        if let Sink::Memory(link) = &self.io.sink {
            let mut state = link.0.lock();
            if state.cut {
                return Err(WsError::Io(io::ErrorKind::ConnectionReset.into()));
            }
            return match state.to_server.pop_front() {
                Some(b) => Ok(Message::Binary(b)),
                None => Err(WsError::Io(io::ErrorKind::WouldBlock.into())),
            };
        }
        self.ctx.read(&mut self.io)
    }

    /// Lets reads ask the socket again (see `Io::drained`), up to `budget` bytes: the room
    /// calls it once per tick per client; a task waiting on readiness before each attempt.
    pub fn rearm(&mut self, budget: usize) {
        self.io.drained = false;
        self.io.read_budget = budget;
    }

    /// Sends one binary message made of `parts`, framed here: written now if the socket
    /// takes it, else queued whole behind what waits. A `snapshot` is skipped instead
    /// ([`Sent::Full`]) while `depth` snapshot frames wait.
    pub fn send_binary(&mut self, parts: [&[u8]; 2], snapshot: bool) -> Sent {
        let io = &mut self.io;
        let len = parts[0].len() + parts[1].len();
        match &io.sink {
            _ if io.failed.is_some() => return Sent::Closed,
            Sink::Memory(link) => {
                let mut msg = BytesMut::with_capacity(len);
                msg.extend_from_slice(parts[0]);
                msg.extend_from_slice(parts[1]);
                link.0.lock().to_client.push(msg.freeze());
                return Sent::Written;
            }
            Sink::Std(_) | Sink::Tokio(_) | Sink::Switching => {}
        }
        let mut head = [0u8; 10];
        let head_len = ws_binary_header(len, &mut head);
        let total = head_len + len;
        let all = [&head[..head_len], parts[0], parts[1]];
        match io.drain() {
            Err(_) => return Sent::Closed,
            Ok(false) => {
                if snapshot && (io.queued_frames >= io.depth) {
                    return Sent::Full;
                }
                if io.pending.len() + total > io.byte_cap {
                    if snapshot {
                        return Sent::Full;
                    }
                    io.fail(io::ErrorKind::OutOfMemory);
                    return Sent::Closed;
                }
                io.queue(&all, 0);
                io.queued_frames += 1;
                return Sent::Queued;
            }
            Ok(true) => {}
        }
        let bufs = all.map(IoSlice::new);
        let written = match taken(io.sink.write_vectored(&bufs)) {
            Ok(n) if n == total => return Sent::Written,
            Ok(n) => n,
            Err(e) => {
                io.fail(e.kind());
                return Sent::Closed;
            }
        };
        io.queue(&all, written);
        io.queued_frames = 1;
        Sent::Queued
    }

    /// Sends a control frame or a message through tungstenite (pings, the close frame):
    /// queued behind what waits, like every write.
    ///
    /// # Errors
    /// When the connection is closing or failed.
    pub fn send_control(&mut self, msg: Message) -> Result<(), WsError> {
        self.ctx.write(&mut self.io, msg)?;
        self.ctx.flush(&mut self.io)
    }

    /// Writes what waits as far as the socket takes it (the room calls it every tick).
    ///
    /// # Errors
    /// When the socket failed.
    pub fn flush(&mut self) -> io::Result<bool> {
        self.io.drain()
    }

    /// Bytes accepted and not yet taken by the socket.
    #[must_use]
    pub fn waiting_bytes(&self) -> usize {
        self.io.pending.len()
    }

    /// How long bytes have waited in the connection's queue without it ever emptying.
    #[must_use]
    pub fn stalled_for(&self, now: Instant) -> Option<Duration> {
        self.io
            .stalled_since
            .map(|since| now.saturating_duration_since(since))
    }

    /// Registers the socket with the runtime (for the connection's task: join, close) and
    /// returns a handle to wait on its readiness. Drop the handle before [`GameSocket::detach`].
    ///
    /// # Errors
    /// For a memory connection, or when the socket cannot be registered.
    pub fn attach(&mut self) -> io::Result<Arc<tokio::net::TcpStream>> {
        match std::mem::replace(&mut self.io.sink, Sink::Switching) {
            Sink::Tokio(t) => {
                self.io.sink = Sink::Tokio(t.clone());
                Ok(t)
            }
            Sink::Std(s) => match tokio::net::TcpStream::from_std(s) {
                Ok(t) => {
                    let t = Arc::new(t);
                    self.io.sink = Sink::Tokio(t.clone());
                    Ok(t)
                }
                Err(e) => Err(self.io.fail(e.kind())),
            },
            other => {
                self.io.sink = other;
                Err(io::ErrorKind::Unsupported.into())
            }
        }
    }

    /// Takes the socket out of the runtime (for the room: no readiness events, no wakes).
    ///
    /// # Errors
    /// When a handle from [`GameSocket::attach`] is still alive, or the socket cannot be
    /// deregistered.
    pub fn detach(&mut self) -> io::Result<()> {
        match std::mem::replace(&mut self.io.sink, Sink::Switching) {
            Sink::Tokio(t) => match Arc::try_unwrap(t) {
                Ok(t) => match t.into_std() {
                    Ok(s) => {
                        self.io.sink = Sink::Std(s);
                        Ok(())
                    }
                    Err(e) => Err(self.io.fail(e.kind())),
                },
                Err(t) => {
                    self.io.sink = Sink::Tokio(t);
                    Err(io::Error::other("the socket is still being waited on"))
                }
            },
            other => {
                self.io.sink = other;
                Ok(())
            }
        }
    }

    /// [`GameSocket::read`], waiting on `socket` (from [`GameSocket::attach`]) until a message is
    /// complete.
    ///
    /// # Errors
    /// As [`GameSocket::read`].
    pub async fn read_async(&mut self, socket: &tokio::net::TcpStream) -> Result<Message, WsError> {
        loop {
            // What tungstenite holds already, or the socket has now; a read that finds the
            // socket empty clears the readiness the runtime saw, so the wait is for new data.
            self.rearm(usize::MAX);
            match self.read() {
                Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {}
                r => return r,
            }
            socket.readable().await.map_err(WsError::Io)?;
        }
    }

    /// Writes everything that waits, waiting on `socket` for it to take it.
    ///
    /// # Errors
    /// When the socket failed.
    pub async fn flush_async(&mut self, socket: &tokio::net::TcpStream) -> io::Result<()> {
        while !self.flush()? {
            socket.writable().await?;
        }
        Ok(())
    }

    /// The end of a close, once the close frame is queued ([`crate::net::close::close_conn`]):
    /// writes what waits while reading and discarding what the peer sends; once all is
    /// written, shuts the write side down. `true` when the peer answered the close or hung
    /// up after taking everything; `false` when it failed or sent more than
    /// [`MAX_CLOSE_DISCARD_BYTES`](crate::net::close::MAX_CLOSE_DISCARD_BYTES).
    /// `raw`: the peer's frames broke the protocol, so what it sends is read as raw bytes.
    pub async fn finish_close(&mut self, socket: &tokio::net::TcpStream, raw: bool) -> bool {
        let mut discarded = 0usize;
        let mut shut = false;
        // After a protocol error tungstenite cannot make sense of the peer's bytes: raw.
        let mut raw = raw;
        let mut peer_done = false;
        loop {
            let flushed = match self.flush() {
                Ok(f) => f,
                Err(_) => return false,
            };
            if flushed && !shut {
                let _ = socket2::SockRef::from(socket).shutdown(std::net::Shutdown::Write);
                shut = true;
            }
            // Read everything the socket holds now (bounded per round and in total).
            while !peer_done {
                let before = discarded;
                if raw {
                    let mut scratch = [0u8; 4096];
                    match socket.try_read(&mut scratch) {
                        Ok(0) => peer_done = true,
                        Ok(n) => discarded += n,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(_) => return false,
                    }
                } else {
                    self.rearm(4096);
                    match self.read() {
                        Ok(msg) => discarded += msg.len().max(1),
                        Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                            if self.io.read_budget > 0 {
                                break;
                            }
                            discarded += 4096;
                        }
                        Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => {
                            peer_done = true;
                        }
                        Err(WsError::Io(_)) => return false,
                        Err(_) => raw = true,
                    }
                }
                if discarded > crate::net::close::MAX_CLOSE_DISCARD_BYTES {
                    return false;
                }
                if discarded == before && !peer_done && !raw {
                    break;
                }
            }
            if peer_done {
                // The peer answered (or hung up): what tungstenite queued in reply, then done.
                return flushed || self.flush_async(socket).await.is_ok();
            }
            tokio::select! {
                r = socket.writable(), if !flushed => if r.is_err() { return false },
                r = socket.readable() => if r.is_err() { return false },
            }
        }
    }

    /// Drops the connection with a reset (SO_LINGER 0): what the peer never took is freed
    /// at once instead of being held by the kernel for an orphan socket.
    pub fn abort(&mut self, socket: &tokio::net::TcpStream) {
        let _ = socket2::SockRef::from(socket).set_linger(Some(Duration::ZERO));
        self.io.fail(io::ErrorKind::ConnectionAborted);
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use bytes::Bytes;

    use super::*;

    #[test]
    fn frame_headers_follow_rfc_6455_length_forms() {
        let mut h = [0u8; 10];
        assert_eq!(ws_binary_header(125, &mut h), 2);
        assert_eq!(&h[..2], &[0x82, 125]);
        assert_eq!(ws_binary_header(126, &mut h), 4);
        assert_eq!(&h[..4], &[0x82, 126, 0, 126]);
        assert_eq!(ws_binary_header(65_536, &mut h), 10);
        assert_eq!(&h[..10], &[0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]);
    }

    #[tokio::test]
    async fn reads_stop_at_the_budget_whatever_the_socket_holds() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let mut conn = GameSocket::new(server, Vec::new(), WebSocketConfig::default(), 4, 1 << 20);
        // An unfinished binary message, then empty masked continuation frames.
        let mut flood = vec![0x02, 0x81, 1, 2, 3, 4, 5];
        for _ in 0..20_000 {
            flood.extend_from_slice(&[0x00, 0x80, 1, 2, 3, 4]);
        }
        client.write_all(&flood).unwrap();
        let socket = conn.attach().unwrap();
        // Wait until more than three budgets' worth has arrived.
        let mut peek = vec![0u8; 16_384];
        while socket.peek(&mut peek).await.unwrap() < 3 * 4096 + 7 {
            tokio::task::yield_now().await;
        }
        drop(socket);
        conn.detach().unwrap();
        for round in 0..3 {
            conn.rearm(4096);
            let r = conn.read();
            assert!(
                matches!(&r, Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock),
                "round {round}: {r:?}"
            );
            // It stopped because the budget ran out, not because the socket ran dry.
            assert_eq!(conn.io.read_budget, 0, "round {round}");
        }
    }

    #[test]
    fn memory_connections_record_and_replay_messages() {
        let (mut conn, link) = GameSocket::memory();
        assert_eq!(conn.send_binary([b"ab", b"cd"], true), Sent::Written);
        assert_eq!(link.take_messages(), vec![Bytes::from_static(b"abcd")]);
        link.push(Bytes::from_static(b"in"));
        assert!(matches!(conn.read(), Ok(Message::Binary(b)) if b == "in"));
        assert!(
            matches!(conn.read(), Err(WsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock)
        );
    }
}
