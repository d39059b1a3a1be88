//! The universe: sectors in one Redis directory, ships crossing their edges with hand-over
//! tickets, and what a forged, expired, replayed or misdirected ticket gets.

use asteroids_client::input::{Controls, Intent};
use asteroids_client::session::{Applied, Phase, Session};
use asteroids_server::{Config, Server};
use asteroids_tests::services::Redis;
use asteroids_tests::{http_get, small_world, start_server};
use futures_util::{SinkExt, StreamExt};
use shared::codec::decode_server;
use shared::protocol::{SectorCoord, ViewRect};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// The sectors' admin token in these tests.
const ADMIN: &str = "universe-admin";

/// The universe's secret in these tests.
const SECRET: &str = "a test universe's secret, 32 b.";

/// Sector `(x, y)` of a `size` universe on `redis`: an empty 2000-unit arena (nothing to
/// touch, so every prediction must be exact).
fn sector(redis: &str, size: [u16; 2], x: u16, y: u16) -> Config {
    Config {
        asteroids: 0,
        arena_size: Some(2000.0),
        universe: Some(redis.to_string()),
        sector: Some(SectorCoord { x, y }),
        universe_size: Some(size),
        universe_secret: Some(SECRET.to_string()),
        admin_token: Some(ADMIN.to_string()),
        ..small_world()
    }
}

