//! The swarm: decides what each bot is (role, full replica or light, source address), starts
//! the bots over a ramp, prints a live progress line, stops them all at the deadline, and
//! builds the report.

use crate::behavior::Behavior;
use crate::bot::{self, BotSpec};
use crate::measure::{BotResult, Live};
use crate::report::Report;
use crate::socket::{host_and_port, Endpoint};
use crate::source::SourceAddresses;
use rand::rngs::SmallRng;
use rand::SeedableRng;
use std::net::Ipv4Addr;
use std::num::NonZeroUsize;
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
    /// How many bots keep the page's full replica and measure dead-reckoning error (spread
    /// evenly over the ramp, see [`is_full_replica`]); the others are light (see
    /// [`crate::light`]). At least `bots`: all of them.
    pub full_replicas: usize,
    /// Bots per source address (see [`crate::source`]).
    pub bots_per_address: NonZeroUsize,
    /// The first source address; by default 127.0.0.1 against a loopback URL and none (the
    /// kernel's choice) otherwise.
    pub source_address_base: Option<Ipv4Addr>,
    /// A link conditioner between the bots and the server (delay, jitter, stalls), run in
    /// this process; `None`: straight to the server.
    pub link: Option<crate::link::Link>,
    /// A sector's HTTP address (`http://HOST:PORT`): the bots are spread over every sector of
    /// its universe (bot `i` joins the `i mod n`-th), and follow their ships across edges.
    /// `url` is then not used.
    pub universe: Option<String>,
}

/// Whether bot `i` of `bots` is one of the `full` that keep a full replica: exactly
/// `min(full, bots)` bots, evenly spread, so that the sample connects across the whole ramp
/// (and sees the server at every load) and holds every behaviour of a `mix` in its share.
pub fn is_full_replica(i: usize, bots: usize, full: usize) -> bool {
    let full = full.min(bots) as u128;
    let (i, bots) = (i as u128, bots.max(1) as u128);
    (i + 1) * full / bots > i * full / bots
}

/// Where the swarm connects from and to (one endpoint, or one per sector of a universe), or why
/// it cannot start.
async fn plan(config: &SwarmConfig) -> Result<(Vec<Endpoint>, Option<SourceAddresses>), String> {
    if let Some(http) = &config.universe {
        let urls = crate::universe::sectors(http).await?;
        let (host, _) = host_and_port(&urls[0])?;
        let sources = SourceAddresses::plan(&host, config.source_address_base, config.bots_per_address);
        let mut endpoints = Vec::with_capacity(urls.len());
        for url in &urls {
            endpoints.push(Endpoint::resolve(url, sources.is_some()).await?);
        }
        if config.progress {
            eprintln!("a universe of {} sectors: {}", urls.len(), urls.join(" "));
        }
        return Ok((endpoints, sources));
    }
    let (host, _) = host_and_port(&config.url)?;
    let sources = SourceAddresses::plan(&host, config.source_address_base, config.bots_per_address);
    if let Some(s) = sources {
        let last = config.bots.saturating_sub(1);
        let last_ip = s.for_bot(last).ok_or("source addresses run out")?;
        if s.for_bot(0).is_some_and(|ip| ip.is_loopback()) && !last_ip.is_loopback() {
            return Err(format!("{} bots run past 127.255.255.254: raise --bots-per-address", config.bots));
        }
    }
    let mut endpoint = Endpoint::resolve(&config.url, sources.is_some()).await?;
    if let Some(link) = config.link {
        // The bots connect to the conditioner, which relays to the server from each bot's
        // own address (the server's per-address limits still see the bots).
        let listen = if endpoint.server.is_ipv4() { "127.0.0.1:0" } else { "[::1]:0" };
        let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| format!("link: {e}"))?;
        let at = listener.local_addr().map_err(|e| format!("link: {e}"))?;
        tokio::spawn(crate::link::serve(listener, endpoint.server, link, config.seed));
        endpoint.server = at;
    }
    Ok((vec![endpoint], sources))
}

/// Runs the swarm to the end and reports.
pub async fn run(config: SwarmConfig) -> Report {
    let (endpoints, sources) = match plan(&config).await {
        Ok(plan) => plan,
        Err(e) => {
            let results: Vec<BotResult> =
                (0..config.bots).map(|_| BotResult { failure: Some(e.clone()), ..Default::default() }).collect();
            return Report::new(config.bots, &results);
        }
    };
    if config.progress {
        if let Some(s) = sources {
            eprintln!(
                "{} bots from {} source addresses, {} to {} ({} per address)",
                config.bots,
                s.addresses_for(config.bots),
                s.for_bot(0).map_or_else(String::new, |ip| ip.to_string()),
                s.for_bot(config.bots.saturating_sub(1)).map_or_else(String::new, |ip| ip.to_string()),
                config.bots_per_address,
            );
        }
    }
    // Each bot holds one socket; ask for twice that, and room for the rest of the process.
    let needed = config.bots as u64 + 256;
    match rlimit::increase_nofile_limit(2 * config.bots as u64 + 256) {
        Ok(got) if got < needed => {
            eprintln!("open-file limit {got} is below the {needed} that {} bots need", config.bots)
        }
        _ => {}
    }
    let endpoints: Vec<Arc<Endpoint>> = endpoints.into_iter().map(Arc::new).collect();
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
        let spec = BotSpec {
            // Names are identities on the server: a fresh random suffix per run, so repeated
            // runs against one server (and its database) never clash.
            name: format!("bot{i}-{:08x}", rand::random::<u32>()),
            role,
            rng,
            full_replica: is_full_replica(i, config.bots, config.full_replicas),
            source: sources.and_then(|s| s.for_bot(i)),
        };
        let (endpoint, live) = (endpoints[i % endpoints.len()].clone(), live.clone());
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(at).await;
            bot::run(endpoint, spec, deadline, live).await
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Exactly the asked number of full replicas, spread evenly; all when asked for more than
    /// there are bots, none when asked for none.
    #[test]
    fn full_replicas_are_an_even_sample() {
        let full = |bots, n| (0..bots).filter(|&i| is_full_replica(i, bots, n)).collect::<Vec<_>>();
        assert_eq!(full(10, 3), vec![3, 6, 9]);
        assert_eq!(full(5000, 100).len(), 100);
        assert!(full(5000, 100).windows(2).all(|w| w[1] - w[0] == 50), "one in fifty");
        assert_eq!(full(20, usize::MAX), (0..20).collect::<Vec<_>>());
        assert_eq!(full(20, 20).len(), 20);
        assert!(full(20, 0).is_empty());
        assert!(full(0, 5).is_empty());
    }
}
