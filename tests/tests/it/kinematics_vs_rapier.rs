//! `shared::kinematics` against real rapier bodies, configured by `sim::physics::body_builder`
//! (free dynamic bodies with the game's damping, mass and speed cap): the model the server
//! moves every entity with must be rapier's physics, bit for bit.

use asteroids_server::sim::physics;
use shared::kinematics::Kinematics;
use shared::protocol::EntityKind;
use shared::quant::{Body, Ctrl, QState};

const TICKS: usize = 900;

/// One free body's motion under a scripted control sequence, stepped by rapier (with the
/// server's end-of-tick rules and quantization) and by the model; returns the first tick where
/// they differ, if any.
fn first_divergence(
    kin: &Kinematics,
    kind: EntityKind,
    start: Body,
    ctrl_at: impl Fn(usize) -> Ctrl,
) -> Option<(usize, QState, QState)> {
    let mut world = physics::new_world(kin);
    let mut truth = QState::from_body(&start, ctrl_at(0));
    let handle = world.insert(physics::body_builder(kind, &truth, kin), physics::body_collider_builder(kind)).0;
    let mut model = truth;
    for tick in 0..TICKS {
        let ctrl = ctrl_at(tick);
        // Server side: apply the intent to rapier, step, apply the game rules, snap.
        truth.ctrl = ctrl;
        model.ctrl = ctrl;
        {
            let rb = &mut world.bodies[handle];
            let (force, angvel) = kin.intent(kind, ctrl, &truth.body());
            rb.reset_forces(false);
            rb.add_force(force, false);
            if let Some(w) = angvel {
                rb.set_angvel(w, false);
            }
        }
        world.step();
        let rb = &mut world.bodies[handle];
        let mut body = physics::read_body(rb);
        kin.post_step(&mut body, kind);
        truth = QState::from_body(&body, ctrl);
        physics::write_body(rb, &truth.body());
        // Client side: the shared model alone.
        model = kin.tick(&model, kind);
        if model != truth {
            return Some((tick, truth, model));
        }
    }
    None
}

fn body(pos: [f32; 2], vel: [f32; 2], angle_pair: [f32; 2], angvel: f32) -> Body {
    Body { pos: pos.into(), vel: vel.into(), rot: angle_pair.into(), angvel }
}

/// Coasting bodies with several damping values match rapier exactly for 900 ticks: the
/// tolerance this proves is zero (every quantized component equal at every tick).
#[test]
fn coasting_bodies_match_rapier_bit_for_bit() {
    for damping in [0.0f32, 0.1, 0.6, 1.5, 4.0] {
        for ang_damping in [0.0f32, 0.5] {
            let mut kin = Kinematics::new([20_000.0, 20_000.0]);
            kin.asteroid.linear = damping;
            kin.asteroid.angular = ang_damping;
            for kind in [EntityKind::AsteroidLarge, EntityKind::AsteroidSmall] {
                let start = body([123.25, -40.5], [173.0, -61.5], [0.6, 0.8], 1.7);
                let d = first_divergence(&kin, kind, start, |_| Ctrl(0));
                assert_eq!(d, None, "damping {damping}/{ang_damping} {kind:?}: first divergence (tick, rapier, model)");
            }
        }
    }
}

/// A ship thrusting, turning and coasting in turn (its damping from the game's tuning and two
/// others) matches rapier exactly for 900 ticks, including the top-speed clamp.
#[test]
fn piloted_ship_matches_rapier_bit_for_bit() {
    for damping in [0.6f32, 0.0, 2.0] {
        let mut kin = Kinematics::new([20_000.0, 20_000.0]);
        kin.ship.linear = damping;
        let script = |tick: usize| match (tick / 45) % 6 {
            0 => Ctrl::from_intent(true, 0),
            1 => Ctrl::from_intent(true, 1),
            2 => Ctrl::from_intent(false, 0),
            3 => Ctrl::from_intent(false, -1),
            4 => Ctrl::from_intent(true, -1),
            _ => Ctrl::from_intent(false, 0),
        };
        let start = body([0.0, 0.0], [0.0, 0.0], [1.0, 0.0], 0.0);
        assert_eq!(first_divergence(&kin, EntityKind::Ship, start, script), None, "ship damping {damping}");
    }
}

/// Bodies bouncing off the arena's edges still match: the edge rule is in the shared model.
#[test]
fn arena_bounces_match_rapier() {
    let kin = Kinematics::new([300.0, 200.0]);
    let start = body([250.0, 150.0], [310.0, 190.0], [0.0, 1.0], -0.4);
    assert_eq!(first_divergence(&kin, EntityKind::AsteroidMedium, start, |_| Ctrl(0)), None);
    assert_eq!(first_divergence(&kin, EntityKind::Bullet, start, |_| Ctrl(0)), None);
}
