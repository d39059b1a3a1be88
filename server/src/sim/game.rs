//! The game world and its tick. [`Game::tick`] is the table of contents of the simulation: it
//! runs the phases below, in this order, each in a file of its own and each timed (keep this
//! list, [`super::PHASES`] and the code in sync):
//!
//! 1. **inbound** (`inbound.rs`): the events drained from sessions: join (or resume), leave,
//!    input (scheduled for the tick it names); then the inputs due now take effect;
//! 2. **pilots** (`pilots.rs`): AI pilots are added or removed to keep the configured number
//!    of ships less the humans online, and each decides (ten times a second) the same
//!    `Input` a human sends;
//! 3. **intents** (`intents.rs`): each ship's latest input becomes its controls for this tick;
//!    shots become bullets;
//! 4. **motion** (`motion.rs`): every entity advances one tick with `shared::kinematics`
//!    (the very model clients predict with), quantized to the wire grid, and its collider
//!    follows;
//! 5. **physics** (`physics.rs`): rapier's collision detection finds what now touches;
//! 6. **collisions** (`collisions.rs`): those touches, decided by the game's rules: asteroids
//!    split, ships and bullets are destroyed, scores change;
//! 7. **borders** (`borders.rs`): in a universe, ships beyond an open edge leave for the
//!    neighbouring sector (their pilots handed over), or are turned back;
//! 8. **lifetimes** (`lifetimes.rs`): bullets expire, detached players leave, dead players get
//!    a new ship; a featured pilot who lost its ship is replaced (`featured.rs`);
//! 9. **population** (`population.rs`): the asteroid count is kept up, unseen where it can be,
//!    else in sight as asteroids that appear;
//! 10. **leaderboard** (`leaderboard.rs`): once a second, the leaderboard and the hotspot, and
//!     the featured pilot is reconsidered.
//!
//! Phases change the world (the [`Entities`] table and the [`Players`]) and write everything
//! that others must hear into the tick's [`Outbox`]; they never send anything themselves. The
//! simulation loop (`mod.rs`) then delivers the outbox ([`Game::deliver`]) and, on snapshot
//! ticks, publishes a frame ([`Game::frame`], `publish.rs`).

use super::entities::Entities;
use super::inbound::InputCounts;
use super::outbox::{Outbox, ScoreSink, Undelivered};
use super::players::Players;
use super::{SimEvent, PHASES};
use crate::frame::PublishedLeaderboard;
use rand::rngs::SmallRng;
use rand::SeedableRng;
use rapier2d::prelude::{ChannelEventCollector, CollisionEvent};
use shared::constants::{LEADERBOARD_INTERVAL_TICKS, RESUME_WINDOW_TICKS, SPAWN_PROTECTION_TICKS};
use shared::kinematics::Kinematics;
use shared::protocol::{EntityId, EntityKind, Leaderboard, LeaderboardEntry, PlayerId, Tick};
use std::sync::{mpsc, Arc};
use std::time::Instant;
use tokio::sync::watch;

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
    /// Ships the world is filled up to with AI pilots: `ai_pilots` less the humans online
    /// (see `pilots.rs`).
    pub ai_pilots: usize,
    /// How long a new ship is protected, ticks ([`SPAWN_PROTECTION_TICKS`]; the benchmark
    /// sets 0 to measure what the protection buys).
    pub spawn_protection_ticks: Tick,
    /// The all-time top, kept current by whoever stores scores (none: no all-time board).
    pub all_time: Option<watch::Receiver<Arc<Vec<LeaderboardEntry>>>>,
    /// This world's place in a universe (none: a lone world, every edge closed).
    pub borders: Option<Borders>,
    /// The other sectors' players online and best pilots, as the universe's directory last
    /// listed them (none: a lone world): ranked with this world's on the board.
    pub elsewhere: Option<watch::Receiver<Arc<crate::universe::Elsewhere>>>,
}

/// A sector's edges: which lead to a neighbour (open to ships in the kinematics), and which
/// neighbours are alive now.
#[derive(Clone, Debug)]
pub struct Borders {
    /// The sector in its universe.
    pub grid: crate::universe::grid::Grid,
    /// The open edges whose neighbour is alive, kept current by the directory's task.
    pub live: Arc<crate::universe::LiveEdges>,
}

