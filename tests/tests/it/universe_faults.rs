//! The universe on a shared PostgreSQL, and its faults: a pilot's score summed across the
//! sectors it flew through, and a sector killed with `kill -9` while its pilots fly (they move
//! on to another sector with their identity and committed score; the directory forgets it).

use super::universe::until_listed;
use asteroids_client::input::{Controls, Intent};
use asteroids_client::session::{Applied, Phase, Session};
use asteroids_server::Config;
use asteroids_tests::services::{Postgres, Redis};
use asteroids_tests::{http_get, small_world, start_server};
use futures_util::{SinkExt, StreamExt};
use shared::codec::decode_server;
use shared::protocol::{SectorCoord, ViewRect};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// The universe's secret in these tests.
const SECRET: &str = "the faults' universe secret, 32b";

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The page's session driven like the page drives it: frames every 16 ms, the socket's
/// messages, closes and failures, reconnects after the session's delay to the socket it names
/// (a hand-over's next sector, or another sector when this one is gone).
struct Page {
    session: Session,
    controls: Controls,
    ws: Option<Ws>,
    /// The socket to open when the session names none.
    home: String,
    started: Instant,
    reconnect_at: Option<Instant>,
}

impl Page {
    async fn open(entry: SocketAddr, name: &str) -> Page {
        let home = format!("ws://{entry}/ws");
        let ws = tokio_tungstenite::connect_async(&home).await.expect("connect").0;
        let mut page = Page {
            session: Session::new(name, None),
            controls: Controls::default(),
            ws: Some(ws),
            home,
            started: Instant::now(),
            reconnect_at: None,
        };
        page.session.on_open(page.ms());
        page.flush().await;
        page
    }

    fn ms(&self) -> f64 {
        self.started.elapsed().as_secs_f64() * 1000.0
    }

    async fn flush(&mut self) {
        while let Some(bytes) = self.session.take_outgoing() {
            let Some(ws) = self.ws.as_mut() else { return };
            if ws.send(Message::Binary(bytes.into())).await.is_err() {
                return;
            }
        }
    }

    /// The connection ended (`code`): the session decides what next.
    fn closed(&mut self, code: u16, reason: &str) {
        self.ws = None;
        self.session.on_close(code, reason);
        if self.session.should_reconnect() {
            self.reconnect_at =
                Some(Instant::now() + Duration::from_secs_f64(self.session.reconnect_delay_ms() / 1000.0));
        }
    }

