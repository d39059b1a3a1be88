//! The game world: rapier bodies, the entity table, players, and the tick that advances them.
//!
//! [`Game::tick`] runs these phases, in this order (keep this list in sync with the code):
//!
//! 1. **inbound**: apply the events drained from sessions (join, leave, input);
//! 2. **intents**: turn each ship's latest input into a force and a spin, fire bullets;
//! 3. **physics**: step rapier once, with the fixed dt;
//! 4. **collisions**: resolve the collision events of that step (split asteroids, destroy
//!    ships and bullets, award score);
//! 5. **lifetimes**: expire bullets, respawn ships whose timer ran out;
//! 6. **snap**: apply the game's rules to every body, snap it to the wire grid, and record
//!    whether it still moves as `shared::kinematics` predicts (its *epoch*);
//! 7. **population**: keep the asteroid count up, spawning away from every ship.
//!
//! The caller ([`super::Simulation`]) then publishes a [`Frame`] on snapshot ticks.

use super::events::{Joined, SimEvent, PLAYER_EVENT_CAPACITY};
use super::physics;
use crate::frame::{Frame, FrameEntity, PlayerFrame, PublishedLeaderboard, SimTiming};
use glam::Vec2;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rapier2d::prelude::{ChannelEventCollector, CollisionEvent, PhysicsWorld, QueryFilter, RigidBodyHandle, Shape};
use shared::constants::{ASTEROID_RADII, LEADERBOARD_INTERVAL_TICKS, LEADERBOARD_SIZE, MAX_VIEW_SIZE, SHIP_RADIUS};
use shared::kinematics::Kinematics;
use shared::protocol::{
    DeathCause, EntityId, EntityKind, GameEvent, Input, Leaderboard, LeaderboardEntry, PlayerId, Score, Tick,
};
use shared::quant::{Body, Ctrl, QState};
use std::collections::HashMap;
use std::sync::{mpsc, Arc};
use tokio::sync::mpsc as tokio_mpsc;
use tokio::sync::oneshot;

/// Speed of a bullet relative to the ship that fired it, units per second.
pub const BULLET_SPEED: f32 = 550.0;
/// Ticks a bullet lives (1.5 s).
pub const BULLET_LIFETIME_TICKS: Tick = 90;
/// Minimum ticks between two shots of one ship (5 shots per second).
pub const FIRE_COOLDOWN_TICKS: Tick = 12;
/// Default resume window: a dropped connection that comes back with its token within 10 s
/// gets the same ship, position and score.
pub const RESUME_WINDOW_TICKS: Tick = 600;
/// Ticks between a ship's destruction and its replacement (2 s).
pub const RESPAWN_TICKS: Tick = 120;
/// No asteroid is spawned closer than this to any ship: farther than any view reaches, so
/// asteroids never pop into sight.
pub const SPAWN_CLEARANCE: f32 = 0.5 * 1.4143 * MAX_VIEW_SIZE[0] + ASTEROID_RADII[0];
/// Free space around a newly spawned ship, world units: two seconds of a fast small
/// asteroid's drift, so a pilot has time to react.
pub const SHIP_SPAWN_CLEARANCE: f32 = 300.0;
/// Asteroids spawned per tick at most by the population keeper.
pub const SPAWNS_PER_TICK: usize = 16;
/// Points for hitting a large or medium asteroid; small ones give twice this.
pub const POINTS_PER_HIT: u32 = 1;
/// Side of the cells in which the hotspot (where the action is) is looked for, world units.
pub const HOTSPOT_CELL: f32 = 1024.0;
/// Largest accepted step between a player's consecutive input sequence numbers. A client
/// numbers its inputs one by one, and TCP delivers them in order, so only a forged sequence
/// number jumps further.
pub const MAX_INPUT_SEQ_JUMP: u32 = 1024;
/// Points for destroying another player's ship.
pub const POINTS_PER_KILL: u32 = 10;

