//! The inbound phase: the events sessions sent since the last tick, applied in arrival order.
//!
//! A join creates a player and its first ship, or, when a player with the same identity is
//! still in the world (detached, or on an older connection), hands that player to the new
//! connection: same ship, position and score. A leave detaches a player with an identity for
//! the resume window, or removes a guest at once. A revoke removes the identity's player at
//! once and dismisses its connection.
//!
//! An input is scheduled for the tick it names ([`shared::protocol::Input::tick`]): the client
//! already predicts its own ship with it from that tick on, so applying it then makes the
//! prediction exact. One that comes late applies at once (this tick: never in the past, no
//! rewinds), one that names a tick too far ahead at [`MAX_INPUT_LEAD`], and none before
//! an input sent earlier on the connection; of several due at one tick, the newest wins. After
//! the events, [`Game::apply_due_inputs`] makes each player's due input the one in effect and
//! records it as the acknowledgement its snapshots carry.

use super::events::{Dismissal, Joined, SimEvent, PLAYER_EVENT_CAPACITY};
use super::game::Game;
use super::handover::Arrival;
use super::players::{PendingInput, Player};
use shared::constants::MAX_INPUT_LEAD;
use shared::protocol::{GameEvent, Input, InputAck, PlayerId};
use shared::time::{TickExt, Ticks};
use tokio::sync::{mpsc, oneshot};

/// A pilot back on its waiting ship within this time of dropping its connection is counted as
/// a quick rejoin (`quick_rejoins`).
pub(crate) const QUICK_REJOIN: Ticks = Ticks::from_secs(2);

/// Largest accepted step between a player's consecutive input sequence numbers. A client
/// numbers its inputs one by one, and TCP delivers them in order, so only a forged sequence
/// number jumps further.
pub const MAX_INPUT_SEQ_JUMP: u32 = 1024;

impl Game {
    pub(super) fn inbound(&mut self) {
        let mut inbox = std::mem::take(&mut self.inbox);
        for event in inbox.drain(..) {
            match event {
                SimEvent::Join { name, identity, total_before, arrival, reply } => {
                    self.join(name, identity, total_before, arrival, reply);
                }
                SimEvent::Leave { player, session, resumable } => self.leave(player, session, resumable),
                SimEvent::Revoke { identity } => self.revoke(identity),
                SimEvent::Input { player, session, input } => self.input(player, session, input),
            }
        }
        self.inbox = inbox;
    }

