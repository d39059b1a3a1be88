//! The store's SQLite backend: identities and scores in an embedded file, the default for a
//! single server process.
//!
//! The file runs in WAL mode with `synchronous = FULL`: a committed batch survives a crash.
//! Its schema grew over time; [`open_db`] creates it or brings an older file up to date
//! (look-alike keys, then the columns identities expire by, then the creating address and
//! guests' points), so any file the server ever wrote opens. Three queries are written for
//! SQLite's planner and pinned by a test: the all-time top ([`TOP_QUERY`]), the expiry's walk
//! ([`EXPIRY_QUERY`]) and the reclaim's ([`RECLAIM_QUERY`]) each read a partial index in their
//! own order, so their cost does not grow with the identities they skip. For the reclaim's
//! order a guest's points are kept on its identity row too (`guest_points`), beside its last
//! sighting.

use super::pending::Change;
use super::{unix_now, Backend, Created, DbError, NewIdentity, Purge, Row, Totals};
use crate::net::name::NameKeys;
use rusqlite::{params, Connection, OptionalExtension};
use shared::constants::LEADERBOARD_SIZE;
use shared::protocol::LeaderboardEntry;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

/// How long a statement waits for a lock another connection holds (tools reading the file).
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> DbError {
        DbError(e.to_string())
    }
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
    conn.busy_timeout(BUSY_TIMEOUT)?;
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
             -- 1 once it is lasting (has committed --lasting-points): it never expires and
             -- is never reclaimed.
             scored INTEGER NOT NULL DEFAULT 0,
             -- Unix seconds of the revoke; its name is released a hold after it.
             revoked_at INTEGER,
             -- The address that created it (net::address::AddressKey::stored): 4 or 6, and
             -- the IPv4 address or IPv6 /64 as an ordered number. NULL before it was recorded.
             created_family INTEGER,
             created_net INTEGER,
             -- A guest's points (copied from scores at each commit while it is not lasting),
             -- so the reclaim's order is one index: identities_reclaim.
             guest_points INTEGER NOT NULL DEFAULT 0
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
    migrate_origins(&conn)?;
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
    // The expiry reads only guests (`scored = 0`: not lasting), oldest first, so its cost does
    // not grow with the lasting identities (which never expire).
    conn.execute_batch("CREATE INDEX IF NOT EXISTS identities_idle ON identities(last_seen) WHERE scored = 0")
}

/// Brings a database from before the creating address was recorded up to date: adds
/// `created_family` and `created_net`, unknown (NULL) for the identities already there, which
/// a purge by network then never matches (a purge by creation time still does).
fn migrate_origins(conn: &Connection) -> rusqlite::Result<()> {
    let has = |column: &str| {
        conn.prepare("SELECT 1 FROM pragma_table_info('identities') WHERE name = ?1")?.exists(params![column])
    };
    for column in ["created_family", "created_net"] {
        if !has(column)? {
            conn.execute_batch(&format!("ALTER TABLE identities ADD COLUMN {column} INTEGER"))?;
        }
    }
    // Guests' points, copied beside last_seen so the reclaim walks one index in its order
    // (sorting a million guests by their score rows took 3 s).
    if !has("guest_points")? {
        conn.execute_batch(
            "ALTER TABLE identities ADD COLUMN guest_points INTEGER NOT NULL DEFAULT 0;
             UPDATE identities SET guest_points = COALESCE((SELECT points FROM scores WHERE identity = identities.id), 0)
                 WHERE scored = 0;",
        )?;
    }
    conn.execute_batch(
        "CREATE INDEX IF NOT EXISTS identities_reclaim ON identities(guest_points, last_seen)
             WHERE scored = 0 AND revoked = 0",
    )
}

/// Guests a full store may reclaim: not lasting, last seen before `?1`, not revoked, not the
/// newest (see [`EXPIRY_QUERY`]); fewest points first, then longest unseen, at most `?2`. It
/// walks the partial index `identities_reclaim` (guests' points, then last sighting) in that
/// order and stops at the limit, skipping only guests seen within the reclaim time: well
/// under a millisecond with a million guests, where sorting them took 3 s.
pub const RECLAIM_QUERY: &str = "SELECT id FROM identities
     WHERE scored = 0 AND revoked = 0 AND last_seen < ?1 AND id < (SELECT MAX(id) FROM identities)
     ORDER BY guest_points, last_seen, id LIMIT ?2";

