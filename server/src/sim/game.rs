//! The game world: [`Game`], everything in it, and [`Game::tick`], which runs the phases of
//! `phases::TICK` in order, each timed. The phases change the world and write
//! everything that others must hear into the tick's [`Outbox`]; they never send anything
//! themselves. The simulation loop (`mod.rs`) then delivers the outbox ([`Game::deliver`])
//! and, on snapshot ticks, publishes a frame ([`Game::frame`], `publish.rs`).
//!
//! A game is a function of its [`GameConfig`] (plain data), the events it is given and the
//! [`Surroundings`] of each tick: two games stepped with the same ones publish the same frames
//! (tested below).

use super::entities::Entities;
use super::frame::PublishedLeaderboard;
use super::outbox::{Outbox, ScoreSink, Undelivered};
use super::phases::{Laps, DELIVER, PHASES, TICK};
use super::players::Players;
use super::{SimCounters, SimEvent, Surroundings};
use rand::rngs::SmallRng;
use rand::SeedableRng;
use rapier2d::prelude::{ChannelEventCollector, CollisionEvent};
use shared::constants::{RESUME_WINDOW, SPAWN_PROTECTION};
use shared::grid::Grid;
use shared::kinematics::Kinematics;
use shared::protocol::{EntityId, EntityKind, Leaderboard, PlayerId, Tick};
use shared::time::Ticks;
use std::sync::{mpsc, Arc};

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
    pub resume_window: Ticks,
    /// Ships the world is filled up to with AI pilots: `ai_pilots` less the humans online
    /// (see `pilots.rs`).
    pub ai_pilots: usize,
    /// How long a new ship is protected, ticks ([`SPAWN_PROTECTION`]; the benchmark
    /// sets 0 to measure what the protection buys).
    pub spawn_protection: Ticks,
    /// This world's place in a universe (none: a lone world, every edge closed). Which of its
    /// open edges lead to a live neighbour is the tick's [`Surroundings::live_edges`].
    pub grid: Option<Grid>,
}

impl GameConfig {
    /// A world of `asteroids` in an arena of the given half size, with the default resume
    /// window and no AI pilots, alone (not a sector of a universe).
    pub fn new(asteroids: usize, arena_half_size: [f32; 2], seed: u64) -> GameConfig {
        GameConfig {
            asteroids,
            arena_half_size,
            seed,
            resume_window: RESUME_WINDOW,
            ai_pilots: 0,
            spawn_protection: SPAWN_PROTECTION,
            grid: None,
        }
    }
}

/// The world and everything in it. Owned by the simulation thread alone.
pub struct Game {
    pub(super) kin: Kinematics,
    pub(super) config: GameConfig,
    pub(super) tick: Tick,
    /// Every entity and its rapier body.
    pub(super) entities: Entities,
    /// Every player, connected or waiting to be resumed.
    pub(super) players: Players,
    /// What this tick decided for sessions and the store; delivered after it.
    pub(super) outbox: Outbox,
    /// Identities the operator revoked while the simulation ran (a handful: one per admin
    /// action), so a join already on its way is dismissed too.
    pub(super) revoked: std::collections::HashSet<i64>,
    /// This tick's events, drained by the inbound phase (kept for its allocation).
    pub(super) inbox: Vec<SimEvent>,
    pub(super) rng: SmallRng,
    /// Rapier reports new touches here during collision detection; `collisions` drains them.
    pub(super) contacts: mpsc::Receiver<CollisionEvent>,
    /// Ships whose spawn protection ended this tick (they may already be touching something).
    pub(super) unshielded: Vec<EntityId>,
    /// Pairs of colliders, one of them an asteroid's, that rapier found meeting and that have
    /// not ceased to: they may touch, and are tested exactly every tick (see `collisions`).
    pub(super) near_asteroids: std::collections::BTreeSet<(u64, u64)>,
    /// Scratch for walking `near_asteroids`, which the walk changes (kept for its allocation).
    pub(super) near_scratch: Vec<(u64, u64)>,
    collector: ChannelEventCollector,
    /// What the phases counted (see `counters.rs`).
    pub(super) counters: SimCounters,
    /// The pilot whose ship spectators and ship-less players follow (see `featured.rs`).
    pub(super) featured: Option<PlayerId>,
    /// The leaderboard, re-encoded only when it changes.
    pub(super) leaderboard: Arc<PublishedLeaderboard>,
    /// Duration of each phase of the last tick, seconds, in [`PHASES`] order (the loop fills
    /// in the last one, publishing).
    pub phase_secs: [f32; PHASES.len()],
}

