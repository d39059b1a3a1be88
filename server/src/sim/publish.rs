//! Publishing: the world as sessions see it, built on snapshot ticks by the simulation loop
//! (the `publish` phase). A [`Frame`] is immutable once built and shared by every session.

use super::frame::{Frame, FrameEntity, PlayerFrame, SimTiming};
use super::game::Game;
use super::players::Watch;
use shared::protocol::Watched;

impl Game {
    /// The world now, with the loop's `timing` (this adds the bodies removed as non-finite and the inputs brought into bounds).
    pub fn frame(&self, timing: SimTiming) -> Frame {
        let entities = self.entities.iter().map(|e| FrameEntity {
            id: e.id,
            slot: e.slot,
            kind: e.kind,
            state: e.state,
            epoch: e.epoch,
            appearing: shared::replica::appearing(e.appears_until, self.tick),
        });
        let featured = self
            .featured
            .and_then(|id| self.players.get(id))
            .and_then(|p| Some(Watched { ship: p.ship?, name: p.name.clone() }));
        let mut watched: Vec<Watched> = Vec::new();
        let players = self
            .players
            .iter()
            .map(|(id, p)| {
                // A ship-less player watches what was decided at its death (`featured.rs`), and
                // its view is served around the ship it watches.
                let featured_ship = featured.as_ref().map(|f| f.ship);
                let watching = match (p.ship, p.watch) {
                    (Some(_), _) | (None, Watch::Stay) => None,
                    (None, Watch::Featured) => featured_ship,
                    (None, Watch::Ship(k)) => match self.entities.get(k) {
                        Some(k) => {
                            if !watched.iter().any(|w: &Watched| w.ship == k.id) {
                                watched.push(Watched { ship: k.id, name: self.players.name(k.owner) });
                            }
                            Some(k.id)
                        }
                        None => featured_ship,
                    },
                };
                let ship = p.ship.or(watching).and_then(|s| self.entities.get(s));
                let anchor = ship.map_or(p.anchor, |s| s.state.position().into());
                (id, PlayerFrame { ship: p.ship, ack: p.ack, anchor, watching })
            })
            .collect();
        let timing = SimTiming { counters: timing.counters.plus(&self.counters), ..timing };
        let slots = self.entities.slot_bound();
        let mut frame = Frame::new(
            self.tick,
            entities,
            slots,
            players,
            self.config.arena_half_size,
            timing,
            self.leaderboard.clone(),
        );
        frame.featured = featured;
        frame.watched = watched;
        frame
    }
}
