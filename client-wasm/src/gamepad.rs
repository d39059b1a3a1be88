//! A gamepad (the browser's Gamepad API, "standard" mapping) to an [`Intent`]. The page polls
//! `navigator.getGamepads()` every animation frame and hands the first connected pad's axes
//! and buttons here; polling, rather than the connect events, is what makes hot-plugging work
//! (a pad plugged in mid-game shows up in the next poll), and a pad that disappears is
//! reported as gone, which releases its controls.
//!
//! Left stick sideways or the d-pad turns; the right trigger (7), A (0), the d-pad's up (12)
//! or the left stick pushed up thrusts; B, X or the right bumper (1, 2, 5) fires.

use crate::input::Intent;

/// Left-stick deflection below which it does not turn: sticks rest a little off centre.
pub const STICK_DEAD_ZONE: f32 = 0.3;
/// Left-stick upward deflection from which it thrusts: further than the dead zone, so that
/// turning with a slightly raised thumb does not thrust.
pub const STICK_THRUST: f32 = 0.5;
/// A button's value (an analogue trigger) from which it counts as held even if the browser
/// does not yet call it pressed.
pub const TRIGGER_THRESHOLD: f32 = 0.2;

/// Standard-mapping button indices.
mod button {
    pub(super) const A: usize = 0;
    pub(super) const B: usize = 1;
    pub(super) const X: usize = 2;
    pub(super) const RIGHT_BUMPER: usize = 5;
    pub(super) const RIGHT_TRIGGER: usize = 7;
    pub(super) const DPAD_UP: usize = 12;
    pub(super) const DPAD_LEFT: usize = 14;
    pub(super) const DPAD_RIGHT: usize = 15;
}

/// What a pad holds: `axes` (−1..1, up negative), each button's `values` (0..1) and `pressed`
/// flags (non-zero: pressed). Missing entries are released; non-finite numbers count as 0.
pub fn intent(axes: &[f32], values: &[f32], pressed: &[u8]) -> Intent {
    let axis = |i: usize| axes.get(i).copied().filter(|a| a.is_finite()).unwrap_or(0.0);
    let held = |i: usize| {
        pressed.get(i).is_some_and(|p| *p != 0)
            || values.get(i).is_some_and(|v| v.is_finite() && *v > TRIGGER_THRESHOLD)
    };
    let left = axis(0) < -STICK_DEAD_ZONE || held(button::DPAD_LEFT);
    let right = axis(0) > STICK_DEAD_ZONE || held(button::DPAD_RIGHT);
    Intent {
        thrust: held(button::RIGHT_TRIGGER) || held(button::A) || held(button::DPAD_UP) || axis(1) < -STICK_THRUST,
        turn: left as i8 - right as i8,
        fire: held(button::B) || held(button::X) || held(button::RIGHT_BUMPER),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buttons(held: &[usize]) -> (Vec<f32>, Vec<u8>) {
        let values = (0..17).map(|i| if held.contains(&i) { 1.0 } else { 0.0 }).collect();
        let pressed = (0..17).map(|i| held.contains(&i) as u8).collect();
        (values, pressed)
    }

    /// A pad at rest, or one with nothing in it, holds nothing; the dead zone swallows drift.
    #[test]
    fn rest_holds_nothing() {
        let (v, p) = buttons(&[]);
        assert_eq!(intent(&[0.1, -0.2, 0.0, 0.0], &v, &p), Intent::default());
        assert_eq!(intent(&[], &[], &[]), Intent::default());
        assert_eq!(intent(&[f32::NAN, f32::NEG_INFINITY], &[f32::NAN], &[]), Intent::default());
    }

    /// The stick and the d-pad turn (left counter-clockwise), the stick up, A, d-pad up or
    /// the right trigger thrust, B, X or the right bumper fire.
    #[test]
    fn the_standard_mapping() {
        let (v, p) = buttons(&[]);
        assert_eq!(intent(&[-0.8, 0.0], &v, &p).turn, 1);
        assert_eq!(intent(&[0.8, 0.0], &v, &p).turn, -1);
        assert_eq!(intent(&[0.4, -0.4], &v, &p), Intent { turn: -1, ..Intent::default() }, "not yet thrust");
        assert!(intent(&[0.0, -0.9], &v, &p).thrust);
        for (b, want) in [
            (14, Intent { turn: 1, ..Intent::default() }),
            (15, Intent { turn: -1, ..Intent::default() }),
            (0, Intent { thrust: true, ..Intent::default() }),
            (7, Intent { thrust: true, ..Intent::default() }),
            (12, Intent { thrust: true, ..Intent::default() }),
            (1, Intent { fire: true, ..Intent::default() }),
            (2, Intent { fire: true, ..Intent::default() }),
            (5, Intent { fire: true, ..Intent::default() }),
            (3, Intent::default()),
        ] {
            let (v, p) = buttons(&[b]);
            assert_eq!(intent(&[0.0, 0.0], &v, &p), want, "button {b}");
        }
        let (v, p) = buttons(&[14, 15]);
        assert_eq!(intent(&[], &v, &p).turn, 0, "left and right cancel");
    }

    /// A half-pulled analogue trigger thrusts even before the browser calls it pressed.
    #[test]
    fn an_analogue_trigger_counts_from_its_threshold() {
        let mut values = vec![0.0; 8];
        values[7] = 0.1;
        assert!(!intent(&[], &values, &[]).thrust);
        values[7] = 0.5;
        assert!(intent(&[], &values, &[]).thrust);
    }
}
