//! Phase 1, inbound: the events sessions sent since the last tick, applied in arrival order.
//!
//! A join creates a player and its first ship, or, when a player with the same identity is
//! still in the world (detached, or on an older connection), hands that player to the new
//! connection: same ship, position and score. A leave detaches a player with an identity for
//! the resume window, or removes a guest at once. A revoke removes the identity's player at
//! once and dismisses its connection. An input replaces the player's latest one
//! (at most one applies per ship per tick: the newest).

use super::events::{Dismissal, Joined, SimEvent, PLAYER_EVENT_CAPACITY};
use super::game::Game;
use super::players::Player;
use shared::protocol::{GameEvent, Input, PlayerId};
use tokio::sync::{mpsc, oneshot};

/// Largest accepted step between a player's consecutive input sequence numbers. A client
/// numbers its inputs one by one, and TCP delivers them in order, so only a forged sequence
/// number jumps further.
pub const MAX_INPUT_SEQ_JUMP: u32 = 1024;

impl Game {
    pub(super) fn inbound(&mut self, events: impl IntoIterator<Item = SimEvent>) {
        for event in events {
            match event {
                SimEvent::Join { name, identity, total_before, reply } => {
                    self.join(name, identity, total_before, reply);
                }
                SimEvent::Leave { player, session, resumable } => self.leave(player, session, resumable),
                SimEvent::Revoke { identity } => self.revoke(identity),
                SimEvent::Input { player, session, input } => self.input(player, session, input),
            }
        }
    }

    fn join(&mut self, name: String, identity: Option<i64>, total_before: u32, reply: oneshot::Sender<Joined>) {
        let session = self.players.new_session();
        let (mailbox, events) = mpsc::channel(PLAYER_EVENT_CAPACITY);
        let (dismiss, dismissed) = oneshot::channel();
        let resumed = identity.and_then(|id| self.players.with_identity(id));
        let player_id = match resumed.and_then(|id| self.players.get_mut(id).map(|p| (id, p))) {
            Some((id, p)) => {
                if let Some(older) = p.dismiss.take() {
                    self.outbox.dismissed.push((older, Dismissal::Replaced));
                }
                if let Some(ship) = p.ship {
                    self.entities.set_tangible(ship, true); // a waiting ship is flown again
                }
                p.session = session;
                p.detached_until = None;
                p.mailbox = mailbox;
                p.dismiss = Some(dismiss);
                // The new connection numbers its inputs from 1 again (a reloaded page, a
                // second tab): its first input sets the sequence.
                p.input_seq = 0;
                id
            }
            None => {
                let id = self.players.insert(Player {
                    dismiss: Some(dismiss),
                    ..Player::new(name, identity, total_before, self.tick, session, mailbox)
                });
                self.spawn_ship(id);
                id
            }
        };
        let p = self.players.get(player_id).expect("joined just now");
        let (ship, score) = (p.ship, p.score);
        let ship_position = ship.and_then(|id| self.entities.get(id)).map_or([0.0; 2], |e| e.state.position().into());
        let joined = Joined {
            player_id,
            ship_id: ship.unwrap_or(0),
            ship_position,
            tick: self.tick,
            events,
            session,
            dismissed,
            total_points: score.total_points,
        };
        self.outbox.joined.push((reply, joined));
        if resumed.is_some() {
            // A resumed session continues its score: tell the new connection where it stands.
            self.outbox.events.push((player_id, GameEvent::Score(score)));
        }
        if identity.is_some_and(|id| self.revoked.contains(&id)) {
            // Revoked while its Hello was on the way here: answered, then dismissed at once.
            self.revoke_player(player_id);
        }
    }

    /// The operator revoked `identity`: its player (live or waiting) leaves at once, ship and
    /// all, and its connection is dismissed. The identity is remembered, so a join that was
    /// already on its way is dismissed too (the store refuses every later one).
    fn revoke(&mut self, identity: i64) {
        self.revoked.insert(identity);
        if let Some(player) = self.players.with_identity(identity) {
            self.revoke_player(player);
        }
    }

    fn revoke_player(&mut self, player: PlayerId) {
        if let Some(dismiss) = self.players.get_mut(player).and_then(|p| p.dismiss.take()) {
            self.outbox.dismissed.push((dismiss, Dismissal::Revoked));
        }
        self.remove_player(player);
    }

    /// A connection ended. Ignored if a newer connection has taken the player over. A player
    /// with an identity whose connection ended honestly waits (ship and all, controls released)
    /// for the resume window, as a ghost: its ship neither touches nor is touched, and it is
    /// not counted online. Others leave at once.
    pub(super) fn leave(&mut self, player: PlayerId, session: u64, resumable: bool) {
        let window = self.config.resume_window_ticks;
        let Some(p) = self.players.get_mut(player) else { return };
        if p.session != session {
            return;
        }
        if p.identity.is_some() && window > 0 && resumable {
            p.session = 0;
            p.dismiss = None;
            p.detached_until = Some(self.tick + window);
            p.input = Input { seq: p.input.seq, ..Input::default() };
            if let Some(ship) = p.ship {
                self.entities.set_tangible(ship, false);
            }
        } else {
            self.remove_player(player);
        }
    }

    /// Replayed and reordered inputs are ignored, and so are ones from too far in the future
    /// (they would block every honest input after them); the first input of a session sets
    /// the sequence. Within a tick the latest wins, so at most one input per ship applies.
    fn input(&mut self, player: PlayerId, session: u64, input: Input) {
        let Some(p) = self.players.get_mut(player).filter(|p| p.session == session) else { return };
        let first = p.input_seq == 0;
        let next = input.seq > p.input_seq && input.seq - p.input_seq <= MAX_INPUT_SEQ_JUMP;
        if (first && input.seq > 0) || next {
            p.input_seq = input.seq;
            p.input = input;
        }
    }

    /// Removes a player and its ship.
    pub(super) fn remove_player(&mut self, player: PlayerId) {
        if let Some(ship) = self.players.remove(player).and_then(|p| p.ship) {
            self.entities.despawn(ship);
        }
    }
}
