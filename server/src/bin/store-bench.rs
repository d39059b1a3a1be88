//! `store-bench`: the all-time board and logins when the store holds a million identities that
//! never scored (what a name-squatting script leaves behind).
//!
//! 1. Fills a temporary SQLite file (the server's own schema) with N zero-point identities and
//!    a few scorers (fewer than the board holds, so the board cannot fill up from scorers).
//! 2. Times the all-time top-10 query as the store runs it after every commit
//!    ([`asteroids_server::store::TOP_QUERY`]), and the query it replaced
//!    ([`PREVIOUS_TOP_QUERY`], with its index), each on the same file.
//! 3. Opens the real store on the file and times logins (`identify` of new names) while score
//!    changes keep it committing (and re-reading the board) every flush interval.
//!
//! Run: `cargo run --release -p asteroids-server --bin store-bench [-- --rows N] [--scorers N]`

use asteroids_server::store::{open_db, top, ScoreDelta, Store, TOP_QUERY};
use rusqlite::params;
use sha2::{Digest, Sha256};
use shared::constants::LEADERBOARD_SIZE;
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

fn main() -> anyhow::Result<()> {
    let rows = arg("--rows", 1_000_000);
    let scorers = arg("--scorers", 5);
    let path = std::env::temp_dir().join(format!("asteroids-store-bench-{}.db", std::process::id()));
    let remove = || {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    };
    remove();
    println!("store-bench: {rows} zero-point identities, {scorers} scorers, file {}", path.display());

    let started = Instant::now();
    let mut conn = open_db(&path)?;
    let tx = conn.transaction()?;
    {
        let mut ident = tx.prepare(
            "INSERT INTO identities (id, name, name_key, token_hash, created_at, skeleton) VALUES (?1, ?2, ?3, ?4, 0, ?5)",
        )?;
        let mut score = tx.prepare("INSERT INTO scores (identity, points, kills, deaths) VALUES (?1, ?2, ?3, 1)")?;
        for i in 1..=(rows + scorers) as i64 {
            let name = format!("z{i}");
            let keys = asteroids_server::net::name::keys(&name);
            ident.execute(params![i, name, keys.key, Sha256::digest(i.to_le_bytes()).to_vec(), keys.skeleton])?;
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
        let store = Store::open(&path)?;
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
            h.identify(&format!("login{i}"), None, || true).await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
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
    remove();
    Ok(())
}
