//! Per-address limits on the real server: open connections per address (429), dropped
//! players' ships holding their places for the resume window (and their pilots getting back
//! in), new identities per address per hour (`Rejected { TooManyNewIdentities }`), and per
//! IPv6 /56 and /48, and the client address behind a trusted proxy. 127.0.0.1 and 127.0.0.2 are two client addresses.

use asteroids_server::limits::Limits;
use asteroids_server::Config;
use asteroids_tests::*;
use shared::protocol::{RejectReason, ServerMsg};
use shared::time::Ticks;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::time::Instant;

const TOKEN: &str = "addresses-admin-token";
const HOME: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
const NEIGHBOUR: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

fn config(limits: Limits) -> Config {
    Config { limits, admin_token: Some(TOKEN.into()), ..small_world() }
}

async fn open(from: IpAddr, addr: SocketAddr) -> Result<Client, HttpRefusal> {
    Client::connect_from(from, addr, &[]).await.expect("the upgrade got an answer")
}

async fn forwarded(from: IpAddr, addr: SocketAddr, chain: &str) -> Result<Client, HttpRefusal> {
    Client::connect_from(from, addr, &[("x-forwarded-for", chain)]).await.expect("the upgrade got an answer")
}

async fn stat(addr: SocketAddr, key: &str) -> u64 {
    let (status, body) = http_get(addr, "/admin/stats", Some(TOKEN)).await.unwrap();
    assert_eq!(status, 200, "{body}");
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    doc[key].as_u64().unwrap_or_else(|| panic!("no {key} in {doc}"))
}

/// Waits (bounded) until `done` holds.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn joined(c: &mut Client, name: &str, token: Option<&str>) -> shared::protocol::Welcome {
    match c.say_hello(name, token).await.unwrap() {
        ServerMsg::Welcome(w) => w,
        other => panic!("{name}: expected Welcome, got {other:?}"),
    }
}

/// Past the per-address cap an upgrade is answered 429 with Retry-After before any
/// WebSocket, and counted; another address still gets in; a closed connection frees its place.
#[tokio::test]
async fn connections_over_the_address_cap_get_429() {
    let server = start_server(config(Limits { max_connections_per_address: 3, ..Limits::default() })).await;
    let addr = server.local_addr();
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(open(HOME, addr).await.expect("within the cap"));
    }
    let refused = open(HOME, addr).await.expect_err("the fourth from one address");
    assert_eq!(refused, HttpRefusal { status: 429, retry_after: Some("10".into()) });
    assert_eq!(stat(addr, "address_rejected").await, 1);
    assert_eq!(stat(addr, "full_rejected").await, 0);
    assert_eq!(stat(addr, "connection_addresses").await, 1);
    let _neighbour = open(NEIGHBOUR, addr).await.expect("another address has its own cap");
    assert_eq!(stat(addr, "connection_addresses").await, 2);
    // Never identified, so nothing waits for it: its place is free once the server sees it go.
    held.pop().unwrap().close().await.unwrap();
    eventually("the closed connection's place is freed", || server.stats().connections.load(Ordering::Relaxed) == 3)
        .await;
    let _again = open(HOME, addr).await.expect("a freed place is reusable");
    server.shutdown().await;
}

