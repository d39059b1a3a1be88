//! Counters for operators: server-wide totals and rates, and one record per connection for
//! the admin drill-down. Relaxed atomics throughout: every figure is independent, and a reader
//! only needs a recent value. The registry's `Mutex` is taken on connect, disconnect and admin
//! reads, never per message.

use shared::protocol::ViewRect;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often rates are sampled.
pub const RATE_INTERVAL: Duration = Duration::from_secs(1);

/// An `f64` in an atomic (its bits).
#[derive(Debug, Default)]
pub struct AtomicF64(AtomicU64);

impl AtomicF64 {
    /// Stores a value.
    pub fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Ordering::Relaxed);
    }

    /// Loads the value.
    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
}

/// Server-wide counters.
#[derive(Debug)]
pub struct Stats {
    /// When the server started.
    pub started: Instant,
    /// Open game connections (upgraded sockets).
    pub connections: AtomicU64,
    /// Messages rejected as invalid (all connections, since start).
    pub invalid_messages: AtomicU64,
    /// Inputs dropped because the simulation's channel was full.
    pub dropped_inputs: AtomicU64,
    /// Connections closed for not completing the handshake in time.
    pub handshake_timeouts: AtomicU64,
    /// Client messages dropped for exceeding the per-connection rate.
    pub rate_limited: AtomicU64,
    /// Upgrades refused for a foreign `Origin` (403).
    pub origin_rejected: AtomicU64,
    /// Upgrades refused at the connection cap (503).
    pub full_rejected: AtomicU64,
    /// Snapshots sent.
    pub snapshots: AtomicU64,
    /// Bytes sent in binary messages.
    pub bytes_out: AtomicU64,
    /// Bytes received in binary messages.
    pub bytes_in: AtomicU64,
    /// Snapshots sent per second, over the last [`RATE_INTERVAL`].
    pub snapshots_per_sec: AtomicF64,
    /// Bytes sent per second.
    pub bytes_out_per_sec: AtomicF64,
    /// Bytes received per second.
    pub bytes_in_per_sec: AtomicF64,
    /// Connections that finished the handshake, by connection id.
    pub sessions: Mutex<HashMap<u64, Arc<ConnStats>>>,
    next_conn: AtomicU64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            started: Instant::now(),
            connections: AtomicU64::new(0),
            invalid_messages: AtomicU64::new(0),
            dropped_inputs: AtomicU64::new(0),
            handshake_timeouts: AtomicU64::new(0),
            rate_limited: AtomicU64::new(0),
            origin_rejected: AtomicU64::new(0),
            full_rejected: AtomicU64::new(0),
            snapshots: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            snapshots_per_sec: AtomicF64::default(),
            bytes_out_per_sec: AtomicF64::default(),
            bytes_in_per_sec: AtomicF64::default(),
            sessions: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(1),
        }
    }
}

/// One connection, for the admin drill-down.
#[derive(Debug)]
pub struct ConnStats {
    /// Connection id (never reused).
    pub id: u64,
    /// The player.
    pub player: u32,
    /// The player's name.
    pub name: String,
    /// When the session started.
    pub since: Instant,
    /// Bytes sent to it.
    pub bytes_out: AtomicU64,
    /// Bytes received from it.
    pub bytes_in: AtomicU64,
    /// Bytes sent per second, over the last [`RATE_INTERVAL`].
    pub bytes_out_per_sec: AtomicF64,
    last_bytes_out: AtomicU64,
    /// Snapshots sent.
    pub snapshots: AtomicU64,
    /// Entities in its view at the last snapshot.
    pub entities_in_view: AtomicU32,
    /// Whether a frame is being written right now (the most a session ever holds is one).
    pub sending: AtomicBool,
    /// Round trip of the last WebSocket ping, microseconds (0: not measured yet).
    pub rtt_us: AtomicU64,
    /// The clamped view: centre x, y and size w, h, as `f32` bits.
    view: [AtomicU32; 4],
}

impl ConnStats {
    /// Records the view in effect.
    pub fn set_view(&self, v: &ViewRect) {
        for (slot, x) in self.view.iter().zip([v.center[0], v.center[1], v.size[0], v.size[1]]) {
            slot.store(x.to_bits(), Ordering::Relaxed);
        }
    }

    /// The view in effect: `[x, y, w, h]`.
    pub fn view(&self) -> [f32; 4] {
        let v = |i: usize| f32::from_bits(self.view[i].load(Ordering::Relaxed));
        [v(0), v(1), v(2), v(3)]
    }
}

impl Stats {
    /// Registers a session that finished its handshake.
    pub fn register(&self, player: u32, name: String) -> Arc<ConnStats> {
        let id = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(ConnStats {
            id,
            player,
            name,
            since: Instant::now(),
            bytes_out: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out_per_sec: AtomicF64::default(),
            last_bytes_out: AtomicU64::new(0),
            snapshots: AtomicU64::new(0),
            entities_in_view: AtomicU32::new(0),
            sending: AtomicBool::new(false),
            rtt_us: AtomicU64::new(0),
            view: Default::default(),
        });
        self.sessions.lock().unwrap_or_else(|e| e.into_inner()).insert(id, conn.clone());
        conn
    }

    /// Removes a session from the registry.
    pub fn unregister(&self, id: u64) {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
    }

    /// Every registered session.
    pub fn session_list(&self) -> Vec<Arc<ConnStats>> {
        let mut list: Vec<_> = self.sessions.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect();
        list.sort_by_key(|c| c.id);
        list
    }
}

/// Samples the cumulative counters every [`RATE_INTERVAL`] into per-second rates, until
/// `shutdown` is cancelled.
pub async fn sample_rates(stats: Arc<Stats>, shutdown: tokio_util::sync::CancellationToken) {
    let mut ticker = tokio::time::interval(RATE_INTERVAL);
    let mut last = (Instant::now(), 0u64, 0u64, 0u64);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let now = Instant::now();
        let secs = (now - last.0).as_secs_f64().max(1e-3);
        let snaps = stats.snapshots.load(Ordering::Relaxed);
        let out = stats.bytes_out.load(Ordering::Relaxed);
        let inb = stats.bytes_in.load(Ordering::Relaxed);
        stats.snapshots_per_sec.set((snaps - last.1) as f64 / secs);
        stats.bytes_out_per_sec.set((out - last.2) as f64 / secs);
        stats.bytes_in_per_sec.set((inb - last.3) as f64 / secs);
        last = (now, snaps, out, inb);
        for conn in stats.session_list() {
            let out = conn.bytes_out.load(Ordering::Relaxed);
            let before = conn.last_bytes_out.swap(out, Ordering::Relaxed);
            conn.bytes_out_per_sec.set(out.saturating_sub(before) as f64 / secs);
        }
    }
}