/// Identities a purge names (`?2`..`?7` are its filters, NULL when not given), above id `?1`,
/// not revoked, not the newest; in id order, at most `?8`. An operator's rare request: it
/// reads the table.
const PURGE_QUERY: &str = "SELECT i.id FROM identities i LEFT JOIN scores s ON s.identity = i.id
     WHERE i.revoked = 0 AND i.id > ?1 AND i.id < (SELECT MAX(id) FROM identities)
       AND (?2 IS NULL OR i.created_at >= ?2) AND (?3 IS NULL OR i.created_at < ?3)
       AND (?4 IS NULL OR (i.created_family = ?4 AND i.created_net BETWEEN ?5 AND ?6))
       AND (?7 IS NULL OR COALESCE(s.points, 0) <= ?7)
     ORDER BY i.id LIMIT ?8";

/// Identities to expire: guests (not lasting), last seen before `?1`, not revoked, not the newest;
/// oldest first, at most `?2`. It walks the partial index `identities_idle`, so its cost does
/// not grow with the scorers, who never expire. The newest identity is never deleted because
/// SQLite numbers a new row one past the largest: deleting it would give the next identity
/// the number of an expired one (numbers name players in the simulation and places in the
/// admission table).
pub const EXPIRY_QUERY: &str = "SELECT id FROM identities WHERE scored = 0 AND last_seen < ?1 AND revoked = 0
     AND id < (SELECT MAX(id) FROM identities) ORDER BY last_seen LIMIT ?2";

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

/// The store's connection to an SQLite file.
#[derive(Debug)]
pub struct Sqlite {
    conn: Connection,
}

impl Sqlite {
    /// Opens (creating or migrating) the file at `path` and runs its integrity check; a
    /// damaged file is not played on (the operator restores it, or moves it away). Returns the
    /// check's answer too ("ok").
    pub fn open(path: &Path) -> anyhow::Result<(Sqlite, String)> {
        let conn = open_db(path)?;
        let integrity: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        if integrity != "ok" {
            anyhow::bail!("{} fails its integrity check: {integrity}", path.display());
        }
        Ok((Sqlite { conn }, integrity))
    }

    /// A backend on a connection opened by [`open_db`] (tests that shape the file first).
    pub fn on(conn: Connection) -> Sqlite {
        Sqlite { conn }
    }
}

impl Backend for Sqlite {
    fn shared(&self) -> bool {
        false
    }

    fn find(&mut self, keys: &NameKeys) -> Result<Option<Row>, DbError> {
        let row = self
            .conn
            .prepare_cached(
                "SELECT id, name, token_hash, CASE WHEN revoked THEN COALESCE(revoked_at, 0) END, name_key = ?1
                 FROM identities WHERE name_key = ?1 OR skeleton = ?2 ORDER BY name_key = ?1 DESC LIMIT 1",
            )?
            .query_row(params![keys.key, keys.skeleton], |r| {
                Ok(Row {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    token_hash: r.get(2)?,
                    revoked_at: r.get(3)?,
                    same_key: r.get(4)?,
                })
            })
            .optional()?;
        Ok(row)
    }

    fn token_known(&mut self, token_hash: &[u8]) -> Result<bool, DbError> {
        Ok(self.conn.prepare_cached("SELECT 1 FROM identities WHERE token_hash = ?1")?.exists(params![token_hash])?)
    }

