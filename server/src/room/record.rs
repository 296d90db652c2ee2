//! Recording a room: the tick pushes [`Record`]s into a bounded queue ([`Recorder`]) and a
//! writer thread encodes, compresses and writes them ([`RecordSink`]). The tick never waits
//! for the disk: when the queue is full the recording is cut (its file ends with an
//! incomplete `End` record) and the room plays on unrecorded.
//!
//! Files go to `DIR/ROOM-STARTMS.twr`; each is bounded in size (past `max_bytes` it is cut),
//! and the directory keeps the newest `max_files` replays (older ones are deleted as new
//! ones start). The format is in `docs/replay.md`.

use std::collections::HashSet;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use tickwire_shared::replay::{Encoder, Header, Record};
use tickwire_shared::Tick;
use tracing::{info, warn};

/// How often a writer drains its queue (a queue of 4,096 records holds about 40 s of a
/// room's ticks).
const WRITER_PERIOD: std::time::Duration = std::time::Duration::from_millis(50);

/// Where and how rooms record (`--record-dir` and its limits).
#[derive(Clone, Debug)]
pub struct RecordOptions {
    /// The directory of the replay files.
    pub dir: PathBuf,
    /// Records queued between the tick and the writer at most.
    pub queue: usize,
    /// Compressed bytes of one file at most (then the recording is cut).
    pub max_bytes: u64,
    /// Replay files kept in the directory at most (the oldest go first).
    pub max_files: usize,
    /// A world hash every this many ticks.
    pub hash_every: u32,
    /// A keyframe (the replicated state) every this many seconds (0: none).
    pub keyframe_secs: u32,
}

impl RecordOptions {
    /// Defaults for `dir`: 4,096 records queued, 256 MB a file, 200 files, a hash every
    /// tick, a keyframe every 5 s.
    #[must_use]
    pub fn new(dir: impl Into<PathBuf>) -> RecordOptions {
        RecordOptions {
            dir: dir.into(),
            queue: 4096,
            max_bytes: crate::room::replay_room::MAX_REPLAY_BYTES,
            max_files: 200,
            hash_every: 1,
            keyframe_secs: 5,
        }
    }
}

/// Counters of every recording of a server (exported at `/metrics`).
#[derive(Debug, Default)]
pub struct RecordStats {
    /// Recordings started.
    pub started: AtomicU64,
    /// Recordings cut because their queue was full (the disk did not keep up).
    pub cut_queue_full: AtomicU64,
    /// Recordings cut at their size bound.
    pub cut_size: AtomicU64,
    /// Recordings that failed to write (I/O error).
    pub failed: AtomicU64,
    /// Compressed bytes written.
    pub bytes: AtomicU64,
}

/// Starts recordings: shared by the rooms of a server (cheap to clone).
#[derive(Clone, Debug)]
pub struct RecordSink {
    opts: Arc<RecordOptions>,
    /// Counters.
    pub stats: Arc<RecordStats>,
    gate: Arc<Gate>,
    /// The files being written now: pruning never deletes them.
    live: Arc<LiveFiles>,
}

/// The paths of the recordings still being written.
type LiveFiles = parking_lot::Mutex<HashSet<PathBuf>>;

/// Takes a path out of [`LiveFiles`] when its writer ends, however it ends.
struct LiveGuard {
    live: Arc<LiveFiles>,
    path: PathBuf,
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.live.lock().remove(&self.path);
    }
}

/// Holds the writers back while closed (tests: a disk that does not keep up).
#[derive(Debug, Default)]
struct Gate {
    closed: Mutex<bool>,
    open: Condvar,
}

