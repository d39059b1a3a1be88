//! Hostile and broken clients against the real server: oversized and garbage messages,
//! floods, silent peers, stalled handshakes, foreign origins, the connection cap. Each is
//! refused with the documented code, counted, and costs the other players nothing.

use asteroids_server::limits::Limits;
use asteroids_server::Config;
use asteroids_tests::*;
use shared::codec::encode_client;
use shared::protocol::{ClientMsg, Input, ViewRect};
use shared::time::Ticks;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

fn config(limits: Limits) -> Config {
    Config { limits, ..small_world() }
}

/// A message over the 4 KiB limit is answered with close 1009 and counted.
#[tokio::test]
async fn oversized_message_gets_1009() {
    let server = start_server(small_world()).await;
    let (mut c, _) = Client::join(server.local_addr(), "Big").await.unwrap();
    c.send_raw(vec![0u8; shared::constants::MAX_CLIENT_MESSAGE_BYTES + 1]).await.unwrap();
    let (ended, _) = c.until_closed(Duration::from_secs(5)).await.unwrap();
    assert_eq!(ended, Ended::Closed(1009, "message too big".into()));
    assert!(server.stats().invalid_messages.load(Ordering::Relaxed) >= 1);
    server.shutdown().await;
}

/// Garbage (random bytes, truncated messages, unknown tags, NaN views, bad turns) is counted
/// and, at the limit, closed with 1008; nothing non-finite reaches the physics, and a player
/// beside it keeps playing.
#[tokio::test]
async fn garbage_is_counted_then_closed_1008() {
    let server = start_server(small_world()).await;
    let (mut steady, w) = Client::join(server.local_addr(), "Steady").await.unwrap();
    steady.view(w.ship_position, [1920.0, 1080.0]).await.unwrap();
    let (mut bad, _) = Client::join(server.local_addr(), "Vandal").await.unwrap();
    let nan_view = encode_client(&ClientMsg::View(ViewRect { center: [f32::NAN, 0.0], size: [f32::INFINITY, 1.0] }));
    let mut bad_turn = encode_client(&ClientMsg::Input(Input { seq: 1, tick: 0, thrust: true, turn: 1, fire: false }));
    let last = bad_turn.len() - 2;
    bad_turn[last] = 7; // turn = 7
    let mut truncated = encode_client(&ClientMsg::Ping { nonce: 123_456 });
    truncated.truncate(2);
    let garbage: Vec<Vec<u8>> = vec![
        vec![0xde, 0xad, 0xbe, 0xef, 0x01, 0x02],
        vec![99],
        truncated,
        nan_view,
        bad_turn,
        vec![],
        vec![0x03, 0xff, 0xff, 0xff, 0xff, 0xff],
        vec![0x00, 0x01, 0x05, b'a'],
        vec![0x02; 40],
        vec![0x01, 0x09],
    ];
    assert_eq!(garbage.len() as u32, asteroids_server::limits::MAX_INVALID_MESSAGES);
    for g in garbage {
        bad.send_raw(g).await.unwrap();
    }
    let (ended, _) = bad.until_closed(Duration::from_secs(5)).await.unwrap();
    assert_eq!(ended, Ended::Closed(1008, "too many invalid messages".into()));
    assert!(server.stats().invalid_messages.load(Ordering::Relaxed) >= 10);
    for _ in 0..20 {
        steady.snapshot().await.expect("the other player keeps receiving snapshots");
    }
    let frame = server.latest_frame();
    assert_eq!(frame.timing.counters.nonfinite_bodies, 0, "no body ever became non-finite");
    server.shutdown().await;
}

