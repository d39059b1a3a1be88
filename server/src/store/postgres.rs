//! The store's PostgreSQL backend (`--db postgres://…`): identities and scores in a database
//! that several server processes (the sectors of one universe) share.
//!
//! It uses the synchronous `postgres` client on the store's own thread, exactly where the
//! SQLite backend runs, so nothing about the store's threading changes. What sharing adds:
//!
//! - **Names are claimed by the database.** `name_key`, `skeleton` and `token_hash` are
//!   unique; when two processes race for one name, the loser's insert fails with a unique
//!   violation, which reads as [`Created::Conflict`] (the store then says whose it is:
//!   taken, or a look-alike), never as a failure. Ids are `BIGSERIAL`: never reused.
//! - **The schema is created once.** Every process runs `CREATE … IF NOT EXISTS` at start-up
//!   inside a transaction holding an advisory lock ([`SCHEMA_LOCK_KEY`]), so several starting
//!   at once cannot trip over each other's half-made catalog entries.
//! - **Batches are one statement.** A commit sends its (coalesced, identity-ordered) changes
//!   as arrays and upserts them with `UNNEST` in one round trip; best life is `GREATEST`.
//!   Identity order is also the order rows are locked in, the same in every process.
//! - **Connections die and come back.** After PostgreSQL restarts, a client is dead for good:
//!   the backend drops it and connects again on the next operation, no more often than a
//!   backoff from [`RECONNECT_BACKOFF_MIN`] doubling to [`RECONNECT_BACKOFF_MAX`] allows
//!   (counted in `store_reconnects`). Meanwhile every operation fails fast, and the store
//!   keeps score changes waiting.

use super::pending::Change;
use super::{Backend, Created, DbError, NewIdentity, Purge, Row, Totals};
use crate::net::name::NameKeys;
use crate::Stats;
use postgres::error::SqlState;
use postgres::{Client, NoTls, Statement};
use shared::constants::LEADERBOARD_SIZE;
use shared::protocol::LeaderboardEntry;
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// First wait before connecting again after a failed attempt.
pub const RECONNECT_BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Longest wait between attempts to connect (the backoff doubles up to it): a database that
/// comes back is used again within this.
pub const RECONNECT_BACKOFF_MAX: Duration = Duration::from_secs(2);
/// How long connecting may take before it counts as failed (unless the URL sets
/// `connect_timeout`): the store's thread waits that long at most per attempt.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long sent data may stay unacknowledged before the connection counts as dead (unless
/// the URL sets `tcp_user_timeout`): a database host that vanished without closing its
/// connections holds the store's thread this long at most.
pub const TCP_USER_TIMEOUT: Duration = Duration::from_secs(10);
/// The advisory lock held while the schema is created: any fixed number, the same in every
/// process ("asteroid" in ASCII).
pub const SCHEMA_LOCK_KEY: i64 = 0x6173_7465_726f_6964;

