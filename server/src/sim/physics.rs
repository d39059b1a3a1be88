//! How the game's entities become rapier bodies, and how their state is read back.
//!
//! Everything here keeps the promises `shared::kinematics` relies on: centre of mass at the
//! body origin, sleeping off, unit mass for ships (the force rapier is given *is* the
//! acceleration), the damping and speed cap from [`Kinematics`], and a fixed dt set once.
//!
//! Contacts are *detected* but never *resolved*: every touch in this game is decided by its
//! rules (a ship that touches anything dies, a bullet that touches anything is spent and
//! splits what it hit), so no collider takes part in the contact solver, and asteroids pass
//! through each other as in the arcade original. That keeps every asteroid on the path
//! `shared::kinematics` predicts until a bullet or a ship touches it: a coasting asteroid costs
//! no bytes, and the solver costs no time.

use rapier2d::prelude::*;
use shared::kinematics::Kinematics;
use shared::protocol::EntityKind;
use shared::quant::{Body, QState};

/// Collision group of ships.
const SHIPS: Group = Group::GROUP_1;
/// Collision group of asteroids.
const ASTEROIDS: Group = Group::GROUP_2;
/// Collision group of bullets (they never touch each other).
const BULLETS: Group = Group::GROUP_3;

/// Rapier's parameters for the game: the fixed dt and the speed cap from the kinematics, rapier's
/// default substep count (which the kinematics mirrors).
pub fn integration_parameters(kin: &Kinematics) -> IntegrationParameters {
    let mut params = IntegrationParameters { dt: kin.dt, ..IntegrationParameters::default() };
    params.num_solver_iterations = kin.substeps as usize;
    params.normalized_max_linear_velocity = kin.max_linear_speed / params.length_unit;
    // No continuous collision detection: nothing here is fast enough to tunnel. The fastest
    // closing speed (a bullet at 970 u/s against a ship at 420 u/s) covers 23 units a tick,
    // less than the smallest contact diameter (bullet against ship or small asteroid: 32).
    // Rapier's CCD bookkeeping would otherwise run for every body, every step.
    params.max_ccd_substeps = 0;
    params
}

/// An empty world configured for the game (no gravity: it is space).
pub fn new_world(kin: &Kinematics) -> PhysicsWorld {
    let mut world = PhysicsWorld::new();
    world.gravity = Vector::ZERO;
    world.integration_parameters = integration_parameters(kin);
    world
}

/// The rigid body for an entity of `kind` starting in `state`.
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

/// The collider for an entity of `kind`; `user_data` carries the entity id.
pub fn collider_builder(kind: EntityKind, id: u32) -> ColliderBuilder {
    let (memberships, filter, events) = match kind {
        EntityKind::Ship => (SHIPS, SHIPS | ASTEROIDS | BULLETS, true),
        EntityKind::Bullet => (BULLETS, SHIPS | ASTEROIDS, true),
        _ => (ASTEROIDS, SHIPS | BULLETS, false),
    };
    let density = match kind {
        // The ship's mass comes from its additional mass properties alone.
        EntityKind::Ship => 0.0,
        EntityKind::Bullet => 0.05,
        _ => 1.0,
    };
    let mut builder = ColliderBuilder::ball(kind.radius())
        .density(density)
        .friction(0.0)
        .user_data(id as u128)
        .collision_groups(InteractionGroups::new(memberships, filter, InteractionTestMode::And))
        .solver_groups(InteractionGroups::new(memberships, Group::NONE, InteractionTestMode::And));
    if events {
        builder = builder.active_events(ActiveEvents::COLLISION_EVENTS);
    }
    builder
}

/// A body's state as the kinematics sees it.
pub fn read_body(rb: &RigidBody) -> Body {
    let rot = rb.rotation();
    Body { pos: rb.translation(), vel: rb.linvel(), rot: glam::Vec2::new(rot.re, rot.im), angvel: rb.angvel() }
}

/// Sets a body's state exactly (the snap to the wire grid at the end of a tick).
pub fn write_body(rb: &mut RigidBody, b: &Body) {
    rb.set_position(Pose::from_parts(b.pos, Rotation::from_cos_sin_unchecked(b.rot.x, b.rot.y)), false);
    rb.set_linvel(b.vel, false);
    rb.set_angvel(b.angvel, false);
}