    /// Runs the page until `done` says so (after a message) or `limit` passes (false). `pilot`
    /// decides the controls each frame while playing.
    async fn run(
        &mut self,
        limit: Duration,
        mut pilot: impl FnMut(&Session) -> Intent,
        mut done: impl FnMut(&Session, &Applied) -> bool,
    ) -> bool {
        let deadline = Instant::now() + limit;
        let mut frame = tokio::time::interval(Duration::from_millis(16));
        while Instant::now() < deadline {
            if self.ws.is_none() {
                if let Some(at) = self.reconnect_at.take() {
                    tokio::time::sleep_until(at.into()).await;
                    let url = self.session.socket_url().unwrap_or(&self.home).to_string();
                    match tokio_tungstenite::connect_async(&url).await {
                        Ok((ws, _)) => {
                            self.ws = Some(ws);
                            self.session.on_open(self.ms());
                            self.flush().await;
                        }
                        // Refused: the sector is gone; the session fails over.
                        Err(_) => self.closed(1006, ""),
                    }
                    continue;
                }
                frame.tick().await;
                continue;
            }
            let ws = self.ws.as_mut().expect("connected");
            tokio::select! {
                msg = ws.next() => match msg {
                    Some(Ok(Message::Binary(bytes))) => {
                        let msg = decode_server(&bytes).expect("decodes");
                        let applied = self.session.on_message(msg, self.ms()).expect("applies");
                        if done(&self.session, &applied) {
                            return true;
                        }
                    }
                    Some(Ok(Message::Close(f))) => {
                        let (code, reason) = f.map_or((1005, String::new()), |f| (f.code.into(), f.reason.to_string()));
                        self.closed(code, &reason);
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => self.closed(1006, ""),
                },
                _ = frame.tick() => {
                    let now = self.ms();
                    self.session.poll(now);
                    if self.session.connection.phase == Phase::Playing {
                        self.controls.hold(pilot(&self.session));
                        if let Some(input) = self.controls.next_input() {
                            self.session.send_input(input, now);
                        }
                        self.session.predict();
                        let view = ViewRect { center: self.session.world.ship_hint, size: [1600.0, 1000.0] };
                        self.session.follow_view(view);
                    }
                }
            }
            self.flush().await;
        }
        false
    }
}

/// Turns the own ship to face +x, then thrusts; fires all the while if `fire`.
fn eastward(fire: bool) -> impl FnMut(&Session) -> Intent {
    move |s: &Session| {
        let rot = s.alive_ship().and_then(|id| s.replica().get(id)).map(|k| k.state.body().rot);
        match rot {
            Some(r) if r.y.abs() > 0.05 || r.x < 0.0 => {
                Intent { thrust: false, turn: if r.y > 0.0 { -1 } else { 1 }, fire }
            }
            Some(_) => Intent { thrust: true, turn: 0, fire },
            None => Intent::default(),
        }
    }
}

/// A pilot's committed all-time figures, as `/api/players/{name}` on `addr` shows them.
async fn committed(addr: SocketAddr, name: &str) -> serde_json::Value {
    let (status, body) = http_get(addr, &format!("/api/players/{name}"), None).await.unwrap();
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// Sector `(x, y)` of a 2×1 universe with a field dense enough that a pilot firing scores
/// within seconds, and sparse enough that it crosses a sector without dying every time, on
/// `redis` and the shared `pg`.
fn dense_sector(redis: &str, pg: &str, x: u16) -> Config {
    Config {
        asteroids: 150,
        arena_size: Some(2000.0),
        universe: Some(redis.to_string()),
        sector: Some(SectorCoord { x, y: 0 }),
        universe_size: Some([2, 1]),
        universe_secret: Some(SECRET.to_string()),
        db: asteroids_server::store::StoreLocation::Postgres(pg.to_string()),
        ..small_world()
    }
}

/// A pilot who scores in one sector, flies into the next and scores there too ends with one
/// identity whose committed all-time figures are exactly the sum: what its page was last told
/// (the session's score, carried across by the ticket), nothing lost or counted twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scores_are_summed_across_sectors() {
    let (redis, pg) = (Redis::start().expect("redis"), Postgres::start().expect("postgres"));
    let a = start_server(dense_sector(&redis.url(), &pg.url(), 0)).await;
    let b = start_server(dense_sector(&redis.url(), &pg.url(), 1)).await;
    until_listed(&[&a, &b], 2).await;
    let mut page = Page::open(a.local_addr(), "Summer").await;
    let east = SectorCoord { x: 1, y: 0 };
    // Score where it starts (spinning, firing), then fly east firing until the ship has
    // crossed and scored again beyond.
    let mut east_firing = eastward(true);
    let pilot = move |s: &Session| {
        if s.standing.score.points == 0 && s.nav.place.is_some_and(|p| p.sector.x == 0) {
            Intent { thrust: false, turn: 1, fire: true }
        } else {
            east_firing(s)
        }
    };
    let mut at_crossing = None;
    let crossed_and_scored = page
        .run(Duration::from_secs(120), pilot, |s, _| {
            if s.nav.place.map(|p| p.sector) == Some(east) {
                let carried = *at_crossing.get_or_insert(s.standing.score.points);
                return carried > 0 && s.standing.score.points > carried;
            }
            false
        })
        .await;
    assert!(
        crossed_and_scored,
        "never scored on both sides: {:?}, score {:?}",
        at_crossing, page.session.standing.score
    );
    // Hold fire until every bullet is spent (a second), then read what the page was told last.
    page.run(Duration::from_millis(1500), |_| Intent::default(), |_, _| false).await;
    let told = page.session.standing.score;
    a.store().flush().await;
    b.store().flush().await;
    let stored = committed(a.local_addr(), "Summer").await;
    println!("scored {:?} before crossing, {told:?} in all; committed {stored}", at_crossing);
    assert_eq!(stored["points"], told.points, "{stored}");
    assert_eq!(stored["hits"], told.hits, "{stored}");
    assert_eq!(stored["kills"], told.kills, "{stored}");
    assert_eq!(stored["deaths"], told.deaths, "{stored}");
    assert_eq!(told.total_points, told.points, "a new identity's total is this session's points");
    b.shutdown().await;
    a.shutdown().await;
}

/// A sector process on `redis` and `pg`; killed when dropped.
struct SectorProcess {
    child: std::process::Child,
    addr: SocketAddr,
}

impl SectorProcess {
    /// Sector `x,0` of a 3×1 universe.
    fn start(redis: &str, pg: &str, x: u16) -> SectorProcess {
        use std::io::BufRead;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_asteroids-sector"))
            .args(["--bind", "127.0.0.1:0", "--asteroids", "300", "--arena-size", "2000", "--ai-pilots", "0"])
            .args(["--universe", redis, "--sector", &format!("{x},0"), "--universe-size", "3,1", "--db", pg])
            .env("ASTEROIDS_UNIVERSE_SECRET", SECRET)
            .env("ASTEROIDS_ADMIN_TOKEN", "faults")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("starting asteroids-sector");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("its address");
        let addr = line.trim().strip_prefix("addr=").expect("addr=IP:PORT").parse().expect("an address");
        SectorProcess { child, addr }
    }
}

impl Drop for SectorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether Redis still holds sector `x,0`'s record.
fn listed_in_redis(redis: &Redis, x: u16) -> bool {
    let out = std::process::Command::new("redis-cli")
        .args(["-p", &redis.port().to_string(), "--raw", "EXISTS", &format!("asteroids:sector:{x},0")])
        .output()
        .expect("redis-cli (Debian's redis-tools) must be installed");
    String::from_utf8_lossy(&out.stdout).trim() == "1"
}

/// Three sector processes; the middle one is killed with `kill -9` while its pilot flies: the
/// directory forgets it within 3 s (its record's time to live), and the page moves on to
/// another sector within 10 s, as the same identity with the score that was committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_sectors_pilots_move_on_with_their_scores() {
    let (redis, pg) = (Redis::start().expect("redis"), Postgres::start().expect("postgres"));
    let west = SectorProcess::start(&redis.url(), &pg.url(), 0);
    let mut a = SectorProcess::start(&redis.url(), &pg.url(), 1);
    let east = SectorProcess::start(&redis.url(), &pg.url(), 2);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !(0..3).all(|x| listed_in_redis(&redis, x)) {
        assert!(Instant::now() < deadline, "the sectors never registered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(1200)).await; // a listing of all, for the page's map
    let mut page = Page::open(a.addr, "Survivor").await;
    // Score something in the first sector (firing while it turns), then stop firing and let
    // the store commit it.
    let spin = |_: &Session| Intent { thrust: false, turn: 1, fire: true };
    let scored = page.run(Duration::from_secs(30), spin, |s, _| s.standing.score.points > 0).await;
    assert!(scored, "scored nothing in the first sector");
    assert!(page.session.nav.universe.as_ref().is_some_and(|u| u.sectors.len() == 3), "the page knows every sector");
    page.run(Duration::from_millis(1500), |_| Intent::default(), |_, _| false).await;
    let before = committed(a.addr, "Survivor").await;
    assert!(before["points"].as_u64().unwrap() > 0, "{before}");

    let _ = a.child.kill(); // SIGKILL: no drain, no goodbye
    let killed = Instant::now();
    let welcomed = page
        .run(
            Duration::from_secs(10),
            |_| Intent::default(),
            |s, _| s.connection.phase == Phase::Playing && s.nav.place.is_some_and(|p| p.sector.x != 1),
        )
        .await;
    let moved_in = killed.elapsed();
    assert!(welcomed, "the page did not get back into play within 10 s: {:?}", page.session.connection.phase);
    let others = [west.addr, east.addr].map(|a| format!("ws://{a}/ws"));
    assert!(page.session.socket_url().is_some_and(|u| others.contains(&u.to_string())), "it went to another sector");
    let welcome = page.session.world.welcome.clone().expect("welcomed");
    assert_eq!(welcome.token, None, "the same identity, not a new one");
    assert_eq!(u64::from(welcome.total_points), before["points"].as_u64().unwrap(), "the committed score came along");
    while listed_in_redis(&redis, 1) {
        assert!(killed.elapsed() < Duration::from_millis(3200), "the directory still lists the killed sector");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let forgotten = killed.elapsed();
    println!("killed: the page played again in the other sector after {moved_in:?}; the directory forgot it after {forgotten:?}");
}
