//! The accept loop. axum's own `serve` sets no timeout on reading a request, so a TCP
//! connection that never sends one would stay open forever; this loop serves each connection
//! with hyper directly, with the request headers due within the handshake timeout, and the
//! socket options the game needs. It keeps accepting while the server drains (new game
//! connections are then answered 503) and is stopped by the server once the drain is over.

use crate::server::SHUTDOWN_GRACE;
use crate::AppState;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use std::time::Duration;
use tokio::net::TcpListener;

/// Kernel send buffer requested for each connection (`SO_SNDBUF`).
pub const SOCKET_SEND_BUFFER_BYTES: usize = 64 * 1024;

/// Accepts connections until the server aborts it, serving each on its own tracked task.
pub async fn serve(listener: TcpListener, app: Router, state: AppState) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(state.limits.handshake_timeout);
    let builder = builder.http1_only();
    loop {
        let tcp = match listener.accept().await {
            Ok((tcp, _)) => tcp,
            Err(e) => {
                // Out of file descriptors, or a connection reset before accept: wait a moment
                // instead of spinning, and keep serving.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Game traffic is many small messages: send each at once.
        let _ = tcp.set_nodelay(true);
        // Bound the kernel's buffering per connection (Linux doubles the value): a client that
        // stops reading blocks the session's send after this much, instead of after the
        // autotuned maximum of several MiB, and is then closed as too slow.
        let _ = socket2::SockRef::from(&tcp).set_send_buffer_size(SOCKET_SEND_BUFFER_BYTES);
        let service = TowerToHyperService::new(app.clone());
        let builder = builder.clone();
        let shutdown = state.shutdown.clone();
        let first_byte_due = state.limits.handshake_timeout;
        let stats = state.stats.clone();
        state.tracker.spawn(async move {
            // hyper's header timeout starts with the request's first byte; a connection that
            // sends nothing at all is closed here.
            let mut probe = [0u8; 1];
            match tokio::time::timeout(first_byte_due, tcp.peek(&mut probe)).await {
                Ok(Ok(n)) if n > 0 => {}
                Ok(_) => return,
                Err(_) => {
                    stats.handshake_timeouts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    return;
                }
            }
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(tcp), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = shutdown.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(SHUTDOWN_GRACE, conn).await;
                }
            }
        });
    }
}
