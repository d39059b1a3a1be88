//! `asteroids-bots`: the load-test swarm. Parses flags, runs the swarm, prints the report,
//! writes it as JSON, and exits non-zero when too many bots failed.

use asteroids_bots::behavior::Behavior;
use asteroids_bots::link::{Direction, Link, Stall};
use asteroids_bots::{run, SwarmConfig};
use clap::Parser;
use std::net::Ipv4Addr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

/// N bots over real WebSockets against an Asteroids server.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// The game socket.
    #[arg(long, default_value = "ws://127.0.0.1:8080/ws")]
    url: String,
    /// Number of bots.
    #[arg(long, default_value_t = 100)]
    bots: usize,
    /// Seconds over which the bots connect.
    #[arg(long, default_value_t = 10.0)]
    ramp_secs: f64,
    /// Seconds the swarm runs after the ramp.
    #[arg(long, default_value_t = 60.0)]
    duration_secs: f64,
    /// What the bots do.
    #[arg(long, value_enum, default_value_t = Behavior::Mix)]
    behavior: Behavior,
    /// Write the report as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write each pilot's name and last `Score` (hits, kills, deaths, best life, points) here,
    /// as JSON, to compare with what the server stored.
    #[arg(long)]
    scores: Option<PathBuf>,
    /// Seed of the bots' random choices.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Exit non-zero when more than this percentage of bots fail to connect or are dropped.
    #[arg(long, default_value_t = 2.0)]
    max_failure_pct: f64,
    /// Bots that keep the page's full replica and measure dead-reckoning error (a number, or
    /// `all`), spread evenly over the ramp. The others are light: they decode, count and fly
    /// but predict only their own ship, at a fraction of the CPU.
    #[arg(long, default_value = "100", value_parser = parse_full_replicas)]
    full_replicas: usize,
    /// Bots per source address: against a loopback URL bot i connects from the
    /// (i / this)-th address from 127.0.0.1 (or --source-address-base), skipping .0 and .255,
    /// to stay within the server's per-address limits.
    #[arg(long, default_value_t = NonZeroUsize::new(16).expect("non-zero"))]
    bots_per_address: NonZeroUsize,
    /// The first source address (for a non-loopback URL, the addresses must be this machine's;
    /// without it such URLs connect from the kernel's choice).
    #[arg(long)]
    source_address_base: Option<Ipv4Addr>,
    /// Play through a link conditioner: one-way delay each direction, milliseconds (0 with no
    /// jitter and no stalls: straight to the server).
    #[arg(long, default_value_t = 0)]
    link_delay_ms: u64,
    /// … most extra delay per chunk, milliseconds (order kept, as TCP keeps it).
    #[arg(long, default_value_t = 0)]
    link_jitter_ms: u64,
    /// … a stall of the server-to-client direction this long, milliseconds (0: none) …
    #[arg(long, default_value_t = 0)]
    link_stall_ms: u64,
    /// … every this many milliseconds.
    #[arg(long, default_value_t = 5_000)]
    link_stall_every_ms: u64,
    /// Worker threads of the swarm's runtime (default: one per core).
    #[arg(long)]
    threads: Option<NonZeroUsize>,
    /// Spread the bots over every sector of a universe, read from this sector's HTTP address
    /// (http://HOST:PORT/api/universe); they follow their ships across edges (use
    /// `--behavior voyage` or `universe-mix` to make them travel), and the report counts
    /// crossings, their latency and the correction at each. Replaces --url.
    #[arg(long, value_name = "HTTP_URL", conflicts_with_all = ["link_delay_ms", "link_jitter_ms", "link_stall_ms"])]
    universe: Option<String>,
}

/// The link conditioner the flags ask for, if any.
fn link(a: &Args) -> anyhow::Result<Option<Link>> {
    anyhow::ensure!(
        a.link_stall_ms == 0 || a.link_stall_every_ms > a.link_stall_ms,
        "--link-stall-every-ms must exceed --link-stall-ms"
    );
    let stall = (a.link_stall_ms > 0).then(|| Stall {
        length: Duration::from_millis(a.link_stall_ms),
        every: Duration::from_millis(a.link_stall_every_ms),
        direction: Direction::Down,
    });
    let link =
        Link { delay: Duration::from_millis(a.link_delay_ms), jitter: Duration::from_millis(a.link_jitter_ms), stall };
    Ok((link != Link::default()).then_some(link))
}

/// `all`, or a number of bots.
fn parse_full_replicas(s: &str) -> Result<usize, String> {
    match s {
        "all" => Ok(usize::MAX),
        n => n.parse().map_err(|_| format!("expected a number of bots or `all`, got {n:?}")),
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = args.threads {
        runtime.worker_threads(n.get());
    }
    runtime.enable_all().build()?.block_on(swarm(args))
}

async fn swarm(args: Args) -> anyhow::Result<()> {
    if args.behavior.is_hostile() {
        eprintln!("hostile behaviour: the server is expected to disconnect these bots (use --max-failure-pct 100)");
    }
    let link = link(&args)?;
    let report = run(SwarmConfig {
        url: args.url,
        bots: args.bots,
        ramp_secs: args.ramp_secs,
        duration_secs: args.duration_secs,
        behavior: args.behavior,
        seed: args.seed,
        progress: true,
        full_replicas: args.full_replicas,
        bots_per_address: args.bots_per_address,
        source_address_base: args.source_address_base,
        link,
        universe: args.universe,
    })
    .await;
    print!("{}", report.table());
    if let Some(path) = args.json {
        std::fs::write(&path, serde_json::to_string_pretty(&report)?)?;
        eprintln!("report written to {}", path.display());
    }
    if let Some(path) = args.scores {
        let pilots: Vec<serde_json::Value> = report
            .pilots
            .iter()
            .map(|(name, s)| {
                serde_json::json!({
                    "name": name, "hits": s.hits, "kills": s.kills, "deaths": s.deaths,
                    "best_life_ticks": s.best_life_ticks, "points": s.points,
                })
            })
            .collect();
        std::fs::write(&path, serde_json::to_string_pretty(&pilots)?)?;
    }
    let ratio = report.failure_ratio();
    if ratio * 100.0 > args.max_failure_pct {
        eprintln!("{:.1} % of bots failed or were dropped (limit {} %)", ratio * 100.0, args.max_failure_pct);
        std::process::exit(1);
    }
    Ok(())
}
