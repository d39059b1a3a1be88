//! The server's lifecycle: [`start`] opens the store, spawns the simulation and serves HTTP and
//! WebSocket on a listener it is given (tests bind `127.0.0.1:0`); [`Server::shutdown`] drains
//! in order (decide, tell, wait: cancel the token, let the tracked sessions say goodbye within
//! [`SHUTDOWN_GRACE`], stop the listener and the simulation, commit the scores); [`run`] ties
//! the two to a shutdown future and to the simulation's health.

use crate::sim::frame::Frame;
use crate::stats::{self, Stats};
use crate::{limits, net, sim, store, token, Config};
use shared::kinematics::Kinematics;
use shared::protocol::Tick;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long shutdown waits for sessions to say goodbye before giving up on them.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

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
    /// Wrong admin tokens per client address, and who must wait.
    pub admin_guard: Arc<crate::admin::AdminGuard>,
    /// Per-connection limits.
    pub limits: Arc<limits::Limits>,
    /// Identities and scores.
    pub store: store::StoreHandle,
    /// The origins that may open the game socket (from `--public-url` or the bound address,
    /// and `--allowed-origin`).
    pub origins: Arc<net::origin::PublicOrigins>,
    /// The places under the connection caps, server-wide and per address, ghosts' included.
    pub admission: Arc<net::admission::Admission>,
    /// New identities created per address within the hour.
    pub new_identities: Arc<net::new_identities::NewIdentities>,
    /// This server's part in a universe (none: a lone world).
    pub universe: Option<Arc<crate::universe::Universe>>,
    /// Writes every connection its frames.
    pub fanout: Arc<net::fanout::Fanout>,
    /// Peers that sent `X-Forwarded-For` without being trusted proxies.
    pub untrusted_forwarders: Arc<net::address::UntrustedForwarders>,
}

impl std::fmt::Debug for AppState {
    /// The shape of the state, never the admin token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("snapshot_hz", &self.snapshot_hz)
            .field("limits", &self.limits)
            .field("admin_token", &"<redacted>")
            .field("universe", &self.universe.as_ref().map(|u| u.grid))
            .field("shutting_down", &self.shutdown.is_cancelled())
            .finish_non_exhaustive()
    }
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    state: AppState,
    sim: sim::SimHandle,
    /// The relayed frames' channel, which the relay hands over when shutdown stops it, so
    /// the drain can hold it open to its end (see [`relay`]).
    parked_frames: oneshot::Receiver<watch::Sender<Arc<Frame>>>,
    http: tokio::task::JoinHandle<()>,
    db: Option<store::Store>,
}

