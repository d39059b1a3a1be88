//! The universe's directory, in Redis: which sectors are alive, where their game sockets are,
//! and how full they are; and the record of used hand-over tickets.
//!
//! Each sector writes its own record under `asteroids:sector:X,Y` every
//! [`HEARTBEAT_INTERVAL`] with a time to live of [`SECTOR_TTL`]: a sector that dies (even by
//! `kill -9`) disappears from the directory by itself within that time, and one that lives
//! through a Redis restart is back with its next heartbeat, with nobody re-registering it.
//! Every sector reads the whole directory at the same pace and keeps the last reading
//! ([`Directory::listing`]), so nothing on a player's path waits for Redis except the one
//! check that a ticket is used once ([`Directory::claim_ticket`]).
//!
//! Redis is reached through one multiplexed connection, made again after any failure; every
//! command is bounded by [`REDIS_TIMEOUT`]. Failures are counted (`redis_errors`) and logged
//! at most once per [`crate::limits::STORE_LOG_INTERVAL`].

use crate::limits::{LogLimiter, STORE_LOG_INTERVAL};
use crate::Stats;
use redis::aio::MultiplexedConnection;
use redis::AsyncConnectionConfig;
use serde::{Deserialize, Serialize};
use shared::grid::sector_name;
use shared::protocol::SectorCoord;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// How often a sector refreshes its record and reads the directory.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);

/// How long a record lives without a heartbeat: a dead sector is gone from the directory
/// within this (three heartbeats: two may be late without the sector dropping out).
pub const SECTOR_TTL: Duration = Duration::from_secs(3);

/// How long a used ticket's nonce is remembered: longer than a ticket is valid, so a ticket
/// can never be used again while it could still be accepted.
pub const TICKET_CLAIM_TTL: Duration = Duration::from_secs(30);

/// Longest wait for Redis to connect or answer one command.
pub const REDIS_TIMEOUT: Duration = Duration::from_millis(500);

/// The prefix of every sector's record.
const SECTOR_KEY: &str = "asteroids:sector:";
/// The set of sectors that ever registered: the listing reads their records (a record that
/// expired leaves its member behind until the next listing removes it), so listing costs one
/// command per sector and not a scan of every key in Redis.
const SECTORS_SET: &str = "asteroids:sectors";
/// The prefix of every used ticket's record.
const TICKET_KEY: &str = "asteroids:ticket:";

/// One sector's record, as it is stored (JSON) and listed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SectorRecord {
    /// `X,Y`.
    pub sector: String,
    /// Its game socket.
    pub url: String,
    /// Players online there.
    pub players: u32,
    /// How many connections it takes.
    pub capacity: u32,
    /// Its tick time, 99th percentile over the last 10 s, milliseconds: its health.
    pub tick_ms_p99: f32,
    /// Ticks it missed since it started.
    pub missed_ticks: u64,
    /// Unix milliseconds of this heartbeat.
    pub heartbeat_unix_ms: u64,
    /// Its arena's width and height: ships cross only between sectors of one size.
    pub arena: [f32; 2],
    /// Random per process: tells two processes configured as one sector apart.
    pub instance: u64,
    /// Its best pilots online (its own, not the universe's): every sector ranks them with its
    /// own, so the online board is the universe's.
    pub top: Vec<shared::protocol::LeaderboardEntry>,
}

impl SectorRecord {
    /// Its sector, parsed.
    pub fn coord(&self) -> Option<SectorCoord> {
        shared::grid::parse_sector(&self.sector).ok()
    }
}

/// The directory as this sector last read it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Listing {
    /// Every sector alive, in grid order (rows, then columns).
    pub sectors: Vec<SectorRecord>,
    /// Unix milliseconds of the reading (0: never read).
    pub read_unix_ms: u64,
}

