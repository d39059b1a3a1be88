//! Per-address limits on the real server: open connections per address (429), dropped
//! players' ships holding their places for the resume window (and their pilots getting back
//! in), new identities per address per hour (`Rejected { TooManyNewIdentities }`), and per
//! IPv6 /56 and /48, and the client address behind a trusted proxy. 127.0.0.1 and 127.0.0.2 are two client addresses.

use asteroids_server::limits::Limits;
use asteroids_server::Config;
use asteroids_tests::*;
use shared::protocol::{RejectReason, ServerMsg};
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
    let refused = open(HOME, addr).await.err().expect("the fourth from one address");
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
    let server = start_server(Config { resume_window_ticks: 180, ..config(limits) }).await;
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
    let refused = forwarded(HOME, addr, "198.51.100.2, 198.51.100.1").await.err().expect("the first client again");
    assert_eq!(refused.status, 429, "a forged entry left of the proxy's own is not believed");
    let _direct = forwarded(NEIGHBOUR, addr, "198.51.100.3").await.expect("a direct client");
    let refused = forwarded(NEIGHBOUR, addr, "198.51.100.4").await.err().expect("the same direct client");
    assert_eq!(refused.status, 429, "an untrusted peer's header is ignored");
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
    let server = start_server(Config { resume_window_ticks: 6, ..config(limits) }).await;
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
