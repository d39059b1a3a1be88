//! A link conditioner: a TCP proxy that makes loopback behave like a real network, so the
//! swarm and the tests can measure what players on real links feel.
//!
//! Every chunk of bytes read from one side is written to the other after a one-way
//! [`Link::delay`] plus a random jitter of up to [`Link::jitter`]. Order is kept, as TCP keeps
//! it: a chunk never overtakes the one before it, so jitter shows as bunching, not
//! reordering. [`Link::stall`] stops a direction for a while every so often, which is what a
//! lost segment does to a TCP stream: nothing arrives, then everything at once. The proxy
//! connects upstream from the client's own address (on loopback, where the swarm spreads its
//! bots over 127.0.0.x), so the server's per-address limits see the clients, not the proxy.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Chunks in flight per direction; beyond this the reader waits, as a full link would.
pub const MAX_CHUNKS_IN_FLIGHT: usize = 4096;

/// Bytes read at once from a socket.
const READ_CHUNK_BYTES: usize = 16 * 1024;

/// Which way a stall stops traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Direction {
    /// Client to server.
    Up,
    /// Server to client.
    Down,
    /// Both.
    Both,
}

/// A periodic stall: every `every`, the chosen direction delivers nothing for `length`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stall {
    /// How long each stall lasts.
    pub length: Duration,
    /// Time from the start of one stall to the start of the next (greater than `length`).
    pub every: Duration,
    /// Which way it stops traffic.
    pub direction: Direction,
}

/// What the link does to the bytes through it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Link {
    /// One-way delay, each direction.
    pub delay: Duration,
    /// Most extra delay per chunk, drawn uniformly (order kept).
    pub jitter: Duration,
    /// Periodic stalls, if any.
    pub stall: Option<Stall>,
}

impl Link {
    /// When a chunk read at `read_at` is delivered: after the delay and jitter, never before
    /// the chunk before it (`previous`), and not during a stall of this direction (stalls are
    /// counted from `epoch`, the connection's start).
    fn deliver_at(&self, read_at: Instant, previous: Instant, epoch: Instant, up: bool, rng: &mut SmallRng) -> Instant {
        let jitter = if self.jitter.is_zero() { Duration::ZERO } else { self.jitter.mul_f64(rng.random::<f64>()) };
        let mut at = (read_at + self.delay + jitter).max(previous);
        if let Some(stall) = self.stall.filter(|s| s.every > s.length) {
            let applies = matches!(
                (stall.direction, up),
                (Direction::Both, _) | (Direction::Up, true) | (Direction::Down, false)
            );
            if applies {
                let since = at.saturating_duration_since(epoch);
                let into_period = Duration::from_nanos((since.as_nanos() % stall.every.as_nanos()) as u64);
                if into_period < stall.length {
                    at += stall.length - into_period;
                }
            }
        }
        at
    }
}

/// How long the conditioner waits after a failed accept (out of descriptors, a reset before
/// accept) before accepting again.
pub const ACCEPT_RETRY: Duration = Duration::from_millis(50);

/// Accepts connections on `listener` and relays each to `upstream` through `link`, forever (a
/// failed accept is retried after [`ACCEPT_RETRY`]: one aborted connection must not stop the
/// others).
pub async fn serve(listener: TcpListener, upstream: SocketAddr, link: Link, seed: u64) {
    let mut n = 0u64;
    loop {
        let (client, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(_) => {
                tokio::time::sleep(ACCEPT_RETRY).await;
                continue;
            }
        };
        n += 1;
        let rng = SmallRng::seed_from_u64(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(n));
        tokio::spawn(async move {
            if let Ok(server) = connect_from(peer, upstream).await {
                relay(client, server, link, rng).await;
            }
        });
    }
}

/// Connects to `upstream` from `peer`'s address when both are loopback (so the server sees
/// the client's address), else from any.
async fn connect_from(peer: SocketAddr, upstream: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = if upstream.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    if peer.ip().is_loopback() && upstream.ip().is_loopback() && peer.is_ipv4() == upstream.is_ipv4() {
        socket.bind(SocketAddr::new(peer.ip(), 0))?;
    }
    socket.connect(upstream).await
}

/// Relays both directions until both have ended.
async fn relay(client: TcpStream, server: TcpStream, link: Link, mut rng: SmallRng) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let epoch = Instant::now();
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let up_rng = SmallRng::seed_from_u64(rng.random());
    tokio::join!(
        pipe(client_read, server_write, link, epoch, true, up_rng),
        pipe(server_read, client_write, link, epoch, false, rng),
    );
}