impl std::fmt::Debug for Game {
    /// Where the world is, not everything in it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Game")
            .field("tick", &self.tick)
            .field("config", &self.config)
            .field("entities", &self.entities)
            .field("players", &self.players.iter().count())
            .finish_non_exhaustive()
    }
}

impl Game {
    /// A world with its initial asteroid population placed without overlaps.
    pub fn new(config: GameConfig) -> Game {
        let mut kin = Kinematics::new(config.arena_half_size);
        if let Some(grid) = &config.grid {
            kin.open_edges = grid.open_edges();
        }
        let (contacts_tx, contacts) = mpsc::channel();
        let (force_tx, _) = mpsc::channel();
        let (tear_tx, _) = mpsc::channel();
        let mut game = Game {
            entities: Entities::new(&kin),
            kin,
            tick: 0,
            players: Players::default(),
            outbox: Outbox::default(),
            revoked: Default::default(),
            inbox: Vec::new(),
            rng: SmallRng::seed_from_u64(config.seed),
            contacts,
            unshielded: Vec::new(),
            near_asteroids: std::collections::BTreeSet::new(),
            near_scratch: Vec::new(),
            collector: ChannelEventCollector::new(contacts_tx, force_tx, tear_tx),
            counters: SimCounters::default(),
            featured: None,
            leaderboard: Arc::new(PublishedLeaderboard::new(Leaderboard::default())),
            phase_secs: [0.0; PHASES.len()],
            config,
        };
        game.place_initial_asteroids();
        // One tick before anyone joins fills the broad phase, so the first ship's spawn check
        // sees the initial field.
        game.tick([], &Surroundings::default());
        game
    }

    /// Advances the world by one tick: the phases of the table of `phases.rs`, each timed into
    /// [`Game::phase_secs`], given `events` and what the world outside is now. What the tick
    /// decided waits in the outbox for [`Game::deliver`].
    pub fn tick(&mut self, events: impl IntoIterator<Item = SimEvent>, surroundings: &Surroundings) {
        self.tick += 1;
        self.inbox.extend(events);
        let mut laps = Laps::start();
        for (index, (_, phase)) in TICK.iter().enumerate() {
            phase(self, surroundings);
            laps.lap(&mut self.phase_secs, index);
        }
    }

    /// The physics phase: rapier's collision detection (see `physics.rs`).
    pub(super) fn detect_collisions(&mut self) {
        self.entities.detect_collisions(&self.collector);
    }

    /// Delivers what the last tick decided (see [`Outbox::deliver`]): answers, events, and
    /// score changes to `scores`. Timed as the `deliver` phase.
    pub fn deliver(&mut self, scores: Option<&dyn ScoreSink>) -> Undelivered {
        let mut laps = Laps::start();
        let undelivered = self.outbox.deliver(&self.players, scores);
        laps.lap(&mut self.phase_secs, DELIVER);
        undelivered
    }

    /// The kinematic constants clients must use.
    pub fn kinematics(&self) -> &Kinematics {
        &self.kin
    }

    /// The current tick.
    pub fn tick_number(&self) -> Tick {
        self.tick
    }

    /// Rigid bodies and colliders in the physics world (no bodies; one collider per entity).
    pub fn physics_census(&self) -> (usize, usize) {
        self.entities.physics_census()
    }

    /// Number of entities.
    pub fn entity_count(&self) -> usize {
        self.entities.len()
    }

