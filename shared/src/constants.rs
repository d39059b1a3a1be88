//! The single source of truth for numbers both sides rely on.
//!
//! The server reads its physics configuration from here and sends the kinematic part to every
//! client in `Welcome` (see [`crate::kinematics::Kinematics::new`]), so a client never runs
//! with stale constants compiled into an old page.

/// Version of the wire protocol. Bumped on any change to a serialized type; a client that
/// presents another version is answered with `Rejected { reason: ProtocolMismatch }`.
pub const PROTOCOL_VERSION: u32 = 7;

use crate::time::Ticks;

/// Simulation ticks per second.
pub const TICK_HZ: u32 = 60;

/// Furthest ahead of the server's tick an input may name its tick (a second): a client keeps
/// its inputs just ahead of the server by its round trip and jitter, so this covers links up
/// to a round trip of most of a second.
/// An input naming a later tick is applied at this bound instead and counted
/// (`inputs_too_early`), so the server never holds more than this many inputs per player.
pub const MAX_INPUT_LEAD: Ticks = Ticks::from_secs(1);

/// The fixed simulation step, in seconds. Set once in rapier's `IntegrationParameters`; the
/// simulation never steps with a wall-clock dt.
pub const DT_SECS: f32 = 1.0 / TICK_HZ as f32;

/// Solver substeps per tick: rapier's `num_solver_iterations` (its default).
pub const SUBSTEPS: u32 = 4;

/// Rapier's linear speed cap per substep (`normalized_max_linear_velocity` × `length_unit`),
/// in units per second. Raised from rapier's default of 400 so bullets fly faster than ships.
pub const MAX_LINEAR_SPEED: f32 = 1000.0;

/// Default snapshot rate, in snapshots per second.
pub const DEFAULT_SNAPSHOT_HZ: u32 = 20;

/// Largest view a client may ask for, in world units (width, height). Larger requests are
/// clamped, so a client cannot make the server send it the whole world.
pub const MAX_VIEW_SIZE: [f32; 2] = [2560.0, 1600.0];

/// Largest binary message the server accepts from a client, in bytes. Larger ones are
/// answered with close code 1009 (message too big).
pub const MAX_CLIENT_MESSAGE_BYTES: usize = 4096;

/// Shortest and longest player name, in characters (after trimming).
pub const NAME_LEN: core::ops::RangeInclusive<usize> = 1..=20;

/// Longest token string a client may present, in bytes.
pub const MAX_TOKEN_LEN: usize = 128;

/// WebSocket close code of a session that a newer connection with the same identity took
/// over (another tab, a reload): the page must not reconnect by itself, or two tabs would take
/// the ship from each other forever.
pub const CLOSE_REPLACED: u16 = 4001;

/// WebSocket close code of a session whose identity an operator revoked: its token will be
/// refused, so the page must not reconnect with it.
pub const CLOSE_IDENTITY_REVOKED: u16 = 4003;

/// WebSocket close code after a [`crate::protocol::ServerMsg::HandOver`]: the ship flew into
/// a neighbouring sector, and the page continues there with the ticket at once.
pub const CLOSE_HANDED_OVER: u16 = 4010;

/// Longest hand-over ticket a `Hello` may carry, in bytes (a ticket is about 150).
pub const MAX_TICKET_BYTES: usize = 512;

/// Ship hull radius, in world units.
pub const SHIP_RADIUS: f32 = 14.0;
/// Bullet radius, in world units.
pub const BULLET_RADIUS: f32 = 2.0;
/// Asteroid radii by size, in world units: large, medium, small.
pub const ASTEROID_RADII: [f32; 3] = [64.0, 32.0, 16.0];

/// The largest radius of any entity: a client pads its view by this much so that an entity
/// whose centre is just off screen but whose body is visible is still sent.
pub const MAX_ENTITY_RADIUS: f32 = ASTEROID_RADII[0];

/// Lines in the leaderboard.
pub const LEADERBOARD_SIZE: usize = 10;

/// Time between two leaderboard updates.
pub const LEADERBOARD_INTERVAL: Ticks = Ticks::from_secs(1);

/// Shortest time between two `TopOnline` messages to one client, milliseconds. With a
/// thousand pilots fighting, the online top changes every second; sent that often, its ten
/// names would be about a seventh of a player's downlink (every 2 s, a tenth: measured in
/// `BENCHMARKS.md`).
pub const TOP_ONLINE_INTERVAL_MS: u64 = 3_000;

/// Shortest time between two `TopAllTime` messages to one client, milliseconds: the all-time
/// board moves slowly, and a pilot climbing it sees their own total in their score at once.
pub const TOP_ALL_TIME_INTERVAL_MS: u64 = 10_000;

// ---------------------------------------------------------------------------------------------
// Game rules. The server alone enforces them; they live here so that every tuning number has
// one home, and so that a client can show (or, later, predict) what the server will do.