impl Listing {
    /// The record of `sector`, if it is alive.
    pub fn get(&self, sector: SectorCoord) -> Option<&SectorRecord> {
        self.sectors.iter().find(|r| r.coord() == Some(sector))
    }
}

/// The directory: this sector's heartbeat, the last listing, and single-use tickets.
pub struct Directory {
    client: redis::Client,
    /// The connection, made on first use and again after a failure. A std `Mutex`: it is
    /// held only to clone or replace the handle, never across an `await`.
    conn: Mutex<Option<MultiplexedConnection>>,
    stats: Arc<Stats>,
    errors_log: Mutex<LogLimiter>,
    listing: watch::Sender<Arc<Listing>>,
    /// Every sector's socket ever listed: a hand-over names its target's URL even if the
    /// target's record expired a moment ago.
    urls: Mutex<HashMap<SectorCoord, String>>,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory").field("sectors", &self.listing.borrow().sectors.len()).finish()
    }
}

impl Directory {
    /// A directory in the Redis at `url` (nothing is connected yet).
    pub fn new(url: &str, stats: Arc<Stats>) -> Result<Directory, String> {
        let client = redis::Client::open(url).map_err(|e| format!("--universe {url:?}: {e}"))?;
        Ok(Directory {
            client,
            conn: Mutex::new(None),
            stats,
            errors_log: Mutex::new(LogLimiter::every(STORE_LOG_INTERVAL)),
            listing: watch::channel(Arc::new(Listing::default())).0,
            urls: Mutex::new(HashMap::new()),
        })
    }

    /// The last listing.
    pub fn listing(&self) -> Arc<Listing> {
        self.listing.borrow().clone()
    }

    /// The game socket of `sector`: listed now, or last time it was.
    pub fn url_of(&self, sector: SectorCoord) -> Option<String> {
        self.urls.lock().expect("urls lock").get(&sector).cloned()
    }

    /// Whether `url` is (or was) a sector's game socket: the pages of a sector that died are
    /// let in by the others they fail over to.
    pub fn ever_listed(&self, matches: impl Fn(&str) -> bool) -> bool {
        self.urls.lock().expect("urls lock").values().any(|u| matches(u))
    }

