//! Identities and scores, behind one interface with two backends: an embedded SQLite file
//! (the default, one process: [`sqlite`]) or a PostgreSQL database that several server
//! processes share (`--db postgres://…`, the sectors of one universe: [`postgres`]).
//!
//! One thread owns the database connection, reads on request, and writes score changes in
//! batched transactions. Nothing else touches the database, and the simulation only ever
//! hands it events through a bounded channel, so no write (or fsync, or network round trip)
//! ever happens on the tick thread. Everything that does not depend on the database is
//! written once: here the handle ([`StoreHandle`]), the commands, the policy and the types;
//! in `worker.rs` the thread (the rules, batching, retries, counting); in [`pending`] the
//! bounded buffer of changes waiting through an outage. A backend ([`Backend`]) only answers
//! the handful of questions that are SQL.
//!
//! Tokens are 128 random bits, given to the client once, and stored only as their SHA-256.
//!
//! **Identities cost something.** A free name in a `Hello` creates a row, so rows are bounded
//! four ways. An identity is a *guest* until it has committed
//! [`StorePolicy::lasting_points`] points, and *lasting* from then on (the `scored` column).
//! A guest not seen for [`StorePolicy::idle_expiry`] is deleted and its name freed, by this
//! thread, in batches of [`EXPIRY_BATCH`] rows (one short transaction each). The store holds
//! at most [`StorePolicy::max_identities`]; a `Hello` that would create one more first
//! *reclaims* guests, idle for [`StorePolicy::reclaim_min_idle`] and not online (connected or
//! waiting as a ghost on this server: [`StoreHandle::guard_online`]), fewest points first,
//! then longest unseen, [`StorePolicy::reclaim_batch`] at a time; only when there is none is
//! it refused (counted, and logged at most once per [`crate::limits::STORE_LOG_INTERVAL`]).
//! So a store filled with cheap identities (one point costs a script 0.4 s) takes newcomers
//! again within the idle time, and a lasting identity, whose points cost real play, is never
//! reclaimed at all. A revoked identity's name is released after
//! [`StorePolicy::revoked_name_hold`] (or at once, by an operator). A released row is kept,
//! archived: its name keys are replaced by ones no name can have, so its scores stay in the
//! database while its name is free. Revoked identities are on no public board, and are never
//! expired, reclaimed or purged. Each row records the address that created it (an IPv4
//! address or an IPv6 /64), so an operator can purge what one network or one hour made
//! ([`Purge`], `POST /admin/purge`).
//!
//! **Nothing is lost while the database is away.** A failed commit leaves its changes waiting
//! and is retried every [`FLUSH_INTERVAL`]; the waiting changes are coalesced per identity
//! past a bound ([`pending::MAX_PENDING_CHANGES`]), so the buffer stays bounded by the
//! identities that scored and no change is dropped. The wait is counted (`store_wait_ms`,
//! `store_pending_changes`). Meanwhile a `Hello` is answered `Unavailable`. Closing the store
//! keeps retrying for [`SHUTDOWN_COMMIT_WAIT`], so a restart during a short outage loses nothing.
//!
//! **Shared databases.** With PostgreSQL, other processes write too: unique keys decide who
//! gets a name (a lost race reads as the name being taken), and the all-time top and the
//! identity count are re-read every [`SHARED_REFRESH_INTERVAL`] and
//! [`SHARED_RECOUNT_INTERVAL`], so every process shows everyone's scores. The cap on
//! identities is then as exact as the count is fresh: processes creating identities at once
//! can pass it by the few each made since the last recount.

mod location;
pub mod pending;
pub mod postgres;
pub mod sqlite;
mod worker;

pub use location::{StoreLocation, POSTGRES_SCHEMES};

use crate::net::name::NameKeys;
use crate::Stats;
use pending::Change;
use sha2::{Digest, Sha256};
use shared::protocol::LeaderboardEntry;
use std::collections::BTreeSet;
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{oneshot, watch};

pub use crate::sim::ScoreDelta;

