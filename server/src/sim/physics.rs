//! Rapier in this game: every entity is a collider in rapier's sets, and rapier detects every
//! contact; the motion itself is `shared::kinematics`, computed once per body per tick.
//!
//! Why not let rapier integrate? Contacts here are *detected* but never *resolved*: every
//! touch is decided by the rules (a ship that touches anything dies, a bullet that touches
//! anything is spent and splits what it hit), and asteroids pass through each other. Between
//! contacts a body moves exactly as a free rapier body would, and `shared::kinematics` is that
//! motion, operation for operation (a test steps real rapier bodies configured by
//! [`body_builder`] and holds the model to them, bit for bit, for 900 ticks). Letting rapier
//! integrate as well meant integrating every body twice (rapier's step, then the model for
//! the epoch check) and writing every body's quantized state back into rapier, which woke
//! every body and re-inserted every collider each tick: most of the tick's cost. So the
//! motion phase advances each entity with the model and moves its collider there, and rapier's
//! collision pipeline alone ([`PhysicsWorld::detect_collisions`]) finds the touches.
//!
//! The colliders are sensors (an intersection test, no contact manifold: nothing is solved)
//! without a parent body, so every pair type must be enabled explicitly. An asteroid's collider
//! is larger than the asteroid by [`ASTEROID_SKIN`] and follows it only when it has drifted
//! [`ASTEROID_DRIFT`]: between moves, rapier has nothing to do for it (most of the world is
//! asteroids), and a pair with an asteroid that rapier reports meeting is tested exactly every
//! tick until it reports them apart (`collisions.rs`).

use rapier2d::prelude::*;
use shared::kinematics::Kinematics;
use shared::protocol::{EntityId, EntityKind};
use shared::quant::{Body, QState};

/// Collision group of ships.
const SHIPS: Group = Group::GROUP_1;
/// Collision group of asteroids.
const ASTEROIDS: Group = Group::GROUP_2;
/// Collision group of bullets (they never touch each other).
const BULLETS: Group = Group::GROUP_3;

/// Rapier's parameters for the game: the fixed dt and the speed cap from the kinematics,
/// rapier's default substep count (which the kinematics mirrors).
pub fn integration_parameters(kin: &Kinematics) -> IntegrationParameters {
    // World units are screen-sized (a ship is 14 units across, a view 1920): rapier's length
    // unit says so. It scales the broad phase's change-detection skin (0.04 length units, or
    // up to 12.5 % of a collider's size), so a drifting asteroid keeps its tree leaf for many
    // ticks instead of being re-inserted every tick.
    let mut params = IntegrationParameters { dt: kin.dt, length_unit: LENGTH_UNIT, ..IntegrationParameters::default() };
    params.num_solver_iterations = kin.substeps as usize;
    params.normalized_max_linear_velocity = kin.max_linear_speed / params.length_unit;
    // No continuous collision detection: nothing here is fast enough to tunnel. The fastest
    // closing speed (a bullet at 970 u/s against a ship at 420 u/s) covers 23 units a tick,
    // less than the smallest contact diameter (bullet against ship or small asteroid: 32).
    params.max_ccd_substeps = 0;
    params
}

/// Rapier's characteristic length for this game's world units.
pub const LENGTH_UNIT: f32 = 100.0;

/// An empty world configured for the game (no gravity: it is space).
pub fn new_world(kin: &Kinematics) -> PhysicsWorld {
    let mut world = PhysicsWorld::new();
    world.gravity = Vector::ZERO;
    // Each leaf's skin proportional to its collider (clamped to 4..25 units here): large,
    // slow asteroids move least often in the tree.
    world.broad_phase.adaptive_change_detection_margin = true;
    world.integration_parameters = integration_parameters(kin);
    world
}

/// What an entity of `kind` can touch: ships touch everything, bullets ships and asteroids,
/// asteroids ships and bullets (they pass through each other).
pub fn collision_groups(kind: EntityKind) -> InteractionGroups {
    let (memberships, filter) = match kind {
        EntityKind::Ship => (SHIPS, SHIPS | ASTEROIDS | BULLETS),
        EntityKind::Bullet => (BULLETS, SHIPS | ASTEROIDS),
        _ => (ASTEROIDS, SHIPS | BULLETS),
    };
    InteractionGroups::new(memberships, filter, InteractionTestMode::And)
}

/// How much larger an asteroid's collider is than the asteroid: its *skin*. An asteroid's
/// collider stays where it was put until the asteroid has drifted [`ASTEROID_DRIFT`] from it,
/// so the skinned ball always holds the asteroid, and every pair rapier's collision detection
/// reports for it is a pair that *may* touch: [`touching`] decides, on the exact balls. Most
/// asteroids drift less than a unit a tick, so most of their colliders stay put for many
/// ticks, and rapier's broad phase, its tree and its narrow phase do no work for them.
pub const ASTEROID_SKIN: f32 = 8.0;

