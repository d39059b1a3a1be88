//! The lifetimes phase: what ends or begins with time alone. Bullets expire; a detached
//! player whose resume window ran out leaves, ship and all; a connected dead player whose
//! respawn delay is over gets a new ship.

use super::game::Game;
use shared::protocol::{GameEvent, PlayerId};

impl Game {
    pub(super) fn lifetimes(&mut self) {
        let now = self.tick;
        self.entities.despawn_expired(now);
        if now.is_multiple_of(shared::constants::TICK_HZ) {
            self.players.forget_old_kills(now);
        }
        let gone: Vec<PlayerId> =
            self.players.iter().filter(|(_, p)| p.detached_until.is_some_and(|t| t <= now)).map(|(id, _)| id).collect();
        for id in gone {
            self.remove_player(id);
        }
        // A waiting (detached) player gets its new ship when it comes back, not before.
        let due: Vec<PlayerId> = self
            .players
            .iter()
            .filter(|(_, p)| p.session != 0 && p.respawn_at.is_some_and(|t| t <= now))
            .map(|(id, _)| id)
            .collect();
        for id in due {
            let ship_id = self.spawn_ship(id);
            let position = self.entities.get(ship_id).map_or([0.0; 2], |e| e.state.position().into());
            self.outbox.events.push((id, GameEvent::ShipSpawned { ship_id, position }));
        }
    }
}