/// One direction: read chunks as they come, deliver each at its time.
async fn pipe(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    link: Link,
    epoch: Instant,
    up: bool,
    mut rng: SmallRng,
) {
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(MAX_CHUNKS_IN_FLIGHT);
    let read = async move {
        let mut previous = epoch;
        let mut buf = vec![0u8; READ_CHUNK_BYTES];
        while let Ok(n @ 1..) = from.read(&mut buf).await {
            previous = link.deliver_at(Instant::now(), previous, epoch, up, &mut rng);
            if tx.send((previous, buf[..n].to_vec())).await.is_err() {
                break;
            }
        }
    };
    let write = async move {
        while let Some((at, chunk)) = rx.recv().await {
            tokio::time::sleep_until(at).await;
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(read, write);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server on loopback; returns its address.
    async fn echo() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let _ = s.set_nodelay(true);
                    let mut buf = [0u8; 4096];
                    while let Ok(n @ 1..) = s.read(&mut buf).await {
                        if s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    /// A link in front of `upstream`; returns the address to connect to.
    async fn link(upstream: SocketAddr, link: Link) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve(listener, upstream, link, 7));
        addr
    }

    async fn round_trip(s: &mut TcpStream, byte: u8) -> Duration {
        let started = Instant::now();
        s.write_all(&[byte]).await.unwrap();
        let mut got = [0u8; 1];
        s.read_exact(&mut got).await.unwrap();
        assert_eq!(got[0], byte);
        started.elapsed()
    }

    /// The delay is added each way: a round trip takes at least twice it.
    #[tokio::test]
    async fn delay_each_way() {
        let addr = link(echo().await, Link { delay: Duration::from_millis(40), ..Link::default() }).await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.set_nodelay(true).unwrap();
        for i in 0..5 {
            let rtt = round_trip(&mut s, i).await;
            assert!(rtt >= Duration::from_millis(80), "{rtt:?}");
            assert!(rtt < Duration::from_millis(400), "{rtt:?}");
        }
    }

    /// With jitter, bytes still arrive in the order they were sent, and the delays vary.
    #[tokio::test]
    async fn jitter_keeps_order() {
        let jittery = Link { delay: Duration::from_millis(5), jitter: Duration::from_millis(20), stall: None };
        let addr = link(echo().await, jittery).await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.set_nodelay(true).unwrap();
        let sent: Vec<u8> = (0..200u32).map(|i| i as u8).collect();
        for b in &sent {
            s.write_all(&[*b]).await.unwrap();
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let mut got = vec![0u8; sent.len()];
        s.read_exact(&mut got).await.unwrap();
        assert_eq!(got, sent);
        // One byte at a time, the jitter shows: round trips spread over most of its range.
        let mut rtts = Vec::new();
        for i in 0..30 {
            rtts.push(round_trip(&mut s, i).await);
        }
        let (min, max) = (rtts.iter().min().unwrap(), rtts.iter().max().unwrap());
        assert!(*min >= Duration::from_millis(10), "never less than the delay both ways: {rtts:?}");
        assert!(*max - *min >= Duration::from_millis(10), "the delays vary: {rtts:?}");
    }

    /// A stall of the server-to-client direction holds what the server sends until the stall
    /// ends, then delivers it; the other direction is not stalled.
    #[test]
    fn stalls_hold_delivery_until_they_end() {
        let stall =
            Stall { length: Duration::from_millis(200), every: Duration::from_secs(1), direction: Direction::Down };
        let l = Link { delay: Duration::from_millis(10), jitter: Duration::ZERO, stall: Some(stall) };
        let mut rng = SmallRng::seed_from_u64(1);
        let epoch = Instant::now();
        let at = |ms: u64, up: bool, rng: &mut SmallRng| {
            l.deliver_at(epoch + Duration::from_millis(ms), epoch, epoch, up, rng).duration_since(epoch)
        };
        assert_eq!(at(50, false, &mut rng), Duration::from_millis(200), "inside the first stall: held to its end");
        assert_eq!(at(50, true, &mut rng), Duration::from_millis(60), "the other way flows");
        assert_eq!(at(500, false, &mut rng), Duration::from_millis(510), "between stalls: just the delay");
        assert_eq!(at(1_095, false, &mut rng), Duration::from_millis(1_200), "the next stall");
        let later =
            l.deliver_at(epoch + Duration::from_millis(500), epoch + Duration::from_millis(700), epoch, true, &mut rng);
        assert_eq!(later.duration_since(epoch), Duration::from_millis(700), "never before the chunk before it");
    }
}