/// How far an asteroid may drift from its collider before the collider is moved to it: a
/// little less than [`ASTEROID_SKIN`], so no rounding of the distances can let a touch fall
/// outside the skinned ball.
pub const ASTEROID_DRIFT: f32 = ASTEROID_SKIN - 0.5;

/// The radius of the collider of an entity of `kind` (its own, plus the skin for asteroids).
pub fn collider_radius(kind: EntityKind) -> f32 {
    if kind.is_asteroid() {
        kind.radius() + ASTEROID_SKIN
    } else {
        kind.radius()
    }
}

/// Whether an entity of kind `a` at `pa` and one of kind `b` at `pb` touch: parry's
/// intersection test of their exact balls, the very test rapier's narrow phase runs.
pub fn touching(a: EntityKind, pa: glam::Vec2, b: EntityKind, pb: glam::Vec2) -> bool {
    let (ball_a, ball_b) =
        (rapier2d::parry::shape::Ball::new(a.radius()), rapier2d::parry::shape::Ball::new(b.radius()));
    rapier2d::parry::query::intersection_test(
        &Pose::from_translation(pa),
        &ball_a,
        &Pose::from_translation(pb),
        &ball_b,
    )
    .is_ok_and(|hit| hit.intersecting)
}

/// The collider of an entity of `kind` at `pos`; `user_data` carries the entity id.
pub fn collider_builder(kind: EntityKind, id: EntityId, pos: glam::Vec2) -> ColliderBuilder {
    let events = matches!(kind, EntityKind::Ship | EntityKind::Bullet);
    let mut builder = ColliderBuilder::ball(collider_radius(kind))
        .translation(pos)
        .sensor(true)
        // No parent body: rapier treats the collider as fixed, and by default fixed colliders
        // never meet each other.
        .active_collision_types(ActiveCollisionTypes::all())
        .user_data(id as u128)
        .collision_groups(collision_groups(kind));
    if events {
        builder = builder.active_events(ActiveEvents::COLLISION_EVENTS);
    }
    builder
}

/// The dynamic rapier body whose free motion `shared::kinematics` reproduces, for an entity
/// of `kind` starting in `state`: centre of mass at the body origin, sleeping off, unit mass
/// for ships (the force rapier is given *is* the acceleration), and the damping from
/// [`Kinematics`]. The server does not simulate these; the kinematics test steps them (in a
/// world from [`new_world`]) to prove the model equal to rapier.
pub fn body_builder(kind: EntityKind, state: &QState, kin: &Kinematics) -> RigidBodyBuilder {
    let b = state.body();
    let damping = kin.damping(kind);
    let mut builder = RigidBodyBuilder::dynamic()
        .pose(Pose::from_parts(b.pos, Rotation::from_cos_sin_unchecked(b.rot.x, b.rot.y)))
        .linvel(b.vel)
        .angvel(b.angvel)
        .linear_damping(damping.linear)
        .angular_damping(damping.angular)
        // A sleeping body's velocity is zeroed, which no client could predict.
        .can_sleep(false);
    if kind == EntityKind::Ship {
        // Unit mass: the thrust force equals the acceleration the kinematics applies.
        builder = builder.additional_mass_properties(MassProperties::new(Vector::ZERO, 1.0, 50.0));
    }
    builder
}

/// A massless-for-ships collider for a [`body_builder`] body (a ship's mass comes from its
/// additional mass properties alone).
pub fn body_collider_builder(kind: EntityKind) -> ColliderBuilder {
    let density = if kind == EntityKind::Ship { 0.0 } else { 1.0 };
    ColliderBuilder::ball(kind.radius()).density(density).friction(0.0)
}

/// A [`body_builder`] body's state as the kinematics sees it.
pub fn read_body(rb: &RigidBody) -> Body {
    let rot = rb.rotation();
    Body { pos: rb.translation(), vel: rb.linvel(), rot: glam::Vec2::new(rot.re, rot.im), angvel: rb.angvel() }
}

/// Sets a [`body_builder`] body's state exactly (the snap to the wire grid after a step).
pub fn write_body(rb: &mut RigidBody, b: &Body) {
    rb.set_position(Pose::from_parts(b.pos, Rotation::from_cos_sin_unchecked(b.rot.x, b.rot.y)), false);
    rb.set_linvel(b.vel, false);
    rb.set_angvel(b.angvel, false);
}
