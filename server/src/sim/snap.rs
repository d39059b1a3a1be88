//! Phase 6, snap and epochs: every body is put on the wire grid, and each entity's *epoch*
//! records whether it still moves as `shared::kinematics` predicts.
//!
//! After rapier's step, the game's end-of-tick rules apply (`Kinematics::post_step`: a ship's
//! speed limit, the arena's walls), then the body is quantized exactly as the wire quantizes
//! it and written back into rapier, so the server and every client start the next tick from
//! the same numbers. A client holding last tick's state predicts `Kinematics::tick` of it; if
//! the snapped state differs (a contact, new controls, a spawn) the entity's epoch becomes
//! this tick, and sessions send it to every client that knew an older state.
//!
//! A body that became non-finite despite the validation at the socket is removed and logged,
//! never replicated.

use super::game::Game;
use super::physics;
use shared::quant::QState;

impl Game {
    pub(super) fn snap(&mut self) {
        let (kin, tick) = (&self.kin, self.tick);
        let mut broken = Vec::new();
        self.entities.for_each_with_body(|e, rb| {
            let mut body = physics::read_body(rb);
            if !(body.pos.is_finite() && body.vel.is_finite() && body.rot.is_finite() && body.angvel.is_finite()) {
                broken.push(e.id);
                return;
            }
            kin.post_step(&mut body, e.kind);
            let new_state = QState::from_body(&body, e.ctrl_now);
            if e.epoch != tick && kin.tick(&e.state, e.kind) != new_state {
                e.epoch = tick;
            }
            physics::write_body(rb, &new_state.body());
            e.state = new_state;
        });
        for id in broken {
            self.nonfinite_removed += 1;
            tracing::error!(entity = id, "non-finite body state; entity removed");
            self.entities.despawn(id);
        }
    }
}