impl GameConfig {
    /// A world of `asteroids` in an arena of the given half size, with the default resume
    /// window, no AI pilots and no all-time board.
    pub fn new(asteroids: usize, arena_half_size: [f32; 2], seed: u64) -> GameConfig {
        GameConfig {
            asteroids,
            arena_half_size,
            seed,
            resume_window_ticks: RESUME_WINDOW_TICKS,
            ai_pilots: 0,
            spawn_protection_ticks: SPAWN_PROTECTION_TICKS,
            all_time: None,
            borders: None,
            elsewhere: None,
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
    /// Bodies found non-finite after a step and removed (cumulative).
    pub(super) nonfinite_removed: u64,
    /// Ships turned back at an open edge (cumulative; see `borders.rs`).
    pub(super) edge_turnbacks: u64,
    /// Inputs brought into bounds (cumulative).
    pub(super) input_counts: InputCounts,
    /// The pilot whose ship spectators and ship-less players follow (see `featured.rs`).
    pub(super) featured: Option<PlayerId>,
    /// The leaderboard, re-encoded only when it changes.
    pub(super) leaderboard: Arc<PublishedLeaderboard>,
    /// Duration of each phase of the last tick, seconds, in [`PHASES`] order (the loop fills
    /// in the last one, publishing).
    pub phase_secs: [f32; PHASES.len()],
}

impl Game {
    /// A world with its initial asteroid population placed without overlaps.
    pub fn new(config: GameConfig) -> Game {
        let mut kin = Kinematics::new(config.arena_half_size);
        if let Some(b) = &config.borders {
            kin.open_edges = b.grid.open_edges();
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
            rng: SmallRng::seed_from_u64(config.seed),
            contacts,
            unshielded: Vec::new(),
            near_asteroids: std::collections::BTreeSet::new(),
            near_scratch: Vec::new(),
            collector: ChannelEventCollector::new(contacts_tx, force_tx, tear_tx),
            nonfinite_removed: 0,
            edge_turnbacks: 0,
            input_counts: InputCounts::default(),
            featured: None,
            leaderboard: Arc::new(PublishedLeaderboard::new(Leaderboard::default())),
            phase_secs: [0.0; PHASES.len()],
            config,
        };
        game.place_initial_asteroids();
        // One tick before anyone joins fills the broad phase, so the first ship's spawn check
        // sees the initial field.
        game.tick([]);
        game
    }

    /// Advances the world by one tick: the phases listed in the module docs, each timed into
    /// [`Game::phase_secs`]. What the tick decided waits in the outbox for [`Game::deliver`].
    pub fn tick(&mut self, events: impl IntoIterator<Item = SimEvent>) {
        self.tick += 1;
        let mut laps = Laps::start();
        self.inbound(events);
        self.apply_due_inputs();
        laps.lap(&mut self.phase_secs, Phase::Inbound);
        self.pilots();
        laps.lap(&mut self.phase_secs, Phase::Pilots);
        self.intents();
        laps.lap(&mut self.phase_secs, Phase::Intents);
        self.motion();
        laps.lap(&mut self.phase_secs, Phase::Motion);
        self.entities.detect_collisions(&self.collector);
        laps.lap(&mut self.phase_secs, Phase::Physics);
        self.collisions();
        laps.lap(&mut self.phase_secs, Phase::Collisions);
        self.borders();
        laps.lap(&mut self.phase_secs, Phase::Borders);
        self.lifetimes();
        self.keep_featured(false);
        laps.lap(&mut self.phase_secs, Phase::Lifetimes);
        self.population();
        laps.lap(&mut self.phase_secs, Phase::Population);
        if self.tick.is_multiple_of(LEADERBOARD_INTERVAL_TICKS) {
            self.update_leaderboard();
            self.keep_featured(true);
        }
        laps.lap(&mut self.phase_secs, Phase::Leaderboard);
    }

    /// Delivers what the last tick decided (see [`Outbox::deliver`]): answers, events, and
    /// score changes to `scores`. Timed as the `deliver` phase.
    pub fn deliver(&mut self, scores: Option<&dyn ScoreSink>) -> Undelivered {
        let mut laps = Laps::start();
        let undelivered = self.outbox.deliver(&self.players, scores);
        laps.lap(&mut self.phase_secs, Phase::Deliver);
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

/// A tick's phases, in [`PHASES`] order.
#[derive(Clone, Copy, Debug)]
pub(super) enum Phase {
    Inbound,
    Pilots,
    Intents,
    Motion,
    Physics,
    Collisions,
    Borders,
    Lifetimes,
    Population,
    Leaderboard,
    Deliver,
    Publish,
}

/// Times consecutive phases: each lap is the time since the previous one.
pub(super) struct Laps(Instant);

impl Laps {
    /// Starts the first lap now.
    pub(super) fn start() -> Laps {
        Laps(Instant::now())
    }

    /// Ends the current lap as `phase`'s time in `secs`, and starts the next.
    pub(super) fn lap(&mut self, secs: &mut [f32; PHASES.len()], phase: Phase) {
        let now = Instant::now();
        secs[phase as usize] = (now - self.0).as_secs_f32();
        self.0 = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The phase enum and the published names agree, in order.
    #[test]
    fn phases_are_named_in_order() {
        assert_eq!(Phase::Publish as usize + 1, PHASES.len());
        assert_eq!(PHASES[Phase::Pilots as usize], "pilots");
        assert_eq!(PHASES[Phase::Physics as usize], "physics");
        assert_eq!(PHASES[Phase::Deliver as usize], "deliver");
    }
}
