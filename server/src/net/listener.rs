//! The accept loop: admission under the connection caps, one task per connection (tracked so
//! shutdown can wait for them), and a back-off when accepting fails.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};

use super::limits::{Admission, Capacity, ConnLimits};

/// Pause after a failed accept (typically EMFILE: out of descriptors). Pending connections
/// wait in the kernel's backlog meanwhile; established ones are served as usual.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// At most one warning per this interval while accepting keeps failing.
const WARN_EVERY: Duration = Duration::from_secs(1);

/// Accepts connections until `shutdown` is cancelled, then drops the listener (new
/// connections are refused by the kernel from then on). Each admitted connection is served
/// by `serve` on a task of `tasks`; one dropped unread far over the caps is reported to
/// `dropped`.
pub async fn accept_loop<S, F>(
    listener: TcpListener,
    limits: Arc<ConnLimits>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
    dropped: impl Fn(),
    serve: S,
) where
    S: Fn(TcpStream, SocketAddr, Capacity) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let mut failures: u64 = 0;
    let mut last_warn: Option<Instant> = None;
    loop {
        let res = tokio::select! {
            () = shutdown.cancelled() => break,
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
                        dropped();
                        debug!(%peer, "far over capacity: connection dropped unread");
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                tasks.spawn(serve(stream, peer, cap));
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
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                }
            }
        }
    }
}
