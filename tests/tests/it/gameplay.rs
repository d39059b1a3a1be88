//! The game's rules, on the real world (rapier and all), tick by tick.

use asteroids_server::sim::frame::{Frame, FrameEntity};
use asteroids_server::sim::{Game, GameConfig, Joined, SimEvent, Surroundings};
use glam::Vec2;
use shared::constants::SPAWN_PROTECTION;
use shared::protocol::{DeathCause, EntityKind, GameEvent, Input};
use shared::time::Ticks;

fn empty_world() -> Game {
    Game::new(GameConfig { resume_window: Ticks::ZERO, ..GameConfig::new(0, [2000.0, 2000.0], 3) })
}

/// One tick as the simulation loop runs it: the world's phases, then the delivery of what
/// they decided (no store here).
fn tick(game: &mut Game, events: impl IntoIterator<Item = SimEvent>) {
    game.tick(events, &Surroundings::default());
    game.deliver(None);
}

fn join(game: &mut Game, name: &str) -> Joined {
    join_with(game, name, None, 0)
}

/// Joins with an identity and all-time points, as the session would after the store.
fn join_with(game: &mut Game, name: &str, identity: Option<i64>, total_before: u32) -> Joined {
    let (reply, mut rx) = tokio::sync::oneshot::channel();
    tick(game, [SimEvent::Join { name: name.into(), identity, total_before, arrival: None, reply }]);
    rx.try_recv().expect("joined within the tick")
}

/// An input from `who`'s connection.
fn sent(who: &Joined, input: Input) -> SimEvent {
    SimEvent::Input { player: who.player_id, session: who.session, input }
}

fn ship(frame: &Frame, joined: &Joined) -> Option<FrameEntity> {
    frame.players[&joined.player_id].ship.and_then(|id| frame.entity(id)).copied()
}

fn drain(joined: &mut Joined) -> Vec<GameEvent> {
    let mut out = Vec::new();
    while let Ok(e) = joined.events.try_recv() {
        out.push(e);
    }
    out
}

/// A bullet splits a large asteroid into two medium ones and scores a hit for the shooter.
#[test]
fn shooting_splits_asteroids_and_scores() {
    let mut game = empty_world();
    let mut me = join(&mut game, "Gunner");
    let s = ship(&game.frame(Default::default()), &me).expect("ship");
    let nose = s.state.body().rot;
    let target = game.spawn_asteroid(EntityKind::AsteroidLarge, s.state.body().pos + nose * 200.0, Some(Vec2::ZERO));
    tick(&mut game, [sent(&me, Input { seq: 1, tick: 0, thrust: false, turn: 0, fire: true })]);
    tick(&mut game, [sent(&me, Input { seq: 2, tick: 0, thrust: false, turn: 0, fire: false })]);
    for _ in 0..30 {
        tick(&mut game, []);
    }
    let frame = game.frame(Default::default());
    assert!(frame.entity(target).is_none(), "the large asteroid was destroyed");
    let mediums = frame.entities.iter().filter(|e| e.kind == EntityKind::AsteroidMedium).count();
    assert_eq!(mediums, 2, "it split in two");
    let events = drain(&mut me);
    assert!(events.iter().any(|e| matches!(e, GameEvent::Score(s) if s.hits == 1 && s.points == 1)), "{events:?}");
}

/// Flying into an asteroid destroys the ship; a new one spawns after the respawn delay.
#[test]
fn asteroid_kills_ship_and_ship_respawns() {
    let mut game = empty_world();
    let mut me = join(&mut game, "Pilot");
    for _ in 0..SPAWN_PROTECTION.get() {
        tick(&mut game, []); // the spawn protection runs out
    }
    let s = ship(&game.frame(Default::default()), &me).expect("ship");
    assert!(!s.state.ctrl.shielded());
    let pos = s.state.body().pos;
    game.spawn_asteroid(EntityKind::AsteroidSmall, pos + Vec2::new(150.0, 0.0), Some(Vec2::new(-120.0, 0.0)));
    let mut died_at = None;
    for t in 0..400u32 {
        tick(&mut game, []);
        let events = drain(&mut me);
        for e in events {
            match e {
                GameEvent::ShipDestroyed { ship_id, cause, .. } => {
                    assert_eq!(ship_id, s.id);
                    assert_eq!(cause, DeathCause::Asteroid);
                    died_at = Some(t);
                }
                GameEvent::ShipSpawned { ship_id, .. } => {
                    let died = died_at.expect("spawned only after dying");
                    assert!(ship_id != s.id);
                    assert_eq!(t - died, shared::constants::RESPAWN_DELAY.get());
                    let frame = game.frame(Default::default());
                    assert!(ship(&frame, &me).is_some_and(|e| e.id == ship_id));
                    return;
                }
                GameEvent::Score(_) => {}
            }
        }
    }
    panic!("the ship never died and respawned (died at {died_at:?})");
}