/// An input flood at 10× the allowed rate is dropped above the rate, closed with 1008 as
/// abuse, leaves no ghost, and another player's snapshots keep their cadence. (That at most one input per
/// ship applies per tick is `gameplay::at_most_one_input_per_tick_latest_wins`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_flood_is_closed_and_others_unaffected() {
    let server = start_server(small_world()).await;
    let (mut steady, w) = Client::join(server.local_addr(), "Steady").await.unwrap();
    steady.view(w.ship_position, [1920.0, 1080.0]).await.unwrap();
    steady.snapshot().await.unwrap();
    let (mut flood, fw) = Client::join(server.local_addr(), "Flood").await.unwrap();
    let flooder = tokio::spawn(async move {
        let rate = asteroids_server::limits::MAX_MESSAGES_PER_SEC * 10;
        let gap = Duration::from_secs_f64(1.0 / rate as f64);
        let started = Instant::now();
        let mut seq = 0u32;
        let mut next = tokio::time::Instant::now();
        while started.elapsed() < Duration::from_secs(5) {
            seq += 1;
            if flood.input(seq, seq.is_multiple_of(2), 0, false).await.is_err() {
                break;
            }
            next += gap;
            tokio::time::sleep_until(next).await;
        }
        (flood.until_closed(Duration::from_secs(5)).await, seq)
    });
    let mut worst_gap = Duration::ZERO;
    let mut last = Instant::now();
    for _ in 0..40 {
        steady.snapshot().await.unwrap();
        worst_gap = worst_gap.max(last.elapsed());
        last = Instant::now();
    }
    let (outcome, sent) = flooder.await.unwrap();
    let (ended, _) = outcome.unwrap();
    assert_eq!(ended, Ended::Closed(1008, "message rate exceeded".into()), "after {sent} inputs");
    assert!(server.stats().rate_limited.load(Ordering::Relaxed) > 0);
    assert!(worst_gap < Duration::from_millis(500), "the steady player's snapshots stalled {worst_gap:?}");
    // An abusive session leaves no ghost: the flooder (who has an identity) does not wait out
    // the 10 s resume window, its player and ship leave at once.
    let deadline = Instant::now() + Duration::from_secs(2);
    while server.latest_frame().players.contains_key(&fw.player_id)
        || server.latest_frame().entity(fw.ship_id).is_some()
    {
        assert!(Instant::now() < deadline, "the flooder's ship stayed behind as a ghost");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.shutdown().await;
}

/// A peer that goes silent (reads nothing, answers no ping) is disconnected within the idle
/// timeout, freeing its slot; its ship then waits out the resume window (half a second here)
/// and is freed too.
#[tokio::test]
async fn silent_peer_is_removed() {
    let limits =
        Limits { idle_timeout: Duration::from_secs(2), ping_interval: Duration::from_millis(500), ..Limits::default() };
    let server = start_server(Config { resume_window: Ticks::new(30), ..config(limits) }).await;
    let (_silent, w) = Client::join(server.local_addr(), "Ghost").await.unwrap();
    assert_eq!(server.stats().connections.load(Ordering::Relaxed), 1);
    let started = Instant::now();
    loop {
        let frame = server.latest_frame();
        if !frame.players.contains_key(&w.player_id) && server.stats().connections.load(Ordering::Relaxed) == 0 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(6), "the silent peer is still there");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(started.elapsed() >= Duration::from_millis(1500), "not removed before the idle timeout");
    assert!(server.latest_frame().entity(w.ship_id).is_none(), "its ship is gone");
    server.shutdown().await;
}

/// Sockets that upgrade but never say Hello are closed at the handshake timeout and counted,
/// while a real client joins promptly beside them.
#[tokio::test]
async fn stalled_handshakes_are_closed() {
    let limits = Limits { handshake_timeout: Duration::from_secs(1), ..Limits::default() };
    let server = start_server(config(limits)).await;
    let mut stalled = Vec::new();
    for _ in 0..20 {
        stalled.push(Client::connect(server.local_addr()).await.unwrap());
    }
    let joined_at = Instant::now();
    let (_c, _) = Client::join(server.local_addr(), "Prompt").await.unwrap();
    assert!(joined_at.elapsed() < Duration::from_millis(500), "a real client joins promptly");
    for mut s in stalled {
        let (ended, _) = s.until_closed(Duration::from_secs(4)).await.unwrap();
        assert_eq!(ended, Ended::Closed(1008, "handshake timeout".into()));
    }
    assert_eq!(server.stats().handshake_timeouts.load(Ordering::Relaxed), 20);
    server.shutdown().await;
}

