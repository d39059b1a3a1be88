//! The universe: many servers, each one *sector* of a W × H grid, on any machines, sharing a
//! Redis (the directory) and, usually, a PostgreSQL (identities and scores).
//!
//! A sector is an ordinary server with a place in the grid ([`shared::grid`]): its arena's edges that
//! have a neighbour behind them are open to ships (`shared::kinematics::OpenEdges`, sent to
//! clients in `Welcome`, so their prediction lets the ship through too). A ship that crosses
//! one leaves the sector with a hand-over ticket ([`ticket`]): its exact state in the
//! neighbour's coordinates, its identity and its score, signed with the universe's secret;
//! the page presents it to the neighbour, which checks it, records its single use in Redis,
//! and continues the ship from that state. Asteroids and bullets never cross.
//!
//! [`Universe::run`] keeps this sector in the directory ([`directory`]) and reads it, once a
//! second: the neighbours alive decide which open edges ships may cross now ([`LiveEdges`]:
//! toward a dead neighbour, the edge turns ships back), and the listing is what
//! `/api/universe`, the admin page and the pages' `Universe` message show.

pub mod directory;
pub mod ticket;

use crate::clock::unix_ms;
use crate::sim::frame::Encoded;
use crate::sim::{Departure, Elsewhere};
use directory::{Directory, Listing, SectorRecord};
use shared::grid::{self, sector_name, Grid};
use shared::kinematics::OpenEdges;
use shared::protocol::{HandOver, SectorStatus, ServerMsg, UniverseMap};
use shared::ticket::{Claims, Traveller};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;
use ticket::{TicketError, TicketKey, TICKET_VALIDITY};
use tokio_util::sync::CancellationToken;

/// Least time between two universe maps sent to one page: the players' counts change all
/// the time, and the map is for finding another sector, not for live figures.
pub const UNIVERSE_MAP_INTERVAL: Duration = Duration::from_secs(5);

/// What makes a server a sector.
#[derive(Clone, Debug)]
pub struct UniverseConfig {
    /// The directory's Redis (`redis://host:port`).
    pub redis_url: String,
    /// This sector in the grid.
    pub grid: Grid,
    /// This sector's game socket, as players reach it (`ws://host:port/ws`).
    pub url: String,
    /// Signs and checks hand-over tickets.
    pub key: TicketKey,
    /// Which store holds this sector's identities (see [`store_fingerprint`]).
    pub store: String,
}

/// What names a store across sectors: sectors whose fingerprints are equal share their
/// identities (a PostgreSQL database, or one SQLite file on one machine). A throwaway
/// in-memory database is no other sector's.
pub fn store_fingerprint(db: &crate::store::StoreLocation) -> String {
    match db {
        crate::store::StoreLocation::Postgres(url) => {
            // Host, port and database, without the credentials and options: the same
            // database reached as another user is the same database.
            let rest = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
            let rest = rest.rsplit_once('@').map_or(rest, |(_, at)| at);
            let rest = rest.split('?').next().unwrap_or(rest);
            let (host, db) = rest.split_once('/').unwrap_or((rest, ""));
            // Without a database in the URL, PostgreSQL connects to the user's own.
            let user = url.split_once("://").and_then(|(_, r)| r.rsplit_once('@')).map(|(u, _)| u);
            let user = user.map(|u| u.split(':').next().unwrap_or(u)).unwrap_or("");
            let db = if db.is_empty() { user } else { db };
            let host = host.to_ascii_lowercase();
            let host = if host.rsplit_once(':').is_some_and(|(_, p)| p.chars().all(|c| c.is_ascii_digit()))
                && !host.ends_with(']')
            {
                host
            } else {
                format!("{host}:5432")
            };
            format!("postgres://{host}/{db}")
        }
        crate::store::StoreLocation::Sqlite(path) if path.as_os_str() == ":memory:" => {
            format!("sqlite::memory:{:016x}", rand::random::<u64>())
        }
        crate::store::StoreLocation::Sqlite(path) => {
            let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
            format!("sqlite:{}@{}", path.display(), hostname())
        }
    }
}

/// This machine's name (an SQLite file is shared only on one machine).
fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_default()
}

/// The open edges whose neighbour is alive now, as the last listing said: written by
/// [`Universe::run`], sampled for the simulation before every tick (its `Surroundings`).
#[derive(Debug, Default)]
pub struct LiveEdges(AtomicU8);

