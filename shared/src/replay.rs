//! Recorded matches: the replay file format, its writer and reader, and the re-simulation
//! that verifies a file ([`verify`]). The format is documented in `docs/replay.md`.
//!
//! A replay records the *inputs*, not the states: the header holds everything
//! [`World::new`] needs (map, [`SimConfig`], seed), then each tick's world changes from
//! outside the step (joins, leaves, lost and resumed connections) and the inputs the step
//! applied, plus the world hash every `hash_every` ticks and the replicated state every
//! `keyframe_every` ticks. Re-simulating the inputs from the header must reproduce every
//! hash: [`verify::verify`] checks it, natively and in the browser build alike.
//!
//! ```text
//! file   = "TWREPLAY" header(bincode, uncompressed) lz4-frame(record*)
//! record = tag:u8 payload            (varints: bincode's standard configuration)
//!   1 Tick     n, n x (Δnet_id << 2 | how, [bytes]): how 0 = the PlayerInput's serde/bincode
//!              bytes, 1 = same input as this player's last, 2 = those bytes XOR the last's
//!              (same length: mostly zeros, which the compressor folds)
//!   2 Hash     Δtick, hash:u64 (the world hash after that tick's step)
//!   3 Join     net_id, name      4 Leave net_id     5 Lost net_id     6 Resumed net_id
//!   7 Keyframe Δtick, replicated state (Vec<(NetId, NetEntity)>)
//!   8 End      tick, complete:bool, reason
//! ```

pub mod verify;

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::sync::Arc;

use bincode::{Decode, Encode};

use crate::config::SimConfig;
use crate::entity::{EntityId, EntityKind, NetEntity, NetId};
use crate::input::PlayerInput;
use crate::map::Map;
use crate::tick::Tick;
use crate::world::World;

/// The first bytes of every replay file.
pub const MAGIC: &[u8; 8] = b"TWREPLAY";

/// Version of the file format ([`Header::format`]); any change to the layout bumps it.
pub const FORMAT_VERSION: u16 = 1;

/// Longest record a reader accepts, in bytes (a keyframe of 10,000 entities is ~300 KB).
const MAX_RECORD_BYTES: usize = 16 << 20;

type Cfg = bincode::config::Configuration;

const CFG: Cfg = bincode::config::standard();

fn limited() -> bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Varint,
    bincode::config::Limit<MAX_RECORD_BYTES>,
> {
    bincode::config::standard().with_limit::<MAX_RECORD_BYTES>()
}

/// What a replay starts from: everything [`World::new`] needs, and where it came from.
#[derive(Clone, Debug, PartialEq, Encode, Decode)]
pub struct Header {
    /// [`FORMAT_VERSION`] of the file.
    pub format: u16,
    /// The wire protocol version of the server that recorded it.
    pub protocol_version: u16,
    /// The room's code.
    pub room: String,
    /// The room's mode.
    pub mode: String,
    /// When the room started, milliseconds since the Unix epoch.
    pub start_unix_ms: u64,
    /// The map.
    pub map: Map,
    /// [`map_hash`] of the map (what the room played on, whatever its file became since).
    pub map_hash: u64,
    /// Gameplay constants.
    pub config: SimConfig,
    /// The world's seed.
    pub seed: u64,
    /// A [`Record::Hash`] every this many ticks.
    pub hash_every: u32,
    /// A [`Record::Keyframe`] every this many ticks (0: none).
    pub keyframe_every: u32,
}

impl Header {
    /// A header for a room playing `map` with `config` and `seed`.
    #[must_use]
    pub fn new(room: &str, mode: &str, map: &Map, config: &SimConfig, seed: u64) -> Header {
        Header {
            format: FORMAT_VERSION,
            protocol_version: crate::protocol::PROTOCOL_VERSION,
            room: room.into(),
            mode: mode.into(),
            start_unix_ms: 0,
            map: map.clone(),
            map_hash: map_hash(map),
            config: config.clone(),
            seed,
            hash_every: 1,
            keyframe_every: u32::from(config.tick_hz) * 5,
        }
    }

