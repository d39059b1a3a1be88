//! `asteroids-bench`: the core's numbers, measured on the real game and diff code (no sockets).
//!
//! 1. Tick time: the world with N asteroids and 100 piloted ships, stepped as fast as possible;
//!    every tick is timed, including building the published frame on snapshot ticks.
//!    `--ai-pilots N`: the world filled with N AI pilots instead (with `--ships`, beside the
//!    piloted ships); the `pilots` phase is their cost.
//! 2. Downlink: one client flying through a 10,000-asteroid field; every snapshot tick its
//!    diff is encoded exactly as a session does, and compared with encoding the full state of
//!    the same view. WebSocket framing (2 or 4 header bytes per server message) is included.
//!
//! 3. Fan-out (`--only fanout [--clients N]`): N pilots, each with a session's diff against its
//!    own view around its ship; every snapshot tick every diff is computed and encoded exactly
//!    as the sessions do (the network path's work before the socket), on one thread, and the
//!    time per snapshot is reported.
//!
//! 4. Idle life (`--only idle-life`): the default world (its asteroid count, arena and AI
//!    pilots) with 40 pilots who never touch a key, for 60 simulated seconds, with and without
//!    spawn protection: how long a new ship lives before anything destroys it.
//!
//! Run: `cargo run --release -p asteroids-server --bin asteroids-bench [-- --quick] [--only tick|downlink|fanout]`

use asteroids_server::net::interest::Interest;
use asteroids_server::sim::frame::SimTiming;
use asteroids_server::sim::{is_snapshot_tick, Game, GameConfig, SimEvent, Surroundings, PHASES};
use asteroids_server::Config;
use shared::codec::{encode_server, ws_frame_len};
use shared::constants::{DEFAULT_SNAPSHOT_HZ, TICK_HZ};
use shared::protocol::{Input, PlayerId, ServerMsg, Snapshot, ViewRect};
use shared::time::Ticks;
use std::time::Instant;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    shared::stats::percentile(sorted, p).unwrap_or(0.0)
}

fn world(asteroids: usize, seed: u64, ai_pilots: usize) -> Game {
    let config = Config { asteroids, ..Config::default() };
    let game = GameConfig::new(asteroids, config.arena_half_size(), seed);
    Game::new(GameConfig { resume_window: Ticks::ZERO, ai_pilots, ..game })
}

/// One tick as the simulation loop runs it: the world's phases, then the outbox's delivery
/// (there is no store here).
fn tick(game: &mut Game, events: impl IntoIterator<Item = SimEvent>) {
    game.tick(events, &Surroundings::default());
    game.deliver(None);
}

/// A pilot: its player and its connection.
type Pilot = (PlayerId, u64);

fn join(game: &mut Game, name: &str) -> Pilot {
    let (reply, mut rx) = tokio::sync::oneshot::channel();
    tick(game, [SimEvent::Join { name: name.into(), identity: None, total_before: 0, arrival: None, reply }]);
    let joined = rx.try_recv().expect("joined in the same tick");
    (joined.player_id, joined.session)
}

/// A pilot that thrusts most of the time, weaves, and fires.
fn autopilot((player, session): Pilot, tick: u32, phase: u32, for_tick: u32) -> SimEvent {
    let t = tick + phase * 37;
    let input = Input {
        seq: tick,
        tick: for_tick,
        thrust: t % 240 < 180,
        turn: [0, 1, 0, -1][(t / 60 % 4) as usize],
        fire: t % 20 < 10 && std::env::var_os("BENCH_NO_FIRE").is_none(),
    };
    SimEvent::Input { player, session, input }
}