/// Speed of a bullet relative to the ship that fired it, units per second.
pub const BULLET_SPEED: f32 = 550.0;
/// How long a new ship is protected: it cannot be destroyed, and cannot destroy anything
/// or score, until then or until its pilot first fires. Without it, a ship spawned into a
/// busy field was often destroyed before its pilot had pressed a key.
pub const SPAWN_PROTECTION: Ticks = Ticks::from_secs(3);
/// How long a bullet lives.
pub const BULLET_LIFETIME: Ticks = Ticks::from_millis(1500);
/// Gap between a ship's hull and a new bullet's edge, world units, so a shot never starts
/// touching its own ship.
pub const MUZZLE_GAP: f32 = 4.0;
/// Shortest time between two shots of one ship (5 shots per second).
pub const FIRE_COOLDOWN: Ticks = Ticks::from_millis(200);
/// Time between a ship's destruction and its replacement.
pub const RESPAWN_DELAY: Ticks = Ticks::from_secs(2);
/// How long a dropped player with an identity can come back to its ship, position and score,
/// by default.
pub const RESUME_WINDOW: Ticks = Ticks::from_secs(10);
/// Points for hitting a large or medium asteroid; small ones give twice this.
pub const POINTS_PER_HIT: u32 = 1;
/// Points for destroying another player's ship (but see [`KILL_REPEAT_WINDOW`] and
/// [`MIN_VICTIM_POINTS`]).
pub const POINTS_PER_KILL: u32 = 10;
/// A kill scores points only if the shooter has not scored a kill of the same victim (the
/// same identity) within this window: shooting one's own throw-away accounts
/// over and over pays nothing.
pub const KILL_REPEAT_WINDOW: Ticks = Ticks::from_secs(5 * 60);
/// A kill scores points only if the victim has at least this many all-time points: a pilot
/// who has never scored (a fresh throw-away account, or a newcomer) is worth nothing to hunt.
pub const MIN_VICTIM_POINTS: u32 = 1;

/// Relative odds of a new asteroid being large, medium or small.
pub const ASTEROID_SIZE_ODDS: [u32; 3] = [5, 3, 2];
/// Slowest drift of a new asteroid, units per second.
pub const ASTEROID_MIN_DRIFT: f32 = 5.0;
/// Fastest drift of a new asteroid by size (large, medium, small), units per second: small
/// rocks are quicker.
pub const ASTEROID_MAX_DRIFT: [f32; 3] = [40.0, 70.0, 100.0];
/// Fastest spin of a new asteroid, radians per second (either way).
pub const ASTEROID_MAX_SPIN: f32 = 1.0;
/// Sideways speed given to each half of a split asteroid, units per second (a random value in
/// this range, one each way).
pub const SPLIT_KICK: core::ops::Range<f32> = 25.0..60.0;
/// Speed the halves of a split asteroid gain along the bullet's path, units per second.
pub const SPLIT_PUSH: f32 = 10.0;

/// An asteroid spawned this far from every ship is spawned unseen: farther than any view
/// reaches (half the largest view's diagonal plus a large asteroid). In a world crowded enough
/// that no such place is found (every point of the arena in someone's view: a few hundred
/// players in the default field), the keeper spawns in sight instead, and the asteroid
/// *appears* (see [`ASTEROID_APPEAR`]), so that the field never empties.
pub const ASTEROID_SPAWN_CLEARANCE: f32 = 0.5 * 1.4143 * MAX_VIEW_SIZE[0] + ASTEROID_RADII[0];
/// How long an asteroid spawned in sight takes to appear: clients draw it growing
/// from nothing instead of popping into view. It is solid from its first tick; see
/// [`ASTEROID_APPEAR_CLEARANCE`].
pub const ASTEROID_APPEAR: Ticks = Ticks::from_millis(500);
/// No asteroid is spawned in sight closer than this to any ship, world units: farther than a
/// ship at top speed (420 units/s) flies while it appears, so a pilot meets one still growing
/// only by flying straight at it from the moment it shows.
pub const ASTEROID_APPEAR_CLEARANCE: f32 = 300.0;
/// Free space around a newly spawned ship, world units: two seconds of a fast small
/// asteroid's drift, so a pilot has time to react.
pub const SHIP_SPAWN_CLEARANCE: f32 = 300.0;
/// Places tried for a new ship before it is put at the last one tried.
pub const SHIP_SPAWN_ATTEMPTS: u32 = 32;
/// Asteroids spawned per tick at most by the population keeper, so refilling a field never
/// makes one tick slow.
pub const ASTEROID_SPAWNS_PER_TICK: usize = 16;
/// Random places the population keeper tries per tick at most: in a crowded world few are
/// clear of every ship (with 2,500 ships in the default field of 10,000 asteroids, about one
/// in four), and the keeper must outpace what the players shoot.
pub const ASTEROID_SPAWN_TRIES_PER_TICK: usize = 64;
/// Side of the cells in which the hotspot (where the action is) is looked for, world units.
pub const HOTSPOT_CELL: f32 = 1024.0;
