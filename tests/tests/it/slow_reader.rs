//! A client that stops reading: the server keeps at most one frame for it, stops sending when
//! its socket is full, closes it as too slow, and other clients do not notice.

use asteroids_server::limits::SLOW_CLIENT_TIMEOUT;
use asteroids_server::net::http::MAX_WRITE_BUFFER_BYTES;
use asteroids_server::net::listener::SOCKET_SEND_BUFFER_BYTES;
use asteroids_server::Config;
use asteroids_tests::*;
use futures_util::SinkExt;
use shared::codec::encode_client;
use shared::protocol::{ClientMsg, Hello, ServerMsg, ViewRect};
use shared::replica::Replica;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::Message;

/// Bytes the kernel may hold for the non-reading client on both ends of loopback TCP: the
/// server's send buffer (Linux doubles what was asked) plus a 4 KiB receive buffer, with room
/// for the receive window's rounding.
const KERNEL_BUFFERS_BOUND: u64 = 2 * SOCKET_SEND_BUFFER_BYTES as u64 + 64 * 1024;

/// The server stops sending once the socket is full, closes the client `SLOW_CLIENT_TIMEOUT`
/// after that (timed from the moment the server reports the write stalled: how long the
/// buffers take to fill depends on what is around the client's ship), and a steady client
/// beside it keeps its cadence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_reader_is_bounded_and_closed() {
    let config = Config { asteroids: 3000, arena_size: Some(10_000.0), snapshot_hz: 60, ..small_world() };
    let server = start_server(config).await;
    let addr = server.local_addr();

    // A well-behaved client beside it.
    let (mut steady, _) = Client::join(addr, "Steady").await.unwrap();
    steady.view([0.0, 0.0], [1920.0, 1080.0]).await.unwrap();

    // The slow client: tiny receive buffer, handshake, then only writes.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(addr).await.unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(format!("ws://{addr}/ws"), stream).await.unwrap();
    let hello = ClientMsg::Hello(Hello {
        protocol_version: shared::PROTOCOL_VERSION,
        name: "Sloth".into(),
        token: None,
        ticket: None,
    });
    ws.send(Message::Binary(encode_client(&hello).into())).await.unwrap();

    // Make every snapshot for it large: the view jumps across the field each time.
    let started = Instant::now();
    let mut steady_snaps = 0u32;
    let mut worst_gap = Duration::ZERO;
    let mut last = Instant::now();
    let mut closed_after = None;
    let mut stalled_after = None;
    let mut i = 0u32;
    while started.elapsed() < SLOW_CLIENT_TIMEOUT + Duration::from_secs(25) {
        i += 1;
        let x = ((i * 7919) % 8000) as f32 - 4000.0;
        let y = ((i * 104_729) % 8000) as f32 - 4000.0;
        let view = ClientMsg::View(ViewRect { center: [x, y], size: [2560.0, 1600.0] });
        if ws.send(Message::Binary(encode_client(&view).into())).await.is_err() && closed_after.is_none() {
            closed_after = Some(started.elapsed());
        }
        steady.snapshot().await.unwrap();
        steady_snaps += 1;
        worst_gap = worst_gap.max(last.elapsed());
        last = Instant::now();
        let stalled =
            server.stats().session_list().iter().any(|c| c.name == "Sloth" && c.sending.load(Ordering::Relaxed));
        if stalled && stalled_after.is_none() {
            stalled_after = Some(started.elapsed());
        }
        if server.stats().connections.load(Ordering::Relaxed) == 1 && closed_after.is_none() {
            closed_after = Some(started.elapsed());
        }
        if closed_after.is_some_and(|t| started.elapsed() > t + Duration::from_secs(1)) {
            break;
        }
    }
    let closed_after = closed_after.expect("the server closed the client that stopped reading");
    let stalled_after = stalled_after.expect("the server reported its write to the client stalled");
    let sent_to_slow = server.stats().bytes_out.load(Ordering::Relaxed) - steady.bytes_in;
    eprintln!("slow client: stalled after {stalled_after:?}, closed after {closed_after:?}, {sent_to_slow} bytes sent to it; steady: {steady_snaps} snapshots, worst gap {worst_gap:?}");
    assert!(
        sent_to_slow < KERNEL_BUFFERS_BOUND + MAX_WRITE_BUFFER_BYTES as u64,
        "{sent_to_slow} bytes went to a client that read none"
    );
    let closing = closed_after.saturating_sub(stalled_after);
    assert!(
        closing >= SLOW_CLIENT_TIMEOUT - Duration::from_millis(100),
        "closed {closing:?} after its write stalled: too soon"
    );
    assert!(
        closing < SLOW_CLIENT_TIMEOUT + Duration::from_millis(1500),
        "closed only {closing:?} after its write stalled"
    );
    assert!(worst_gap < Duration::from_secs(1), "the steady client stalled for {worst_gap:?}");
    server.shutdown().await;
}

