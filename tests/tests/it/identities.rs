//! What an identity costs: the store's cap on identities, and guests (below the lasting
//! points) reclaimed from a full store for newcomers; an operator's purge; idle guests
//! expiring; and an operator's revoke ending the live session at once (4003, no ghost, nothing
//! committed after it) with the name coming back later or by release.

use asteroids_server::Config;
use asteroids_tests::*;
use rusqlite::{params, Connection};
use shared::protocol::{RejectReason, ServerMsg, Welcome};
use shared::time::Ticks;
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

/// Flies until the server has told the pilot of at least `points` points.
async fn score_points(c: &mut Client, w: &Welcome, points: u32) -> u32 {
    c.view(w.ship_position, [1920.0, 1080.0]).await.unwrap();
    let started = Instant::now();
    loop {
        assert!(started.elapsed() < Duration::from_secs(60), "not {points} points in 60 s");
        let (ended, score) = c.fly_until_closed(Duration::from_millis(200)).await.unwrap();
        assert_eq!(ended, None, "closed while scoring");
        if let Some(s) = score.filter(|s| s.points >= points) {
            return s.points;
        }
    }
}

/// Connects from the loopback address `127.0.0.{last}` and says hello as `name`.
async fn hello_from(addr: std::net::SocketAddr, last: u8, name: &str, token: Option<&str>) -> (Client, ServerMsg) {
    let source = std::net::IpAddr::from([127, 0, 0, last]);
    let mut c = Client::connect_from(source, addr, &[]).await.unwrap().expect("the upgrade was accepted");
    let answer = c.say_hello(name, token).await.unwrap();
    (c, answer)
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
    config.limits.lasting_points = 1; // one point keeps a name here
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

/// Regression (issue 23: one point made an identity permanent, so a store filled with
/// one-point identities from many addresses refused every newcomer for good): with
/// `--max-identities 4` filled by a veteran and three one-point throwaways, each from its own
/// address, newcomers still get in, reclaiming the throwaways; the veteran (past
/// `--lasting-points`) keeps its name, token and points.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_full_of_one_point_identities_still_takes_newcomers() {
    let db = temp_db();
    let mut config = config(&db);
    config.limits.max_identities = 4;
    config.limits.lasting_points = 3;
    config.limits.reclaim_min_idle = Duration::ZERO;
    config.resume_window = Ticks::new(6); // a closed pilot's ghost is gone at once
    let server = start_server(config).await;
    let addr = server.local_addr();
    let (mut veteran, w) = match hello_from(addr, 10, "Veteran", None).await {
        (c, ServerMsg::Welcome(w)) => (c, w),
        (_, other) => panic!("Veteran: {other:?}"),
    };
    let veteran_token = w.token.clone().unwrap();
    let earned = score_points(&mut veteran, &w, 3).await;
    veteran.close().await.unwrap();
    for (i, name) in ["Throwaway1", "Throwaway2", "Throwaway3"].into_iter().enumerate() {
        let (mut c, w) = match hello_from(addr, 11 + i as u8, name, None).await {
            (c, ServerMsg::Welcome(w)) => (c, w),
            (_, other) => panic!("{name}: {other:?}"),
        };
        score_points(&mut c, &w, 1).await;
        c.close().await.unwrap();
    }
    server.store().flush().await;
    assert_eq!(server.stats().identities.load(Ordering::Relaxed), 4, "the store is full");
    // Every identity was last seen at least a second ago (the store's clock counts seconds).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for (i, newcomer) in ["Newcomer1", "Newcomer2"].into_iter().enumerate() {
        let (_c, answer) = hello_from(addr, 20 + i as u8, newcomer, None).await;
        assert!(matches!(answer, ServerMsg::Welcome(_)), "{newcomer} was refused: {answer:?}");
    }
    assert!(server.stats().identities_reclaimed.load(Ordering::Relaxed) >= 2);
    assert_eq!(server.stats().store_full_refused.load(Ordering::Relaxed), 0);
    let (_c, back) = hello_from(addr, 10, "Veteran", Some(&veteran_token)).await;
    let ServerMsg::Welcome(back) = back else { panic!("the veteran was refused: {back:?}") };
    assert!(back.total_points >= earned, "the veteran keeps its {earned} points: {}", back.total_points);
    let (_, metrics) = http_get(addr, "/metrics", Some(ADMIN)).await.unwrap();
    assert!(metrics.contains("asteroids_identities_reclaimed_total"), "{metrics}");
    server.shutdown().await;
}

/// `POST /admin/purge` deletes what one address created, with the token only, and refuses a
/// purge that names neither a window nor a network; the purged names are free again.
#[tokio::test]
async fn an_operator_purges_what_one_address_created() {
    let db = temp_db();
    let server = start_server(Config { resume_window: Ticks::new(6), ..config(&db) }).await;
    let addr = server.local_addr();
    for name in ["Spam1", "Spam2", "Spam3"] {
        let (_c, answer) = hello_from(addr, 30, name, None).await;
        assert!(matches!(answer, ServerMsg::Welcome(_)), "{answer:?}");
    }
    for name in ["Honest", "Latest"] {
        let (_c, answer) = hello_from(addr, 31, name, None).await;
        assert!(matches!(answer, ServerMsg::Welcome(_)), "{answer:?}");
    }
    // Their ghosts hold them online for the resume window: wait it out.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let purge = "/admin/purge?address=127.0.0.30";
    assert_eq!(http_request(addr, "POST", purge, None).await.unwrap().0, 401);
    let (status, _) = http_request(addr, "POST", "/admin/purge", Some(ADMIN)).await.unwrap();
    assert_eq!(status, 400, "a purge of everything is refused");
    let (status, _) = http_request(addr, "POST", "/admin/purge?address=nowhere", Some(ADMIN)).await.unwrap();
    assert_eq!(status, 400);
    let (status, body) = http_request(addr, "POST", purge, Some(ADMIN)).await.unwrap();
    assert_eq!((status, body.trim()), (200, r#"{"purged":3}"#));
    assert_eq!(server.stats().identities_purged.load(Ordering::Relaxed), 3);
    let (_c, answer) = hello_from(addr, 32, "Spam1", None).await;
    assert!(matches!(answer, ServerMsg::Welcome(_)), "the name is free: {answer:?}");
    assert_eq!(rejected(&hello(addr, "Honest", None).await), Some(RejectReason::NameTaken), "another address's");
    server.shutdown().await;
}
