//! The swarm: starts bots over a ramp, prints a live progress line, stops them all at the
//! deadline, and builds the report.

use crate::behavior::Behavior;
use crate::bot;
use crate::measure::{BotResult, Live};
use crate::report::Report;
use rand::rngs::SmallRng;
use rand::SeedableRng;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How the swarm runs.
#[derive(Clone, Debug)]
pub struct SwarmConfig {
    /// The game socket, e.g. `ws://127.0.0.1:8080/ws`.
    pub url: String,
    /// Number of bots.
    pub bots: usize,
    /// Bots start evenly over this many seconds.
    pub ramp_secs: f64,
    /// After the ramp, the swarm runs this long.
    pub duration_secs: f64,
    /// What the bots do.
    pub behavior: Behavior,
    /// Seed of every bot's random choices.
    pub seed: u64,
    /// Print the live progress line to stderr every second.
    pub progress: bool,
}

/// Runs the swarm to the end and reports.
pub async fn run(config: SwarmConfig) -> Report {
    // Each bot needs one socket; leave room for the rest of the process.
    let _ = rlimit::increase_nofile_limit(config.bots as u64 * 2 + 256);
    let live = Arc::new(Live::default());
    let cpu_at_start = crate::measure::process_cpu_secs();
    let start = Instant::now();
    let ramp = Duration::from_secs_f64(config.ramp_secs.max(0.0));
    let deadline = start + ramp + Duration::from_secs_f64(config.duration_secs.max(0.0));
    let progress = config.progress.then(|| {
        let live = live.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.tick().await;
            let (mut snaps, mut bytes) = (0u64, 0u64);
            loop {
                tick.tick().await;
                let (s, b) = (live.snapshots.load(Ordering::Relaxed), live.bytes.load(Ordering::Relaxed));
                eprintln!(
                    "[{:>5.0}s] connected {:>6}  snapshots/s {:>8}  downlink {:>10.0} B/s  errors {}",
                    start.elapsed().as_secs_f64(),
                    live.connected.load(Ordering::Relaxed),
                    s - snaps,
                    (b - bytes) as f64,
                    live.errors.load(Ordering::Relaxed),
                );
                (snaps, bytes) = (s, b);
            }
        })
    });
    let mut tasks = Vec::with_capacity(config.bots);
    for i in 0..config.bots {
        let at = start + ramp.mul_f64(i as f64 / config.bots.max(1) as f64);
        let mut rng = SmallRng::seed_from_u64(config.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(i as u64));
        let role = config.behavior.role(&mut rng);
        let (url, live) = (config.url.clone(), live.clone());
        // Names are identities on the server: a fresh random suffix per run, so repeated runs
        // against one server (and its database) never clash.
        let name = format!("bot{i}-{:08x}", rand::random::<u32>());
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(at).await;
            bot::run(url, name, role, rng, deadline, live).await
        }));
    }
    let mut results = Vec::with_capacity(tasks.len());
    for t in tasks {
        match t.await {
            Ok(r) => results.push(r),
            Err(e) => results.push(BotResult { failure: Some(format!("bot task failed: {e}")), ..Default::default() }),
        }
    }
    if let Some(p) = progress {
        p.abort();
    }
    let mut report = Report::new(config.bots, &results);
    if let (Some(before), Some(after)) = (cpu_at_start, crate::measure::process_cpu_secs()) {
        report.set_swarm_cpu(after - before);
    }
    report
}