/// TCP connections that never finish an HTTP request (silent, or stuck mid-header) are
/// closed at the handshake timeout, while a real client joins promptly beside them.
#[tokio::test]
async fn connections_that_never_upgrade_are_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let limits = Limits { handshake_timeout: Duration::from_secs(1), ..Limits::default() };
    let server = start_server(config(limits)).await;
    let addr = server.local_addr();
    let mut idle = Vec::new();
    for i in 0..20 {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        if i % 2 == 1 {
            tcp.write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\n").await.unwrap(); // never finished
        }
        idle.push(tcp);
    }
    let joined_at = Instant::now();
    let (_c, _) = Client::join(addr, "Prompt").await.unwrap();
    assert!(joined_at.elapsed() < Duration::from_millis(500), "a real client joins promptly");
    let started = Instant::now();
    for mut tcp in idle {
        let mut buf = [0u8; 512];
        let mut answered = 0;
        let closed = tokio::time::timeout(Duration::from_secs(4), async {
            loop {
                match tcp.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => answered += n,
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "a connection that never sent a full request is still open");
        assert_eq!(answered, 0, "closed without a response, as docs/PROTOCOL.md says (no 408)");
    }
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(server.stats().handshake_timeouts.load(Ordering::Relaxed) >= 10, "the silent ones were counted");
    server.shutdown().await;
}

async fn upgrade_with_origin(addr: std::net::SocketAddr, origin: &str) -> Result<(), u16> {
    upgrade_with(addr, origin, None).await
}

/// An upgrade with this `Origin` (and, if given, this `Host` instead of the address).
async fn upgrade_with(addr: std::net::SocketAddr, origin: &str, host: Option<&str>) -> Result<(), u16> {
    let mut req = format!("ws://{addr}/ws").into_client_request().unwrap();
    req.headers_mut().insert("Origin", origin.parse().unwrap());
    if let Some(host) = host {
        req.headers_mut().insert("Host", host.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok(_) => Ok(()),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
        Err(e) => panic!("unexpected error {e}"),
    }
}

/// The game socket accepts the page's own origin and configured ones, and refuses others
/// with 403.
#[tokio::test]
async fn foreign_origins_get_403() {
    let limits = Limits { allowed_origins: vec!["https://play.example.com".into()], ..Limits::default() };
    let server = start_server(config(limits)).await;
    let addr = server.local_addr();
    assert_eq!(upgrade_with_origin(addr, &format!("http://{addr}")).await, Ok(()));
    assert_eq!(upgrade_with_origin(addr, "https://play.example.com").await, Ok(()));
    assert_eq!(upgrade_with_origin(addr, "https://evil.example").await, Err(403));
    assert_eq!(server.stats().origin_rejected.load(Ordering::Relaxed), 1);
    server.shutdown().await;
}

/// A DNS-rebinding page (its own name now pointing at this server) sends a foreign Origin
/// with a matching Host: refused with 403, because origins are compared with the bound
/// address (here loopback: 127.0.0.1 and localhost on the real port), never with Host.
#[tokio::test]
async fn rebinding_origin_with_matching_host_gets_403() {
    let server = start_server(small_world()).await;
    let addr = server.local_addr();
    let port = addr.port();
    let evil = format!("evil.example:{port}");
    assert_eq!(upgrade_with(addr, &format!("http://{evil}"), Some(&evil)).await, Err(403));
    assert_eq!(
        upgrade_with(addr, &format!("http://localhost:{port}"), Some(&format!("localhost:{port}"))).await,
        Ok(())
    );
    assert_eq!(upgrade_with(addr, &format!("http://127.0.0.1:{port}"), None).await, Ok(()));
    assert_eq!(server.stats().origin_rejected.load(Ordering::Relaxed), 1);
    server.shutdown().await;
}

/// With `--public-url`, the page's own origin is that URL's, and the bind address's is not.
#[tokio::test]
async fn public_url_sets_the_pages_origin() {
    let limits = Limits { public_url: Some("https://play.example.com".into()), ..Limits::default() };
    let server = start_server(config(limits)).await;
    let addr = server.local_addr();
    assert_eq!(upgrade_with_origin(addr, "https://play.example.com").await, Ok(()));
    assert_eq!(upgrade_with_origin(addr, &format!("http://{addr}")).await, Err(403));
    server.shutdown().await;
}

/// Past the connection cap, upgrades are refused with 503 until a slot frees up: here a
/// dropped player's, once its ship's resume window (half a second) is over.
#[tokio::test]
async fn connection_cap_refuses_with_503() {
    let limits = Limits { max_connections: 3, ..Limits::default() };
    let server = start_server(Config { resume_window: Ticks::new(30), ..config(limits) }).await;
    let addr = server.local_addr();
    let mut held = Vec::new();
    for i in 0..3 {
        held.push(Client::join(addr, &format!("p{i}")).await.unwrap().0);
    }
    match tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status().as_u16(), 503),
        other => panic!("expected 503, got {:?}", other.map(|_| ())),
    }
    assert_eq!(server.stats().full_rejected.load(Ordering::Relaxed), 1);
    drop(held.pop());
    let started = Instant::now();
    loop {
        if let Ok((_c, _)) = Client::join(addr, "Late").await {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "a freed slot is reusable");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.shutdown().await;
}

/// A WebSocket ping flood counts toward the message rate like any message: it is dropped
/// above the rate and the socket is closed with 1008, counted (it once echoed 590 MB unmetered).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_flood_is_closed_1008() {
    use tokio_tungstenite::tungstenite::Message;
    let server = start_server(small_world()).await;
    let (mut flood, _) = Client::join(server.local_addr(), "Pinger").await.unwrap();
    let started = Instant::now();
    let mut sent = 0u32;
    // Ten times the most the server tolerates before calling it abuse, as fast as possible.
    let most = (asteroids_server::limits::MESSAGE_BURST + asteroids_server::limits::MAX_DROPPED_MESSAGES) * 10;
    while sent < most && started.elapsed() < Duration::from_secs(5) {
        if flood.send_frame(Message::Ping(vec![1, 2, 3, 4].into())).await.is_err() {
            break;
        }
        sent += 1;
    }
    let (ended, _) = flood.until_closed(Duration::from_secs(5)).await.unwrap();
    assert_eq!(ended, Ended::Closed(1008, "message rate exceeded".into()), "after {sent} pings");
    let stats = server.stats();
    assert!(stats.rate_limited.load(Ordering::Relaxed) > 0);
    assert_eq!(stats.rate_closed.load(Ordering::Relaxed), 1);
    assert!(stats.control_frames.load(Ordering::Relaxed) > u64::from(asteroids_server::limits::MAX_DROPPED_MESSAGES));
    server.shutdown().await;
}

