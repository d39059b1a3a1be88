//! Inputs that name their tick, and the own ship's prediction built on them: the server's
//! scheduling rules tick by tick, then the page's own session code flying through an impaired
//! link against the real server, its prediction checked bit for bit at every snapshot.

use asteroids_bots::link::{self, Direction, Link, Stall};
use asteroids_client::input::{Controls, Intent};
use asteroids_client::predict::Reconciled;
use asteroids_client::session::{Applied, Phase, Session};
use asteroids_server::sim::{Game, GameConfig, Joined, SimEvent, Surroundings};
use asteroids_server::Config;
use asteroids_tests::{small_world, start_server};
use futures_util::{SinkExt, StreamExt};
use shared::codec::decode_server;
use shared::constants::MAX_INPUT_LEAD;
use shared::protocol::{Input, ViewRect};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

fn join(game: &mut Game) -> Joined {
    let (reply, mut rx) = tokio::sync::oneshot::channel();
    game.tick(
        [SimEvent::Join { name: "Pilot".into(), identity: None, total_before: 0, arrival: None, reply }],
        &Surroundings::default(),
    );
    game.deliver(None);
    rx.try_recv().expect("joined within the tick")
}

fn input(who: &Joined, seq: u32, tick: u32, thrust: bool) -> SimEvent {
    SimEvent::Input {
        player: who.player_id,
        session: who.session,
        input: Input { seq, tick, thrust, ..Input::default() },
    }
}

/// An input applies at the tick it names when it comes in time (margin reported), at once when
/// it comes late, at the lead bound when it names a tick too far ahead (both counted), and
/// never before an input sent earlier.
#[test]
fn inputs_apply_at_the_tick_they_name() {
    let mut game = Game::new(GameConfig::new(0, [2000.0, 2000.0], 5));
    let me = join(&mut game);
    let thrusting = |game: &Game| {
        let f = game.frame(Default::default());
        let ship = f.players[&me.player_id].ship.and_then(|id| f.entity(id)).expect("a ship");
        (ship.state.ctrl.thrust(), f.players[&me.player_id].ack)
    };
    // Sent during tick n + 1, for tick n + 6: five ticks to spare.
    let n = game.tick_number();
    game.tick([input(&me, 1, n + 6, true)], &Surroundings::default());
    for t in n + 2..n + 6 {
        game.tick([], &Surroundings::default());
        assert!(!thrusting(&game).0, "applied early, at tick {t}");
    }
    game.tick([], &Surroundings::default());
    let (on, ack) = thrusting(&game);
    assert!(on);
    assert_eq!((ack.seq, ack.tick, ack.margin), (1, n + 6, 5));

    // Late: named for a tick already simulated, applied at once.
    let n = game.tick_number();
    game.tick([input(&me, 2, n - 3, false)], &Surroundings::default());
    let (on, ack) = thrusting(&game);
    assert!(!on);
    assert_eq!((ack.seq, ack.tick, ack.margin), (2, n + 1, -4));

    // Too far ahead: applied at the bound.
    let n = game.tick_number();
    game.tick([input(&me, 3, n + 10_000, true)], &Surroundings::default());
    for _ in 0..MAX_INPUT_LEAD.get() - 1 {
        game.tick([], &Surroundings::default());
        assert!(!thrusting(&game).0);
    }
    game.tick([], &Surroundings::default());
    assert_eq!(thrusting(&game).1.tick, n + 1 + MAX_INPUT_LEAD);
    let timing = game.frame(Default::default()).timing;
    assert_eq!((timing.counters.late_inputs, timing.counters.early_inputs), (1, 1));

    // Order kept: an input naming an earlier tick than the one sent before it waits for that
    // one's tick, and, due at the same tick, replaces it.
    let n = game.tick_number();
    game.tick([input(&me, 4, n + 8, false), input(&me, 5, n + 3, true)], &Surroundings::default());
    for _ in n + 2..n + 8 {
        game.tick([], &Surroundings::default());
        assert_eq!(thrusting(&game).1.seq, 3, "nothing applied before tick {}", n + 8);
    }
    game.tick([], &Surroundings::default());
    assert_eq!(thrusting(&game), (true, shared::protocol::InputAck { seq: 5, tick: n + 8, margin: 2 }));
}

/// What one flight through the link measured.
#[derive(Debug, Default)]
struct Flight {
    reconciled: Vec<Reconciled>,
    inputs: u32,
}