impl LiveEdges {
    /// The edges ships may cross now.
    pub fn get(&self) -> OpenEdges {
        let bits = self.0.load(Ordering::Relaxed);
        OpenEdges { left: bits & 1 != 0, right: bits & 2 != 0, bottom: bits & 4 != 0, top: bits & 8 != 0 }
    }

    /// Sets them.
    pub fn set(&self, edges: OpenEdges) {
        let bits =
            u8::from(edges.left) | u8::from(edges.right) << 1 | u8::from(edges.bottom) << 2 | u8::from(edges.top) << 3;
        self.0.store(bits, Ordering::Relaxed);
    }
}

/// This server's part in a universe.
#[derive(Debug)]
pub struct Universe {
    /// Where it is.
    pub grid: Grid,
    /// Its game socket.
    pub url: String,
    key: TicketKey,
    /// The store's fingerprint (see [`store_fingerprint`]), for the log.
    store: String,
    /// Its digest, as tickets carry it.
    store_digest: [u8; 16],
    /// The directory.
    pub directory: Directory,
    /// The open edges ships may cross now.
    pub live_edges: Arc<LiveEdges>,
    /// The map the pages are sent, encoded once per change for every session.
    map: tokio::sync::watch::Sender<Arc<Encoded<UniverseMap>>>,
    /// The other sectors' players and best pilots, for the simulation's board.
    elsewhere: tokio::sync::watch::Sender<Arc<Elsewhere>>,
}

impl Universe {
    /// A sector as configured (nothing is connected yet).
    pub fn new(config: UniverseConfig, stats: Arc<crate::Stats>) -> Result<Universe, String> {
        Ok(Universe {
            directory: Directory::new(&config.redis_url, stats)?,
            grid: config.grid,
            url: config.url,
            key: config.key,
            store_digest: ticket::digest("asteroids store", &config.store),
            store: config.store,
            live_edges: Arc::new(LiveEdges::default()),
            map: tokio::sync::watch::channel(Encoded::new(
                UniverseMap { size: config.grid.size, sectors: Vec::new() },
                ServerMsg::Universe,
            ))
            .0,
            elsewhere: tokio::sync::watch::channel(Arc::new(Elsewhere::default())).0,
        })
    }

    /// The other sectors' players and best pilots, kept current (for the simulation's board).
    pub fn elsewhere(&self) -> tokio::sync::watch::Receiver<Arc<Elsewhere>> {
        self.elsewhere.subscribe()
    }

    /// What `listing` says the other sectors have online (nothing when it is stale).
    fn others(&self, listing: &Listing, now_ms: u64) -> Elsewhere {
        if now_ms.saturating_sub(listing.read_unix_ms) > directory::SECTOR_TTL.as_millis() as u64 {
            return Elsewhere::default();
        }
        let others = listing.sectors.iter().filter(|r| r.coord() != Some(self.grid.sector));
        let mut elsewhere = Elsewhere::default();
        for r in others {
            elsewhere.online += r.players;
            elsewhere.top.extend(r.top.iter().cloned());
        }
        elsewhere
    }

    /// The hand-over for a ship leaving, whose pilot's connection came from `holder` (a
    /// [`ticket::holder`] digest): the target's socket and a ticket for it. `None` if the
    /// target's socket was never listed (the simulation lets ships cross only toward listed
    /// neighbours, so this does not happen).
    pub fn issue(&self, departure: Departure, holder: [u8; 16]) -> Option<HandOver> {
        let url = self.directory.url_of(departure.to)?;
        let claims = Claims {
            nonce: rand::random(),
            from: self.grid.sector,
            to: departure.to,
            crossed_unix_ms: departure.crossed_unix_ms,
            expires_unix_ms: unix_ms() + TICKET_VALIDITY.as_millis() as u64,
            store: self.store_digest,
            holder,
            traveller: departure.traveller,
        };
        Some(HandOver { sector: departure.to, url, ticket: self.key.sign(&claims) })
    }

    /// Checks a ticket presented here by a connection from `holder` (its signature, target,
    /// expiry and holder; nothing is recorded yet: see [`Universe::redeem`]).
    pub fn check(&self, ticket: &[u8], holder: [u8; 16]) -> Result<Claims, TicketError> {
        let claims = self.key.verify(ticket, self.grid.sector, unix_ms())?;
        if claims.holder != holder {
            return Err(TicketError::WrongHolder);
        }
        Ok(claims)
    }