/// A new ship is protected: an asteroid passes through it and its shield shows in its state
/// (`Ctrl::SHIELD`) until exactly `SPAWN_PROTECTION` after it spawned; a ship still
/// inside an asteroid when its protection ends is destroyed then (rapier reports a touch only
/// when it starts); firing ends the protection at once.
#[test]
fn spawn_protection_holds_for_its_time_or_until_the_pilot_fires() {
    let mut game = empty_world();
    let mut me = join(&mut game, "Newcomer");
    let spawned = game.tick_number();
    let s = ship(&game.frame(Default::default()), &me).expect("ship");
    assert!(s.state.ctrl.shielded(), "a new ship is shielded");
    let pos = s.state.body().pos;
    // A large rock that arrives within a second and is still over the ship when the shield
    // ends (64 + 14 units of overlap at 40 units a second: about four seconds inside).
    game.spawn_asteroid(EntityKind::AsteroidLarge, pos + Vec2::new(100.0, 0.0), Some(Vec2::new(-40.0, 0.0)));
    let mut died_at = None;
    while died_at.is_none() && game.tick_number() < spawned + 2 * SPAWN_PROTECTION {
        tick(&mut game, []);
        let t = game.tick_number();
        if let Some(s) = ship(&game.frame(Default::default()), &me) {
            assert_eq!(s.state.ctrl.shielded(), t < spawned + SPAWN_PROTECTION, "tick {t}");
        }
        if drain(&mut me).iter().any(|e| matches!(e, GameEvent::ShipDestroyed { cause: DeathCause::Asteroid, .. })) {
            died_at = Some(t);
        }
    }
    assert_eq!(died_at, Some(spawned + SPAWN_PROTECTION), "destroyed the tick its shield ended, not before");

    let mut game = empty_world();
    let me = join(&mut game, "Trigger");
    tick(&mut game, [sent(&me, Input { seq: 1, tick: 0, thrust: false, turn: 0, fire: true })]);
    let s = ship(&game.frame(Default::default()), &me).expect("ship");
    assert!(!s.state.ctrl.shielded(), "firing ends the protection");
    assert!(game.frame(Default::default()).entities.iter().any(|e| e.kind == EntityKind::Bullet), "and fires");
}

/// A shielded ship is not destroyed by another pilot's bullets, which pass through it (and
/// score nothing); once its shield is down, the same fire destroys it.
#[test]
fn bullets_pass_through_a_shielded_ship() {
    // A small arena: Alice is within range of Bob long before his shield is down.
    let mut game = Game::new(GameConfig { resume_window: Ticks::ZERO, ..GameConfig::new(0, [400.0, 400.0], 3) });
    let a = join(&mut game, "Alice");
    let mut b = join_with(&mut game, "Bob", None, 5);
    let bob_spawned = game.tick_number();
    let (mut died_at, mut aimed_while_shielded) = (None, 0);
    for seq in 1..=600 {
        let frame = game.frame(Default::default());
        let (Some(sa), Some(sb)) = (ship(&frame, &a), ship(&frame, &b)) else { break };
        let (pa, pb) = (sa.state.body(), sb.state.body());
        let to = (pb.pos - pa.pos).normalize();
        let aligned = pa.rot.dot(to) > 0.999;
        let turn = if aligned {
            0
        } else if pa.rot.perp_dot(to) > 0.0 {
            1
        } else {
            -1
        };
        let far = pa.pos.distance(pb.pos) > 300.0;
        let fire = aligned && !far;
        aimed_while_shielded += (fire && sb.state.ctrl.shielded()) as u32;
        tick(&mut game, [sent(&a, Input { seq, tick: 0, thrust: aligned && far, turn, fire })]);
        if drain(&mut b).iter().any(|e| matches!(e, GameEvent::ShipDestroyed { .. })) {
            died_at = Some(game.tick_number());
        }
    }
    assert!(
        aimed_while_shielded >= 30,
        "Alice fired at Bob, in range, during his protection ({aimed_while_shielded} ticks)"
    );
    let died_at = died_at.expect("Bob was shot once his shield was down");
    assert!(died_at >= bob_spawned + SPAWN_PROTECTION, "not before: died at {died_at}, spawned {bob_spawned}");
}

