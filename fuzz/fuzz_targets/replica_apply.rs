//! A broken or hostile server must not crash a browser: arbitrary bytes, cut into a
//! sequence of server messages, are decoded and applied to one client replica. Decoding or
//! applying may fail; nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tickwire_shared::protocol::{codec, ServerMsg};
use std::sync::Arc;

use tickwire_shared::{Map, Replica, SimConfig};

fuzz_target!(|data: &[u8]| {
    let mut replica = Replica::new(SimConfig::default(), Arc::new(Map::open("fuzz", 2000.0)));
    let mut rest = data;
    // Each message: a 2-byte little-endian length, then that many bytes.
    while rest.len() >= 2 {
        let len = usize::from(u16::from_le_bytes([rest[0], rest[1]]));
        rest = &rest[2..];
        let (msg, tail) = rest.split_at(len.min(rest.len()));
        rest = tail;
        let _ = codec::read_snapshot_header(msg);
        if let Ok(ServerMsg::Snapshot(snap)) = codec::decode_server(msg) {
            let _ = replica.apply(&snap);
            let _ = replica.state();
        }
    }
});
