//! `asteroids-fd-starved`: the real server with its open-file limit lowered, after start-up,
//! to a few descriptors above what it already holds, so that `accept` fails with `EMFILE`
//! after a handful of connections. A separate process because the limit is process-wide:
//! lowering it inside the shared test binary would starve every other test. Used by
//! `it::hostile::out_of_descriptors_answers_503_not_a_hang`.
//!
//! Prints `addr=IP:PORT` once serving; stops when its standard input closes. The admin token
//! is `fd-starved`.
//!
//! Run: `cargo run -p asteroids-tests --bin asteroids-fd-starved -- [SPARE_FDS]`

use asteroids_server::Config;
use std::io::Read;

/// The admin token the test reads `/admin/stats` with.
pub const ADMIN_TOKEN: &str = "fd-starved";

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let spare: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(6);
    let config = Config {
        asteroids: 50,
        arena_size: Some(2000.0),
        db: asteroids_server::store::StoreLocation::memory(),
        admin_token: Some(ADMIN_TOKEN.into()),
        ..Config::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let server = asteroids_server::start(listener, config).await?;
    let open = std::fs::read_dir("/proc/self/fd")?.count() as u64;
    let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE)?;
    rlimit::setrlimit(rlimit::Resource::NOFILE, open + spare, hard)?;
    println!("addr={}", server.local_addr());
    // Blocking read on a thread of its own: the server keeps running on the runtime.
    tokio::task::spawn_blocking(|| {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
    })
    .await?;
    // Give the descriptors back so shutdown can do its work.
    rlimit::setrlimit(rlimit::Resource::NOFILE, hard, hard)?;
    server.shutdown().await;
    Ok(())
}
