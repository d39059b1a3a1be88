//! AI pilots: they fill the world up to the configured number of ships less the humans online,
//! fly and fire by the players' rules, kill and are killed, never reach the store, and are
//! marked in the leaderboard; and, over the real server, a lone human sees them.

use asteroids_server::sim::{Game, GameConfig, Joined, ScoreDelta, ScoreSink, SimEvent, Surroundings};
use asteroids_server::Config;
use asteroids_tests::*;
use glam::Vec2;
use shared::constants::TICK_HZ;
use shared::protocol::{DeathCause, EntityId, EntityKind, GameEvent, Input, ServerMsg};
use shared::time::Ticks;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

fn world(asteroids: usize, half: f32, ai_pilots: usize) -> Game {
    let config = GameConfig::new(asteroids, [half, half], 5);
    Game::new(GameConfig { resume_window: Ticks::ZERO, ai_pilots, ..config })
}

/// A store stand-in that keeps every change it is given.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<ScoreDelta>>>);

impl ScoreSink for Recorder {
    fn record(&self, delta: ScoreDelta) {
        self.0.lock().unwrap().push(delta);
    }
}

/// One tick as the loop runs it, with `sink` as the store; panics if an event was dropped.
fn tick(game: &mut Game, events: impl IntoIterator<Item = SimEvent>, sink: &Recorder) {
    game.tick(events, &Surroundings::default());
    let undelivered = game.deliver(Some(sink));
    assert_eq!(undelivered.dropped_events, 0, "no event is dropped (AI pilots' go nowhere, uncounted)");
}

fn join(game: &mut Game, name: &str, identity: Option<i64>, sink: &Recorder) -> Joined {
    let (reply, mut rx) = tokio::sync::oneshot::channel();
    tick(game, [SimEvent::Join { name: name.into(), identity, total_before: 0, arrival: None, reply }], sink);
    rx.try_recv().expect("joined within the tick")
}

/// Players that are AI pilots: every player but the humans.
fn ai_players(game: &Game, humans: &[&Joined]) -> usize {
    let frame = game.frame(Default::default());
    frame.players.keys().filter(|id| humans.iter().all(|h| h.player_id != **id)).count()
}

/// With 5 AI pilots and no humans, 5 AI ships appear and within a few seconds they have
/// fired (bullets fly, asteroids are hit), their points show in the leaderboard, marked AI,
/// not online, and the store hears nothing of them.
#[test]
fn ai_pilots_fly_and_fire_and_are_never_stored() {
    let sink = Recorder::default();
    let mut game = world(150, 1200.0, 5);
    let (mut bullets_seen, mut moved) = (0, false);
    let mut first: Option<Vec<(EntityId, Vec2)>> = None;
    for _ in 0..20 * TICK_HZ {
        tick(&mut game, [], &sink);
        let frame = game.frame(Default::default());
        bullets_seen = bullets_seen.max(frame.entities.iter().filter(|e| e.kind == EntityKind::Bullet).count());
        let ships: Vec<(EntityId, Vec2)> =
            frame.entities.iter().filter(|e| e.kind == EntityKind::Ship).map(|e| (e.id, e.state.body().pos)).collect();
        match &first {
            None if ships.len() == 5 => first = Some(ships),
            Some(before) => {
                moved |= before.iter().any(|(id, p)| ships.iter().any(|(j, q)| j == id && p.distance(*q) > 50.0));
            }
            None => {}
        }
    }
    assert!(first.is_some(), "five AI ships appeared");
    assert_eq!(ai_players(&game, &[]), 5);
    assert!(moved, "AI ships fly");
    assert!(bullets_seen > 0, "AI ships fire");
    let board = game.frame(Default::default()).leaderboard.board();
    assert_eq!(board.online, 0, "AI pilots are not humans online");
    assert_eq!(board.top.len(), 5, "{board:?}");
    assert!(board.top.iter().all(|e| e.ai && e.name.starts_with("AI ")), "{board:?}");
    assert!(board.top.iter().any(|e| e.points > 0), "AI pilots hit asteroids and score: {board:?}");
    assert!(sink.0.lock().unwrap().is_empty(), "the store never sees an AI pilot's score");
}

/// Humans take AI pilots' places: with 5 configured, 3 humans leave room for 2 AI pilots, and
/// when the humans leave the AI pilots come back (their ships leave and enter through the
/// entity table: the ship count follows).
#[test]
fn humans_take_the_places_of_ai_pilots() {
    let sink = Recorder::default();
    let mut game = world(0, 2000.0, 5);
    let settle = |game: &mut Game| (0..30).for_each(|_| tick(game, [], &sink));
    settle(&mut game);
    assert_eq!(ai_players(&game, &[]), 5);
    let humans: Vec<Joined> = ["Ada", "Bob", "Cy"].iter().map(|n| join(&mut game, n, None, &sink)).collect();
    settle(&mut game);
    let refs: Vec<&Joined> = humans.iter().collect();
    assert_eq!(ai_players(&game, &refs), 2, "three humans took three places");
    assert!(game.census().0 <= 5, "ships of removed AI pilots are gone");
    for h in &humans {
        tick(&mut game, [SimEvent::Leave { player: h.player_id, session: h.session, resumable: false }], &sink);
    }
    settle(&mut game);
    assert_eq!(ai_players(&game, &[]), 5, "back to five when the humans left");
    assert_eq!(game.frame(Default::default()).players.len(), 5);
}