/// Starts the simulation and serves HTTP and WebSocket on `listener`.
pub async fn start(listener: TcpListener, config: Config) -> anyhow::Result<Server> {
    let addr = listener.local_addr()?;
    let origins =
        net::origin::PublicOrigins::derive(config.limits.public_url.as_deref(), addr, &config.limits.allowed_origins)
            .map_err(anyhow::Error::msg)?;
    tracing::info!(origins = ?origins.exact(), any_ip_on_port = ?origins.any_ip_on_port(), "game socket origins");
    if origins.any_ip_on_port().is_some() {
        tracing::warn!(
            "bound to an unspecified address without --public-url: pages loaded by a host name \
             cannot open the game socket; give --public-url (or --allowed-origin)"
        );
    }
    // Each game connection is a socket: the cap in force fits the open-file limit.
    let nofile = limits::nofile_limit();
    let mut limits = config.limits.clone();
    if let Some((soft, _)) = nofile {
        limits.max_connections = limits.max_connections.min(limits::connection_cap(soft, limits.fd_headroom));
    }
    tracing::info!(
        max_connections = limits.max_connections,
        flag = config.limits.max_connections,
        open_files = ?nofile.map(|(soft, _)| soft),
        headroom = limits.fd_headroom,
        per_address = limits.max_connections_per_address,
        new_identities_per_address_per_hour = limits.max_new_identities_per_address_per_hour,
        trusted_proxies = ?limits.trusted_proxies,
        proxy_protocol_from = ?limits.proxy_protocol_peers,
        "connection cap"
    );
    let stats = Arc::new(Stats::default());
    let opened = std::time::Instant::now();
    let db = store::Store::open_with(config.db.clone(), store::StorePolicy::from_limits(&limits), stats.clone())?;
    tracing::info!(
        db = %config.db,
        ms = opened.elapsed().as_millis() as u64,
        integrity = %db.integrity,
        max_identities = limits.max_identities,
        idle_expiry_days = limits.identity_idle_expiry.as_secs_f64() / 86_400.0,
        revoked_name_hold_hours = limits.revoked_name_hold.as_secs_f64() / 3600.0,
        "store open"
    );
    let universe = config
        .universe_config(addr)?
        .map(|u| crate::universe::Universe::new(u, stats.clone()).map_err(anyhow::Error::msg))
        .transpose()?
        .map(Arc::new);
    if let Some(u) = &universe {
        tracing::info!(
            sector = %shared::grid::sector_name(u.grid.sector),
            size = ?u.grid.size,
            url = %u.url,
            "a sector of a universe"
        );
    }
    let sim = sim::spawn(
        sim::SimConfig {
            game: sim::GameConfig {
                asteroids: config.asteroids,
                arena_half_size: config.arena_half_size(),
                seed: config.seed,
                resume_window: config.resume_window,
                ai_pilots: config.ai_pilots,
                spawn_protection: shared::constants::SPAWN_PROTECTION,
                grid: universe.as_ref().map(|u| u.grid),
            },
            snapshot_hz: config.snapshot_hz,
            frame_history: config.frame_history,
        },
        Some(Box::new(db.handle())),
        outside(&db.handle(), universe.as_ref()),
    );
    // A dropped player's place is held as long as the simulation keeps its ship waiting.
    let resume_window = Duration::from_secs_f64(config.resume_window.as_secs_f64());
    let admission = net::admission::Admission::new(&limits, resume_window, stats.clone());
    let new_identities = net::new_identities::NewIdentities::new(
        net::new_identities::Quotas::from_limits(&limits),
        limits::NEW_IDENTITY_WINDOW,
        stats.clone(),
    );
    // The store never reclaims or purges a pilot who is here (connected, or a ghost).
    let online = admission.clone();
    db.handle().guard_online(Arc::new(move |identity| online.holds(identity)));
    let (fanout, shards) = net::fanout::Fanout::new(config.runtime_workers());
    let (tracker, shutdown) = (TaskTracker::new(), CancellationToken::new());
    let (frames, parked_frames) = relay(sim.frames.clone(), stats.clone(), &tracker, shutdown.clone());
    let state = AppState {
        fanout,
        untrusted_forwarders: Arc::new(net::address::UntrustedForwarders::new(stats.clone())),
        sim: sim.events.clone(),
        frames,
        kinematics: sim.kinematics,
        snapshot_hz: sim.snapshot_hz,
        shutdown,
        tracker,
        stats,
        // Without a token given, a random one nobody knows: the admin routes stay closed
        // (the binary makes and prints one itself).
        admin_token: config.given_admin_token().map_or_else(token::random, str::to_owned).into(),
        admin_guard: Arc::new(crate::admin::AdminGuard::new(
            limits.admin_auth_failures_per_minute,
            limits.admin_auth_window,
        )),
        limits: Arc::new(limits),
        store: db.handle(),
        origins: Arc::new(origins),
        admission,
        new_identities: Arc::new(new_identities),
        universe,
    };
    state.stats.max_connections.store(state.limits.max_connections as u64, std::sync::atomic::Ordering::Relaxed);
    state.stats.open_files_limit.store(nofile.map_or(0, |(soft, _)| soft), std::sync::atomic::Ordering::Relaxed);
    shards.start(&state);
    state.tracker.spawn(stats::sample_rates(state.stats.clone(), state.shutdown.clone()));
    state.tracker.spawn(state.admission.clone().run_expiry(state.shutdown.clone()));
    if let Some(universe) = &state.universe {
        let frames = state.frames.clone();
        let capacity = state.limits.max_connections;
        let (grid, url) = (universe.grid, universe.url.clone());
        let instance = rand::random();
        let stats = state.stats.clone();
        let record = move || {
            let last = stats.last_frame_unix_ms.load(std::sync::atomic::Ordering::Relaxed);
            let age_ms = crate::clock::unix_ms().saturating_sub(last);
            (age_ms <= net::http::HEALTHY_FRAME_AGE_MS)
                .then(|| crate::universe::record_of(&grid, &url, &frames.borrow(), capacity, instance))
        };
        state.tracker.spawn(universe.clone().run(record, state.shutdown.clone()));
    }
    let app = net::http::router(state.clone(), &config.www_dir, crate::admin::router(state.clone()));
    let http = tokio::spawn(net::listener::serve(listener, app, state.clone()));
    Ok(Server { addr, state, sim, parked_frames, http, db: Some(db) })
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

    /// Drains and stops: the simulation stops, then every client is sent what the world last
    /// told it and a goodbye (close 1001) while new game connections are answered 503; once
    /// the sessions are gone (at most [`SHUTDOWN_GRACE`]) the listener closes and every score
    /// is committed. Returns the number of tasks
    /// still running when it gave up waiting (0 on a clean drain).
    pub async fn shutdown(mut self) -> usize {
        // The world stops first (its last tick's events and scores delivered), so nothing
        // changes after the players are told goodbye: every score committed below is one its
        // pilot was sent. (The thread finishes its tick within milliseconds.)
        let mut sim = self.sim;
        let sim = tokio::task::spawn_blocking(move || {
            sim.stop();
            sim
        })
        .await;
        self.state.shutdown.cancel();
        self.state.tracker.close();
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, self.state.tracker.wait()).await;
        let left = self.state.tracker.len();
        // Held to the end: a session still draining sees a stopped world, not a vanished one.
        let _frames = self.parked_frames.try_recv().ok();
        self.http.abort();
        let _ = (&mut self.http).await;
        drop(sim); // closes the frame channel
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

/// The simulation's frames, re-published by a task on the runtime. Every session waits for
/// the next frame; woken from the simulation thread, each of thousands of wake-ups was a push
/// onto the runtime's shared queue, paid on the tick. The simulation now wakes this one task,
/// and its wake-ups of the sessions go to its worker's own queue.
/// It also notes when each frame came (`last_frame_unix_ms`: the simulation's progress).
///
/// The task is `tracker`'s, so shutdown waits for it. Two ways it ends:
/// - **The simulation died** (its channel closed without a shutdown): the relayed channel
///   closes too, which is how every session and [`run`] learn of it.
/// - **Shutdown** (the simulation was stopped first, its channel parked open): the task hands
///   the relayed channel's sender over through the returned receiver and ends, so the drain
///   can keep the channel open while sessions say goodbye.
fn relay(
    mut from: watch::Receiver<Arc<Frame>>,
    stats: Arc<Stats>,
    tracker: &TaskTracker,
    shutdown: CancellationToken,
) -> (watch::Receiver<Arc<Frame>>, oneshot::Receiver<watch::Sender<Arc<Frame>>>) {
    let (to, frames) = watch::channel(from.borrow_and_update().clone());
    let (park, parked) = oneshot::channel();
    tracker.spawn(async move {
        loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => {
                    let _ = park.send(to);
                    return;
                }
                changed = from.changed() => {
                    if changed.is_err() {
                        return; // the simulation died: `to` is dropped, the channel closes
                    }
                }
            }
            let frame = from.borrow_and_update().clone();
            to.send_replace(frame);
            let now = crate::clock::unix_ms();
            stats.last_frame_unix_ms.store(now, std::sync::atomic::Ordering::Relaxed);
        }
    });
    (frames, parked)
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

