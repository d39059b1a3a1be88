//! What a tick decided, for others: the tick's *outbox*.
//!
//! The phases of a tick never talk to sessions or to the store while they run. A rule writes
//! what it decided here (a join's answer, a player event, a score change) and goes on; after
//! the tick, the simulation loop hands the outbox to [`Outbox::deliver`], the one place where
//! outcomes leave the simulation. Deciding and delivering in one place cost every death once
//! (a rule changed the score, then reported the change as a difference that had already been
//! applied: the store saw zero); here a score change is recorded as what happened, once.

use super::events::{Dismissal, Joined};
use super::players::Players;
use super::SimEvent;
use shared::protocol::{GameEvent, PlayerId};
use tokio::sync::oneshot;

/// A change to one identity's all-time figures, as the store receives it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScoreDelta {
    /// Whose (the store's identity row).
    pub identity: i64,
    /// Hits to add.
    pub hits: u32,
    /// Kills to add.
    pub kills: u32,
    /// Deaths to add.
    pub deaths: u32,
    /// Points to add.
    pub points: u32,
    /// A life that just ended, ticks (kept if it is the longest); 0 when no life ended.
    pub life_ticks: u32,
}

/// Where score changes of players with an identity go (the store). The simulation knows
/// nothing else about it.
pub trait ScoreSink: Send {
    /// Takes one change; must not block (the simulation thread calls it).
    fn record(&self, delta: ScoreDelta);
}

/// Everything one tick decided that someone outside the simulation must hear.
#[derive(Debug, Default)]
pub struct Outbox {
    /// Answers to this tick's joins.
    pub joined: Vec<(oneshot::Sender<Joined>, Joined)>,
    /// Connections the simulation ends (replaced by a newer one with the same identity, or
    /// revoked); each is told why, and closes.
    pub dismissed: Vec<(oneshot::Sender<Dismissal>, Dismissal)>,
    /// Events for one player each, in the order they happened.
    pub events: Vec<(PlayerId, GameEvent)>,
    /// Score changes of players with an identity.
    pub scores: Vec<ScoreDelta>,
}

/// What delivery could not do.
#[derive(Debug, Default)]
pub struct Undelivered {
    /// Events dropped because a player's session did not drain its channel.
    pub dropped_events: u64,
    /// Leaves for joins whose session went away while waiting for the answer; the loop feeds
    /// them to the next tick.
    pub leaves: Vec<SimEvent>,
}

impl Outbox {
    /// Delivers and empties the outbox: answers to joins, dismissals of connections,
    /// events to each player's session (never waiting: a full channel drops the event,
    /// counted; an AI pilot has no session, and its events go nowhere, uncounted), score
    /// changes to `scores` (when there is a store).
    pub fn deliver(&mut self, players: &Players, scores: Option<&dyn ScoreSink>) -> Undelivered {
        let mut undelivered = Undelivered::default();
        for (reply, joined) in self.joined.drain(..) {
            let (player, session) = (joined.player_id, joined.session);
            if reply.send(joined).is_err() {
                undelivered.leaves.push(SimEvent::Leave { player, session, resumable: true });
            }
        }
        for (dismiss, why) in self.dismissed.drain(..) {
            let _ = dismiss.send(why); // a connection that already ended needs no telling
        }
        for (player, event) in self.events.drain(..) {
            // Nobody to tell: an AI pilot, or a pilot waiting for its connection to come back
            // (a resumed connection is told where it stands when it comes).
            let Some(p) = players.get(player).filter(|p| !p.is_ai() && p.session != 0) else { continue };
            if p.mailbox.try_send(event).is_err() {
                undelivered.dropped_events += 1;
            }
        }
        match scores {
            Some(sink) => self.scores.drain(..).for_each(|d| sink.record(d)),
            None => self.scores.clear(),
        }
        undelivered
    }
}
