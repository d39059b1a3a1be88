//! Resume: a player who drops and comes back with its token within the window gets the same
//! player, ship, position and score, and a full first snapshot; later, a new ship; and a second
//! live connection with the same token takes over from the first, which is told why.

use asteroids_server::Config;
use asteroids_tests::*;
use shared::protocol::{ServerMsg, Welcome};
use shared::time::Ticks;
use std::time::Duration;

async fn join_with(addr: std::net::SocketAddr, name: &str, token: &str) -> (Client, Welcome) {
    match say_hello(addr, name, Some(token)).await.unwrap() {
        (c, ServerMsg::Welcome(w)) => (c, w),
        (_, other) => panic!("expected Welcome, got {other:?}"),
    }
}

/// Within the window: same player, same ship near where it was, and the first snapshot holds
/// everything in view (the ship included) as new.
#[tokio::test]
async fn comeback_within_the_window_keeps_the_ship() {
    let server = start_server(Config { db: temp_db().into(), ..small_world() }).await;
    let addr = server.local_addr();
    let (mut c, w) = Client::join(addr, "Phoenix").await.unwrap();
    let token = w.token.clone().unwrap();
    c.view(w.ship_position, [1920.0, 1080.0]).await.unwrap();
    c.snapshot().await.unwrap();
    drop(c); // the connection drops without a goodbye
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(server.latest_frame().entity(w.ship_id).is_some(), "the ship waits for its pilot");
    let (mut back, w2) = join_with(addr, "Phoenix", &token).await;
    assert_eq!((w2.player_id, w2.ship_id, w2.token), (w.player_id, w.ship_id, None));
    let moved = glam::Vec2::from(w2.ship_position).distance(glam::Vec2::from(w.ship_position));
    assert!(moved < 100.0, "the ship is where it was ({moved} units away)");
    back.view(w2.ship_position, [1920.0, 1080.0]).await.unwrap();
    let first = back.snapshot().await.unwrap();
    assert!(first.entered.iter().any(|e| e.id == w.ship_id), "the first snapshot is a full one, ship included");
    assert!(first.changed.is_empty() && first.left.is_empty());
    assert_eq!(server.latest_frame().players.len(), 1);
    server.shutdown().await;
}

/// After the window the old ship is gone, and the identity gets a new one.
#[tokio::test]
async fn comeback_after_the_window_gets_a_new_ship() {
    let server = start_server(Config { resume_window: Ticks::new(30), db: temp_db().into(), ..small_world() }).await;
    let addr = server.local_addr();
    let (c, w) = Client::join(addr, "Latecomer").await.unwrap();
    let token = w.token.clone().unwrap();
    drop(c);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(server.latest_frame().entity(w.ship_id).is_none(), "the ship left with the window");
    assert_eq!(server.latest_frame().players.len(), 0);
    let (_c, w2) = join_with(addr, "Latecomer", &token).await;
    assert_ne!(w2.ship_id, w.ship_id);
    server.shutdown().await;
}

/// Two live connections with one token: the older is closed with a reason (4001), the newer
/// flies the same ship.
#[tokio::test]
async fn a_second_connection_replaces_the_first() {
    let server = start_server(Config { db: temp_db().into(), ..small_world() }).await;
    let addr = server.local_addr();
    let (mut first, w) = Client::join(addr, "Twin").await.unwrap();
    let token = w.token.clone().unwrap();
    let (_second, w2) = join_with(addr, "Twin", &token).await;
    assert_eq!((w2.player_id, w2.ship_id), (w.player_id, w.ship_id));
    let (ended, _) = first.until_closed(Duration::from_secs(5)).await.unwrap();
    assert_eq!(ended, Ended::Closed(4001, "replaced by a newer connection".into()));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.latest_frame().players.len(), 1, "the first connection's leave did not remove the player");
    assert!(server.latest_frame().entity(w.ship_id).is_some());
    server.shutdown().await;
}

/// Regression (controls froze after a reload): a page that reloads, or a second tab, numbers
/// its inputs from 1 again, while the old connection had sent hundreds, and keeps sending
/// until it is closed. The new connection's inputs apply at once, and the old one's stragglers
/// are ignored.
#[tokio::test]
async fn a_reloaded_page_controls_the_ship_at_once() {
    // No asteroids: the ship must live through the test.
    let server = start_server(Config { asteroids: 0, db: temp_db().into(), ..small_world() }).await;
    let addr = server.local_addr();
    let (mut old, w) = Client::join(addr, "Reloader").await.unwrap();
    let token = w.token.clone().unwrap();
    // Within the message rate (120/s), so that none is dropped.
    for seq in 1..=300 {
        old.input(seq, false, 0, false).await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let acked = |server: &asteroids_server::Server| {
        server.latest_frame().players.get(&w.player_id).map_or(0, |p| p.ack.seq)
        // 0: not yet in a frame
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while acked(&server) != 300 {
        assert!(tokio::time::Instant::now() < deadline, "the old page's inputs were applied");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (mut new, w2) = join_with(addr, "Reloader", &token).await;
    assert_eq!(w2.ship_id, w.ship_id);
    // The old page is still sending as it is being replaced.
    let _ = old.input(301, false, 0, false).await;
    new.input(1, true, 1, false).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let frame = server.latest_frame();
        let ship = frame.entity(w.ship_id).expect("the ship is still there");
        if frame.players[&w.player_id].ack.seq == 1 && ship.state.ctrl.thrust() && ship.state.ctrl.turn() == 1 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the new page's first input never applied");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(acked(&server), 1, "an old straggler took over");
    }
    server.shutdown().await;
}

/// Regression (the 4001 close was lost to a TCP reset): a replaced connection that was behind
/// on reading (a background tab: its socket full of snapshots) and still sending gets its
/// 4001 close frame once it reads again. The server used to drop the socket right after
/// writing the close, with the client's last messages unread, so the kernel answered with a
/// reset and threw away the close frame still queued behind the snapshots.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_connection_behind_on_reading_still_gets_4001() {
    let config =
        Config { asteroids: 3000, arena_size: Some(10_000.0), snapshot_hz: 60, db: temp_db().into(), ..small_world() };
    let server = start_server(config).await;
    let addr = server.local_addr();
    for round in 0..3 {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let stream = socket.connect(addr).await.unwrap();
        let name = format!("Background{round}");
        let (mut old, w) = Client::join_over(stream, addr, &name).await.unwrap();
        let token = w.token.clone().unwrap();
        // Stop reading and make every snapshot large (the view jumps across the field), until
        // the server's socket to it is full.
        let view = |i: u32| (((i * 7919) % 8000) as f32 - 4000.0, ((i * 104_729) % 8000) as f32 - 4000.0);
        for i in 0..40 {
            let (x, y) = view(i);
            old.view([x, y], [2560.0, 1600.0]).await.unwrap();
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let (_new, w2) = join_with(addr, &name, &token).await;
        assert_eq!(w2.player_id, w.player_id);
        // Still sending, not reading, a little longer: these messages are unread when the
        // server closes.
        for i in 40..48 {
            let (x, y) = view(i);
            let _ = old.view([x, y], [2560.0, 1600.0]).await; // a reset shows below
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let (ended, _) = old.until_closed(Duration::from_secs(10)).await.unwrap();
        assert_eq!(ended, Ended::Closed(4001, "replaced by a newer connection".into()), "round {round}");
    }
    server.shutdown().await;
}
