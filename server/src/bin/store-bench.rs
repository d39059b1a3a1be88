//! `store-bench`: the store under load, for each backend.
//!
//! Without `--db`, the all-time board and logins when an SQLite store holds a million
//! identities that never scored (what a name-squatting script leaves behind):
//!
//! 1. Fills a temporary SQLite file (the server's own schema) with N zero-point identities and
//!    a few scorers (fewer than the board holds, so the board cannot fill up from scorers).
//! 2. Times the all-time top-10 query as the store runs it after every commit
//!    ([`asteroids_server::store::sqlite::TOP_QUERY`]), and the query it replaced
//!    ([`PREVIOUS_TOP_QUERY`], with its index), each on the same file.
//! 3. Opens the real store on the file and times logins (`identify` of new names) while score
//!    changes keep it committing (and re-reading the board) every flush interval, and the
//!    squatters, unseen for longer than the idle expiry, are being expired in batches.
//! 4. Opens it again with `--max-identities` at the count it holds, every squatter left seen
//!    an hour ago (idle for the reclaim, not for the expiry), and times logins that must reclaim guests to get in
//!    ([`asteroids_server::store::sqlite::RECLAIM_QUERY`], one batch every
//!    [`asteroids_server::store::RECLAIM_BATCH`] logins).
//!
//! Then, always, the commit load: the real store on a fresh SQLite file, and on the database
//! `--db` names if given (a `postgres://` URL: use a scratch database, the bench leaves its
//! identities there), each fed the same score changes (`--rate` per second spread over
//! `--players` identities, for `--secs`). It prints each commit's latency (p50, p99, max) and
//! batch size, read from the store's own counters (`store_commits`, `store_commit_us`,
//! `store_committed_changes`) sampled every millisecond: commits come a flush interval apart,
//! so each sample sees at most one (when it sees several, each gets their mean).
//!
//! Run: `cargo run --release -p asteroids-server --bin store-bench [-- --rows N] [--scorers N]
//! [--db postgres://…] [--players N] [--rate N] [--secs N]` (`--rows 0` skips the fill).

use asteroids_server::store::sqlite::{open_db, top, TOP_QUERY};
use asteroids_server::store::{ScoreDelta, Store, StoreLocation, StorePolicy};
use asteroids_server::Stats;
use rusqlite::params;
use sha2::{Digest, Sha256};
use shared::constants::LEADERBOARD_SIZE;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The all-time query before it was restricted to scorers, and the index it had.
const PREVIOUS_TOP_QUERY: &str = "SELECT i.name, s.points, s.kills FROM scores s JOIN identities i ON i.id = s.identity
     ORDER BY s.points DESC, s.kills DESC, i.name ASC LIMIT ?1";
