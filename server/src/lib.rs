//! The Asteroids MMO server: an authoritative rapier2d simulation, and WebSocket sessions that
//! send each client a diff of what is in its view.
//!
//! Data flows one way: [`net::session`] validates client messages into [`sim::SimEvent`]s;
//! the simulation thread ([`sim`]) owns the world, steps it at 60 Hz and publishes
//! [`frame::Frame`]s; each session diffs the newest frame against what its client knows
//! ([`net::interest`]) and sends the result. `main` only parses flags and calls [`start`].

pub mod admin;
pub mod frame;
pub mod limits;
pub mod metrics;
pub mod net;
pub mod sim;
pub mod stats;
pub mod store;

pub use stats::Stats;

use frame::Frame;
use shared::kinematics::Kinematics;
use shared::protocol::Tick;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// World area per asteroid in the default arena, square units: about 57 asteroids in a
/// 1920×1080 view.
pub const AREA_PER_ASTEROID: f32 = 36_000.0;

/// Kernel send buffer requested for each connection (`SO_SNDBUF`).
pub const SOCKET_SEND_BUFFER_BYTES: usize = 64 * 1024;

/// How long shutdown waits for sessions to say goodbye before giving up on them.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Server configuration (the binary's flags).
#[derive(Clone, Debug)]
pub struct Config {
    /// Asteroids kept in the field.
    pub asteroids: usize,
    /// Arena side length, world units; `None` sizes it from [`AREA_PER_ASTEROID`].
    pub arena_size: Option<f32>,
    /// Snapshots per second per client.
    pub snapshot_hz: u32,
    /// Seed of the world's randomness.
    pub seed: u64,
    /// Directory of the built browser client.
    pub www_dir: PathBuf,
    /// Published frames kept for inspection (tests); 0 in production.
    pub frame_history: usize,
    /// Bearer token for `/admin/stats` and `/metrics`.
    pub admin_token: String,
    /// Per-connection limits.
    pub limits: limits::Limits,
    /// The SQLite file of identities and scores (`:memory:` for a throwaway one).
    pub db_path: PathBuf,
    /// How long a dropped player can come back to its ship, ticks.
    pub resume_window_ticks: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            asteroids: 4000,
            arena_size: None,
            snapshot_hz: shared::constants::DEFAULT_SNAPSHOT_HZ,
            seed: 1,
            www_dir: PathBuf::from("www"),
            frame_history: 0,
            admin_token: admin::random_token(),
            limits: limits::Limits::default(),
            db_path: PathBuf::from(store::DEFAULT_DB_PATH),
            resume_window_ticks: sim::game::RESUME_WINDOW_TICKS,
        }
    }
}

impl Config {
    /// Half the arena's width and height.
    pub fn arena_half_size(&self) -> [f32; 2] {
        let side =
            self.arena_size.unwrap_or_else(|| (self.asteroids.max(1) as f32 * AREA_PER_ASTEROID).sqrt().max(2000.0));
        [side * 0.5, side * 0.5]
    }
}

/// What every request handler and session shares. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Events for the simulation.
    pub sim: mpsc::Sender<sim::SimEvent>,
    /// The newest frame.
    pub frames: watch::Receiver<Arc<Frame>>,
    /// Sent to clients in `Welcome`.
    pub kinematics: Kinematics,
    /// Snapshots per second.
    pub snapshot_hz: u32,
    /// Cancelled when the server shuts down.
    pub shutdown: CancellationToken,
    /// Every session task, so shutdown can wait for them.
    pub tracker: TaskTracker,
    /// Counters.
    pub stats: Arc<Stats>,
    /// Bearer token of the admin routes.
    pub admin_token: Arc<str>,
    /// Per-connection limits.
    pub limits: Arc<limits::Limits>,
    /// Identities and scores.
    pub store: store::StoreHandle,
}

/// A running server.
pub struct Server {
    addr: SocketAddr,
    state: AppState,
    sim: sim::SimHandle,
    http: tokio::task::JoinHandle<()>,
    db: Option<store::Store>,
}