/// Dropped players' ships hold their address's places for the resume window: a newcomer is
/// let in on a ghost's place only to be closed with 1013 once its Hello shows it is not that
/// ghost's pilot, beyond the ghosts' number it gets 429, and only after the window does the
/// address have room again. A pilot coming back with its token takes its own place back.
#[tokio::test]
async fn ghosts_hold_their_address_places_and_their_pilots_get_back_in() {
    let limits = Limits { max_connections_per_address: 3, ..Limits::default() };
    // A 3 s window: long enough for the steps below, short enough to wait out.
    let server = start_server(Config { resume_window: Ticks::new(180), ..config(limits) }).await;
    let addr = server.local_addr();
    let mut pilots = Vec::new();
    for i in 0..3 {
        let name = format!("Pilot{i}");
        let mut c = open(HOME, addr).await.unwrap();
        let w = joined(&mut c, &name, None).await;
        pilots.push((name, w.token.unwrap(), w.player_id));
        c.close().await.unwrap();
    }
    let left_at = Instant::now();
    eventually("three ghosts", || server.stats().ghosts.load(Ordering::Relaxed) == 3).await;
    assert_eq!(server.stats().connections.load(Ordering::Relaxed), 0);

    let mut stranger = open(HOME, addr).await.expect("let in on a ghost's place");
    stranger.send(&hello("Stranger", None)).await.unwrap();
    let (ended, seen) = stranger.until_closed(Duration::from_secs(5)).await.unwrap();
    assert_eq!(ended, Ended::Closed(1013, "too many connections from this address".into()), "{seen:?}");
    let strangers = [open(HOME, addr).await.unwrap(), open(HOME, addr).await.unwrap(), open(HOME, addr).await.unwrap()];
    assert_eq!(open(HOME, addr).await.err().map(|r| r.status), Some(429), "no more newcomers than ghosts");
    assert_eq!(stat(addr, "address_rejected").await, 2, "the 1013 and the 429");
    for s in strangers {
        s.close().await.unwrap();
    }
    eventually("the strangers are gone", || server.stats().connections.load(Ordering::Relaxed) == 0).await;

    let (name, token, player) = &pilots[0];
    let mut back = open(HOME, addr).await.expect("a pilot's own reconnect");
    let w = joined(&mut back, name, Some(token)).await;
    assert_eq!(w.player_id, *player, "the same player, resumed");
    assert_eq!(server.stats().ghosts.load(Ordering::Relaxed), 2, "its ghost's place is its own again");
    assert!(left_at.elapsed() < Duration::from_secs(3), "all of this within the window");

    eventually("the other ghosts' window ends", || server.stats().ghosts.load(Ordering::Relaxed) == 0).await;
    assert!(left_at.elapsed() >= Duration::from_millis(2900), "not before the window ends");
    for name in ["Late1", "Late2"] {
        let mut c = open(HOME, addr).await.expect("room after the window");
        joined(&mut c, name, None).await;
    }
    server.shutdown().await;
}

fn hello(name: &str, token: Option<&str>) -> shared::protocol::ClientMsg {
    shared::protocol::ClientMsg::Hello(shared::protocol::Hello {
        protocol_version: shared::PROTOCOL_VERSION,
        name: name.into(),
        token: token.map(Into::into),
        ticket: None,
    })
}