const PREVIOUS_INDEX: &str = "CREATE INDEX IF NOT EXISTS scores_by_points ON scores(points DESC)";

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Median time of `runs` executions of `sql` (the board's size as its parameter), ms.
fn time_query(conn: &rusqlite::Connection, sql: &str, runs: usize) -> (f64, usize) {
    let mut times = Vec::new();
    let mut rows = 0;
    for _ in 0..runs {
        let started = Instant::now();
        let mut q = conn.prepare_cached(sql).unwrap();
        rows = q.query_map(params![LEADERBOARD_SIZE as i64], |_| Ok(())).unwrap().count();
        times.push(ms(started.elapsed()));
    }
    times.sort_by(f64::total_cmp);
    (percentile(&times, 0.5), rows)
}

/// The million-identity file: the board's query and logins under commits (SQLite only).
fn squatted_file(rows: usize, scorers: usize) -> anyhow::Result<()> {
    let path = std::env::temp_dir().join(format!("asteroids-store-bench-{}.db", std::process::id()));
    let remove = || {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    };
    remove();
    println!("store-bench: {rows} zero-point identities, {scorers} scorers, file {}", path.display());

    let started = Instant::now();
    // Last seen long ago: they expire (in batches) while step 3 measures logins.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() as i64;
    let mut conn = open_db(&path)?;
    let tx = conn.transaction()?;
    {
        let mut ident = tx.prepare(
            "INSERT INTO identities (id, name, name_key, token_hash, created_at, skeleton, last_seen)
             VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6)",
        )?;
        let mut score = tx.prepare("INSERT INTO scores (identity, points, kills, deaths) VALUES (?1, ?2, ?3, 1)")?;
        for i in 1..=(rows + scorers) as i64 {
            let name = format!("z{i}");
            let keys = asteroids_server::net::name::keys(&name);
            ident.execute(params![i, name, keys.key, Sha256::digest(i.to_le_bytes()).to_vec(), keys.skeleton, 0])?;
            let points = if i as usize > rows { (i as usize - rows) as i64 * 100 } else { 0 };
            score.execute(params![i, points, points / 100])?;
        }
    }
    tx.commit()?;
    conn.execute_batch("ANALYZE")?;
    println!("filled in {:.1} s", started.elapsed().as_secs_f64());

    let (now_ms, now_rows) = time_query(&conn, TOP_QUERY, 21);
    assert_eq!(top(&conn)?.len(), now_rows);
    conn.execute_batch(PREVIOUS_INDEX)?;
    let (before_ms, before_rows) = time_query(&conn, PREVIOUS_TOP_QUERY, 5);
    conn.execute_batch("DROP INDEX scores_by_points")?;
    println!("top-10 query, median: {now_ms:.3} ms ({now_rows} rows) now; {before_ms:.1} ms ({before_rows} rows) with the previous query");
    drop(conn);

    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let opened = Instant::now();
        // No cap here: this step times logins, not the cap (step 4 does).
        let policy = StorePolicy { max_identities: u64::MAX, ..StorePolicy::default() };
        let store = Store::open_with(path.as_path(), policy, Arc::new(Stats::default()))?;
        println!("store open (integrity check included) in {:.0} ms", ms(opened.elapsed()));
        let h = store.handle();
        // Score changes for the scorers every few milliseconds: the store commits (and re-reads
        // the board) every flush interval, as in a busy game.
        let scoring = {
            let h = h.clone();
            tokio::spawn(async move {
                for n in 0u64.. {
                    let identity = (rows + 1 + (n as usize % scorers.max(1))) as i64;
                    h.record(ScoreDelta { identity, hits: 1, points: 1, ..Default::default() });
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut logins = Vec::new();
        for i in 0..200 {
            let started = Instant::now();
            h.identify(&format!("login{i}"), None, None, || true).await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
            logins.push(ms(started.elapsed()));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        scoring.abort();
        logins.sort_by(f64::total_cmp);
        println!(
            "login (identify, new name) under commits: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} logins)",
            percentile(&logins, 0.5),
            percentile(&logins, 0.99),
            logins[logins.len() - 1],
            logins.len()
        );
        store.close();
        anyhow::Ok(())
    })?;

    // A full store of idle squatters: every login reclaims (a batch every RECLAIM_BATCH).
    let conn = open_db(&path)?;
    // Seen an hour ago: idle for the reclaim, not for the expiry (which stops).
    conn.execute("UPDATE identities SET last_seen = ?1 WHERE scored = 0", params![now - 3600])?;
    let count: i64 = conn.query_row("SELECT COUNT(*) FROM identities", [], |r| r.get(0))?;
    drop(conn);
    rt.block_on(async {
        let stats = Arc::new(Stats::default());
        let policy = StorePolicy { max_identities: count as u64, ..StorePolicy::default() };
        let store = Store::open_with(path.as_path(), policy, stats.clone())?;
        let h = store.handle();
        let mut logins = Vec::new();
        for i in 0..200 {
            let started = Instant::now();
            h.identify(&format!("newcomer{i}"), None, None, || true).await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
            logins.push(ms(started.elapsed()));
        }
        logins.sort_by(f64::total_cmp);
        println!(
            "login at a full store (reclaiming idle guests, {} reclaimed): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            stats.identities_reclaimed.load(Ordering::Relaxed),
            percentile(&logins, 0.5),
            percentile(&logins, 0.99),
            logins[logins.len() - 1],
        );
        store.close();
        anyhow::Ok(())
    })?;
    remove();
    Ok(())
}

/// The load the commit benchmark applies.
#[derive(Clone, Copy, Debug)]
struct Load {
    players: usize,
    rate_per_sec: usize,
    secs: u64,
}

/// How often the counters are sampled (well under a flush interval, so a sample sees one commit).
const SAMPLE_INTERVAL: Duration = Duration::from_millis(1);

/// Feeds the store at `location` the load and prints its commits' latency and batch size.
fn commit_load(label: &str, location: StoreLocation, load: Load) -> anyhow::Result<()> {
    let stats = Arc::new(Stats::default());
    let store = Store::open_with(location, StorePolicy::default(), stats.clone())?;
    let h = store.handle();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let run = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis();
    let ids: Vec<i64> = rt.block_on(async {
        let mut ids = Vec::new();
        for i in 0..load.players {
            let name = format!("b{run}x{i}");
            ids.push(h.identify(&name, None, None, || true).await.map_err(|e| anyhow::anyhow!("{e:?}"))?.id);
        }
        anyhow::Ok(ids)
    })?;
    let base = (
        stats.store_commits.load(Ordering::Relaxed),
        stats.store_commit_us.load(Ordering::Relaxed),
        stats.store_committed_changes.load(Ordering::Relaxed),
    );
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (stats, done) = (stats.clone(), done.clone());
        std::thread::spawn(move || {
            let (mut commits, mut us, mut changes) = base;
            let (mut latencies_ms, mut batches) = (Vec::new(), Vec::new());
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(SAMPLE_INTERVAL);
                let now = (
                    stats.store_commits.load(Ordering::Relaxed),
                    stats.store_commit_us.load(Ordering::Relaxed),
                    stats.store_committed_changes.load(Ordering::Relaxed),
                );
                let k = now.0 - commits;
                if k > 0 {
                    for _ in 0..k {
                        latencies_ms.push((now.1 - us) as f64 / k as f64 / 1000.0);
                        batches.push((now.2 - changes) as f64 / k as f64);
                    }
                    (commits, us, changes) = now;
                }
            }
            (latencies_ms, batches)
        })
    };
    let started = Instant::now();
    let mut sent = 0usize;
    while started.elapsed() < Duration::from_secs(load.secs) {
        let due = (started.elapsed().as_secs_f64() * load.rate_per_sec as f64) as usize;
        while sent < due {
            let identity = ids[sent % ids.len()];
            h.record(ScoreDelta {
                identity,
                hits: 1,
                points: 1,
                life_ticks: (sent % 600) as u32,
                ..Default::default()
            });
            sent += 1;
        }
        std::thread::sleep(SAMPLE_INTERVAL);
    }
    rt.block_on(h.flush());
    std::thread::sleep(SAMPLE_INTERVAL * 5);
    done.store(true, Ordering::Relaxed);
    let (mut latencies_ms, mut batches) = sampler.join().map_err(|_| anyhow::anyhow!("the sampler panicked"))?;
    store.close();
    anyhow::ensure!(!latencies_ms.is_empty(), "no commit was seen");
    latencies_ms.sort_by(f64::total_cmp);
    batches.sort_by(f64::total_cmp);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    println!(
        "{label}: {sent} changes over {} identities in {} s: {} commits; commit latency p50 {:.2} ms, p99 {:.2} ms, \
         max {:.2} ms; batch size mean {:.0}, p50 {:.0}, max {:.0} changes; dropped {}",
        load.players,
        load.secs,
        latencies_ms.len(),
        percentile(&latencies_ms, 0.5),
        percentile(&latencies_ms, 0.99),
        latencies_ms[latencies_ms.len() - 1],
        mean(&batches),
        percentile(&batches, 0.5),
        batches[batches.len() - 1],
        h.dropped(),
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let db = args.iter().position(|a| a == "--db").and_then(|i| args.get(i + 1));
    let db: Option<StoreLocation> = db.map(|s| s.parse()).transpose().map_err(|e: String| anyhow::anyhow!(e))?;
    let rows = arg("--rows", if db.is_some() { 0 } else { 1_000_000 });
    if rows > 0 {
        squatted_file(rows, arg("--scorers", 5))?;
    }
    let load = Load {
        players: arg("--players", 200).max(1),
        rate_per_sec: arg("--rate", 2000),
        secs: arg("--secs", 10) as u64,
    };
    println!("commit load: {} score changes/s over {} identities for {} s", load.rate_per_sec, load.players, load.secs);
    let path = std::env::temp_dir().join(format!("asteroids-store-bench-load-{}.db", std::process::id()));
    let remove = || {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    };
    remove();
    let result = commit_load("sqlite (fresh file)", StoreLocation::sqlite(&path), load);
    remove();
    result?;
    if let Some(db) = db {
        commit_load(&format!("{db}"), db.clone(), load)?;
    }
    Ok(())
}