/// Default database file, in the working directory.
pub const DEFAULT_DB_PATH: &str = "asteroids.db";
/// Longest a score change waits before its batch is committed; also how often a failed
/// commit is retried.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(100);
/// Most entries (coalesced score changes) in one transaction.
pub const MAX_BATCH: usize = 1024;
/// Capacity of the channel into the store; a full channel drops a score change (counted)
/// rather than block the simulation.
pub const STORE_CHANNEL_CAPACITY: usize = 65_536;
pub use crate::limits::EXPIRY_SWEEP_INTERVAL;
/// Most identities deleted in one transaction: a few milliseconds of writing, so score
/// commits and `Hello`s never wait long behind a sweep. A full batch is followed by the next
/// one after [`EXPIRY_BATCH_PAUSE`], once the commands waiting meanwhile are handled.
pub const EXPIRY_BATCH: usize = 500;
/// Identities reclaimed at once when the store is full: one transaction (one sync to disk)
/// serves this many newcomers, and the few lowest-value idle guests it takes early would
/// have gone to the next newcomers at a full store anyway. Finding them is one walk of an
/// index in the reclaim's order (`identities_reclaim`), under a millisecond at a million
/// guests.
pub const RECLAIM_BATCH: usize = 8;
/// Pause after a full expiry batch before the next one. Without it, while thousands of
/// idle guests were due, a batch followed every command the store handled, so a `Hello`
/// queued behind a stream of score changes waited for one batch per change (`store-bench`, a
/// million idle identities expiring: logins p99 1,063 ms, max 34 s; with the pause p99 40 ms,
/// max 71 ms). Every command waiting is now handled between two batches, and a million rows
/// still expire within minutes (2,000 batches).
pub const EXPIRY_BATCH_PAUSE: Duration = Duration::from_millis(25);
/// How long closing the store keeps retrying a commit that fails (the database unreachable)
/// before it gives up on what is still waiting: a restart during a short outage loses nothing,
/// and a drain still ends within seconds.
pub const SHUTDOWN_COMMIT_WAIT: Duration = Duration::from_secs(5);
/// How often a store on a shared database re-reads the all-time top, so it shows the scores
/// other processes commit (its own commits refresh it at once).
pub const SHARED_REFRESH_INTERVAL: Duration = Duration::from_secs(2);
/// How often a store on a shared database re-counts the identities (the cap's count), which
/// other processes create and expire too. Counting reads every row, so less often than the top.
pub const SHARED_RECOUNT_INTERVAL: Duration = Duration::from_secs(10);

/// The rules the store holds identities to (from [`crate::limits::Limits`]).
#[derive(Clone, Debug)]
pub struct StorePolicy {
    /// Most identities held (`--max-identities`).
    pub max_identities: u64,
    /// A guest (below `lasting_points`) unseen this long expires (`--identity-idle-expiry-days`).
    pub idle_expiry: Duration,
    /// A revoked identity's name is released this long after the revoke
    /// (`--revoked-name-hold-hours`).
    pub revoked_name_hold: Duration,
    /// How often idle identities are looked for ([`EXPIRY_SWEEP_INTERVAL`]; tests shorten it).
    pub sweep_interval: Duration,
    /// Points that make an identity lasting (`--lasting-points`).
    pub lasting_points: i64,
    /// A guest seen within this long is never reclaimed (`--identity-reclaim-idle-minutes`).
    pub reclaim_min_idle: Duration,
    /// Guests reclaimed at once ([`RECLAIM_BATCH`]; tests lower it to see the order).
    pub reclaim_batch: usize,
}

impl StorePolicy {
    /// The policy of `limits`.
    pub fn from_limits(limits: &crate::limits::Limits) -> StorePolicy {
        StorePolicy {
            max_identities: limits.max_identities,
            idle_expiry: limits.identity_idle_expiry,
            revoked_name_hold: limits.revoked_name_hold,
            sweep_interval: limits.identity_sweep_interval,
            lasting_points: limits.lasting_points,
            reclaim_min_idle: limits.reclaim_min_idle,
            reclaim_batch: RECLAIM_BATCH,
        }
    }
}

impl Default for StorePolicy {
    /// The defaults of the binary.
    fn default() -> Self {
        StorePolicy::from_limits(&crate::limits::Limits::default())
    }
}