    async fn connection(&self) -> redis::RedisResult<MultiplexedConnection> {
        if let Some(conn) = self.conn.lock().expect("conn lock").clone() {
            return Ok(conn);
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT));
        let conn = self.client.get_multiplexed_async_connection_with_config(&config).await?;
        *self.conn.lock().expect("conn lock") = Some(conn.clone());
        Ok(conn)
    }

    /// Runs `cmd`; on a failure, once more on a new connection (after a Redis restart the old
    /// one is dead, and the sector should be back in the directory at this heartbeat, not the
    /// next).
    async fn query<T: redis::FromRedisValue>(&self, what: &'static str, cmd: &redis::Cmd) -> redis::RedisResult<T> {
        let mut result = match self.connection().await {
            Ok(mut conn) => cmd.query_async(&mut conn).await,
            Err(e) => Err(e),
        };
        if result.as_ref().is_err_and(|e| e.is_io_error() || e.is_connection_dropped()) {
            *self.conn.lock().expect("conn lock") = None;
            result = match self.connection().await {
                Ok(mut conn) => cmd.query_async(&mut conn).await,
                Err(e) => Err(e),
            };
        }
        if let Err(e) = &result {
            *self.conn.lock().expect("conn lock") = None;
            self.stats.redis_errors.fetch_add(1, Ordering::Relaxed);
            let admitted = self.errors_log.lock().expect("log lock").admit(std::time::Instant::now());
            if let Some(suppressed) = admitted {
                tracing::warn!(error = %e, suppressed, "redis: {what} failed (further failures counted in redis_errors)");
            }
        }
        result
    }

    /// Writes this sector's record, to live [`SECTOR_TTL`], unless another process holds the
    /// sector: then `Ok(Some(its record))`, and nothing is written (two processes taking turns
    /// at one sector would send pages back and forth between them).
    pub async fn heartbeat(&self, record: &SectorRecord) -> redis::RedisResult<Option<SectorRecord>> {
        let key = format!("{SECTOR_KEY}{}", record.sector);
        let mut get = redis::cmd("GET");
        get.arg(&key);
        let current: Option<String> = self.query("heartbeat", &get).await?;
        if let Some(other) = current.and_then(|c| serde_json::from_str::<SectorRecord>(&c).ok()) {
            if other.instance != record.instance {
                return Ok(Some(other));
            }
        }
        let json = serde_json::to_string(record).expect("records serialize");
        let mut set = redis::cmd("SET");
        set.arg(&key).arg(json).arg("PX").arg(SECTOR_TTL.as_millis() as u64);
        self.query::<()>("heartbeat", &set).await?;
        let mut add = redis::cmd("SADD");
        add.arg(SECTORS_SET).arg(&record.sector);
        self.query::<()>("heartbeat", &add).await?;
        Ok(None)
    }

    /// Removes this sector's record at once (a drain: players are sent elsewhere now, not in
    /// three seconds).
    pub async fn leave(&self, sector: SectorCoord) -> redis::RedisResult<()> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(format!("{SECTOR_KEY}{}", sector_name(sector)));
        self.query::<()>("leaving the directory", &cmd).await
    }

    /// Reads every live sector's record and keeps the listing.
    pub async fn refresh(&self) -> redis::RedisResult<Arc<Listing>> {
        let mut members = redis::cmd("SMEMBERS");
        members.arg(SECTORS_SET);
        let names: Vec<String> = self.query("listing sectors", &members).await?;
        let mut sectors = Vec::with_capacity(names.len());
        if !names.is_empty() {
            let mut get = redis::cmd("MGET");
            get.arg(names.iter().map(|n| format!("{SECTOR_KEY}{n}")).collect::<Vec<_>>());
            let values: Vec<Option<String>> = self.query("reading sectors", &get).await?;
            // A sector whose record expired is gone: its member goes too (it comes back with
            // its next heartbeat, if it lives). A record that does not parse is skipped.
            let gone: Vec<&String> = names.iter().zip(&values).filter(|(_, v)| v.is_none()).map(|(n, _)| n).collect();
            if !gone.is_empty() {
                let mut remove = redis::cmd("SREM");
                remove.arg(SECTORS_SET).arg(gone);
                let _ = self.query::<()>("pruning sectors", &remove).await;
            }
            sectors.extend(values.into_iter().flatten().filter_map(|v| serde_json::from_str::<SectorRecord>(&v).ok()));
        }
        sectors.retain(|r| r.coord().is_some());
        sectors.sort_by_key(|r| r.coord().map(|c| (c.y, c.x)));
        {
            let mut urls = self.urls.lock().expect("urls lock");
            for r in &sectors {
                if let Some(c) = r.coord() {
                    urls.insert(c, r.url.clone());
                }
            }
        }
        self.stats.universe_sectors.store(sectors.len() as u64, Ordering::Relaxed);
        let listing = Arc::new(Listing { sectors, read_unix_ms: crate::clock::unix_ms() });
        self.listing.send_replace(listing.clone());
        Ok(listing)
    }

    /// Records a ticket's single use: true the first time its nonce is claimed, false ever
    /// after (for [`TICKET_CLAIM_TTL`], longer than a ticket is valid).
    pub async fn claim_ticket(&self, nonce: &[u8; 16]) -> redis::RedisResult<bool> {
        let hex: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
        let mut cmd = redis::cmd("SET");
        cmd.arg(format!("{TICKET_KEY}{hex}")).arg(1).arg("NX").arg("PX").arg(TICKET_CLAIM_TTL.as_millis() as u64);
        let set: Option<String> = self.query("claiming a ticket", &cmd).await?;
        Ok(set.is_some())
    }
}