/// The schema: the SQLite one's columns, in PostgreSQL's types.
const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS identities (
        id BIGSERIAL PRIMARY KEY,
        name TEXT NOT NULL,
        name_key TEXT NOT NULL UNIQUE,
        token_hash BYTEA NOT NULL UNIQUE,
        created_at BIGINT NOT NULL,
        revoked BOOLEAN NOT NULL DEFAULT FALSE,
        -- What the name looks like (net::name::keys): unique, so look-alikes are taken.
        skeleton TEXT NOT NULL UNIQUE,
        -- Unix seconds of the last Hello with its token (or its creation).
        last_seen BIGINT NOT NULL,
        -- True once it is lasting (has committed --lasting-points): it never expires and is
        -- never reclaimed.
        scored BOOLEAN NOT NULL DEFAULT FALSE,
        -- Unix seconds of the revoke; its name is released a hold after it.
        revoked_at BIGINT,
        -- The address that created it (net::address::AddressKey::stored). NULL before it was
        -- recorded.
        created_family BIGINT,
        created_net BIGINT,
        -- A guest's points (copied from scores at each commit while it is not lasting), so
        -- the reclaim's order is one index: identities_reclaim.
        guest_points BIGINT NOT NULL DEFAULT 0
    );
    -- Databases made before the creating address and guests' points were kept gain their
    -- columns (guest_points is filled by Postgres::open when it adds it).
    ALTER TABLE identities ADD COLUMN IF NOT EXISTS created_family BIGINT;
    ALTER TABLE identities ADD COLUMN IF NOT EXISTS created_net BIGINT;
    ALTER TABLE identities ADD COLUMN IF NOT EXISTS guest_points BIGINT NOT NULL DEFAULT 0;
    CREATE TABLE IF NOT EXISTS scores (
        identity BIGINT PRIMARY KEY REFERENCES identities(id),
        hits BIGINT NOT NULL DEFAULT 0,
        kills BIGINT NOT NULL DEFAULT 0,
        deaths BIGINT NOT NULL DEFAULT 0,
        best_life_ticks BIGINT NOT NULL DEFAULT 0,
        points BIGINT NOT NULL DEFAULT 0
    );
    -- The board and the expiry each read a partial index, as in SQLite.
    CREATE INDEX IF NOT EXISTS scores_top ON scores (points DESC, kills DESC) WHERE points > 0;
    CREATE INDEX IF NOT EXISTS identities_idle ON identities (last_seen) WHERE NOT scored;
    CREATE INDEX IF NOT EXISTS identities_reclaim ON identities (guest_points, last_seen, id)
        WHERE NOT scored AND NOT revoked;";
/// Fills `guest_points` for the guests of a database that had no such column.
const FILL_GUEST_POINTS: &str = "UPDATE identities i SET guest_points = s.points FROM scores s
     WHERE s.identity = i.id AND NOT i.scored";

const FIND: &str = "SELECT id, name, token_hash, CASE WHEN revoked THEN COALESCE(revoked_at, 0) END, name_key = $1
     FROM identities WHERE name_key = $1 OR skeleton = $2 ORDER BY name_key = $1 DESC LIMIT 1";
const TOKEN_KNOWN: &str = "SELECT 1 FROM identities WHERE token_hash = $1";
const CREATE: &str = "INSERT INTO identities (name, name_key, token_hash, created_at, skeleton, last_seen,
         created_family, created_net)
     VALUES ($1, $2, $3, $4, $5, $4, $6, $7) RETURNING id";
const TOTALS: &str = "SELECT hits, kills, deaths, best_life_ticks, points FROM scores WHERE identity = $1";
const RELEASE: &str = "UPDATE identities SET name_key = '#' || id, skeleton = '#' || id WHERE id = $1";
/// Upserts a batch given as six arrays (identity, hits, kills, deaths, life, points) for
/// identities that exist and are not revoked; returns the identities it wrote.
const UPSERT: &str = "INSERT INTO scores (identity, hits, kills, deaths, best_life_ticks, points)
     SELECT d.identity, d.hits, d.kills, d.deaths, d.life, d.points
     FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::BIGINT[], $4::BIGINT[], $5::BIGINT[], $6::BIGINT[])
         AS d (identity, hits, kills, deaths, life, points)
     JOIN identities i ON i.id = d.identity AND NOT i.revoked
     ORDER BY d.identity
     ON CONFLICT (identity) DO UPDATE SET
         hits = scores.hits + EXCLUDED.hits, kills = scores.kills + EXCLUDED.kills,
         deaths = scores.deaths + EXCLUDED.deaths, points = scores.points + EXCLUDED.points,
         best_life_ticks = GREATEST(scores.best_life_ticks, EXCLUDED.best_life_ticks)
     RETURNING identity";
/// A guest's points follow its score row; at the lasting points (`$2`) it is lasting.
const MARK_SCORED: &str = "UPDATE identities i SET guest_points = s.points, scored = s.points >= $2 FROM scores s
     WHERE i.id = ANY($1) AND NOT i.scored AND s.identity = i.id";
