//! What an identity costs: the store's cap on identities, idle never-scored identities
//! expiring, and an operator's revoke ending the live session at once (4003, no ghost, nothing
//! committed after it) with the name coming back later or by release.

use asteroids_server::Config;
use asteroids_tests::*;
use rusqlite::{params, Connection};
use shared::protocol::{RejectReason, ServerMsg, Welcome};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const ADMIN: &str = "identities-test-token";

fn config(db: &Path) -> Config {
    Config { db: db.into(), asteroids: 600, arena_size: Some(3000.0), admin_token: Some(ADMIN.into()), ..small_world() }
}

async fn hello(addr: std::net::SocketAddr, name: &str, token: Option<&str>) -> ServerMsg {
    say_hello(addr, name, token).await.unwrap().1
}

async fn welcome(addr: std::net::SocketAddr, name: &str, token: Option<&str>) -> (Client, Welcome) {
    match say_hello(addr, name, token).await.unwrap() {
        (c, ServerMsg::Welcome(w)) => (c, w),
        (_, other) => panic!("{name}: expected Welcome, got {other:?}"),
    }
}

fn rejected(msg: &ServerMsg) -> Option<RejectReason> {
    match msg {
        ServerMsg::Rejected(r) => Some(r.reason.clone()),
        _ => None,
    }
}

/// Flies until the server has told the pilot of at least one point (a dense field: seconds).
async fn score_a_point(c: &mut Client, w: &Welcome) -> u32 {
    c.view(w.ship_position, [1920.0, 1080.0]).await.unwrap();
    let started = Instant::now();
    loop {
        assert!(started.elapsed() < Duration::from_secs(30), "nothing hit in 30 s");
        let (ended, score) = c.fly_until_closed(Duration::from_millis(200)).await.unwrap();
        assert_eq!(ended, None, "closed while scoring");
        if let Some(s) = score.filter(|s| s.points > 0) {
            return s.points;
        }
    }
}

/// Points committed for the identity row `id`, read from the file beside the running server.
fn committed_points(db: &Path, id: i64) -> i64 {
    let conn = Connection::open(db).unwrap();
    conn.query_row("SELECT COALESCE((SELECT points FROM scores WHERE identity = ?1), 0)", params![id], |r| r.get(0))
        .unwrap()
}

/// Regression (141 points were committed after a revoke, and the session went on): revoking
/// a pilot who is flying and firing closes its connection with 4003 at once, removes its ship
/// without leaving a ghost, and nothing it scores after the revoke is committed. Its token is
/// refused, the name is held (taken) until the operator releases it, and then a new pilot
/// claims it from nothing; the revoked row keeps its points in the file, on no board.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoke_ends_the_session_and_the_name_comes_back_on_release() {
    let db = temp_db();
    let server = start_server(config(&db)).await;
    let addr = server.local_addr();
    let (mut c, w) = welcome(addr, "Gunner", None).await;
    let token = w.token.clone().unwrap();
    score_a_point(&mut c, &w).await;
    let flying = tokio::spawn(async move { c.fly_until_closed(Duration::from_secs(10)).await.unwrap() });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, _) = http_request(addr, "POST", "/admin/revoke/gunner", Some(ADMIN)).await.unwrap();
    assert_eq!(status, 204);
    let id: i64 = Connection::open(&db)
        .unwrap()
        .query_row("SELECT id FROM identities WHERE name = 'Gunner'", [], |r| r.get(0))
        .unwrap();
    let at_revoke = committed_points(&db, id);
    assert!(at_revoke > 0, "what was earned before the revoke is committed");
    let (ended, _) = flying.await.unwrap();
    assert_eq!(ended, Some(Ended::Closed(4003, "identity revoked".into())));
    // Gone by the next published frame (frames go out on snapshot ticks).
    tokio::time::sleep(Duration::from_millis(100)).await;
    let frame = server.latest_frame();
    assert!(!frame.players.contains_key(&w.player_id), "no player waits to be resumed");
    assert!(frame.entity(w.ship_id).is_none(), "no ghost ship");
    assert_eq!(server.stats().revoked_closed.load(Ordering::Relaxed), 1);
    assert_eq!(server.stats().ghosts.load(Ordering::Relaxed), 0, "its place is not held");
    assert_eq!(rejected(&hello(addr, "Gunner", Some(&token)).await), Some(RejectReason::InvalidToken));
    assert_eq!(rejected(&hello(addr, "Gunner", None).await), Some(RejectReason::NameTaken), "held");
    let (_, board) = http_get(addr, "/api/leaderboard", None).await.unwrap();
    assert!(!board.contains("Gunner"), "on no board: {board}");
    let (_, player) = http_get(addr, "/api/players/Gunner", None).await.unwrap();
    assert!(player.contains("\"points\":0"), "{player}");
    let (status, _) = http_request(addr, "POST", "/admin/release/Nobody", Some(ADMIN)).await.unwrap();
    assert_eq!(status, 404);
    let (status, _) = http_request(addr, "POST", "/admin/release/Gunner", Some(ADMIN)).await.unwrap();
    assert_eq!(status, 204);
    let (_c, fresh) = welcome(addr, "Gunner", None).await;
    assert!(fresh.token.is_some() && fresh.total_points == 0, "a new identity under the old name");
    let (status, _) = http_request(addr, "POST", "/admin/release/Gunner", Some(ADMIN)).await.unwrap();
    assert_eq!(status, 409, "only a revoked name can be released");
    server.shutdown().await; // commits everything still queued
    assert_eq!(committed_points(&db, id), at_revoke, "nothing committed after the revoke");
}

