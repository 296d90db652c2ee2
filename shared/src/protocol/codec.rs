//! THE codec: every byte that crosses the network is encoded and decoded here, with one
//! bincode configuration and hard limits.
//!
//! Decoding untrusted bytes without a limit lets a 14-byte message claim a terabyte and
//! abort the process, so every decode here uses `with_limit`, and a message must be consumed
//! exactly (trailing bytes are an error).
//!
//! Frames:
//! - client to server: `bincode(ClientMsg)`;
//! - server to client: one tag byte, then for a snapshot a fixed 12-byte header
//!   (`tick: u32 LE`, `baseline age: u32 LE` with 0 meaning a full state, `last input seq:
//!   u32 LE`) and `bincode(SnapshotBody)`; for other messages `bincode(payload)`.

use bincode::config::{self, Config};
use bincode::{Decode, Encode};

use super::id_gaps::IdGaps;
use super::snapshot::{Snapshot, SnapshotBody, SnapshotHeader};
use super::{ClientMsg, Disconnect, Pong, ServerMsg, Welcome};
use crate::entity::{NetEntity, NetId, NetPatch};
use crate::sim::TickEvent;
use crate::tick::Tick;

/// Largest client message the server accepts, in bytes (inputs are 18 to 30).
pub const MAX_CLIENT_MSG_BYTES: usize = 256;
/// Largest server message a client accepts, in bytes.
pub const MAX_SERVER_MSG_BYTES: usize = 16 << 20;
/// Bytes before the body of a snapshot frame (tag + header).
pub const SNAPSHOT_HEADER_LEN: usize = 13;

const CLIENT_DECODE_LIMIT: usize = 4 * 1024;
const SERVER_DECODE_LIMIT: usize = 64 << 20;

/// Tag byte of a [`ServerMsg::Welcome`] frame.
pub const TAG_WELCOME: u8 = 0;
/// Tag byte of a [`ServerMsg::Snapshot`] frame.
pub const TAG_SNAPSHOT: u8 = 1;
/// Tag byte of a [`ServerMsg::Pong`] frame.
pub const TAG_PONG: u8 = 2;
/// Tag byte of a [`ServerMsg::Disconnect`] frame.
pub const TAG_DISCONNECT: u8 = 3;

type Wire = config::Configuration<config::LittleEndian, config::Varint, config::NoLimit>;

fn wire() -> Wire {
    config::standard()
}

/// Why bytes were not a valid message.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Zero bytes.
    #[error("empty message")]
    Empty,
    /// More bytes than any valid message of this direction.
    #[error("message of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Message length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// An unknown server message tag.
    #[error("unknown message tag {0}")]
    UnknownTag(u8),
    /// Shorter than its fixed header.
    #[error("message truncated")]
    Truncated,
    /// Bytes left over after a complete message.
    #[error("{extra} trailing bytes after a {consumed}-byte message")]
    TrailingBytes {
        /// Bytes the message used.
        consumed: usize,
        /// Bytes left over.
        extra: usize,
    },
    /// bincode refused the bytes (bad tag, bad UTF-8, over the limit, truncated...).
    #[error("undecodable: {}", describe(.0))]
    Bincode(#[from] bincode::error::DecodeError),
}

/// What bincode refused, in words a person reads in a close reason or a log (bincode's own
/// `Display` prints its `Debug` form).
fn describe(e: &bincode::error::DecodeError) -> String {
    use bincode::error::DecodeError as E;
    match e {
        E::UnexpectedEnd { .. } => "the message ends too soon".into(),
        E::LimitExceeded => "a length in the message is over the limit".into(),
        E::UnexpectedVariant {
            type_name, found, ..
        } => {
            let name = type_name.rsplit("::").next().unwrap_or(type_name);
            format!("unknown {name} kind {found}")
        }
        E::Utf8 { .. } => "text that is not valid UTF-8".into(),
        E::InvalidCharEncoding(_) => "a character that is not valid Unicode".into(),
        E::InvalidBooleanValue(v) => format!("{v} where a yes/no value belongs"),
        E::InvalidIntegerType { .. } | E::NonZeroTypeIsZero { .. } => {
            "a number of the wrong form".into()
        }
        E::OutsideUsizeRange(_) | E::ArrayLengthMismatch { .. } => "a length out of range".into(),
        E::Other(s) => (*s).to_owned(),
        E::OtherString(s) => s.clone(),
        _ => "bytes that are not a message".into(),
    }
}

