//! The byte side of a game socket: the socket (or a test's memory link) and the queue of
//! bytes accepted but not written yet, under tungstenite's protocol state.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Read, Write};
use std::sync::Arc;
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use parking_lot::Mutex;

/// A test's end of a [`GameSocket::memory`](super::GameSocket::memory) connection.
#[derive(Clone, Debug, Default)]
pub struct MemoryLink(pub(super) Arc<Mutex<MemoryState>>);

#[derive(Debug, Default)]
pub(super) struct MemoryState {
    pub(super) to_client: Vec<Bytes>,
    pub(super) to_server: VecDeque<Bytes>,
    /// Cut by the test: reads fail as after a reset.
    pub(super) cut: bool,
}

impl MemoryLink {
    /// The binary messages the server sent since the last call, oldest first.
    #[must_use]
    pub fn take_messages(&self) -> Vec<Bytes> {
        std::mem::take(&mut self.0.lock().to_client)
    }

    /// Queues one binary message from the client (read by the room at its next tick).
    pub fn push(&self, message: impl Into<Bytes>) {
        self.0.lock().to_server.push_back(message.into());
    }

    /// Cuts the connection as a network failure would: the room's next read fails as after
    /// a reset (what was pushed and not read yet is lost with it).
    pub fn cut(&self) {
        let mut state = self.0.lock();
        state.cut = true;
        state.to_server.clear();
    }
}

pub(super) enum Sink {
    /// Out of the runtime: driven by the room, never waited on.
    Std(std::net::TcpStream),
    /// Registered with the runtime, for a task that waits on readiness (join, close).
    Tokio(Arc<tokio::net::TcpStream>),
    /// Test double.
    Memory(MemoryLink),
    /// Only while switching between the two socket forms.
    Switching,
}

impl Sink {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Sink::Std(s) => s.read(buf),
            Sink::Tokio(t) => t.try_read(buf),
            Sink::Memory(_) | Sink::Switching => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    pub(super) fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Std(s) => s.write(buf),
            Sink::Tokio(t) => t.try_write(buf),
            Sink::Memory(_) => Ok(buf.len()),
            Sink::Switching => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    pub(super) fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Sink::Std(s) => s.write_vectored(bufs),
            Sink::Tokio(t) => t.try_write_vectored(bufs),
            Sink::Memory(_) => Ok(bufs.iter().map(|b| b.len()).sum()),
            Sink::Switching => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

/// The socket with its queue of bytes not written yet.
pub(super) struct Io {
    pub(super) sink: Sink,
    /// Accepted, not yet written, in order (a frame may have been partly written). Only
    /// writing shortens it, never a drop or a trim: the room's default baselines
    /// (`Baselines::Sent`) are the last frame accepted, which the client must receive.
    pub(super) pending: BytesMut,
    /// Snapshot frames queued since the socket last caught up.
    pub(super) queued_frames: usize,
    /// Since when bytes have waited here without the queue ever emptying: the socket's
    /// kernel buffers (bounded) have been full that long, whatever the client acknowledged.
    pub(super) stalled_since: Option<Instant>,
    pub(super) depth: usize,
    pub(super) byte_cap: usize,
    pub(super) failed: Option<io::ErrorKind>,
    /// A read came back short: the socket held nothing more then. Further reads report
    /// `WouldBlock` without a system call until [`GameSocket::rearm`](super::GameSocket::rearm) (the next tick): saves the
    /// one empty `recv` per client and tick that would only say so.
    pub(super) drained: bool,
    /// Bytes that may still be read before the next [`GameSocket::rearm`](super::GameSocket::rearm).
    pub(super) read_budget: usize,
}

impl Io {
    pub(super) fn fail(&mut self, kind: io::ErrorKind) -> io::Error {
        self.failed = Some(kind);
        kind.into()
    }

    /// Writes what waits as far as the socket takes it; `true` once nothing waits.
    pub(super) fn drain(&mut self) -> io::Result<bool> {
        if let Some(kind) = self.failed {
            return Err(kind.into());
        }
        if matches!(self.sink, Sink::Memory(_)) {
            return Ok(true);
        }
        while !self.pending.is_empty() {
            match self.sink.write(&self.pending) {
                Ok(0) => return Err(self.fail(io::ErrorKind::WriteZero)),
                Ok(n) => self.pending.advance(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.fail(e.kind())),
            }
        }
        self.queued_frames = 0;
        self.stalled_since = None;
        Ok(true)
    }

    pub(super) fn queue(&mut self, parts: &[&[u8]], skip: usize) {
        let mut skip = skip;
        for part in parts {
            if skip >= part.len() {
                skip -= part.len();
            } else {
                self.pending.extend_from_slice(&part[skip..]);
                skip = 0;
            }
        }
        if self.stalled_since.is_none() {
            self.stalled_since = Some(Instant::now());
        }
    }
}

/// tungstenite's view of the socket: reads go to the socket, writes are accepted whole
/// (written now, or queued behind what waits), so its frames and the room's never mix.
impl Read for Io {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.drained || self.read_budget == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let cap = buf.len().min(self.read_budget);
        let n = self.sink.read(&mut buf[..cap])?;
        self.read_budget -= n;
        self.drained = n < cap;
        Ok(n)
    }
}

impl Write for Io {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(kind) = self.failed {
            return Err(kind.into());
        }
        if matches!(self.sink, Sink::Memory(_)) {
            return Ok(buf.len());
        }
        if !self.drain()? {
            if self.pending.len() + buf.len() > self.byte_cap {
                return Err(self.fail(io::ErrorKind::OutOfMemory));
            }
            self.queue(&[buf], 0);
            return Ok(buf.len());
        }
        let written = match taken(self.sink.write(buf)) {
            Ok(n) => n,
            Err(e) => return Err(self.fail(e.kind())),
        };
        if written < buf.len() {
            self.queue(&[buf], written);
            self.queued_frames = self.queued_frames.max(1);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What a non-blocking write took: 0 when the socket is full or the call was interrupted
/// (the caller queues the rest), or the error that ends the connection.
pub(super) fn taken(r: io::Result<usize>) -> io::Result<usize> {
    match r {
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
            ) =>
        {
            Ok(0)
        }
        r => r,
    }
}
