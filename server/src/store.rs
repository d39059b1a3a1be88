//! Identities and scores in an embedded SQLite file: one thread owns the connection, reads
//! on request, and writes score changes in batched transactions. Nothing else touches the
//! database, and the simulation only ever hands it events through a bounded channel, so no
//! write (or fsync) ever happens on the tick thread.
//!
//! Tokens are 128 random bits, given to the client once, and stored only as their SHA-256.
//! The file runs in WAL mode with `synchronous = FULL`: a committed batch survives a crash.
//!
//! **Identities cost something.** A free name in a `Hello` creates a row, so rows are bounded
//! three ways: the store holds at most [`StorePolicy::max_identities`] (a `Hello` that would
//! create one more is refused, counted, and logged at most once per
//! [`crate::limits::STORE_LOG_INTERVAL`]); an identity that never scored and has not been seen
//! for [`StorePolicy::idle_expiry`] is deleted and its name freed, by this thread, in batches
//! of [`EXPIRY_BATCH`] rows (one short transaction each); and a revoked identity's name is
//! released after [`StorePolicy::revoked_name_hold`] (or at once, by an operator). A released
//! row is kept, archived: its name keys are replaced by ones no name can have, so its scores
//! stay in the file while its name is free. Revoked identities are on no public board.

use crate::limits::{LogLimiter, STORE_LOG_INTERVAL};
use crate::Stats;
use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};
use shared::constants::LEADERBOARD_SIZE;
use shared::protocol::LeaderboardEntry;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch};

pub use crate::sim::ScoreDelta;

/// Default database file, in the working directory.
pub const DEFAULT_DB_PATH: &str = "asteroids.db";
/// Longest a score change waits before its batch is committed.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(100);
/// Most score changes in one transaction.
pub const MAX_BATCH: usize = 1024;
/// Capacity of the channel into the store; a full channel drops a score change (counted)
/// rather than block the simulation.
pub const STORE_CHANNEL_CAPACITY: usize = 65_536;
/// How often the store looks for idle identities to expire.
pub const EXPIRY_SWEEP_INTERVAL: Duration = Duration::from_secs(60);
/// Most identities deleted in one transaction: a few milliseconds of writing, so score
/// commits and `Hello`s never wait long behind a sweep. A full batch is followed by the next
/// one as soon as the commands waiting meanwhile are handled.
pub const EXPIRY_BATCH: usize = 500;

/// The rules the store holds identities to (from [`crate::limits::Limits`]).
#[derive(Clone, Debug)]
pub struct StorePolicy {
    /// Most identities held (`--max-identities`).
    pub max_identities: u64,
    /// A never-scored identity unseen this long expires (`--identity-idle-expiry-days`).
    pub idle_expiry: Duration,
    /// A revoked identity's name is released this long after the revoke
    /// (`--revoked-name-hold-hours`).
    pub revoked_name_hold: Duration,
    /// How often idle identities are looked for ([`EXPIRY_SWEEP_INTERVAL`]; tests shorten it).
    pub sweep_interval: Duration,
}