/// How the world is set up.
#[derive(Clone, Debug)]
pub struct GameConfig {
    /// Asteroids the population keeper maintains.
    pub asteroids: usize,
    /// Half the arena's width and height.
    pub arena_half_size: [f32; 2],
    /// Seed of every random choice (placement, sizes, velocities).
    pub seed: u64,
    /// How long a disconnected player with an identity keeps its ship for a resume, ticks
    /// (0: players leave at once).
    pub resume_window_ticks: Tick,
    /// Where score changes go (none: scores live only as long as the session).
    pub store: Option<crate::store::StoreHandle>,
}

struct Entity {
    id: EntityId,
    kind: EntityKind,
    body: RigidBodyHandle,
    /// State at the end of the last tick (the one sessions see).
    state: QState,
    /// See [`FrameEntity::epoch`].
    epoch: Tick,
    /// The controls applied during the current tick's step (ships; zero otherwise).
    ctrl_now: Ctrl,
    /// The player who owns it (ships, bullets).
    owner: Option<PlayerId>,
    /// Bullets: the tick at which it disappears.
    expires_at: Option<Tick>,
}

struct Player {
    name: String,
    /// The persistent identity, if the server has a store.
    identity: Option<i64>,
    /// All-time points before this session.
    total_before: u32,
    /// The tick the current ship spawned (for the longest life).
    life_started: Tick,
    ship: Option<EntityId>,
    /// Latest input received (the one applied at the next tick).
    input: Input,
    /// Highest sequence number accepted; older or equal ones are replays and ignored.
    input_seq: u32,
    next_fire: Tick,
    respawn_at: Option<Tick>,
    score: Score,
    events: tokio_mpsc::Sender<GameEvent>,
    /// The connection that owns this player now (0: none, waiting to be resumed).
    session: u64,
    /// While detached: the tick at which the player and its ship are removed.
    detached_until: Option<Tick>,
    /// Closes the owning connection when a newer one takes the player over.
    kick: Option<oneshot::Sender<()>>,
}

/// The world and everything in it. Owned by the simulation thread alone.
pub struct Game {
    kin: Kinematics,
    config: GameConfig,
    world: PhysicsWorld,
    tick: Tick,
    entities: Vec<Entity>,
    index: HashMap<EntityId, usize>,
    players: HashMap<PlayerId, Player>,
    /// Players by persistent identity (for resuming).
    by_identity: HashMap<i64, PlayerId>,
    next_session: u64,
    next_entity: EntityId,
    next_player: PlayerId,
    asteroid_count: usize,
    rng: SmallRng,
    collisions: mpsc::Receiver<CollisionEvent>,
    collector: ChannelEventCollector,
    /// Player events dropped because a session did not drain its channel.
    pub dropped_events: u64,
    /// Bodies found non-finite after a step and removed.
    pub nonfinite_removed: u64,
    /// Duration of each phase of the last tick, seconds, in [`PHASES`] order.
    pub phase_secs: [f32; PHASES.len()],
    leaderboard: Arc<PublishedLeaderboard>,
}

/// The tick's phases, in order (see the module docs).
pub const PHASES: [&str; 7] = ["inbound", "intents", "physics", "collisions", "lifetimes", "snap", "population"];

/// A (cos, sin) pair for an angle. Creation may use `sin`/`cos` (the result is quantized and
/// sent); only prediction must avoid them.
fn dir(angle: f32) -> Vec2 {
    Vec2::new(angle.cos(), angle.sin())
}

impl Game {
    /// A world with its initial asteroid population placed without overlaps.
    pub fn new(config: GameConfig) -> Game {
        let kin = Kinematics::new(config.arena_half_size);
        let (collision_tx, collisions) = mpsc::channel();
        let (force_tx, _) = mpsc::channel();
        let (tear_tx, _) = mpsc::channel();
        let mut game = Game {
            world: physics::new_world(&kin),
            kin,
            tick: 0,
            entities: Vec::new(),
            index: HashMap::new(),
            players: HashMap::new(),
            by_identity: HashMap::new(),
            next_session: 0,
            next_entity: 1,
            next_player: 1,
            asteroid_count: 0,
            rng: SmallRng::seed_from_u64(config.seed),
            collisions,
            collector: ChannelEventCollector::new(collision_tx, force_tx, tear_tx),
            dropped_events: 0,
            nonfinite_removed: 0,
            phase_secs: [0.0; PHASES.len()],
            leaderboard: Arc::new(PublishedLeaderboard::new(Leaderboard::default())),
            config,
        };
        game.place_initial_asteroids();
        // One tick before anyone joins fills the broad phase, so the first ship's spawn check
        // sees the initial field.
        game.tick([]);
        game
    }

