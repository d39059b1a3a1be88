//! Identities and scores in an embedded SQLite file: one thread owns the connection, reads
//! on request, and writes score changes in batched transactions. Nothing else touches the
//! database, and the simulation only ever hands it events through a bounded channel, so no
//! write (or fsync) ever happens on the tick thread.
//!
//! Tokens are 128 random bits, given to the client once, and stored only as their SHA-256.
//! The file runs in WAL mode with `synchronous = FULL`: a committed batch survives a crash.

use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};
use shared::constants::LEADERBOARD_SIZE;
use shared::protocol::LeaderboardEntry;
use std::path::{Path, PathBuf};
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
        reply: oneshot::Sender<bool>,
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

    /// Revokes a name's token: it is never accepted again. Returns whether the name existed.
    pub async fn revoke(&self, name: &str) -> bool {
        let (reply, rx) = oneshot::channel();
        if self.tx.try_send(Command::Revoke { name: name.to_string(), reply }).is_err() {
            return false;
        }
        rx.await.unwrap_or(false)
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
             skeleton TEXT
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
    Ok(conn)
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

fn identify(
    conn: &Connection,
    name: &str,
    token: Option<&str>,
    may_create: MayCreate,
) -> rusqlite::Result<Result<Identity, IdentityError>> {
    let keys = crate::net::name::keys(name);
    // The name itself (same key), or else a name that looks like it (same skeleton).
    let existing: Option<(i64, String, Vec<u8>, bool, bool)> = conn
        .query_row(
            "SELECT id, name, token_hash, revoked, name_key = ?1 FROM identities
             WHERE name_key = ?1 OR skeleton = ?2 ORDER BY name_key = ?1 DESC LIMIT 1",
            params![keys.key, keys.skeleton],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .optional()?;
    match (existing, token) {
        // Its owner's token opens the identity under either spelling (the registered one is kept).
        (Some((id, name, hash, revoked, _)), Some(token)) => {
            if revoked || hash != hash_token(token) {
                return Ok(Err(IdentityError::InvalidToken));
            }
            Ok(Ok(Identity { id, name, new_token: None, totals: totals(conn, id)? }))
        }
        (Some((.., same_key)), None) => {
            Ok(Err(if same_key { IdentityError::NameTaken } else { IdentityError::LookAlike }))
        }
        (None, token) => {
            // A token that belongs to another name is never accepted for this one.
            if let Some(token) = token {
                let known: Option<i64> = conn
                    .query_row("SELECT id FROM identities WHERE token_hash = ?1", params![hash_token(token)], |r| {
                        r.get(0)
                    })
                    .optional()?;
                if known.is_some() {
                    return Ok(Err(IdentityError::InvalidToken));
                }
            }
            if !may_create() {
                return Ok(Err(IdentityError::CreationRefused));
            }
            let token = crate::token::random();
            let now =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
            conn.execute(
                "INSERT INTO identities (name, name_key, token_hash, created_at, skeleton) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![name, keys.key, hash_token(&token), now, keys.skeleton],
            )?;
            let id = conn.last_insert_rowid();
            Ok(Ok(Identity { id, name: name.to_string(), new_token: Some(token), totals: Totals::default() }))
        }
    }
}

fn commit(conn: &mut Connection, batch: &mut Vec<ScoreDelta>) -> rusqlite::Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let tx = conn.transaction()?;
    {
        let mut upsert = tx.prepare_cached(
            "INSERT INTO scores (identity, hits, kills, deaths, best_life_ticks, points) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(identity) DO UPDATE SET
                 hits = hits + excluded.hits, kills = kills + excluded.kills, deaths = deaths + excluded.deaths,
                 best_life_ticks = MAX(best_life_ticks, excluded.best_life_ticks), points = points + excluded.points",
        )?;
        for d in batch.iter() {
            upsert.execute(params![d.identity, d.hits, d.kills, d.deaths, d.life_ticks, d.points])?;
        }
    }
    tx.commit()?;
    batch.clear();
    Ok(())
}

/// The all-time top: scorers only (`points > 0`, matching the partial index `scores_top`, so
/// the query walks the index from the top and stops after the board's rows plus ties),
/// best first, ties by kills then name. Runs after every commit, on the store's thread.
pub const TOP_QUERY: &str = "SELECT i.name, s.points, s.kills FROM scores s JOIN identities i ON i.id = s.identity
     WHERE s.points > 0
     ORDER BY s.points DESC, s.kills DESC, i.name ASC LIMIT ?1";

/// Runs [`TOP_QUERY`] for the board's size.
pub fn top(conn: &Connection) -> rusqlite::Result<Vec<LeaderboardEntry>> {
    let mut q = conn.prepare_cached(TOP_QUERY)?;
    let rows = q.query_map(params![LEADERBOARD_SIZE as i64], |r| {
        Ok(LeaderboardEntry { name: r.get(0)?, points: r.get::<_, i64>(1)? as u32, kills: r.get::<_, i64>(2)? as u32 })
    })?;
    rows.collect()
}

fn run(mut conn: Connection, rx: Receiver<Command>, all_time: watch::Sender<Arc<Vec<LeaderboardEntry>>>) {
    let mut batch: Vec<ScoreDelta> = Vec::new();
    let mut oldest: Option<Instant> = None;
    let flush = |conn: &mut Connection, batch: &mut Vec<ScoreDelta>| {
        if batch.is_empty() {
            return;
        }
        match commit(conn, batch) {
            Ok(()) => {
                if let Ok(t) = top(conn) {
                    all_time.send_replace(Arc::new(t));
                }
            }
            Err(e) => tracing::error!(error = %e, "committing scores failed; will retry"),
        }
    };
    loop {
        let wait = oldest.map_or(Duration::from_secs(3600), |t| FLUSH_INTERVAL.saturating_sub(t.elapsed()));
        match rx.recv_timeout(wait) {
            Ok(Command::Score(d)) => {
                batch.push(d);
                oldest.get_or_insert_with(Instant::now);
                if batch.len() >= MAX_BATCH {
                    flush(&mut conn, &mut batch);
                    oldest = None;
                }
            }
            Ok(Command::Identify { name, token, may_create, reply }) => {
                let result = identify(&conn, &name, token.as_deref(), may_create).unwrap_or_else(|e| {
                    tracing::error!(error = %e, "identity lookup failed");
                    Err(IdentityError::Unavailable)
                });
                let _ = reply.send(result);
            }
            Ok(Command::Revoke { name, reply }) => {
                let n = conn
                    .execute("UPDATE identities SET revoked = 1 WHERE name_key = ?1", params![name_key(&name)])
                    .unwrap_or(0);
                let _ = reply.send(n > 0);
            }
            Ok(Command::Player { name, reply }) => {
                let found = conn
                    .query_row("SELECT id, name FROM identities WHERE name_key = ?1", params![name_key(&name)], |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                    })
                    .optional()
                    .ok()
                    .flatten()
                    .and_then(|(id, name)| totals(&conn, id).ok().map(|t| (name, t)));
                let _ = reply.send(found);
            }
            Ok(Command::Flush { reply }) => {
                flush(&mut conn, &mut batch);
                oldest = None;
                let _ = reply.send(());
            }
            Err(RecvTimeoutError::Timeout) => {
                flush(&mut conn, &mut batch);
                oldest = None;
            }
            Ok(Command::Shutdown) | Err(RecvTimeoutError::Disconnected) => {
                flush(&mut conn, &mut batch);
                return;
            }
        }
    }
}

impl Store {
    /// Opens the database at `path` and starts the store's thread.
    pub fn open(path: impl Into<PathBuf>) -> anyhow::Result<Store> {
        let path = path.into();
        let conn = open_db(&path)?;
        // A damaged file is not played on: the operator restores it (or moves it away).
        let integrity: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        if integrity != "ok" {
            anyhow::bail!("{} fails its integrity check: {integrity}", path.display());
        }
        let initial = top(&conn)?;
        let (tx, rx) = mpsc::sync_channel(STORE_CHANNEL_CAPACITY);
        let (all_tx, all_rx) = watch::channel(Arc::new(initial));
        let thread = std::thread::Builder::new().name("store".into()).spawn(move || run(conn, rx, all_tx))?;
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
        assert!(h.revoke("Ada").await);
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