fn tick_time(asteroids: usize, ships: u32, ai_pilots: usize, ticks: u32) {
    let mut game = world(asteroids, 11, ai_pilots);
    let players: Vec<Pilot> = (0..ships).map(|i| join(&mut game, &format!("bot{i}"))).collect();
    // AI pilots join one per tick: the warm-up lets them all in, so the run measures them flying.
    let warmup = 120.max(ai_pilots as u32 + 60);
    for t in 0..warmup {
        let next = game.tick_number() + 1;
        tick(&mut game, players.iter().map(|&p| autopilot(p, t, p.0, next)));
    }
    let mut samples = Vec::with_capacity(ticks as usize);
    let mut phase_totals = [0.0f64; PHASES.len()];
    let (mut frame_total, mut frames) = (0.0f64, 0u32);
    for t in warmup..warmup + ticks {
        let started = Instant::now();
        let next = game.tick_number() + 1;
        tick(&mut game, players.iter().map(|&p| autopilot(p, t, p.0, next)));
        if is_snapshot_tick(game.tick_number(), DEFAULT_SNAPSHOT_HZ) {
            let built = Instant::now();
            std::hint::black_box(game.frame(SimTiming::default()));
            frame_total += built.elapsed().as_secs_f64() * 1000.0;
            frames += 1;
        }
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
        for (total, secs) in phase_totals.iter_mut().zip(game.phase_secs) {
            *total += secs as f64 * 1000.0;
        }
        if std::env::var_os("BENCH_WINDOWS").is_some() && (t + 1 - warmup) % 600 == 0 {
            let window = &samples[samples.len() - 600..];
            let (s, a, b) = game.census();
            eprintln!(
                "  window ending tick {}: mean {:.2} ms, ships {s} asteroids {a} bullets {b}, physics {:.2} ms",
                t,
                window.iter().sum::<f64>() / 600.0,
                game.phase_secs[PHASES.iter().position(|&p| p == "physics").expect("a phase")] * 1000.0
            );
        }
    }
    // `publish` is the loop's frame building, timed here as `frame_build` on snapshot ticks.
    let phases: Vec<String> = PHASES
        .iter()
        .zip(phase_totals)
        .filter(|(name, _)| **name != "publish")
        .map(|(name, total)| format!("{name}={:.3}", total / ticks as f64))
        .collect();
    println!(
        "tick_phases asteroids={asteroids} ai_pilots={ai_pilots} mean_ms: {} frame_build={:.3} (on {frames} snapshot ticks)",
        phases.join(" "),
        frame_total / frames.max(1) as f64
    );
    samples.sort_by(f64::total_cmp);
    let (s, a, b) = game.census();
    println!(
        "tick_time asteroids={asteroids} ships={s} live_asteroids={a} bullets={b} ticks={ticks} p50_ms={:.3} p99_ms={:.3} max_ms={:.3} budget_ms={:.3}",
        percentile(&samples, 0.5),
        percentile(&samples, 0.99),
        samples.last().copied().unwrap_or(0.0),
        1000.0 / TICK_HZ as f64,
    );
}

/// Bytes on the wire for one server message: payload plus the WebSocket frame header.
fn wire_len(snap: Snapshot) -> u64 {
    ws_frame_len(encode_server(&ServerMsg::Snapshot(snap)).len())
}