/// A pong the server did not ask for (or with another payload) leaves the round trip shown to
/// admins unset; only the answer to the server's own outstanding ping sets it.
#[tokio::test]
async fn unsolicited_pongs_do_not_set_the_round_trip() {
    use shared::protocol::ServerMsg;
    use tokio_tungstenite::tungstenite::Message;
    let limits = Limits { ping_interval: Duration::from_secs(3600), ..Limits::default() };
    let server = start_server(config(limits)).await;
    let (mut c, _) = Client::join(server.local_addr(), "Forger").await.unwrap();
    for forged in [0u64, 1, 1_000_000] {
        c.send_frame(Message::Pong(forged.to_le_bytes().to_vec().into())).await.unwrap();
    }
    // A game ping after the pongs: its answer proves the server has read them.
    c.send(&ClientMsg::Ping { nonce: 7 }).await.unwrap();
    while !matches!(c.recv().await.unwrap(), ServerMsg::Pong { nonce: 7, .. }) {}
    let conns = server.stats().session_list();
    assert_eq!(conns[0].rtt_us.load(Ordering::Relaxed), 0, "a forged pong set the round trip");
    server.shutdown().await;

    // With the server pinging, the client's automatic answer does set it.
    let limits = Limits { ping_interval: Duration::from_millis(100), ..Limits::default() };
    let server = start_server(config(limits)).await;
    let (mut c, _) = Client::join(server.local_addr(), "Honest").await.unwrap();
    let started = Instant::now();
    while server.stats().session_list()[0].rtt_us.load(Ordering::Relaxed) == 0 {
        assert!(started.elapsed() < Duration::from_secs(5), "the server's own ping never set the round trip");
        let _ = tokio::time::timeout(Duration::from_millis(50), c.recv()).await;
        // reading answers pings
    }
    server.shutdown().await;
}

