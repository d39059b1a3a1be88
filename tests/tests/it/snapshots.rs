//! Diffed snapshots: a client that applies every snapshot it receives holds exactly the
//! server's quantized state of every entity in its view, and nothing else.

use asteroids_server::net::interest::{anchored, follow, view_step, Interest};
use asteroids_server::sim::frame::Frame;
use asteroids_server::sim::{Game, GameConfig, SimEvent, Surroundings};
use asteroids_tests::*;
use shared::kinematics::Kinematics;
use shared::protocol::{EntityId, EntityKind, GameEvent, Input, ServerMsg, ViewRect};
use shared::quant::QState;
use shared::replica::{Known, Replica};
use shared::time::Ticks;
use std::collections::HashMap;

/// The entities of `frame` inside `view`, as a client should hold them.
fn truth_in_view(frame: &Frame, view: &ViewRect) -> HashMap<EntityId, Known> {
    let mut want = HashMap::new();
    frame.query(view, |e| {
        want.insert(e.id, Known { kind: e.kind, state: e.state, appears_until: frame.tick + u32::from(e.appearing) });
    });
    want
}

/// What a client must hold of an entity at `tick`: its kind, its state, and how far it has
/// appeared (not the tick it was all there by, which a client that met it fully there never
/// learns).
fn seen(k: &Known, tick: u32) -> (EntityKind, QState, f32) {
    (k.kind, k.state, k.appeared(tick.into()))
}

/// Asserts the replica equals the server's truth exactly, with a readable first difference.
fn assert_exact(replica: &Replica, want: &HashMap<EntityId, Known>, tick: u32) {
    let have = replica.entities();
    for (id, w) in want {
        match have.get(id) {
            None => panic!("tick {tick}: entity {id} ({:?}) in view but unknown to the client", w.kind),
            Some(h) => assert_eq!(seen(h, tick), seen(w, tick), "tick {tick}: entity {id} differs (client, server)"),
        }
    }
    for id in have.keys() {
        assert!(want.contains_key(id), "tick {tick}: client still holds {id}, which is not in view");
    }
}

/// Over the real server and socket: a pilot thrusting, turning and firing while its view
/// alternately follows its ship and jumps across the field (the server serves the jump as far as
/// it keeps the ship in view) reconstructs the server's state bit for bit at every snapshot,
/// and entering and leaving the view produce enter and leave records.
#[tokio::test]
async fn client_reconstructs_server_state_exactly() {
    let server = start_server(small_world()).await;
    let (mut c, welcome) = Client::join(server.local_addr(), "Exact").await.unwrap();
    let kin = welcome.kinematics;
    let mut ship = welcome.ship_id;
    let jumps = [[900.0, 300.0], [-1500.0, 1500.0], [1800.0, -1800.0]];
    let size = [1920.0, 1080.0];
    let mut replica = Replica::new();
    let (mut entered, mut left, mut changed_ship, mut checked) = (0usize, 0usize, 0usize, 0usize);
    // The last view sent, and the one before it (the server may not have seen the newest yet).
    let mut sent = [ViewRect { center: welcome.ship_position, size }; 2];
    c.view(sent[0].center, size).await.unwrap();
    let mut ship_seen_at = welcome.ship_position;
    let mut seq = 0;
    let mut i = 0u32;
    let step = view_step(small_world().snapshot_hz);
    // The views the last snapshot may have been served (and their anchor).
    let mut possible: Vec<(ViewRect, [f32; 2])> = Vec::new();
    while checked < 150 {
        let snap = match c.recv().await.unwrap() {
            ServerMsg::Snapshot(s) => s,
            ServerMsg::Event(GameEvent::ShipSpawned { ship_id, position }) => {
                ship = ship_id;
                ship_seen_at = position;
                sent = [ViewRect { center: position, size }, sent[0]];
                c.view(position, size).await.unwrap();
                continue;
            }
            _ => continue,
        };
        i += 1;
        entered += snap.entered.len();
        left += snap.left.len();
        changed_ship += snap.changed.iter().filter(|u| u.id == ship).count();
        replica.apply(&snap, &kin).unwrap_or_else(|e| panic!("snapshot {i} could not be applied: {e}"));
        let frame = server.frame_at(snap.tick).unwrap_or_else(|| panic!("frame {} no longer kept", snap.tick));
        let anchor = frame.players[&welcome.player_id].anchor;
        // The view served: the newest or the one before it, anchored at the ship and moved a
        // bounded step from the view of the last snapshot (which may itself have been either).
        let mut served: Vec<ViewRect> = Vec::new();
        for asked in &sent {
            for last in possible.iter().copied().map(Some).chain(possible.is_empty().then_some(None)) {
                let (view, _) = follow(asked, anchor, last, step);
                if !served.contains(&view) {
                    served.push(view);
                }
            }
        }
        let matches = |v: &ViewRect| {
            let want = truth_in_view(&frame, v);
            want.len() == replica.entities().len()
                && want.iter().all(|(id, k)| replica.get(*id).map(|h| seen(h, snap.tick)) == Some(seen(k, snap.tick)))
        };
        let matching: Vec<ViewRect> = served.iter().copied().filter(|v| matches(v)).collect();
        if checked > 0 && matching.is_empty() {
            assert_exact(&replica, &truth_in_view(&frame, &served[0]), snap.tick);
        }
        possible = if matching.is_empty() { served } else { matching }.into_iter().map(|v| (v, anchor)).collect();
        possible.truncate(8);
        checked += 1;

        // Steer: follow the ship for 20 snapshots, then jump away for 10.
        let phase = i % 30;
        if let Some(k) = replica.get(ship) {
            ship_seen_at = k.state.position().into();
        }
        let center = if phase < 20 { ship_seen_at } else { jumps[(i / 30) as usize % jumps.len()] };
        if center != sent[0].center {
            sent = [ViewRect { center, size }, sent[0]];
            c.view(center, size).await.unwrap();
        }
        if i.is_multiple_of(4) {
            seq += 1;
            let step = i / 12 % 4;
            c.input(seq, step != 2, [1, 0, -1, 0][step as usize], i.is_multiple_of(8)).await.unwrap();
        }
    }
    assert!(entered > 100, "entities entered the view ({entered})");
    assert!(left > 50, "view jumps made entities leave ({left})");
    // Its lifetime depends on the asteroids it meets, so only a few control changes are
    // certain; that each one arrived exactly is what `assert_exact` proved above.
    assert!(changed_ship >= 3, "the piloted ship's new controls were sent as changes ({changed_ship})");
    server.shutdown().await;
}

