//! The intents phase: each ship's latest input becomes the controls of this tick's motion (the
//! thrust and turn `shared::kinematics` applies, exactly as a client predicts them), and a
//! held trigger becomes a bullet when the ship's gun has cooled down, by the rule of
//! `shared::helm` (the very rule the page predicts its own ship with). The server alone decides
//! the fire rate and the bullet's speed, whatever the client sends. A new ship's spawn
//! protection is part of its controls (`Ctrl::SHIELD`, so every client sees it); it ends when
//! its time is up or when the pilot first fires.

use super::entities::Spawn;
use super::game::Game;
use shared::constants::BULLET_LIFETIME;
use shared::protocol::{EntityKind, PlayerId};
use shared::quant::{Body, Ctrl};

impl Game {
    pub(super) fn intents(&mut self) {
        let mut shots: Vec<(PlayerId, Body)> = Vec::new();
        self.unshielded.clear();
        for (id, p) in self.players.iter_mut() {
            let Some(ship) = p.ship.and_then(|ship| self.entities.get_mut(ship)) else { continue };
            let steered = p.helm.steer(&self.kin, self.tick, &p.input, &ship.state.body());
            let ctrl = steered.ctrl;
            if ship.state.ctrl.shielded() && !ctrl.shielded() {
                self.unshielded.push(ship.id);
            }
            if ctrl != ship.state.ctrl {
                // A client holding the last state predicts it with the old controls: this tick
                // starts a new epoch, and sessions send the ship again.
                ship.epoch = self.tick;
            }
            ship.ctrl_now = ctrl;
            if let Some(shot) = steered.shot {
                shots.push((id, shot));
            }
        }
        for (owner, body) in shots {
            let bullet = Spawn {
                kind: EntityKind::Bullet,
                body,
                ctrl: Ctrl(0),
                owner: Some(owner),
                expires_at: Some(self.tick + BULLET_LIFETIME),
            };
            self.entities.spawn(bullet, self.tick);
        }
    }
}
