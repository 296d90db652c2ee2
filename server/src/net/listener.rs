//! The accept loop: admission under the connection caps, one task per connection (tracked so
//! shutdown can wait for them), and a back-off when accepting fails.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::time::Instant;
use tracing::{debug, warn};

use super::connection::{self, Capacity};
use super::limits::{Admission, ConnLimits};
use crate::Shared;

/// Pause after a failed accept (typically EMFILE: out of descriptors). Pending connections
/// wait in the kernel's backlog meanwhile; established ones are served as usual.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// At most one warning per this interval while accepting keeps failing.
const WARN_EVERY: Duration = Duration::from_secs(1);

/// Accepts connections until `shared.shutdown` is cancelled, then drops the listener (new
/// connections are refused by the kernel from then on).
pub async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, limits: Arc<ConnLimits>) {
    let mut failures: u64 = 0;
    let mut last_warn: Option<Instant> = None;
    loop {
        let res = tokio::select! {
            () = shared.shutdown.cancelled() => break,
            res = listener.accept() => res,
        };
        match res {
            Ok((stream, peer)) => {
                if failures > 0 {
                    warn!(failures, "accepting again");
                    failures = 0;
                    last_warn = None;
                }
                let cap = match limits.admit() {
                    Admission::Admitted(slot) => Capacity::Within(slot),
                    Admission::Refuse(slot) => Capacity::Over(slot),
                    Admission::Drop => {
                        shared.metrics.kick("over_capacity_dropped");
                        debug!(%peer, "far over capacity: connection dropped unread");
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                shared
                    .tasks
                    .spawn(connection::handle(stream, peer, shared.clone(), cap));
            }
            Err(e) => {
                failures += 1;
                if last_warn.is_none_or(|t| t.elapsed() >= WARN_EVERY) {
                    last_warn = Some(Instant::now());
                    warn!(
                        error = %e,
                        failures,
                        open = limits.open(),
                        "accept failed; backing off"
                    );
                }
                tokio::select! {
                    () = shared.shutdown.cancelled() => break,
                    () = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                }
            }
        }
    }
}
