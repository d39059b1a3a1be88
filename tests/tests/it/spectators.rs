//! Spectators: a connection that opens with `Spectate` watches the featured pilot without
//! playing, is served only around that pilot's ship, and cannot fly.

use asteroids_tests::{http_get, small_world, start_server, Client};
use shared::protocol::{ClientMsg, ServerMsg, Watched};

/// A spectator is answered `Spectating`, told whom it watches (the one pilot flying), and
/// sent snapshots around that ship even when it asks to look at the far corner of the arena;
/// it joins no one: the pilots online stay one, and its inputs are refused as invalid.
#[tokio::test]
async fn a_spectator_watches_the_featured_pilot_and_cannot_fly() {
    let mut config = small_world();
    config.admin_token = Some("spectate-admin".into());
    let server = start_server(config).await;
    let addr = server.local_addr();
    let (mut pilot, welcome) = Client::join(addr, "Ace").await.unwrap();
    pilot.view([0.0, 0.0], [800.0, 600.0]).await.unwrap();

    let mut watcher = Client::connect(addr).await.unwrap();
    watcher.send(&ClientMsg::Spectate { protocol_version: shared::PROTOCOL_VERSION }).await.unwrap();
    let ServerMsg::Spectating(s) = watcher.recv().await.unwrap() else { panic!("expected Spectating") };
    assert_eq!((s.protocol_version, s.tick_hz), (shared::PROTOCOL_VERSION, 60));
    // Look far away from the pilot: the server serves the pilot's surroundings instead.
    watcher.view([1800.0, 1800.0], [800.0, 600.0]).await.unwrap();
    let mut watched = None;
    let mut saw_the_ship = false;
    for _ in 0..200 {
        match watcher.recv().await.unwrap() {
            ServerMsg::Watching(w) => watched = w,
            ServerMsg::Snapshot(snap) => {
                saw_the_ship |= snap.entered.iter().any(|e| e.id == welcome.ship_id);
                if saw_the_ship && watched.is_some() {
                    break;
                }
            }
            _ => {}
        }
    }
    assert_eq!(watched, Some(Watched { ship: welcome.ship_id, name: "Ace".into() }));
    assert!(saw_the_ship, "the spectator is served the featured pilot's surroundings");

    let (status, body) = http_get(addr, "/admin/stats", Some("spectate-admin")).await.unwrap();
    assert_eq!(status, 200);
    let stats: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(stats["spectators"], 1, "{body}");
    assert_eq!(stats["players"], 1, "the spectator is no player: {body}");
    let invalid_before = stats["invalid_messages"].as_u64().unwrap();
    watcher.input(1, true, 1, true).await.unwrap();
    // A ping after it: once answered, the input has been read.
    watcher.send(&ClientMsg::Ping { nonce: 9 }).await.unwrap();
    while !matches!(watcher.recv().await.unwrap(), ServerMsg::Pong { nonce: 9, .. }) {}
    let (_, body) = http_get(addr, "/admin/stats", Some("spectate-admin")).await.unwrap();
    let stats: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(stats["invalid_messages"].as_u64().unwrap(), invalid_before + 1, "{body}");
    server.shutdown().await;
}