/// A client that stops reading for a while, shorter than the slow-client timeout, is not
/// closed: the server stops writing when its socket is full and skips its frames meanwhile;
/// once it reads again the unfinished write completes and its snapshots resume at the cadence,
/// every one applying to its replica (the diff is against what it has, whatever was skipped).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_reader_resumes() {
    let config = Config { asteroids: 3000, arena_size: Some(10_000.0), snapshot_hz: 60, ..small_world() };
    let server = start_server(config).await;
    let addr = server.local_addr();
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(addr).await.unwrap();
    let (mut c, welcome) = Client::join_over(stream, addr, "Napper").await.unwrap();
    let mut replica = Replica::new();

    // Not reading, while the view jumps across the field, until the server's write stalls
    // (its socket full), then 1 s more: well within the slow-client timeout.
    let stalling = |server: &asteroids_server::Server| {
        server.stats().session_list().iter().any(|c| c.sending.load(Ordering::Relaxed))
    };
    let started = Instant::now();
    let mut i = 0u32;
    while !stalling(&server) {
        assert!(started.elapsed() < Duration::from_secs(30), "the server's write to the paused client never stalled");
        i += 1;
        let x = ((i * 7919) % 8000) as f32 - 4000.0;
        let y = ((i * 104_729) % 8000) as f32 - 4000.0;
        c.view([x, y], [2560.0, 1600.0]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stalled_after = started.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(stalling(&server), "still stalled while the client does not read");
    c.view(welcome.ship_position, [1920.0, 1080.0]).await.unwrap();

    // Reading again: what the kernel held (consecutive frames from before the stall), then a
    // gap (the frames skipped), then 60 snapshots (1 s at 60 Hz) at the cadence, all within
    // 10 s, each applying.
    let (mut after_gap, mut last_tick, mut widest_gap) = (0u32, 0u32, 0u32);
    let deadline = Instant::now() + Duration::from_secs(10);
    while after_gap < 60 {
        let msg = tokio::time::timeout_at(deadline.into(), c.recv())
            .await
            .unwrap_or_else(|_| panic!("only {after_gap} snapshots after the gap within 10 s of reading again"))
            .expect("still connected");
        if let ServerMsg::Snapshot(snap) = msg {
            replica.apply(&snap, &welcome.kinematics).expect("every snapshot applies to the replica");
            if last_tick > 0 {
                widest_gap = widest_gap.max(snap.tick - last_tick);
            }
            last_tick = snap.tick;
            if widest_gap >= 60 {
                after_gap += 1;
            }
        }
    }
    eprintln!("paused reader: stalled after {stalled_after:?}; widest gap between its snapshots {widest_gap} ticks");
    assert!(!stalling(&server), "the write finished once the client read again");
    assert_eq!(server.stats().connections.load(Ordering::Relaxed), 1, "the paused client is still connected");
    server.shutdown().await;
}