    /// The world the recording starts from.
    #[must_use]
    pub fn world(&self) -> World {
        World::new(self.config.clone(), Arc::new(self.map.clone()), self.seed)
    }
}

/// A 64-bit FNV-1a hash of the map's encoding.
#[must_use]
pub fn map_hash(map: &Map) -> u64 {
    let bytes = bincode::encode_to_vec(map, CFG).unwrap_or_default();
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// One entry of a replay, in the order the room did it.
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    /// One step of the simulation with the inputs it applied (one per player at most).
    Tick {
        /// The inputs, by the player's network id.
        inputs: Vec<(NetId, PlayerInput)>,
    },
    /// The world hash after the step that led to `tick`.
    Hash {
        /// The world's tick after the step.
        tick: Tick,
        /// [`World::hash`].
        hash: u64,
    },
    /// A player joined with this (cleaned) name and got `player`.
    Join {
        /// Its network id (checked on replay).
        player: NetId,
        /// The name shown.
        name: String,
    },
    /// A player left the world.
    Leave {
        /// Who.
        player: NetId,
    },
    /// A player's connection was lost: held for a resume ([`mark_lost`]).
    Lost {
        /// Who.
        player: NetId,
    },
    /// A held player's connection came back ([`mark_resumed`]).
    Resumed {
        /// Who.
        player: NetId,
    },
    /// The replicated state at `tick` (every entity's view, sorted by id): names the
    /// entities that differ when a hash does not match, and summarises a match.
    Keyframe {
        /// The tick.
        tick: Tick,
        /// The state.
        state: Arc<Vec<(NetId, NetEntity)>>,
    },
    /// The end of the recording.
    End {
        /// The world's tick at the end.
        tick: Tick,
        /// Whether the recording holds the whole match (false: cut, see `reason`).
        complete: bool,
        /// Why it ended.
        reason: String,
    },
}

const TAG_TICK: u8 = 1;
const TAG_HASH: u8 = 2;
const TAG_JOIN: u8 = 3;
const TAG_LEAVE: u8 = 4;
const TAG_LOST: u8 = 5;
const TAG_RESUMED: u8 = 6;
const TAG_KEYFRAME: u8 = 7;
const TAG_END: u8 = 8;

const HOW_SAME: u64 = 1;
const HOW_XOR: u64 = 2;

/// A player's connection was lost and the room holds it for a resume: it stands still
/// (keeping its aim) and fires nothing until it resumes. The server and the replay do this
/// through this one function.
pub fn mark_lost(world: &mut World, id: EntityId) {
    if let Some(EntityKind::Player(p)) = world.entities.get_mut(id).map(|e| &mut e.kind) {
        p.disconnected = true;
        p.input = PlayerInput {
            aim: p.input.aim,
            ..PlayerInput::default()
        };
    }
}

/// A held player's connection came back (see [`mark_lost`]).
pub fn mark_resumed(world: &mut World, id: EntityId) {
    if let Some(EntityKind::Player(p)) = world.entities.get_mut(id).map(|e| &mut e.kind) {
        p.disconnected = false;
    }
}

/// Why a replay could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// Reading failed.
    #[error("read failed: {0}")]
    Io(#[from] io::Error),
    /// Not a replay file.
    #[error("not a replay file (bad magic)")]
    Magic,
    /// A format this build does not read.
    #[error("replay format {0}, this build reads {FORMAT_VERSION}")]
    Format(u16),
    /// Undecodable bytes.
    #[error("corrupt replay: {0}")]
    Corrupt(String),
}

impl From<bincode::error::DecodeError> for ReplayError {
    fn from(e: bincode::error::DecodeError) -> ReplayError {
        match e {
            bincode::error::DecodeError::Io { inner, .. } => ReplayError::Io(inner),
            e => ReplayError::Corrupt(e.to_string()),
        }
    }
}