/// One player's bullet destroys another player's ship: a kill for the shooter, a death for
/// the target, with the shooter's name.
#[test]
fn shooting_a_ship_is_a_kill() {
    let mut game = empty_world();
    let mut a = join(&mut game, "Alice");
    // Bob has scored before (a pilot who never scored is worth no points: see
    // `sim::players::tests::farmed_kills_score_nothing`).
    let mut b = join_with(&mut game, "Bob", None, 5);
    // Turn Alice towards Bob, close in to within bullet range, fire.
    for seq in 1..=600 {
        let frame = game.frame(Default::default());
        let (Some(sa), Some(sb)) = (ship(&frame, &a), ship(&frame, &b)) else { break };
        let (pa, pb) = (sa.state.body(), sb.state.body());
        let to = (pb.pos - pa.pos).normalize();
        let cross = pa.rot.perp_dot(to);
        let turn = if pa.rot.dot(to) > 0.999 {
            0
        } else if cross > 0.0 {
            1
        } else {
            -1
        };
        let aligned = pa.rot.dot(to) > 0.999;
        let far = pa.pos.distance(pb.pos) > 500.0;
        let input = Input { seq, tick: 0, thrust: aligned && far, turn, fire: aligned && !far };
        tick(&mut game, [sent(&a, input)]);
    }
    let eb = drain(&mut b);
    assert!(
        eb.iter()
            .any(|e| matches!(e, GameEvent::ShipDestroyed { cause: DeathCause::Shot { by }, .. } if by == "Alice")),
        "{eb:?}"
    );
    let ea = drain(&mut a);
    assert!(ea.iter().any(|e| matches!(e, GameEvent::Score(s) if s.kills == 1 && s.points >= 10)), "{ea:?}");
    // While Bob waits for a new ship, his view follows the ship that shot him (served around
    // it), named for his page; Alice, the only one flying, is also the featured pilot.
    let frame = game.frame(Default::default());
    let alice = ship(&frame, &a).expect("Alice flies");
    let bob = &frame.players[&b.player_id];
    assert_eq!((bob.ship, bob.watching), (None, Some(alice.id)));
    assert_eq!(bob.anchor, <[f32; 2]>::from(alice.state.position()));
    assert!(frame.watched.iter().any(|w| w.ship == alice.id && w.name == "Alice"), "{:?}", frame.watched);
    assert_eq!(frame.featured.as_ref().map(|f| (f.ship, f.name.as_str())), Some((alice.id, "Alice")));
    assert_eq!(frame.players[&a.player_id].watching, None, "a pilot with a ship watches nothing");
}

/// The featured pilot (whom spectators follow) is the best-scoring pilot flying; a tie keeps
/// the one featured, and one whose ship is gone is replaced at once.
#[test]
fn the_featured_pilot_leads_and_is_replaced_when_gone() {
    let mut game = empty_world();
    let a = join_with(&mut game, "Ann", None, 0);
    let b = join_with(&mut game, "Ben", None, 0);
    for _ in 0..60 {
        tick(&mut game, []);
    }
    let featured = |game: &Game| game.frame(Default::default()).featured.map(|f| f.name);
    assert_eq!(featured(&game).as_deref(), Some("Ann"), "a tie: the first to join");
    // Ben scores: at the next leaderboard second he is featured.
    let ben_ship = ship(&game.frame(Default::default()), &b).unwrap();
    let nose = ben_ship.state.body().rot;
    game.spawn_asteroid(EntityKind::AsteroidLarge, ben_ship.state.body().pos + nose * 150.0, Some(Vec2::ZERO));
    tick(&mut game, [sent(&b, Input { seq: 1, tick: 0, thrust: false, turn: 0, fire: true })]);
    for _ in 0..61 {
        tick(&mut game, []);
    }
    assert_eq!(featured(&game).as_deref(), Some("Ben"), "the one with points");
    // Ben leaves: Ann is featured at once, not a second later.
    tick(&mut game, [SimEvent::Leave { player: b.player_id, session: b.session, resumable: false }]);
    assert_eq!(featured(&game).as_deref(), Some("Ann"));
    let _ = a;
}

