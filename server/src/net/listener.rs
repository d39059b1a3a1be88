//! The accept loop. axum's own `serve` sets no timeout on reading a request, so a TCP
//! connection that never sends one would stay open forever; this loop serves each connection
//! with hyper directly, with the request headers due within the handshake timeout, and the
//! socket options the game needs; each request carries its client's address (axum's
//! `ConnectInfo<SocketAddr>`): the TCP peer's, or, from a balancer named with
//! `--proxy-protocol-from`, the one its PROXY header names ([`super::proxy_protocol`]), which
//! the game socket's per-address limits start from. It keeps
//! accepting while the server drains (new game connections are then answered 503) and is
//! stopped by the server once the drain is over.
//!
//! **Before the upgrade, per address.** The game's per-address caps start at the upgrade;
//! before it, a connection is only a socket, and one address could open thousands and hold
//! each for the header timeout. So the loop counts the connections each TCP peer address (an
//! IPv4 address or IPv6 /64, [`AddressKey`]) holds until they are upgraded or closed
//! ([`Pending`]), and closes a new one at once, unread, beyond
//! [`crate::limits::MAX_PENDING_PER_ADDRESS`]. A connection that sends nothing is closed
//! after [`crate::limits::FIRST_BYTE_TIMEOUT`]. Trusted proxies are exempt (their clients
//! share their address; the game's limits still count each client behind them). A balancer's
//! connections count against [`crate::limits::MAX_PENDING_PER_BALANCER`] until their header
//! is read, then under the address it names (its own, for its own connections).
//!
//! When the process runs out of file descriptors, `accept` fails while the connection stays
//! queued in the kernel: the client would hang. The loop keeps one descriptor in reserve
//! (`/dev/null`), and on `EMFILE`/`ENFILE` gives it up to accept the waiting connection,
//! answer it 503 and close it, then takes it back. The connection cap derived from the
//! open-file limit ([`crate::limits::connection_cap`]) normally keeps this from happening; this
//! is the backstop. Errors are counted and logged at most once per
//! [`ACCEPT_ERROR_LOG_INTERVAL`].

use super::address::{is_one_of, AddressKey};
use super::proxy_protocol::{self, HeaderError, Relayed};
use crate::limits::{LogLimiter, ACCEPT_ERROR_BACKOFF, ACCEPT_ERROR_LOG_INTERVAL};
use crate::server::SHUTDOWN_GRACE;
use crate::AppState;
use crate::Stats;
use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::Router;
use hyper::body::Incoming;
use hyper::service::{service_fn, Service};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Kernel send buffer requested for each connection (`SO_SNDBUF`).
pub const SOCKET_SEND_BUFFER_BYTES: usize = 64 * 1024;

/// The connections each peer address holds before their upgrade (or close).
#[derive(Debug)]
pub struct Pending {
    max_per_address: usize,
    stats: Arc<Stats>,
    /// A std `Mutex`: nothing awaits while it is held, and it is taken twice per connection.
    /// Only addresses holding a connection are in it.
    table: Mutex<HashMap<AddressKey, usize>>,
}

/// One connection's place in [`Pending`], given back when dropped (the connection upgraded or
/// closed).
#[derive(Debug)]
pub struct PendingSlot {
    pending: Arc<Pending>,
    address: AddressKey,
}