/// Writes a replay: the header, then [`Record`]s, compressed as they go (an LZ4 frame).
pub struct Encoder<W: Write> {
    out: lz4_flex::frame::FrameEncoder<CountingWriter<W>>,
    last_input: HashMap<NetId, (PlayerInput, Vec<u8>)>,
    input_buf: Vec<u8>,
    last_hash_tick: u32,
    last_keyframe_tick: u32,
    buf: Vec<u8>,
    raw_bytes: u64,
}

/// Counts the bytes written through it (the compressed size of a replay so far).
pub struct CountingWriter<W> {
    inner: W,
    written: u64,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn put<T: Encode>(buf: &mut Vec<u8>, v: T) {
    bincode::encode_into_std_write(v, buf, CFG).expect("encoding into a Vec cannot fail");
}

impl<W: Write> Encoder<W> {
    /// Starts a replay on `out` with `header`.
    ///
    /// # Errors
    /// Writing failed.
    pub fn new(mut out: W, header: &Header) -> io::Result<Encoder<W>> {
        out.write_all(MAGIC)?;
        let head = bincode::encode_to_vec(header, CFG).map_err(io::Error::other)?;
        out.write_all(&head)?;
        let written = (MAGIC.len() + head.len()) as u64;
        Ok(Encoder {
            out: lz4_flex::frame::FrameEncoder::new(CountingWriter {
                inner: out,
                written,
            }),
            last_input: HashMap::new(),
            input_buf: Vec::new(),
            last_hash_tick: 0,
            last_keyframe_tick: 0,
            buf: Vec::with_capacity(4096),
            raw_bytes: 0,
        })
    }

    /// Compressed bytes written so far (the compressor holds up to a block more).
    #[must_use]
    pub fn written(&self) -> u64 {
        self.out.get_ref().written
    }

    /// Bytes of records before compression.
    #[must_use]
    pub fn raw_bytes(&self) -> u64 {
        self.raw_bytes
    }

    /// Appends a record.
    ///
    /// # Errors
    /// Writing failed.
    pub fn write(&mut self, record: &Record) -> io::Result<()> {
        let b = &mut self.buf;
        b.clear();
        match record {
            Record::Tick { inputs } => {
                b.push(TAG_TICK);
                put(b, inputs.len() as u32);
                let mut prev = 0u32;
                for (id, input) in inputs {
                    let delta = u64::from(id.0.wrapping_sub(prev));
                    prev = id.0;
                    let last = self.last_input.entry(*id).or_default();
                    if last.0 == *input && !last.1.is_empty() {
                        put(b, (delta << 2) | HOW_SAME);
                        continue;
                    }
                    let now = &mut self.input_buf;
                    now.clear();
                    bincode::serde::encode_into_std_write(input, now, CFG)
                        .map_err(io::Error::other)?;
                    if now.len() == last.1.len() {
                        put(b, (delta << 2) | HOW_XOR);
                        b.extend(now.iter().zip(&last.1).map(|(x, y)| x ^ y));
                    } else {
                        put(b, delta << 2);
                        b.extend_from_slice(now);
                    }
                    last.0 = *input;
                    std::mem::swap(&mut last.1, now);
                }
            }
            Record::Hash { tick, hash } => {
                b.push(TAG_HASH);
                put(b, tick.0.wrapping_sub(self.last_hash_tick));
                self.last_hash_tick = tick.0;
                b.extend_from_slice(&hash.to_le_bytes());
            }
            Record::Join { player, name } => {
                b.push(TAG_JOIN);
                put(b, player.0);
                put(b, name.as_str());
            }
            Record::Leave { player } => {
                b.push(TAG_LEAVE);
                put(b, player.0);
                self.last_input.remove(player);
            }
            Record::Lost { player } => {
                b.push(TAG_LOST);
                put(b, player.0);
            }
            Record::Resumed { player } => {
                b.push(TAG_RESUMED);
                put(b, player.0);
            }
            Record::Keyframe { tick, state } => {
                b.push(TAG_KEYFRAME);
                put(b, tick.0.wrapping_sub(self.last_keyframe_tick));
                self.last_keyframe_tick = tick.0;
                put(b, state.as_slice());
            }
            Record::End {
                tick,
                complete,
                reason,
            } => {
                b.push(TAG_END);
                put(b, tick.0);
                put(b, *complete);
                put(b, reason.as_str());
            }
        }
        self.raw_bytes += b.len() as u64;
        self.out.write_all(b)
    }