/// A view larger than the maximum is clamped, and kept around the player's ship: nothing
/// outside the clamped rectangle, as served, is ever sent, in `entered` or in `changed`.
#[tokio::test]
async fn nothing_outside_the_clamped_view_is_sent() {
    let server = start_server(small_world()).await;
    let (mut c, w) = Client::join(server.local_addr(), "Greedy").await.unwrap();
    let asked = ViewRect { center: [100.0, -200.0], size: [50_000.0, 50_000.0] };
    c.view(asked.center, asked.size).await.unwrap();
    let clamped = asked.clamped(w.max_view_size);
    assert_eq!(clamped.size, shared::constants::MAX_VIEW_SIZE);
    let mut sent = 0;
    for _ in 0..40 {
        let snap = c.snapshot().await.unwrap();
        let frame = server.frame_at(snap.tick).expect("frame kept");
        let served = anchored(&clamped, frame.players[&w.player_id].anchor);
        for e in &snap.entered {
            assert!(served.contains(e.state.position().into()), "entered {} at {:?}", e.id, e.state.position());
        }
        for e in &snap.changed {
            assert!(served.contains(e.state.position().into()), "changed {} at {:?}", e.id, e.state.position());
        }
        sent += snap.entered.len();
    }
    let whole_world = server.latest_frame().entities.len();
    assert!(sent > 0 && sent < whole_world, "sent {sent} of {whole_world} entities");
    server.shutdown().await;
}