    /// The kinematic constants clients must use.
    pub fn kinematics(&self) -> &Kinematics {
        &self.kin
    }

    /// The current tick.
    pub fn tick_number(&self) -> Tick {
        self.tick
    }

    /// Rigid bodies and colliders in the physics world (each entity owns exactly one of each).
    pub fn physics_census(&self) -> (usize, usize) {
        (self.world.bodies.len(), self.world.colliders.len())
    }

    /// Number of entities.
    pub fn entity_count(&self) -> usize {
        self.entities.len()
    }

    /// Counts of (ships, asteroids, bullets).
    pub fn census(&self) -> (usize, usize, usize) {
        let ships = self.entities.iter().filter(|e| e.kind == EntityKind::Ship).count();
        let bullets = self.entities.iter().filter(|e| e.kind == EntityKind::Bullet).count();
        (ships, self.asteroid_count, bullets)
    }

    /// Jittered grid placement: one candidate per cell, cells at least a large asteroid wide,
    /// so no two initial asteroids overlap.
    fn place_initial_asteroids(&mut self) {
        let [hx, hy] = self.config.arena_half_size;
        let want = self.config.asteroids;
        if want == 0 {
            return;
        }
        let min_cell = 2.0 * ASTEROID_RADII[0] + 8.0;
        let cell = ((4.0 * hx * hy) / want as f32).sqrt().max(min_cell);
        let cols = ((2.0 * hx) / cell).floor().max(1.0) as usize;
        let rows = ((2.0 * hy) / cell).floor().max(1.0) as usize;
        let mut cells: Vec<usize> = (0..cols * rows).collect();
        // Fisher–Yates with the seeded rng, so a seed reproduces the field.
        for i in (1..cells.len()).rev() {
            let j = self.rng.random_range(0..=i);
            cells.swap(i, j);
        }
        for &c in cells.iter().take(want) {
            let (cx, cy) = ((c % cols) as f32, (c / cols) as f32);
            let kind = self.random_asteroid_kind();
            let slack = (cell * 0.5 - kind.radius() - 2.0).max(0.0);
            let pos = Vec2::new(
                -hx + (cx + 0.5) * cell + self.rng.random_range(-slack..=slack),
                -hy + (cy + 0.5) * cell + self.rng.random_range(-slack..=slack),
            );
            self.spawn_asteroid(kind, pos, None);
        }
    }

    fn random_asteroid_kind(&mut self) -> EntityKind {
        match self.rng.random_range(0..10) {
            0..=4 => EntityKind::AsteroidLarge,
            5..=7 => EntityKind::AsteroidMedium,
            _ => EntityKind::AsteroidSmall,
        }
    }

    fn spawn(&mut self, kind: EntityKind, body: Body, ctrl: Ctrl, owner: Option<PlayerId>) -> EntityId {
        let id = self.next_entity;
        self.next_entity += 1;
        let state = QState::from_body(&body, ctrl);
        let (handle, _) =
            self.world.insert(physics::body_builder(kind, &state, &self.kin), physics::collider_builder(kind, id));
        let expires_at = (kind == EntityKind::Bullet).then_some(self.tick + BULLET_LIFETIME_TICKS);
        self.index.insert(id, self.entities.len());
        self.entities.push(Entity {
            id,
            kind,
            body: handle,
            state,
            epoch: self.tick,
            ctrl_now: ctrl,
            owner,
            expires_at,
        });
        if kind.is_asteroid() {
            self.asteroid_count += 1;
        }
        id
    }

