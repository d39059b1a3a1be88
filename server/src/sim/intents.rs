//! Phase 2, intents: each ship's latest input becomes the force and spin of this tick's step
//! (the same `shared::kinematics::Kinematics::intent` a client predicts with), and a held
//! trigger becomes a bullet when the ship's gun has cooled down. The server alone decides the
//! fire rate and the bullet's speed, whatever the client sends.

use super::entities::Spawn;
use super::game::Game;
use glam::Vec2;
use shared::constants::{
    BULLET_LIFETIME_TICKS, BULLET_RADIUS, BULLET_SPEED, FIRE_COOLDOWN_TICKS, MUZZLE_GAP, SHIP_RADIUS,
};
use shared::protocol::{EntityKind, PlayerId};
use shared::quant::{Body, Ctrl};

impl Game {
    pub(super) fn intents(&mut self) {
        let mut shots: Vec<(PlayerId, Body)> = Vec::new();
        for (id, p) in self.players.iter_mut() {
            let Some((ship, rb)) = p.ship.and_then(|ship| self.entities.get_with_body_mut(ship)) else { continue };
            let ctrl = Ctrl::from_intent(p.input.thrust, p.input.turn);
            let body = ship.state.body();
            let (force, angvel) = self.kin.intent(EntityKind::Ship, ctrl, &body);
            rb.reset_forces(false);
            rb.add_force(force, false);
            if let Some(w) = angvel {
                rb.set_angvel(w, false);
            }
            // The controls that apply during this step; `snap` records them in the state.
            ship.ctrl_now = ctrl;
            if p.input.fire && self.tick >= p.next_fire {
                p.next_fire = self.tick + FIRE_COOLDOWN_TICKS;
                let nose = body.rot.normalize_or(Vec2::X);
                let pos = body.pos + nose * (SHIP_RADIUS + BULLET_RADIUS + MUZZLE_GAP);
                shots.push((id, Body { pos, vel: body.vel + nose * BULLET_SPEED, rot: nose, angvel: 0.0 }));
            }
        }
        for (owner, body) in shots {
            let bullet = Spawn {
                kind: EntityKind::Bullet,
                body,
                ctrl: Ctrl(0),
                owner: Some(owner),
                expires_at: Some(self.tick + BULLET_LIFETIME_TICKS),
            };
            self.entities.spawn(bullet, self.tick, &self.kin);
        }
    }
}
