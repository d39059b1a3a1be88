//! Identities and scores over the real server and a real SQLite file: tokens, name clashes,
//! points that survive a restart, and the leaderboard API.

use asteroids_server::Config;
use asteroids_tests::*;
use shared::protocol::{GameEvent, RejectReason, ServerMsg};
use std::time::{Duration, Instant};

fn config(db: &std::path::Path) -> Config {
    Config { db: db.into(), asteroids: 600, arena_size: Some(3000.0), ..small_world() }
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

/// One pilot of the fight below: flies, spins and fires until the connection ends, and keeps
/// the last `Score` the server sent it.
async fn fight(mut c: Client, position: [f32; 2]) -> Option<shared::protocol::Score> {
    c.view(position, [1920.0, 1080.0]).await.ok()?;
    let mut last = None;
    let mut seq = 0;
    loop {
        seq += 1;
        if c.input(seq, seq % 30 < 20, if seq % 90 < 45 { 1 } else { -1 }, true).await.is_err() {
            // The server is going away: what it still has for us is read below.
        }
        match tokio::time::timeout(Duration::from_millis(30), c.recv()).await {
            Ok(Ok(ServerMsg::Event(GameEvent::Score(s)))) => last = Some(s),
            Ok(Ok(_)) | Err(_) => {}
            Ok(Err(_)) => return last, // closed: the server said everything it had to say
        }
    }
}

/// Regression (deaths were never saved): after a fight between pilots with identities, each
/// pilot's committed hits, kills, deaths, longest life and points equal what its own last
/// `Score` message said, in the database file after shutdown and through /api/players after
/// a restart on that file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_figure_of_a_fight_is_saved() {
    let db = temp_db();
    // A crowded little field: ships die on rocks and on each other's bullets within seconds.
    let fight_config = Config { asteroids: 150, arena_size: Some(1600.0), ..config(&db) };
    let server = start_server(fight_config.clone()).await;
    let mut pilots = Vec::new();
    for i in 0..10 {
        let name = format!("Pilot{i}");
        let (c, w) = Client::join(server.local_addr(), &name).await.unwrap();
        pilots.push((name, tokio::spawn(fight(c, w.ship_position))));
    }
    // Fight until someone has died, been shot and the store has committed some of it.
    let started = Instant::now();
    loop {
        assert!(started.elapsed() < Duration::from_secs(60), "no kill and death within 60 s");
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (_, body) = http_get(server.local_addr(), "/api/leaderboard", None).await.unwrap();
        let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
        let kills: u64 = doc["online"].as_array().unwrap().iter().map(|e| e["kills"].as_u64().unwrap()).sum();
        if kills > 0 && started.elapsed() > Duration::from_secs(5) {
            break;
        }
    }
    server.shutdown().await; // while everyone is still flying
    let mut told = Vec::new();
    for (name, pilot) in pilots {
        told.push((name, pilot.await.unwrap().unwrap_or_default()));
    }
    let total = |f: fn(&shared::protocol::Score) -> u32| told.iter().map(|(_, s)| f(s)).sum::<u32>();
    assert!(total(|s| s.deaths) > 0 && total(|s| s.kills) > 0 && total(|s| s.hits) > 0, "{told:?}");
    assert!(total(|s| s.best_life_ticks) > 0, "{told:?}");

    let file = rusqlite::Connection::open(&db).unwrap();
    for (name, s) in &told {
        let saved: [u32; 5] = file
            .query_row(
                "SELECT s.hits, s.kills, s.deaths, s.best_life_ticks, s.points
                 FROM identities i LEFT JOIN scores s ON s.identity = i.id WHERE i.name = ?1",
                [name],
                |r| Ok([0, 1, 2, 3, 4].map(|i| r.get::<_, Option<u32>>(i).unwrap().unwrap_or(0))),
            )
            .unwrap();
        assert_eq!(saved, [s.hits, s.kills, s.deaths, s.best_life_ticks, s.points], "{name} in the file");
    }
    drop(file);

    let server = start_server(fight_config).await;
    for (name, s) in &told {
        let (status, body) = http_get(server.local_addr(), &format!("/api/players/{name}"), None).await.unwrap();
        assert_eq!(status, 200, "{name}");
        let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
        let saved = ["hits", "kills", "deaths", "best_life_ticks", "points"].map(|k| doc[k].as_u64().unwrap() as u32);
        assert_eq!(saved, [s.hits, s.kills, s.deaths, s.best_life_ticks, s.points], "{name} after a restart");
    }
    server.shutdown().await;
}

