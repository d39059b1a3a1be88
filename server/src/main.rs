//! `asteroids-server`: parses flags, starts logging, binds, runs until Ctrl-C or SIGTERM.

use asteroids_server::Config;
use clap::Parser;
use std::path::PathBuf;

/// The Asteroids MMO server.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: String,
    /// Asteroids kept in the field.
    #[arg(long, default_value_t = 4000)]
    asteroids: usize,
    /// Arena side length in world units (default: sized for about 57 asteroids per screen).
    #[arg(long)]
    arena_size: Option<f32>,
    /// Snapshots per second per client (1 to 60).
    #[arg(long, default_value_t = shared::constants::DEFAULT_SNAPSHOT_HZ, value_parser = clap::value_parser!(u32).range(1..=60))]
    snapshot_hz: u32,
    /// Seed of the world's randomness.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Directory of the built browser client.
    #[arg(long, default_value = "www")]
    www: PathBuf,
    /// The SQLite file of identities and scores.
    #[arg(long, default_value = asteroids_server::store::DEFAULT_DB_PATH)]
    db: PathBuf,
    /// Most open game connections; beyond it, new ones get 503.
    #[arg(long, default_value_t = asteroids_server::limits::MAX_CONNECTIONS)]
    max_connections: usize,
    /// Origins allowed on the game socket besides the page's own (repeatable), e.g.
    /// --allowed-origin https://play.example.com
    #[arg(long = "allowed-origin")]
    allowed_origins: Vec<String>,
    /// Bearer token for /admin/stats and /metrics (default: a random one, printed at start-up).
    #[arg(long, env = "ASTEROIDS_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let args = Args::parse();
    let admin_token = match args.admin_token {
        Some(t) if !t.is_empty() => t,
        _ => {
            let t = asteroids_server::admin::random_token();
            // Printed, not logged at a level that might be filtered: the operator needs it.
            println!("admin token (for /admin, /admin/stats, /metrics): {t}");
            t
        }
    };
    let config = Config {
        asteroids: args.asteroids,
        arena_size: args.arena_size,
        snapshot_hz: args.snapshot_hz,
        seed: args.seed,
        www_dir: args.www,
        frame_history: 0,
        db_path: args.db,
        resume_window_ticks: shared::constants::RESUME_WINDOW_TICKS,
        admin_token,
        limits: asteroids_server::limits::Limits {
            max_connections: args.max_connections,
            allowed_origins: args.allowed_origins,
            ..Default::default()
        },
    };
    let listener = tokio::net::TcpListener::bind(&args.bind).await?;
    asteroids_server::run(listener, config, shutdown_signal()).await
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