/// An AI pilot and a human fight by the same rules: the AI pilot's bullets destroy the human's
/// (unshielded) ship, credited to it by name, and the human's bullets destroy the AI's ship, a
/// kill for the human. The human's kills reach the store; the AI pilot's never do.
#[test]
fn ai_pilots_kill_and_are_killed_by_the_rules() {
    let sink = Recorder::default();
    let mut game = world(0, 500.0, 2); // less the one human: one AI pilot
    let mut me = join(&mut game, "Hunter", Some(42), &sink);
    let (mut killed_by_ai, mut kills) = (false, 0);
    for t in 0..60 * TICK_HZ {
        // A plain aimbot: turn toward the other ship and fire when roughly aligned.
        let frame = game.frame(Default::default());
        let mine = frame.players[&me.player_id].ship.and_then(|id| frame.entity(id)).map(|e| e.state.body());
        let other = frame
            .entities
            .iter()
            .find(|e| e.kind == EntityKind::Ship && Some(e.id) != frame.players[&me.player_id].ship)
            .map(|e| e.state.body().pos);
        let mut input = Input { seq: t + 1, tick: 0, thrust: false, turn: 0, fire: false };
        if let (Some(body), Some(target)) = (mine, other) {
            let nose = body.rot.normalize_or(Vec2::X);
            let want = (target - body.pos).normalize_or(nose);
            let angle = nose.perp_dot(want).atan2(nose.dot(want));
            input.turn = if angle.abs() < 0.05 { 0 } else { angle.signum() as i8 };
            input.fire = angle.abs() < 0.15;
        }
        tick(&mut game, [SimEvent::Input { player: me.player_id, session: me.session, input }], &sink);
        while let Ok(event) = me.events.try_recv() {
            match event {
                GameEvent::ShipDestroyed { cause: DeathCause::Shot { by }, .. } => {
                    assert!(by.starts_with("AI "), "shot by {by}");
                    killed_by_ai = true;
                }
                GameEvent::Score(s) => kills = s.kills,
                _ => {}
            }
        }
        if killed_by_ai && kills > 0 {
            break;
        }
    }
    assert!(killed_by_ai, "the AI pilot shot the human");
    assert!(kills > 0, "the human shot the AI pilot");
    let stored = sink.0.lock().unwrap();
    assert!(stored.iter().all(|d| d.identity == 42), "only the human's changes are stored: {stored:?}");
    assert!(stored.iter().any(|d| d.kills > 0) && stored.iter().any(|d| d.deaths > 0));
}

/// Over the real server and socket, with `ai_pilots: 10` and one human: within a few seconds
/// the human's snapshots show ships that are not its own, and bullets it did not fire, and the
/// leaderboard lists AI pilots marked as such while counting one human online.
#[tokio::test]
async fn a_lone_human_sees_ai_pilots_fly_and_fire() {
    let config = Config { ai_pilots: 10, asteroids: 100, arena_size: Some(1600.0), ..small_world() };
    let server = start_server(config).await;
    let (mut c, welcome) = Client::join(server.local_addr(), "Lonely").await.unwrap();
    c.view([0.0, 0.0], [2560.0, 1600.0]).await.unwrap();
    let (mut ships, mut bullets): (HashSet<EntityId>, usize) = (HashSet::new(), 0);
    let mut ai_on_board = false;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while (ships.is_empty() || bullets == 0 || !ai_on_board) && tokio::time::Instant::now() < deadline {
        match c.recv().await.unwrap() {
            ServerMsg::Snapshot(s) => {
                for e in s.entered {
                    match e.kind {
                        EntityKind::Ship if e.id != welcome.ship_id => _ = ships.insert(e.id),
                        EntityKind::Bullet => bullets += 1, // the human never fires
                        _ => {}
                    }
                }
            }
            ServerMsg::TopOnline(top) => ai_on_board = top.iter().any(|e| e.ai && e.name.starts_with("AI ")),
            ServerMsg::World(w) => assert!(w.online <= 1, "AI pilots are not counted online: {w:?}"),
            _ => {}
        }
    }
    assert!(!ships.is_empty(), "AI ships are in view");
    assert!(bullets > 0, "AI ships fire");
    assert!(ai_on_board, "the leaderboard lists AI pilots, marked");
    let (status, body) = http_get(server.local_addr(), "/api/leaderboard", None).await.unwrap();
    assert_eq!(status, 200);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(json["online"].as_array().unwrap().iter().any(|e| e["ai"] == true), "{json}");
}