fn decode_exact<T: Decode<()>, C: Config>(bytes: &[u8], config: C) -> Result<T, DecodeError> {
    let (value, consumed) = bincode::decode_from_slice(bytes, config)?;
    if consumed != bytes.len() {
        return Err(DecodeError::TrailingBytes {
            consumed,
            extra: bytes.len() - consumed,
        });
    }
    Ok(value)
}

fn encode_into<T: Encode>(value: &T, out: &mut Vec<u8>) {
    bincode::encode_into_std_write(value, out, wire())
        .expect("encoding into a Vec cannot fail: no I/O, no size limit");
}

/// Encodes a client message.
#[must_use]
pub fn encode_client(msg: &ClientMsg) -> Vec<u8> {
    let mut out = Vec::with_capacity(32);
    encode_into(msg, &mut out);
    out
}

/// Decodes a client message: the only way the server reads client bytes.
///
/// # Errors
/// [`DecodeError`] for anything but exactly one valid message within the limits.
pub fn decode_client(bytes: &[u8]) -> Result<ClientMsg, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    if bytes.len() > MAX_CLIENT_MSG_BYTES {
        return Err(DecodeError::TooLarge {
            len: bytes.len(),
            max: MAX_CLIENT_MSG_BYTES,
        });
    }
    decode_exact(bytes, wire().with_limit::<CLIENT_DECODE_LIMIT>())
}

/// The protocol version of a `Join` message, read from its first fields only: lets the
/// server refuse a client of another version with a clear reason even when the rest of
/// its message does not decode.
#[must_use]
pub fn peek_join_version(bytes: &[u8]) -> Option<u16> {
    if bytes.len() > MAX_CLIENT_MSG_BYTES {
        return None;
    }
    let ((tag, version), _): ((u32, u16), usize) =
        bincode::decode_from_slice(bytes, wire().with_limit::<64>()).ok()?;
    // `Join` (0), `Resume` (3) and `Watch` (4) put the version first.
    matches!(tag, 0 | 3 | 4).then_some(version)
}

/// Encodes a server message (snapshots: see [`encode_body`] and [`write_snapshot_frame`],
/// which let many clients share one body).
#[must_use]
pub fn encode_server(msg: &ServerMsg) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    match msg {
        ServerMsg::Welcome(w) => {
            out.push(TAG_WELCOME);
            encode_into(w, &mut out);
        }
        ServerMsg::Snapshot(s) => {
            let mut body = Vec::new();
            encode_body(&s.body, &mut body);
            write_snapshot_frame(&s.header, &body, &mut out);
        }
        ServerMsg::Pong(p) => {
            out.push(TAG_PONG);
            encode_into(p, &mut out);
        }
        ServerMsg::Disconnect(d) => {
            out.push(TAG_DISCONNECT);
            encode_into(d, &mut out);
        }
    }
    out
}

/// Appends the encoding of a snapshot body to `out` (its changes as one chunk).
pub fn encode_body(body: &SnapshotBody, out: &mut Vec<u8>) {
    // The whole body as one chunk: the layout chunked bodies use too.
    write_body_start(body.state_hash, 1, out);
    encode_chunk(body, out);
    encode_events(&body.events, out);
}

/// A body assembled from chunks encoded apart (see [`SnapshotBody`]): write this start,
/// then `chunks` chunks ([`encode_chunk`]), then the events ([`encode_events`]).
pub fn write_body_start(state_hash: u32, chunks: usize, out: &mut Vec<u8>) {
    out.extend_from_slice(&state_hash.to_le_bytes());
    push_varint(chunks as u64, out);
}

/// Appends one chunk of a body: the three lists of `changes` (its events and hash are not
/// part of a chunk).
pub fn encode_chunk(changes: &SnapshotBody, out: &mut Vec<u8>) {
    struct Chunk<'a>(&'a SnapshotBody);
    impl Encode for Chunk<'_> {
        fn encode<E: bincode::enc::Encoder>(
            &self,
            e: &mut E,
        ) -> Result<(), bincode::error::EncodeError> {
            crate::protocol::snapshot::encode_chunk(self.0, e)
        }
    }
    encode_into(&Chunk(changes), out);
}

/// Appends what follows an id in a chunk's spawn list: the entity.
pub fn encode_spawn_rest(entity: &NetEntity, out: &mut Vec<u8>) {
    encode_into(entity, out);
}