    fn join(
        &mut self,
        name: String,
        identity: Option<i64>,
        total_before: u32,
        arrival: Option<Box<Arrival>>,
        reply: oneshot::Sender<Joined>,
    ) {
        let session = self.players.new_session();
        let (mailbox, events) = mpsc::channel(PLAYER_EVENT_CAPACITY);
        let (dismiss, dismissed) = oneshot::channel();
        let resumed = identity.and_then(|id| self.players.with_identity(id));
        let player_id = match resumed.and_then(|id| self.players.get_mut(id).map(|p| (id, p))) {
            Some((id, p)) => {
                if let Some(older) = p.dismiss.take() {
                    self.outbox.dismissed.push((older, Dismissal::Replaced));
                }
                if p.dropped_at.take().is_some_and(|at| self.tick.since(at) <= QUICK_REJOIN) {
                    // Dropped and back within moments: harmless on a flaky link, and the way a
                    // cheat would try to dodge; counted for the operator either way.
                    self.counters.quick_rejoins += 1;
                }
                p.session = session;
                p.detached_until = None;
                p.mailbox = mailbox;
                p.dismiss = Some(dismiss);
                // The new connection numbers its inputs from 1 again (a reloaded page, a
                // second tab): its first input sets the sequence, and it has acknowledged
                // nothing yet.
                p.input_seq = 0;
                p.pending.clear();
                p.ack = InputAck::default();
                id
            }
            None => {
                let id = self.players.insert(Player {
                    dismiss: Some(dismiss),
                    ..Player::new(name, identity, total_before, self.tick, session, mailbox)
                });
                if arrival.is_none() {
                    self.spawn_ship(id);
                }
                id
            }
        };
        let arrived = arrival.map(|a| self.arrive(player_id, *a));
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
            arrival: arrived,
        };
        self.outbox.joined.push((reply, joined));
        if resumed.is_some() || arrived.is_some() {
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
    /// for the resume window: it is not counted online, but its ship stays in the world like
    /// any other, coasting, and is destroyed (and its death scored) by whatever it meets, so
    /// dropping the connection is no way out of a crash or a shot. Others leave at once.
    pub(super) fn leave(&mut self, player: PlayerId, session: u64, resumable: bool) {
        let window = self.config.resume_window;
        let Some(p) = self.players.get_mut(player) else { return };
        if p.session != session {
            return;
        }
        if p.identity.is_some() && window > Ticks::ZERO && resumable {
            p.session = 0;
            p.dismiss = None;
            p.detached_until = Some(self.tick + window);
            p.input = Input { seq: p.input.seq, ..Input::default() };
            p.pending.clear();
            p.dropped_at = Some(self.tick);
        } else {
            self.remove_player(player);
        }
    }

    /// Replayed and reordered inputs are ignored, and so are ones from too far in the future
    /// (they would block every honest input after them); the first input of a session sets
    /// the sequence. An accepted input waits for its tick (see the module docs); one due at the
    /// same tick as the input before it replaces that one.
    fn input(&mut self, player: PlayerId, session: u64, input: Input) {
        let now = self.tick;
        let Some(p) = self.players.get_mut(player).filter(|p| p.session == session) else { return };
        let first = p.input_seq == 0;
        let next = input.seq > p.input_seq && input.seq - p.input_seq <= MAX_INPUT_SEQ_JUMP;
        if !((first && input.seq > 0) || next) {
            return;
        }
        p.input_seq = input.seq;
        let margin = (i64::from(input.tick) - i64::from(now)).clamp(i16::MIN.into(), i16::MAX.into()) as i16;
        let latest = now + MAX_INPUT_LEAD;
        if input.tick < now {
            self.counters.late_inputs += 1;
        } else if input.tick > latest {
            self.counters.early_inputs += 1;
        }
        let after_previous = p.pending.back().map_or(now, |q| q.at);
        let at = input.tick.clamp(now, latest).max(after_previous);
        if p.pending.back().is_some_and(|q| q.at == at) {
            p.pending.pop_back();
        }
        p.pending.push_back(PendingInput { input, at, margin });
    }

    /// The inbound phase's last step: every player's inputs due at this tick are applied (the newest
    /// one wins) and acknowledged. AI pilots decide afterwards, in the pilots phase.
    pub(super) fn apply_due_inputs(&mut self) {
        let now = self.tick;
        for (_, p) in self.players.iter_mut() {
            while p.pending.front().is_some_and(|q| q.at <= now) {
                let Some(due) = p.pending.pop_front() else { break };
                p.input = due.input;
                p.ack = InputAck { seq: due.input.seq, tick: now, margin: due.margin };
            }
        }
    }

    /// Removes a player and its ship.
    pub(super) fn remove_player(&mut self, player: PlayerId) {
        if let Some(ship) = self.players.remove(player).and_then(|p| p.ship) {
            self.entities.despawn(ship);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::entities::Spawn;
    use crate::sim::{GameConfig, Surroundings};
    use shared::protocol::EntityKind;
    use shared::quant::{Body, Ctrl};

    /// A world with Ada flying (an identity, no spawn protection); returns it and her join.
    fn ada_flying() -> (Game, Joined) {
        let config = GameConfig { spawn_protection: Ticks::ZERO, ..GameConfig::new(0, [3000.0, 3000.0], 3) };
        let mut game = Game::new(config);
        let (reply, mut answer) = oneshot::channel();
        let join = SimEvent::Join { name: "Ada".into(), identity: Some(1), total_before: 0, arrival: None, reply };
        game.tick([join], &Surroundings::default());
        game.deliver(None);
        (game, answer.try_recv().expect("joined"))
    }

    /// Regression (combat logging: 5 of 7 pilots who dropped their connection just before a
    /// crash flew through an asteroid and survived): a waiting ship is in the world like any
    /// other. An asteroid on it destroys it, and the death is scored.
    #[test]
    fn dropping_the_connection_does_not_dodge_a_crash() {
        let (mut game, ada) = ada_flying();
        let leave = SimEvent::Leave { player: ada.player_id, session: ada.session, resumable: true };
        game.tick([leave], &Surroundings::default());
        let p = game.players.get(ada.player_id).expect("waiting");
        assert!(p.detached_until.is_some(), "she waits to be resumed");
        let at = game.entities.get(p.ship.expect("her ship waits")).expect("in the world").state.position();
        let rock = Spawn {
            kind: EntityKind::AsteroidLarge,
            body: Body { pos: at, vel: glam::Vec2::ZERO, rot: glam::Vec2::X, angvel: 0.0 },
            ctrl: Ctrl(0),
            owner: None,
            expires_at: None,
        };
        game.entities.spawn(rock, game.tick);
        for _ in 0..3 {
            game.tick([], &Surroundings::default());
        }
        let p = game.players.get(ada.player_id).expect("still waiting");
        assert_eq!(p.ship, None, "the waiting ship was destroyed");
        assert_eq!(p.score.deaths, 1, "and her death scored");
    }

    /// A pilot back within moments of dropping is counted; one back later is not.
    #[test]
    fn quick_rejoins_are_counted() {
        let (mut game, ada) = ada_flying();
        let mut session = ada.session;
        for wait in [1, QUICK_REJOIN.get() + 5] {
            let leave = SimEvent::Leave { player: ada.player_id, session, resumable: true };
            game.tick([leave], &Surroundings::default());
            for _ in 0..wait {
                game.tick([], &Surroundings::default());
            }
            let (reply, mut answer) = oneshot::channel();
            let join = SimEvent::Join { name: "Ada".into(), identity: Some(1), total_before: 0, arrival: None, reply };
            game.tick([join], &Surroundings::default());
            game.deliver(None);
            let back = answer.try_recv().expect("resumed");
            assert_eq!(back.player_id, ada.player_id, "the same pilot");
            session = back.session;
        }
        assert_eq!(game.counters.quick_rejoins, 1);
    }
}