    /// Records a checked ticket's use; on success, the traveller it carries. Refused when
    /// Redis cannot record the use (`Err(None)`): a ticket is used once or not at all.
    pub async fn redeem(&self, claims: Claims) -> Result<Traveller, Option<TicketError>> {
        match self.directory.claim_ticket(&claims.nonce).await {
            Ok(true) => {
                let mut traveller = claims.traveller;
                if claims.store != self.store_digest && traveller.identity.take().is_some() {
                    tracing::warn!(
                        from = %grid::sector_name(claims.from),
                        ours = %self.store,
                        "a pilot arrived from a sector with another store: it flies on here as a guest (give every \
                         sector the same --db)"
                    );
                }
                Ok(traveller)
            }
            Ok(false) => Err(Some(TicketError::Replayed)),
            Err(_) => Err(None),
        }
    }

    /// The directory as `/api/universe` and `/admin/stats` show it.
    pub fn json(&self) -> serde_json::Value {
        let listing = self.directory.listing();
        let now = unix_ms();
        let sectors: Vec<_> = listing
            .sectors
            .iter()
            .map(|s| {
                serde_json::json!({
                    "sector": s.sector,
                    "url": s.url,
                    "players": s.players,
                    "capacity": s.capacity,
                    "heartbeat_age_ms": now.saturating_sub(s.heartbeat_unix_ms),
                    "tick_ms_p99": s.tick_ms_p99,
                    "missed_ticks": s.missed_ticks,
                })
            })
            .collect();
        let [w, h] = self.grid.size;
        serde_json::json!({
            "universe": true,
            "size": format!("{w},{h}"),
            "sector": sector_name(self.grid.sector),
            "listed_age_ms": now.saturating_sub(listing.read_unix_ms),
            "sectors": sectors,
        })
    }

    /// The universe's sectors as the pages are sent them, as of the last listing.
    pub fn published_map(&self) -> Arc<Encoded<UniverseMap>> {
        self.map.borrow().clone()
    }

    /// The universe's sectors as the pages see them.
    pub fn map(&self, listing: &Listing) -> UniverseMap {
        UniverseMap {
            size: self.grid.size,
            sectors: listing
                .sectors
                .iter()
                .filter_map(|r| {
                    Some(SectorStatus {
                        sector: r.coord()?,
                        url: r.url.clone(),
                        players: r.players,
                        capacity: r.capacity,
                    })
                })
                .collect(),
        }
    }

    /// Which open edges lead to a neighbour alive in `listing`. A listing older than
    /// [`directory::SECTOR_TTL`] (Redis unreachable) shows none alive: no crossing could be
    /// completed without Redis anyway.
    fn live(&self, listing: &Listing, now_ms: u64) -> OpenEdges {
        if now_ms.saturating_sub(listing.read_unix_ms) > directory::SECTOR_TTL.as_millis() as u64 {
            return OpenEdges::default();
        }
        let arena = self.grid.arena_half_size.map(|h| h * 2.0);
        // A full neighbour could not take the ship in either.
        let alive = |dx, dy| {
            let r = self.grid.neighbour(dx, dy).and_then(|n| listing.get(n));
            r.is_some_and(|r| r.arena == arena && r.players < r.capacity)
        };
        OpenEdges { left: alive(-1, 0), right: alive(1, 0), bottom: alive(0, -1), top: alive(0, 1) }
    }

    /// Keeps this sector in the directory and reads it, every [`directory::HEARTBEAT_INTERVAL`],
    /// until `shutdown`; then leaves the directory at once. `record` says how the sector is
    /// doing now, or `None` while its simulation has stalled: then no heartbeat is written,
    /// the record expires, and the neighbours stop sending ships into a frozen world.
    pub async fn run(self: Arc<Self>, record: impl Fn() -> Option<SectorRecord>, shutdown: CancellationToken) {
        let mut beat = tokio::time::interval(directory::HEARTBEAT_INTERVAL);
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut registered = false;
        let mut conflict_logged = false;
        loop {
            tokio::select! {
                _ = beat.tick() => {}
                _ = shutdown.cancelled() => break,
            }
            let Some(record) = record() else {
                if registered {
                    tracing::error!(
                        "the simulation has stalled: this sector leaves the directory until it ticks again"
                    );
                }
                registered = false;
                let _ = self.directory.refresh().await;
                continue;
            };
            let ok = match self.directory.heartbeat(&record).await {
                Ok(None) => true,
                Ok(Some(other)) => {
                    if !conflict_logged {
                        tracing::error!(
                            sector = %sector_name(self.grid.sector),
                            other = %other.url,
                            "another process serves this sector: not registered until it is gone (check --sector)"
                        );
                        conflict_logged = true;
                    }
                    false
                }
                Err(_) => false,
            };
            if ok && !registered {
                tracing::info!(sector = %sector_name(self.grid.sector), url = %self.url, "registered in the universe's directory");
                conflict_logged = false;
            }
            registered = ok;
            if self.directory.refresh().await.is_err() {
                // Redis is unreachable: no ticket could be redeemed, so no ship may leave.
                self.live_edges.set(OpenEdges::default());
                continue;
            }
            let listing = self.directory.listing();
            self.live_edges.set(self.live(&listing, unix_ms()));
            let map = self.map(&listing);
            if map != self.map.borrow().value {
                self.map.send_replace(Encoded::new(map, ServerMsg::Universe));
            }
            let others = self.others(&listing, unix_ms());
            if others != **self.elsewhere.borrow() {
                self.elsewhere.send_replace(Arc::new(others));
            }
        }
        self.live_edges.set(OpenEdges::default());
        let _ = tokio::time::timeout(Duration::from_secs(1), self.directory.leave(self.grid.sector)).await;
    }
}

