//! The store's behaviour, the same on both backends: every test in `on_both!` runs once on
//! an SQLite file and once on a real PostgreSQL started for it (`services::Postgres`). Then
//! what only a shared database has: two stores on one PostgreSQL (as two server processes
//! would be) sharing names and the board, and PostgreSQL stopped for about ten seconds while
//! scores keep coming, with nothing lost. (SQLite-only tests, such as migrations of old files,
//! the full disk and the board's query plan, are in `server/src/store/sqlite.rs`.)

use asteroids_server::store::{
    IdentityError, Release, ScoreDelta, Store, StoreHandle, StoreLocation, StorePolicy, Totals,
    SHARED_RECOUNT_INTERVAL, SHARED_REFRESH_INTERVAL,
};
use asteroids_server::Stats;
use asteroids_tests::services::Postgres;
use asteroids_tests::temp_db;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A database of one backend, with raw SQL for what a test must set up or check behind the
/// store's back.
enum Db {
    Sqlite(PathBuf),
    Postgres(Postgres),
}

impl Db {
    fn sqlite() -> Db {
        Db::Sqlite(temp_db())
    }

    fn postgres() -> Db {
        Db::Postgres(Postgres::start().expect("starting PostgreSQL for the test"))
    }

    fn location(&self) -> StoreLocation {
        match self {
            Db::Sqlite(path) => StoreLocation::sqlite(path),
            Db::Postgres(pg) => pg.url().parse().unwrap(),
        }
    }

    fn open(&self) -> Store {
        Store::open(self.location()).unwrap()
    }

    fn open_with(&self, policy: StorePolicy, stats: Arc<Stats>) -> Store {
        Store::open_with(self.location(), policy, stats).unwrap()
    }

    /// Runs statements (no parameters: values are written into the SQL, which both accept).
    fn execute(&self, sql: &str) {
        match self {
            Db::Sqlite(path) => rusqlite::Connection::open(path).unwrap().execute_batch(sql).unwrap(),
            Db::Postgres(pg) => off_runtime(|| pg_client(pg).batch_execute(sql).unwrap()),
        }
    }

    /// Every stored token hash.
    fn token_hashes(&self) -> Vec<Vec<u8>> {
        let sql = "SELECT token_hash FROM identities";
        match self {
            Db::Sqlite(path) => {
                let conn = rusqlite::Connection::open(path).unwrap();
                let mut q = conn.prepare(sql).unwrap();
                q.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
            }
            Db::Postgres(pg) => {
                off_runtime(|| pg_client(pg).query(sql, &[]).unwrap().iter().map(|r| r.get(0)).collect())
            }
        }
    }

    /// An identity's score row as stored, whatever the store's filters (revoked ones too).
    fn stored(&self, id: i64) -> Totals {
        let sql = format!("SELECT hits, kills, deaths, best_life_ticks, points FROM scores WHERE identity = {id}");
        let t = match self {
            Db::Sqlite(path) => rusqlite::Connection::open(path)
                .unwrap()
                .query_row(&sql, [], |r| Ok([r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?]))
                .unwrap(),
            Db::Postgres(pg) => off_runtime(|| {
                let row = pg_client(pg).query_one(&sql, &[]).unwrap();
                [row.get(0), row.get(1), row.get(2), row.get(3), row.get(4)]
            }),
        };
        Totals { hits: t[0], kills: t[1], deaths: t[2], best_life_ticks: t[3], points: t[4] }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Db::Sqlite(path) = self {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        }
    }
}

/// Runs `f` on a thread of its own: the synchronous PostgreSQL client must not be driven from
/// inside the test's async runtime.
fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| s.spawn(f).join().expect("the blocking work panicked"))
}

/// A connection of the test's own to `pg`'s database.
fn pg_client(pg: &Postgres) -> postgres::Client {
    postgres::Client::connect(&pg.url(), postgres::NoTls).unwrap()
}

