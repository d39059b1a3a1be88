//! The simulation's time: a [`Tick`] is an instant (the number of a step since the world
//! began), [`Ticks`] a duration. Tuning durations are written in milliseconds or seconds
//! ([`Ticks::from_millis`], [`Ticks::from_secs`]) and turned into ticks at compile time, so
//! a duration reads as what a player feels and the tick rate ([`TICK_HZ`]) is stated once.
//!
//! The arithmetic is the one the game needs: an instant plus a duration is an instant
//! (saturating: a tick counter never wraps in play, at 60 Hz it would take over two years),
//! and the time since an earlier instant is a duration ([`TickExt::since`], zero if it is in
//! fact later), which replaces the `saturating_sub` that was written at every such place.

use crate::constants::TICK_HZ;
use core::ops::{Add, AddAssign, Mul};

/// A simulation tick number: an instant.
pub type Tick = u32;

/// A duration, in simulation ticks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ticks(u32);

impl Ticks {
    /// No time.
    pub const ZERO: Ticks = Ticks(0);

    /// Exactly `n` ticks.
    pub const fn new(n: u32) -> Ticks {
        Ticks(n)
    }

    /// The ticks nearest to `ms` milliseconds at [`TICK_HZ`] (at least one for any time
    /// above zero). `const`, so a tuning constant costs nothing at run time.
    pub const fn from_millis(ms: u32) -> Ticks {
        let ticks = (ms as u64 * TICK_HZ as u64 + 500) / 1000;
        let ticks = if ticks == 0 && ms > 0 { 1 } else { ticks };
        assert!(ticks <= u32::MAX as u64, "a duration of over two years");
        Ticks(ticks as u32)
    }

    /// `secs` seconds.
    pub const fn from_secs(secs: u32) -> Ticks {
        Ticks::from_millis(secs * 1000)
    }

    /// The number of ticks.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// The duration in seconds.
    pub const fn as_secs_f32(self) -> f32 {
        self.0 as f32 / TICK_HZ as f32
    }

    /// The duration in seconds, as precisely as an `f64` holds it.
    pub fn as_secs_f64(self) -> f64 {
        f64::from(self.0) / f64::from(TICK_HZ)
    }

    /// The duration in milliseconds (rounded down).
    pub const fn as_millis(self) -> u64 {
        self.0 as u64 * 1000 / TICK_HZ as u64
    }

    /// The shorter of two durations.
    pub fn min(self, other: Ticks) -> Ticks {
        Ord::min(self, other)
    }
}

impl core::fmt::Display for Ticks {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} ticks", self.0)
    }
}

/// An instant plus a duration: the later instant (saturating).
impl Add<Ticks> for Tick {
    type Output = Tick;

    fn add(self, d: Ticks) -> Tick {
        self.saturating_add(d.0)
    }
}

impl AddAssign<Ticks> for Tick {
    fn add_assign(&mut self, d: Ticks) {
        *self = *self + d;
    }
}

impl Add for Ticks {
    type Output = Ticks;

    fn add(self, other: Ticks) -> Ticks {
        Ticks(self.0.saturating_add(other.0))
    }
}

/// `n` times a duration.
impl Mul<Ticks> for u32 {
    type Output = Ticks;

    fn mul(self, d: Ticks) -> Ticks {
        Ticks(self.saturating_mul(d.0))
    }
}

/// What an instant can say about another.
pub trait TickExt {
    /// The time from `earlier` to this instant; zero if `earlier` is not earlier.
    fn since(self, earlier: Tick) -> Ticks;
}

impl TickExt for Tick {
    fn since(self, earlier: Tick) -> Ticks {
        Ticks(self.saturating_sub(earlier))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Durations round to the nearest tick, never to zero, and read back as they were written.
    #[test]
    fn durations_in_milliseconds_and_seconds() {
        const HALF: Ticks = Ticks::from_millis(500);
        assert_eq!(HALF.get(), TICK_HZ / 2);
        assert_eq!(Ticks::from_secs(2).get(), 2 * TICK_HZ);
        assert_eq!(Ticks::from_millis(1), Ticks::new(1), "a moment is a tick, not nothing");
        assert_eq!(Ticks::from_millis(0), Ticks::ZERO);
        assert_eq!(Ticks::from_secs(3).as_millis(), 3000);
        assert!((Ticks::from_millis(1500).as_secs_f32() - 1.5).abs() < 1e-6);
        assert_eq!(Ticks::from_millis(200) + Ticks::from_millis(300), Ticks::from_millis(500));
        assert_eq!(3 * Ticks::from_millis(200), Ticks::from_millis(600));
    }

    /// An instant plus a duration, and the time between two instants, saturating.
    #[test]
    fn instants_and_durations() {
        let mut t: Tick = 100;
        assert_eq!(t + Ticks::new(20), 120);
        t += Ticks::new(5);
        assert_eq!(t, 105);
        assert_eq!(u32::MAX + Ticks::new(1), u32::MAX, "saturates");
        assert_eq!(120u32.since(100), Ticks::new(20));
        assert_eq!(100u32.since(120), Ticks::ZERO, "a later instant is no time ago");
    }
}