/// Many inputs within one tick: only the newest applies (one per ship per tick).
#[test]
fn at_most_one_input_per_tick_latest_wins() {
    let mut game = empty_world();
    let me = join(&mut game, "Flooder");
    let inputs: Vec<SimEvent> = (1..=10u32)
        .map(|seq| {
            sent(&me, Input { seq, tick: 0, thrust: seq % 2 == 1, turn: if seq == 10 { -1 } else { 1 }, fire: false })
        })
        .collect();
    tick(&mut game, inputs);
    let frame = game.frame(Default::default());
    assert_eq!(frame.players[&me.player_id].ack.seq, 10);
    let ctrl = ship(&frame, &me).unwrap().state.ctrl;
    assert!(!ctrl.thrust() && ctrl.turn() == -1, "only input 10 (no thrust, turning right) applied: {ctrl:?}");
}

/// An input numbered far in the future is ignored (it would otherwise lock out every honest
/// input after it); the honest sequence carries on.
#[test]
fn future_input_sequence_numbers_are_ignored() {
    use asteroids_server::sim::MAX_INPUT_SEQ_JUMP;
    let mut game = empty_world();
    let me = join(&mut game, "Forger");
    let input = |seq, thrust| sent(&me, Input { seq, tick: 0, thrust, turn: 0, fire: false });
    tick(&mut game, [input(5, false)]);
    tick(&mut game, [input(5 + MAX_INPUT_SEQ_JUMP + 1, true)]);
    let frame = game.frame(Default::default());
    assert_eq!(frame.players[&me.player_id].ack.seq, 5, "the forged number was ignored");
    assert!(!ship(&frame, &me).unwrap().state.ctrl.thrust());
    tick(&mut game, [input(6, true)]);
    let frame = game.frame(Default::default());
    assert_eq!(frame.players[&me.player_id].ack.seq, 6);
    assert!(ship(&frame, &me).unwrap().state.ctrl.thrust(), "honest inputs still apply");
}

/// Replayed and stale input sequence numbers are ignored: the newest input holds.
#[test]
fn stale_inputs_are_ignored() {
    let mut game = empty_world();
    let me = join(&mut game, "Replayer");
    let input = |seq, thrust| sent(&me, Input { seq, tick: 0, thrust, turn: 0, fire: false });
    tick(&mut game, [input(10, true), input(5, false), input(10, false)]);
    let frame = game.frame(Default::default());
    assert_eq!(frame.players[&me.player_id].ack.seq, 10);
    assert!(ship(&frame, &me).unwrap().state.ctrl.thrust(), "seq 10 (thrust) held; 5 and the replayed 10 ignored");
}

/// Regression: despawned entities took their colliders with them. (Removing bodies while
/// keeping their colliders left thousands of invisible static colliders behind: ghost
/// collisions, and a tick that grew slower by the minute.)
#[test]
fn despawned_entities_leave_no_collider_behind() {
    let mut game = Game::new(GameConfig { resume_window: Ticks::ZERO, ..GameConfig::new(200, [1500.0, 1500.0], 9) });
    let mut pilots: Vec<Joined> = (0..5).map(|i| join(&mut game, &format!("p{i}"))).collect();
    for t in 1..=900u32 {
        let events: Vec<SimEvent> = pilots
            .iter()
            .map(|p| {
                sent(
                    p,
                    Input { seq: t, tick: 0, thrust: t % 120 < 60, turn: if t % 90 < 30 { 1 } else { 0 }, fire: true },
                )
            })
            .collect();
        tick(&mut game, events);
        let (bodies, colliders) = game.physics_census();
        assert_eq!(bodies, 0, "tick {t}: entities are colliders, moved by the shared model");
        assert_eq!(colliders, game.entity_count(), "tick {t}: colliders");
    }
    let (_, _, bullets) = game.census();
    assert!(bullets > 0, "bullets were flying");
    let deaths_or_hits = pilots.iter_mut().flat_map(drain).count();
    assert!(deaths_or_hits > 0, "things were hit and removed");
}