/// An identity's all-time figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Asteroids hit.
    pub hits: i64,
    /// Ships destroyed.
    pub kills: i64,
    /// Own ship destroyed.
    pub deaths: i64,
    /// Longest life, ticks.
    pub best_life_ticks: i64,
    /// Points.
    pub points: i64,
}

/// Who a connection is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// Row id.
    pub id: i64,
    /// The name as registered.
    pub name: String,
    /// A token created now, to hand to the client (only for a new identity).
    pub new_token: Option<String>,
    /// All-time figures so far.
    pub totals: Totals,
}

/// Why an identity was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdentityError {
    /// The name belongs to another identity.
    NameTaken,
    /// The name looks like another identity's (same confusable skeleton: `net::name`).
    LookAlike,
    /// The token is unknown for this name, revoked, or another name's.
    InvalidToken,
    /// The store is gone (shutting down) or failed.
    Unavailable,
    /// The name is free, so a new identity was needed, and the caller's `may_create` said no
    /// (the address's quota of new identities is spent).
    CreationRefused,
    /// The name is free, but the store holds `max_identities` already and has no guest to
    /// reclaim.
    StoreFull,
}

/// What `POST /admin/release/{name}` found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Release {
    /// The revoked identity's name is free now (its row archived).
    Released,
    /// The name belongs to an identity that is not revoked: revoke it first.
    NotRevoked,
    /// No identity holds the name.
    Unknown,
}

/// Which identities `POST /admin/purge` deletes: every one matching all the filters given,
/// except revoked ones (their rows are the evidence), online ones (revoke those first), and
/// the newest row (see [`sqlite::EXPIRY_QUERY`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Purge {
    /// Created at or after this Unix second.
    pub created_after: Option<i64>,
    /// Created before this Unix second.
    pub created_before: Option<i64>,
    /// Created from an address in this network (identities made before addresses were
    /// recorded match no network).
    pub network: Option<crate::net::address::Network>,
    /// With at most this many points (to spare the players among them).
    pub max_points: Option<i64>,
}

impl Purge {
    /// Whether it names a creation window or a network (a purge of everything is refused).
    pub fn is_narrowed(&self) -> bool {
        self.created_after.is_some() || self.created_before.is_some() || self.network.is_some()
    }
}

/// Whether an identity's pilot is connected, or waiting as a ghost, on this server: such an
/// identity is never reclaimed or purged. Called on the store's thread.
pub type Online = Arc<dyn Fn(i64) -> bool + Send + Sync>;

/// Asked on the store's thread at the moment a new identity would be created (never for a
/// returning pilot): true to create it. Being asked there, in the order the store handles
/// requests, is what makes a quota exact: two requests cannot both pass its last place.
pub type MayCreate = Box<dyn FnOnce() -> bool + Send>;

enum Command {
    Identify {
        name: String,
        token: Option<String>,
        from: Option<crate::net::address::AddressKey>,
        may_create: MayCreate,
        reply: oneshot::Sender<Result<Identity, IdentityError>>,
    },
    Score(ScoreDelta),
    Revoke {
        name: String,
        reply: oneshot::Sender<Option<i64>>,
    },
    Release {
        name: String,
        reply: oneshot::Sender<Release>,
    },
    Flush {
        reply: oneshot::Sender<()>,
    },
    Online(Online),
    Purge {
        purge: Purge,
        reply: oneshot::Sender<Option<u64>>,
    },
    Player {
        name: String,
        reply: oneshot::Sender<Option<(String, Totals)>>,
    },
    Shutdown,
}

/// How the rest of the server talks to the store. Cheap to clone.
#[derive(Clone, Debug)]
pub struct StoreHandle {
    tx: SyncSender<Command>,
    all_time: watch::Receiver<Arc<Vec<LeaderboardEntry>>>,
    dropped: Arc<std::sync::atomic::AtomicU64>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("store command")
    }
}

impl StoreHandle {
    /// Resolves a `Hello`'s name and token to an identity, creating one for a free name if
    /// `may_create` (see [`MayCreate`]) allows it; a new identity records `from`, the address
    /// that created it (for the operator's purge).
    pub async fn identify(
        &self,
        name: &str,
        token: Option<&str>,
        from: Option<crate::net::address::AddressKey>,
        may_create: impl FnOnce() -> bool + Send + 'static,
    ) -> Result<Identity, IdentityError> {
        let (reply, rx) = oneshot::channel();
        let cmd = Command::Identify {
            name: name.to_string(),
            token: token.map(str::to_string),
            from,
            may_create: Box::new(may_create),
            reply,
        };
        self.tx.try_send(cmd).map_err(|_| IdentityError::Unavailable)?;
        rx.await.unwrap_or(Err(IdentityError::Unavailable))
    }