/// Appends what follows an id in a chunk's patch list: the patch (see
/// [`SnapshotBody::patches`] for the position offset).
pub fn encode_patch_rest(patch: &NetPatch, out: &mut Vec<u8>) {
    encode_into(patch, out);
}

/// Appends `v` as the wire's variable-length integer (bincode's varint, as every length
/// and id gap travels), written directly: these are the hot bytes of per-client chunks.
fn push_varint(v: u64, out: &mut Vec<u8>) {
    if v < 251 {
        out.push(v as u8);
    } else if let Ok(v) = u16::try_from(v) {
        out.push(251);
        out.extend_from_slice(&v.to_le_bytes());
    } else if let Ok(v) = u32::try_from(v) {
        out.push(252);
        out.extend_from_slice(&v.to_le_bytes());
    } else {
        out.push(253);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// Appends a list of a chunk assembled from encoded entries: its length, then each entry's
/// id as its gap from the one before ([`IdGaps`]) and the entry's encoded rest
/// ([`encode_spawn_rest`], [`encode_patch_rest`]; nothing for a despawn). Ids must strictly
/// increase.
pub fn write_id_list<'a>(
    entries: impl ExactSizeIterator<Item = (NetId, &'a [u8])>,
    out: &mut Vec<u8>,
) {
    push_varint(entries.len() as u64, out);
    let mut gaps = IdGaps::default();
    for (id, rest) in entries {
        let gap = gaps.gap(id).expect("chunk ids must strictly increase");
        push_varint(u64::from(gap), out);
        out.extend_from_slice(rest);
    }
}

/// Appends the end of a body assembled from chunks: its events.
pub fn encode_events(events: &[TickEvent], out: &mut Vec<u8>) {
    encode_into(&events, out);
}

/// The fixed start of a snapshot frame: tag, tick, baseline age, last input sequence. A
/// snapshot frame is these bytes followed by the encoded body, so a server can send one
/// shared body behind each client's own header without copying it.
#[must_use]
pub fn snapshot_header_bytes(header: &SnapshotHeader) -> [u8; SNAPSHOT_HEADER_LEN] {
    let mut out = [0u8; SNAPSHOT_HEADER_LEN];
    out[0] = TAG_SNAPSHOT;
    out[1..5].copy_from_slice(&header.tick.0.to_le_bytes());
    let age = header.baseline.map_or(0, |b| header.tick.since(b));
    out[5..9].copy_from_slice(&age.to_le_bytes());
    out[9..13].copy_from_slice(&header.last_input_seq.to_le_bytes());
    out
}

/// Appends a complete snapshot frame (tag, header, then the already encoded body) to `out`.
pub fn write_snapshot_frame(header: &SnapshotHeader, body: &[u8], out: &mut Vec<u8>) {
    out.reserve(SNAPSHOT_HEADER_LEN + body.len());
    out.extend_from_slice(&snapshot_header_bytes(header));
    out.extend_from_slice(body);
}

/// Reads the fixed header of a snapshot frame without touching the body; `None` when the
/// frame is not a snapshot or is too short.
#[must_use]
pub fn read_snapshot_header(bytes: &[u8]) -> Option<SnapshotHeader> {
    if bytes.len() < SNAPSHOT_HEADER_LEN || bytes[0] != TAG_SNAPSHOT {
        return None;
    }
    let word = |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    let tick = Tick(word(1));
    let age = word(5);
    Some(SnapshotHeader {
        tick,
        baseline: (age != 0).then(|| tick.minus(age)),
        last_input_seq: word(9),
    })
}

/// Decodes a server message (clients treat server bytes as untrusted too).
///
/// # Errors
/// [`DecodeError`] for anything but exactly one valid message within the limits.
pub fn decode_server(bytes: &[u8]) -> Result<ServerMsg, DecodeError> {
    let Some(&tag) = bytes.first() else {
        return Err(DecodeError::Empty);
    };
    if bytes.len() > MAX_SERVER_MSG_BYTES {
        return Err(DecodeError::TooLarge {
            len: bytes.len(),
            max: MAX_SERVER_MSG_BYTES,
        });
    }
    let limit = wire().with_limit::<SERVER_DECODE_LIMIT>();
    let rest = &bytes[1..];
    Ok(match tag {
        TAG_WELCOME => ServerMsg::Welcome(decode_exact::<Welcome, _>(rest, limit)?),
        TAG_SNAPSHOT => {
            let header = read_snapshot_header(bytes).ok_or(DecodeError::Truncated)?;
            let body = decode_exact(&bytes[SNAPSHOT_HEADER_LEN..], limit)?;
            ServerMsg::Snapshot(Snapshot { header, body })
        }
        TAG_PONG => ServerMsg::Pong(decode_exact::<Pong, _>(rest, limit)?),
        TAG_DISCONNECT => ServerMsg::Disconnect(decode_exact::<Disconnect, _>(rest, limit)?),
        other => return Err(DecodeError::UnknownTag(other)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::{Buttons, InputMsg};
    use crate::protocol::Join;

    #[test]
    fn length_prefix_bomb_is_refused_not_allocated() {
        // Join { version: 1, name: <claims 2^40 bytes> }
        let mut bomb = vec![0u8, 1];
        bomb.push(253); // u64 varint marker
        bomb.extend_from_slice(&(1u64 << 40).to_le_bytes());
        assert!(matches!(decode_client(&bomb), Err(DecodeError::Bincode(_))));
    }

    #[test]
    fn refusals_read_as_sentences_not_debug_dumps() {
        let join = |name: &str| {
            encode_client(&ClientMsg::Join(Join {
                version: 1,
                name: name.into(),
                seat: None,
            }))
        };
        let mut bad_utf8 = join("ab");
        let at = bad_utf8.windows(2).position(|w| w == b"ab").unwrap();
        bad_utf8[at..at + 2].copy_from_slice(&[0xFF, 0xFE]);
        let mut bad_tag = encode_client(&ClientMsg::Ping(super::super::Ping { id: 7 }));
        bad_tag[0] = 9;
        let mut truncated = join("abc");
        truncated.truncate(truncated.len() - 2);
        let mut bomb = vec![0u8, 1, 253];
        bomb.extend_from_slice(&(1u64 << 40).to_le_bytes());
        for (bytes, says) in [
            (bad_utf8, "not valid UTF-8"),
            (bad_tag, "kind 9"),
            (truncated, "ends too soon"),
            (bomb, "over the limit"),
        ] {
            let text = decode_client(&bytes).unwrap_err().to_string();
            assert!(text.contains(says), "{text}");
            assert!(!text.contains(['{', '}']), "no debug dump: {text}");
        }
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let mut b = encode_client(&ClientMsg::Ping(super::super::Ping { id: 7 }));
        b.push(0);
        assert!(matches!(
            decode_client(&b),
            Err(DecodeError::TrailingBytes { .. })
        ));
    }

    #[test]
    fn join_version_is_readable_alone() {
        let b = encode_client(&ClientMsg::Join(Join {
            version: 999,
            name: "x".into(),
            seat: None,
        }));
        assert_eq!(peek_join_version(&b), Some(999));
        let input = encode_client(&ClientMsg::Input(InputMsg {
            seq: 1,
            tick: Tick(1),
            ack: None,
            buttons: Buttons(0),
            move_x: 0.0,
            move_y: 0.0,
            aim: 0.0,
            view: None,
        }));
        assert_eq!(peek_join_version(&input), None);
    }

    #[test]
    fn direct_varints_are_bincodes() {
        for v in [
            0u64,
            1,
            250,
            251,
            252,
            65_535,
            65_536,
            u64::from(u32::MAX),
            u64::from(u32::MAX) + 1,
            u64::MAX,
        ] {
            let (mut ours, mut theirs) = (Vec::new(), Vec::new());
            push_varint(v, &mut ours);
            encode_into(&v, &mut theirs);
            assert_eq!(ours, theirs, "{v}");
            if let Ok(small) = u32::try_from(v) {
                let mut as_u32 = Vec::new();
                encode_into(&small, &mut as_u32);
                assert_eq!(ours, as_u32, "{v} as u32");
            }
        }
    }

    #[test]
    fn snapshot_header_round_trips() {
        let header = SnapshotHeader {
            tick: Tick(5),
            baseline: Some(Tick(u32::MAX)),
            last_input_seq: 42,
        };
        let (mut out, mut body) = (Vec::new(), Vec::new());
        encode_body(&SnapshotBody::default(), &mut body);
        write_snapshot_frame(&header, &body, &mut out);
        assert_eq!(read_snapshot_header(&out), Some(header));
        match decode_server(&out).unwrap() {
            ServerMsg::Snapshot(s) => assert_eq!(s.header, header),
            other => panic!("{other:?}"),
        }
    }
}
