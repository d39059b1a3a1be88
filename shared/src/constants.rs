//! The single source of truth for numbers both sides rely on.
//!
//! The server reads its physics configuration from here and sends the kinematic part to every
//! client in `Welcome` (see [`crate::kinematics::Kinematics::DEFAULT`]), so a client never runs
//! with stale constants compiled into an old page.

/// Version of the wire protocol. Bumped on any change to a serialized type; a client that
/// presents another version is answered with `Rejected { reason: ProtocolMismatch }`.
pub const PROTOCOL_VERSION: u32 = 2;

/// Simulation ticks per second.
pub const TICK_HZ: u32 = 60;

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

/// Ticks between two leaderboard updates (one second).
pub const LEADERBOARD_INTERVAL_TICKS: u32 = TICK_HZ;
