//! Wire quantization of an entity's motion state.
//!
//! Every replicated body is snapped to this grid at the end of every server tick, and a
//! client's prediction snaps to it after every predicted tick, so both sides always start a
//! tick from the same numbers. All scales are powers of two: dequantizing (`q / SCALE`) is exact
//! in `f32` for every value the arena can hold, and quantizing uses only `×`, `round`/`trunc`
//! and a saturating cast, which give the same result on every platform.
//!
//! Velocities are truncated toward zero rather than rounded, so a damped body really comes to
//! rest instead of creeping forever at the smallest velocity that rounding would keep.

use glam::Vec2;
use serde::{Deserialize, Serialize};

/// Position grid: 1/128 world unit.
pub const POS_SCALE: f32 = 128.0;
/// Velocity grid: 1/256 world unit per second.
pub const VEL_SCALE: f32 = 256.0;
/// Rotation grid: the (cos, sin) pair in steps of 1/16384.
pub const ROT_SCALE: f32 = 16384.0;
/// Angular velocity grid: 1/1024 radian per second.
pub const ANGVEL_SCALE: f32 = 1024.0;

/// Control bits of a ship: what its pilot is doing, part of its replicated state so that a
/// client's prediction of a thrusting or turning ship is exact too.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Ctrl(pub u8);

impl Ctrl {
    /// Main engine on.
    pub const THRUST: u8 = 1;
    /// Turning counter-clockwise (towards +angle).
    pub const TURN_LEFT: u8 = 2;
    /// Turning clockwise.
    pub const TURN_RIGHT: u8 = 4;
    /// Spawn protection: the ship can neither be destroyed nor destroy anything (see
    /// [`crate::constants::SPAWN_PROTECTION`]). It changes no motion; it is here so that
    /// every client draws the shield from the state it already has.
    pub const SHIELD: u8 = 8;
    /// Every defined bit.
    pub const ALL: u8 = Self::THRUST | Self::TURN_LEFT | Self::TURN_RIGHT | Self::SHIELD;

    /// Builds the bits from an intent; `turn` is −1, 0 or +1 (+1 is counter-clockwise).
    pub fn from_intent(thrust: bool, turn: i8) -> Self {
        let mut bits = 0;
        if thrust {
            bits |= Self::THRUST;
        }
        match turn.signum() {
            1 => bits |= Self::TURN_LEFT,
            -1 => bits |= Self::TURN_RIGHT,
            _ => {}
        }
        Ctrl(bits)
    }

    /// Whether the engine is on.
    pub fn thrust(self) -> bool {
        self.0 & Self::THRUST != 0
    }

    /// Whether the ship is under spawn protection.
    pub fn shielded(self) -> bool {
        self.0 & Self::SHIELD != 0
    }

    /// The same controls with the shield on or off.
    pub fn with_shield(self, on: bool) -> Self {
        Ctrl(if on { self.0 | Self::SHIELD } else { self.0 & !Self::SHIELD })
    }

    /// −1, 0 or +1 (+1 is counter-clockwise); both turn bits cancel out.
    pub fn turn(self) -> i8 {
        let left = (self.0 & Self::TURN_LEFT != 0) as i8;
        let right = (self.0 & Self::TURN_RIGHT != 0) as i8;
        left - right
    }
}

/// An entity's motion state as it travels on the wire: integers on the quantization grid.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct QState {
    /// Position, in 1/[`POS_SCALE`] units.
    pub pos: [i32; 2],
    /// Linear velocity, in 1/[`VEL_SCALE`] units per second.
    pub vel: [i32; 2],
    /// Orientation as (cos, sin), in 1/[`ROT_SCALE`].
    pub rot: [i16; 2],
    /// Angular velocity, in 1/[`ANGVEL_SCALE`] radians per second (counter-clockwise positive).
    pub angvel: i32,
    /// What the pilot is doing (ships only; zero for everything else).
    pub ctrl: Ctrl,
}