impl Pending {
    /// At most `max_per_address` per address, the total published into `stats`.
    pub fn new(max_per_address: usize, stats: Arc<Stats>) -> Arc<Pending> {
        Arc::new(Pending { max_per_address, stats, table: Mutex::default() })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<AddressKey, usize>> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A place for one more connection from `address`, if it holds fewer than the maximum.
    pub fn enter(self: &Arc<Self>, address: AddressKey) -> Option<PendingSlot> {
        let mut t = self.lock();
        let held = t.entry(address).or_insert(0);
        if *held >= self.max_per_address {
            return None;
        }
        *held += 1;
        self.stats.pending_connections.fetch_add(1, Ordering::Relaxed);
        Some(PendingSlot { pending: self.clone(), address })
    }

    /// Addresses holding connections (the table's size).
    pub fn addresses(&self) -> usize {
        self.lock().len()
    }
}

impl Drop for PendingSlot {
    fn drop(&mut self) {
        let mut t = self.pending.lock();
        if let Some(held) = t.get_mut(&self.address) {
            *held -= 1;
            if *held == 0 {
                t.remove(&self.address);
            }
        }
        self.pending.stats.pending_connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Accepts connections until the server aborts it, serving each on its own tracked task.
pub async fn serve(listener: TcpListener, app: Router, state: AppState) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(state.limits.handshake_timeout);
    let builder = builder.http1_only();
    let mut reserve = Reserve::open();
    let mut log = LogLimiter::every(ACCEPT_ERROR_LOG_INTERVAL);
    let pending = Pending::new(state.limits.max_pending_per_address, state.stats.clone());
    let header_log = Arc::new(Mutex::new(LogLimiter::every(ACCEPT_ERROR_LOG_INTERVAL)));
    let awaiting_header = Pending::new(state.limits.max_pending_per_balancer, state.stats.clone());
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
        // A balancer's connections carry their client's address in a PROXY header, read (and
        // counted under that address) on the connection's task; any other peer's are counted
        // here, from accept until the upgrade (or close), and beyond the maximum closed unread.
        let relayed = is_one_of(peer.ip(), &state.limits.proxy_protocol_peers);
        let slot = if is_trusted_proxy(&state, peer.ip()) {
            None
        } else {
            // A balancer's connections awaiting their header count against its own, larger,
            // limit; once the header names a client, against the client's.
            let table = if relayed { &awaiting_header } else { &pending };
            match table.enter(AddressKey::of(peer.ip())) {
                Some(slot) => Some(slot),
                None => {
                    state.stats.pending_refused.fetch_add(1, Ordering::Relaxed);
                    drop(tcp);
                    continue;
                }
            }
        };
        // Game traffic is many small messages: send each at once.
        let _ = tcp.set_nodelay(true);
        // Bound the kernel's buffering per connection (Linux doubles the value): a client that
        // stops reading blocks the session's send after this much, instead of after the
        // autotuned maximum of several MiB, and is then closed as too slow.
        let _ = socket2::SockRef::from(&tcp).set_send_buffer_size(SOCKET_SEND_BUFFER_BYTES);
        let builder = builder.clone();
        let shutdown = state.shutdown.clone();
        let first_byte_due = state.limits.first_byte_timeout.min(state.limits.handshake_timeout);
        let state = state.clone();
        let pending = pending.clone();
        let header_log = header_log.clone();
        let app = app.clone();
        state.tracker.clone().spawn(async move {
            let mut tcp = tcp;
            let mut slot = slot;
            let mut client = peer;
            if relayed {
                let max = state.limits.max_proxy_header_bytes;
                let header = proxy_protocol::read_header(&mut tcp, max, first_byte_due).await;
                if header.is_ok() {
                    state.stats.proxy_headers.fetch_add(1, Ordering::Relaxed);
                }
                match header {
                    Ok(Relayed::Client(source)) => client = source,
                    Ok(Relayed::Local) => {}
                    // As any connection that sends nothing: closed quietly, or at the deadline.
                    Err(HeaderError::Closed) => return,
                    Err(HeaderError::Silent) => {
                        state.stats.handshake_timeouts.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    Err(error) => {
                        state.stats.proxy_header_rejected.fetch_add(1, Ordering::Relaxed);
                        let admitted = header_log.lock().unwrap_or_else(|e| e.into_inner()).admit(std::time::Instant::now());
                        if let Some(suppressed) = admitted {
                            tracing::warn!(%peer, %error, suppressed, "connection from a --proxy-protocol-from peer closed (further ones counted in proxy_header_rejected)");
                        }
                        return;
                    }
                }
                // The header is read: the balancer's place is given back, and the connection
                // counts under its client's address (or the balancer's own, for its own
                // connections), as any other until its upgrade.
                slot = None;
                if !is_trusted_proxy(&state, client.ip()) {
                    match pending.enter(AddressKey::of(client.ip())) {
                        Some(held) => slot = Some(held),
                        None => {
                            state.stats.pending_refused.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                    }
                }
            }
            // Held until the connection is upgraded (hyper hands the socket over and this
            // future ends) or closed.
            let _slot = slot;
            // Each request carries its client's address (`ConnectInfo`: the TCP peer, or the
            // one its balancer's PROXY header named), for the per-address limits.
            let app = TowerToHyperService::new(app);
            let service = service_fn(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(client));
                app.call(request)
            });
            // hyper's header timeout starts with the request's first byte; a connection that
            // sends nothing at all is closed here, sooner.
            let mut probe = [0u8; 1];
            match tokio::time::timeout(first_byte_due, tcp.peek(&mut probe)).await {
                Ok(Ok(n)) if n > 0 => {}
                Ok(_) => return,
                Err(_) => {
                    state.stats.handshake_timeouts.fetch_add(1, Ordering::Relaxed);
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

/// Whether `ip` is a reverse proxy named with `--trusted-proxy`.
fn is_trusted_proxy(state: &AppState, ip: std::net::IpAddr) -> bool {
    is_one_of(ip, &state.limits.trusted_proxies)
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

    /// An address holds at most its maximum of places, another address has its own, a
    /// dropped slot gives its place back, and the table forgets an address holding none.
    #[test]
    fn pending_places_per_address() {
        let stats = Arc::new(Stats::default());
        let pending = Pending::new(2, stats.clone());
        let a = AddressKey::V4(std::net::Ipv4Addr::new(198, 51, 100, 1));
        let b = AddressKey::V4(std::net::Ipv4Addr::new(198, 51, 100, 2));
        let first = pending.enter(a).unwrap();
        let _second = pending.enter(a).unwrap();
        assert!(pending.enter(a).is_none(), "a third from the same address");
        let other = pending.enter(b).unwrap();
        assert_eq!(stats.pending_connections.load(Ordering::Relaxed), 3);
        drop(first);
        assert!(pending.enter(a).is_some(), "a place came back");
        drop(other);
        assert_eq!(pending.addresses(), 1, "b holds nothing and is forgotten");
        assert_eq!(stats.pending_connections.load(Ordering::Relaxed), 1, "a's second only");
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
