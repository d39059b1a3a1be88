//! A hand-over's vocabulary, in the simulation's terms: a ship leaves this world as a
//! [`Departure`] and comes in from a neighbour as an [`Arrival`], and the mapping between a
//! player here and a [`Traveller`] on a ticket is written once, both ways, in this file.
//!
//! The simulation knows nothing of tickets, signatures or Redis: the `borders` phase turns a
//! ship beyond a live edge into a `Departure` (the player and its ship leave this world, its
//! connection is dismissed with it), and whoever carries it (the universe, through the
//! session) signs and sends it. An arriving ship reaches the simulation in a `Join`, already
//! checked, with the whole ticks it spent between sectors counted by the session
//! ([`catch_up`]), so nothing here reads a clock.

use super::entities::Spawn;
use super::game::Game;
use super::players::Watch;
use shared::constants::TICK_HZ;
use shared::helm::Helm;
use shared::protocol::{EntityKind, Input, PlayerId, SectorCoord};
use shared::quant::QState;
use shared::ticket::Traveller;
use shared::time::{TickExt, Ticks};

/// Most an arriving ship is moved on for the time since it crossed:
/// the sectors' clocks are in sync to a few milliseconds, so more means a clock is wrong, and
/// the ship should not jump far on its word.
pub const MAX_ARRIVAL_CATCHUP: Ticks = Ticks::from_millis(500);

/// A ship leaving through an edge, as the simulation hands it to the player's session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Departure {
    /// The neighbour it flies into.
    pub to: SectorCoord,
    /// Unix milliseconds at the tick it crossed (the tick's [`super::Surroundings::unix_ms`]).
    pub crossed_unix_ms: u64,
    /// The ship (in the neighbour's coordinates) and its pilot.
    pub traveller: Traveller,
}

/// A ship arriving with a checked ticket, as the session hands it to the simulation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arrival {
    /// The whole ticks since it crossed, at most [`MAX_ARRIVAL_CATCHUP`]: the ship is moved
    /// on by these, so it continues where it would be had it never stopped.
    pub catch_up: Ticks,
    /// The ship and its pilot.
    pub traveller: Traveller,
}

/// The whole ticks between a crossing at `crossed_unix_ms` and `now_unix_ms` (0 if the clocks
/// disagree the other way), at most [`MAX_ARRIVAL_CATCHUP`].
pub fn catch_up(crossed_unix_ms: u64, now_unix_ms: u64) -> Ticks {
    let elapsed_ms = now_unix_ms.saturating_sub(crossed_unix_ms);
    let ticks = elapsed_ms.saturating_mul(u64::from(TICK_HZ)) / 1000;
    Ticks::new(ticks.min(u64::from(MAX_ARRIVAL_CATCHUP.get())) as u32)
}

impl Game {
    /// `player`'s ship, in `state` (already in the neighbour `to`'s coordinates), leaves
    /// this world at `unix_ms`: the player and its ship are removed, and so are its bullets
    /// in flight (left here, a hit would be scored to a player who is gone, and so to
    /// nobody). `None` if the player is gone or has no connection to hand over.
    pub(super) fn depart(&mut self, player: PlayerId, to: SectorCoord, state: QState, unix_ms: u64) -> Option<()> {
        let now = self.tick;
        let recent_kills = self.players.recent_kills(player, now);
        let p = self.players.get_mut(player)?;
        let dismiss = p.dismiss.take()?;
        let traveller = Traveller {
            identity: p.identity,
            name: p.name.clone(),
            state,
            fire: p.input.fire,
            score: p.score,
            total_before: p.total_before,
            life_ticks: now.since(p.life_started).get(),
            shield_ticks: p.helm.shield_left(now).get(),
            cooldown_ticks: p.helm.cooldown_left(now).get(),
            recent_kills,
        };
        let departure = Departure { to, crossed_unix_ms: unix_ms, traveller };
        self.outbox.dismissed.push((dismiss, super::Dismissal::HandedOver(Box::new(departure))));
        self.remove_player(player);
        let bullets: Vec<_> = self
            .entities
            .iter()
            .filter(|e| e.kind == EntityKind::Bullet && e.owner == Some(player))
            .map(|e| e.id)
            .collect();
        for bullet in bullets {
            self.entities.despawn(bullet);
        }
        Some(())
    }

    /// A ship arriving from a neighbouring sector becomes `player`'s (replacing any ship it
    /// had waiting here from an earlier visit): its state moved on by the arrival's catch-up
    /// ticks, so it continues where it would be had it never stopped, with its controls,
    /// shield, gun cooldown, life and score. Returns that state: the ship's at the end of the
    /// previous tick, stepped from there this tick.
    pub(super) fn arrive(&mut self, player: PlayerId, arrival: Arrival) -> QState {
        let t = arrival.traveller;
        let ticks = arrival.catch_up.min(MAX_ARRIVAL_CATCHUP);
        let state = self.kin.advance(&t.state, EntityKind::Ship, ticks.get());
        if let Some(old) = self.players.get_mut(player).and_then(|p| p.ship.take()) {
            self.entities.despawn(old);
        }
        let spawn = Spawn {
            kind: EntityKind::Ship,
            body: state.body(),
            ctrl: state.ctrl,
            owner: Some(player),
            expires_at: None,
        };
        let ship = self.entities.spawn(spawn, self.tick);
        let now = self.tick;
        if let Some(p) = self.players.get_mut(player) {
            p.ship = Some(ship);
            p.respawn_at = None;
            p.watch = Watch::Stay;
            p.anchor = state.position().into();
            p.life_started = now.saturating_sub(t.life_ticks);
            p.helm =
                Helm { next_fire: now + Ticks::new(t.cooldown_ticks), shield_until: now + Ticks::new(t.shield_ticks) };
            p.input = Input { thrust: state.ctrl.thrust(), turn: state.ctrl.turn(), fire: t.fire, ..Input::default() };
            p.score = t.score;
            p.total_before = t.total_before;
        }
        self.players.remember_kills(player, &t.recent_kills, now);
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whole ticks only, none for a clock that runs behind, and never more than the bound.
    #[test]
    fn catch_up_counts_whole_ticks_within_the_bound() {
        assert_eq!(catch_up(1_000, 1_000), Ticks::new(0));
        assert_eq!(catch_up(1_000, 1_016), Ticks::new(0), "16 ms is less than a tick");
        assert_eq!(catch_up(1_000, 1_017), Ticks::new(1));
        assert_eq!(catch_up(1_000, 1_100), Ticks::new(6));
        assert_eq!(catch_up(2_000, 1_000), Ticks::new(0), "a clock behind the crossing's");
        assert_eq!(catch_up(0, 60_000), MAX_ARRIVAL_CATCHUP);
    }
}