/// An entity's motion state in floating point, as the physics sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Body {
    /// Position, world units.
    pub pos: Vec2,
    /// Linear velocity, units per second.
    pub vel: Vec2,
    /// Orientation as a (cos, sin) pair; kept as a pair, never as an angle, because `sin` and
    /// `cos` differ between native libm and wasm while `+ − × ÷ sqrt` do not.
    pub rot: Vec2,
    /// Angular velocity, radians per second.
    pub angvel: f32,
}

fn q32(x: f32, scale: f32) -> i32 {
    (x * scale).round() as i32
}

fn q32_trunc(x: f32, scale: f32) -> i32 {
    (x * scale).trunc() as i32
}

impl QState {
    /// Snaps a body to the grid. Non-finite inputs saturate (NaN becomes 0); the server never
    /// lets one reach the physics in the first place.
    pub fn from_body(body: &Body, ctrl: Ctrl) -> Self {
        QState {
            pos: [q32(body.pos.x, POS_SCALE), q32(body.pos.y, POS_SCALE)],
            vel: [q32_trunc(body.vel.x, VEL_SCALE), q32_trunc(body.vel.y, VEL_SCALE)],
            rot: [
                (body.rot.x * ROT_SCALE).round().clamp(-ROT_SCALE, ROT_SCALE) as i16,
                (body.rot.y * ROT_SCALE).round().clamp(-ROT_SCALE, ROT_SCALE) as i16,
            ],
            angvel: q32_trunc(body.angvel, ANGVEL_SCALE),
            ctrl,
        }
    }

    /// The exact floating-point value of this grid point.
    pub fn body(&self) -> Body {
        Body {
            pos: Vec2::new(self.pos[0] as f32, self.pos[1] as f32) / POS_SCALE,
            vel: Vec2::new(self.vel[0] as f32, self.vel[1] as f32) / VEL_SCALE,
            rot: Vec2::new(self.rot[0] as f32, self.rot[1] as f32) / ROT_SCALE,
            angvel: self.angvel as f32 / ANGVEL_SCALE,
        }
    }

    /// Position in world units.
    pub fn position(&self) -> Vec2 {
        Vec2::new(self.pos[0] as f32, self.pos[1] as f32) / POS_SCALE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Dequantizing then quantizing any grid point gives it back: the grid is exact in f32.
        #[test]
        fn grid_points_round_trip(
            px in -4_000_000i32..4_000_000, py in -4_000_000i32..4_000_000,
            vx in -300_000i32..300_000, vy in -300_000i32..300_000,
            c in -16384i16..=16384, s in -16384i16..=16384,
            w in -50_000i32..50_000, ctrl in 0u8..8,
        ) {
            let q = QState { pos: [px, py], vel: [vx, vy], rot: [c, s], angvel: w, ctrl: Ctrl(ctrl) };
            prop_assert_eq!(QState::from_body(&q.body(), q.ctrl), q);
        }
    }

    /// Truncating velocities lets damping reach rest; rounding would stall at a small speed.
    #[test]
    fn truncation_lets_damped_velocity_reach_zero() {
        let mut v = 1.0f32;
        let r = 1.0 / (1.0 + (1.0 / 60.0) * 0.5);
        for _ in 0..10_000 {
            v = (v * r * VEL_SCALE).trunc() / VEL_SCALE;
        }
        assert_eq!(v, 0.0);
    }

    /// NaN and infinities saturate instead of panicking.
    #[test]
    fn non_finite_saturates() {
        let b =
            Body { pos: Vec2::new(f32::NAN, f32::INFINITY), vel: Vec2::NAN, rot: Vec2::NAN, angvel: f32::NEG_INFINITY };
        let q = QState::from_body(&b, Ctrl(0));
        assert_eq!(q.pos, [0, i32::MAX]);
        assert_eq!(q.angvel, i32::MIN);
    }

    /// Turn bits map both ways and cancel when both are set.
    #[test]
    fn ctrl_bits() {
        assert_eq!(Ctrl::from_intent(true, 1).0, Ctrl::THRUST | Ctrl::TURN_LEFT);
        assert_eq!(Ctrl::from_intent(false, -1).turn(), -1);
        assert_eq!(Ctrl(Ctrl::TURN_LEFT | Ctrl::TURN_RIGHT).turn(), 0);
    }
}
