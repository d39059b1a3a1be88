//! `asteroids-server`: starts logging, parses the flags ([`Config`]), binds, runs until Ctrl-C
//! or SIGTERM.

use asteroids_server::{token, Config};
use clap::Parser;

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let config = Config::parse();
    let workers = config.runtime_workers();
    tracing::info!(workers, "runtime workers (the simulation keeps a core of its own)");
    tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build()?.block_on(serve(config))
}

async fn serve(mut config: Config) -> anyhow::Result<()> {
    if config.given_admin_token().is_none() {
        let t = token::random();
        // Printed, not logged at a level that might be filtered: the operator needs it.
        println!("admin token (for /admin, /admin/stats, /metrics): {t}");
        config.admin_token = Some(t);
    }
    let listener = tokio::net::TcpListener::bind(&config.bind).await?;
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