/// Starts the simulation and serves HTTP and WebSocket on `listener`.
pub async fn start(listener: TcpListener, config: Config) -> anyhow::Result<Server> {
    let addr = listener.local_addr()?;
    let opened = std::time::Instant::now();
    let db = store::Store::open(&config.db_path)?;
    tracing::info!(
        path = %config.db_path.display(),
        ms = opened.elapsed().as_millis() as u64,
        integrity = %db.integrity,
        "store open"
    );
    let sim = sim::spawn(sim::SimConfig {
        game: sim::GameConfig {
            asteroids: config.asteroids,
            arena_half_size: config.arena_half_size(),
            seed: config.seed,
            store: Some(db.handle()),
            resume_window_ticks: config.resume_window_ticks,
        },
        snapshot_hz: config.snapshot_hz,
        frame_history: config.frame_history,
    });
    let state = AppState {
        sim: sim.events.clone(),
        frames: sim.frames.clone(),
        kinematics: sim.kinematics,
        snapshot_hz: sim.snapshot_hz,
        shutdown: CancellationToken::new(),
        tracker: TaskTracker::new(),
        stats: Arc::new(Stats::default()),
        admin_token: config.admin_token.clone().into(),
        limits: Arc::new(config.limits.clone()),
        store: db.handle(),
    };
    state.tracker.spawn(stats::sample_rates(state.stats.clone(), state.shutdown.clone()));
    let app = net::http::router(state.clone(), &config.www_dir);
    let http = tokio::spawn(net::listener::serve(listener, app, state.clone()));
    Ok(Server { addr, state, sim, http, db: Some(db) })
}

impl Server {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// A recently published frame (kept when [`Config::frame_history`] > 0).
    pub fn frame_at(&self, tick: Tick) -> Option<Arc<Frame>> {
        self.sim.frame_at(tick)
    }

    /// The newest published frame.
    pub fn latest_frame(&self) -> Arc<Frame> {
        self.state.frames.borrow().clone()
    }

    /// The server's counters.
    pub fn stats(&self) -> &Stats {
        &self.state.stats
    }

    /// Drains and stops: every client is told (close 1001) while new game connections are
    /// answered 503; once the sessions are gone (at most [`SHUTDOWN_GRACE`]) the listener
    /// closes, the simulation stops and every score is committed. Returns the number of tasks
    /// still running when it gave up waiting (0 on a clean drain).
    pub async fn shutdown(mut self) -> usize {
        self.state.shutdown.cancel();
        self.state.tracker.close();
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, self.state.tracker.wait()).await;
        let left = self.state.tracker.len();
        self.http.abort();
        let _ = (&mut self.http).await;
        self.sim.stop();
        if let Some(db) = self.db.take() {
            // Commit every score before exit (the store's thread does blocking IO).
            let _ = tokio::task::spawn_blocking(move || db.close()).await;
        }
        left
    }

    /// The identity and score store.
    pub fn store(&self) -> &store::StoreHandle {
        &self.state.store
    }
}

/// Runs until `shutdown` completes, then shuts down gracefully. If the simulation thread dies
/// (a panic), the server shuts down too and this returns an error, so a supervisor restarts
/// it rather than leaving a server that accepts players into a dead world.
pub async fn run(listener: TcpListener, config: Config, shutdown: impl std::future::Future) -> anyhow::Result<()> {
    let server = start(listener, config).await?;
    tracing::info!(addr = %server.local_addr(), "listening");
    let mut frames = server.state.frames.clone();
    let sim_died = async move { while frames.changed().await.is_ok() {} };
    let outcome = tokio::select! {
        _ = shutdown => Ok(()),
        _ = sim_died => Err(anyhow::anyhow!("the simulation thread stopped unexpectedly")),
    };
    tracing::info!("shutting down");
    let left = server.shutdown().await;
    if left > 0 {
        tracing::warn!(tasks = left, "shut down with tasks still running");
    }
    outcome
}