/// An address that created its quota of identities within the hour is refused a new one
/// (`TooManyNewIdentities`, close 1008, counted), while its pilots with their tokens, and
/// another address, still get in.
#[tokio::test]
async fn new_identities_per_address_are_limited() {
    let limits = Limits { max_new_identities_per_address_per_hour: 2, ..Limits::default() };
    let server = start_server(Config { db: temp_db().into(), ..config(limits) }).await;
    let addr = server.local_addr();
    let mut tokens = Vec::new();
    for name in ["Anna", "Bert"] {
        let mut c = open(HOME, addr).await.unwrap();
        tokens.push(joined(&mut c, name, None).await.token.unwrap());
        c.close().await.unwrap();
    }
    let mut c = open(HOME, addr).await.unwrap();
    match c.say_hello("Carl", None).await.unwrap() {
        ServerMsg::Rejected(r) => {
            assert_eq!(r.reason, RejectReason::TooManyNewIdentities);
            assert!(r.message.contains("name you already have"), "{}", r.message);
            assert!(r.message.contains("60 minutes"), "{}", r.message);
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    let (ended, _) = c.until_closed(Duration::from_secs(5)).await.unwrap();
    assert_eq!(ended, Ended::Closed(1008, "handshake rejected".into()));
    assert_eq!(stat(addr, "new_identities_refused").await, 1);
    // A made-up token does not make a new identity either.
    let mut forger = open(HOME, addr).await.unwrap();
    assert!(matches!(
        forger.say_hello("Carl", Some("0123456789abcdef0123456789abcdef")).await.unwrap(),
        ServerMsg::Rejected(r) if r.reason == RejectReason::TooManyNewIdentities
    ));
    for (name, token) in ["Anna", "Bert"].into_iter().zip(&tokens) {
        let mut c = open(HOME, addr).await.unwrap();
        joined(&mut c, name, Some(token)).await;
    }
    let mut neighbour = open(NEIGHBOUR, addr).await.unwrap();
    joined(&mut neighbour, "Carl", None).await;
    assert_eq!(stat(addr, "new_identities_refused").await, 2, "returning pilots are never counted");
    server.shutdown().await;
}

/// Hellos racing for an address's last new identity: exactly one gets it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_hellos_cannot_share_the_last_new_identity() {
    let limits = Limits { max_new_identities_per_address_per_hour: 1, ..Limits::default() };
    let server = start_server(config(limits)).await;
    let addr = server.local_addr();
    let mut clients = Vec::new();
    for _ in 0..8 {
        clients.push(open(HOME, addr).await.unwrap());
    }
    let answers = futures_util::future::join_all(
        clients
            .iter_mut()
            .enumerate()
            .map(|(i, c)| async move { c.say_hello(&format!("Racer{i}"), None).await.unwrap() }),
    )
    .await;
    let welcomed = answers.iter().filter(|a| matches!(a, ServerMsg::Welcome(_))).count();
    let refused = answers
        .iter()
        .filter(|a| matches!(a, ServerMsg::Rejected(r) if r.reason == RejectReason::TooManyNewIdentities))
        .count();
    assert_eq!((welcomed, refused), (1, 7));
    server.shutdown().await;
}

/// Behind a trusted proxy, the client's address is the right-most X-Forwarded-For entry the
/// proxy did not write for itself: two clients of one proxy are two addresses, and what a
/// client writes into the header cannot move it. From an untrusted peer the header is ignored.
#[tokio::test]
async fn a_trusted_proxys_forwarded_for_names_the_client() {
    let limits = Limits { max_connections_per_address: 1, trusted_proxies: vec![HOME], ..Limits::default() };
    let server = start_server(config(limits)).await;
    let addr = server.local_addr();
    let _first = forwarded(HOME, addr, "198.51.100.1").await.expect("one client behind the proxy");
    let _second = forwarded(HOME, addr, "198.51.100.2").await.expect("another client behind the proxy");
    let refused = forwarded(HOME, addr, "198.51.100.2, 198.51.100.1").await.expect_err("the first client again");
    assert_eq!(refused.status, 429, "a forged entry left of the proxy's own is not believed");
    let _direct = forwarded(NEIGHBOUR, addr, "198.51.100.3").await.expect("a direct client");
    let refused = forwarded(NEIGHBOUR, addr, "198.51.100.4").await.expect_err("the same direct client");
    assert_eq!(refused.status, 429, "an untrusted peer's header is ignored");
    // ... and the operator is told: counted, and the peer named in /admin/stats.
    assert_eq!(stat(addr, "forwarded_untrusted").await, 2, "the trusted proxy's requests are not counted");
    let (_, body) = http_get(addr, "/admin/stats", Some(TOKEN)).await.unwrap();
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["untrusted_forwarders"], serde_json::json!([{ "peer": "127.0.0.2", "requests": 2 }]));
    server.shutdown().await;
}

/// A TCP balancer in front of the server (the tests' requests for figures come from HOME).
const BALANCER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));

/// The game socket from the BALANCER, sending `header` first.
async fn behind_balancer(addr: SocketAddr, header: &[u8]) -> Result<Client, HttpRefusal> {
    use tokio::io::AsyncWriteExt;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(BALANCER, 0)).unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    stream.write_all(header).await.unwrap();
    Client::upgrade_over(stream, addr, &[]).await.expect("the upgrade got an answer")
}

