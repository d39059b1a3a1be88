//! `asteroids-sector`: the real server as its own process, for the tests that kill one with
//! `SIGKILL` or stop it with `SIGTERM` (a process cannot be killed inside the test binary). It
//! takes the server's own flags, binds `--bind` (use port 0), prints `addr=IP:PORT` once
//! serving, and runs until SIGTERM.
//!
//! Run: `cargo run -p asteroids-tests --bin asteroids-sector -- --bind 127.0.0.1:0 --universe …`

use asteroids_server::Config;
use clap::Parser;
use std::io::Write;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    let listener = tokio::net::TcpListener::bind(&config.bind).await?;
    let server = asteroids_server::start(listener, config).await?;
    println!("addr={}", server.local_addr());
    std::io::stdout().flush()?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    term.recv().await;
    server.shutdown().await;
    Ok(())
}
