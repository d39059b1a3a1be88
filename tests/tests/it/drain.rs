//! Graceful drain: on the shutdown signal every client is told (close 1001), new game
//! connections are refused, every score is committed, and nothing is left running.

use asteroids_server::Config;
use asteroids_tests::*;
use std::time::{Duration, Instant};

/// The signal path the binary uses (`run` with SIGTERM/Ctrl-C as its shutdown future):
/// clients get 1001, a new connection does not get in, `run` returns Ok well within 10 s,
/// and the database holds the identities that joined, intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_signal_drains_and_flushes() {
    let db = temp_db();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = Config { db: db.clone().into(), ..small_world() };
    let (signal, on_signal) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(asteroids_server::run(listener, config, async move {
        let _ = on_signal.await;
    }));
    let mut clients = Vec::new();
    for name in ["Alpha", "Beta", "Gamma"] {
        let (mut c, w) = Client::join(addr, name).await.unwrap();
        c.view(w.ship_position, [1920.0, 1080.0]).await.unwrap();
        c.snapshot().await.unwrap();
        clients.push(c);
    }
    let started = Instant::now();
    signal.send(()).unwrap();
    for mut c in clients {
        let (ended, _) = c.until_closed(Duration::from_secs(5)).await.unwrap();
        assert_eq!(ended, Ended::Closed(1001, "server shutting down".into()));
    }
    match tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status().as_u16(), 503),
        Err(_) => {} // the listener has already closed: refused
        Ok(_) => panic!("a new connection got in during the drain"),
    }
    let outcome = tokio::time::timeout(Duration::from_secs(10), server).await.expect("run returned within 10 s");
    outcome.unwrap().unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    let conn = rusqlite::Connection::open(&db).unwrap();
    let names: i64 = conn.query_row("SELECT COUNT(*) FROM identities", [], |r| r.get(0)).unwrap();
    assert_eq!(names, 3);
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
}

/// `Server::shutdown` reports no task left running after a drain with players connected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_leaves_no_task_running() {
    let server = start_server(small_world()).await;
    let mut clients = Vec::new();
    for i in 0..10 {
        clients.push(Client::join(server.local_addr(), &format!("p{i}")).await.unwrap().0);
    }
    let left = server.shutdown().await;
    assert_eq!(left, 0, "tasks still running after the drain");
}
