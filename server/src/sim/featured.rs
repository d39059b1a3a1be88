//! The featured pilot: whom a client without a ship of its own watches. A spectator (the page
//! before its player joins) follows the featured pilot's ship. A player waiting to respawn
//! ([`Watch`], decided when its ship is destroyed by [`Game::watch_after`]) follows the ship
//! that shot it if that is close by (the view pans, and the killer is the story); else stays
//! where it died if others fly there (the view already holds them: a switch would cost the
//! client a whole new view twice in two seconds); else, alone, follows the featured pilot. The server chooses, never the client, so a ship-less
//! view is still served only around a ship (no map hack), and it is the action: the
//! best-scoring pilot flying.
//!
//! Reconsidered once a second, with a preference for the one already featured (a tie does not
//! move every spectator's camera), and at once when the featured ship is gone.

use super::game::Game;
use super::players::Watch;
use glam::Vec2;
use shared::protocol::{EntityId, EntityKind};

/// How close the ship that destroyed a player's must be for the player to watch it, world
/// units: about half a view's diagonal, so the camera pans to it rather than cutting away.
pub(crate) const WATCH_KILLER_RANGE: f32 = 1200.0;
/// How far around where a ship was destroyed another ship makes its pilot stay and watch,
/// world units: about half a view's width.
pub(crate) const STAY_RANGE: f32 = 700.0;

impl Game {
    /// What a pilot whose ship was destroyed at `spot` (by the ship `killer`, if one) watches.
    pub(super) fn watch_after(&self, spot: Vec2, killer: Option<EntityId>) -> Watch {
        let near = |id: EntityId| {
            self.entities.get(id).is_some_and(|e| e.state.position().distance(spot) <= WATCH_KILLER_RANGE)
        };
        if let Some(k) = killer.filter(|&k| near(k)) {
            return Watch::Ship(k);
        }
        let mut others = false;
        self.entities.nearby(spot, STAY_RANGE, |e| {
            others |= e.kind == EntityKind::Ship && e.state.position().distance(spot) > 1.0;
        });
        if others {
            Watch::Stay
        } else {
            Watch::Featured
        }
    }

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{GameConfig, SimEvent, Surroundings};

    /// One pilot, Ben, flying alone in an empty arena; returns the world and his ship.
    fn ben_flying() -> (Game, EntityId, Vec2) {
        let mut game = Game::new(GameConfig::new(0, [3000.0, 3000.0], 9));
        let (reply, _answer) = tokio::sync::oneshot::channel();
        game.tick(
            [SimEvent::Join { name: "Ben".into(), identity: None, total_before: 0, arrival: None, reply }],
            &Surroundings::default(),
        );
        let ship = game.players.iter().find_map(|(_, p)| p.ship).expect("Ben's ship");
        let at = game.entities.get(ship).expect("in the table").state.position();
        (game, ship, at)
    }

    /// Destroyed near its killer: watch the killer. Near another ship: stay. Alone, or with the
    /// killer far away: the featured pilot.
    #[test]
    fn a_destroyed_pilot_watches_its_killer_stays_near_others_or_follows_the_featured_pilot() {
        let (game, ben, at) = ben_flying();
        let beside = at + Vec2::new(STAY_RANGE * 0.5, 0.0);
        let far = at + Vec2::new(WATCH_KILLER_RANGE * 1.5, 0.0);
        assert_eq!(game.watch_after(beside, Some(ben)), Watch::Ship(ben));
        assert_eq!(game.watch_after(beside, None), Watch::Stay);
        assert_eq!(game.watch_after(far, None), Watch::Featured);
        assert_eq!(game.watch_after(far, Some(ben)), Watch::Featured, "a killer far away is not followed");
    }
}