/// `/api/players/{name}` does not tell which names exist: a registered name with no committed
/// figures and a name nobody holds get the same answer, byte for byte apart from the name.
#[tokio::test]
async fn player_route_does_not_reveal_which_names_exist() {
    let server = start_server(small_world()).await;
    let addr = server.local_addr();
    let (_c, _) = Client::join(addr, "Squatter").await.unwrap();
    let registered = http_get(addr, "/api/players/Squatter", None).await.unwrap();
    let unknown = http_get(addr, "/api/players/Nobody", None).await.unwrap();
    assert_eq!(registered.0, unknown.0);
    assert_eq!(registered.1.replace("Squatter", "Nobody"), unknown.1);
    let (status, _) = http_get(addr, "/api/players/%E3%85%A4%00", None).await.unwrap();
    assert_eq!(status, 404, "a name that can never be valid");
    server.shutdown().await;
}

/// The leaderboard reaches a player in its three parts, each at its own pace: all three at
/// once on joining, `World` when the number online changes, the online top again only after
/// `TOP_ONLINE_INTERVAL_MS`, with the newcomer in it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leaderboard_arrives_in_parts_at_their_pace() {
    use shared::constants::TOP_ONLINE_INTERVAL_MS;
    let db = temp_db();
    let server = start_server(config(&db)).await;
    let (mut ada, _) = Client::join(server.local_addr(), "Ada").await.unwrap();
    let mut seen: Vec<(Instant, ServerMsg)> = Vec::new();
    let mut bob = None;
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(3 * TOP_ONLINE_INTERVAL_MS) {
        if bob.is_none() && started.elapsed() > Duration::from_millis(300) {
            bob = Some(Client::join(server.local_addr(), "Bob").await.unwrap());
        }
        match tokio::time::timeout(Duration::from_millis(100), ada.recv()).await {
            Ok(msg) => {
                let msg = msg.unwrap();
                if matches!(msg, ServerMsg::World(_) | ServerMsg::TopOnline(_) | ServerMsg::TopAllTime(_)) {
                    seen.push((Instant::now(), msg));
                }
            }
            Err(_) => continue,
        }
    }
    let first = |pick: fn(&ServerMsg) -> bool| seen.iter().position(|(_, m)| pick(m)).expect("part received");
    let (w, t, a) = (
        first(|m| matches!(m, ServerMsg::World(_))),
        first(|m| matches!(m, ServerMsg::TopOnline(_))),
        first(|m| matches!(m, ServerMsg::TopAllTime(_))),
    );
    assert!(
        seen[w].0.max(seen[t].0).max(seen[a].0) < started + Duration::from_millis(500),
        "all parts at once: {seen:?}"
    );
    assert!(
        seen.iter().any(|(_, m)| matches!(m, ServerMsg::World(w) if w.online == 2)),
        "World follows the number online: {seen:?}"
    );
    let tops: Vec<Instant> =
        seen.iter().filter(|(_, m)| matches!(m, ServerMsg::TopOnline(_))).map(|(at, _)| *at).collect();
    for pair in tops.windows(2) {
        // The gap is measured at the reader: allow for a frame's delivery jitter.
        assert!(pair[1] - pair[0] >= Duration::from_millis(TOP_ONLINE_INTERVAL_MS - 60), "paced: {tops:?}");
    }
    assert!(
        seen.iter().any(|(_, m)| matches!(m, ServerMsg::TopOnline(top) if top.iter().any(|e| e.name == "Bob"))),
        "the newcomer reaches the online top: {seen:?}"
    );
    assert_eq!(seen.iter().filter(|(_, m)| matches!(m, ServerMsg::TopAllTime(_))).count(), 1, "all-time unchanged");
    drop(bob);
    server.shutdown().await;
}