impl Gate {
    fn wait(&self) {
        let mut closed = self
            .closed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while *closed {
            closed = self
                .open
                .wait(closed)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }
    fn set(&self, closed: bool) {
        *self
            .closed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = closed;
        self.open.notify_all();
    }
}

/// The tick's side of one recording: a bounded queue to its writer.
#[derive(Debug)]
pub struct Recorder {
    tx: Option<SyncSender<Record>>,
    cut: Arc<Mutex<Option<(Tick, String)>>>,
    /// A hash record every this many ticks.
    pub hash_every: u32,
    /// A keyframe every this many ticks (0: none).
    pub keyframe_every: u32,
    /// The file being written.
    pub path: PathBuf,
    stats: Arc<RecordStats>,
}

impl Recorder {
    /// Queues a record, never waiting: `false` when this push found the queue full and cut
    /// the recording (later pushes are ignored).
    pub fn push(&mut self, tick: Tick, record: Record) -> bool {
        let Some(tx) = &self.tx else { return true };
        match tx.try_send(record) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                *self
                    .cut
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((
                    tick,
                    "the recording queue was full (the disk fell behind)".into(),
                ));
                self.tx = None;
                self.stats.cut_queue_full.fetch_add(1, Ordering::Relaxed);
                warn!(path = %self.path.display(), tick = tick.0, "recording cut: queue full");
                false
            }
            // The writer stopped (an I/O error or the size bound): nothing more to record.
            Err(TrySendError::Disconnected(_)) => {
                self.tx = None;
                true
            }
        }
    }

    /// Whether records still go to the file.
    #[must_use]
    pub fn active(&self) -> bool {
        self.tx.is_some()
    }
}

impl RecordSink {
    /// A sink writing under `opts.dir` (created if missing).
    ///
    /// # Errors
    /// The directory cannot be created.
    pub fn new(opts: RecordOptions) -> std::io::Result<RecordSink> {
        std::fs::create_dir_all(&opts.dir)?;
        Ok(RecordSink {
            opts: Arc::new(opts),
            stats: Arc::default(),
            gate: Arc::default(),
            live: Arc::default(),
        })
    }

    /// The options in force.
    #[must_use]
    pub fn options(&self) -> &RecordOptions {
        &self.opts
    }

    /// Holds every writer of this sink before its next write (`true`) or lets them go:
    /// a disk that stops keeping up, for tests.
    pub fn hold_writes(&self, hold: bool) {
        self.gate.set(hold);
    }

    /// Starts recording a room whose header (but for the options) is `header`: creates
    /// its file and writer thread. `None` (logged) when the file cannot be created.
    #[must_use]
    pub fn start(&self, mut header: Header) -> Option<Recorder> {
        let start_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        header.start_unix_ms = start_ms;
        header.hash_every = self.opts.hash_every.max(1);
        header.keyframe_every = self.opts.keyframe_secs * u32::from(header.config.tick_hz);
        let name: String = header
            .room
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        let path = self.opts.dir.join(format!("{name}-{start_ms}.twr"));
        prune(
            &self.opts.dir,
            self.opts.max_files.saturating_sub(1),
            &self.live.lock(),
        );
        let file = match File::create(&path) {
            Ok(f) => f,
            Err(e) => {
                warn!(path = %path.display(), error = %e, "cannot create the replay file");
                self.stats.failed.fetch_add(1, Ordering::Relaxed);
                return None;
            }
        };
        let enc = match Encoder::new(BufWriter::with_capacity(64 << 10, file), &header) {
            Ok(e) => e,
            Err(e) => {
                warn!(path = %path.display(), error = %e, "cannot write the replay file");
                self.stats.failed.fetch_add(1, Ordering::Relaxed);
                return None;
            }
        };
        let (tx, rx) = sync_channel(self.opts.queue.max(1));
        let cut = Arc::new(Mutex::new(None));
        let writer = Writer {
            enc,
            rx,
            cut: cut.clone(),
            max_bytes: self.opts.max_bytes,
            stats: self.stats.clone(),
            gate: self.gate.clone(),
            path: path.clone(),
            tick: Tick(0),
            _live: {
                self.live.lock().insert(path.clone());
                LiveGuard {
                    live: self.live.clone(),
                    path: path.clone(),
                }
            },
        };
        let spawned = std::thread::Builder::new()
            .name("replay-writer".into())
            .spawn(move || writer.run());
        if let Err(e) = spawned {
            warn!(error = %e, "cannot start a replay writer");
            self.stats.failed.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        self.stats.started.fetch_add(1, Ordering::Relaxed);
        info!(path = %path.display(), "recording");
        Some(Recorder {
            tx: Some(tx),
            cut,
            hash_every: header.hash_every,
            keyframe_every: header.keyframe_every,
            path,
            stats: self.stats.clone(),
        })
    }
}

/// Deletes the oldest finished replay files of `dir` until it holds `keep` at most; files
/// still being written (`live`) are never deleted, so while more rooms record at once than
/// `keep`, the directory holds those live files and nothing older.
fn prune(dir: &Path, keep: usize, live: &HashSet<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<(SystemTime, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "twr"))
        .filter(|e| !live.contains(&e.path()))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    if files.len() <= keep {
        return;
    }
    files.sort();
    let excess = files.len() - keep;
    for (_, path) in files.into_iter().take(excess) {
        if std::fs::remove_file(&path).is_ok() {
            info!(path = %path.display(), "old replay removed");
        }
    }
}