/// Waits until every one of `servers` lists `n` sectors.
pub(crate) async fn until_listed(servers: &[&Server], n: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while servers.iter().any(|s| s.stats().universe_sectors.load(std::sync::atomic::Ordering::Relaxed) != n) {
        assert!(Instant::now() < deadline, "the sectors never listed each other");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An own-ship correction (distance, exact) at a snapshot from a sector.
type SectorCorrection = (Option<SectorCoord>, Option<(f32, bool)>);

/// What one flight across an edge showed.
#[derive(Debug, Default)]
struct Crossing {
    /// Own-ship corrections at every snapshot, by the sector it came from.
    corrections: Vec<SectorCorrection>,
    /// How far the drawn own ship (in universe coordinates) moved when the prediction switched
    /// from the sector left to the one entered, world units.
    switch_jump: Option<f32>,
    /// Milliseconds from the hand-over's arrival to the first snapshot in the new sector.
    latency_ms: Option<f64>,
}

/// The own ship's drawn position in universe coordinates, now.
fn drawn(session: &Session) -> Option<glam::Vec2> {
    let own = session.clock().own()?;
    let state = session.prediction().state(own.floor().max(0.0) as u32)?;
    let offset = session.nav.place.map_or([0.0; 2], |p| p.offset);
    Some(state.position() + glam::Vec2::from(offset))
}

/// Flies the page's session from `entry`, turning the ship to face +x and thrusting, until it
/// has flown `secs_after` seconds in the sector it crossed into (or `limit_secs` pass).
async fn fly_across(entry: SocketAddr, secs_after: f64, limit_secs: f64) -> Crossing {
    let mut url = format!("ws://{entry}/ws");
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.expect("connect");
    let mut session = Session::new("Crosser", None);
    let mut controls = Controls::default();
    let started = Instant::now();
    let ms = || started.elapsed().as_secs_f64() * 1000.0;
    session.on_open(ms());
    let mut out = Crossing::default();
    let first_sector = SectorCoord { x: 0, y: 0 };
    let (mut handed_at, mut arrived_at): (Option<f64>, Option<f64>) = (None, None);
    let mut before_switch: Option<glam::Vec2> = None;
    let mut frame = tokio::time::interval(Duration::from_millis(16));
    while ms() < limit_secs * 1000.0 && arrived_at.is_none_or(|t| ms() - t < secs_after * 1000.0) {
        tokio::select! {
            msg = ws.next() => match msg {
                Some(Ok(Message::Binary(bytes))) => {
                    let msg = decode_server(&bytes).expect("decodes");
                    let hand_over = matches!(msg, shared::protocol::ServerMsg::HandOver(_));
                    let welcome = matches!(msg, shared::protocol::ServerMsg::Welcome(_));
                    if welcome && handed_at.is_some() {
                        session.advance(ms());
                        before_switch = drawn(&session);
                    }
                    let applied = session.on_message(msg, ms()).expect("applies");
                    if hand_over {
                        handed_at = Some(ms());
                    }
                    if welcome && handed_at.is_some() {
                        session.advance(ms());
                        if let (Some(a), Some(b)) = (before_switch, drawn(&session)) {
                            out.switch_jump = Some(a.distance(b));
                        }
                    }
                    if let Applied::Snapshot { own, .. } = applied {
                        let sector = session.nav.place.map(|p| p.sector);
                        if sector != Some(first_sector) && arrived_at.is_none() {
                            arrived_at = Some(ms());
                            out.latency_ms = handed_at.map(|h| ms() - h);
                        }
                        out.corrections.push((sector, own.correction));
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    let (code, reason) = frame.map_or((1005, String::new()), |f| (f.code.into(), f.reason.to_string()));
                    session.on_close(code, &reason);
                    assert!(session.should_reconnect(), "{:?}", session.connection.phase);
                    tokio::time::sleep(Duration::from_secs_f64(session.reconnect_delay_ms() / 1000.0)).await;
                    if let Some(next) = session.socket_url() {
                        url = next.to_string();
                    }
                    ws = tokio_tungstenite::connect_async(&url).await.expect("reconnect").0;
                    session.on_open(ms());
                }
                Some(Ok(_)) => {}
                other => panic!("the connection failed: {other:?}"),
            },
            _ = frame.tick() => {
                let now = ms();
                session.poll(now);
                if session.connection.phase == Phase::Playing {
                    let in_first = session.nav.place.map(|p| p.sector) == Some(first_sector);
                    let rot = session.alive_ship().and_then(|id| session.replica().get(id)).map(|s| s.state.body().rot);
                    let intent = match rot {
                        // Face +x, then thrust; once across, coast (nothing changes the ship).
                        Some(r) if in_first && (r.y.abs() > 0.05 || r.x < 0.0) => {
                            Intent { thrust: false, turn: if r.y > 0.0 { -1 } else { 1 }, fire: false }
                        }
                        Some(_) if in_first => Intent { thrust: true, turn: 0, fire: false },
                        _ => Intent::default(),
                    };
                    controls.hold(intent);
                    if let Some(input) = controls.next_input() {
                        session.send_input(input, now);
                    }
                    session.predict();
                    session.follow_view(ViewRect { center: session.world.ship_hint, size: [1600.0, 1000.0] });
                }
            }
        }
        while let Some(bytes) = session.take_outgoing() {
            ws.send(Message::Binary(bytes.into())).await.expect("send");
        }
    }
    let _ = ws.close(None).await;
    out
}

/// A ship that flies through the edge between two sectors continues in the next one exactly
/// where the page's prediction had it: the first snapshot there, and every one after, equal
/// to the prediction bit for bit; each sector counts the hand-over; the drawn ship barely moves
/// when the page switches sectors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ship_crosses_into_the_next_sector_without_a_correction() {
    let redis = Redis::start().expect("redis-server");
    let a = start_server(sector(&redis.url(), [2, 1], 0, 0)).await;
    let b = start_server(sector(&redis.url(), [2, 1], 1, 0)).await;
    until_listed(&[&a, &b], 2).await;
    let (status, body) = http_get(a.local_addr(), "/api/universe", None).await.unwrap();
    assert_eq!(status, 200, "{body}");
    let listed: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(listed["universe"], true);
    let sectors = listed["sectors"].as_array().unwrap();
    assert_eq!(sectors.len(), 2, "{body}");
    assert_eq!(sectors[1]["url"], format!("ws://{}/ws", b.local_addr()));
    assert!(sectors.iter().all(|s| s["heartbeat_age_ms"].as_u64().unwrap() < 3000), "{body}");

    let crossing = fly_across(a.local_addr(), 1.5, 20.0).await;
    println!(
        "crossing: {} snapshots, hand-over to first snapshot {:?} ms, drawn ship moved {:?} units at the switch",
        crossing.corrections.len(),
        crossing.latency_ms,
        crossing.switch_jump
    );
    let in_b: Vec<_> = crossing.corrections.iter().filter(|(s, _)| *s == Some(SectorCoord { x: 1, y: 0 })).collect();
    assert!(in_b.len() >= 15, "{} snapshots in the second sector", in_b.len());
    assert_eq!(in_b[0].1, Some((0.0, true)), "the first snapshot after the crossing: {:?}", in_b[0]);
    let inexact: Vec<_> = crossing.corrections.iter().filter(|(_, c)| c.is_some_and(|(_, exact)| !exact)).collect();
    assert!(inexact.is_empty(), "corrections: {inexact:?}");
    let ordering = std::sync::atomic::Ordering::Relaxed;
    assert_eq!(a.stats().handovers_out.load(ordering), 1);
    assert_eq!(b.stats().handovers_in.load(ordering), 1);
    let jump = crossing.switch_jump.expect("the page switched sectors");
    assert!(jump < 20.0, "the drawn ship jumped {jump} units at the switch");
    b.shutdown().await;
    a.shutdown().await;
}

/// The holder digest of a connection from `ip`.
fn holder(ip: &str) -> [u8; 16] {
    asteroids_server::universe::ticket::holder(&asteroids_server::net::address::AddressKey::of(ip.parse().unwrap()))
}

/// The claims of a ticket for sector `to`, as a sector would sign them for a pilot connected
/// from 127.0.0.1.
fn claims(to: SectorCoord, expires_unix_ms: u64) -> shared::ticket::Claims {
    shared::ticket::Claims {
        nonce: rand_nonce(),
        from: SectorCoord { x: 0, y: 0 },
        to,
        crossed_unix_ms: asteroids_server::clock::unix_ms(),
        expires_unix_ms,
        store: [0; 16],
        holder: holder("127.0.0.1"),
        traveller: shared::ticket::Traveller {
            identity: None,
            name: "Ticketed".into(),
            state: shared::quant::QState { rot: [16384, 0], ..Default::default() },
            fire: false,
            score: Default::default(),
            total_before: 0,
            life_ticks: 0,
            shield_ticks: 0,
            cooldown_ticks: 0,
            recent_kills: Vec::new(),
        },
    }
}

fn rand_nonce() -> [u8; 16] {
    use std::sync::atomic::{AtomicU8, Ordering};
    static N: AtomicU8 = AtomicU8::new(1);
    let mut nonce = [0u8; 16];
    nonce[0] = N.fetch_add(1, Ordering::Relaxed);
    nonce[1..9].copy_from_slice(&(std::process::id() as u64).to_le_bytes());
    nonce
}

/// Presents `ticket` in a `Hello`; the server's answer.
async fn present(addr: SocketAddr, ticket: Vec<u8>) -> shared::protocol::ServerMsg {
    let mut c = asteroids_tests::Client::connect(addr).await.unwrap();
    let hello = shared::protocol::Hello {
        protocol_version: shared::PROTOCOL_VERSION,
        name: "Ticketed".into(),
        token: None,
        ticket: Some(ticket),
    };
    c.send(&shared::protocol::ClientMsg::Hello(hello)).await.unwrap();
    c.recv().await.unwrap()
}

/// A ticket is accepted once, by its sector, before it expires, from the address it was issued
/// to, and only when the universe's secret signed it: forged, expired, replayed, misdirected
/// and copied tickets are each refused
/// (`InvalidTicket`) and counted under their reason, and the valid one lets the ship in with
/// the ticket's exact state.
#[tokio::test]
async fn tickets_are_checked_and_used_once() {
    use asteroids_server::clock::unix_ms;
    use asteroids_server::universe::ticket::TicketKey;
    use shared::protocol::{RejectReason, ServerMsg};
    let redis = Redis::start().expect("redis-server");
    let b = start_server(sector(&redis.url(), [2, 1], 1, 0)).await;
    let here = SectorCoord { x: 1, y: 0 };
    let key = TicketKey::new(SECRET.as_bytes()).unwrap();
    let refused = |msg: &ServerMsg| matches!(msg, ServerMsg::Rejected(r) if r.reason == RejectReason::InvalidTicket);

    let forged = TicketKey::new(b"not the universe's secret").unwrap().sign(&claims(here, unix_ms() + 10_000));
    assert!(refused(&present(b.local_addr(), forged).await));
    assert!(refused(&present(b.local_addr(), b"no ticket at all".to_vec()).await));
    let expired = key.sign(&claims(here, unix_ms() - 1));
    assert!(refused(&present(b.local_addr(), expired).await));
    let elsewhere = key.sign(&claims(SectorCoord { x: 0, y: 0 }, unix_ms() + 10_000));
    assert!(refused(&present(b.local_addr(), elsewhere).await));
    // Copied to another machine: issued to a connection from another address.
    let copied = key.sign(&shared::ticket::Claims { holder: holder("127.0.0.2"), ..claims(here, unix_ms() + 10_000) });
    assert!(refused(&present(b.local_addr(), copied).await));

    let mut good = claims(here, unix_ms() + 10_000);
    good.traveller.state.pos = [-1000 * 128 + 40, 2560];
    good.traveller.state.vel = [25_600, 0];
    let ticket = key.sign(&good);
    match present(b.local_addr(), ticket.clone()).await {
        ServerMsg::Welcome(w) => {
            let arrival = w.arrival.expect("an arrival");
            // Exactly the state it crossed with, moved on by the whole ticks since it crossed.
            let elapsed_ticks = (unix_ms() - good.crossed_unix_ms) as f64 * 60.0 / 1000.0;
            let moved_on = (0..=asteroids_server::sim::MAX_ARRIVAL_CATCHUP.get())
                .find(|&k| w.kinematics.advance(&good.traveller.state, shared::entity::EntityKind::Ship, k) == arrival)
                .expect("the arrival is the ticket's state moved on by whole ticks");
            assert!(f64::from(moved_on) <= elapsed_ticks + 1.0, "{moved_on} ticks in {elapsed_ticks}");
            assert_eq!(w.place.map(|p| p.sector), Some(here));
        }
        other => panic!("the valid ticket was refused: {other:?}"),
    }
    assert!(refused(&present(b.local_addr(), ticket).await), "a ticket works once");

    let s = b.stats();
    let n = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(
        (n(&s.tickets_forged), n(&s.tickets_expired), n(&s.tickets_wrong_sector), n(&s.tickets_replayed)),
        (2, 1, 1, 1)
    );
    assert_eq!(n(&s.tickets_wrong_holder), 1);
    assert_eq!(n(&s.handovers_in), 1);
    b.shutdown().await;
}

/// The swarm in a universe: spread over the sectors the directory lists, voyaging bots fly
/// through the edges and follow their hand-overs; every crossing is counted, timed and exact
/// (no correction at the first snapshot in the next sector), and no bot is lost on the way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_swarm_crosses_sectors() {
    use asteroids_bots::behavior::Behavior;
    use asteroids_bots::{run, SwarmConfig};
    let redis = Redis::start().expect("redis-server");
    let a = start_server(sector(&redis.url(), [2, 1], 0, 0)).await;
    let b = start_server(sector(&redis.url(), [2, 1], 1, 0)).await;
    until_listed(&[&a, &b], 2).await;
    let report = run(SwarmConfig {
        url: String::new(),
        bots: 6,
        ramp_secs: 0.5,
        duration_secs: 9.0,
        behavior: Behavior::Voyage,
        seed: 5,
        progress: false,
        full_replicas: 3,
        bots_per_address: std::num::NonZeroUsize::new(16).unwrap(),
        source_address_base: None,
        link: None,
        universe: Some(format!("http://{}", a.local_addr())),
    })
    .await;
    print!("{}", report.table());
    assert_eq!((report.bots_connected, report.failures), (6, 0), "{:?}", report.failure_reasons);
    assert!(report.disconnects.is_empty(), "{:?}", report.disconnects);
    assert!(report.crossings >= 4, "{} crossings", report.crossings);
    let c = &report.crossing_correction_units;
    assert_eq!((c.samples, c.nonzero), (report.crossings, 0), "{c:?}");
    assert!(report.crossing_latency_ms["p99"] < 1000.0, "{:?}", report.crossing_latency_ms);
    let n = |s: &Server| s.stats().handovers_in.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(n(&a) + n(&b), report.crossings);
    b.shutdown().await;
    a.shutdown().await;
}

/// What an operator reads of a sector: `/healthz` says the simulation ticks (200 with the
/// tick), `/admin/stats` shows the universe, every `/metrics` series carries the sector's
/// label; and a sector's directory record holds its place: a second process configured as
/// the same sector is not listed over it.
#[tokio::test]
async fn operators_see_the_universe_and_one_process_per_sector() {
    let redis = Redis::start().expect("redis-server");
    let a = start_server(sector(&redis.url(), [2, 1], 0, 0)).await;
    until_listed(&[&a], 1).await;
    let (status, body) = http_get(a.local_addr(), "/healthz", None).await.unwrap();
    assert!(status == 200 && body.starts_with("ok: tick "), "{status} {body}");
    let (_, stats) = http_get(a.local_addr(), "/admin/stats", Some(ADMIN)).await.unwrap();
    let stats: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(stats["universe"]["sector"], "0,0", "{stats}");
    assert_eq!(stats["universe"]["sectors"][0]["url"], format!("ws://{}/ws", a.local_addr()));
    assert_eq!(stats["universe_sectors"], 1);
    let (_, metrics) = http_get(a.local_addr(), "/metrics", Some(ADMIN)).await.unwrap();
    let samples: Vec<&str> = metrics.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).collect();
    assert!(samples.len() > 50 && samples.iter().all(|l| l.contains("sector=\"0,0\"")), "{metrics}");
    let twin = start_server(sector(&redis.url(), [2, 1], 0, 0)).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (_, body) = http_get(twin.local_addr(), "/api/universe", None).await.unwrap();
    let listed: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(listed["sectors"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(listed["sectors"][0]["url"], format!("ws://{}/ws", a.local_addr()), "the first holds it: {body}");
    twin.shutdown().await;
    a.shutdown().await;
}

/// Redis restarted empty (no persistence): every sector puts itself back in the directory
/// with its next heartbeats, with nobody re-registering it, and ships cross again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sectors_register_again_after_redis_restarts() {
    let mut redis = Redis::start().expect("redis-server");
    let a = start_server(sector(&redis.url(), [2, 1], 0, 0)).await;
    let b = start_server(sector(&redis.url(), [2, 1], 1, 0)).await;
    until_listed(&[&a, &b], 2).await;
    redis.restart().expect("restarting redis");
    let restarted = Instant::now();
    let deadline = restarted + Duration::from_secs(10);
    loop {
        let (_, body) = http_get(a.local_addr(), "/api/universe", None).await.unwrap();
        let listed: serde_json::Value = serde_json::from_str(&body).unwrap();
        let fresh = listed["listed_age_ms"].as_u64().unwrap() < 1500;
        if fresh && listed["sectors"].as_array().unwrap().len() == 2 && redis_keys(&redis).len() >= 2 {
            break;
        }
        assert!(Instant::now() < deadline, "not registered again 10 s after the restart: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("both sectors listed again {} ms after Redis restarted", restarted.elapsed().as_millis());
    let crossing = fly_across(a.local_addr(), 0.5, 20.0).await;
    let first_in_b = crossing.corrections.iter().find(|(s, _)| *s == Some(SectorCoord { x: 1, y: 0 }));
    assert_eq!(first_in_b.map(|c| c.1), Some(Some((0.0, true))), "a crossing after the restart");
    b.shutdown().await;
    a.shutdown().await;
}

/// The sectors' records in Redis, straight from Redis.
fn redis_keys(redis: &Redis) -> Vec<String> {
    let out = std::process::Command::new("redis-cli")
        .args(["-p", &redis.port().to_string(), "--raw", "KEYS", "asteroids:sector:*"])
        .output()
        .expect("redis-cli (Debian's redis-tools) must be installed");
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).filter(|l| !l.is_empty()).collect()
}

/// The online board is the universe's: a pilot in one sector sees the pilot in the other on
/// its board, and the players online counted across both.
#[tokio::test]
async fn the_online_board_spans_the_universe() {
    use shared::protocol::ServerMsg;
    let redis = Redis::start().expect("redis-server");
    let a = start_server(sector(&redis.url(), [2, 1], 0, 0)).await;
    let b = start_server(sector(&redis.url(), [2, 1], 1, 0)).await;
    until_listed(&[&a, &b], 2).await;
    let (mut alpha, _) = asteroids_tests::Client::join(a.local_addr(), "Alpha").await.unwrap();
    let (_beta, _) = asteroids_tests::Client::join(b.local_addr(), "Beta").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let (mut top, mut online) = (Vec::new(), 0);
    while !(top.len() == 2 && online == 2) {
        assert!(Instant::now() < deadline, "Alpha's board: {top:?}, {online} online");
        match alpha.recv().await.unwrap() {
            ServerMsg::TopOnline(t) => top = t.into_iter().map(|e| e.name).collect(),
            ServerMsg::World(w) => online = w.online,
            _ => {}
        }
    }
    top.sort();
    assert_eq!(top, ["Alpha", "Beta"]);
    b.shutdown().await;
    a.shutdown().await;
}

/// A lone server answers `/api/universe` too, that it is none (every page asks, and a 404
/// would be an error in its console).
#[tokio::test]
async fn a_lone_server_says_it_is_no_universe() {
    let server = start_server(small_world()).await;
    let (status, body) = http_get(server.local_addr(), "/api/universe", None).await.unwrap();
    assert_eq!((status, body.as_str()), (200, r#"{"sectors":[],"universe":false}"#));
    server.shutdown().await;
}
