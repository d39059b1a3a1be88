//! `asteroids-link`: the link conditioner as a program. Put it between a browser (or the
//! swarm) and a server to play over a slow, jittery, stalling link on one machine:
//!
//! ```sh
//! asteroids-link --listen 127.0.0.1:8081 --upstream 127.0.0.1:8080 --delay-ms 50 --jitter-ms 10 \
//!     --stall-ms 200 --stall-every-ms 5000
//! # then open http://127.0.0.1:8081/
//! ```
//!
//! Once it listens it prints `listening addr=IP:PORT` on stdout, as the server does, so a
//! script can wait for it (and learn the port of `--listen 127.0.0.1:0`).

use asteroids_bots::link::{serve, Direction, Link, Stall};
use clap::Parser;
use std::net::SocketAddr;
use std::time::Duration;

/// A TCP proxy adding one-way delay, jitter (order kept) and periodic stalls.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:8081")]
    listen: SocketAddr,
    /// The server to relay to.
    #[arg(long, default_value = "127.0.0.1:8080")]
    upstream: SocketAddr,
    /// One-way delay each direction, milliseconds.
    #[arg(long, default_value_t = 50)]
    delay_ms: u64,
    /// Most extra delay per chunk, milliseconds (uniform; order is kept).
    #[arg(long, default_value_t = 0)]
    jitter_ms: u64,
    /// Length of each stall, milliseconds (0: no stalls).
    #[arg(long, default_value_t = 0)]
    stall_ms: u64,
    /// Time between the starts of two stalls, milliseconds.
    #[arg(long, default_value_t = 5_000)]
    stall_every_ms: u64,
    /// Which way stalls stop traffic.
    #[arg(long, value_enum, default_value_t = Direction::Down)]
    stall_direction: Direction,
    /// Seed of the jitter.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    anyhow::ensure!(a.stall_ms == 0 || a.stall_every_ms > a.stall_ms, "--stall-every-ms must exceed --stall-ms");
    let stall = (a.stall_ms > 0).then(|| Stall {
        length: Duration::from_millis(a.stall_ms),
        every: Duration::from_millis(a.stall_every_ms),
        direction: a.stall_direction,
    });
    let link = Link { delay: Duration::from_millis(a.delay_ms), jitter: Duration::from_millis(a.jitter_ms), stall };
    let listener = tokio::net::TcpListener::bind(a.listen).await?;
    let addr = listener.local_addr()?;
    // The readiness line scripts wait for, in the server's words (tests/e2e/harness.mjs).
    println!("listening addr={addr}");
    eprintln!("asteroids-link: {addr} -> {} with {link:?}", a.upstream);
    serve(listener, a.upstream, link, a.seed).await;
    Ok(())
}