const TOUCH: &str = "UPDATE identities SET last_seen = $2 WHERE id = ANY($1)";
const REVOKE: &str =
    "UPDATE identities SET revoked = TRUE, revoked_at = COALESCE(revoked_at, $2) WHERE name_key = $1 RETURNING id";
const REVOKED: &str = "SELECT id, revoked FROM identities WHERE name_key = $1";
const PLAYER: &str = "SELECT i.name, COALESCE(s.hits, 0), COALESCE(s.kills, 0), COALESCE(s.deaths, 0),
         COALESCE(s.best_life_ticks, 0), COALESCE(s.points, 0)
     FROM identities i LEFT JOIN scores s ON s.identity = i.id WHERE i.name_key = $1 AND NOT i.revoked";
/// The all-time top, as [`super::sqlite::TOP_QUERY`]; names compare bytewise (`COLLATE "C"`),
/// as SQLite compares them, whatever the database's locale.
pub const TOP_QUERY: &str = "SELECT i.name, s.points, s.kills FROM scores s JOIN identities i ON i.id = s.identity
     WHERE s.points > 0 AND NOT i.revoked
     ORDER BY s.points DESC, s.kills DESC, i.name COLLATE \"C\" ASC LIMIT $1";
/// Identities to expire, as [`super::sqlite::EXPIRY_QUERY`] (the newest is kept there for
/// SQLite's numbering; here ids are never reused, and it is kept so both behave alike). Rows
/// another process is expiring at the same moment are skipped.
const EXPIRY: &str = "SELECT id FROM identities WHERE NOT scored AND last_seen < $1 AND NOT revoked
     AND id < (SELECT MAX(id) FROM identities) ORDER BY last_seen LIMIT $2 FOR UPDATE SKIP LOCKED";
const DELETE_SCORES: &str = "DELETE FROM scores WHERE identity = ANY($1)";
const DELETE_IDENTITIES: &str = "DELETE FROM identities WHERE id = ANY($1)";
const COUNT: &str = "SELECT COUNT(*) FROM identities";
/// Guests to reclaim, as [`super::sqlite::RECLAIM_QUERY`].
const RECLAIM: &str = "SELECT id FROM identities
     WHERE NOT scored AND NOT revoked AND last_seen < $1 AND id < (SELECT MAX(id) FROM identities)
     ORDER BY guest_points, last_seen, id LIMIT $2";
/// Identities a purge names, as in SQLite's backend.
const PURGE: &str = "SELECT i.id FROM identities i LEFT JOIN scores s ON s.identity = i.id
     WHERE NOT i.revoked AND i.id > $1 AND i.id < (SELECT MAX(id) FROM identities)
       AND ($2::BIGINT IS NULL OR i.created_at >= $2) AND ($3::BIGINT IS NULL OR i.created_at < $3)
       AND ($4::BIGINT IS NULL OR (i.created_family = $4 AND i.created_net BETWEEN $5 AND $6))
       AND ($7::BIGINT IS NULL OR COALESCE(s.points, 0) <= $7)
     ORDER BY i.id LIMIT $8";
/// Those of the ids still to delete, locked (rows another process is deleting are skipped).
const DELETABLE: &str = "SELECT id FROM identities WHERE id = ANY($1) AND NOT revoked
     AND ($2::BIGINT IS NULL OR (NOT scored AND last_seen < $2)) FOR UPDATE SKIP LOCKED";

impl From<postgres::Error> for DbError {
    fn from(e: postgres::Error) -> DbError {
        DbError(e.to_string())
    }
}

/// A live connection and the statements prepared on it (they die with it).
struct Conn {
    client: Client,
    statements: HashMap<&'static str, Statement>,
}

impl Conn {
    /// `sql`, prepared once per connection.
    fn stmt(&mut self, sql: &'static str) -> Result<Statement, postgres::Error> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql)?;
        self.statements.insert(sql, s.clone());
        Ok(s)
    }
}

