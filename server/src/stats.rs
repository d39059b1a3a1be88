//! Counters for operators: server-wide totals and rates, and one record per connection for
//! the admin drill-down. Each server-wide counter is declared once, in the `stats!` list below,
//! which also makes its row of the [`crate::metrics`] table (so `/admin/stats` and `/metrics`
//! both show it without naming it again). Relaxed atomics throughout: every figure is
//! independent, and a reader only needs a recent value. The registry's `Mutex` is taken on
//! connect, disconnect and admin reads, never per message.

use crate::figure::{Figure, Kind, Num, Reading};
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

/// Declares [`Stats`] from one list: each server-wide figure is an atomic field whose `///`
/// doc is also its Prometheus help, with its Prometheus name and kind beside it. The macro
/// also makes [`Stats::FIGURES`], the figures' rows of the [`crate::metrics`] table, so
/// neither `/admin/stats` nor `/metrics` names them again. A rate is sampled from a total
/// every [`RATE_INTERVAL`] by [`sample_rates`].
macro_rules! stats {
    (
        totals { $( $(#[doc = $doc:literal])+ $field:ident: $kind:ident $prom:literal; )+ }
        rates { $( $(#[doc = $rdoc:literal])+ $rate:ident = $total:ident per second $rprom:literal; )+ }
    ) => {
        /// Server-wide counters, and the registry of connections.
        #[derive(Debug)]
        pub struct Stats {
            /// When the server started.
            pub started: Instant,
            $( $(#[doc = $doc])+ pub $field: AtomicU64, )+
            $( $(#[doc = $rdoc])+ pub $rate: AtomicF64, )+
            /// Connections that finished the handshake, by connection id.
            pub sessions: Mutex<HashMap<u64, Arc<ConnStats>>>,
            next_conn: AtomicU64,
        }

        impl Default for Stats {
            fn default() -> Self {
                Stats {
                    started: Instant::now(),
                    $( $field: AtomicU64::new(0), )+
                    $( $rate: AtomicF64::default(), )+
                    sessions: Mutex::new(HashMap::new()),
                    next_conn: AtomicU64::new(1),
                }
            }
        }

        /// The totals behind the rates at the last sample.
        #[derive(Clone, Copy, Debug, Default)]
        struct RateBase {
            $( $rate: u64, )+
        }

        impl Stats {
            /// The rows of the [`crate::metrics`] table for these counters.
            pub const FIGURES: &'static [Figure<fn(&Stats) -> Reading>] = &[
                $( Figure {
                    json: stringify!($field),
                    prom: $prom,
                    kind: Kind::$kind,
                    help: concat!($($doc),+),
                    read: |s| Reading::One(Num::Int(s.$field.load(Ordering::Relaxed))),
                }, )+
                $( Figure {
                    json: stringify!($rate),
                    prom: $rprom,
                    kind: Kind::Gauge,
                    help: concat!($($rdoc),+),
                    read: |s| Reading::One(Num::Real(s.$rate.get())),
                }, )+
            ];

            /// Sets every rate from its total's growth since `base`, `secs` ago.
            fn sample(&self, base: &mut RateBase, secs: f64) {
                $(
                    let now = self.$total.load(Ordering::Relaxed);
                    self.$rate.set(now.saturating_sub(base.$rate) as f64 / secs);
                    base.$rate = now;
                )+
            }
        }
    };
}

stats! {
    totals {
        /// Open game connections (upgraded sockets).
        connections: Gauge "asteroids_connections";
        /// Of those, spectators: connections watching the featured pilot without playing (the page before its player joins).
        spectators: Gauge "asteroids_spectators";
        /// Client messages rejected as invalid.
        invalid_messages: Counter "asteroids_invalid_messages_total";
        /// Names refused at the handshake for invisible characters or stacked marks (also in invalid_messages).
        names_refused: Counter "asteroids_names_refused_total";
        /// Names refused at the handshake for looking like an existing pilot's (answered NameTaken).
        look_alike_names: Counter "asteroids_look_alike_names_total";
        /// Inputs dropped because the simulation's queue was full.
        dropped_inputs: Counter "asteroids_dropped_inputs_total";
        /// Connections closed for not completing the handshake in time.
        handshake_timeouts: Counter "asteroids_handshake_timeouts_total";
        /// Client messages (control frames included) dropped for exceeding the per-connection rate.
        rate_limited: Counter "asteroids_rate_limited_total";
        /// Connections closed (1008) for exceeding the message rate, control frames included.
        rate_closed: Counter "asteroids_rate_closed_total";
        /// WebSocket ping and pong frames received from clients (each charged to the message rate).
        control_frames: Counter "asteroids_control_frames_total";
        /// Game socket upgrades refused for a foreign Origin (403).
        origin_rejected: Counter "asteroids_origin_rejected_total";
        /// Game connections refused at the connection cap: upgrades answered 503, and connections let in on a ghost's place whose pilot it was not (closed 1013).
        full_rejected: Counter "asteroids_full_rejected_total";
        /// Game connections refused at the per-address cap: upgrades answered 429, and connections let in on a ghost's place whose pilot it was not (closed 1013).
        address_rejected: Counter "asteroids_address_rejected_total";
        /// Places under the connection caps held by dropped players' ships waiting to be resumed (they count against both caps).
        ghosts: Gauge "asteroids_ghosts";
        /// Source addresses (IPv4, or IPv6 /64) holding connections or ghosts: the per-address table's size.
        connection_addresses: Gauge "asteroids_connection_addresses";
        /// Hellos refused because their address had created its quota of new identities within the hour (Rejected TooManyNewIdentities).
        new_identities_refused: Counter "asteroids_new_identities_refused_total";
        /// Of those, refused because their IPv6 /56 had created its quota within the hour (--max-new-identities-per-56-per-hour).
        new_identities_refused_56: Counter "asteroids_new_identities_refused_56_total";
        /// Of those, refused because their IPv6 /48 had created its quota within the hour (--max-new-identities-per-48-per-hour).
        new_identities_refused_48: Counter "asteroids_new_identities_refused_48_total";
        /// Identities in the store (revoked and archived ones included); at --max-identities no new one is created.
        identities: Gauge "asteroids_identities";
        /// Hellos refused because the store holds --max-identities identities and none could be reclaimed (Rejected NoNewIdentities).
        store_full_refused: Counter "asteroids_store_full_refused_total";
        /// Identities deleted because they stayed below --lasting-points and were not seen for the idle expiry (their names freed).
        identities_expired: Counter "asteroids_identities_expired_total";
        /// Identities below --lasting-points, idle and offline, deleted to make room for a newcomer at --max-identities (their names freed).
        identities_reclaimed: Counter "asteroids_identities_reclaimed_total";
        /// Identities deleted by an operator's POST /admin/purge.
        identities_purged: Counter "asteroids_identities_purged_total";
        /// Requests to admin routes refused for a missing or wrong token (401).
        admin_auth_failures: Counter "asteroids_admin_auth_failures_total";
        /// Requests to admin routes refused (429) because their address spent its budget of failed tokens.
        admin_auth_throttled: Counter "asteroids_admin_auth_throttled_total";
        /// Connections closed (4003) because the operator revoked their identity.
        revoked_closed: Counter "asteroids_revoked_closed_total";
        /// Score changes the store discarded because their identity was revoked (or expired) before they arrived.
        discarded_score_changes: Counter "asteroids_discarded_score_changes_total";
        /// Store reads and writes that failed (a full disk, an I/O error, the database unreachable); logged at most once per 10 s.
        store_errors: Counter "asteroids_store_errors_total";
        /// Transactions of score changes (and sightings) the store committed.
        store_commits: Counter "asteroids_store_commits_total";
        /// Time the store spent committing them, microseconds (divided by store_commits: the mean commit latency).
        store_commit_us: Counter "asteroids_store_commit_microseconds_total";
        /// Score changes in those transactions, discarded ones included (divided by store_commits: the mean batch size).
        store_committed_changes: Counter "asteroids_store_committed_changes_total";
        /// Score changes in the last committed transaction.
        store_last_batch: Gauge "asteroids_store_last_batch_changes";
        /// Score changes waiting because commits are failing (the database is unreachable); 0 when it is up.
        store_pending_changes: Gauge "asteroids_store_pending_changes";
        /// Total time score changes waited because commits were failing (the database unreachable), milliseconds.
        store_wait_ms: Counter "asteroids_store_wait_milliseconds_total";
        /// Connections to PostgreSQL made again after one was lost.
        store_reconnects: Counter "asteroids_store_reconnects_total";
        /// The connection cap in force: --max-connections, lowered to fit the open-file limit.
        max_connections: Gauge "asteroids_max_connections";
        /// The process's soft open-file limit at start-up (0: the platform has none).
        open_files_limit: Gauge "asteroids_open_files_limit";
        /// TCP connections closed at accept because their peer address held --max-pending-per-address connections not yet upgraded.
        pending_refused: Counter "asteroids_pending_refused_total";
        /// TCP connections accepted and not yet upgraded or closed (trusted proxies' not counted).
        pending_connections: Gauge "asteroids_pending_connections";
        /// Accepts that failed (out of file descriptors, or a connection reset before accept).
        accept_errors: Counter "asteroids_accept_errors_total";
        /// Connections answered 503 and closed at accept because the process was out of file descriptors.
        fd_exhausted_rejected: Counter "asteroids_fd_exhausted_rejected_total";
        /// Connections from a --proxy-protocol-from balancer whose PROXY header was read (a client's, or the balancer's own).
        proxy_headers: Counter "asteroids_proxy_headers_total";
        /// Connections from a --proxy-protocol-from balancer closed for a missing, malformed, too long or incomplete PROXY header (one that sent nothing counts as any silent connection).
        proxy_header_rejected: Counter "asteroids_proxy_header_rejected_total";
        /// Game socket requests carrying X-Forwarded-For from a peer not named with --trusted-proxy (the header was ignored).
        forwarded_untrusted: Counter "asteroids_forwarded_untrusted_total";
        /// Times an address came to hold --shared-address-warning game connections (many players behind one address).
        address_crowded: Counter "asteroids_address_crowded_total";
        /// Snapshots sent.
        snapshots: Counter "asteroids_snapshots_sent_total";
        /// Snapshots whose view was moved to contain the player's ship (or where it died): the client asked to see elsewhere.
        views_moved: Counter "asteroids_views_moved_total";
        /// Snapshots whose view slid toward the one asked for at the bounded speed instead of jumping there (a client flipping its view around its ship).
        views_held: Counter "asteroids_views_held_total";
        /// Bytes sent in binary WebSocket messages.
        bytes_out: Counter "asteroids_bytes_out_total";
        /// Bytes received in binary WebSocket messages.
        bytes_in: Counter "asteroids_bytes_in_total";
        /// Sectors alive in the universe's directory at its last successful reading (0: not part of a universe).
        universe_sectors: Gauge "asteroids_universe_sectors";
        /// Unix milliseconds at which the simulation last published a frame (its progress: /healthz fails when it stops).
        last_frame_unix_ms: Gauge "asteroids_last_frame_unix_ms";
        /// Redis commands that failed (heartbeat, listing, ticket claims); logged at most once per 10 s.
        redis_errors: Counter "asteroids_redis_errors_total";
        /// Ships that flew through an edge into a neighbouring sector (a ticket issued).
        handovers_out: Counter "asteroids_handovers_out_total";
        /// Ships that arrived from a neighbouring sector with a valid ticket.
        handovers_in: Counter "asteroids_handovers_in_total";
        /// Hand-over tickets refused as forged (bad signature, or not a ticket).
        tickets_forged: Counter "asteroids_tickets_forged_total";
        /// Hand-over tickets refused as expired.
        tickets_expired: Counter "asteroids_tickets_expired_total";
        /// Hand-over tickets refused because they were already used.
        tickets_replayed: Counter "asteroids_tickets_replayed_total";
        /// Hand-over tickets refused because they were issued to a connection from another address.
        tickets_wrong_holder: Counter "asteroids_tickets_wrong_holder_total";
        /// Hand-over tickets refused because they were for another sector.
        tickets_wrong_sector: Counter "asteroids_tickets_wrong_sector_total";
        /// Hand-over tickets refused because Redis could not record their single use.
        tickets_unrecorded: Counter "asteroids_tickets_unrecorded_total";
    }
    rates {
        /// Snapshots sent per second over the last second (in Prometheus, prefer rate() of the total).
        snapshots_per_sec = snapshots per second "asteroids_snapshots_per_second";
        /// Bytes sent per second over the last second (in Prometheus, prefer rate() of the total).
        bytes_out_per_sec = bytes_out per second "asteroids_bytes_out_per_second";
        /// Bytes received per second over the last second (in Prometheus, prefer rate() of the total).
        bytes_in_per_sec = bytes_in per second "asteroids_bytes_in_per_second";
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
    /// Round trip of the last WebSocket ping, microseconds (0: not measured yet). Set only by
    /// the pong answering the ping outstanding (the connection's link keeps which one that is).
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
    let mut last = Instant::now();
    let mut base = RateBase::default();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let now = Instant::now();
        let secs = (now - last).as_secs_f64().max(1e-3);
        last = now;
        stats.sample(&mut base, secs);
        for conn in stats.session_list() {
            let out = conn.bytes_out.load(Ordering::Relaxed);
            let before = conn.last_bytes_out.swap(out, Ordering::Relaxed);
            conn.bytes_out_per_sec.set(out.saturating_sub(before) as f64 / secs);
        }
    }
}