    /// Places an asteroid (for tools and tests; the game spawns its own). `vel: None` picks a
    /// random drift for its size.
    pub fn spawn_asteroid(&mut self, kind: EntityKind, pos: Vec2, vel: Option<Vec2>) -> EntityId {
        let speed_max = match kind {
            EntityKind::AsteroidLarge => 40.0,
            EntityKind::AsteroidMedium => 70.0,
            _ => 100.0,
        };
        let vel = vel.unwrap_or_else(|| {
            let angle = self.rng.random_range(0.0..std::f32::consts::TAU);
            dir(angle) * self.rng.random_range(5.0..speed_max)
        });
        let rot = dir(self.rng.random_range(0.0..std::f32::consts::TAU));
        let angvel = self.rng.random_range(-1.0..1.0);
        self.spawn(kind, Body { pos, vel, rot, angvel }, Ctrl(0), None)
    }

    fn despawn(&mut self, id: EntityId) -> Option<Entity> {
        let i = self.index.remove(&id)?;
        let e = self.entities.swap_remove(i);
        if let Some(moved) = self.entities.get(i) {
            self.index.insert(moved.id, i);
        }
        // `true`: the collider goes with the body (false would leave it behind as a static ghost).
        self.world.remove_body_with_colliders(e.body, true);
        if e.kind.is_asteroid() {
            self.asteroid_count -= 1;
        }
        Some(e)
    }

    fn entity(&self, id: EntityId) -> Option<&Entity> {
        self.index.get(&id).map(|&i| &self.entities[i])
    }

    /// Whether a ball of `radius` at `pos` touches no collider.
    fn is_free(&self, pos: Vec2, radius: f32) -> bool {
        let ball = rapier2d::parry::shape::Ball::new(radius);
        let shape: &dyn Shape = &ball;
        let pose = rapier2d::prelude::Pose::from_translation(pos);
        let free = self.world.intersect_shape(pose, shape, QueryFilter::default()).next().is_none();
        free
    }

    fn random_point(&mut self, margin: f32) -> Vec2 {
        let [hx, hy] = self.config.arena_half_size;
        let (mx, my) = ((hx - margin).max(1.0), (hy - margin).max(1.0));
        Vec2::new(self.rng.random_range(-mx..mx), self.rng.random_range(-my..my))
    }

    fn spawn_ship(&mut self, player: PlayerId) -> EntityId {
        let mut pos = self.random_point(SHIP_SPAWN_CLEARANCE);
        for _ in 0..32 {
            if self.is_free(pos, SHIP_SPAWN_CLEARANCE) {
                break;
            }
            pos = self.random_point(SHIP_SPAWN_CLEARANCE);
        }
        let rot = dir(self.rng.random_range(0.0..std::f32::consts::TAU));
        let id = self.spawn(EntityKind::Ship, Body { pos, vel: Vec2::ZERO, rot, angvel: 0.0 }, Ctrl(0), Some(player));
        if let Some(p) = self.players.get_mut(&player) {
            p.ship = Some(id);
            p.respawn_at = None;
            p.life_started = self.tick;
        }
        id
    }

    fn send_event(&mut self, player: PlayerId, event: GameEvent) {
        if let Some(p) = self.players.get(&player) {
            if p.events.try_send(event).is_err() {
                self.dropped_events += 1;
            }
        }
    }

    /// Advances the world by one tick (see the module docs for the phases), timing each phase
    /// into [`Game::phase_secs`].
    pub fn tick(&mut self, events: impl IntoIterator<Item = SimEvent>) {
        self.tick += 1;
        let mut clock = std::time::Instant::now();
        let mut lap = |times: &mut [f32; PHASES.len()], phase: usize| {
            let now = std::time::Instant::now();
            times[phase] = (now - clock).as_secs_f32();
            clock = now;
        };
        let mut times = [0.0; PHASES.len()];
        self.inbound(events);
        lap(&mut times, 0);
        self.intents();
        lap(&mut times, 1);
        self.world.step_with_events(&(), &self.collector);
        lap(&mut times, 2);
        self.collisions();
        lap(&mut times, 3);
        self.lifetimes();
        lap(&mut times, 4);
        self.snap();
        lap(&mut times, 5);
        self.population();
        if self.tick.is_multiple_of(LEADERBOARD_INTERVAL_TICKS) {
            self.update_leaderboard();
        }
        lap(&mut times, 6);
        self.phase_secs = times;
    }

