//! The featured pilot: whom a client without a ship of its own watches. A spectator (the page
//! before its player joins) follows the featured pilot's ship, and so does a player waiting to
//! respawn whose killer no longer flies. The server chooses, never the client, so a ship-less
//! view is still served only around a ship (no map hack), and it is the action: the
//! best-scoring pilot flying.
//!
//! Reconsidered once a second, with a preference for the one already featured (a tie does not
//! move every spectator's camera), and at once when the featured ship is gone.

use super::game::Game;

impl Game {
    /// Keeps the featured pilot: replaced if its ship is gone, and, when `reconsider`, if
    /// another pilot flying has more points.
    pub(super) fn keep_featured(&mut self, reconsider: bool) {
        let flying = |p: &super::players::Player| p.ship.is_some() && p.detached_until.is_none();
        let current = self.featured.filter(|&id| self.players.get(id).is_some_and(flying));
        if current.is_some() && !reconsider {
            return;
        }
        let best = self
            .players
            .iter()
            .filter(|(_, p)| flying(p))
            .max_by(|(a, pa), (b, pb)| pa.score.points.cmp(&pb.score.points).then(b.cmp(a)))
            .map(|(id, p)| (id, p.score.points));
        self.featured = match (current, best) {
            (Some(c), Some((_, points))) if self.players.get(c).is_some_and(|p| p.score.points >= points) => Some(c),
            (_, best) => best.map(|(id, _)| id),
        };
    }
}