impl StorePolicy {
    /// The policy of `limits`.
    pub fn from_limits(limits: &crate::limits::Limits) -> StorePolicy {
        StorePolicy {
            max_identities: limits.max_identities,
            idle_expiry: limits.identity_idle_expiry,
            revoked_name_hold: limits.revoked_name_hold,
            sweep_interval: limits.identity_sweep_interval,
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
    /// The name is free, but the store holds `max_identities` already.
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

/// Asked on the store's thread at the moment a new identity would be created (never for a
/// returning pilot): true to create it. Being asked there, in the order the store handles
/// requests, is what makes a quota exact: two requests cannot both pass its last place.
pub type MayCreate = Box<dyn FnOnce() -> bool + Send>;

enum Command {
    Identify {
        name: String,
        token: Option<String>,
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
    /// `may_create` (see [`MayCreate`]) allows it.
    pub async fn identify(
        &self,
        name: &str,
        token: Option<&str>,
        may_create: impl FnOnce() -> bool + Send + 'static,
    ) -> Result<Identity, IdentityError> {
        let (reply, rx) = oneshot::channel();
        let cmd = Command::Identify {
            name: name.to_string(),
            token: token.map(str::to_string),
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

    /// Waits until every change queued before this call is committed.
    pub async fn flush(&self) {
        let (reply, rx) = oneshot::channel();
        if self.tx.try_send(Command::Flush { reply }).is_ok() {
            let _ = rx.await;
        }
    }

    /// The all-time top, as of the last commit.
    pub fn all_time(&self) -> Arc<Vec<LeaderboardEntry>> {
        self.all_time.borrow().clone()
    }

    /// The all-time top, kept current: a new value after every commit that changed scores.
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

/// The store: its thread and the handle to it.
pub struct Store {
    handle: StoreHandle,
    thread: Option<std::thread::JoinHandle<()>>,
    /// `PRAGMA integrity_check` at open ("ok"; anything else refuses to start).
    pub integrity: String,
}

fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

fn name_key(name: &str) -> String {
    crate::net::name::keys(name).key
}

/// Brings a database from before look-alike checks up to date: adds the `skeleton` column,
/// fills it for existing names (oldest first), and makes it unique. Two existing names that
/// look alike both keep their identity: the younger one's skeleton gets its row id appended,
/// so it stays unique and only the older one blocks new look-alikes.
fn migrate_skeletons(conn: &Connection) -> rusqlite::Result<()> {
    let has_column =
        conn.prepare("SELECT 1 FROM pragma_table_info('identities') WHERE name = 'skeleton'")?.exists([])?;
    if !has_column {
        conn.execute_batch("ALTER TABLE identities ADD COLUMN skeleton TEXT")?;
    }
    let missing: Vec<(i64, String)> = conn
        .prepare("SELECT id, name FROM identities WHERE skeleton IS NULL ORDER BY id")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    if !missing.is_empty() {
        tracing::info!(names = missing.len(), "computing look-alike keys of existing names");
    }
    for (id, name) in missing {
        let skeleton = crate::net::name::keys(&name).skeleton;
        let taken = conn.prepare_cached("SELECT 1 FROM identities WHERE skeleton = ?1")?.exists(params![skeleton])?;
        let skeleton = if taken { format!("{skeleton}#{id}") } else { skeleton };
        conn.execute("UPDATE identities SET skeleton = ?1 WHERE id = ?2", params![skeleton, id])?;
    }
    conn.execute_batch("CREATE UNIQUE INDEX IF NOT EXISTS identities_by_skeleton ON identities(skeleton)")
}

/// Opens (creating if needed) the database and its schema.
pub fn open_db(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS identities (
             id INTEGER PRIMARY KEY,
             name TEXT NOT NULL,
             name_key TEXT NOT NULL UNIQUE,
             token_hash BLOB NOT NULL UNIQUE,
             created_at INTEGER NOT NULL,
             revoked INTEGER NOT NULL DEFAULT 0,
             -- What the name looks like (net::name::keys): unique, so look-alikes are taken.
             skeleton TEXT,
             -- Unix seconds of the last Hello with its token (or its creation).
             last_seen INTEGER,
             -- 1 once it has committed a point: it never expires.
             scored INTEGER NOT NULL DEFAULT 0,
             -- Unix seconds of the revoke; its name is released a hold after it.
             revoked_at INTEGER
         );
         CREATE TABLE IF NOT EXISTS scores (
             identity INTEGER PRIMARY KEY REFERENCES identities(id),
             hits INTEGER NOT NULL DEFAULT 0,
             kills INTEGER NOT NULL DEFAULT 0,
             deaths INTEGER NOT NULL DEFAULT 0,
             best_life_ticks INTEGER NOT NULL DEFAULT 0,
             points INTEGER NOT NULL DEFAULT 0
         );
         -- The all-time board reads only scorers, through this partial index, so its cost
         -- does not grow with the (many) identities that never scored. It replaces an index
         -- on every row that the board's ORDER BY could not use to stop early.
         DROP INDEX IF EXISTS scores_by_points;
         CREATE INDEX IF NOT EXISTS scores_top ON scores(points DESC, kills DESC) WHERE points > 0;",
    )?;
    migrate_skeletons(&conn)?;
    migrate_lifetimes(&conn)?;
    Ok(conn)
}

/// Brings a database from before identities expired up to date: adds `last_seen` (taken as
/// the creation time), `scored` (set for every identity with points) and `revoked_at` (an
/// identity revoked before has its name held from now), and the index the expiry walks.
fn migrate_lifetimes(conn: &Connection) -> rusqlite::Result<()> {
    let has = |column: &str| {
        conn.prepare("SELECT 1 FROM pragma_table_info('identities') WHERE name = ?1")?.exists(params![column])
    };
    if !has("last_seen")? {
        conn.execute_batch(
            "ALTER TABLE identities ADD COLUMN last_seen INTEGER;
             UPDATE identities SET last_seen = created_at;",
        )?;
    }
    if !has("scored")? {
        conn.execute_batch(
            "ALTER TABLE identities ADD COLUMN scored INTEGER NOT NULL DEFAULT 0;
             UPDATE identities SET scored = 1 WHERE id IN (SELECT identity FROM scores WHERE points > 0);",
        )?;
    }
    if !has("revoked_at")? {
        conn.execute_batch("ALTER TABLE identities ADD COLUMN revoked_at INTEGER")?;
        conn.execute("UPDATE identities SET revoked_at = ?1 WHERE revoked = 1", params![unix_now()])?;
    }
    // The expiry reads only never-scored identities, oldest first, so its cost does not grow
    // with the scorers (who never expire).
    conn.execute_batch("CREATE INDEX IF NOT EXISTS identities_idle ON identities(last_seen) WHERE scored = 0")
}

/// Seconds since the Unix epoch (the store's clock: it outlives restarts).
fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

fn totals(conn: &Connection, id: i64) -> rusqlite::Result<Totals> {
    conn.query_row(
        "SELECT hits, kills, deaths, best_life_ticks, points FROM scores WHERE identity = ?1",
        params![id],
        |r| {
            Ok(Totals {
                hits: r.get(0)?,
                kills: r.get(1)?,
                deaths: r.get(2)?,
                best_life_ticks: r.get(3)?,
                points: r.get(4)?,
            })
        },
    )
    .optional()
    .map(Option::unwrap_or_default)
}

/// A row's name keys once its name is released: `#` and the row id, which no name can have
/// (`validate_name` allows no `#`), so the row stays unique and blocks nobody.
const ARCHIVED_KEY: &str = "'#' || id";

/// Archives a revoked identity: its name is free, its row and scores stay.
fn release_row(conn: &Connection, id: i64) -> rusqlite::Result<()> {
    conn.execute(
        &format!("UPDATE identities SET name_key = {ARCHIVED_KEY}, skeleton = {ARCHIVED_KEY} WHERE id = ?1"),
        params![id],
    )?;
    Ok(())
}

/// An identity row found by name.
struct Row {
    id: i64,
    name: String,
    token_hash: Vec<u8>,
    revoked_at: Option<i64>,
    /// Found by its own key (not as a look-alike).
    same_key: bool,
}

/// The identity holding `name`: by its key, or else one that looks like it (same skeleton).
fn find(conn: &Connection, keys: &crate::net::name::NameKeys) -> rusqlite::Result<Option<Row>> {
    conn.query_row(
        "SELECT id, name, token_hash, CASE WHEN revoked THEN COALESCE(revoked_at, 0) END, name_key = ?1
         FROM identities WHERE name_key = ?1 OR skeleton = ?2 ORDER BY name_key = ?1 DESC LIMIT 1",
        params![keys.key, keys.skeleton],
        |r| {
            Ok(Row {
                id: r.get(0)?,
                name: r.get(1)?,
                token_hash: r.get(2)?,
                revoked_at: r.get(3)?,
                same_key: r.get(4)?,
            })
        },
    )
    .optional()
}

/// Identities to expire: never scored, last seen before `?1`, not revoked, not the newest;
/// oldest first, at most `?2`. It walks the partial index `identities_idle`, so its cost does
/// not grow with the scorers, who never expire.
pub const EXPIRY_QUERY: &str = "SELECT id FROM identities WHERE scored = 0 AND last_seen < ?1 AND revoked = 0
     AND id < (SELECT MAX(id) FROM identities) ORDER BY last_seen LIMIT ?2";

/// The store's thread: the connection, the rules, and what it has yet to write.
struct Worker {
    conn: Connection,
    policy: StorePolicy,
    stats: Arc<Stats>,
    all_time: watch::Sender<Arc<Vec<LeaderboardEntry>>>,
    /// Identities in the file (counted at open, then kept).
    identities: u64,
    /// Score changes waiting for their batch's commit.
    batch: Vec<ScoreDelta>,
    /// Identities seen (a returning `Hello`) since the last commit: their `last_seen` is
    /// written with the next batch rather than with a sync of its own per `Hello`.
    seen: Vec<i64>,
    /// When the oldest change waiting arrived.
    oldest: Option<Instant>,
    next_sweep: Instant,
    error_log: LogLimiter,
    full_log: LogLimiter,
}

impl Worker {
    fn identify(
        &mut self,
        name: &str,
        token: Option<&str>,
        may_create: MayCreate,
    ) -> rusqlite::Result<Result<Identity, IdentityError>> {
        let keys = crate::net::name::keys(name);
        let mut existing = find(&self.conn, &keys)?;
        // A revoked identity whose hold is over gives its name back now (the sweep does it
        // too, but a name is only ever wanted here).
        let hold = self.policy.revoked_name_hold.as_secs() as i64;
        while let Some(row) = existing.as_ref().filter(|r| r.revoked_at.is_some_and(|at| at + hold <= unix_now())) {
            release_row(&self.conn, row.id)?;
            existing = find(&self.conn, &keys)?;
        }
        match (existing, token) {
            // Its owner's token opens the identity under either spelling (the registered one is kept).
            (Some(row), Some(token)) => {
                if row.revoked_at.is_some() || row.token_hash != hash_token(token) {
                    return Ok(Err(IdentityError::InvalidToken));
                }
                self.seen.push(row.id);
                self.oldest.get_or_insert_with(Instant::now);
                Ok(Ok(Identity { id: row.id, name: row.name, new_token: None, totals: totals(&self.conn, row.id)? }))
            }
            (Some(row), None) => {
                Ok(Err(if row.same_key { IdentityError::NameTaken } else { IdentityError::LookAlike }))
            }
            (None, token) => {
                // A token that belongs to another name is never accepted for this one.
                if let Some(token) = token {
                    let known = self
                        .conn
                        .prepare_cached("SELECT 1 FROM identities WHERE token_hash = ?1")?
                        .exists(params![hash_token(token)])?;
                    if known {
                        return Ok(Err(IdentityError::InvalidToken));
                    }
                }
                // Before the quota is asked: a refusal here must not spend the address's quota.
                if self.identities >= self.policy.max_identities {
                    self.stats.store_full_refused.fetch_add(1, Ordering::Relaxed);
                    if let Some(suppressed) = self.full_log.admit(Instant::now()) {
                        tracing::warn!(
                            max_identities = self.policy.max_identities,
                            suppressed,
                            "the store is full: no new identity created (see --max-identities; further ones counted \
                             in store_full_refused)"
                        );
                    }
                    return Ok(Err(IdentityError::StoreFull));
                }
                if !may_create() {
                    return Ok(Err(IdentityError::CreationRefused));
                }
                let token = crate::token::random();
                let now = unix_now();
                self.conn.execute(
                    "INSERT INTO identities (name, name_key, token_hash, created_at, skeleton, last_seen)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?4)",
                    params![name, keys.key, hash_token(&token), now, keys.skeleton],
                )?;
                self.identities += 1;
                self.stats.identities.store(self.identities, Ordering::Relaxed);
                let id = self.conn.last_insert_rowid();
                Ok(Ok(Identity { id, name: name.to_string(), new_token: Some(token), totals: Totals::default() }))
            }
        }
    }

    /// Counts a failed read or write and logs it, at most once per interval.
    fn failed(&mut self, what: &'static str, e: &rusqlite::Error) {
        self.stats.store_errors.fetch_add(1, Ordering::Relaxed);
        if let Some(suppressed) = self.error_log.admit(Instant::now()) {
            tracing::error!(error = %e, suppressed, "{what} failed (further failures counted in store_errors)");
        }
    }

    /// Commits the waiting score changes and sightings in one transaction. Changes for an
    /// identity that is revoked or gone (expired) are discarded, counted. On failure they wait
    /// for the next attempt.
    fn commit(&mut self) {
        if self.batch.is_empty() && self.seen.is_empty() {
            return;
        }
        match commit(&mut self.conn, &self.batch, &self.seen) {
            Ok(discarded) => {
                self.stats.discarded_score_changes.fetch_add(discarded, Ordering::Relaxed);
                if !self.batch.is_empty() {
                    if let Ok(t) = top(&self.conn) {
                        self.all_time.send_replace(Arc::new(t));
                    }
                }
                self.batch.clear();
                self.seen.clear();
                self.oldest = None;
            }
            Err(e) => {
                self.failed("committing scores (will retry)", &e);
                self.oldest = Some(Instant::now());
            }
        }
    }

    /// Revokes `name`'s identity, after committing what was earned before.
    fn revoke(&mut self, name: &str) -> rusqlite::Result<Option<i64>> {
        self.commit();
        let id: Option<i64> = self
            .conn
            .query_row("SELECT id FROM identities WHERE name_key = ?1", params![name_key(name)], |r| r.get(0))
            .optional()?;
        if let Some(id) = id {
            self.conn.execute(
                "UPDATE identities SET revoked = 1, revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1",
                params![id, unix_now()],
            )?;
            if let Ok(t) = top(&self.conn) {
                self.all_time.send_replace(Arc::new(t)); // off the board at once
            }
        }
        Ok(id)
    }

    fn release(&mut self, name: &str) -> rusqlite::Result<Release> {
        let row: Option<(i64, bool)> = self
            .conn
            .query_row("SELECT id, revoked FROM identities WHERE name_key = ?1", params![name_key(name)], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        Ok(match row {
            None => Release::Unknown,
            Some((_, false)) => Release::NotRevoked,
            Some((id, true)) => {
                release_row(&self.conn, id)?;
                Release::Released
            }
        })
    }

    /// Deletes up to [`EXPIRY_BATCH`] identities that never scored and were last seen before
    /// the idle expiry, with their score rows, in one transaction; returns how many. The
    /// newest identity is never deleted, so SQLite, which numbers a new row one past the
    /// largest, never gives a new identity the number of an expired one (numbers name players
    /// in the simulation and places in the admission table).
    fn expire(&mut self) -> rusqlite::Result<usize> {
        let cutoff = unix_now() - self.policy.idle_expiry.as_secs() as i64;
        let tx = self.conn.transaction()?;
        let ids: Vec<i64> = tx
            .prepare_cached(EXPIRY_QUERY)?
            .query_map(params![cutoff, EXPIRY_BATCH as i64], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for id in &ids {
            tx.prepare_cached("DELETE FROM scores WHERE identity = ?1")?.execute(params![id])?;
            tx.prepare_cached("DELETE FROM identities WHERE id = ?1")?.execute(params![id])?;
        }
        tx.commit()?;
        self.identities = self.identities.saturating_sub(ids.len() as u64);
        self.stats.identities.store(self.identities, Ordering::Relaxed);
        self.stats.identities_expired.fetch_add(ids.len() as u64, Ordering::Relaxed);
        Ok(ids.len())
    }

    /// Expires one batch; another follows at once if this one was full.
    fn sweep(&mut self) {
        let now = Instant::now();
        match self.expire() {
            Ok(n) if n == EXPIRY_BATCH => self.next_sweep = now,
            Ok(n) => {
                if n > 0 {
                    tracing::info!(expired = n, "idle identities expired, their names freed");
                }
                self.next_sweep = now + self.policy.sweep_interval;
            }
            Err(e) => {
                self.failed("expiring idle identities", &e);
                self.next_sweep = now + self.policy.sweep_interval;
            }
        }
    }

    fn run(mut self, rx: Receiver<Command>) {
        loop {
            let wake = self.oldest.map_or(self.next_sweep, |t| (t + FLUSH_INTERVAL).min(self.next_sweep));
            match rx.recv_timeout(wake.saturating_duration_since(Instant::now())) {
                Ok(Command::Score(d)) => {
                    self.batch.push(d);
                    self.oldest.get_or_insert_with(Instant::now);
                    if self.batch.len() >= MAX_BATCH {
                        self.commit();
                    }
                }
                Ok(Command::Identify { name, token, may_create, reply }) => {
                    let result = self.identify(&name, token.as_deref(), may_create).unwrap_or_else(|e| {
                        self.failed("identity lookup or creation", &e);
                        Err(IdentityError::Unavailable)
                    });
                    let _ = reply.send(result);
                }
                Ok(Command::Revoke { name, reply }) => {
                    let id = self.revoke(&name).unwrap_or_else(|e| {
                        self.failed("revoking", &e);
                        None
                    });
                    let _ = reply.send(id);
                }
                Ok(Command::Release { name, reply }) => {
                    let released = self.release(&name).unwrap_or_else(|e| {
                        self.failed("releasing a name", &e);
                        Release::Unknown
                    });
                    let _ = reply.send(released);
                }
                Ok(Command::Player { name, reply }) => {
                    let found = self
                        .conn
                        .query_row(
                            "SELECT id, name FROM identities WHERE name_key = ?1 AND revoked = 0",
                            params![name_key(&name)],
                            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
                        )
                        .optional()
                        .ok()
                        .flatten()
                        .and_then(|(id, name)| totals(&self.conn, id).ok().map(|t| (name, t)));
                    let _ = reply.send(found);
                }
                Ok(Command::Flush { reply }) => {
                    self.commit();
                    let _ = reply.send(());
                }
                Err(RecvTimeoutError::Timeout) => {}
                Ok(Command::Shutdown) | Err(RecvTimeoutError::Disconnected) => {
                    self.commit();
                    return;
                }
            }
            // Checked after every command, not only when none came: a steady stream of them
            // must not hold back a due commit or sweep.
            let now = Instant::now();
            if self.oldest.is_some_and(|t| t + FLUSH_INTERVAL <= now) || self.seen.len() >= MAX_BATCH {
                self.commit();
            }
            if self.next_sweep <= now {
                self.sweep();
            }
        }
    }
}

/// Writes one batch: score changes (of identities still valid; returns how many were
/// discarded) and sightings.
fn commit(conn: &mut Connection, batch: &[ScoreDelta], seen: &[i64]) -> rusqlite::Result<u64> {
    let tx = conn.transaction()?;
    let mut discarded = 0;
    {
        let mut upsert = tx.prepare_cached(
            "INSERT INTO scores (identity, hits, kills, deaths, best_life_ticks, points)
             SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE EXISTS (SELECT 1 FROM identities WHERE id = ?1 AND revoked = 0)
             ON CONFLICT(identity) DO UPDATE SET
                 hits = hits + excluded.hits, kills = kills + excluded.kills, deaths = deaths + excluded.deaths,
                 best_life_ticks = MAX(best_life_ticks, excluded.best_life_ticks), points = points + excluded.points",
        )?;
        let mut scored = tx.prepare_cached("UPDATE identities SET scored = 1 WHERE id = ?1 AND scored = 0")?;
        for d in batch {
            if upsert.execute(params![d.identity, d.hits, d.kills, d.deaths, d.life_ticks, d.points])? == 0 {
                discarded += 1;
            } else if d.points > 0 {
                scored.execute(params![d.identity])?;
            }
        }
        let mut touch = tx.prepare_cached("UPDATE identities SET last_seen = ?2 WHERE id = ?1")?;
        let now = unix_now();
        for id in seen {
            touch.execute(params![id, now])?;
        }
    }
    tx.commit()?;
    Ok(discarded)
}

/// The all-time top: scorers only (`points > 0`, matching the partial index `scores_top`, so
/// the query walks the index from the top and stops after the board's rows plus ties),
/// best first, ties by kills then name; revoked identities are left out. Runs after every
/// commit, on the store's thread.
pub const TOP_QUERY: &str = "SELECT i.name, s.points, s.kills FROM scores s JOIN identities i ON i.id = s.identity
     WHERE s.points > 0 AND i.revoked = 0
     ORDER BY s.points DESC, s.kills DESC, i.name ASC LIMIT ?1";

/// Runs [`TOP_QUERY`] for the board's size.
pub fn top(conn: &Connection) -> rusqlite::Result<Vec<LeaderboardEntry>> {
    let mut q = conn.prepare_cached(TOP_QUERY)?;
    let rows = q.query_map(params![LEADERBOARD_SIZE as i64], |r| {
        Ok(LeaderboardEntry {
            name: r.get(0)?,
            points: r.get::<_, i64>(1)? as u32,
            kills: r.get::<_, i64>(2)? as u32,
            ai: false,
        })
    })?;
    rows.collect()
}

impl Store {
    /// Opens the database at `path` with the binary's default policy, counting into a
    /// `Stats` of its own (tests and tools).
    pub fn open(path: impl Into<PathBuf>) -> anyhow::Result<Store> {
        Store::open_with(path, StorePolicy::default(), Arc::new(Stats::default()))
    }

    /// Opens the database at `path` and starts the store's thread, holding identities to
    /// `policy` and counting into `stats`.
    pub fn open_with(path: impl Into<PathBuf>, policy: StorePolicy, stats: Arc<Stats>) -> anyhow::Result<Store> {
        let path = path.into();
        let conn = open_db(&path)?;
        // A damaged file is not played on: the operator restores it (or moves it away).
        let integrity: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        if integrity != "ok" {
            anyhow::bail!("{} fails its integrity check: {integrity}", path.display());
        }
        let mut store = Store::start(conn, policy, stats)?;
        store.integrity = integrity;
        Ok(store)
    }

    /// Starts the store's thread on an open database (from [`open_db`]).
    fn start(conn: Connection, policy: StorePolicy, stats: Arc<Stats>) -> anyhow::Result<Store> {
        let initial = top(&conn)?;
        let identities: i64 = conn.query_row("SELECT COUNT(*) FROM identities", [], |r| r.get(0))?;
        stats.identities.store(identities as u64, Ordering::Relaxed);
        let (tx, rx) = mpsc::sync_channel(STORE_CHANNEL_CAPACITY);
        let (all_tx, all_rx) = watch::channel(Arc::new(initial));
        let worker = Worker {
            conn,
            next_sweep: Instant::now() + policy.sweep_interval.min(Duration::from_secs(1)),
            policy,
            stats,
            all_time: all_tx,
            identities: identities as u64,
            batch: Vec::new(),
            seen: Vec::new(),
            oldest: None,
            error_log: LogLimiter::every(STORE_LOG_INTERVAL),
            full_log: LogLimiter::every(STORE_LOG_INTERVAL),
        };
        let thread = std::thread::Builder::new().name("store".into()).spawn(move || worker.run(rx))?;
        Ok(Store {
            handle: StoreHandle { tx, all_time: all_rx, dropped: Default::default() },
            thread: Some(thread),
            integrity: String::new(),
        })
    }

    /// A handle for the rest of the server.
    pub fn handle(&self) -> StoreHandle {
        self.handle.clone()
    }

    /// Commits everything queued and stops the thread. Handles that outlive it fail softly
    /// (identification answers `Unavailable`, score changes are counted as dropped).
    pub fn close(mut self) {
        let _ = self.handle.tx.send(Command::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The all-time top query reads the partial index of scorers: with 20,000 zero-point rows
    /// it takes about as many VM steps as with none (it once sorted every zero-point row to
    /// fill the board), and answers the same board of scorers.
    #[test]
    fn top_query_cost_does_not_grow_with_zero_point_rows() {
        let conn = open_db(Path::new(":memory:")).unwrap();
        let add = |i: i64, points: i64| {
            conn.execute(
                "INSERT INTO identities (id, name, name_key, token_hash, created_at) VALUES (?1, ?2, ?2, ?3, 0)",
                params![i, format!("p{i}"), i.to_le_bytes().to_vec()],
            )
            .unwrap();
            conn.execute("INSERT INTO scores (identity, points, kills) VALUES (?1, ?2, ?3)", params![i, points, i % 3])
                .unwrap();
        };
        // Fewer scorers than the board holds: the board must never fill up with zero rows.
        for i in 1..=5 {
            add(i, i * 10);
        }
        let steps = |conn: &Connection| {
            let mut q = conn.prepare(TOP_QUERY).unwrap();
            let board: Vec<String> =
                q.query_map(params![LEADERBOARD_SIZE as i64], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
            (board, q.get_status(rusqlite::StatementStatus::VmStep))
        };
        let (board_small, steps_small) = steps(&conn);
        conn.execute_batch("BEGIN").unwrap();
        for i in 1000..21_000 {
            add(i, 0);
        }
        conn.execute_batch("COMMIT; ANALYZE").unwrap();
        let (board_big, steps_big) = steps(&conn);
        assert!(
            steps_big <= steps_small * 2,
            "{steps_big} VM steps with 20,000 zero-point rows, {steps_small} without"
        );
        assert_eq!(board_small, board_big);
        assert_eq!(board_big, ["p5", "p4", "p3", "p2", "p1"], "scorers only, best first");
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {TOP_QUERY}"))
            .unwrap()
            .query_map(params![LEADERBOARD_SIZE as i64], |r| r.get::<_, String>(3))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(plan.iter().any(|p| p.contains("scores_top")), "{plan:?}");
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {EXPIRY_QUERY}"))
            .unwrap()
            .query_map(params![0, EXPIRY_BATCH as i64], |r| r.get::<_, String>(3))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(plan.iter().any(|p| p.contains("identities_idle")), "the expiry walks its index: {plan:?}");
    }

    fn temp_path(tag: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("asteroids-store-{tag}-{}.db", std::process::id()));
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", p.display()));
        }
        p
    }

    /// Names are claimed by their first visitor; the token continues the identity, case
    /// aside; another name's token, a wrong token and a revoked one are refused; tokens are
    /// stored only hashed.
    #[tokio::test]
    async fn identities_and_tokens() {
        let path = temp_path("ids");
        let store = Store::open(&path).unwrap();
        let h = store.handle();
        let ada = h.identify("Ada", None, || true).await.unwrap();
        let token = ada.new_token.clone().expect("a new identity gets a token");
        assert_eq!(token.len(), 32, "128 bits, hex");
        assert_eq!(h.identify("ada", None, || true).await, Err(IdentityError::NameTaken));
        let again = h.identify("ADA", Some(&token), || true).await.unwrap();
        assert_eq!((again.id, again.new_token), (ada.id, None));
        assert_eq!(h.identify("Ada", Some("0000"), || true).await, Err(IdentityError::InvalidToken));
        assert_eq!(
            h.identify("Bob", Some(&token), || true).await,
            Err(IdentityError::InvalidToken),
            "not for another name"
        );
        assert!(h.revoke("Ada").await.is_some());
        assert_eq!(h.identify("Ada", Some(&token), || true).await, Err(IdentityError::InvalidToken), "revoked");
        store.close();
        let conn = Connection::open(&path).unwrap();
        let stored: Vec<u8> = conn.query_row("SELECT token_hash FROM identities", [], |r| r.get(0)).unwrap();
        assert_eq!(stored, hash_token(&token));
        assert!(!stored.windows(token.len()).any(|w| w == token.as_bytes()), "the token itself is not stored");
    }

    /// `may_create` is asked only when an identity would be created, and its "no" creates
    /// nothing: a returning pilot, a taken name or a bad token never ask it.
    #[tokio::test]
    async fn creation_asks_first() {
        use std::sync::atomic::{AtomicU32, Ordering};
        let store = Store::open(":memory:").unwrap();
        let h = store.handle();
        let asked = std::sync::Arc::new(AtomicU32::new(0));
        let ask = |answer: bool| {
            let asked = asked.clone();
            move || {
                asked.fetch_add(1, Ordering::Relaxed);
                answer
            }
        };
        assert_eq!(h.identify("Ada", None, ask(false)).await, Err(IdentityError::CreationRefused));
        assert_eq!(h.identify("Ada", Some("made-up"), ask(false)).await, Err(IdentityError::CreationRefused));
        assert_eq!(asked.load(Ordering::Relaxed), 2);
        assert_eq!(h.player("Ada").await, None, "nothing was created");
        let token = h.identify("Ada", None, ask(true)).await.unwrap().new_token.unwrap();
        assert_eq!(asked.load(Ordering::Relaxed), 3);
        assert!(h.identify("Ada", Some(&token), ask(false)).await.is_ok(), "the returning pilot");
        assert_eq!(h.identify("Ada", None, ask(false)).await, Err(IdentityError::NameTaken));
        assert_eq!(h.identify("Ada", Some("0000"), ask(false)).await, Err(IdentityError::InvalidToken));
        assert_eq!(asked.load(Ordering::Relaxed), 3, "none of them asked");
        store.close();
    }

    fn policy() -> StorePolicy {
        StorePolicy { sweep_interval: Duration::from_millis(20), ..StorePolicy::default() }
    }

    /// At `max_identities` no new identity is made (the quota is not even asked, so the
    /// address keeps it), the refusal is counted, and returning pilots still get in.
    #[tokio::test]
    async fn a_full_store_creates_nothing() {
        let stats = Arc::new(Stats::default());
        let store = Store::open_with(":memory:", StorePolicy { max_identities: 2, ..policy() }, stats.clone()).unwrap();
        let h = store.handle();
        let token = h.identify("Ada", None, || true).await.unwrap().new_token.unwrap();
        h.identify("Bob", None, || true).await.unwrap();
        assert_eq!(stats.identities.load(Ordering::Relaxed), 2);
        let asked = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let ask = asked.clone();
        let refused = h
            .identify("Cy", None, move || {
                ask.store(true, Ordering::Relaxed);
                true
            })
            .await;
        assert_eq!(refused, Err(IdentityError::StoreFull));
        assert!(!asked.load(Ordering::Relaxed), "the address's quota was not spent");
        assert_eq!(stats.store_full_refused.load(Ordering::Relaxed), 1);
        assert!(h.identify("Ada", Some(&token), || false).await.is_ok(), "a returning pilot");
        assert_eq!(h.player("Cy").await, None);
        store.close();
    }

    /// An identity that never scored and was not seen for the idle expiry is deleted and its
    /// name is free for someone else; one that scored is kept however old, and so is the
    /// newest (whose number a new identity would otherwise take); a pilot seen recently is kept.
    #[tokio::test]
    async fn idle_identities_expire_and_free_their_names() {
        let path = temp_path("expiry");
        let store = Store::open(&path).unwrap();
        let h = store.handle();
        let mut tokens = Vec::new();
        for name in ["Idle", "Scorer", "Seen", "Newest"] {
            tokens.push(h.identify(name, None, || true).await.unwrap());
        }
        h.record(ScoreDelta { identity: tokens[1].id, points: 3, hits: 1, ..Default::default() });
        h.flush().await;
        store.close();
        let old = unix_now() - 40 * 24 * 3600;
        Connection::open(&path).unwrap().execute("UPDATE identities SET last_seen = ?1", params![old]).unwrap();
        let stats = Arc::new(Stats::default());
        let store = Store::open_with(&path, policy(), stats.clone()).unwrap();
        let h = store.handle();
        let seen = h.identify("Seen", tokens[2].new_token.as_deref(), || true).await.unwrap();
        h.flush().await; // its sighting is written with the next batch
        let deadline = Instant::now() + Duration::from_secs(10);
        while stats.identities_expired.load(Ordering::Relaxed) == 0 {
            assert!(Instant::now() < deadline, "nothing expired");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(stats.identities_expired.load(Ordering::Relaxed), 1, "Idle only");
        assert_eq!(stats.identities.load(Ordering::Relaxed), 3);
        assert_eq!(h.player("Idle").await, None);
        assert!(h.player("Scorer").await.is_some(), "scored identities never expire");
        assert!(h.player("Newest").await.is_some(), "the newest row is kept");
        assert_eq!(seen.id, tokens[2].id);
        assert!(h.player("Seen").await.is_some(), "seen just now");
        assert_eq!(
            h.identify("Idle", tokens[0].new_token.as_deref(), || true).await.map(|i| i.id == tokens[0].id),
            Ok(false),
            "the name is free: its old token opens nothing, a new identity is made"
        );
        assert!(h.identify("Scorer", None, || true).await.is_err());
        store.close();
    }

    /// A revoke commits what was queued before it and discards what comes after (counted);
    /// the identity leaves the board and the player API, and its name is held until released,
    /// after which someone else can claim it while the old row keeps its scores. With no hold,
    /// the name is free at once.
    #[tokio::test]
    async fn revoked_identities_score_nothing_more_and_their_names_come_back() {
        let path = temp_path("revoke");
        let stats = Arc::new(Stats::default());
        let store = Store::open_with(&path, policy(), stats.clone()).unwrap();
        let h = store.handle();
        let ada = h.identify("Ada", None, || true).await.unwrap();
        h.record(ScoreDelta { identity: ada.id, points: 5, hits: 1, ..Default::default() });
        assert_eq!(h.revoke("ada").await, Some(ada.id));
        h.record(ScoreDelta { identity: ada.id, points: 7, hits: 1, ..Default::default() });
        h.flush().await;
        assert_eq!(stats.discarded_score_changes.load(Ordering::Relaxed), 1);
        assert!(h.all_time().is_empty(), "revoked identities are on no board");
        assert_eq!(h.player("Ada").await, None);
        assert_eq!(h.identify("Ada", None, || true).await, Err(IdentityError::NameTaken), "held");
        assert_eq!(h.release("Bob").await, Release::Unknown);
        let bob = h.identify("Bob", None, || true).await.unwrap();
        assert_eq!(h.release("Bob").await, Release::NotRevoked);
        assert_eq!(h.release("Ada").await, Release::Released);
        let again = h.identify("Ada", None, || true).await.unwrap();
        assert_ne!(again.id, ada.id);
        assert_eq!(again.totals, Totals::default(), "a new identity");
        store.close();
        let conn = Connection::open(&path).unwrap();
        let kept: i64 =
            conn.query_row("SELECT points FROM scores WHERE identity = ?1", params![ada.id], |r| r.get(0)).unwrap();
        assert_eq!(kept, 5, "the revoked row keeps what it earned before the revoke");
        drop(conn);
        let store =
            Store::open_with(&path, StorePolicy { revoked_name_hold: Duration::ZERO, ..policy() }, stats).unwrap();
        let h = store.handle();
        assert_eq!(h.revoke("Bob").await, Some(bob.id));
        assert_eq!(h.identify("Bob", bob.new_token.as_deref(), || true).await, Err(IdentityError::InvalidToken));
        assert!(h.identify("Bob", None, || true).await.is_ok_and(|i| i.id != bob.id), "no hold: free at once");
        store.close();
    }

    /// Regression (a full disk wrote one ERROR per attempt): when the file cannot grow (here:
    /// a database at its page limit), a new pilot is answered `Unavailable`, every failure is
    /// counted, and the store goes on serving what needs no new page.
    #[tokio::test]
    async fn a_full_disk_fails_softly_and_is_counted() {
        let conn = open_db(Path::new(":memory:")).unwrap();
        let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0)).unwrap();
        conn.pragma_update(None, "max_page_count", pages).unwrap();
        let stats = Arc::new(Stats::default());
        let store = Store::start(conn, policy(), stats.clone()).unwrap();
        let h = store.handle();
        let mut unavailable = 0;
        for i in 0..300 {
            if h.identify(&format!("Pilot{i}"), None, || true).await == Err(IdentityError::Unavailable) {
                unavailable += 1;
            }
        }
        assert!(unavailable > 200, "only {unavailable} failed once the pages ran out");
        assert_eq!(stats.store_errors.load(Ordering::Relaxed), unavailable);
        assert_eq!(h.identify("Pilot0", None, || true).await, Err(IdentityError::NameTaken), "reads still work");
        store.close();
    }

    /// A database from before look-alike keys gains its skeleton column on open: existing
    /// names (even two that look alike) keep their identities and tokens, and a new look-alike
    /// of either is refused.
    #[tokio::test]
    async fn old_databases_gain_look_alike_keys() {
        let path = temp_path("migrate");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(
                "CREATE TABLE identities (id INTEGER PRIMARY KEY, name TEXT NOT NULL, name_key TEXT NOT NULL UNIQUE,
                     token_hash BLOB NOT NULL UNIQUE, created_at INTEGER NOT NULL, revoked INTEGER NOT NULL DEFAULT 0);
                 CREATE TABLE scores (identity INTEGER PRIMARY KEY REFERENCES identities(id), hits INTEGER NOT NULL DEFAULT 0,
                     kills INTEGER NOT NULL DEFAULT 0, deaths INTEGER NOT NULL DEFAULT 0,
                     best_life_ticks INTEGER NOT NULL DEFAULT 0, points INTEGER NOT NULL DEFAULT 0);
                 CREATE INDEX scores_by_points ON scores(points DESC);",
            )
            .unwrap();
            for (name, token) in [("Alice", "t-latin"), ("\u{410}lice", "t-cyrillic")] {
                conn.execute(
                    "INSERT INTO identities (name, name_key, token_hash, created_at) VALUES (?1, ?2, ?3, 0)",
                    params![name, name.to_lowercase(), hash_token(token)],
                )
                .unwrap();
            }
        }
        let store = Store::open(&path).unwrap();
        let h = store.handle();
        assert_eq!(h.identify("Alice", Some("t-latin"), || true).await.unwrap().name, "Alice");
        assert_eq!(h.identify("\u{410}lice", Some("t-cyrillic"), || true).await.unwrap().name, "\u{410}lice");
        assert_eq!(h.identify("Al\u{456}ce", None, || true).await, Err(IdentityError::LookAlike));
        assert_eq!(h.identify("ALICE", None, || true).await, Err(IdentityError::NameTaken));
        assert!(h.identify("Bob", None, || true).await.is_ok());
        store.close();
        let conn = Connection::open(&path).unwrap();
        let nulls: i64 =
            conn.query_row("SELECT COUNT(*) FROM identities WHERE skeleton IS NULL", [], |r| r.get(0)).unwrap();
        assert_eq!(nulls, 0);
        let unseen: i64 =
            conn.query_row("SELECT COUNT(*) FROM identities WHERE last_seen IS NULL", [], |r| r.get(0)).unwrap();
        assert_eq!(unseen, 0, "existing identities were last seen at their creation");
    }

    /// Score changes are batched, summed, keep the longest life, survive a reopen, and feed
    /// the all-time top; the file is WAL and passes the integrity check.
    #[tokio::test]
    async fn scores_accumulate_and_persist() {
        let path = temp_path("scores");
        let store = Store::open(&path).unwrap();
        let h = store.handle();
        let a = h.identify("Ada", None, || true).await.unwrap().id;
        let b = h.identify("Bob", None, || true).await.unwrap().id;
        for i in 0..2000u32 {
            h.record(ScoreDelta { identity: a, hits: 1, points: 1, ..Default::default() });
            if i % 100 == 0 {
                h.record(ScoreDelta { identity: b, deaths: 1, life_ticks: i, ..Default::default() });
            }
        }
        h.flush().await;
        assert_eq!(h.all_time()[0].name, "Ada");
        assert_eq!(h.all_time()[0].points, 2000);
        assert_eq!(h.dropped(), 0);
        store.close();
        let store = Store::open(&path).unwrap();
        let h = store.handle();
        let token_less = h.identify("Bob", None, || true).await;
        assert_eq!(token_less, Err(IdentityError::NameTaken), "identities persist");
        let conn = Connection::open(&path).unwrap();
        let (hits, points): (i64, i64) = conn
            .query_row("SELECT hits, points FROM scores WHERE identity = ?1", params![a], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((hits, points), (2000, 2000));
        let (deaths, best): (i64, i64) = conn
            .query_row("SELECT deaths, best_life_ticks FROM scores WHERE identity = ?1", params![b], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((deaths, best), (20, 1900));
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
        let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(check, "ok");
        store.close();
    }
}