/// What the simulation sees of the world outside it, sampled before every tick: the live edges
/// and the other sectors as the universe's directory last listed them, the all-time board as
/// the store last committed it, and the wall clock.
fn outside(store: &store::StoreHandle, universe: Option<&Arc<crate::universe::Universe>>) -> sim::Sampler {
    let all_time = store.all_time_updates();
    let elsewhere = universe.map(|u| u.elsewhere());
    let universe = universe.cloned();
    Box::new(move || sim::Surroundings {
        live_edges: universe.as_ref().map(|u| u.live_edges.get()).unwrap_or_default(),
        elsewhere: elsewhere.as_ref().map(|e| e.borrow().clone()).unwrap_or_default(),
        all_time: all_time.borrow().clone(),
        unix_ms: crate::clock::unix_ms(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::frame::SimTiming;
    use crate::sim::{Game, GameConfig};

    fn a_frame() -> Arc<Frame> {
        Arc::new(Game::new(GameConfig::new(0, [500.0, 500.0], 1)).frame(SimTiming::default()))
    }

    /// Regression (the relay became a tracked task and the server held its channel open for
    /// good, so a simulation that died went unnoticed): when the simulation's channel closes,
    /// the relayed one closes too, which is what ends the sessions and `run`.
    #[tokio::test]
    async fn a_dead_simulation_closes_the_relayed_frames() {
        let (sim, from) = watch::channel(a_frame());
        let tracker = TaskTracker::new();
        let (mut frames, _parked) = relay(from, Arc::new(Stats::default()), &tracker, CancellationToken::new());
        sim.send_replace(a_frame());
        frames.changed().await.expect("a frame is relayed");
        drop(sim);
        let closed = tokio::time::timeout(Duration::from_secs(5), frames.changed()).await;
        assert!(closed.expect("noticed at once").is_err(), "the relayed channel closed");
        tracker.close();
        tracker.wait().await;
    }

    /// At shutdown the relay ends (the drain waits for it) and hands its channel over, so the
    /// channel stays open while sessions say goodbye, though the simulation's stays parked.
    #[tokio::test]
    async fn at_shutdown_the_relay_ends_and_parks_its_channel() {
        let (_sim, from) = watch::channel(a_frame());
        let tracker = TaskTracker::new();
        let shutdown = CancellationToken::new();
        let (mut frames, mut parked) = relay(from, Arc::new(Stats::default()), &tracker, shutdown.clone());
        shutdown.cancel();
        tracker.close();
        tokio::time::timeout(Duration::from_secs(5), tracker.wait()).await.expect("the relay ended");
        let held = parked.try_recv().expect("the channel was handed over");
        assert!(frames.has_changed().is_ok(), "still open while held");
        drop(held);
        assert!(frames.changed().await.is_err(), "closed once the drain lets go");
    }
}