/// Cheats: holding fire yields at most one shot per cooldown, and thrusting forever never
/// exceeds the top speed (both enforced by the server whatever the client sends).
#[test]
fn fire_rate_and_top_speed_are_enforced() {
    use shared::constants::FIRE_COOLDOWN;
    let mut game = empty_world();
    let me = join(&mut game, "Cheater");
    for seq in 1..=60u32 {
        // A new input every tick, fire held: the client asks for a shot every tick.
        let input = Input { seq, tick: 0, thrust: false, turn: 0, fire: true };
        tick(&mut game, [sent(&me, input)]);
    }
    let (_, _, bullets) = game.census();
    assert!(bullets as u32 <= 60 / FIRE_COOLDOWN.get() + 1, "{bullets} bullets in 60 ticks");
    assert!(bullets >= 4, "it did fire ({bullets})");
    let max_speed = game.kinematics().ship_max_speed;
    for seq in 61..=900u32 {
        let input = Input { seq, tick: 0, thrust: true, turn: 0, fire: false };
        tick(&mut game, [sent(&me, input)]);
        let frame = game.frame(Default::default());
        if let Some(s) = ship(&frame, &me) {
            let speed = s.state.body().vel.length();
            assert!(speed <= max_speed + 1e-3, "tick {seq}: speed {speed} over {max_speed}");
        }
    }
}

/// A player whose connection dropped waits for its pilot as a ghost: rocks pass through its
/// ship, it is not counted online, and once resumed the ship is solid again. A connection
/// closed for abuse leaves no ghost at all.
#[test]
fn waiting_ships_are_ghosts_and_abusers_leave_none() {
    let mut game = Game::new(GameConfig::new(0, [2000.0, 2000.0], 5)); // the default 10 s window
    let me = join_with(&mut game, "Id1", Some(1), 0);
    let leave = |who: &Joined, resumable| SimEvent::Leave { player: who.player_id, session: who.session, resumable };
    tick(&mut game, [leave(&me, true)]);
    let pos = ship(&game.frame(Default::default()), &me).expect("the ship waits").state.body().pos;
    game.spawn_asteroid(EntityKind::AsteroidLarge, pos + Vec2::new(150.0, 0.0), Some(Vec2::new(-100.0, 0.0)));
    for _ in 0..240 {
        tick(&mut game, []); // the rock drifts through where the ship is, and past it
    }
    assert!(ship(&game.frame(Default::default()), &me).is_some(), "nothing touched the waiting ship");
    assert_eq!(game.frame(Default::default()).leaderboard.world.value.online, 0, "a waiting player is not online");

    let mut back = join_with(&mut game, "Id1", Some(1), 0);
    assert_eq!((back.player_id, back.ship_id), (me.player_id, me.ship_id));
    let pos = ship(&game.frame(Default::default()), &back).expect("resumed").state.body().pos;
    game.spawn_asteroid(EntityKind::AsteroidSmall, pos + Vec2::new(100.0, 0.0), Some(Vec2::new(-100.0, 0.0)));
    let mut destroyed = false;
    for _ in 0..120 {
        tick(&mut game, []);
        destroyed |= drain(&mut back).iter().any(|e| matches!(e, GameEvent::ShipDestroyed { .. }));
    }
    assert!(destroyed, "the resumed ship is solid again");

    let abuser = join_with(&mut game, "Id2", Some(2), 0);
    tick(&mut game, [leave(&abuser, false)]);
    let frame = game.frame(Default::default());
    assert!(!frame.players.contains_key(&abuser.player_id) && frame.entity(abuser.ship_id).is_none(), "no ghost");
}

/// A revoke removes the identity's player at once, live or waiting (no ghost), and dismisses
/// its connection as revoked; a join of the identity that reaches the world after the revoke
/// (its Hello was answered just before) is dismissed the same way, and other players stay.
#[test]
fn a_revoke_removes_the_player_and_dismisses_its_connections() {
    use asteroids_server::sim::Dismissal;
    let mut game = Game::new(GameConfig::new(0, [2000.0, 2000.0], 5)); // the default 10 s window
    let mut live = join_with(&mut game, "Live", Some(1), 0);
    let waiting = join_with(&mut game, "Waiting", Some(2), 0);
    let other = join_with(&mut game, "Other", Some(3), 0);
    tick(&mut game, [SimEvent::Leave { player: waiting.player_id, session: waiting.session, resumable: true }]);
    assert!(game.frame(Default::default()).entity(waiting.ship_id).is_some(), "a ghost waits");
    tick(&mut game, [SimEvent::Revoke { identity: 1 }, SimEvent::Revoke { identity: 2 }]);
    assert_eq!(live.dismissed.try_recv(), Ok(Dismissal::Revoked));
    let frame = game.frame(Default::default());
    for gone in [&live, &waiting] {
        assert!(!frame.players.contains_key(&gone.player_id) && frame.entity(gone.ship_id).is_none(), "no ghost");
    }
    assert!(frame.players.contains_key(&other.player_id));
    let mut late = join_with(&mut game, "Live", Some(1), 0);
    assert_eq!(late.dismissed.try_recv(), Ok(Dismissal::Revoked), "a join after the revoke is dismissed");
    assert!(!game.frame(Default::default()).players.contains_key(&late.player_id));
}