/// The client's close frame is echoed with its code (RFC 6455 §5.5.1), completing the closing
/// handshake, rather than the TCP connection being dropped.
#[tokio::test]
async fn client_close_is_echoed() {
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
    use tokio_tungstenite::tungstenite::Message;
    let server = start_server(small_world()).await;
    let (c, _) = Client::join(server.local_addr(), "Polite").await.unwrap();
    match c.close_with(1000).await.unwrap() {
        Some(Message::Close(Some(frame))) => assert_eq!(frame.code, CloseCode::Normal),
        other => panic!("expected the close echoed, got {other:?}"),
    }
    server.shutdown().await;
}

/// Out of file descriptors (a child server whose open-file limit is lowered below what its
/// connections need), new connections are answered 503 and closed instead of hanging in the
/// kernel's queue, and the failures are counted.
#[test]
fn out_of_descriptors_answers_503_not_a_hang() {
    use std::io::{BufRead, Read, Write};
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Kill(
        std::process::Command::new(env!("CARGO_BIN_EXE_asteroids-fd-starved"))
            .arg("6")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("starting asteroids-fd-starved"),
    );
    let mut line = String::new();
    std::io::BufReader::new(child.0.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr: std::net::SocketAddr = line.trim().strip_prefix("addr=").expect("addr= line").parse().unwrap();
    // Keep-alive requests: every connection the server accepts stays open, holding a descriptor.
    let mut held = Vec::new();
    let (mut ok, mut full) = (0, 0);
    for _ in 0..20 {
        let mut tcp = std::net::TcpStream::connect(addr).unwrap();
        // Shorter than the handshake timeout (5 s), after which the server would drop idle
        // keep-alive connections and a hung client would get through after all.
        tcp.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut head = [0u8; 12];
        tcp.read_exact(&mut head).expect("an answer, not a hang");
        match &head[9..12] {
            b"200" => ok += 1,
            b"503" => full += 1,
            other => panic!("unexpected status {}", String::from_utf8_lossy(other)),
        }
        held.push(tcp);
    }
    assert!(ok >= 1 && full >= 10, "{ok} answered, {full} refused");
    drop(held);
    std::thread::sleep(Duration::from_millis(300)); // the server closes the held connections
    let stats = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async { http_get(addr, "/admin/stats", Some("fd-starved")).await.unwrap() });
    assert_eq!(stats.0, 200, "{stats:?}");
    let doc: serde_json::Value = serde_json::from_str(&stats.1).unwrap();
    assert!(doc["fd_exhausted_rejected"].as_u64().unwrap() >= 10, "{doc}");
    assert!(doc["accept_errors"].as_u64().unwrap() >= doc["fd_exhausted_rejected"].as_u64().unwrap(), "{doc}");
    drop(child.0.stdin.take());
}

