//! The motion phase: every entity advances one tick with `shared::kinematics`, exactly as every
//! client predicts it, and its collider follows.
//!
//! One `Kinematics` step per body (rapier's integrator mirrored operation for operation), the
//! game's end-of-tick rules (`Kinematics::post_step`: a ship's speed limit, the arena's walls),
//! then the wire's quantization: the state every client receives or predicts. A body between
//! contacts therefore never leaves its predicted path, so its *epoch* (see
//! [`crate::sim::frame::FrameEntity::epoch`]) changes only where something else changed it: a spawn
//! or new controls (`intents`). Nothing is integrated twice, and nothing is written back.
//!
//! A body that became non-finite despite the validation at the socket is removed and logged,
//! never replicated.

use super::game::Game;
use shared::quant::QState;

impl Game {
    pub(super) fn motion(&mut self) {
        let kin = &self.kin;
        let mut broken = Vec::new();
        self.entities.move_each(|e| {
            let mut body = e.state.body();
            kin.step(&mut body, e.kind, e.ctrl_now);
            kin.post_step(&mut body, e.kind);
            if !(body.pos.is_finite() && body.vel.is_finite() && body.rot.is_finite() && body.angvel.is_finite()) {
                broken.push(e.id);
                return;
            }
            e.state = QState::from_body(&body, e.ctrl_now);
        });
        for id in broken {
            self.counters.nonfinite_bodies += 1;
            tracing::error!(entity = id, "non-finite body state; entity removed");
            self.entities.despawn(id);
        }
    }
}
