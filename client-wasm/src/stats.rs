//! Figures for the page's debug object (`window.asteroids.stats`) and the F3 overlay: rates
//! over the last second, corrections over the last ten.

use std::collections::VecDeque;

/// Window over which corrections are reported, milliseconds.
pub const CORRECTION_WINDOW_MS: f64 = 10_000.0;

/// A count of events over a sliding window.
#[derive(Clone, Debug, Default)]
pub struct Rate {
    events: VecDeque<(f64, f64)>,
}

impl Rate {
    /// Records `amount` at `now_ms`.
    pub fn add(&mut self, now_ms: f64, amount: f64) {
        self.events.push_back((now_ms, amount));
    }

    /// Sum of amounts within the last `window_ms`.
    pub fn sum(&mut self, now_ms: f64, window_ms: f64) -> f64 {
        while self.events.front().is_some_and(|(t, _)| *t < now_ms - window_ms) {
            self.events.pop_front();
        }
        self.events.iter().map(|(_, a)| a).sum()
    }

    /// Largest amount within the last `window_ms`.
    pub fn max(&mut self, now_ms: f64, window_ms: f64) -> f64 {
        self.sum(now_ms, window_ms);
        self.events.iter().map(|(_, a)| *a).fold(0.0, f64::max)
    }

    /// Number of events within the last `window_ms`.
    pub fn count(&mut self, now_ms: f64, window_ms: f64) -> usize {
        self.sum(now_ms, window_ms);
        self.events.len()
    }
}

/// Everything the client measures about itself.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Frames drawn.
    pub frames: Rate,
    /// Snapshots received.
    pub snapshots: Rate,
    /// Bytes received.
    pub bytes: Rate,
    /// Visible corrections (any entity), by size in world units.
    pub corrections: Rate,
    /// Visible corrections of asteroids, by size in world units.
    pub asteroid_corrections: Rate,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Old events fall out of the window.
    #[test]
    fn sliding_window() {
        let mut r = Rate::default();
        r.add(0.0, 5.0);
        r.add(500.0, 1.0);
        r.add(1500.0, 2.0);
        assert_eq!(r.sum(1500.0, 1000.0), 3.0);
        assert_eq!(r.max(1500.0, 1000.0), 2.0);
        assert_eq!(r.count(3000.0, 1000.0), 0);
    }
}