fn downlink(asteroids: usize, seconds: u32) {
    let mut game = world(asteroids, 23, 0);
    let others: Vec<Pilot> = (0..100).map(|i| join(&mut game, &format!("bot{i}"))).collect();
    let me = join(&mut game, "flyer");
    let mut interest = Interest::new();
    let (mut diff_bytes, mut full_bytes, mut snapshots, mut in_view, mut deaths) = (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut center = [0.0f32, 0.0];
    let mut had_ship = true;
    for t in 0..seconds * TICK_HZ {
        let next = game.tick_number() + 1;
        let events = others.iter().map(|&p| autopilot(p, t, p.0, next)).chain([autopilot(me, t, 0, next)]);
        tick(&mut game, events);
        if !is_snapshot_tick(game.tick_number(), DEFAULT_SNAPSHOT_HZ) {
            continue;
        }
        let frame = game.frame(SimTiming::default());
        let ship = frame.players[&me.0].ship.and_then(|id| frame.entity(id));
        if let Some(ship) = ship {
            center = ship.state.position().into();
        }
        if had_ship && ship.is_none() {
            deaths += 1;
        }
        had_ship = ship.is_some();
        let view = ViewRect { center, size: [1920.0, 1080.0] };
        let snap = interest.diff(&frame, &view, Default::default()).expect("frames advance");
        let full = Interest::full_state(&frame, &view);
        in_view += full.entered.len() as u64;
        diff_bytes += wire_len(snap);
        full_bytes += wire_len(full);
        snapshots += 1;
    }
    let secs = seconds as f64;
    println!(
        "downlink asteroids={asteroids} seconds={seconds} snapshots={snapshots} mean_entities_in_view={:.1} deaths={deaths} diff_bytes_per_sec={:.0} full_state_bytes_per_sec={:.0} ratio={:.1}",
        in_view as f64 / snapshots as f64,
        diff_bytes as f64 / secs,
        full_bytes as f64 / secs,
        full_bytes as f64 / diff_bytes.max(1) as f64,
    );
}

/// The sessions' share of a snapshot tick: N pilots, N diffs and encodings per snapshot tick.
fn fanout(asteroids: usize, clients: u32, seconds: u32) {
    let mut game = world(asteroids, 31, 0);
    let pilots: Vec<Pilot> = (0..clients).map(|i| join(&mut game, &format!("bot{i}"))).collect();
    // Each session: its diff state, its view's centre, and the acknowledgement its client has.
    let mut sessions: Vec<(Interest, [f32; 2], shared::protocol::InputAck)> =
        (0..clients).map(|_| (Interest::new(), [0.0, 0.0], Default::default())).collect();
    let warmup = 2 * TICK_HZ;
    let (mut secs, mut snapshots, mut bytes, mut entities) = (0.0f64, 0u64, 0u64, 0u64);
    let mut per_tick_us = Vec::new();
    for t in 0..warmup + seconds * TICK_HZ {
        let next = game.tick_number() + 1;
        tick(&mut game, pilots.iter().map(|&p| autopilot(p, t, p.0, next)));
        if !is_snapshot_tick(game.tick_number(), DEFAULT_SNAPSHOT_HZ) {
            continue;
        }
        let frame = game.frame(SimTiming::default());
        let ships: std::collections::HashMap<_, [f32; 2]> =
            frame.entities.iter().map(|e| (e.id, e.state.position().into())).collect();
        let started = Instant::now();
        let mut tick_bytes = 0u64;
        for (&(player, _), (interest, center, ack_sent)) in pilots.iter().zip(&mut sessions) {
            let pf = frame.players.get(&player).copied().unwrap_or_default();
            if let Some(&at) = pf.ship.and_then(|id| ships.get(&id)) {
                *center = at;
            }
            let view = ViewRect { center: *center, size: [1920.0, 1080.0] };
            let news = (pf.ack != *ack_sent).then_some(pf.ack);
            *ack_sent = pf.ack;
            let snap = interest.diff(&frame, &view, news).expect("frames advance");
            tick_bytes += std::hint::black_box(encode_server(&ServerMsg::Snapshot(snap))).len() as u64;
            if t >= warmup {
                entities += interest.known() as u64;
            }
        }
        let elapsed = started.elapsed().as_secs_f64();
        if t >= warmup {
            secs += elapsed;
            snapshots += clients as u64;
            bytes += tick_bytes;
            per_tick_us.push(elapsed * 1e6 / clients as f64);
        }
    }
    per_tick_us.sort_by(f64::total_cmp);
    println!(
        "fanout asteroids={asteroids} clients={clients} seconds={seconds} snapshots={snapshots} mean_entities_in_view={:.1} mean_payload_bytes={:.1} us_per_snapshot mean={:.3} p50={:.3} p99={:.3}",
        entities as f64 / snapshots.max(1) as f64,
        bytes as f64 / snapshots.max(1) as f64,
        secs * 1e6 / snapshots.max(1) as f64,
        percentile(&per_tick_us, 0.5),
        percentile(&per_tick_us, 0.99),
    );
}

/// How long idle ships live: `pilots` players who never send an input, in the default world
/// (asteroids, arena, AI pilots) with `protection` ticks of spawn protection, over `ticks`.
/// Every life is a sample; a ship still flying at the end counts with its age so far (its
/// life is at least that).
fn idle_life(pilots: u32, protection: Ticks, ticks: u32) {
    let defaults = Config::default();
    let game = GameConfig::new(defaults.asteroids, defaults.arena_half_size(), 21);
    let mut game = Game::new(GameConfig {
        ai_pilots: defaults.ai_pilots,
        spawn_protection: protection,
        resume_window: Ticks::ZERO,
        ..game
    });
    let mut joined = Vec::new();
    for i in 0..pilots {
        let (reply, mut rx) = tokio::sync::oneshot::channel();
        tick(
            &mut game,
            [SimEvent::Join { name: format!("idle{i}"), identity: None, total_before: 0, arrival: None, reply }],
        );
        joined.push(rx.try_recv().expect("joined in the same tick"));
    }
    let mut born: Vec<Option<u32>> = vec![Some(game.tick_number()); joined.len()];
    let mut lives: Vec<f64> = Vec::new();
    for _ in 0..ticks {
        tick(&mut game, []);
        let now = game.tick_number();
        for (j, b) in joined.iter_mut().zip(&mut born) {
            while let Ok(event) = j.events.try_recv() {
                match event {
                    shared::protocol::GameEvent::ShipDestroyed { .. } => {
                        if let Some(at) = b.take() {
                            lives.push(f64::from(now - at) / f64::from(TICK_HZ));
                        }
                    }
                    shared::protocol::GameEvent::ShipSpawned { .. } => *b = Some(now),
                    _ => {}
                }
            }
        }
    }
    let ended = lives.clone();
    let deaths = lives.len();
    let end = game.tick_number();
    let flying: Vec<f64> = born.iter().flatten().map(|&at| f64::from(end - at) / f64::from(TICK_HZ)).collect();
    lives.extend(&flying);
    lives.sort_by(f64::total_cmp);
    // Of the ships that either died or flew `secs`, the share that died first (a ship still
    // flying but younger than `secs` tells nothing either way).
    let within = |secs: f64| {
        let died = ended.iter().filter(|&&l| l < secs).count();
        let reached = ended.iter().chain(&flying).filter(|&&l| l >= secs).count();
        died as f64 / (died + reached).max(1) as f64
    };
    println!(
        "idle_life protection_s={:.1} pilots={pilots} ai_pilots_configured={} asteroids={} seconds={:.0} lives={} deaths={deaths} median_life_s={:.2} died_within_2s={:.1}% died_within_5s={:.1}%",
        protection.as_secs_f32(),
        defaults.ai_pilots,
        defaults.asteroids,
        f64::from(ticks) / f64::from(TICK_HZ),
        lives.len(),
        percentile(&lives, 0.5),
        100.0 * within(2.0),
        100.0 * within(5.0),
    );
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let ticks = if quick { 300 } else { 1800 };
    println!(
        "# asteroids-bench: {} cores, release={}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        !cfg!(debug_assertions)
    );
    let only = std::env::args().skip_while(|a| a != "--only").nth(1).unwrap_or_default();
    let ai_pilots =
        std::env::args().skip_while(|a| a != "--ai-pilots").nth(1).map_or(0, |n| n.parse().expect("--ai-pilots N"));
    if let Some(ships) = std::env::args().skip_while(|a| a != "--ships").nth(1) {
        let ships: u32 = ships.parse().expect("--ships N");
        tick_time(10_000, ships, ai_pilots, ticks);
        return;
    }
    if ai_pilots > 0 {
        // The AI pilots' cost: the world filled with them alone (the `pilots` phase).
        tick_time(10_000, 0, ai_pilots, ticks);
        return;
    }
    if only.is_empty() || only == "tick" {
        tick_time(10_000, 100, 0, ticks);
        tick_time(20_000, 100, 0, ticks);
    }
    if only == "idle-life" {
        for protection in [Ticks::ZERO, shared::constants::SPAWN_PROTECTION] {
            idle_life(40, protection, if quick { 1800 } else { 3600 });
        }
        return;
    }
    if only == "fanout" {
        let clients =
            std::env::args().skip_while(|a| a != "--clients").nth(1).map_or(2500, |c| c.parse().expect("--clients N"));
        fanout(10_000, clients, if quick { 5 } else { 20 });
        return;
    }
    if only.is_empty() || only == "downlink" {
        downlink(10_000, if quick { 20 } else { 120 });
    }
}