/// The connection cap in force is --max-connections, lowered to fit the open-file limit, and
/// both are shown to operators.
#[tokio::test]
async fn connection_cap_fits_the_open_file_limit() {
    let server = start_server(small_world()).await;
    let (soft, _) = asteroids_server::limits::nofile_limit().expect("an open-file limit");
    let expected = asteroids_server::limits::MAX_CONNECTIONS
        .min(asteroids_server::limits::connection_cap(soft, asteroids_server::limits::FD_HEADROOM));
    assert_eq!(server.stats().max_connections.load(Ordering::Relaxed), expected as u64);
    assert_eq!(server.stats().open_files_limit.load(Ordering::Relaxed), soft);
    server.shutdown().await;
    let small = start_server(config(Limits { max_connections: 3, ..Limits::default() })).await;
    assert_eq!(small.stats().max_connections.load(Ordering::Relaxed), 3, "the flag wins when lower");
    small.shutdown().await;
}

/// A TCP connection from the loopback address `127.0.0.{last}`.
async fn tcp_from(addr: std::net::SocketAddr, last: u8) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(std::net::SocketAddr::from(([127, 0, 0, last], 0))).unwrap();
    socket.connect(addr).await.unwrap()
}

/// Whether the server closes `tcp` within `within` (without answering anything).
async fn closed_within(tcp: &mut tokio::net::TcpStream, within: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 64];
    matches!(tokio::time::timeout(within, tcp.read(&mut buf)).await, Ok(Ok(0) | Err(_)))
}

/// Sends a plain GET and returns the status.
async fn get_over(mut tcp: tokio::net::TcpStream, path: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tcp.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tcp.read_to_end(&mut raw).await.unwrap();
    String::from_utf8_lossy(&raw).split(' ').nth(1).unwrap().parse().unwrap()
}

/// Regression (issue 23: nothing limited one address's connections before the upgrade): an
/// address holding `--max-pending-per-address` connections that have not upgraded has its
/// next one closed at once, unread and counted, while another address is served; a closed
/// one gives its place back; and silent ones are closed at the first-byte deadline.
#[tokio::test]
async fn one_address_holds_few_connections_before_the_upgrade() {
    let limits =
        Limits { max_pending_per_address: 4, first_byte_timeout: Duration::from_millis(1500), ..Limits::default() };
    const TOKEN: &str = "hostile-test-admin-token";
    let server = start_server(Config { admin_token: Some(TOKEN.into()), ..config(limits) }).await;
    let addr = server.local_addr();
    let mut silent = Vec::new();
    for _ in 0..4 {
        silent.push(tcp_from(addr, 2).await);
    }
    let mut fifth = tcp_from(addr, 2).await;
    assert!(closed_within(&mut fifth, Duration::from_millis(500)).await, "the fifth is closed at once");
    assert_eq!(server.stats().pending_refused.load(Ordering::Relaxed), 1);
    assert_eq!(get_over(tcp_from(addr, 3).await, "/api/leaderboard").await, 200, "another address is served");
    drop(silent.pop());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(get_over(tcp_from(addr, 2).await, "/api/leaderboard").await, 200, "a place came back");
    let started = Instant::now();
    for mut tcp in silent {
        assert!(closed_within(&mut tcp, Duration::from_secs(3)).await, "a silent connection outlived the deadline");
    }
    assert!(started.elapsed() < Duration::from_secs(2), "closed at the first-byte deadline, not the handshake's");
    assert_eq!(server.stats().pending_connections.load(Ordering::Relaxed), 0);
    let (_, metrics) = http_get(addr, "/metrics", Some(TOKEN)).await.unwrap();
    assert!(metrics.contains("asteroids_pending_refused_total 1"), "{metrics}");
    server.shutdown().await;
}