    fn create(&mut self, new: &NewIdentity<'_>) -> Result<Created, DbError> {
        let (family, net) = new.from.map(|a| a.stored()).unzip();
        let inserted = self.conn.execute(
            "INSERT INTO identities (name, name_key, token_hash, created_at, skeleton, last_seen, created_family,
                 created_net)
             VALUES (?1, ?2, ?3, ?4, ?5, ?4, ?6, ?7)",
            params![new.name, new.keys.key, new.token_hash, new.now, new.keys.skeleton, family, net],
        );
        match inserted {
            Ok(_) => Ok(Created::Id(self.conn.last_insert_rowid())),
            Err(rusqlite::Error::SqliteFailure(e, _)) if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE => {
                Ok(Created::Conflict)
            }
            Err(e) => Err(e.into()),
        }
    }

    fn totals(&mut self, id: i64) -> Result<Totals, DbError> {
        Ok(totals(&self.conn, id)?)
    }

    fn release_row(&mut self, id: i64) -> Result<(), DbError> {
        self.conn
            .prepare_cached("UPDATE identities SET name_key = '#' || id, skeleton = '#' || id WHERE id = ?1")?
            .execute(params![id])?;
        Ok(())
    }

    fn commit(
        &mut self,
        changes: &[Change],
        seen: &BTreeSet<i64>,
        now: i64,
        lasting_points: i64,
    ) -> Result<u64, DbError> {
        let tx = self.conn.transaction()?;
        let mut discarded = 0;
        {
            let mut upsert = tx.prepare_cached(
                "INSERT INTO scores (identity, hits, kills, deaths, best_life_ticks, points)
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE EXISTS (SELECT 1 FROM identities WHERE id = ?1 AND revoked = 0)
                 ON CONFLICT(identity) DO UPDATE SET
                     hits = hits + excluded.hits, kills = kills + excluded.kills, deaths = deaths + excluded.deaths,
                     best_life_ticks = MAX(best_life_ticks, excluded.best_life_ticks), points = points + excluded.points",
            )?;
            // A guest's points follow its score row; at the lasting points it is lasting.
            let mut scored = tx.prepare_cached(
                "UPDATE identities SET guest_points = (SELECT points FROM scores WHERE identity = ?1),
                     scored = (SELECT points FROM scores WHERE identity = ?1) >= ?2
                 WHERE id = ?1 AND scored = 0",
            )?;
            for c in changes {
                let d = &c.delta;
                if upsert.execute(params![d.identity, d.hits, d.kills, d.deaths, d.life_ticks, d.points])? == 0 {
                    discarded += c.changes;
                } else if d.points > 0 {
                    scored.execute(params![d.identity, lasting_points])?;
                }
            }
            let mut touch = tx.prepare_cached("UPDATE identities SET last_seen = ?2 WHERE id = ?1")?;
            for id in seen {
                touch.execute(params![id, now])?;
            }
        }
        tx.commit()?;
        Ok(discarded)
    }

    fn revoke(&mut self, name_key: &str, now: i64) -> Result<Option<i64>, DbError> {
        let id: Option<i64> = self
            .conn
            .query_row("SELECT id FROM identities WHERE name_key = ?1", params![name_key], |r| r.get(0))
            .optional()?;
        if let Some(id) = id {
            self.conn.execute(
                "UPDATE identities SET revoked = 1, revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1",
                params![id, now],
            )?;
        }
        Ok(id)
    }

    fn revoked(&mut self, name_key: &str) -> Result<Option<(i64, bool)>, DbError> {
        Ok(self
            .conn
            .query_row("SELECT id, revoked FROM identities WHERE name_key = ?1", params![name_key], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?)
    }

    fn player(&mut self, name_key: &str) -> Result<Option<(String, Totals)>, DbError> {
        let found: Option<(i64, String)> = self
            .conn
            .query_row("SELECT id, name FROM identities WHERE name_key = ?1 AND revoked = 0", params![name_key], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        match found {
            Some((id, name)) => Ok(Some((name, totals(&self.conn, id)?))),
            None => Ok(None),
        }
    }

    fn top(&mut self) -> Result<Vec<LeaderboardEntry>, DbError> {
        Ok(top(&self.conn)?)
    }

    fn expire(&mut self, cutoff: i64, limit: usize) -> Result<usize, DbError> {
        let tx = self.conn.transaction()?;
        let ids: Vec<i64> = tx
            .prepare_cached(EXPIRY_QUERY)?
            .query_map(params![cutoff, limit as i64], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for id in &ids {
            tx.prepare_cached("DELETE FROM scores WHERE identity = ?1")?.execute(params![id])?;
            tx.prepare_cached("DELETE FROM identities WHERE id = ?1")?.execute(params![id])?;
        }
        tx.commit()?;
        Ok(ids.len())
    }

    fn count(&mut self) -> Result<u64, DbError> {
        let n: i64 = self.conn.query_row("SELECT COUNT(*) FROM identities", [], |r| r.get(0))?;
        Ok(n as u64)
    }

    fn reclaimable(&mut self, cutoff: i64, limit: usize) -> Result<Vec<i64>, DbError> {
        Ok(self
            .conn
            .prepare_cached(RECLAIM_QUERY)?
            .query_map(params![cutoff, limit as i64], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?)
    }

    fn purgeable(&mut self, purge: &Purge, after: i64, limit: usize) -> Result<Vec<i64>, DbError> {
        let net = purge.network;
        Ok(self
            .conn
            .prepare_cached(PURGE_QUERY)?
            .query_map(
                params![
                    after,
                    purge.created_after,
                    purge.created_before,
                    net.map(|n| n.family),
                    net.map_or(0, |n| n.first),
                    net.map_or(0, |n| n.last),
                    purge.max_points,
                    limit as i64
                ],
                |r| r.get(0),
            )?
            .collect::<rusqlite::Result<_>>()?)
    }

    fn delete(&mut self, ids: &[i64], idle_guests_before: Option<i64>) -> Result<usize, DbError> {
        let tx = self.conn.transaction()?;
        let mut deleted = 0;
        for id in ids {
            let eligible = tx
                .prepare_cached(
                    "SELECT 1 FROM identities WHERE id = ?1 AND revoked = 0
                         AND (?2 IS NULL OR (scored = 0 AND last_seen < ?2))",
                )?
                .exists(params![id, idle_guests_before])?;
            if eligible {
                tx.prepare_cached("DELETE FROM scores WHERE identity = ?1")?.execute(params![id])?;
                deleted += tx.prepare_cached("DELETE FROM identities WHERE id = ?1")?.execute(params![id])?;
            }
        }
        tx.commit()?;
        Ok(deleted)
    }
}

fn totals(conn: &Connection, id: i64) -> rusqlite::Result<Totals> {
    conn.prepare_cached("SELECT hits, kills, deaths, best_life_ticks, points FROM scores WHERE identity = ?1")?
        .query_row(params![id], |r| {
            Ok(Totals {
                hits: r.get(0)?,
                kills: r.get(1)?,
                deaths: r.get(2)?,
                best_life_ticks: r.get(3)?,
                points: r.get(4)?,
            })
        })
        .optional()
        .map(Option::unwrap_or_default)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{hash_token, IdentityError, Store, StorePolicy, EXPIRY_BATCH};
    use crate::Stats;
    use std::path::PathBuf;
    use std::sync::atomic::Ordering;
    use std::sync::Arc;

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
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {RECLAIM_QUERY}"))
            .unwrap()
            .query_map(params![0, 32], |r| r.get::<_, String>(3))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(plan.iter().any(|p| p.contains("identities_reclaim")), "the reclaim walks its index: {plan:?}");
        assert!(!plan.iter().any(|p| p.contains("TEMP B-TREE")), "in the index's order, no sort: {plan:?}");
    }

    fn temp_path(tag: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("asteroids-store-{tag}-{}.db", std::process::id()));
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", p.display()));
        }
        p
    }

    fn policy() -> StorePolicy {
        StorePolicy { sweep_interval: Duration::from_millis(20), ..StorePolicy::default() }
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
        let store = Store::start(Sqlite::on(conn), policy(), stats.clone()).unwrap();
        let h = store.handle();
        let mut unavailable = 0;
        for i in 0..300 {
            if h.identify(&format!("Pilot{i}"), None, None, || true).await == Err(IdentityError::Unavailable) {
                unavailable += 1;
            }
        }
        assert!(unavailable > 200, "only {unavailable} failed once the pages ran out");
        assert_eq!(stats.store_errors.load(Ordering::Relaxed), unavailable);
        assert_eq!(h.identify("Pilot0", None, None, || true).await, Err(IdentityError::NameTaken), "reads still work");
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
        let store = Store::open(path.as_path()).unwrap();
        let h = store.handle();
        assert_eq!(h.identify("Alice", Some("t-latin"), None, || true).await.unwrap().name, "Alice");
        assert_eq!(h.identify("\u{410}lice", Some("t-cyrillic"), None, || true).await.unwrap().name, "\u{410}lice");
        assert_eq!(h.identify("Al\u{456}ce", None, None, || true).await, Err(IdentityError::LookAlike));
        assert_eq!(h.identify("ALICE", None, None, || true).await, Err(IdentityError::NameTaken));
        assert!(h.identify("Bob", None, None, || true).await.is_ok());
        store.close();
        let conn = Connection::open(&path).unwrap();
        let nulls: i64 =
            conn.query_row("SELECT COUNT(*) FROM identities WHERE skeleton IS NULL", [], |r| r.get(0)).unwrap();
        assert_eq!(nulls, 0);
        let unseen: i64 =
            conn.query_row("SELECT COUNT(*) FROM identities WHERE last_seen IS NULL", [], |r| r.get(0)).unwrap();
        assert_eq!(unseen, 0, "existing identities were last seen at their creation");
        let unknown: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM identities WHERE created_family IS NULL AND created_net IS NULL",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(unknown, 3, "the creating address is a new column, unknown for identities made without one");
    }

    /// A database from before guests' points were kept beside them gains the column on open,
    /// filled from the score rows for guests only, so the reclaim's order holds for the
    /// identities already there.
    #[test]
    fn old_databases_gain_guest_points() {
        let path = temp_path("guest-points");
        {
            let conn = open_db(&path).unwrap();
            conn.execute_batch(
                "DROP INDEX identities_reclaim;
                 ALTER TABLE identities DROP COLUMN guest_points;",
            )
            .unwrap();
            for (id, points, scored) in [(1, 3, 0), (2, 0, 0), (3, 40, 1), (4, 0, 0)] {
                conn.execute(
                    "INSERT INTO identities (id, name, name_key, token_hash, created_at, last_seen, scored)
                     VALUES (?1, ?2, ?2, ?3, 0, 0, ?4)",
                    params![id, format!("p{id}"), vec![id as u8], scored],
                )
                .unwrap();
                conn.execute("INSERT INTO scores (identity, points) VALUES (?1, ?2)", params![id, points]).unwrap();
            }
        }
        let conn = open_db(&path).unwrap();
        let guest_points: Vec<i64> = conn
            .prepare("SELECT guest_points FROM identities ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(guest_points, [3, 0, 0, 0], "guests' points copied; the lasting one needs none");
        let order: Vec<i64> = conn
            .prepare(RECLAIM_QUERY)
            .unwrap()
            .query_map(params![1, 10], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(order, [2, 1], "fewest points first; lasting and newest never");
    }

    /// While another connection holds the file's write lock past the busy timeout, commits
    /// fail: the score changes wait (the wait and the failures counted) and every one of them
    /// is committed once the lock is released, by the same retry that serves PostgreSQL.
    #[tokio::test]
    async fn a_locked_file_delays_scores_and_loses_none() {
        let path = temp_path("locked");
        let stats = Arc::new(Stats::default());
        let store = Store::open_with(path.as_path(), policy(), stats.clone()).unwrap();
        let h = store.handle();
        let id = h.identify("Ada", None, None, || true).await.unwrap().id;
        let blocker = Connection::open(&path).unwrap();
        blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();
        for _ in 0..50 {
            h.record(crate::sim::ScoreDelta { identity: id, points: 1, ..Default::default() });
        }
        let deadline = std::time::Instant::now() + BUSY_TIMEOUT * 3;
        while stats.store_pending_changes.load(Ordering::Relaxed) == 0 {
            assert!(std::time::Instant::now() < deadline, "no commit failed");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        blocker.execute_batch("COMMIT").unwrap();
        while stats.store_pending_changes.load(Ordering::Relaxed) > 0 {
            assert!(std::time::Instant::now() < deadline, "the changes were not committed after the lock");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(h.player("Ada").await.map(|(_, t)| t.points), Some(50), "none lost");
        assert!(stats.store_errors.load(Ordering::Relaxed) >= 1);
        assert!(stats.store_wait_ms.load(Ordering::Relaxed) >= BUSY_TIMEOUT.as_millis() as u64 / 2);
        store.close();
    }
}