    /// Queues a score change; never blocks (a full queue drops it, counted).
    pub fn record(&self, delta: ScoreDelta) {
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = self.tx.try_send(Command::Score(delta)) {
            self.dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Revokes a name's token: it is never accepted again, the identity leaves the public
    /// boards, and score changes that reach the store after this are discarded (those queued
    /// before it are committed first). The name is released after the hold. Returns the
    /// identity, if the name had one.
    pub async fn revoke(&self, name: &str) -> Option<i64> {
        let (reply, rx) = oneshot::channel();
        self.tx.try_send(Command::Revoke { name: name.to_string(), reply }).ok()?;
        rx.await.ok().flatten()
    }

    /// Releases a revoked identity's name at once (see [`Release`]).
    pub async fn release(&self, name: &str) -> Release {
        let (reply, rx) = oneshot::channel();
        if self.tx.try_send(Command::Release { name: name.to_string(), reply }).is_err() {
            return Release::Unknown;
        }
        rx.await.unwrap_or(Release::Unknown)
    }

    /// A name's committed all-time figures (its registered spelling), if the name exists.
    pub async fn player(&self, name: &str) -> Option<(String, Totals)> {
        let (reply, rx) = oneshot::channel();
        self.tx.try_send(Command::Player { name: name.to_string(), reply }).ok()?;
        rx.await.ok().flatten()
    }

    /// Tells the store who is online on this server (see [`Online`]); until then it knows only
    /// the pilots seen lately.
    pub fn guard_online(&self, online: Online) {
        let _ = self.tx.try_send(Command::Online(online));
    }

    /// Deletes the identities `purge` names (after committing what is queued); their names
    /// are free at once and score changes that reach the store for them later are discarded.
    /// The number deleted, or `None` if the store failed.
    pub async fn purge(&self, purge: Purge) -> Option<u64> {
        let (reply, rx) = oneshot::channel();
        self.tx.try_send(Command::Purge { purge, reply }).ok()?;
        rx.await.ok().flatten()
    }

    /// Waits until every change queued before this call is committed.
    pub async fn flush(&self) {
        let (reply, rx) = oneshot::channel();
        if self.tx.try_send(Command::Flush { reply }).is_ok() {
            let _ = rx.await;
        }
    }

    /// The all-time top, as of the last commit (or, on a shared database, the last re-read).
    pub fn all_time(&self) -> Arc<Vec<LeaderboardEntry>> {
        self.all_time.borrow().clone()
    }

    /// The all-time top, kept current: a new value whenever it changed (after a commit, or
    /// when a shared database is re-read).
    pub fn all_time_updates(&self) -> watch::Receiver<Arc<Vec<LeaderboardEntry>>> {
        self.all_time.clone()
    }

    /// Score changes dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// The simulation hands score changes to the store through this (never blocking).
impl crate::sim::ScoreSink for StoreHandle {
    fn record(&self, delta: ScoreDelta) {
        StoreHandle::record(self, delta);
    }
}

/// A database operation that failed: a full disk, a lost connection, a server restarting.
/// The store counts it, logs it at most once per interval, and goes on (retrying commits).
#[derive(Debug)]
pub struct DbError(pub String);

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DbError {}

/// An identity row found by name.
#[derive(Debug)]
pub struct Row {
    /// Row id.
    pub id: i64,
    /// The name as registered.
    pub name: String,
    /// SHA-256 of its token.
    pub token_hash: Vec<u8>,
    /// Unix seconds of its revoke, if revoked.
    pub revoked_at: Option<i64>,
    /// Found by its own key (not as a look-alike).
    pub same_key: bool,
}

/// A new identity's row.
#[derive(Debug)]
pub struct NewIdentity<'a> {
    /// The name as given.
    pub name: &'a str,
    /// Its keys ([`crate::net::name::keys`]).
    pub keys: &'a NameKeys,
    /// SHA-256 of its token.
    pub token_hash: &'a [u8],
    /// Unix seconds now (its creation and first sighting).
    pub now: i64,
    /// The address that created it, if known.
    pub from: Option<crate::net::address::AddressKey>,
}

/// What inserting a new identity did.
#[derive(Debug, PartialEq, Eq)]
pub enum Created {
    /// The row, with its id.
    Id(i64),
    /// A unique key was taken meanwhile (by another process sharing the database): the
    /// caller looks again to say whose.
    Conflict,
}

/// What differs between databases: the SQL. Everything else (the rules, batching, retries,
/// the bounded buffer, counting) is the store thread's, the same for every backend. Each
/// method is one question or one transaction; an error is a failed operation (counted and
/// retried by the caller), never a rule's answer.
pub trait Backend: Send + 'static {
    /// Whether other processes write to the same database (the top and the identity count
    /// are then re-read periodically).
    fn shared(&self) -> bool;
    /// The identity holding `keys`: by its key, or else one that looks like it (same skeleton).
    fn find(&mut self, keys: &NameKeys) -> Result<Option<Row>, DbError>;
    /// Whether any identity (of any name) has this token hash.
    fn token_known(&mut self, token_hash: &[u8]) -> Result<bool, DbError>;
    /// Inserts a new identity (not revoked, never scored).
    fn create(&mut self, new: &NewIdentity<'_>) -> Result<Created, DbError>;
    /// An identity's all-time figures (zero if it never had a score row).
    fn totals(&mut self, id: i64) -> Result<Totals, DbError>;
    /// Archives a row: its name keys become `#` and its id, which no name can have
    /// (`validate_name` allows no `#`), so the row stays unique, keeps its scores, and blocks
    /// nobody.
    fn release_row(&mut self, id: i64) -> Result<(), DbError>;
    /// One transaction: adds `changes` (coalesced: one per identity, in identity order) to
    /// the scores of identities that exist and are not revoked, marks those that gained
    /// points and now have at least `lasting_points` as lasting (`scored`), and sets
    /// `last_seen = now` for `seen`. Returns the score changes discarded (the sum of
    /// [`Change::changes`] of identities revoked or gone).
    fn commit(
        &mut self,
        changes: &[Change],
        seen: &BTreeSet<i64>,
        now: i64,
        lasting_points: i64,
    ) -> Result<u64, DbError>;
    /// Revokes the identity with this name key (its revoke time kept if already revoked);
    /// returns its id.
    fn revoke(&mut self, name_key: &str, now: i64) -> Result<Option<i64>, DbError>;
    /// The identity with this name key: its id and whether it is revoked.
    fn revoked(&mut self, name_key: &str) -> Result<Option<(i64, bool)>, DbError>;
    /// A name key's registered spelling and totals, if an unrevoked identity holds it.
    fn player(&mut self, name_key: &str) -> Result<Option<(String, Totals)>, DbError>;
    /// The all-time top: scorers only, unrevoked, best first, ties by kills then name.
    fn top(&mut self) -> Result<Vec<LeaderboardEntry>, DbError>;
    /// Deletes up to `limit` identities (and their score rows) that are not lasting, are not
    /// revoked, were last seen before `cutoff` (Unix seconds) and are not the newest, in one
    /// transaction; returns how many.
    fn expire(&mut self, cutoff: i64, limit: usize) -> Result<usize, DbError>;
    /// Identities in the database (revoked and archived ones included).
    fn count(&mut self) -> Result<u64, DbError>;
    /// Up to `limit` guests (not lasting, not revoked, not the newest) last seen before
    /// `cutoff`, in the order a full store reclaims them: fewest points, then longest unseen.
    fn reclaimable(&mut self, cutoff: i64, limit: usize) -> Result<Vec<i64>, DbError>;
    /// Up to `limit` identities `purge` names (not revoked, not the newest) with ids above
    /// `after`, in id order.
    fn purgeable(&mut self, purge: &Purge, after: i64, limit: usize) -> Result<Vec<i64>, DbError>;
    /// Deletes, in one transaction, those of `ids` (and their score rows) that are not
    /// revoked, and, when `idle_guests_before` is given, are still guests last seen before it
    /// (a pilot who came back or became lasting meanwhile is kept). Returns how many.
    fn delete(&mut self, ids: &[i64], idle_guests_before: Option<i64>) -> Result<usize, DbError>;
}

/// The store: its thread and the handle to it.
#[derive(Debug)]
pub struct Store {
    handle: StoreHandle,
    thread: Option<std::thread::JoinHandle<()>>,
    /// The database's own check at open: SQLite's `PRAGMA integrity_check` ("ok"; anything
    /// else refuses to start); for PostgreSQL, which checks itself, its server version.
    pub integrity: String,
}

fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

fn name_key(name: &str) -> String {
    crate::net::name::keys(name).key
}

/// Seconds since the Unix epoch (the store's clock: it outlives restarts).
fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

impl Store {
    /// Opens the database at `location` with the binary's default policy, counting into a
    /// `Stats` of its own (tests and tools).
    pub fn open(location: impl Into<StoreLocation>) -> anyhow::Result<Store> {
        Store::open_with(location, StorePolicy::default(), Arc::new(Stats::default()))
    }

    /// Opens the database at `location` (creating its schema if needed) and starts the
    /// store's thread, holding identities to `policy` and counting into `stats`. The database
    /// is opened on the store's own thread (the PostgreSQL client must not be driven from
    /// inside the async runtime); this waits for it, and fails if it cannot be opened.
    pub fn open_with(
        location: impl Into<StoreLocation>,
        policy: StorePolicy,
        stats: Arc<Stats>,
    ) -> anyhow::Result<Store> {
        match location.into() {
            StoreLocation::Sqlite(path) => Store::start_with(move || sqlite::Sqlite::open(&path), policy, stats),
            StoreLocation::Postgres(url) => {
                let counted = stats.clone();
                Store::start_with(move || postgres::Postgres::open(&url, counted), policy, stats)
            }
        }
    }

    /// Starts the store's thread on an open database.
    pub fn start<B: Backend>(db: B, policy: StorePolicy, stats: Arc<Stats>) -> anyhow::Result<Store> {
        Store::start_with(move || Ok((db, String::new())), policy, stats)
    }

    /// Starts the store's thread, which opens the database with `open` (returning it and its
    /// check's answer), reads the board and the count, and then serves commands.
    fn start_with<B: Backend>(
        open: impl FnOnce() -> anyhow::Result<(B, String)> + Send + 'static,
        policy: StorePolicy,
        stats: Arc<Stats>,
    ) -> anyhow::Result<Store> {
        let (tx, rx) = mpsc::sync_channel(STORE_CHANNEL_CAPACITY);
        let (all_tx, all_rx) = watch::channel(Arc::new(Vec::new()));
        let (opened_tx, opened_rx) = mpsc::sync_channel(1);
        let thread = std::thread::Builder::new().name("store".into()).spawn(move || {
            let opened = open().and_then(|(mut db, integrity)| {
                let (top, identities) = (db.top()?, db.count()?);
                Ok((db, integrity, top, identities))
            });
            let (db, integrity, top, identities) = match opened {
                Ok(opened) => opened,
                Err(e) => {
                    let _ = opened_tx.send(Err(e));
                    return;
                }
            };
            all_tx.send_replace(Arc::new(top));
            let worker = worker::Worker::new(db, policy, stats, all_tx, identities);
            let _ = opened_tx.send(Ok(integrity));
            worker.run(rx);
        })?;
        let integrity = opened_rx.recv().map_err(|_| anyhow::anyhow!("the store's thread ended while opening"))??;
        Ok(Store {
            handle: StoreHandle { tx, all_time: all_rx, dropped: Default::default() },
            thread: Some(thread),
            integrity,
        })
    }

    /// A handle for the rest of the server.
    pub fn handle(&self) -> StoreHandle {
        self.handle.clone()
    }

    /// Commits everything queued and stops the thread (retrying a failing commit for up to
    /// [`SHUTDOWN_COMMIT_WAIT`]). Handles that outlive it fail softly
    /// (identification answers `Unavailable`, score changes are counted as dropped).
    pub fn close(mut self) {
        let _ = self.handle.tx.send(Command::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