/// An asteroid's collider may lag up to `ASTEROID_DRIFT` behind it (its skin still holds it),
/// yet a ship it drifts into is destroyed at exactly the tick their balls first overlap as
/// every client computes them, never earlier (the skin met long before) and never later.
#[test]
fn an_asteroid_touches_where_it_is_not_where_its_collider_lags() {
    use asteroids_server::sim::physics::ASTEROID_SKIN;
    use shared::quant::QState;
    let mut game = empty_world();
    let mut me = join(&mut game, "Pilot");
    for _ in 0..SPAWN_PROTECTION.get() {
        tick(&mut game, []);
    }
    let s = ship(&game.frame(Default::default()), &me).expect("ship");
    let kin = *game.kinematics();
    let reach = EntityKind::Ship.radius() + EntityKind::AsteroidSmall.radius();
    // 20 units/s: a third of a unit a tick, so its collider moves only every ~22 ticks.
    let start = s.state.body().pos + Vec2::new(reach + 1.5 * ASTEROID_SKIN, 0.0);
    let rock = game.spawn_asteroid(EntityKind::AsteroidSmall, start, Some(Vec2::new(-20.0, 0.0)));
    let next = |state: QState, kind: EntityKind| {
        let mut body = state.body();
        kin.step(&mut body, kind, state.ctrl);
        kin.post_step(&mut body, kind);
        QState::from_body(&body, state.ctrl).position()
    };
    for t in 0..300 {
        let frame = game.frame(Default::default());
        let (ship_now, rock_now) = (frame.entity(s.id).expect("alive").state, frame.entity(rock).expect("there").state);
        let (ship_next, rock_next) = (next(ship_now, EntityKind::Ship), next(rock_now, EntityKind::AsteroidSmall));
        let meet = ship_next.distance_squared(rock_next) <= reach * reach;
        tick(&mut game, []);
        let died = drain(&mut me).iter().any(|e| matches!(e, GameEvent::ShipDestroyed { .. }));
        assert_eq!(died, meet, "tick {t}: destroyed {died}, balls overlapping {meet}");
        if died {
            assert!(t > 30, "the test had the skin meet the ship long before the asteroid did (tick {t})");
            return;
        }
    }
    panic!("the asteroid never reached the ship");
}

/// A bullet that passes through an asteroid's skin but not the asteroid misses it; one that
/// grazes the asteroid itself splits it.
#[test]
fn a_bullet_through_the_skin_alone_misses() {
    use asteroids_server::sim::physics::ASTEROID_SKIN;
    for (offset, hit) in [(ASTEROID_SKIN / 2.0, false), (-2.0, true)] {
        let mut game = empty_world();
        let me = join(&mut game, "Gunner");
        let s = ship(&game.frame(Default::default()), &me).expect("ship");
        let (pos, nose) = (s.state.body().pos, s.state.body().rot);
        let side = EntityKind::AsteroidLarge.radius() + EntityKind::Bullet.radius() + offset;
        let at = pos + nose * 200.0 + nose.perp() * side;
        let target = game.spawn_asteroid(EntityKind::AsteroidLarge, at, Some(Vec2::ZERO));
        tick(&mut game, [sent(&me, Input { seq: 1, tick: 0, thrust: false, turn: 0, fire: true })]);
        tick(&mut game, [sent(&me, Input { seq: 2, tick: 0, thrust: false, turn: 0, fire: false })]);
        for _ in 0..40 {
            tick(&mut game, []);
        }
        let frame = game.frame(Default::default());
        assert_eq!(frame.entity(target).is_none(), hit, "a bullet {offset} units beyond the asteroid's edge");
    }
}