/// With `--max-identities 3`, the fourth new name is refused with its own reason and a clear
/// message, counted, while the first three pilots still get back in with their tokens.
#[tokio::test]
async fn the_store_cap_refuses_new_names_only() {
    let db = temp_db();
    let mut config = config(&db);
    config.limits.max_identities = 3;
    let server = start_server(config).await;
    let addr = server.local_addr();
    let mut tokens = Vec::new();
    for name in ["One", "Two", "Three"] {
        tokens.push(welcome(addr, name, None).await.1.token.unwrap());
    }
    let ServerMsg::Rejected(r) = hello(addr, "Four", None).await else { panic!("the fourth was let in") };
    assert_eq!(r.reason, RejectReason::NoNewIdentities);
    assert!(r.message.contains("no new pilots"), "{}", r.message);
    assert_eq!(server.stats().store_full_refused.load(Ordering::Relaxed), 1);
    assert_eq!(server.stats().identities.load(Ordering::Relaxed), 3);
    welcome(addr, "Two", Some(&tokens[1])).await;
    let (_, metrics) = http_get(addr, "/metrics", Some(ADMIN)).await.unwrap();
    assert!(metrics.contains("asteroids_store_full_refused_total 1"), "{metrics}");
    server.shutdown().await;
}

/// A never-scored identity unseen for the idle expiry is deleted and its name claimed by
/// someone else; a scored one as old is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_names_are_freed_and_scorers_kept() {
    let db = temp_db();
    let mut config = config(&db);
    config.limits.identity_idle_expiry = Duration::from_secs(2);
    config.limits.identity_sweep_interval = Duration::from_millis(100);
    let server = start_server(config).await;
    let addr = server.local_addr();
    let expired = || server.stats().identities_expired.load(Ordering::Relaxed);
    let (squatter, _) = welcome(addr, "Squatter", None).await;
    squatter.close().await.unwrap();
    let (mut scorer, w) = welcome(addr, "Scorer", None).await;
    score_a_point(&mut scorer, &w).await;
    scorer.close().await.unwrap();
    server.store().flush().await;
    // The newest identity is never expired (its number would be reused): a third one.
    let (newest, _) = welcome(addr, "Newest", None).await;
    newest.close().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while expired() < 1 {
        assert!(Instant::now() < deadline, "Squatter never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_c, claimed) = welcome(addr, "Squatter", None).await;
    assert!(claimed.token.is_some(), "the freed name is claimed by someone new");
    while expired() < 2 {
        assert!(Instant::now() < deadline, "Newest never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(rejected(&hello(addr, "Scorer", None).await), Some(RejectReason::NameTaken), "scorers are kept");
    let (_, player) = http_get(addr, "/api/players/Scorer", None).await.unwrap();
    assert!(!player.contains("\"points\":0"), "{player}");
    server.shutdown().await;
}