/// Flies the page's session (the very code the browser runs) through `link` to the server for
/// `secs`, changing the controls every 230 ms after the first second: thrust, turns both ways,
/// bursts of fire. Returns what every snapshot told the prediction.
async fn fly(server: std::net::SocketAddr, link: Link, secs: f64) -> Flight {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let front = listener.local_addr().unwrap();
    let conditioner = tokio::spawn(link::serve(listener, server, link, 7));
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{front}/ws")).await.expect("connect");
    let mut session = Session::new("Predictor", None);
    let mut controls = Controls::default();
    let started = Instant::now();
    let ms = || started.elapsed().as_secs_f64() * 1000.0;
    session.on_open(ms());
    let mut flight = Flight::default();
    let script = [
        Intent { thrust: true, turn: 0, fire: false },
        Intent { thrust: true, turn: 1, fire: false },
        Intent { thrust: false, turn: -1, fire: true },
        Intent { thrust: true, turn: -1, fire: true },
        Intent { thrust: false, turn: 0, fire: false },
        Intent { thrust: true, turn: 1, fire: true },
        Intent { thrust: false, turn: 1, fire: false },
    ];
    let mut frame = tokio::time::interval(Duration::from_millis(16));
    while ms() < secs * 1000.0 {
        tokio::select! {
            msg = ws.next() => {
                let Some(Ok(Message::Binary(bytes))) = msg else { continue };
                let applied = session.on_message(decode_server(&bytes).expect("decodes"), ms()).expect("applies");
                if let Applied::Snapshot { own, .. } = applied {
                    flight.reconciled.push(own);
                }
            }
            _ = frame.tick() => {
                let now = ms();
                session.poll(now);
                if session.connection.phase == Phase::Playing {
                    let step = ((now - 1000.0) / 230.0).floor();
                    if step >= 0.0 {
                        controls.hold(script[step as usize % script.len()]);
                    }
                    if let Some(input) = controls.next_input() {
                        session.send_input(input, now);
                        flight.inputs += 1;
                    }
                    session.predict();
                    session.follow_view(ViewRect { center: session.world.ship_hint, size: [1600.0, 1000.0] });
                }
            }
        }
        while let Some(out) = session.take_outgoing() {
            ws.send(Message::Binary(out.into())).await.expect("send");
        }
    }
    let _ = ws.close(None).await;
    conditioner.abort();
    flight
}

/// An empty arena (nothing to touch): every own-ship prediction must be exact.
fn empty_arena() -> Config {
    Config { asteroids: 0, ..small_world() }
}

/// Through 40–60 ms each way, the own ship predicted with the inputs the server has not yet
/// applied is, at every snapshot, the server's state bit for bit: no input came late, every
/// shot was matched to its bullet, and the server counted no late input either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_ship_prediction_is_exact_through_a_jittery_link() {
    let server = start_server(empty_arena()).await;
    let link = Link { delay: Duration::from_millis(40), jitter: Duration::from_millis(20), stall: None };
    let flight = fly(server.local_addr(), link, 6.0).await;
    let corrections: Vec<(f32, bool)> = flight.reconciled.iter().filter_map(|r| r.correction).collect();
    let acked: Vec<(f64, i16)> = flight.reconciled.iter().filter_map(|r| r.acked).collect();
    let matched: u32 = flight.reconciled.iter().map(|r| r.shots_matched).sum();
    let dropped: u32 = flight.reconciled.iter().map(|r| r.shots_dropped).sum();
    assert!(corrections.len() >= 80, "{} snapshots compared", corrections.len());
    assert!(flight.inputs >= 15 && acked.len() >= 10, "{} inputs, {} acknowledged", flight.inputs, acked.len());
    let late: Vec<_> = acked.iter().filter(|(_, margin)| *margin < 0).collect();
    assert!(late.is_empty(), "inputs came late: {late:?}");
    let inexact: Vec<_> = corrections.iter().filter(|(_, exact)| !exact).collect();
    assert!(inexact.is_empty(), "{} of {} predictions were off: {inexact:?}", inexact.len(), corrections.len());
    assert!(matched >= 5 && dropped == 0, "shots matched {matched}, dropped {dropped}");
    // The acknowledgement comes a round trip plus the lead after the input: 80–120 ms of link.
    let mean_ms = acked.iter().map(|(ms, _)| ms).sum::<f64>() / acked.len() as f64;
    assert!((80.0..400.0).contains(&mean_ms), "input to acknowledgement {mean_ms} ms");
    assert_eq!(server.latest_frame().timing.counters.late_inputs, 0);
    server.shutdown().await;
}

/// A 200 ms stall of the downlink every 1.5 s (what a lost segment does to TCP) leaves the
/// prediction exact: the inputs still reach the server in time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_downlink_does_not_disturb_the_prediction() {
    let server = start_server(empty_arena()).await;
    let stall =
        Stall { length: Duration::from_millis(200), every: Duration::from_millis(1500), direction: Direction::Down };
    let link = Link { delay: Duration::from_millis(40), jitter: Duration::from_millis(20), stall: Some(stall) };
    let flight = fly(server.local_addr(), link, 6.0).await;
    let corrections: Vec<(f32, bool)> = flight.reconciled.iter().filter_map(|r| r.correction).collect();
    assert!(corrections.len() >= 50, "{} snapshots compared", corrections.len());
    let inexact: Vec<_> = corrections.iter().filter(|(_, exact)| !exact).collect();
    assert!(inexact.is_empty(), "{} of {} predictions were off: {inexact:?}", inexact.len(), corrections.len());
    assert_eq!(server.latest_frame().timing.counters.late_inputs, 0);
    server.shutdown().await;
}

/// A snapshot carries the acknowledgement only when it changed: once after the input was
/// applied, then none until the next input.
#[tokio::test]
async fn snapshots_carry_the_acknowledgement_once() {
    let server = start_server(empty_arena()).await;
    let (mut c, _) = asteroids_tests::Client::join(server.local_addr(), "Acker").await.unwrap();
    c.view([0.0, 0.0], [800.0, 600.0]).await.unwrap();
    c.snapshot().await.unwrap();
    c.input(1, true, 0, false).await.unwrap();
    let mut acks = Vec::new();
    while acks.iter().filter(|a: &&Option<u32>| a.is_some()).count() == 0 || acks.len() < 8 {
        acks.push(c.snapshot().await.unwrap().ack.map(|a| a.seq));
        assert!(acks.len() < 100, "no acknowledgement: {acks:?}");
    }
    let carried: Vec<u32> = acks.iter().flatten().copied().collect();
    assert_eq!(carried, vec![1], "exactly one snapshot acknowledged input 1: {acks:?}");
    server.shutdown().await;
}