/// The store's connection to a PostgreSQL database, reconnecting after it is lost.
pub struct Postgres {
    config: postgres::Config,
    conn: Option<Conn>,
    /// No connection attempt before this (after a failed one).
    retry_at: Option<Instant>,
    /// The wait after the next failed attempt.
    backoff: Duration,
    stats: Arc<Stats>,
}

impl std::fmt::Debug for Postgres {
    /// Where it connects and whether it is connected (the client has no `Debug`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgres")
            .field("config", &self.config)
            .field("connected", &self.conn.is_some())
            .field("retry_at", &self.retry_at)
            .finish_non_exhaustive()
    }
}

impl Postgres {
    /// Connects to `url`, creates the schema if it is missing, and returns the backend with
    /// the server's version. Fails if the database cannot be reached now: a server that
    /// starts without its store would refuse every pilot.
    pub fn open(url: &str, stats: Arc<Stats>) -> anyhow::Result<(Postgres, String)> {
        let mut config: postgres::Config = url.parse()?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_tcp_user_timeout().is_none() {
            config.tcp_user_timeout(TCP_USER_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name(env!("CARGO_PKG_NAME"));
        }
        let mut client = config.connect(NoTls)?;
        let mut tx = client.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK_KEY])?;
        let had_guest_points = tx
            .query_opt(
                "SELECT 1 FROM information_schema.columns
                 WHERE table_schema = current_schema() AND table_name = 'identities' AND column_name = 'guest_points'",
                &[],
            )?
            .is_some();
        tx.batch_execute(SCHEMA)?;
        if !had_guest_points {
            tx.execute(FILL_GUEST_POINTS, &[])?;
        }
        tx.commit()?;
        let version: String = client.query_one("SELECT current_setting('server_version')", &[])?.get(0);
        let db = Postgres {
            config,
            conn: Some(Conn { client, statements: HashMap::new() }),
            retry_at: None,
            backoff: RECONNECT_BACKOFF_MIN,
            stats,
        };
        Ok((db, format!("PostgreSQL {version}")))
    }

    /// The connection, made again if it was lost and the backoff allows an attempt now.
    fn connected(&mut self) -> Result<&mut Conn, DbError> {
        if self.conn.as_ref().is_some_and(|c| c.client.is_closed()) {
            self.conn = None;
        }
        if self.conn.is_none() {
            let now = Instant::now();
            if self.retry_at.is_some_and(|at| now < at) {
                return Err(DbError("PostgreSQL is unreachable (waiting to connect again)".into()));
            }
            match self.config.connect(NoTls) {
                Ok(client) => {
                    self.stats.store_reconnects.fetch_add(1, Ordering::Relaxed);
                    tracing::info!("reconnected to PostgreSQL");
                    self.conn = Some(Conn { client, statements: HashMap::new() });
                    self.retry_at = None;
                    self.backoff = RECONNECT_BACKOFF_MIN;
                }
                Err(e) => {
                    self.retry_at = Some(now + self.backoff);
                    self.backoff = (self.backoff * 2).min(RECONNECT_BACKOFF_MAX);
                    return Err(DbError(format!("connecting to PostgreSQL: {e}")));
                }
            }
        }
        self.conn.as_mut().ok_or_else(|| DbError("no connection".into()))
    }

    /// Runs `f` on the connection; a connection that died under it is dropped, to be made
    /// again by the next operation.
    fn with<T>(&mut self, f: impl FnOnce(&mut Conn) -> Result<T, postgres::Error>) -> Result<T, DbError> {
        let conn = self.connected()?;
        match f(conn) {
            Ok(v) => Ok(v),
            Err(e) => {
                if e.is_closed() || conn.client.is_closed() {
                    self.conn = None;
                }
                Err(e.into())
            }
        }
    }
}

impl Backend for Postgres {
    fn shared(&self) -> bool {
        true
    }

    fn find(&mut self, keys: &NameKeys) -> Result<Option<Row>, DbError> {
        self.with(|c| {
            let s = c.stmt(FIND)?;
            let row = c.client.query_opt(&s, &[&keys.key, &keys.skeleton])?;
            Ok(row.map(|r| Row {
                id: r.get(0),
                name: r.get(1),
                token_hash: r.get(2),
                revoked_at: r.get(3),
                same_key: r.get(4),
            }))
        })
    }