    /// Ends the compressed stream and returns the writer.
    ///
    /// # Errors
    /// Writing failed.
    pub fn finish(self) -> io::Result<W> {
        let mut counting = self.out.finish().map_err(io::Error::other)?;
        counting.flush()?;
        Ok(counting.inner)
    }
}

/// Reads a replay: [`Reader::header`], then [`Reader::next`] record after record.
pub struct Reader<R: Read> {
    header: Header,
    input: lz4_flex::frame::FrameDecoder<R>,
    last_input: HashMap<NetId, (PlayerInput, Vec<u8>)>,
    last_hash_tick: u32,
    last_keyframe_tick: u32,
}

/// Keeps the bytes read through it.
struct Recording<'a, R> {
    inner: &'a mut R,
    bytes: Vec<u8>,
}

impl<R: Read> Read for Recording<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

fn get<T: Decode<()>, R: Read>(r: &mut R) -> Result<T, ReplayError> {
    Ok(bincode::decode_from_std_read(r, limited())?)
}

fn net_id<R: Read>(r: &mut R) -> Result<NetId, ReplayError> {
    Ok(NetId(get::<u32, R>(r)?))
}

/// Refuses a header the simulation cannot run (a file is untrusted: a map without spawn
/// points, a config of NaN or absurd sizes would panic or blow up the re-simulation).
fn check_header(h: &Header) -> Result<(), ReplayError> {
    h.map
        .validate()
        .map_err(|e| ReplayError::Corrupt(format!("header: {e}")))?;
    let c = &h.config;
    if !(1..=240).contains(&c.tick_hz) {
        return Err(ReplayError::Corrupt(format!(
            "header: tick_hz {} (1 to 240)",
            c.tick_hz
        )));
    }
    let sizes = [
        c.player_radius,
        c.player_speed,
        c.projectile_speed,
        c.projectile_radius,
        c.projectile_lifetime_s,
        c.fire_cooldown_s,
        c.respawn_delay_s,
        c.pickup_radius,
        c.pickup_respawn_s,
        c.max_rewind_s,
        c.dash_speed,
        c.dash_s,
        c.dash_cooldown_s,
    ];
    if !sizes
        .iter()
        .all(|v| v.is_finite() && (0.0..=1e6).contains(v))
    {
        return Err(ReplayError::Corrupt(
            "header: a gameplay constant is negative, not finite or absurd".into(),
        ));
    }
    if c.max_rewind_s > 60.0 {
        return Err(ReplayError::Corrupt(
            "header: max_rewind_s over 60 s".into(),
        ));
    }
    Ok(())
}

/// Refuses an input that [`PlayerInput::from_wire`] could not have made (non-finite or
/// longer than 1, unknown buttons).
fn check_input(id: NetId, i: &PlayerInput) -> Result<(), ReplayError> {
    let ok = i.move_dir.is_finite()
        && i.move_dir.length_squared() <= 1.0 + 1e-4
        && i.buttons.0 & !crate::input::Buttons::ALL.0 == 0;
    if ok {
        Ok(())
    } else {
        Err(ReplayError::Corrupt(format!(
            "input of {} is not one a client could send",
            id.0
        )))
    }
}

impl<R: Read> Reader<R> {
    /// Opens a replay: checks the magic and the format, reads the header.
    ///
    /// # Errors
    /// Not a replay, another format, or unreadable.
    pub fn new(mut input: R) -> Result<Reader<R>, ReplayError> {
        let mut magic = [0u8; 8];
        input.read_exact(&mut magic)?;
        if &magic != MAGIC {
            return Err(ReplayError::Magic);
        }
        let header: Header = get(&mut input)?;
        if header.format != FORMAT_VERSION {
            return Err(ReplayError::Format(header.format));
        }
        check_header(&header)?;
        Ok(Reader {
            header,
            input: lz4_flex::frame::FrameDecoder::new(input),
            last_input: HashMap::new(),
            last_hash_tick: 0,
            last_keyframe_tick: 0,
        })
    }

