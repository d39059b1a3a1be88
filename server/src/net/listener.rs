//! The accept loop. axum's own `serve` sets no timeout on reading a request, so a TCP
//! connection that never sends one would stay open forever; this loop serves each connection
//! with hyper directly, with the request headers due within the handshake timeout, and the
//! socket options the game needs; each request carries its TCP peer's address (axum's
//! `ConnectInfo<SocketAddr>`), which the game socket's per-address limits start from. It keeps
//! accepting while the server drains (new game connections are then answered 503) and is
//! stopped by the server once the drain is over.
//!
//! When the process runs out of file descriptors, `accept` fails while the connection stays
//! queued in the kernel: the client would hang. The loop keeps one descriptor in reserve
//! (`/dev/null`), and on `EMFILE`/`ENFILE` gives it up to accept the waiting connection,
//! answer it 503 and close it, then takes it back. The connection cap derived from the
//! open-file limit ([`crate::limits::connection_cap`]) normally keeps this from happening; this
//! is the backstop. Errors are counted and logged at most once per
//! [`ACCEPT_ERROR_LOG_INTERVAL`].

use crate::limits::{LogLimiter, ACCEPT_ERROR_BACKOFF, ACCEPT_ERROR_LOG_INTERVAL};
use crate::server::SHUTDOWN_GRACE;
use crate::AppState;
use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::Router;
use hyper::body::Incoming;
use hyper::service::{service_fn, Service};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Kernel send buffer requested for each connection (`SO_SNDBUF`).
pub const SOCKET_SEND_BUFFER_BYTES: usize = 64 * 1024;

/// Accepts connections until the server aborts it, serving each on its own tracked task.
pub async fn serve(listener: TcpListener, app: Router, state: AppState) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(state.limits.handshake_timeout);
    let builder = builder.http1_only();
    let mut reserve = Reserve::open();
    let mut log = LogLimiter::every(ACCEPT_ERROR_LOG_INTERVAL);
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                state.stats.accept_errors.fetch_add(1, Ordering::Relaxed);
                // Out of descriptors: the kernel keeps the connection queued, and a client
                // would wait forever. Spend the reserve descriptor to tell it 503 and close it.
                if is_fd_exhaustion(&e) && reserve.shed(&listener).await {
                    state.stats.fd_exhausted_rejected.fetch_add(1, Ordering::Relaxed);
                } else {
                    // Nothing to shed (or a reset before accept): wait a moment, never spin.
                    tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                }
                if let Some(suppressed) = log.admit(std::time::Instant::now()) {
                    tracing::warn!(error = %e, suppressed, "accept failed (further ones counted in accept_errors)");
                }
                continue;
            }
        };
        // Game traffic is many small messages: send each at once.
        let _ = tcp.set_nodelay(true);
        // Bound the kernel's buffering per connection (Linux doubles the value): a client that
        // stops reading blocks the session's send after this much, instead of after the
        // autotuned maximum of several MiB, and is then closed as too slow.
        let _ = socket2::SockRef::from(&tcp).set_send_buffer_size(SOCKET_SEND_BUFFER_BYTES);
        // Each request carries its TCP peer (`ConnectInfo`), for the per-address limits.
        let app = TowerToHyperService::new(app.clone());
        let service = service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            app.call(request)
        });
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

/// The answer to a connection accepted only to be refused for lack of descriptors.
pub const FD_EXHAUSTED_RESPONSE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 10\r\n\
Content-Type: text/plain\r\nContent-Length: 36\r\nConnection: close\r\n\r\n\
the server is full: try again later\n";

/// How long a connection being shed may take to send its request before it is answered
/// anyway (reading it first keeps the close from resetting the answer away).
pub const SHED_READ_TIMEOUT: Duration = Duration::from_millis(100);

/// Whether an accept error means the process or the system is out of file descriptors.
pub fn is_fd_exhaustion(e: &std::io::Error) -> bool {
    // EMFILE (24) and ENFILE (23) on Linux and the BSDs.
    matches!(e.raw_os_error(), Some(23 | 24))
}

/// One file descriptor held back so that a connection can still be accepted (and refused)
/// when every other one is in use.
#[derive(Debug)]
pub struct Reserve(Option<std::fs::File>);

impl Reserve {
    /// Takes the reserve descriptor (none if even that fails; shedding is then skipped).
    pub fn open() -> Reserve {
        Reserve(std::fs::File::open("/dev/null").ok())
    }

    /// Frees the reserve, accepts one waiting connection, answers it 503 and closes it, then
    /// takes the reserve back. False if there was no reserve or no connection to shed.
    pub async fn shed(&mut self, listener: &TcpListener) -> bool {
        if self.0.take().is_none() {
            *self = Reserve::open();
            return false;
        }
        let shed = match tokio::time::timeout(Duration::from_millis(10), listener.accept()).await {
            Ok(Ok((mut tcp, _))) => {
                let mut request = [0u8; 1024];
                let _ = tokio::time::timeout(SHED_READ_TIMEOUT, tcp.read(&mut request)).await;
                let _ = tokio::time::timeout(SHED_READ_TIMEOUT, tcp.write_all(FD_EXHAUSTED_RESPONSE)).await;
                let _ = tcp.shutdown().await;
                true
            }
            _ => false,
        };
        *self = Reserve::open();
        shed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shedding accepts the waiting connection, answers it 503 with Retry-After and closes
    /// it, and keeps the reserve for the next time.
    #[tokio::test]
    async fn shed_answers_503() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut reserve = Reserve::open();
        for _ in 0..2 {
            let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
            client.write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
            assert!(reserve.shed(&listener).await);
            let mut answer = String::new();
            client.read_to_string(&mut answer).await.unwrap();
            assert!(answer.starts_with("HTTP/1.1 503 "), "{answer}");
            assert!(answer.contains("Retry-After: 10"), "{answer}");
            let body = answer.split("\r\n\r\n").nth(1).unwrap();
            assert_eq!(body.len(), 36, "Content-Length matches the body");
        }
        assert!(reserve.0.is_some(), "the reserve is taken back");
        assert!(!reserve.shed(&listener).await, "nothing waiting: nothing shed");
    }

    /// EMFILE and ENFILE are exhaustion; a reset is not.
    #[test]
    fn exhaustion_errors() {
        assert!(is_fd_exhaustion(&std::io::Error::from_raw_os_error(24)));
        assert!(is_fd_exhaustion(&std::io::Error::from_raw_os_error(23)));
        assert!(!is_fd_exhaustion(&std::io::Error::from(std::io::ErrorKind::ConnectionReset)));
    }

    /// One line per interval, then the count of those held back.
    #[test]
    fn accept_errors_are_logged_at_most_once_per_interval() {
        let mut log = LogLimiter::every(ACCEPT_ERROR_LOG_INTERVAL);
        let t0 = std::time::Instant::now();
        assert_eq!(log.admit(t0), Some(0));
        for i in 1..1000 {
            assert_eq!(log.admit(t0 + Duration::from_millis(i)), None);
        }
        assert_eq!(log.admit(t0 + ACCEPT_ERROR_LOG_INTERVAL), Some(999));
    }
}
