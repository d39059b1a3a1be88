//! `asteroids-soak`: connection churn against the real server (in this process, so its memory
//! can be read): thousands of connect → play → leave cycles, half of them abrupt (TCP reset,
//! no close frame), beside steady players. At the end, connections, ghosts' places, addresses,
//! players, sessions and ships must be back at their baseline, the steady players never
//! dropped, and memory must have settled. Prints its figures; exits non-zero if any check fails.
//!
//! Run: `cargo run --release -p asteroids-tests --bin asteroids-soak -- [CYCLES] [CONCURRENCY]`

use asteroids_server::limits::Limits;
use asteroids_server::Config;
use asteroids_tests::{start_server, Client};
use shared::protocol::EntityKind;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const STEADY: usize = 20;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(|l| l.to_string()))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

#[derive(Debug, PartialEq)]
struct Census {
    connections: u64,
    ghosts: u64,
    addresses: u64,
    sessions: usize,
    players: usize,
    ships: usize,
}

fn census(server: &asteroids_server::Server) -> Census {
    let frame = server.latest_frame();
    Census {
        connections: server.stats().connections.load(Ordering::Relaxed),
        ghosts: server.stats().ghosts.load(Ordering::Relaxed),
        addresses: server.stats().connection_addresses.load(Ordering::Relaxed),
        sessions: server.stats().session_list().len(),
        players: frame.players.len(),
        ships: frame.entities.iter().filter(|e| e.kind == EntityKind::Ship).count(),
    }
}

/// One churn cycle: join, look, act, leave (abruptly: a TCP reset without a close frame).
async fn cycle(addr: std::net::SocketAddr, i: u64, abrupt: bool) -> anyhow::Result<()> {
    let (mut c, w) = if abrupt {
        let socket = tokio::net::TcpSocket::new_v4()?;
        let stream = socket.connect(addr).await?;
        socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO))?;
        Client::join_over(stream, addr, &format!("churn{i}")).await?
    } else {
        Client::join(addr, &format!("churn{i}")).await?
    };
    c.view(w.ship_position, [1920.0, 1080.0]).await?;
    c.input(1, true, 1, true).await?;
    c.snapshot().await?;
    c.snapshot().await?;
    if abrupt {
        drop(c); // SO_LINGER 0: the kernel sends a reset, no close frame
    } else {
        c.close().await?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<u64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let cycles = args.first().copied().unwrap_or(10_000);
    let concurrency = args.get(1).copied().unwrap_or(64);
    let _ = rlimit::increase_nofile_limit(65_536);
    // Every churner comes from 127.0.0.1 under a new name, and each leaves a ghost holding
    // its place for the resume window: lift the per-address limits, which would rightly stop
    // this from one address.
    let limits = Limits {
        max_connections_per_address: asteroids_server::limits::MAX_CONNECTIONS,
        max_new_identities_per_address_per_hour: u32::MAX,
        ..Limits::default()
    };
    let server = start_server(Config {
        asteroids: 2000,
        frame_history: 0,
        db: asteroids_server::store::StoreLocation::memory(),
        limits,
        ..Config::default()
    })
    .await;
    let addr = server.local_addr();

    // Steady players, reading everything, for the whole soak.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let steady_dropped = Arc::new(AtomicU64::new(0));
    let mut steady = Vec::new();
    for i in 0..STEADY {
        let (mut c, w) = Client::join(addr, &format!("steady{i}")).await?;
        c.view(w.ship_position, [1920.0, 1080.0]).await?;
        let (stop, dropped) = (stop.clone(), steady_dropped.clone());
        steady.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if c.snapshot().await.is_err() {
                    dropped.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let baseline = census(&server);
    let rss_before = rss_kib();
    println!("baseline: {baseline:?}, rss {rss_before} KiB");

    let started = Instant::now();
    let failed = Arc::new(AtomicU64::new(0));
    let next = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (next, failed) = (next.clone(), failed.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= cycles {
                    return;
                }
                if let Err(e) = cycle(addr, i, i % 2 == 1).await {
                    if failed.fetch_add(1, Ordering::Relaxed) < 5 {
                        eprintln!("cycle {i} failed: {e}");
                    }
                }
            }
        }));
    }
    let mut peak_rss = rss_before;
    let mut rss_half = None;
    let mut ticker = tokio::time::interval(Duration::from_secs(2));
    while workers.iter().any(|w| !w.is_finished()) {
        ticker.tick().await;
        peak_rss = peak_rss.max(rss_kib());
        if rss_half.is_none() && next.load(Ordering::Relaxed) >= cycles / 2 {
            rss_half = Some(rss_kib());
        }
        eprintln!(
            "[{:>4.0}s] cycles {:>6}  {:?}",
            started.elapsed().as_secs_f64(),
            next.load(Ordering::Relaxed).min(cycles),
            census(&server)
        );
    }
    let churn_secs = started.elapsed().as_secs_f64();

    // Let the server notice the last departures.
    let settle = Instant::now();
    // Ships come and go with the steady players' deaths; no churner's ship may remain.
    let settled = |c: &Census| {
        c.connections == baseline.connections
            && c.ghosts == baseline.ghosts
            && c.addresses == baseline.addresses
            && c.sessions == baseline.sessions
            && c.players == baseline.players
            && c.ships <= STEADY
    };
    while !settled(&census(&server)) && settle.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let after = census(&server);
    let rss_after = rss_kib();
    stop.store(true, Ordering::Relaxed);
    for s in steady {
        let _ = s.await;
    }
    let failures = failed.load(Ordering::Relaxed);
    let dropped = steady_dropped.load(Ordering::Relaxed);
    println!(
        "soak: {cycles} cycles ({} abrupt) with {concurrency} at a time in {churn_secs:.1} s ({:.0} cycles/s); failed cycles {failures}",
        cycles / 2,
        cycles as f64 / churn_secs
    );
    println!("after:    {after:?}, rss {rss_after} KiB (peak {peak_rss} KiB, baseline {rss_before} KiB)");
    println!("steady players dropped: {dropped} of {STEADY}");
    let rss_half = rss_half.unwrap_or(peak_rss);
    println!("rss at half the cycles {rss_half} KiB, at the end {rss_after} KiB");
    server.shutdown().await;
    let mut ok = true;
    if !settled(&after) {
        eprintln!("FAIL: counts did not return to baseline");
        ok = false;
    }
    if dropped > 0 {
        eprintln!("FAIL: steady players were dropped");
        ok = false;
    }
    if failures > cycles / 100 {
        eprintln!("FAIL: more than 1 % of cycles failed");
        ok = false;
    }
    // Memory must plateau: the second half of the cycles may not grow it by more than a
    // quarter (plus 4 MiB for the allocator's own bookkeeping) over the first half.
    if rss_after > rss_half + rss_half / 4 + 4096 {
        eprintln!("FAIL: memory kept growing ({rss_half} KiB at half time, {rss_after} KiB at the end)");
        ok = false;
    }
    if !ok {
        std::process::exit(1);
    }
    Ok(())
}