fn policy() -> StorePolicy {
    StorePolicy { sweep_interval: Duration::from_millis(20), ..StorePolicy::default() }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// Each test: an `async fn` of a [`Db`], run as `<name>::sqlite` and `<name>::postgres`.
macro_rules! on_both {
    ($( $(#[doc = $doc:literal])+ async fn $name:ident($db:ident: &Db) $body:block )+) => {$(
        $(#[doc = $doc])+
        mod $name {
            use super::*;
            async fn run($db: &Db) $body
            #[tokio::test]
            async fn sqlite() {
                run(&Db::sqlite()).await;
            }
            #[tokio::test]
            async fn postgres() {
                run(&Db::postgres()).await;
            }
        }
    )+};
}

on_both! {
    /// Names are claimed by their first visitor; the token continues the identity, case
    /// aside; another name's token, a wrong token and a revoked one are refused; tokens are
    /// stored only hashed.
    async fn identities_and_tokens(db: &Db) {
        let store = db.open();
        let h = store.handle();
        let ada = h.identify("Ada", None, None, || true).await.unwrap();
        let token = ada.new_token.clone().expect("a new identity gets a token");
        assert_eq!(token.len(), 32, "128 bits, hex");
        assert_eq!(h.identify("ada", None, None, || true).await, Err(IdentityError::NameTaken));
        let again = h.identify("ADA", Some(&token), None, || true).await.unwrap();
        assert_eq!((again.id, again.new_token), (ada.id, None));
        assert_eq!(h.identify("Ada", Some("0000"), None, || true).await, Err(IdentityError::InvalidToken));
        assert_eq!(
            h.identify("Bob", Some(&token), None, || true).await,
            Err(IdentityError::InvalidToken),
            "not for another name"
        );
        assert!(h.revoke("Ada").await.is_some());
        assert_eq!(h.identify("Ada", Some(&token), None, || true).await, Err(IdentityError::InvalidToken), "revoked");
        store.close();
        let stored = db.token_hashes();
        assert_eq!(stored, [Sha256::digest(token.as_bytes()).to_vec()]);
        assert!(!stored[0].windows(token.len()).any(|w| w == token.as_bytes()), "the token itself is not stored");
    }

    /// A name that looks like a taken one (same confusable skeleton) is refused as a
    /// look-alike, one that differs only in case as taken, and each owner's token still
    /// opens its own identity.
    async fn look_alike_names_are_taken(db: &Db) {
        let store = db.open();
        let h = store.handle();
        let alice = h.identify("Alice", None, None, || true).await.unwrap();
        assert_eq!(h.identify("\u{410}lice", None, None, || true).await, Err(IdentityError::LookAlike), "Cyrillic A");
        assert_eq!(h.identify("Al\u{456}ce", None, None, || true).await, Err(IdentityError::LookAlike), "Cyrillic i");
        assert_eq!(h.identify("ALICE", None, None, || true).await, Err(IdentityError::NameTaken));
        assert_eq!(h.identify("alice", alice.new_token.as_deref(), None, || true).await.map(|i| i.id), Ok(alice.id));
        assert!(h.identify("Bob", None, None, || true).await.is_ok());
        store.close();
    }

    /// `may_create` is asked only when an identity would be created, and its "no" creates
    /// nothing: a returning pilot, a taken name or a bad token never ask it.
    async fn creation_asks_first(db: &Db) {
        let store = db.open();
        let h = store.handle();
        let asked = Arc::new(AtomicU32::new(0));
        let ask = |answer: bool| {
            let asked = asked.clone();
            move || {
                asked.fetch_add(1, Ordering::Relaxed);
                answer
            }
        };
        assert_eq!(h.identify("Ada", None, None, ask(false)).await, Err(IdentityError::CreationRefused));
        assert_eq!(h.identify("Ada", Some("made-up"), None, ask(false)).await, Err(IdentityError::CreationRefused));
        assert_eq!(asked.load(Ordering::Relaxed), 2);
        assert_eq!(h.player("Ada").await, None, "nothing was created");
        let token = h.identify("Ada", None, None, ask(true)).await.unwrap().new_token.unwrap();
        assert_eq!(asked.load(Ordering::Relaxed), 3);
        assert!(h.identify("Ada", Some(&token), None, ask(false)).await.is_ok(), "the returning pilot");
        assert_eq!(h.identify("Ada", None, None, ask(false)).await, Err(IdentityError::NameTaken));
        assert_eq!(h.identify("Ada", Some("0000"), None, ask(false)).await, Err(IdentityError::InvalidToken));
        assert_eq!(asked.load(Ordering::Relaxed), 3, "none of them asked");
        store.close();
    }

    /// At `max_identities` no new identity is made (the quota is not even asked, so the
    /// address keeps it), the refusal is counted, and returning pilots still get in.
    async fn a_full_store_creates_nothing(db: &Db) {
        let stats = Arc::new(Stats::default());
        let store = db.open_with(StorePolicy { max_identities: 2, ..policy() }, stats.clone());
        let h = store.handle();
        let token = h.identify("Ada", None, None, || true).await.unwrap().new_token.unwrap();
        h.identify("Bob", None, None, || true).await.unwrap();
        assert_eq!(stats.identities.load(Ordering::Relaxed), 2);
        let asked = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let ask = asked.clone();
        let refused = h
            .identify("Cy", None, None, move || {
                ask.store(true, Ordering::Relaxed);
                true
            })
            .await;
        assert_eq!(refused, Err(IdentityError::StoreFull));
        assert!(!asked.load(Ordering::Relaxed), "the address's quota was not spent");
        assert_eq!(stats.store_full_refused.load(Ordering::Relaxed), 1);
        assert!(h.identify("Ada", Some(&token), None, || false).await.is_ok(), "a returning pilot");
        assert_eq!(h.player("Cy").await, None);
        store.close();
    }

    /// An identity below the lasting points (never scored, or one point: issue 23's
    /// throwaways) not seen for the idle expiry is deleted and its name is free for someone
    /// else; a lasting one is kept however old, and so is the newest; a pilot seen recently is
    /// kept.
    async fn idle_identities_expire_and_free_their_names(db: &Db) {
        let store = db.open();
        let h = store.handle();
        let mut tokens = Vec::new();
        for name in ["Idle", "Scorer", "Seen", "OnePoint", "Newest"] {
            tokens.push(h.identify(name, None, None, || true).await.unwrap());
        }
        let lasting = u32::try_from(policy().lasting_points).unwrap();
        h.record(ScoreDelta { identity: tokens[1].id, points: lasting, hits: 1, ..Default::default() });
        h.record(ScoreDelta { identity: tokens[3].id, points: 1, hits: 1, ..Default::default() });
        h.flush().await;
        store.close();
        db.execute(&format!("UPDATE identities SET last_seen = {}", unix_now() - 40 * 24 * 3600));
        let stats = Arc::new(Stats::default());
        let store = db.open_with(policy(), stats.clone());
        let h = store.handle();
        let seen = h.identify("Seen", tokens[2].new_token.as_deref(), None, || true).await.unwrap();
        h.flush().await; // its sighting is written with the next batch
        let deadline = Instant::now() + Duration::from_secs(10);
        while stats.identities_expired.load(Ordering::Relaxed) < 2 {
            assert!(Instant::now() < deadline, "Idle and OnePoint did not expire");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(stats.identities_expired.load(Ordering::Relaxed), 2, "Idle and OnePoint only");
        assert_eq!(stats.identities.load(Ordering::Relaxed), 3);
        assert_eq!(h.player("Idle").await, None);
        assert_eq!(h.player("OnePoint").await, None, "one point does not keep a name");
        assert!(h.player("Scorer").await.is_some(), "lasting identities never expire");
        assert!(h.player("Newest").await.is_some(), "the newest row is kept");
        assert_eq!(seen.id, tokens[2].id);
        assert!(h.player("Seen").await.is_some(), "seen just now");
        assert_eq!(
            h.identify("Idle", tokens[0].new_token.as_deref(), None, || true).await.map(|i| i.id == tokens[0].id),
            Ok(false),
            "the name is free: its old token opens nothing, a new identity is made"
        );
        assert!(h.identify("Scorer", None, None, || true).await.is_err());
        store.close();
    }

    /// Regression (issue 23: a store filled with one-point identities refused every newcomer
    /// for good): at the cap, a newcomer reclaims an idle guest, fewest points first, then
    /// longest unseen; a pilot online, one seen within the reclaim time, a lasting one, a
    /// revoked one and the newest (here a newcomer) are never reclaimed, and points still
    /// queued count (they are committed first). With nothing left to reclaim, the newcomer is
    /// refused.
    async fn a_full_store_reclaims_idle_guests_lowest_first(db: &Db) {
        let stats = Arc::new(Stats::default());
        let policy = StorePolicy {
            max_identities: 7,
            lasting_points: 10,
            reclaim_min_idle: Duration::from_secs(30),
            reclaim_batch: 1,
            ..policy()
        };
        let store = db.open_with(policy, stats.clone());
        let h = store.handle();
        // Name, points, seconds since last seen.
        let rows = [
            ("Veteran", 10, 1000),
            ("Online", 0, 900),
            ("Revoked", 0, 900),
            ("OneOld", 1, 500),
            ("Earning", 1, 800),
            ("Two", 2, 400),
            ("TwoLater", 2, 40),
        ];
        let mut ids = HashMap::new();
        for (name, points, _) in rows {
            let id = h.identify(name, None, None, || true).await.unwrap().id;
            if points > 0 {
                h.record(ScoreDelta { identity: id, points, hits: 1, ..Default::default() });
            }
            ids.insert(name, id);
        }
        h.flush().await;
        h.revoke("Revoked").await.unwrap();
        for (name, _, ago) in rows {
            db.execute(&format!("UPDATE identities SET last_seen = {} WHERE id = {}", unix_now() - ago, ids[name]));
        }
        let online = ids["Online"];
        h.guard_online(Arc::new(move |id| id == online));
        // Queued, not committed: makes Earning lasting before the reclaim looks.
        h.record(ScoreDelta { identity: ids["Earning"], points: 9, hits: 1, ..Default::default() });
        let mut reclaimed = Vec::new();
        for newcomer in ["New1", "New2", "New3"] {
            assert!(h.identify(newcomer, None, None, || true).await.is_ok(), "{newcomer} got in");
            for (name, _, _) in rows {
                if h.player(name).await.is_none() && name != "Revoked" && !reclaimed.contains(&name) {
                    reclaimed.push(name);
                }
            }
        }
        assert_eq!(reclaimed, ["OneOld", "Two", "TwoLater"], "fewest points, then longest unseen");
        assert_eq!(stats.identities_reclaimed.load(Ordering::Relaxed), 3);
        assert_eq!(h.identify("New4", None, None, || true).await, Err(IdentityError::StoreFull), "nothing left to reclaim");
        assert_eq!(stats.store_full_refused.load(Ordering::Relaxed), 1);
        assert_eq!(h.player("Veteran").await.map(|(_, t)| t.points), Some(10), "lasting: kept");
        assert_eq!(h.player("Earning").await.map(|(_, t)| t.points), Some(10), "its queued points made it lasting");
        assert!(h.player("Online").await.is_some(), "online: kept");
        assert_eq!(h.identify("Revoked", None, None, || true).await, Err(IdentityError::NameTaken), "revoked: held");
        assert_eq!(stats.identities.load(Ordering::Relaxed), 7);
        store.close();
    }

    /// A database from before guests' points were kept beside them (the reclaim's index)
    /// gains the column on open, filled from the score rows, so the reclaim's order holds for
    /// the identities already there: the older one-point guest goes before the five-point one.
    async fn old_databases_gain_guest_points(db: &Db) {
        let store = db.open();
        let h = store.handle();
        let high = h.identify("High", None, None, || true).await.unwrap().id;
        let low = h.identify("Low", None, None, || true).await.unwrap().id;
        h.identify("Newest", None, None, || true).await.unwrap();
        h.record(ScoreDelta { identity: high, points: 5, hits: 5, ..Default::default() });
        h.record(ScoreDelta { identity: low, points: 1, hits: 1, ..Default::default() });
        h.flush().await;
        store.close();
        db.execute(&format!(
            "DROP INDEX IF EXISTS identities_reclaim;
             ALTER TABLE identities DROP COLUMN guest_points;
             UPDATE identities SET last_seen = {};",
            unix_now() - 1000
        ));
        let policy = StorePolicy {
            max_identities: 3,
            lasting_points: 10,
            reclaim_min_idle: Duration::from_secs(30),
            reclaim_batch: 1,
            ..policy()
        };
        let store = db.open_with(policy, Arc::new(Stats::default()));
        let h = store.handle();
        assert!(h.identify("New", None, None, || true).await.is_ok());
        assert_eq!(h.player("Low").await, None, "the one-point guest was reclaimed");
        assert_eq!(h.player("High").await.map(|(_, t)| t.points), Some(5), "before the five-point one");
        store.close();
    }

    /// An operator's purge deletes what was created from a network or within a window, and
    /// frees those names; it spares what `max_points` protects, revoked identities, pilots
    /// online and the newest row; identities are recorded with the address (IPv4, or IPv6
    /// /64) their creation was counted under.
    async fn a_purge_deletes_by_network_and_window(db: &Db) {
        use asteroids_server::net::address::AddressKey;
        use asteroids_server::net::new_identities::{NewIdentities, Quotas};
        let stats = Arc::new(Stats::default());
        let store = db.open_with(policy(), stats.clone());
        let h = store.handle();
        let quotas = Quotas { per_address: 100, per_56: 100, per_48: 100 };
        let quota = Arc::new(NewIdentities::new(quotas, Duration::from_secs(3600), stats.clone()));
        let from = |ip: &str| {
            let (quota, key) = (quota.clone(), AddressKey::of(ip.parse().unwrap()));
            (Some(key), move || quota.try_take(key, std::time::Instant::now()))
        };
        let mut ids = HashMap::new();
        for (name, ip) in [
            ("Squat1", "2001:db8:1:1::1"),
            ("Squat2", "2001:db8:1:2::9"),
            ("SquatOnline", "2001:db8:1:3::1"),
            ("SquatRevoked", "2001:db8:1:4::1"),
            ("Neighbour", "2001:db8:2::1"),
            ("Player", "203.0.113.7"),
            ("Old", "198.51.100.1"),
            ("Newest", "2001:db8:1:5::1"),
        ] {
            let (address, may_create) = from(ip);
            ids.insert(name, h.identify(name, None, address, may_create).await.unwrap().id);
        }
        h.record(ScoreDelta { identity: ids["Player"], points: 5, hits: 1, ..Default::default() });
        h.flush().await;
        h.revoke("SquatRevoked").await.unwrap();
        let online = ids["SquatOnline"];
        h.guard_online(Arc::new(move |id| id == online));
        db.execute(&format!("UPDATE identities SET created_at = {} WHERE id = {}", unix_now() - 7200, ids["Old"]));
        let by_network = asteroids_server::store::Purge {
            network: Some("2001:db8:1::/48".parse().unwrap()),
            ..Default::default()
        };
        assert_eq!(h.purge(by_network).await, Some(2), "Squat1 and Squat2");
        assert_eq!((h.player("Squat1").await, h.player("Squat2").await), (None, None));
        assert!(h.identify("Squat1", None, None, || true).await.is_ok(), "the name is free");
        for kept in ["SquatOnline", "Neighbour", "Newest"] {
            assert!(h.player(kept).await.is_some(), "{kept}");
        }
        assert_eq!(h.identify("SquatRevoked", None, None, || true).await, Err(IdentityError::NameTaken));
        let spare_players = asteroids_server::store::Purge {
            network: Some("203.0.113.0/24".parse().unwrap()),
            max_points: Some(0),
            ..Default::default()
        };
        assert_eq!(h.purge(spare_players).await, Some(0), "Player has points");
        let window =
            asteroids_server::store::Purge { created_before: Some(unix_now() - 3600), ..Default::default() };
        assert_eq!(h.purge(window).await, Some(1), "Old");
        assert_eq!(h.player("Old").await, None);
        assert_eq!(stats.identities_purged.load(Ordering::Relaxed), 3);
        store.close();
    }

    /// A revoke commits what was queued before it and discards what comes after (counted);
    /// the identity leaves the board and the player API, and its name is held until released,
    /// after which someone else can claim it while the old row keeps its scores. With no hold,
    /// the name is free at once.
    async fn revoked_identities_score_nothing_more_and_their_names_come_back(db: &Db) {
        let stats = Arc::new(Stats::default());
        let store = db.open_with(policy(), stats.clone());
        let h = store.handle();
        let ada = h.identify("Ada", None, None, || true).await.unwrap();
        h.record(ScoreDelta { identity: ada.id, points: 5, hits: 1, ..Default::default() });
        assert_eq!(h.revoke("ada").await, Some(ada.id));
        h.record(ScoreDelta { identity: ada.id, points: 7, hits: 1, ..Default::default() });
        h.flush().await;
        assert_eq!(stats.discarded_score_changes.load(Ordering::Relaxed), 1);
        assert!(h.all_time().is_empty(), "revoked identities are on no board");
        assert_eq!(h.player("Ada").await, None);
        assert_eq!(h.identify("Ada", None, None, || true).await, Err(IdentityError::NameTaken), "held");
        assert_eq!(h.release("Bob").await, Release::Unknown);
        let bob = h.identify("Bob", None, None, || true).await.unwrap();
        assert_eq!(h.release("Bob").await, Release::NotRevoked);
        assert_eq!(h.release("Ada").await, Release::Released);
        let again = h.identify("Ada", None, None, || true).await.unwrap();
        assert_ne!(again.id, ada.id);
        assert_eq!(again.totals, Totals::default(), "a new identity");
        store.close();
        assert_eq!(db.stored(ada.id).points, 5, "the revoked row keeps what it earned before the revoke");
        let store = db.open_with(StorePolicy { revoked_name_hold: Duration::ZERO, ..policy() }, stats);
        let h = store.handle();
        assert_eq!(h.revoke("Bob").await, Some(bob.id));
        assert_eq!(h.identify("Bob", bob.new_token.as_deref(), None, || true).await, Err(IdentityError::InvalidToken));
        assert!(h.identify("Bob", None, None, || true).await.is_ok_and(|i| i.id != bob.id), "no hold: free at once");
        store.close();
    }

    /// Score changes are batched, summed, keep the longest life, survive a reopen, and feed
    /// the all-time top; commits are counted with their size.
    async fn scores_accumulate_and_persist(db: &Db) {
        let stats = Arc::new(Stats::default());
        let store = db.open_with(policy(), stats.clone());
        let h = store.handle();
        let a = h.identify("Ada", None, None, || true).await.unwrap().id;
        let b = h.identify("Bob", None, None, || true).await.unwrap().id;
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
        assert_eq!(stats.store_committed_changes.load(Ordering::Relaxed), 2020);
        assert!(stats.store_commits.load(Ordering::Relaxed) >= 1);
        assert_eq!(stats.store_pending_changes.load(Ordering::Relaxed), 0);
        store.close();
        let store = db.open();
        let h = store.handle();
        assert_eq!(h.identify("Bob", None, None, || true).await, Err(IdentityError::NameTaken), "identities persist");
        assert_eq!(h.all_time()[0].points, 2000, "the board is read at open");
        assert_eq!(h.player("ada").await.map(|(_, t)| (t.hits, t.points)), Some((2000, 2000)));
        store.close();
        let (ada, bob) = (db.stored(a), db.stored(b));
        assert_eq!((ada.hits, ada.points), (2000, 2000));
        assert_eq!((bob.deaths, bob.best_life_ticks), (20, 1900));
    }
}

/// Polls `check` every few milliseconds until it holds, for at most `limit`.
async fn eventually(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Opens `n` stores on one database at the same moment, as `n` server processes starting
/// together would (their schema creation must not collide).
fn open_together(url: &str, n: usize) -> Vec<(Store, Arc<Stats>)> {
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let location: StoreLocation = url.parse().unwrap();
            std::thread::spawn(move || {
                let stats = Arc::new(Stats::default());
                (Store::open_with(location, policy(), stats.clone()).unwrap(), stats)
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

/// Two stores on one PostgreSQL (two processes of a universe): a name claimed through one is
/// refused through the other (taken, or a look-alike), also when both claim it at the same
/// moment (exactly one wins; the other reads "taken", never "unavailable"); scores recorded
/// through both are summed, each one's all-time board shows the other's commits, and each
/// one's identity count (the cap's) comes to include the other's identities.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_on_one_postgres_share_names_and_the_board() {
    let pg = Postgres::start().expect("starting PostgreSQL for the test");
    let mut stores = open_together(&pg.url(), 4);
    let (b, _) = stores.pop().unwrap();
    let (a, a_stats) = stores.pop().unwrap();
    for (s, _) in stores {
        s.close();
    }
    let (ha, hb) = (a.handle(), b.handle());
    let ada = ha.identify("Ada", None, None, || true).await.unwrap();
    assert_eq!(hb.identify("ada", None, None, || true).await, Err(IdentityError::NameTaken));
    assert_eq!(hb.identify("\u{410}da", None, None, || true).await, Err(IdentityError::LookAlike));
    assert_eq!(
        hb.identify("ADA", ada.new_token.as_deref(), None, || true).await.map(|i| i.id),
        Ok(ada.id),
        "its token"
    );
    for i in 0..20 {
        let name = format!("Racer{i}");
        let (one, other) =
            tokio::join!(ha.identify(&name, None, None, || true), hb.identify(&name, None, None, || true));
        let winners = [&one, &other].iter().filter(|r| r.is_ok()).count();
        assert_eq!(winners, 1, "{name}: {one:?} / {other:?}");
        assert!([one, other].contains(&Err(IdentityError::NameTaken)), "the loser is told the name is taken");
    }
    let bob = hb.identify("Bob", None, None, || true).await.unwrap();
    ha.record(ScoreDelta { identity: ada.id, points: 5, kills: 1, ..Default::default() });
    hb.record(ScoreDelta { identity: ada.id, points: 3, ..Default::default() });
    hb.record(ScoreDelta { identity: bob.id, points: 7, ..Default::default() });
    ha.flush().await;
    hb.flush().await;
    let both = |h: &StoreHandle| h.all_time().iter().map(|e| (e.name.clone(), e.points)).collect::<Vec<_>>();
    let expected = vec![("Ada".to_string(), 8), ("Bob".to_string(), 7)];
    let limit = SHARED_REFRESH_INTERVAL * 3;
    eventually(limit, "A's board shows B's commits", || both(&ha) == expected).await;
    eventually(limit, "B's board shows A's commits", || both(&hb) == expected).await;
    assert_eq!(ha.player("Bob").await.map(|(_, t)| t.points), Some(7), "read through the other store");
    let limit = SHARED_RECOUNT_INTERVAL + Duration::from_secs(2);
    eventually(limit, "A's identity count includes B's", || a_stats.identities.load(Ordering::Relaxed) == 22).await;
    a.close();
    b.close();
}

/// How long PostgreSQL stays down in the outage test.
const OUTAGE: Duration = Duration::from_secs(10);

/// PostgreSQL stopped for about ten seconds while score changes keep coming (more than the
/// waiting buffer's bound, so it coalesces): a `Hello` meanwhile is answered `Unavailable`,
/// and once PostgreSQL is back (a new server: the old connection is dead) every change is
/// committed, nothing lost, the wait and the reconnect counted and nothing left pending.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_for_seconds_loses_no_score_change() {
    let mut pg = Postgres::start().expect("starting PostgreSQL for the test");
    let stats = Arc::new(Stats::default());
    let store = Store::open_with(pg.url().parse::<StoreLocation>().unwrap(), policy(), stats.clone()).unwrap();
    let h = store.handle();
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(h.identify(&format!("Pilot{i}"), None, None, || true).await.unwrap().id);
    }
    let mut expected: HashMap<i64, Totals> = HashMap::new();
    let mut record = |n: u32| {
        let identity = ids[n as usize % ids.len()];
        let d = ScoreDelta { identity, hits: 1, points: 2, deaths: n % 2, life_ticks: n % 997, kills: 0 };
        h.record(d);
        let t = expected.entry(identity).or_default();
        t.hits += 1;
        t.points += 2;
        t.deaths += i64::from(n % 2);
        t.best_life_ticks = t.best_life_ticks.max(i64::from(n % 997));
    };
    for n in 0..100 {
        record(n);
    }
    h.flush().await;
    assert_eq!(stats.store_pending_changes.load(Ordering::Relaxed), 0);

    pg.stop().unwrap();
    let down = Instant::now();
    let mut n = 100;
    while down.elapsed() < OUTAGE {
        for _ in 0..20 {
            record(n);
            n += 1;
        }
        tokio::time::sleep(Duration::from_millis(4)).await;
    }
    let during = n - 100;
    assert!(during as usize > asteroids_server::store::pending::MAX_PENDING_CHANGES, "{during} changes");
    assert_eq!(h.identify("Newcomer", None, None, || true).await, Err(IdentityError::Unavailable));
    eventually(Duration::from_secs(2), "the waiting changes are counted", || {
        stats.store_pending_changes.load(Ordering::Relaxed) > 0
    })
    .await;
    pg.start_again().unwrap();

    eventually(Duration::from_secs(15), "everything committed after the restart", || {
        stats.store_pending_changes.load(Ordering::Relaxed) == 0
            && stats.store_committed_changes.load(Ordering::Relaxed) == u64::from(n)
    })
    .await;
    h.flush().await;
    for (id, want) in &expected {
        assert_eq!(&pg_totals(&pg, *id), want, "identity {id}: nothing lost, nothing counted twice");
    }
    assert_eq!(h.dropped(), 0);
    let waited_ms = stats.store_wait_ms.load(Ordering::Relaxed);
    assert!(waited_ms >= OUTAGE.as_millis() as u64 / 2, "store_wait_ms {waited_ms}");
    assert!(stats.store_reconnects.load(Ordering::Relaxed) >= 1);
    assert!(h.identify("Newcomer", None, None, || true).await.is_ok(), "Hellos are answered again");
    store.close();
}

/// An identity's stored totals, read over a connection of the test's own.
fn pg_totals(pg: &Postgres, id: i64) -> Totals {
    off_runtime(|| {
        let r = pg_client(pg)
            .query_one("SELECT hits, kills, deaths, best_life_ticks, points FROM scores WHERE identity = $1", &[&id])
            .unwrap();
        Totals { hits: r.get(0), kills: r.get(1), deaths: r.get(2), best_life_ticks: r.get(3), points: r.get(4) }
    })
}

/// The Redis starter: a server that answers on its URL's port, comes back on the same port
/// after a restart (empty: no persistence), and is gone once dropped.
#[test]
fn redis_starts_restarts_and_stops() {
    use std::io::{Read, Write};
    let mut redis = asteroids_tests::services::Redis::start().expect("starting Redis for the test");
    let port = redis.port();
    assert_eq!(redis.url(), format!("redis://127.0.0.1:{port}"));
    let command = |cmd: &str| {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(cmd.as_bytes()).unwrap();
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).to_string()
    };
    assert_eq!(command("SET sector a\r\n"), "+OK\r\n");
    redis.restart().unwrap();
    assert_eq!(redis.port(), port);
    assert_eq!(command("GET sector\r\n"), "$-1\r\n", "nothing persisted");
    drop(redis);
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "stopped");
}

/// Two real servers started with `--db` naming one PostgreSQL (two sectors of a universe): a
/// pilot who claims a name on one is refused it on the other without the token and welcomed
/// with it; while PostgreSQL is down a new pilot is told `Unavailable`, and welcomed once it
/// is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_sharing_postgres_share_names() {
    use asteroids_tests::{say_hello, small_world, start_server};
    use shared::protocol::{RejectReason, ServerMsg};
    let mut pg = Postgres::start().expect("starting PostgreSQL for the test");
    let config = || asteroids_server::Config { db: pg.url().parse().unwrap(), ..small_world() };
    let (one, two) = (start_server(config()).await, start_server(config()).await);
    let hello = |addr, name: &'static str, token: Option<String>| async move {
        say_hello(addr, name, token.as_deref()).await.unwrap().1
    };
    let ServerMsg::Welcome(w) = hello(one.local_addr(), "Vega", None).await else { panic!("welcome on one") };
    let token = w.token.expect("a new identity gets a token");
    let refused = hello(two.local_addr(), "vega", None).await;
    assert!(matches!(&refused, ServerMsg::Rejected(r) if r.reason == RejectReason::NameTaken), "{refused:?}");
    let ServerMsg::Welcome(again) = hello(two.local_addr(), "Vega", Some(token)).await else { panic!("token on two") };
    assert_eq!((again.token, again.player_id == w.player_id), (None, true), "the same identity");
    off_runtime(|| pg.stop().unwrap());
    let down = hello(two.local_addr(), "Newcomer", None).await;
    assert!(matches!(&down, ServerMsg::Rejected(r) if r.reason == RejectReason::Unavailable), "{down:?}");
    off_runtime(|| pg.start_again().unwrap());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match hello(two.local_addr(), "Newcomer", None).await {
            ServerMsg::Welcome(_) => break,
            other => assert!(Instant::now() < deadline, "still refused after PostgreSQL is back: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    one.shutdown().await;
    two.shutdown().await;
}

/// A store closed while PostgreSQL is down keeps retrying its commit for a few seconds
/// (`SHUTDOWN_COMMIT_WAIT`): when the database comes back meanwhile, what was waiting is
/// committed before the store stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_during_a_short_outage_still_commits() {
    let mut pg = Postgres::start().expect("starting PostgreSQL for the test");
    let store = Store::open(pg.url().parse::<StoreLocation>().unwrap()).unwrap();
    let h = store.handle();
    let id = h.identify("Late", None, None, || true).await.unwrap().id;
    off_runtime(|| pg.stop().unwrap());
    for _ in 0..10 {
        h.record(ScoreDelta { identity: id, points: 1, ..Default::default() });
    }
    h.flush().await; // fails: the changes wait
    off_runtime(|| {
        std::thread::scope(|s| {
            let closing = s.spawn(|| store.close());
            std::thread::sleep(Duration::from_secs(1));
            pg.start_again().unwrap();
            closing.join().unwrap();
        })
    });
    assert_eq!(pg_totals(&pg, id).points, 10);
}
