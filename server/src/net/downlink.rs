//! The server-to-client half of one WebSocket connection, shared by the room and the
//! connection's session task.
//!
//! The room writes snapshots itself, right after its tick: one non-blocking vectored send of
//! [WebSocket frame header + the client's snapshot header, the shared body]. When the socket
//! takes it (the common case) that is all: no task wake, no channel, no copy and no
//! allocation per client. What the socket does not take is queued here, whole frames only
//! and bounded (`depth` frames), and the session task is woken to write the rest when the
//! socket is writable again; while frames wait, the room skips the client (latest wins).
//!
//! The session's own frames (tungstenite's pings, pongs, close, and the `Disconnect`) go
//! through the same queue ([`SessionIo`]), so the byte stream never interleaves two frames:
//! a write either goes out whole, or its unwritten rest is queued before anything the room
//! writes next.
//!
//! Lock: one `parking_lot` mutex per connection, taken by the room once per tick and by the
//! session when it writes; the two rarely meet, so it costs one uncontended atomic. A test
//! can build a [`Downlink::memory`] that records messages instead of writing a socket.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use futures_util::task::AtomicWaker;
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

use tickwire_shared::protocol::DisconnectReason;

/// What became of a message the room handed to [`Downlink::send`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sent {
    /// Written to the socket (or recorded, for a memory downlink).
    Written,
    /// Partly or not written yet: queued behind what waits; the session writes it.
    Queued,
    /// `depth` frames already wait: skipped.
    Full,
    /// The connection is closing or broken: nothing is written any more.
    Closed,
}

/// What the session learns from [`Downlink::poll_event`].
#[derive(Debug)]
pub enum Event {
    /// The room dropped the player: close with this reason.
    Kicked(DisconnectReason),
    /// The room let go of the player without a reason (it stopped, or failed).
    Detached,
    /// Writing to the socket failed.
    Failed(io::Error),
}

/// Where the room stands with this connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RoomSide {
    /// Not joined yet, or joined: the room may write.
    Open,
    /// The room dropped the player.
    Kicked(DisconnectReason),
    /// The room let go of the player (its slot was dropped).
    Detached,
    /// The session is closing: the room writes nothing more.
    Sealed,
}

enum Sink {
    Tcp(OwnedWriteHalf),
    /// Test double: whole messages (payloads, without the WebSocket framing).
    Memory(Vec<Bytes>),
}

struct State {
    sink: Sink,
    /// Bytes accepted but not yet written, in order; starts on a frame boundary when the
    /// first byte of it was never written, else in the middle of the frame being written.
    pending: BytesMut,
    /// Room frames queued since the socket last caught up.
    queued_frames: usize,
    /// Since when nothing could be written while bytes wait.
    stalled_since: Option<Instant>,
    room: RoomSide,
    failed: Option<io::ErrorKind>,
}

/// The write side of one connection (see the module documentation).
pub struct Downlink {
    state: Mutex<State>,
    session: AtomicWaker,
    /// Room frames that may wait before the room skips the client.
    depth: usize,
    /// Bytes that may wait in all (room frames and session frames).
    byte_cap: usize,
}

impl std::fmt::Debug for Downlink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.state.lock();
        f.debug_struct("Downlink")
            .field("pending", &s.pending.len())
            .field("queued_frames", &s.queued_frames)
            .field("room", &s.room)
            .finish_non_exhaustive()
    }
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

impl Downlink {
    fn with_sink(sink: Sink, depth: usize, byte_cap: usize) -> Arc<Downlink> {
        Arc::new(Downlink {
            state: Mutex::new(State {
                sink,
                pending: BytesMut::new(),
                queued_frames: 0,
                stalled_since: None,
                room: RoomSide::Open,
                failed: None,
            }),
            session: AtomicWaker::new(),
            depth: depth.max(1),
            byte_cap,
        })
    }

    /// Splits an upgraded stream: the read half and this downlink for the session
    /// ([`SessionIo`]), the downlink alone for the room.
    pub fn over(stream: TcpStream, depth: usize, byte_cap: usize) -> SessionIo {
        let (read, write) = stream.into_split();
        SessionIo {
            read,
            down: Downlink::with_sink(Sink::Tcp(write), depth, byte_cap),
        }
    }

