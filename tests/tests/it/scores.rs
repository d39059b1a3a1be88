//! Identities and scores over the real server and a real SQLite file: tokens, name clashes,
//! points that survive a restart, and the leaderboard API.

use asteroids_server::Config;
use asteroids_tests::*;
use shared::protocol::{GameEvent, RejectReason, ServerMsg};
use std::time::{Duration, Instant};

fn config(db: &std::path::Path) -> Config {
    Config { db_path: db.to_path_buf(), asteroids: 600, arena_size: Some(3000.0), ..small_world() }
}

async fn hello(addr: std::net::SocketAddr, name: &str, token: Option<&str>) -> ServerMsg {
    say_hello(addr, name, token).await.unwrap().1
}

/// A new name gets a token; the name is then taken for anyone without it; the token is
/// refused for another name, and after an operator revokes it.
#[tokio::test]
async fn names_are_claimed_with_tokens() {
    let db = temp_db();
    let server = start_server(Config { admin_token: Some("revoke-test-token".into()), ..config(&db) }).await;
    let addr = server.local_addr();
    let ServerMsg::Welcome(w) = hello(addr, "Ada", None).await else { panic!("welcome") };
    let token = w.token.expect("a new identity gets a token");
    assert!(matches!(hello(addr, "ada", None).await, ServerMsg::Rejected(r) if r.reason == RejectReason::NameTaken));
    let ServerMsg::Welcome(again) = hello(addr, "Ada", Some(&token)).await else { panic!("welcome with token") };
    assert_eq!(again.token, None, "no new token for a known identity");
    assert!(
        matches!(hello(addr, "Eve", Some(&token)).await, ServerMsg::Rejected(r) if r.reason == RejectReason::InvalidToken)
    );
    server.shutdown().await;
}

/// Points scored in one server's life are committed on shutdown and continue after a
/// restart with the same file: the Welcome carries the total, and /api/leaderboard lists it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scores_survive_a_restart() {
    let db = temp_db();
    let server = start_server(config(&db)).await;
    let (mut c, w) = Client::join(server.local_addr(), "Gunner").await.unwrap();
    let token = w.token.clone().unwrap();
    c.view(w.ship_position, [1920.0, 1080.0]).await.unwrap();
    // Spin and fire until something is hit (a dense field: within seconds).
    let started = Instant::now();
    let mut points = 0;
    let mut seq = 0;
    while points == 0 {
        assert!(started.elapsed() < Duration::from_secs(30), "nothing hit in 30 s");
        seq += 1;
        c.input(seq, seq % 40 < 10, 1, true).await.unwrap();
        if let Ok(Ok(ServerMsg::Event(GameEvent::Score(s)))) =
            tokio::time::timeout(Duration::from_millis(50), c.recv()).await
        {
            points = s.points;
            assert_eq!(s.total_points, s.points, "a new identity's total is this session's points");
        }
    }
    drop(c);
    server.shutdown().await; // commits every score
    let server = start_server(config(&db)).await;
    let (status, body) = http_get(server.local_addr(), "/api/leaderboard", None).await.unwrap();
    assert_eq!(status, 200);
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["all_time"][0]["name"], "Gunner", "{doc}");
    assert!(doc["all_time"][0]["points"].as_u64().unwrap() >= points as u64, "{doc}");
    let ServerMsg::Welcome(w) = hello(server.local_addr(), "Gunner", Some(&token)).await else { panic!("welcome") };
    assert!(w.total_points >= points, "total {} after scoring {points}", w.total_points);
    server.shutdown().await;
}