/// The writer thread of one recording.
struct Writer {
    enc: Encoder<BufWriter<File>>,
    rx: Receiver<Record>,
    cut: Arc<Mutex<Option<(Tick, String)>>>,
    max_bytes: u64,
    stats: Arc<RecordStats>,
    gate: Arc<Gate>,
    path: PathBuf,
    tick: Tick,
    /// Keeps the file out of pruning until the writer ends.
    _live: LiveGuard,
}

impl Writer {
    fn run(mut self) {
        let mut end: Option<(bool, String)> = None;
        loop {
            // The writer drains the queue every WRITER_PERIOD instead of waiting on it: a
            // tick's push then never wakes a thread (a wake-up can hand the tick's core to
            // the writer right there, in the middle of the tick).
            let record = match self.rx.try_recv() {
                Ok(r) => r,
                Err(TryRecvError::Empty) => {
                    std::thread::sleep(WRITER_PERIOD);
                    continue;
                }
                Err(TryRecvError::Disconnected) => break,
            };
            self.gate.wait();
            match &record {
                Record::Hash { tick, .. } | Record::Keyframe { tick, .. } => self.tick = *tick,
                Record::Tick { .. } => self.tick = self.tick.next(),
                _ => {}
            }
            if let Err(e) = self.enc.write(&record) {
                warn!(path = %self.path.display(), error = %e, "replay write failed");
                self.stats.failed.fetch_add(1, Ordering::Relaxed);
                return;
            }
            if self.enc.written() >= self.max_bytes {
                self.stats.cut_size.fetch_add(1, Ordering::Relaxed);
                end = Some((false, format!("size bound of {} bytes", self.max_bytes)));
                break;
            }
        }
        // The queue is closed: the room ended, or it cut the recording.
        self.gate.wait();
        let (complete, reason) = end.unwrap_or_else(|| {
            match self
                .cut
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take()
            {
                Some((at, why)) => (false, format!("cut at tick {}: {why}", at.0)),
                None => (true, "room closed".into()),
            }
        });
        let done = self
            .enc
            .write(&Record::End {
                tick: self.tick,
                complete,
                reason,
            })
            .and_then(|()| self.enc.finish());
        match done {
            Ok(_) => {
                let len = std::fs::metadata(&self.path).map_or(0, |m| m.len());
                self.stats.bytes.fetch_add(len, Ordering::Relaxed);
                info!(path = %self.path.display(), complete, "recording ended");
            }
            Err(e) => {
                warn!(path = %self.path.display(), error = %e, "replay finish failed");
                self.stats.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
