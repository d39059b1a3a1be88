//! `asteroids-server`: starts logging, parses the flags ([`Config`]), binds, runs until Ctrl-C
//! or SIGTERM.

use asteroids_server::{limits, token, Config};
use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let mut config = Config::parse();
    // Before anything opens a file: the server derives its connection cap from this limit.
    match limits::raise_nofile_limit() {
        Ok(soft) => tracing::info!(open_files = soft, "open-file limit raised to the hard limit"),
        Err(e) => tracing::warn!(error = %e, "could not raise the open-file limit"),
    }
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