    fn inbound(&mut self, events: impl IntoIterator<Item = SimEvent>) {
        for event in events {
            match event {
                SimEvent::Join { name, identity, total_before, reply } => {
                    self.next_session += 1;
                    let session = self.next_session;
                    let (tx, rx) = tokio_mpsc::channel(PLAYER_EVENT_CAPACITY);
                    let (kick_tx, kick_rx) = oneshot::channel();
                    // The same identity already here (detached, or on an older connection):
                    // the new connection takes over its player, ship, position and score.
                    let existing = identity.and_then(|id| self.by_identity.get(&id).copied());
                    let player_id = match existing.and_then(|pid| self.players.get_mut(&pid).map(|p| (pid, p))) {
                        Some((pid, p)) => {
                            if let Some(old) = p.kick.take() {
                                let _ = old.send(()); // the older connection closes with a reason
                            }
                            p.session = session;
                            p.detached_until = None;
                            p.events = tx;
                            p.kick = Some(kick_tx);
                            pid
                        }
                        None => {
                            let player_id = self.next_player;
                            self.next_player += 1;
                            self.players.insert(
                                player_id,
                                Player {
                                    name,
                                    identity,
                                    total_before,
                                    life_started: self.tick,
                                    ship: None,
                                    input: Input { seq: 0, thrust: false, turn: 0, fire: false },
                                    input_seq: 0,
                                    next_fire: 0,
                                    respawn_at: None,
                                    score: Score { total_points: total_before, ..Score::default() },
                                    events: tx,
                                    session,
                                    detached_until: None,
                                    kick: Some(kick_tx),
                                },
                            );
                            if let Some(id) = identity {
                                self.by_identity.insert(id, player_id);
                            }
                            self.spawn_ship(player_id);
                            player_id
                        }
                    };
                    let p = &self.players[&player_id];
                    let (ship, score, resumed) = (p.ship, p.score, existing.is_some());
                    let ship_position =
                        ship.and_then(|id| self.entity(id)).map_or([0.0; 2], |e| e.state.position().into());
                    let joined = Joined {
                        player_id,
                        ship_id: ship.unwrap_or(0),
                        ship_position,
                        tick: self.tick,
                        events: rx,
                        session,
                        replaced: kick_rx,
                        total_points: score.total_points,
                    };
                    if reply.send(joined).is_err() {
                        // The session went away while waiting: treat it as a leave.
                        self.leave(player_id, session);
                    } else if resumed {
                        self.send_event(player_id, GameEvent::Score(score));
                    }
                }
                SimEvent::Leave { player, session } => self.leave(player, session),
                SimEvent::Input { player, input } => {
                    if let Some(p) = self.players.get_mut(&player) {
                        // Replayed and reordered inputs are ignored, and so are ones from too far
                        // in the future (they would block every honest input after them); the
                        // first input of a session sets the sequence. Within a tick the latest
                        // wins, so at most one input per ship applies per tick.
                        let first = p.input_seq == 0;
                        let next = input.seq > p.input_seq && input.seq - p.input_seq <= MAX_INPUT_SEQ_JUMP;
                        if (first && input.seq > 0) || next {
                            p.input_seq = input.seq;
                            p.input = input;
                        }
                    }
                }
            }
        }
    }

    /// A connection ended. Ignored if a newer connection has taken the player over; a player
    /// with an identity stays (ship and all, controls released) for the resume window, others
    /// leave at once.
    fn leave(&mut self, player: PlayerId, session: u64) {
        let window = self.config.resume_window_ticks;
        let Some(p) = self.players.get_mut(&player) else { return };
        if p.session != session {
            return;
        }
        if p.identity.is_some() && window > 0 {
            p.session = 0;
            p.kick = None;
            p.detached_until = Some(self.tick + window);
            p.input = Input { seq: p.input.seq, thrust: false, turn: 0, fire: false };
        } else {
            self.remove_player(player);
        }
    }