/// Regression (map hack: one connection cycling 12 views across the field found every ship in
/// 3 s): whatever views a client asks for, it is sent only what lies in a view that contains
/// its own ship, so it never learns where distant ships are; the moved views are counted.
#[tokio::test]
async fn far_views_show_only_the_players_surroundings() {
    let config = asteroids_server::Config { admin_token: Some("views-test-token".into()), ..small_world() };
    let server = start_server(config).await;
    let addr = server.local_addr();
    let (mut spy, w) = Client::join(addr, "Spy").await.unwrap();
    let half = server.latest_frame().entities.iter().fold(0f32, |m, e| m.max(e.state.position().x.abs()));
    let size = [1920.0, 1080.0];
    let (mut snapshots, mut outside_asked) = (0, 0);
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_secs(3) {
        let i = snapshots as f32;
        let asked = ViewRect { center: [(i * 2.4).cos() * half, (i * 1.7).sin() * half], size };
        spy.view(asked.center, asked.size).await.unwrap();
        let snap = spy.snapshot().await.unwrap();
        let frame = server.frame_at(snap.tick).expect("frame kept");
        // Whatever view is served contains the ship: it lies within a view's size of it.
        let anchor = frame.players[&w.player_id].anchor;
        let around = ViewRect { center: anchor, size: [size[0] * 2.0, size[1] * 2.0] };
        for p in snap.entered.iter().map(|e| e.state.position()).chain(snap.changed.iter().map(|e| e.state.position()))
        {
            assert!(around.contains(p.into()), "sent an entity at {p:?}, outside {around:?}");
            outside_asked += !asked.contains(p.into()) as u32;
        }
        snapshots += 1;
    }
    assert!(snapshots > 20, "{snapshots} snapshots");
    assert!(outside_asked > 0, "the far views were not served as asked");
    let (_, body) = http_get(addr, "/admin/stats", Some("views-test-token")).await.unwrap();
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(doc["views_moved"].as_u64().unwrap() > 0, "{doc}");
    server.shutdown().await;
}

/// Regression (flipping the view multiplied egress: two views at the ends of the anchored
/// range, asked for in turn, made every snapshot a full view, 64 times the bytes): the served
/// view slides toward each at a bounded speed, so the flips enter a few strips, not a view
/// each time.
#[tokio::test]
async fn flipping_the_view_does_not_resend_it() {
    let config = asteroids_server::Config { admin_token: Some("flip-test-token".into()), ..small_world() };
    let server = start_server(config).await;
    let addr = server.local_addr();
    let (mut flipper, w) = Client::join(addr, "Flipper").await.unwrap();
    let size = [1920.0, 1080.0];
    let ship = w.ship_position;
    flipper.view(ship, size).await.unwrap();
    let mut full = 0;
    while full == 0 {
        full = flipper.snapshot().await.unwrap().entered.len();
    }
    let mut entered = 0;
    for i in 0..40 {
        let dx = if i % 2 == 0 { 950.0 } else { -950.0 };
        flipper.view([ship[0] + dx, ship[1]], size).await.unwrap();
        entered += flipper.snapshot().await.unwrap().entered.len();
    }
    assert!(entered < full * 10, "40 flips entered {entered} entities; a full view is {full}");
    let (_, body) = http_get(addr, "/admin/stats", Some("flip-test-token")).await.unwrap();
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(doc["views_held"].as_u64().unwrap() > 0, "{doc}");
    server.shutdown().await;
}

/// Skipped frames: a session that diffs only now and then (as a slow socket does) still
/// brings its client to the exact state, whatever happened in between. Driven tick by tick
/// on the real game and the real diff, with a pilot and random gaps of up to 2 s.
#[test]
fn baseline_survives_skipped_frames() {
    let mut game = Game::new(GameConfig { resume_window: Ticks::ZERO, ..GameConfig::new(300, [1500.0, 1500.0], 7) });
    let kin: Kinematics = *game.kinematics();
    let (reply, mut joined) = tokio::sync::oneshot::channel();
    game.tick(
        [SimEvent::Join { name: "Pilot".into(), identity: None, total_before: 0, arrival: None, reply }],
        &Surroundings::default(),
    );
    game.deliver(None);
    let joined = joined.try_recv().expect("joined");
    let (player, session) = (joined.player_id, joined.session);
    let mut interest = Interest::new();
    let mut replica = Replica::new();
    let mut rng = 0x9e3779b97f4a7c15u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut diffs = 0;
    let mut tick_of_next_diff = 1;
    for t in 1..3000u32 {
        let input =
            Input { seq: t, tick: 0, thrust: t % 200 < 120, turn: [1, 0, -1][(t / 50 % 3) as usize], fire: t % 7 == 0 };
        game.tick([SimEvent::Input { player, session, input }], &Surroundings::default());
        game.deliver(None);
        if t == tick_of_next_diff {
            tick_of_next_diff += 1 + (next() % 120) as u32;
            let frame = game.frame(Default::default());
            let view = ViewRect { center: [((t / 500) as f32 - 3.0) * 400.0, 0.0], size: [1920.0, 1080.0] };
            let snap = interest.diff(&frame, &view, Default::default()).expect("newer frame");
            replica.apply(&snap, &kin).expect("applies");
            assert_exact(&replica, &truth_in_view(&frame, &view), frame.tick);
            diffs += 1;
        }
    }
    assert!(diffs > 30, "{diffs} diffs");
}
