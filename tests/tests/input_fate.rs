//! What the server does with inputs that do not come one per tick, as `/metrics` shows it:
//! a player with no input due has its last one repeated (`tickwire_inputs_repeated_total`),
//! and a burst of late inputs beyond the backlog kept is folded into the next one
//! (`tickwire_inputs_folded_total`). A real server on 127.0.0.1 port 0, a real WebSocket
//! client.

mod common;

use common::{scrape, LIMIT};
use tickwire_bots::{BotConnection, DecodeMode, ServerEvent};
use tickwire_shared::Controls;
use tickwire_tests::{wait_for, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_and_folded_inputs_are_counted() {
    let server = TestServer::start().await;
    let mut conn = BotConnection::connect(&server.ws_url(), "bursty", DecodeMode::Full)
        .await
        .expect("joins");
    let repeated = scrape(server.addr, "tickwire_inputs_repeated_total").await;
    let folded = scrape(server.addr, "tickwire_inputs_folded_total").await;
    // One input, then silence: every later tick repeats it.
    let walk = Controls {
        move_x: 1.0,
        ..Controls::default()
    };
    let first = conn.send_input(walk).await.expect("send");
    while !tickwire_shared::seq::applied(first, conn.last_input_seq) {
        assert!(matches!(
            conn.recv().await.expect("snapshots"),
            ServerEvent::Snapshot { .. } | ServerEvent::Pong(_)
        ));
    }
    wait_for("repeated inputs counted", LIMIT, || async {
        scrape(server.addr, "tickwire_inputs_repeated_total").await >= repeated + 3.0
    })
    .await;
    assert_eq!(
        scrape(server.addr, "tickwire_inputs_folded_total").await,
        folded,
        "nothing folded yet"
    );
    // Six inputs at once, all due now: two are kept as a backlog, the rest folded (at least
    // three even when the burst straddles a tick: one applies in between).
    let mut last = 0;
    for _ in 0..6 {
        last = conn.send_input(walk).await.expect("send");
    }
    while !tickwire_shared::seq::applied(last, conn.last_input_seq) {
        conn.recv().await.expect("snapshots");
    }
    wait_for("folded inputs counted", LIMIT, || async {
        scrape(server.addr, "tickwire_inputs_folded_total").await >= folded + 3.0
    })
    .await;
}