    fn remove_player(&mut self, player: PlayerId) {
        if let Some(p) = self.players.remove(&player) {
            if let Some(id) = p.identity {
                self.by_identity.remove(&id);
            }
            if let Some(ship) = p.ship {
                self.despawn(ship);
            }
        }
    }

    fn intents(&mut self) {
        let mut shots: Vec<(PlayerId, Body)> = Vec::new();
        for (&pid, p) in self.players.iter_mut() {
            let Some(ship) = p.ship else { continue };
            let Some(&i) = self.index.get(&ship) else { continue };
            let e = &mut self.entities[i];
            let ctrl = Ctrl::from_intent(p.input.thrust, p.input.turn);
            let body = e.state.body();
            let (force, angvel) = self.kin.intent(EntityKind::Ship, ctrl, &body);
            let rb = &mut self.world.bodies[e.body];
            rb.reset_forces(false);
            rb.add_force(force, false);
            if let Some(w) = angvel {
                rb.set_angvel(w, false);
            }
            // The controls that apply during this step; `snap` records them in the state.
            e.ctrl_now = ctrl;
            if p.input.fire && self.tick >= p.next_fire {
                p.next_fire = self.tick + FIRE_COOLDOWN_TICKS;
                let nose = body.rot.normalize_or(Vec2::X);
                let pos = body.pos + nose * (SHIP_RADIUS + shared::constants::BULLET_RADIUS + 4.0);
                shots.push((pid, Body { pos, vel: body.vel + nose * BULLET_SPEED, rot: nose, angvel: 0.0 }));
            }
        }
        for (pid, body) in shots {
            self.spawn(EntityKind::Bullet, body, Ctrl(0), Some(pid));
        }
    }

    fn collisions(&mut self) {
        while let Ok(event) = self.collisions.try_recv() {
            let CollisionEvent::Started(c1, c2, _) = event else { continue };
            let id_of = |c| self.world.colliders.get(c).map(|c| c.user_data as EntityId);
            let (Some(a), Some(b)) = (id_of(c1), id_of(c2)) else { continue };
            let (Some(ea), Some(eb)) = (self.entity(a), self.entity(b)) else { continue };
            let (ka, kb) = (ea.kind, eb.kind);
            use EntityKind::*;
            match (ka, kb) {
                (Bullet, k) if k.is_asteroid() => self.bullet_hits_asteroid(a, b),
                (k, Bullet) if k.is_asteroid() => self.bullet_hits_asteroid(b, a),
                (Bullet, Ship) => self.bullet_hits_ship(a, b),
                (Ship, Bullet) => self.bullet_hits_ship(b, a),
                (Ship, k) if k.is_asteroid() => self.destroy_ship(a, DeathCause::Asteroid),
                (k, Ship) if k.is_asteroid() => self.destroy_ship(b, DeathCause::Asteroid),
                (Ship, Ship) => {
                    let name = |g: &Game, id| {
                        g.entity(id)
                            .and_then(|e| e.owner)
                            .and_then(|p| g.players.get(&p))
                            .map(|p| p.name.clone())
                            .unwrap_or_default()
                    };
                    let (na, nb) = (name(self, a), name(self, b));
                    self.destroy_ship(a, DeathCause::Collision { with: nb });
                    self.destroy_ship(b, DeathCause::Collision { with: na });
                }
                _ => {}
            }
        }
    }