    /// Counts of (ships, asteroids, bullets).
    pub fn census(&self) -> (usize, usize, usize) {
        let e = &self.entities;
        (e.count(EntityKind::Ship), e.asteroids(), e.count(EntityKind::Bullet))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::frame::SimTiming;
    use crate::sim::{Elsewhere, Joined};
    use shared::kinematics::OpenEdges;
    use shared::protocol::{Input, LeaderboardEntry, SectorCoord};
    use tokio::sync::oneshot;

    /// What a session sees of a frame, in a form two runs can compare (players in id order).
    fn seen(frame: &crate::sim::frame::Frame) -> String {
        let mut players: Vec<_> = frame.players.iter().collect();
        players.sort_by_key(|(id, _)| **id);
        let board = &frame.leaderboard;
        format!(
            "{} {:?} {:?} {:?} {:?} {:?} {:?} {:?}",
            frame.tick,
            frame.entities,
            players,
            board.world.value,
            board.top.value,
            board.all_time.value,
            frame.featured,
            frame.watched
        )
    }

    /// The outside world at `tick`: an edge that comes and goes, other sectors filling up, an
    /// all-time board that changes, and a clock.
    fn surroundings(tick: Tick) -> Surroundings {
        let pilot = |name: &str, points| LeaderboardEntry { name: name.into(), points, kills: 0, ai: false };
        Surroundings {
            live_edges: OpenEdges { right: tick % 200 < 100, ..OpenEdges::default() },
            elsewhere: Arc::new(Elsewhere { online: tick / 60, top: vec![pilot("Far", tick / 30)] }),
            all_time: Arc::new(vec![pilot("Old", 1000 + tick / 120)]),
            unix_ms: 1_800_000_000_000 + u64::from(tick) * 16,
        }
    }

    /// Steps a sector with AI pilots and two humans (joining, thrusting, turning, firing, one
    /// leaving) for `ticks`; returns what each tick published.
    fn run(ticks: Tick) -> Vec<String> {
        let grid = Grid::new([2, 1], SectorCoord { x: 0, y: 0 }, [500.0, 500.0]).unwrap();
        let config = GameConfig { ai_pilots: 6, grid: Some(grid), ..GameConfig::new(60, [500.0, 500.0], 11) };
        let mut game = Game::new(config);
        let mut replies: Vec<oneshot::Receiver<Joined>> = Vec::new();
        let mut joined: Vec<Joined> = Vec::new();
        let mut frames = Vec::new();
        for t in 0..ticks {
            let mut events = Vec::new();
            if t == 2 || t == 40 {
                let (reply, answer) = oneshot::channel();
                replies.push(answer);
                let name = if t == 2 { "Ada" } else { "Ben" };
                events.push(SimEvent::Join {
                    name: name.into(),
                    identity: None,
                    total_before: 0,
                    arrival: None,
                    reply,
                });
            }
            for (k, j) in joined.iter().enumerate() {
                if t % 7 == k as Tick {
                    let input = Input {
                        seq: t,
                        tick: game.tick_number() + 3,
                        thrust: t % 3 != 0,
                        turn: (t % 3) as i8 - 1,
                        fire: t % 2 == 0,
                    };
                    events.push(SimEvent::Input { player: j.player_id, session: j.session, input });
                }
            }
            if t == 300 {
                let ben = &joined[1];
                events.push(SimEvent::Leave { player: ben.player_id, session: ben.session, resumable: false });
            }
            game.tick(events, &surroundings(t));
            game.deliver(None);
            joined.extend(replies.iter_mut().filter_map(|r| r.try_recv().ok()));
            frames.push(seen(&game.frame(SimTiming::default())));
        }
        frames
    }

    /// Replayable: two games stepped with the same events and surroundings publish the same
    /// frames, tick by tick (nothing else reaches the simulation: no clock, no shared state,
    /// no randomness but its seed).
    #[test]
    fn a_game_is_a_function_of_its_events_and_surroundings() {
        let (first, second) = (run(600), run(600));
        for (a, b) in first.iter().zip(&second) {
            if let Some(at) = a.bytes().zip(b.bytes()).position(|(x, y)| x != y) {
                let from = at.saturating_sub(300);
                panic!("frames differ:\n{}\n{}", &a[from..(at + 200).min(a.len())], &b[from..(at + 200).min(b.len())]);
            }
        }
        assert_eq!(first.len(), 600);
    }
}
