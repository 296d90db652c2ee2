//! The accept loop: one task per connection, tracked so shutdown can wait for them.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tracing::warn;

use super::connection;
use crate::Shared;

/// Accepts connections until `shared.shutdown` is cancelled. Accept errors (such as running
/// out of file descriptors) are logged and retried after a short back-off: the server keeps
/// serving the connections it has.
pub async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        tokio::select! {
            () = shared.shutdown.cancelled() => break,
            res = listener.accept() => match res {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    shared.tasks.spawn(connection::handle(stream, peer, shared.clone()));
                }
                Err(e) => {
                    warn!(error = %e, "accept failed; backing off");
                    tokio::select! {
                        () = shared.shutdown.cancelled() => break,
                        () = tokio::time::sleep(Duration::from_millis(100)) => {}
                    }
                }
            },
        }
    }
}