    /// Changes a player's score, tells the player, and queues the change for the store.
    fn award(&mut self, player: Option<PlayerId>, f: impl FnOnce(&mut Score)) {
        let Some(pid) = player else { return };
        let Some(p) = self.players.get_mut(&pid) else { return };
        let before = p.score;
        f(&mut p.score);
        p.score.total_points = p.total_before + p.score.points;
        let score = p.score;
        if let (Some(store), Some(identity)) = (&self.config.store, p.identity) {
            let life_ticks = if score.deaths > before.deaths { self.tick - p.life_started } else { 0 };
            store.record(crate::store::ScoreDelta {
                identity,
                hits: score.hits - before.hits,
                kills: score.kills - before.kills,
                deaths: score.deaths - before.deaths,
                points: score.points - before.points,
                life_ticks,
            });
        }
        self.send_event(pid, GameEvent::Score(score));
    }

    fn bullet_hits_asteroid(&mut self, bullet: EntityId, asteroid: EntityId) {
        let Some(parent) = self.entity(asteroid).map(|a| physics::read_body(&self.world.bodies[a.body])) else {
            return;
        };
        let Some(b) = self.despawn(bullet) else { return };
        let Some(a) = self.despawn(asteroid) else { return };
        let points = if a.kind == EntityKind::AsteroidSmall { 2 * POINTS_PER_HIT } else { POINTS_PER_HIT };
        self.award(b.owner, |s| {
            s.hits += 1;
            s.points += points;
        });
        let child = match a.kind {
            EntityKind::AsteroidLarge => EntityKind::AsteroidMedium,
            EntityKind::AsteroidMedium => EntityKind::AsteroidSmall,
            _ => return,
        };
        let along = b.state.body().vel.normalize_or(Vec2::X);
        let side = along.perp();
        let kick = self.rng.random_range(25.0..60.0);
        for sign in [-1.0f32, 1.0] {
            let pos = parent.pos + side * sign * (child.radius() + 1.0);
            let vel = parent.vel + side * sign * kick + along * 10.0;
            self.spawn_asteroid(child, pos, Some(vel));
        }
    }

    fn bullet_hits_ship(&mut self, bullet: EntityId, ship: EntityId) {
        let (Some(b), Some(s)) = (self.entity(bullet), self.entity(ship)) else { return };
        if b.owner.is_some() && b.owner == s.owner {
            return; // one's own bullet
        }
        let shooter = b.owner;
        let by = shooter.and_then(|p| self.players.get(&p)).map(|p| p.name.clone()).unwrap_or_default();
        self.despawn(bullet);
        self.destroy_ship(ship, DeathCause::Shot { by });
        self.award(shooter, |s| {
            s.kills += 1;
            s.points += POINTS_PER_KILL;
        });
    }

    fn destroy_ship(&mut self, ship: EntityId, cause: DeathCause) {
        let Some(e) = self.despawn(ship) else { return };
        let Some(pid) = e.owner else { return };
        let respawn_at = self.tick + RESPAWN_TICKS;
        if let Some(p) = self.players.get_mut(&pid) {
            p.ship = None;
            p.respawn_at = Some(respawn_at);
            p.score.deaths += 1;
        }
        self.send_event(pid, GameEvent::ShipDestroyed { ship_id: ship, cause, respawn_in_ticks: RESPAWN_TICKS });
        self.award(Some(pid), |_| {});
    }

    fn lifetimes(&mut self) {
        let expired: Vec<EntityId> =
            self.entities.iter().filter(|e| e.expires_at.is_some_and(|t| t <= self.tick)).map(|e| e.id).collect();
        for id in expired {
            self.despawn(id);
        }
        // Detached players whose resume window ran out leave, ship and all.
        let gone: Vec<PlayerId> = self
            .players
            .iter()
            .filter(|(_, p)| p.detached_until.is_some_and(|t| t <= self.tick))
            .map(|(&id, _)| id)
            .collect();
        for pid in gone {
            self.remove_player(pid);
        }
        let due: Vec<PlayerId> = self
            .players
            .iter()
            .filter(|(_, p)| p.respawn_at.is_some_and(|t| t <= self.tick))
            .map(|(&id, _)| id)
            .collect();
        for pid in due {
            let ship_id = self.spawn_ship(pid);
            let position = self.entity(ship_id).map_or([0.0; 2], |e| e.state.position().into());
            self.send_event(pid, GameEvent::ShipSpawned { ship_id, position });
        }
    }