/// The record this sector writes, from its newest frame and its cap (`instance`: this
/// process's random number).
pub fn record_of(
    grid: &Grid,
    url: &str,
    frame: &crate::sim::frame::Frame,
    capacity: usize,
    instance: u64,
) -> SectorRecord {
    SectorRecord {
        sector: sector_name(grid.sector),
        url: url.to_string(),
        players: frame.leaderboard.here.online,
        top: frame.leaderboard.here.top.clone(),
        capacity: capacity.min(u32::MAX as usize) as u32,
        tick_ms_p99: frame.timing.tick_ms_p99,
        missed_ticks: frame.timing.counters.missed_ticks,
        heartbeat_unix_ms: unix_ms(),
        arena: grid.arena_half_size.map(|h| h * 2.0),
        instance,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::protocol::SectorCoord;

    /// The live edges round-trip through their bits.
    #[test]
    fn live_edges_keep_each_edge() {
        let live = LiveEdges::default();
        for bits in 0..16u8 {
            let e = OpenEdges { left: bits & 1 != 0, right: bits & 2 != 0, bottom: bits & 4 != 0, top: bits & 8 != 0 };
            live.set(e);
            assert_eq!(live.get(), e);
        }
    }

    /// Sectors on one PostgreSQL database share their store whoever they log in as; two
    /// in-memory databases never do.
    #[test]
    fn stores_are_told_apart() {
        use crate::store::StoreLocation;
        let pg = |url: &str| store_fingerprint(&StoreLocation::Postgres(url.into()));
        assert_eq!(pg("postgres://a:pw@db:5432/u"), pg("postgresql://b@DB/u?connect_timeout=3"));
        assert_ne!(pg("postgres://a@db:5432/u"), pg("postgres://a@db:5432/v"));
        assert_ne!(pg("postgres://alice@db"), pg("postgres://bob@db"), "each user's own database");
        assert_ne!(store_fingerprint(&StoreLocation::memory()), store_fingerprint(&StoreLocation::memory()));
    }

    /// Only neighbours in a fresh listing open their edge.
    #[test]
    fn only_listed_neighbours_are_crossable() {
        let grid = Grid::new([3, 1], SectorCoord { x: 1, y: 0 }, [100.0, 100.0]).unwrap();
        let config = UniverseConfig {
            redis_url: "redis://127.0.0.1:1".into(),
            grid,
            url: "ws://127.0.0.1:1/ws".into(),
            key: TicketKey::new(&[0; 16]).unwrap(),
            store: "sqlite::memory:".into(),
        };
        let u = Universe::new(config, Arc::default()).unwrap();
        let rec = |s: &str| SectorRecord {
            sector: s.into(),
            url: String::new(),
            players: 0,
            capacity: 1,
            tick_ms_p99: 1.0,
            missed_ticks: 0,
            heartbeat_unix_ms: 0,
            arena: [200.0, 200.0],
            instance: 1,
            top: Vec::new(),
        };
        let listing = Listing { sectors: vec![rec("0,0"), rec("1,0")], read_unix_ms: 10_000 };
        let live = u.live(&listing, 10_500);
        assert_eq!((live.left, live.right, live.top, live.bottom), (true, false, false, false));
        let full = Listing { sectors: vec![SectorRecord { players: 1, ..rec("0,0") }], read_unix_ms: 10_000 };
        assert_eq!(u.live(&full, 10_500), OpenEdges::default(), "a full neighbour takes no ship");
        assert_eq!(u.live(&listing, 10_000 + 3_001), OpenEdges::default(), "stale listing");
    }
}