/// Regression (issue 23: behind a TCP balancer every player shared its address, and one
/// client's quota was everyone's): from a peer named with `--proxy-protocol-from`, each
/// connection's PROXY header (v1 or v2, IPv4 or IPv6) names the client, and the per-address
/// limits count that client: two clients of one balancer are two addresses, one client is
/// held to its own cap. A connection from the balancer without a header, with a malformed
/// one, or one that never finishes it is closed unanswered and counted; the balancer's own
/// health check (v2 LOCAL) is served; and a peer not named may not send one.
#[tokio::test]
async fn a_balancers_proxy_header_names_the_client() {
    use asteroids_server::net::proxy_protocol::{v1_header, v2_header};
    let limits = Limits {
        max_connections_per_address: 2,
        proxy_protocol_peers: vec![BALANCER],
        max_pending_per_balancer: 3,
        first_byte_timeout: Duration::from_millis(500),
        ..Limits::default()
    };
    let server = start_server(config(limits)).await;
    let addr = server.local_addr();
    let alice: SocketAddr = "198.51.100.7:40001".parse().unwrap();
    let bob: SocketAddr = "[2001:db8::7]:40002".parse().unwrap();
    let mut held = Vec::new();
    held.push(behind_balancer(addr, v1_header(alice, addr).as_bytes()).await.expect("alice, v1"));
    held.push(behind_balancer(addr, &v2_header(alice, addr)).await.expect("alice again, v2"));
    let refused = behind_balancer(addr, &v2_header(alice, addr)).await.expect_err("alice a third time");
    assert_eq!(refused.status, 429, "alice is held to her own address's cap");
    let bob_at: SocketAddr = "[2001:db8::1]:443".parse().unwrap();
    held.push(behind_balancer(addr, &v2_header(bob, bob_at)).await.expect("bob, another client of the balancer"));
    held.push(behind_balancer(addr, v1_header(bob, bob_at).as_bytes()).await.expect("bob, v1"));
    assert_eq!(stat(addr, "proxy_headers").await, 5);
    assert_eq!(stat(addr, "connection_addresses").await, 2, "alice's address and bob's /64");
    assert_eq!(stat(addr, "proxy_header_rejected").await, 0);

    // The balancer's own connection: no client to name, its address stands; served.
    let mut local = shared_v2_local();
    local.extend(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let answer = raw_exchange(BALANCER, addr, &local).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // No header, a malformed one, and one cut short: closed without an answer.
    for (bad, why) in [
        (&b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"[..], "no header"),
        (b"PROXY TCP4 198.51.100.7 nonsense 1 2\r\nGET / HTTP/1.1\r\n\r\n", "a malformed one"),
        (b"PROXY TCP4 198.51.", "one that never ends"),
    ] {
        assert_eq!(raw_exchange(BALANCER, addr, bad).await, "", "{why}: closed unanswered");
    }
    assert_eq!(stat(addr, "proxy_header_rejected").await, 3);

    // A plain TCP health check (connect, close) is no bad header; a connection that sends
    // nothing is closed at the first-byte deadline as any silent one.
    drop(tcp_from(addr, BALANCER).await);
    let timeouts = stat(addr, "handshake_timeouts").await;
    assert_eq!(raw_exchange(BALANCER, addr, b"").await, "", "silent: closed at the deadline");
    assert_eq!(stat(addr, "handshake_timeouts").await, timeouts + 1);
    assert_eq!(stat(addr, "proxy_header_rejected").await, 3, "neither is a bad header");

    // At most --max-pending-per-balancer of its connections may await their header.
    let mut waiting = Vec::new();
    for _ in 0..3 {
        waiting.push(tcp_from(addr, BALANCER).await);
    }
    let refused_before = stat(addr, "pending_refused").await;
    let mut fourth = tcp_from(addr, BALANCER).await;
    let mut probe = [0u8; 1];
    use tokio::io::AsyncReadExt;
    let closed = tokio::time::timeout(Duration::from_millis(300), fourth.read(&mut probe)).await;
    assert!(matches!(closed, Ok(Ok(0) | Err(_))), "the fourth is closed at once");
    assert_eq!(stat(addr, "pending_refused").await, refused_before + 1);
    drop(waiting);

    // A peer not named may not claim an address: its header is not HTTP, and is refused.
    let forged = [v1_header(alice, addr).as_bytes(), b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"].concat();
    let answer = raw_exchange(NEIGHBOUR, addr, &forged).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert_eq!(
        stat(addr, "proxy_headers").await,
        6,
        "the five clients' and the health check's; nothing from NEIGHBOUR"
    );
    server.shutdown().await;
}

/// A TCP connection from `from`, nothing sent.
async fn tcp_from(addr: SocketAddr, from: IpAddr) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(from, 0)).unwrap();
    socket.connect(addr).await.unwrap()
}

/// A v2 header for the balancer's own connection (LOCAL, no addresses).
fn shared_v2_local() -> Vec<u8> {
    let mut h = asteroids_server::net::proxy_protocol::V2_SIGNATURE.to_vec();
    h.extend([0x20, 0x00, 0x00, 0x00]);
    h
}

/// Sends `bytes` over a TCP connection from `from` and returns all the server answers until
/// it closes the connection (at most 5 s).
async fn raw_exchange(from: IpAddr, addr: SocketAddr, bytes: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(from, 0)).unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the server kept the connection open: {}", String::from_utf8_lossy(bytes));
    String::from_utf8_lossy(&answer).into_owned()
}

