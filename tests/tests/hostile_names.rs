//! Names that hide or impersonate (docs: operations.md, "Player names"): each class of
//! hostile name as other players see it on real sockets, and refusals a person can read.

mod common;

use std::collections::HashMap;

use tokio::time::Instant;

use common::LIMIT;
use tickwire_shared::protocol::{
    codec, ClientMsg, DisconnectReason, Join, ServerMsg, PROTOCOL_VERSION,
};
use tickwire_shared::{NetEntity, NetId, Replica};
use tickwire_tests::raw::{op, Frame, Raw};
use tickwire_tests::TestServer;

/// What the players a `watcher` sees are called, by id, once it sees `n` players.
async fn names_seen(raw: &mut Raw, replica: &mut Replica, n: usize) -> HashMap<NetId, String> {
    let deadline = Instant::now() + LIMIT;
    loop {
        let f = raw.recv_frame(deadline).await.expect("snapshots in time");
        if f.opcode != op::BINARY {
            continue;
        }
        if let Ok(ServerMsg::Snapshot(s)) = codec::decode_server(&f.payload) {
            replica.apply(&s).expect("snapshot applies");
            let names: HashMap<NetId, String> = replica
                .entities()
                .iter()
                .filter_map(|(id, e)| match e {
                    NetEntity::Player(p) => Some((*id, p.name.to_string())),
                    _ => None,
                })
                .collect();
            if names.len() >= n {
                return names;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_reach_other_players_cleaned_and_distinct() {
    let server = TestServer::start().await;
    // (what the client asks for, what every other player sees), joined in this order.
    let cases = [
        ("ab\u{202E}cd", "abcd"),                         // right-to-left override
        ("\u{2067}mallory\u{2069}\u{200E}", "mallory"),   // bidi isolate and mark
        ("\u{200B}\u{200C}\u{200D}\u{2060}", "player"),   // only zero-width characters
        ("\u{FEFF} \u{3164}\u{A0} ", "player (2)"),       // BOM and blank-looking letters
        ("ＡＤＭＩＮ", "ADMIN"),                          // fullwidth: normalized (NFKC)
        ("admin", "admin (2)"),                           // impersonation, letter case aside
        ("a\u{2003}\u{3000}\u{85}b", "a b"),              // confusable white space
        ("ab\u{200B}cd", "abcd (2)"),                     // hidden difference from "abcd"
        ("zzzzzzzzzzzzzzzzzzzzzzzz", "zzzzzzzzzzzzzzzz"), // 16 characters at most
    ];
    let mut joined = Vec::new();
    for (asked, shown) in cases {
        let (raw, welcome) = Raw::joined_welcome(server.addr, asked).await;
        joined.push((raw, welcome.player, asked, shown));
    }
    let (mut watcher, welcome) = Raw::joined_welcome(server.addr, "watcher").await;
    let mut replica = Replica::from_welcome(&welcome);
    let names = names_seen(&mut watcher, &mut replica, cases.len() + 1).await;
    for (_, id, asked, shown) in &joined {
        assert_eq!(
            names.get(id).map(String::as_str),
            Some(*shown),
            "{asked:?} as the others see it"
        );
    }
    let mut distinct: Vec<String> = names.values().map(|n| n.to_lowercase()).collect();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        names.len(),
        "no two players look alike: {names:?}"
    );
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_join_is_refused_with_a_readable_reason() {
    let server = TestServer::start().await;
    let mut join = codec::encode_client(&ClientMsg::Join(Join {
        version: PROTOCOL_VERSION,
        name: "ab".into(),
        seat: None,
    }));
    let at = join.windows(2).position(|w| w == b"ab").expect("the name");
    join[at..at + 2].copy_from_slice(&[0xC3, 0x28]); // invalid UTF-8
    let mut raw = Raw::connect(server.addr).await.expect("connect");
    raw.upgrade().await;
    raw.send_frame(&Frame::binary(join)).await.expect("send");
    let ending = raw.ending(LIMIT).await;
    assert_eq!(ending.code, Some(1007), "{ending:?}");
    let d = ending.disconnect.expect("a reason");
    assert_eq!(d.reason, DisconnectReason::BadMessage);
    for text in [&d.detail, &ending.reason] {
        assert!(text.contains("not valid UTF-8"), "{text}");
        assert!(
            !text.contains(['{', '}', ':']) || text.starts_with("undecodable: "),
            "{text}"
        );
        assert!(!text.contains("Utf8Error"), "{text}");
    }
    server.shutdown().await.expect("clean shutdown");
}