    /// A downlink that records the messages the room sends (for tests that drive a room
    /// without sockets). `depth` is not enforced: memory always takes the message.
    #[must_use]
    pub fn memory() -> Arc<Downlink> {
        Downlink::with_sink(Sink::Memory(Vec::new()), usize::MAX, usize::MAX)
    }

    /// The messages recorded by a memory downlink since the last call, oldest first.
    #[must_use]
    pub fn take_messages(&self) -> Vec<Bytes> {
        match &mut self.state.lock().sink {
            Sink::Memory(m) => std::mem::take(m),
            Sink::Tcp(_) => Vec::new(),
        }
    }

    /// The reason the room dropped the player, if it did.
    #[must_use]
    pub fn kicked(&self) -> Option<DisconnectReason> {
        match self.state.lock().room {
            RoomSide::Kicked(r) => Some(r),
            _ => None,
        }
    }

    /// The room sends one binary message made of `parts` (the room's only way to write):
    /// written now if the socket takes it, else queued whole behind what waits, or skipped
    /// when `depth` frames wait already.
    pub fn send(&self, parts: [&[u8]; 2]) -> Sent {
        let len = parts[0].len() + parts[1].len();
        let mut guard = self.state.lock();
        let s = &mut *guard;
        if s.room != RoomSide::Open || s.failed.is_some() {
            return Sent::Closed;
        }
        let mut head = [0u8; 10];
        let head_len = ws_binary_header(len, &mut head);
        let total = head_len + len;
        let half = match &mut s.sink {
            Sink::Memory(m) => {
                let mut msg = BytesMut::with_capacity(len);
                msg.extend_from_slice(parts[0]);
                msg.extend_from_slice(parts[1]);
                m.push(msg.freeze());
                return Sent::Written;
            }
            Sink::Tcp(half) => half,
        };
        if !s.pending.is_empty() {
            if s.queued_frames >= self.depth || s.pending.len() + total > self.byte_cap {
                return Sent::Full;
            }
            s.pending.extend_from_slice(&head[..head_len]);
            s.pending.extend_from_slice(parts[0]);
            s.pending.extend_from_slice(parts[1]);
            s.queued_frames += 1;
            return Sent::Queued;
        }
        let bufs = [
            IoSlice::new(&head[..head_len]),
            IoSlice::new(parts[0]),
            IoSlice::new(parts[1]),
        ];
        let written = match half.try_write_vectored(&bufs) {
            Ok(n) if n == total => return Sent::Written,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
            Err(e) => {
                s.failed = Some(e.kind());
                drop(guard);
                self.session.wake();
                return Sent::Closed;
            }
        };
        // Queue the unwritten rest, in order, and have the session write it.
        let mut skip = written;
        for part in [&head[..head_len], parts[0], parts[1]] {
            if skip >= part.len() {
                skip -= part.len();
            } else {
                s.pending.extend_from_slice(&part[skip..]);
                skip = 0;
            }
        }
        s.queued_frames = 1;
        s.stalled_since = Some(Instant::now());
        drop(guard);
        self.session.wake();
        Sent::Queued
    }

    /// The room drops the player: the session closes with `reason`.
    pub fn kick(&self, reason: DisconnectReason) {
        {
            let mut s = self.state.lock();
            if s.room != RoomSide::Open {
                return;
            }
            s.room = RoomSide::Kicked(reason);
        }
        self.session.wake();
    }

    /// The room no longer holds the player (called when its slot is dropped).
    pub fn detach(&self) {
        {
            let mut s = self.state.lock();
            if s.room != RoomSide::Open {
                return;
            }
            s.room = RoomSide::Detached;
        }
        self.session.wake();
    }

    /// The session is closing: nothing from the room is written from now on.
    pub fn seal(&self) {
        let mut s = self.state.lock();
        if s.room == RoomSide::Open {
            s.room = RoomSide::Sealed;
        }
    }

    /// Since when the waiting bytes could not be written at all, if some wait.
    #[must_use]
    pub fn stalled_since(&self) -> Option<Instant> {
        self.state.lock().stalled_since
    }

    /// The session's side: writes what waits, and reports what it must act on. `Pending`
    /// once nothing waits or the socket is full (the session is woken when the room queues
    /// something, kicks or lets go, or when the socket can take more).
    pub fn poll_event(&self, cx: &mut Context<'_>) -> Poll<Event> {
        self.session.register(cx.waker());
        let mut s = self.state.lock();
        if let Err(e) = s.poll_write_pending(cx) {
            return Poll::Ready(Event::Failed(e));
        }
        match s.room {
            RoomSide::Kicked(r) => Poll::Ready(Event::Kicked(r)),
            RoomSide::Detached => Poll::Ready(Event::Detached),
            RoomSide::Open | RoomSide::Sealed => Poll::Pending,
        }
    }

