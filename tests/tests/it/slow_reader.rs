//! A client that stops reading: the server keeps at most one frame for it, stops sending when
//! its socket is full, closes it as too slow, and other clients do not notice.

use asteroids_server::limits::SLOW_CLIENT_TIMEOUT;
use asteroids_server::net::http::MAX_WRITE_BUFFER_BYTES;
use asteroids_server::net::listener::SOCKET_SEND_BUFFER_BYTES;
use asteroids_server::Config;
use asteroids_tests::*;
use futures_util::SinkExt;
use shared::codec::encode_client;
use shared::protocol::{ClientMsg, Hello, ViewRect};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::Message;

/// Bytes the kernel may hold for the non-reading client on both ends of loopback TCP: the
/// server's send buffer (Linux doubles what was asked) plus a 4 KiB receive buffer, with room
/// for the receive window's rounding.
const KERNEL_BUFFERS_BOUND: u64 = 2 * SOCKET_SEND_BUFFER_BYTES as u64 + 64 * 1024;

/// The server stops sending once the socket is full, closes the client within
/// `SLOW_CLIENT_TIMEOUT` of that, and a steady client beside it keeps its cadence.
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
    let mut i = 0u32;
    while started.elapsed() < SLOW_CLIENT_TIMEOUT + Duration::from_secs(15) {
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
        if server.stats().connections.load(Ordering::Relaxed) == 1 && closed_after.is_none() {
            closed_after = Some(started.elapsed());
        }
        if closed_after.is_some_and(|t| started.elapsed() > t + Duration::from_secs(1)) {
            break;
        }
    }
    let closed_after = closed_after.expect("the server closed the client that stopped reading");
    let sent_to_slow = server.stats().bytes_out.load(Ordering::Relaxed) - steady.bytes_in;
    eprintln!("slow client: closed after {closed_after:?}, {sent_to_slow} bytes sent to it; steady: {steady_snaps} snapshots, worst gap {worst_gap:?}");
    assert!(
        sent_to_slow < KERNEL_BUFFERS_BOUND + MAX_WRITE_BUFFER_BYTES as u64,
        "{sent_to_slow} bytes went to a client that read none"
    );
    assert!(closed_after < SLOW_CLIENT_TIMEOUT + Duration::from_secs(10), "closed only after {closed_after:?}");
    assert!(worst_gap < Duration::from_secs(1), "the steady client stalled for {worst_gap:?}");
    server.shutdown().await;
}
