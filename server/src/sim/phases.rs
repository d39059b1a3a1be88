//! The tick, as one table: [`TICK`] lists its phases in the order they run, each with the name
//! its time is published under and the method that runs it. [`Game::tick`] walks this table,
//! timing each entry; the simulation loop adds its own two phases after it ([`AFTER_TICK`]);
//! [`PHASES`], the names every timing is published under (the frame's `SimTiming`, `/metrics`,
//! `/admin/stats`, the slow-tick log, the benchmark), is derived from both. To add, remove or
//! reorder a phase, edit [`TICK`]: nothing else restates the list.
//!
//! Phases change the world (the entity table and the players) and write everything that others
//! must hear into the tick's outbox; they never send anything themselves. Each is a file of
//! its own, named after it, whose module docs say what it decides.

use super::game::Game;
use super::Surroundings;
use shared::constants::LEADERBOARD_INTERVAL;
use std::time::Instant;

/// A phase of the tick: its published name, and what it does to the game.
pub(super) type PhaseFn = fn(&mut Game, &Surroundings);

/// The tick's phases, in the order they run.
pub(super) const TICK: [(&str, PhaseFn); 10] = [
    // The events drained from sessions (join or resume, leave, revoke, input scheduled for
    // the tick it names); then the inputs due now take effect (`inbound.rs`).
    ("inbound", |game, _| {
        game.inbound();
        game.apply_due_inputs();
    }),
    // AI pilots are added or removed to keep the configured number of ships less the humans
    // online, and each decides the same `Input` a human sends (`pilots.rs`).
    ("pilots", |game, _| game.pilots()),
    // Each ship's latest input becomes its controls for this tick; shots become bullets
    // (`intents.rs`).
    ("intents", |game, _| game.intents()),
    // Every entity advances one tick with `shared::kinematics`, the model clients predict
    // with, quantized to the wire grid; its collider follows (`motion.rs`).
    ("motion", |game, _| game.motion()),
    // Rapier's collision detection finds what now touches (`physics.rs`).
    ("physics", |game, _| game.detect_collisions()),
    // Those touches, decided by the game's rules: asteroids split, ships and bullets are
    // destroyed, scores change (`collisions.rs`).
    ("collisions", |game, _| game.collisions()),
    // In a universe, ships beyond a live edge leave for the neighbouring sector, the others
    // beyond an edge are turned back (`borders.rs`, `handover.rs`).
    ("borders", |game, surroundings| game.borders(surroundings)),
    // Bullets expire, detached players leave, dead players get a new ship; a featured pilot
    // who lost its ship is replaced (`lifetimes.rs`, `featured.rs`).
    ("lifetimes", |game, _| {
        game.lifetimes();
        game.keep_featured(false);
    }),
    // The asteroid count is kept up, unseen where it can be, else in sight as asteroids that
    // appear (`population.rs`).
    ("population", |game, _| game.population()),
    // Once a second: the leaderboard (the universe's, with the other sectors' pilots) and the
    // hotspot, and the featured pilot is reconsidered (`leaderboard.rs`).
    ("leaderboard", |game, surroundings| {
        if game.tick_number().is_multiple_of(LEADERBOARD_INTERVAL.get()) {
            game.update_leaderboard(surroundings);
            game.keep_featured(true);
        }
    }),
];

/// The simulation loop's phases after each tick: the delivery of the tick's outbox, and the
/// building of the published frame (on snapshot ticks).
pub(super) const AFTER_TICK: [&str; 2] = ["deliver", "publish"];

/// Where [`AFTER_TICK`]'s phases are in [`PHASES`].
pub(super) const DELIVER: usize = TICK.len();
/// See [`DELIVER`].
pub(super) const PUBLISH: usize = TICK.len() + 1;

/// Every phase's name, in the order they run: `TICK`'s, then `AFTER_TICK`'s. Each is timed
/// every tick; the timings are published in the frame's `SimTiming`, in this order.
pub const PHASES: [&str; TICK.len() + AFTER_TICK.len()] = {
    let mut names = [""; TICK.len() + AFTER_TICK.len()];
    let mut i = 0;
    while i < TICK.len() {
        names[i] = TICK[i].0;
        i += 1;
    }
    let mut j = 0;
    while j < AFTER_TICK.len() {
        names[i + j] = AFTER_TICK[j];
        j += 1;
    }
    names
};

/// Times consecutive phases: each lap is the time since the previous one.
pub(super) struct Laps(Instant);

impl Laps {
    /// Starts the first lap now.
    pub(super) fn start() -> Laps {
        Laps(Instant::now())
    }

    /// Ends the current lap as phase `index`'s time in `secs`, and starts the next.
    pub(super) fn lap(&mut self, secs: &mut [f32; PHASES.len()], index: usize) {
        let now = Instant::now();
        secs[index] = (now - self.0).as_secs_f32();
        self.0 = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The published names are the table's, then the loop's, each once.
    #[test]
    fn phases_are_named_once_in_order() {
        assert_eq!(PHASES[0], "inbound");
        assert_eq!(PHASES[DELIVER], "deliver");
        assert_eq!(PHASES[PUBLISH], "publish");
        let mut names = PHASES.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), PHASES.len());
    }
}