/// Many game connections from one address warn the operator: counted when the address gets
/// to `--shared-address-warning`, and the address listed in /admin/stats while it holds them.
#[tokio::test]
async fn many_connections_from_one_address_warn_the_operator() {
    let limits = Limits { shared_address_warning: 3, ..Limits::default() };
    let server = start_server(config(limits)).await;
    let addr = server.local_addr();
    let mut crowd = Vec::new();
    for _ in 0..3 {
        crowd.push(open(NEIGHBOUR, addr).await.expect("within the cap"));
    }
    let _home = open(HOME, addr).await.expect("another address");
    assert_eq!(stat(addr, "address_crowded").await, 1);
    let (_, body) = http_get(addr, "/admin/stats", Some(TOKEN)).await.unwrap();
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["crowded_addresses"], serde_json::json!([{ "address": "127.0.0.2", "connections": 3 }]));
    crowd.pop().unwrap().close().await.unwrap();
    eventually("the closed connection's place is freed", || server.stats().connections.load(Ordering::Relaxed) == 3)
        .await;
    let (_, body) = http_get(addr, "/admin/stats", Some(TOKEN)).await.unwrap();
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["crowded_addresses"], serde_json::json!([]), "no longer crowded");
    server.shutdown().await;
}

/// The answer to a `Hello` as `name` from the IPv6 client `client` behind the trusted proxy
/// (HOME), its connection then dropped.
async fn hello_behind_proxy(addr: SocketAddr, client: &str, name: &str) -> ServerMsg {
    let mut c = forwarded(HOME, addr, client).await.expect("the upgrade was accepted");
    c.say_hello(name, None).await.unwrap()
}

fn too_many(answer: &ServerMsg) -> bool {
    matches!(answer, ServerMsg::Rejected(r) if r.reason == RejectReason::TooManyNewIdentities)
}

/// Regression (issue 23: every /64 of an IPv6 /48 had its own quota, 65,536 of them): on the
/// real server, behind a trusted proxy, new identities are held to the /56's quota across its
/// /64s and to the /48's across its /56s, each refusal counted by the prefix that made it;
/// and the store records the address each identity was created from, so the operator's purge
/// of the /48 deletes exactly those (not the IPv4 player's, not the newest row).
#[tokio::test]
async fn ipv6_prefixes_share_their_quotas_and_can_be_purged() {
    let limits = Limits {
        trusted_proxies: vec![HOME],
        max_new_identities_per_56_per_hour: 2,
        max_new_identities_per_48_per_hour: 3,
        ..Limits::default()
    };
    let server = start_server(Config { resume_window: Ticks::new(6), ..config(limits) }).await;
    let addr = server.local_addr();
    assert!(matches!(hello_behind_proxy(addr, "2001:db8:1:1::1", "Six1").await, ServerMsg::Welcome(_)));
    assert!(matches!(hello_behind_proxy(addr, "2001:db8:1:2::1", "Six2").await, ServerMsg::Welcome(_)));
    assert!(too_many(&hello_behind_proxy(addr, "2001:db8:1:3::1", "Six3").await), "a third /64 of the /56");
    assert_eq!(stat(addr, "new_identities_refused_56").await, 1);
    assert!(matches!(hello_behind_proxy(addr, "2001:db8:1:100::1", "Six4").await, ServerMsg::Welcome(_)));
    assert!(too_many(&hello_behind_proxy(addr, "2001:db8:1:200::1", "Six5").await), "a fourth in the /48");
    assert_eq!(stat(addr, "new_identities_refused_48").await, 1);
    assert_eq!(stat(addr, "new_identities_refused").await, 2, "each refusal counted once in the total");
    assert!(matches!(hello_behind_proxy(addr, "2001:db8:2::1", "Other48").await, ServerMsg::Welcome(_)));
    assert!(matches!(hello_behind_proxy(addr, "198.51.100.7", "Four").await, ServerMsg::Welcome(_)));
    tokio::time::sleep(Duration::from_millis(300)).await; // their ships' resume windows end
    let (status, body) = http_request(addr, "POST", "/admin/purge?address=2001:db8:1::/48", Some(TOKEN)).await.unwrap();
    assert_eq!((status, body.trim()), (200, r#"{"purged":3}"#), "Six1, Six2 and Six4");
    assert!(matches!(hello_behind_proxy(addr, "2001:db8:3::1", "Six1").await, ServerMsg::Welcome(_)), "free again");
    let (status, body) = http_request(addr, "POST", "/admin/purge?address=198.51.100.0/24", Some(TOKEN)).await.unwrap();
    assert_eq!((status, body.trim()), (200, r#"{"purged":1}"#), "Four");
    server.shutdown().await;
}