    /// The header.
    #[must_use]
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The next record; `None` at the end of the file (a file cut short, e.g. by a crash,
    /// ends without an [`Record::End`]).
    ///
    /// # Errors
    /// Corrupt or unreadable bytes.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Record>, ReplayError> {
        let mut tag = [0u8; 1];
        match self.input.read(&mut tag) {
            Ok(0) => return Ok(None),
            Ok(_) => {}
            // A frame cut short (the process died mid-block): the end of what is readable.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        let r = &mut self.input;
        let record = match tag[0] {
            TAG_TICK => {
                let n: u32 = get(r)?;
                if n as usize > MAX_RECORD_BYTES {
                    return Err(ReplayError::Corrupt(format!("{n} inputs in a tick")));
                }
                // The count is the file's word: room made as inputs are actually read.
                let mut inputs = Vec::with_capacity((n as usize).min(1024));
                let mut prev = 0u32;
                for _ in 0..n {
                    let v: u64 = get(r)?;
                    let id = NetId(prev.wrapping_add((v >> 2) as u32));
                    prev = id.0;
                    let last = self.last_input.entry(id).or_default();
                    let input = match v & 3 {
                        HOW_SAME if !last.1.is_empty() => last.0,
                        0 => {
                            // Read through a recording reader to keep the bytes.
                            let mut rec = Recording {
                                inner: r,
                                bytes: Vec::new(),
                            };
                            let i: PlayerInput =
                                bincode::serde::decode_from_std_read(&mut rec, limited())?;
                            *last = (i, rec.bytes);
                            i
                        }
                        HOW_XOR if !last.1.is_empty() => {
                            let mut now = vec![0u8; last.1.len()];
                            r.read_exact(&mut now)?;
                            now.iter_mut().zip(&last.1).for_each(|(x, y)| *x ^= y);
                            let (i, _): (PlayerInput, usize) =
                                bincode::serde::decode_from_slice(&now, limited())?;
                            *last = (i, now);
                            i
                        }
                        how => {
                            return Err(ReplayError::Corrupt(format!(
                                "input of {} coded {how} without a previous one",
                                id.0
                            )))
                        }
                    };
                    check_input(id, &input)?;
                    inputs.push((id, input));
                }
                Record::Tick { inputs }
            }
            TAG_HASH => {
                let d: u32 = get(r)?;
                let tick = Tick(self.last_hash_tick.wrapping_add(d));
                self.last_hash_tick = tick.0;
                let mut h = [0u8; 8];
                r.read_exact(&mut h)?;
                Record::Hash {
                    tick,
                    hash: u64::from_le_bytes(h),
                }
            }
            TAG_JOIN => Record::Join {
                player: net_id(r)?,
                name: get(r)?,
            },
            TAG_LEAVE => {
                let player = net_id(r)?;
                self.last_input.remove(&player);
                Record::Leave { player }
            }
            TAG_LOST => Record::Lost { player: net_id(r)? },
            TAG_RESUMED => Record::Resumed { player: net_id(r)? },
            TAG_KEYFRAME => {
                let d: u32 = get(r)?;
                let tick = Tick(self.last_keyframe_tick.wrapping_add(d));
                self.last_keyframe_tick = tick.0;
                let state: Vec<(NetId, NetEntity)> = get(r)?;
                Record::Keyframe {
                    tick,
                    state: Arc::new(state),
                }
            }
            TAG_END => Record::End {
                tick: Tick(get(r)?),
                complete: get(r)?,
                reason: get(r)?,
            },
            t => return Err(ReplayError::Corrupt(format!("unknown record tag {t}"))),
        };
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::Buttons;

    #[test]
    fn records_round_trip() {
        let map = Map::open("t", 500.0);
        let header = Header::new("ROOM", "arena", &map, &SimConfig::default(), 3);
        let input = |x: f32| PlayerInput {
            move_dir: glam::Vec2::new(x, 0.0),
            aim: 7,
            buttons: Buttons::FIRE,
            view: None,
        };
        let records = vec![
            Record::Join {
                player: NetId(3),
                name: "a".into(),
            },
            Record::Tick {
                inputs: vec![(NetId(3), input(1.0)), (NetId(9), input(0.5))],
            },
            Record::Tick {
                inputs: vec![(NetId(3), input(1.0)), (NetId(9), input(-0.5))],
            },
            Record::Hash {
                tick: Tick(2),
                hash: 0xdead_beef_0123,
            },
            Record::Lost { player: NetId(3) },
            Record::Resumed { player: NetId(3) },
            Record::Keyframe {
                tick: Tick(2),
                state: Arc::new(Vec::new()),
            },
            Record::Leave { player: NetId(9) },
            Record::End {
                tick: Tick(2),
                complete: true,
                reason: "room closed".into(),
            },
        ];
        let mut enc = Encoder::new(Vec::new(), &header).unwrap();
        for r in &records {
            enc.write(r).unwrap();
        }
        let bytes = enc.finish().unwrap();
        let mut reader = Reader::new(bytes.as_slice()).unwrap();
        assert_eq!(reader.header(), &header);
        let mut back = Vec::new();
        while let Some(r) = reader.next().unwrap() {
            back.push(r);
        }
        assert_eq!(back, records);
        assert!(matches!(
            Reader::new(&b"NOTAREPLAY"[..]),
            Err(ReplayError::Magic)
        ));
    }

    /// A file whose map has no spawn point: its first join would divide by zero in the
    /// re-simulation (a panic in `tickwire-replay`, in a replay room's load).
    #[test]
    fn a_header_the_simulation_cannot_run_is_refused() {
        let mut map = Map::open("t", 500.0);
        map.spawns.clear();
        let mut header = Header::new("ROOM", "arena", &map, &SimConfig::default(), 3);
        let file = |header: &Header| {
            let mut enc = Encoder::new(Vec::new(), header).unwrap();
            enc.write(&Record::Join {
                player: NetId(1),
                name: "a".into(),
            })
            .unwrap();
            enc.finish().unwrap()
        };
        assert!(matches!(
            Reader::new(file(&header).as_slice()),
            Err(ReplayError::Corrupt(_))
        ));
        header.map = Map::open("t", 500.0);
        assert!(Reader::new(file(&header).as_slice()).is_ok());
        for bad in [f32::NAN, f32::INFINITY, -1.0, 1e30] {
            let mut h = header.clone();
            h.config.max_rewind_s = bad;
            assert!(Reader::new(file(&h).as_slice()).is_err(), "{bad}");
        }
        let mut h = header.clone();
        h.config.tick_hz = 0;
        assert!(Reader::new(file(&h).as_slice()).is_err());
    }

    #[test]
    fn an_input_no_client_could_send_is_refused() {
        let header = Header::new(
            "ROOM",
            "arena",
            &Map::open("t", 500.0),
            &SimConfig::default(),
            3,
        );
        for dir in [
            glam::Vec2::new(f32::NAN, 0.0),
            glam::Vec2::new(f32::INFINITY, 0.0),
            glam::Vec2::new(1e9, 0.0),
        ] {
            let mut enc = Encoder::new(Vec::new(), &header).unwrap();
            let input = PlayerInput {
                move_dir: dir,
                ..PlayerInput::default()
            };
            enc.write(&Record::Tick {
                inputs: vec![(NetId(1), input)],
            })
            .unwrap();
            let bytes = enc.finish().unwrap();
            let mut reader = Reader::new(bytes.as_slice()).unwrap();
            assert!(
                matches!(reader.next(), Err(ReplayError::Corrupt(_))),
                "{dir}"
            );
        }
    }
}