    fn snap(&mut self) {
        let mut broken = Vec::new();
        for e in &mut self.entities {
            let rb = &mut self.world.bodies[e.body];
            let mut body = physics::read_body(rb);
            if !(body.pos.is_finite() && body.vel.is_finite() && body.rot.is_finite() && body.angvel.is_finite()) {
                broken.push(e.id);
                continue;
            }
            self.kin.post_step(&mut body, e.kind);
            let new_state = QState::from_body(&body, e.ctrl_now);
            // A client holding last tick's state (with last tick's controls) predicts
            // `kin.tick(state)`; anything else (a contact, new controls, a spawn) starts a new
            // epoch, and clients holding an older state need an update.
            if e.epoch != self.tick && self.kin.tick(&e.state, e.kind) != new_state {
                e.epoch = self.tick;
            }
            physics::write_body(rb, &new_state.body());
            e.state = new_state;
        }
        for id in broken {
            self.nonfinite_removed += 1;
            tracing::error!(entity = id, "non-finite body state; entity removed");
            self.despawn(id);
        }
    }

    fn population(&mut self) {
        let mut budget = SPAWNS_PER_TICK;
        let ships: Vec<Vec2> =
            self.entities.iter().filter(|e| e.kind == EntityKind::Ship).map(|e| e.state.body().pos).collect();
        while self.asteroid_count < self.config.asteroids && budget > 0 {
            budget -= 1;
            let kind = self.random_asteroid_kind();
            let pos = self.random_point(kind.radius());
            let clear_of_ships = ships.iter().all(|s| s.distance(pos) >= SPAWN_CLEARANCE);
            if clear_of_ships && self.is_free(pos, kind.radius() + 4.0) {
                self.spawn_asteroid(kind, pos, None);
            }
        }
    }

    /// Recomputes the leaderboard and the hotspot (the grid cell with the most ships and
    /// bullets); keeps the old `Arc` when nothing changed.
    fn update_leaderboard(&mut self) {
        let mut top: Vec<LeaderboardEntry> = self
            .players
            .values()
            .map(|p| LeaderboardEntry { name: p.name.clone(), points: p.score.points, kills: p.score.kills })
            .collect();
        top.sort_by(|a, b| b.points.cmp(&a.points).then(b.kills.cmp(&a.kills)).then(a.name.cmp(&b.name)));
        top.truncate(LEADERBOARD_SIZE);
        let mut cells: HashMap<(i32, i32), u32> = HashMap::new();
        for e in self.entities.iter().filter(|e| matches!(e.kind, EntityKind::Ship | EntityKind::Bullet)) {
            let p = e.state.position();
            *cells.entry(((p.x / HOTSPOT_CELL).floor() as i32, (p.y / HOTSPOT_CELL).floor() as i32)).or_default() += 1;
        }
        let hotspot = cells
            .into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
            .map(|((x, y), _)| [(x as f32 + 0.5) * HOTSPOT_CELL, (y as f32 + 0.5) * HOTSPOT_CELL]);
        let all_time = self.config.store.as_ref().map_or_else(Vec::new, |s| s.all_time().as_ref().clone());
        let board = Leaderboard { online: self.players.len() as u32, top, hotspot, all_time };
        if self.leaderboard.board != board {
            self.leaderboard = Arc::new(PublishedLeaderboard::new(board));
        }
    }

    /// The world as sessions see it.
    pub fn frame(&self, timing: SimTiming) -> Frame {
        let entities =
            self.entities.iter().map(|e| FrameEntity { id: e.id, kind: e.kind, state: e.state, epoch: e.epoch });
        let players =
            self.players.iter().map(|(&id, p)| (id, PlayerFrame { ship: p.ship, input_ack: p.input_seq })).collect();
        let timing = SimTiming { nonfinite_bodies: self.nonfinite_removed, ..timing };
        Frame::new(self.tick, entities, players, self.config.arena_half_size, timing, self.leaderboard.clone())
    }
}
