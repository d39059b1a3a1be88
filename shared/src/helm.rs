//! The helm: what a pilot's input does to its ship in one tick, beyond motion. The gun fires
//! when the trigger is held and it has cooled down ([`FIRE_COOLDOWN`]), the bullet leaves
//! the muzzle by [`Kinematics::shot`], and a new ship's spawn shield ends when its time is up
//! or when its pilot first fires.
//!
//! The server applies this rule to every ship (its `intents` phase); the page applies it to
//! its own ship while predicting ahead of the server (`client-wasm`'s `predict`). Both call
//! [`Helm::steer`], so the controls and shots a page predicts are the server's, tick for tick:
//! the one rule lives here once, pinned by the tests below and by the prediction tests that
//! compare the page's shots with the server's bullets.

use crate::constants::FIRE_COOLDOWN;
use crate::kinematics::Kinematics;
use crate::protocol::{Input, Tick};
use crate::quant::{Body, Ctrl};
use crate::time::{TickExt, Ticks};

/// A ship's gun and shield, as ticks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Helm {
    /// The first tick the gun may fire again.
    pub next_fire: Tick,
    /// The first tick the ship is no longer shielded (a tick at or before now: unshielded).
    pub shield_until: Tick,
}

/// What one tick's input made of the ship.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Steered {
    /// The controls the ship moves with this tick (thrust, turn, and the shield bit).
    pub ctrl: Ctrl,
    /// The bullet fired this tick, as it leaves the muzzle (before the tick's motion).
    pub shot: Option<Body>,
}

impl Helm {
    /// Applies `input` at `tick` to a ship whose state at the end of the previous tick is
    /// `ship`: fires if the trigger is held and the gun has cooled down (which ends the
    /// shield), and returns the controls and the shot.
    pub fn steer(&mut self, kin: &Kinematics, tick: Tick, input: &Input, ship: &Body) -> Steered {
        let fires = input.fire && tick >= self.next_fire;
        if fires {
            self.next_fire = tick + FIRE_COOLDOWN;
            self.shield_until = self.shield_until.min(tick);
        }
        let shielded = tick < self.shield_until;
        Steered {
            ctrl: Ctrl::from_intent(input.thrust, input.turn).with_shield(shielded),
            shot: fires.then(|| kin.shot(ship)),
        }
    }

    /// Shield left at `tick`.
    pub fn shield_left(&self, tick: Tick) -> Ticks {
        self.shield_until.since(tick)
    }

    /// Time until the gun may fire again, at `tick`.
    pub fn cooldown_left(&self, tick: Tick) -> Ticks {
        self.next_fire.since(tick)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use glam::Vec2;

    fn ship() -> Body {
        Body { pos: Vec2::new(10.0, 20.0), vel: Vec2::new(3.0, 0.0), rot: Vec2::Y, angvel: 0.0 }
    }

    /// A held trigger fires at most once per cooldown, the bullet by the shot formula; the
    /// controls follow the input.
    #[test]
    fn the_gun_fires_once_per_cooldown() {
        let kin = Kinematics::new([1000.0, 1000.0]);
        let mut helm = Helm::default();
        let fire = Input { fire: true, thrust: true, turn: 1, ..Input::default() };
        let fired: Vec<Tick> = (1..=40).filter(|&t| helm.steer(&kin, t, &fire, &ship()).shot.is_some()).collect();
        assert_eq!(fired, vec![1, 1 + FIRE_COOLDOWN, 1 + 2 * FIRE_COOLDOWN, 1 + 3 * FIRE_COOLDOWN]);
        let mut helm = Helm::default();
        let steered = helm.steer(&kin, 5, &fire, &ship());
        assert_eq!(steered.shot, Some(kin.shot(&ship())));
        assert_eq!(steered.ctrl, Ctrl::from_intent(true, 1));
        assert_eq!(helm.cooldown_left(5), FIRE_COOLDOWN);
    }

    /// The shield holds until its time is up, or until the pilot first fires.
    #[test]
    fn the_shield_ends_with_time_or_the_first_shot() {
        let kin = Kinematics::new([1000.0, 1000.0]);
        let coast = Input::default();
        let mut helm = Helm { next_fire: 0, shield_until: 10 };
        assert!(helm.steer(&kin, 9, &coast, &ship()).ctrl.shielded());
        assert!(!helm.steer(&kin, 10, &coast, &ship()).ctrl.shielded(), "time is up");
        let mut helm = Helm { next_fire: 0, shield_until: 10 };
        assert_eq!(helm.shield_left(4), Ticks::new(6));
        let shot = helm.steer(&kin, 4, &Input { fire: true, ..coast }, &ship());
        assert!(shot.shot.is_some() && !shot.ctrl.shielded(), "firing drops the shield at once");
        assert!(!helm.steer(&kin, 5, &coast, &ship()).ctrl.shielded());
        let mut cooling = Helm { next_fire: 8, shield_until: 10 };
        assert!(cooling.steer(&kin, 4, &Input { fire: true, ..coast }, &ship()).ctrl.shielded(), "no shot, no drop");
    }
}
