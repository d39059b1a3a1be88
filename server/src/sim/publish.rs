//! Publishing: the world as sessions see it, built on snapshot ticks by the simulation loop
//! (the `publish` phase). A [`Frame`] is immutable once built and shared by every session.

use super::game::Game;
use crate::frame::{Frame, FrameEntity, PlayerFrame, SimTiming};

impl Game {
    /// The world now, with the loop's `timing` (this adds the bodies removed as non-finite and the inputs brought into bounds).
    pub fn frame(&self, timing: SimTiming) -> Frame {
        let entities = self.entities.iter().map(|e| FrameEntity {
            id: e.id,
            slot: e.slot,
            kind: e.kind,
            state: e.state,
            epoch: e.epoch,
        });
        let players = self
            .players
            .iter()
            .map(|(id, p)| {
                let ship = p.ship.and_then(|s| self.entities.get(s));
                let anchor = ship.map_or(p.anchor, |s| s.state.position().into());
                (id, PlayerFrame { ship: p.ship, ack: p.ack, anchor })
            })
            .collect();
        let timing = SimTiming {
            nonfinite_bodies: self.nonfinite_removed,
            late_inputs: self.input_counts.late,
            early_inputs: self.input_counts.too_early,
            ..timing
        };
        let slots = self.entities.slot_bound();
        Frame::new(self.tick, entities, slots, players, self.config.arena_half_size, timing, self.leaderboard.clone())
    }
}