    fn token_known(&mut self, token_hash: &[u8]) -> Result<bool, DbError> {
        self.with(|c| {
            let s = c.stmt(TOKEN_KNOWN)?;
            Ok(c.client.query_opt(&s, &[&token_hash])?.is_some())
        })
    }

    fn create(&mut self, new: &NewIdentity<'_>) -> Result<Created, DbError> {
        self.with(|c| {
            let s = c.stmt(CREATE)?;
            let (family, net) = new.from.map(|a| a.stored()).unzip();
            let params: [&(dyn postgres::types::ToSql + Sync); 7] =
                [&new.name, &new.keys.key, &new.token_hash, &new.now, &new.keys.skeleton, &family, &net];
            match c.client.query_one(&s, &params) {
                Ok(row) => Ok(Created::Id(row.get(0))),
                Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => Ok(Created::Conflict),
                Err(e) => Err(e),
            }
        })
    }

    fn totals(&mut self, id: i64) -> Result<Totals, DbError> {
        self.with(|c| {
            let s = c.stmt(TOTALS)?;
            Ok(c.client.query_opt(&s, &[&id])?.map_or_else(Totals::default, |r| Totals {
                hits: r.get(0),
                kills: r.get(1),
                deaths: r.get(2),
                best_life_ticks: r.get(3),
                points: r.get(4),
            }))
        })
    }

    fn release_row(&mut self, id: i64) -> Result<(), DbError> {
        self.with(|c| {
            let s = c.stmt(RELEASE)?;
            c.client.execute(&s, &[&id]).map(drop)
        })
    }

    fn commit(
        &mut self,
        changes: &[Change],
        seen: &BTreeSet<i64>,
        now: i64,
        lasting_points: i64,
    ) -> Result<u64, DbError> {
        let column = |f: fn(&Change) -> i64| changes.iter().map(f).collect::<Vec<i64>>();
        let ids = column(|c| c.delta.identity);
        let hits = column(|c| c.delta.hits.into());
        let kills = column(|c| c.delta.kills.into());
        let deaths = column(|c| c.delta.deaths.into());
        let lives = column(|c| c.delta.life_ticks.into());
        let points = column(|c| c.delta.points.into());
        let seen: Vec<i64> = seen.iter().copied().collect();
        self.with(|c| {
            let (upsert, mark, touch) = (c.stmt(UPSERT)?, c.stmt(MARK_SCORED)?, c.stmt(TOUCH)?);
            let mut tx = c.client.transaction()?;
            let mut written = BTreeSet::new();
            if !changes.is_empty() {
                for row in tx.query(&upsert, &[&ids, &hits, &kills, &deaths, &lives, &points])? {
                    written.insert(row.get::<_, i64>(0));
                }
                let scorers: Vec<i64> = changes
                    .iter()
                    .filter(|c| c.delta.points > 0 && written.contains(&c.delta.identity))
                    .map(|c| c.delta.identity)
                    .collect();
                if !scorers.is_empty() {
                    tx.execute(&mark, &[&scorers, &lasting_points])?;
                }
            }
            if !seen.is_empty() {
                tx.execute(&touch, &[&seen, &now])?;
            }
            tx.commit()?;
            Ok(changes.iter().filter(|c| !written.contains(&c.delta.identity)).map(|c| c.changes).sum())
        })
    }

    fn revoke(&mut self, name_key: &str, now: i64) -> Result<Option<i64>, DbError> {
        self.with(|c| {
            let s = c.stmt(REVOKE)?;
            Ok(c.client.query_opt(&s, &[&name_key, &now])?.map(|r| r.get(0)))
        })
    }

    fn revoked(&mut self, name_key: &str) -> Result<Option<(i64, bool)>, DbError> {
        self.with(|c| {
            let s = c.stmt(REVOKED)?;
            Ok(c.client.query_opt(&s, &[&name_key])?.map(|r| (r.get(0), r.get(1))))
        })
    }