    /// The session's write (through [`SessionIo`]): takes all of `buf` (writing what the
    /// socket takes and queueing the rest), or nothing while more than the byte cap waits.
    fn poll_write_session(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let mut guard = self.state.lock();
        let s = &mut *guard;
        s.poll_write_pending(cx)?;
        if !s.pending.is_empty() {
            if s.pending.len() + buf.len() > self.byte_cap {
                // The socket's waker is registered by the attempt above.
                return Poll::Pending;
            }
            s.pending.extend_from_slice(buf);
            return Poll::Ready(Ok(buf.len()));
        }
        let half = match &mut s.sink {
            Sink::Memory(_) => return Poll::Ready(Ok(buf.len())),
            Sink::Tcp(half) => half,
        };
        let written = match Pin::new(half).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => n,
            Poll::Ready(Err(e)) => {
                s.failed = Some(e.kind());
                return Poll::Ready(Err(e));
            }
            Poll::Pending => 0,
        };
        if written < buf.len() {
            s.pending.extend_from_slice(&buf[written..]);
            s.stalled_since = Some(Instant::now());
            // A frame of the room's arriving now waits behind this one; count it as one.
            s.queued_frames = s.queued_frames.max(1);
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush_session(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut s = self.state.lock();
        s.poll_write_pending(cx)?;
        if s.pending.is_empty() {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    }

    fn poll_shutdown_session(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut s = self.state.lock();
        s.poll_write_pending(cx)?;
        if !s.pending.is_empty() {
            return Poll::Pending;
        }
        match &mut s.sink {
            Sink::Tcp(half) => Pin::new(half).poll_shutdown(cx),
            Sink::Memory(_) => Poll::Ready(Ok(())),
        }
    }
}

impl State {
    /// Writes what waits as far as the socket takes it; on `Ok` either nothing waits or the
    /// socket's waker is registered with `cx`.
    fn poll_write_pending(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        if let Some(kind) = self.failed {
            return Err(kind.into());
        }
        let Sink::Tcp(half) = &mut self.sink else {
            return Ok(());
        };
        while !self.pending.is_empty() {
            match Pin::new(&mut *half).poll_write(cx, &self.pending) {
                Poll::Ready(Ok(0)) => {
                    self.failed = Some(io::ErrorKind::WriteZero);
                    return Err(io::ErrorKind::WriteZero.into());
                }
                Poll::Ready(Ok(n)) => {
                    self.pending.advance(n);
                    self.stalled_since = Some(Instant::now());
                }
                Poll::Ready(Err(e)) => {
                    self.failed = Some(e.kind());
                    return Err(e);
                }
                Poll::Pending => return Ok(()),
            }
        }
        self.queued_frames = 0;
        self.stalled_since = None;
        Ok(())
    }
}

/// The stream tungstenite runs on for an upgraded connection: reads from the socket, writes
/// through the connection's [`Downlink`], so that its frames and the room's never mix.
pub struct SessionIo {
    read: OwnedReadHalf,
    down: Arc<Downlink>,
}

impl SessionIo {
    /// The connection's downlink (for the room).
    #[must_use]
    pub fn downlink(&self) -> &Arc<Downlink> {
        &self.down
    }
}

impl AsyncRead for SessionIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.read).poll_read(cx, buf)
    }
}

impl AsyncWrite for SessionIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.down.poll_write_session(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.down.poll_flush_session(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.down.poll_shutdown_session(cx)
    }
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn memory_downlink_records_messages_until_the_room_lets_go() {
        let d = Downlink::memory();
        assert_eq!(d.send([b"ab", b"cd"]), Sent::Written);
        assert_eq!(d.take_messages(), vec![Bytes::from_static(b"abcd")]);
        d.kick(DisconnectReason::TooSlow);
        assert_eq!(d.kicked(), Some(DisconnectReason::TooSlow));
        assert_eq!(d.send([b"x", b""]), Sent::Closed);
        assert!(d.take_messages().is_empty());
    }
}
