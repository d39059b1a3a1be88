//! `asteroids-server`: starts logging, parses the flags ([`Config`]), builds the async runtime
//! beside the simulation's core, binds, runs until Ctrl-C or SIGTERM.

use asteroids_server::config::AdminTokenSource;
use asteroids_server::{limits, Config};
use clap::Parser;

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let mut config = Config::parse();
    // Before anything opens a file: the server derives its connection cap from this limit.
    match limits::raise_nofile_limit() {
        Ok(soft) => tracing::info!(open_files = soft, "open-file limit raised to the hard limit"),
        Err(e) => tracing::warn!(error = %e, "could not raise the open-file limit"),
    }
    match config.settle_admin_token(std::path::Path::new("."))? {
        AdminTokenSource::Given => {}
        AdminTokenSource::File(path) => tracing::info!(path = %path.display(), "admin token read from file"),
        // The token itself is never printed: logs are often collected where others can read them.
        AdminTokenSource::Generated(path) => tracing::info!(
            path = %path.display(),
            "admin token (for /admin, /admin/stats, /metrics) generated and written to this file, mode 0600"
        ),
    }
    let workers = config.runtime_workers();
    tracing::info!(workers, "runtime workers (the simulation keeps a core of its own)");
    tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build()?.block_on(async {
        let listener = tokio::net::TcpListener::bind(&config.bind).await?;
        asteroids_server::run(listener, config, shutdown_signal()).await
    })
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