    fn player(&mut self, name_key: &str) -> Result<Option<(String, Totals)>, DbError> {
        self.with(|c| {
            let s = c.stmt(PLAYER)?;
            Ok(c.client.query_opt(&s, &[&name_key])?.map(|r| {
                let totals = Totals {
                    hits: r.get(1),
                    kills: r.get(2),
                    deaths: r.get(3),
                    best_life_ticks: r.get(4),
                    points: r.get(5),
                };
                (r.get(0), totals)
            }))
        })
    }

    fn top(&mut self) -> Result<Vec<LeaderboardEntry>, DbError> {
        self.with(|c| {
            let s = c.stmt(TOP_QUERY)?;
            let rows = c.client.query(&s, &[&(LEADERBOARD_SIZE as i64)])?;
            Ok(rows
                .iter()
                .map(|r| LeaderboardEntry {
                    name: r.get(0),
                    points: r.get::<_, i64>(1) as u32,
                    kills: r.get::<_, i64>(2) as u32,
                    ai: false,
                })
                .collect())
        })
    }

    fn expire(&mut self, cutoff: i64, limit: usize) -> Result<usize, DbError> {
        self.with(|c| {
            let (find, scores, identities) = (c.stmt(EXPIRY)?, c.stmt(DELETE_SCORES)?, c.stmt(DELETE_IDENTITIES)?);
            let mut tx = c.client.transaction()?;
            let ids: Vec<i64> = tx.query(&find, &[&cutoff, &(limit as i64)])?.iter().map(|r| r.get(0)).collect();
            let mut deleted = 0;
            if !ids.is_empty() {
                tx.execute(&scores, &[&ids])?;
                deleted = tx.execute(&identities, &[&ids])?;
            }
            tx.commit()?;
            Ok(deleted as usize)
        })
    }

    fn count(&mut self) -> Result<u64, DbError> {
        self.with(|c| {
            let s = c.stmt(COUNT)?;
            Ok(c.client.query_one(&s, &[])?.get::<_, i64>(0) as u64)
        })
    }

    fn reclaimable(&mut self, cutoff: i64, limit: usize) -> Result<Vec<i64>, DbError> {
        self.with(|c| {
            let s = c.stmt(RECLAIM)?;
            Ok(c.client.query(&s, &[&cutoff, &(limit as i64)])?.iter().map(|r| r.get(0)).collect())
        })
    }

    fn purgeable(&mut self, purge: &Purge, after: i64, limit: usize) -> Result<Vec<i64>, DbError> {
        let net = purge.network;
        let (family, first, last) = (net.map(|n| n.family), net.map_or(0, |n| n.first), net.map_or(0, |n| n.last));
        self.with(|c| {
            let s = c.stmt(PURGE)?;
            let params: [&(dyn postgres::types::ToSql + Sync); 8] = [
                &after,
                &purge.created_after,
                &purge.created_before,
                &family,
                &first,
                &last,
                &purge.max_points,
                &(limit as i64),
            ];
            Ok(c.client.query(&s, &params)?.iter().map(|r| r.get(0)).collect())
        })
    }

    fn delete(&mut self, ids: &[i64], idle_guests_before: Option<i64>) -> Result<usize, DbError> {
        if ids.is_empty() {
            return Ok(0);
        }
        self.with(|c| {
            let (find, scores, identities) = (c.stmt(DELETABLE)?, c.stmt(DELETE_SCORES)?, c.stmt(DELETE_IDENTITIES)?);
            let mut tx = c.client.transaction()?;
            let ids: Vec<i64> = tx.query(&find, &[&ids, &idle_guests_before])?.iter().map(|r| r.get(0)).collect();
            let mut deleted = 0;
            if !ids.is_empty() {
                tx.execute(&scores, &[&ids])?;
                deleted = tx.execute(&identities, &[&ids])?;
            }
            tx.commit()?;
            Ok(deleted as usize)
        })
    }
}
