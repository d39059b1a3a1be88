//! The players in the world, and how their scores change.
//!
//! A player outlives its connections (see [`Player::session`]) and its ships (see
//! [`Player::ship`]). Its score changes only through [`Players::award`], which applies one
//! [`ScoreChange`] and records, in the tick's outbox, both the new score for the player and
//! the very same change for the store: the two cannot disagree.

use super::events::Dismissal;
use super::outbox::{Outbox, ScoreDelta};
use super::pilots::Pilot;
use shared::constants::{KILL_REPEAT_WINDOW, MIN_VICTIM_POINTS, POINTS_PER_KILL};
use shared::helm::Helm;
use shared::protocol::{EntityId, GameEvent, Input, InputAck, PlayerId, Score, Tick};
use shared::time::{TickExt, Ticks};
use std::collections::{BTreeMap, HashMap, VecDeque};
use tokio::sync::{mpsc, oneshot};

/// What a player without a ship watches, decided when its ship was destroyed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Watch {
    /// Where its ship was destroyed: others fly there (the view is not empty), and staying
    /// costs no bytes (the client already has that view).
    Stay,
    /// The ship that destroyed it, while that flies (then the featured pilot).
    Ship(EntityId),
    /// The featured pilot: nothing flies where it died.
    Featured,
}

/// An input accepted for a later tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingInput {
    /// The input.
    pub input: Input,
    /// The tick it applies at.
    pub at: Tick,
    /// Its acknowledgement's margin (see [`InputAck::margin`]).
    pub margin: i16,
}

/// One player.
#[derive(Debug)]
pub struct Player {
    /// Display name.
    pub name: String,
    /// The persistent identity, if the player has one (its score is stored).
    pub identity: Option<i64>,
    /// All-time points before this session.
    pub total_before: u32,
    /// The tick the current ship spawned (for the longest life).
    pub life_started: Tick,
    /// The current ship, if alive.
    pub ship: Option<EntityId>,
    /// Where the last ship was when it spawned or was destroyed: the player's views stay
    /// around it while no ship flies.
    pub anchor: [f32; 2],
    /// The input in effect: the last one applied.
    pub input: Input,
    /// Highest input sequence number accepted this session; older or equal ones are replays.
    pub input_seq: u32,
    /// Inputs accepted but not yet due, by the tick they apply at (strictly increasing, each
    /// at most [`shared::constants::MAX_INPUT_LEAD`] ahead, so at most that many).
    pub pending: VecDeque<PendingInput>,
    /// The newest input applied, for the player's snapshots.
    pub ack: InputAck,
    /// The ship's gun and spawn protection (the rule is `shared::helm`, the page's too).
    pub helm: Helm,
    /// While dead: the tick at which the next ship spawns.
    pub respawn_at: Option<Tick>,
    /// While dead: what the player's view shows until its next ship (see `featured.rs`).
    pub watch: Watch,
    /// This session's figures.
    pub score: Score,
    /// Where this player's events go (its session drains it).
    pub mailbox: mpsc::Sender<GameEvent>,
    /// The connection that owns this player now (0: none, waiting to be resumed).
    pub session: u64,
    /// While detached: the tick at which the player and its ship are removed.
    pub detached_until: Option<Tick>,
    /// The tick its last connection dropped, while it waits (to count quick rejoins).
    pub dropped_at: Option<Tick>,
    /// Dismisses the owning connection (a newer one took the player over, or the identity
    /// was revoked).
    pub dismiss: Option<oneshot::Sender<Dismissal>>,
    /// The AI flying this player, if it is an AI pilot (no connection, no identity: nothing
    /// it does is sent or stored); `None` for humans.
    pub pilot: Option<Pilot>,
}

impl Player {
    /// A player who has just joined at `tick`, with no ship yet, owned by connection
    /// `session` and told its events through `mailbox`. The one place a player is made, so a
    /// new field cannot be forgotten in one of them.
    pub fn new(
        name: String,
        identity: Option<i64>,
        total_before: u32,
        tick: Tick,
        session: u64,
        mailbox: mpsc::Sender<GameEvent>,
    ) -> Player {
        Player {
            name,
            identity,
            total_before,
            life_started: tick,
            ship: None,
            anchor: [0.0, 0.0],
            input: Input::default(),
            input_seq: 0,
            pending: VecDeque::new(),
            ack: InputAck::default(),
            helm: Helm::default(),
            respawn_at: None,
            watch: Watch::Stay,
            score: Score { total_points: total_before, ..Score::default() },
            mailbox,
            session,
            detached_until: None,
            dropped_at: None,
            dismiss: None,
            pilot: None,
        }
    }

    /// Whether a server-side AI flies this player.
    pub fn is_ai(&self) -> bool {
        self.pilot.is_some()
    }

    /// Whether a human is connected to this player now (the ones counted online).
    pub fn is_human_online(&self) -> bool {
        self.session != 0 && !self.is_ai()
    }
}

/// Most recent kills a hand-over ticket carries to the next sector (tickets are bounded; a
/// pilot who scored more than this many kills of distinct identities in the last five minutes
/// has the oldest forgotten as it crosses).
pub const MAX_CARRIED_KILLS: usize = 16;

/// A pilot as kill farming sees it, shooter or victim: an identity (its players come and go,
/// here and in other sectors), or a guest's (or an AI pilot's) player.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Farmer {
    /// A pilot with an identity.
    Identity(i64),
    /// A guest (no identity), or an AI pilot.
    Guest(PlayerId),
}

impl Farmer {
    fn of(id: PlayerId, p: &Player) -> Farmer {
        p.identity.map_or(Farmer::Guest(id), Farmer::Identity)
    }
}

/// Something that changes a score.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScoreChange {
    /// An asteroid hit, worth `points`.
    Hit {
        /// Points for it.
        points: u32,
    },
    /// Another player's ship destroyed; `points` as the kill rules decided
    /// ([`Players::kill_points`]).
    Kill {
        /// Points for it (0 for a farmed kill).
        points: u32,
    },
    /// The player's own ship destroyed, after a life of `life_ticks`.
    Death {
        /// How long the ship lived.
        life_ticks: u32,
    },
}

/// Every player, by id and by identity.
#[derive(Debug)]
pub struct Players {
    /// In id order, so that every walk over the players (who fires first, who respawns
    /// first, whose ship gets which id and place) is the same in every run: a `HashMap`'s
    /// order differs from one map to the next, and two games stepped alike diverged on it.
    by_id: BTreeMap<PlayerId, Player>,
    by_identity: HashMap<i64, PlayerId>,
    /// The pilots each shooter scored a kill of, and when, pruned to the repeat window. Keyed by
    /// the shooter's identity (a guest by its player), not by its player: a pilot who rejoins
    /// or comes back from another sector is the same shooter (regression: the window reset on
    /// every rejoin and crossing).
    scored_kills: HashMap<Farmer, HashMap<Farmer, Tick>>,
    next_id: PlayerId,
    next_session: u64,
}

impl Default for Players {
    fn default() -> Self {
        Players {
            by_id: BTreeMap::new(),
            by_identity: HashMap::new(),
            scored_kills: HashMap::new(),
            next_id: 1,
            next_session: 1,
        }
    }
}

impl Players {
    /// A new connection's number (never 0, never reused).
    pub fn new_session(&mut self) -> u64 {
        let session = self.next_session;
        self.next_session += 1;
        session
    }

    /// Adds a player; returns its id.
    pub fn insert(&mut self, player: Player) -> PlayerId {
        let id = self.next_id;
        self.next_id += 1;
        if let Some(identity) = player.identity {
            self.by_identity.insert(identity, id);
        }
        self.by_id.insert(id, player);
        id
    }

    /// Removes a player (its ship is the caller's to despawn).
    pub fn remove(&mut self, id: PlayerId) -> Option<Player> {
        let p = self.by_id.remove(&id)?;
        if let Some(identity) = p.identity {
            self.by_identity.remove(&identity);
        }
        Some(p)
    }

    /// The player in the world with this identity.
    pub fn with_identity(&self, identity: i64) -> Option<PlayerId> {
        self.by_identity.get(&identity).copied()
    }

    /// A player.
    pub fn get(&self, id: PlayerId) -> Option<&Player> {
        self.by_id.get(&id)
    }

    /// A player, to change.
    pub fn get_mut(&mut self, id: PlayerId) -> Option<&mut Player> {
        self.by_id.get_mut(&id)
    }

    /// A player's name ("" if gone).
    pub fn name(&self, id: Option<PlayerId>) -> String {
        id.and_then(|id| self.by_id.get(&id)).map(|p| p.name.clone()).unwrap_or_default()
    }

    /// Where a player's events go.
    pub fn mailbox(&self, id: PlayerId) -> Option<&mpsc::Sender<GameEvent>> {
        self.by_id.get(&id).map(|p| &p.mailbox)
    }

    /// Every player.
    pub fn iter(&self) -> impl Iterator<Item = (PlayerId, &Player)> {
        self.by_id.iter().map(|(&id, p)| (id, p))
    }

    /// Every player, to change.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (PlayerId, &mut Player)> {
        self.by_id.iter_mut().map(|(&id, p)| (id, p))
    }

    /// What killing `victim` is worth to `shooter` at `now`: [`POINTS_PER_KILL`], or nothing
    /// when the victim has never scored ([`MIN_VICTIM_POINTS`]) or the shooter already scored
    /// a kill of the same victim within [`KILL_REPEAT_WINDOW`]. A scoring kill is
    /// remembered.
    pub fn kill_points(&mut self, shooter: PlayerId, victim: PlayerId, now: Tick) -> u32 {
        let Some(v) = self.by_id.get(&victim) else { return 0 };
        let key = Farmer::of(victim, v);
        let worthless = v.score.total_points < MIN_VICTIM_POINTS;
        let Some(s) = self.by_id.get(&shooter) else { return 0 };
        let scored = self.scored_kills.entry(Farmer::of(shooter, s)).or_default();
        scored.retain(|_, at| now.since(*at) < KILL_REPEAT_WINDOW);
        if worthless || scored.contains_key(&key) {
            return 0;
        }
        scored.insert(key, now);
        POINTS_PER_KILL
    }

    /// Forgets the kills older than the repeat window (so that shooters who left cost nothing
    /// after it).
    pub fn forget_old_kills(&mut self, now: Tick) {
        self.scored_kills.retain(|_, scored| {
            scored.retain(|_, at| now.since(*at) < KILL_REPEAT_WINDOW);
            !scored.is_empty()
        });
    }

    /// The kills of identities that `player` scored within the repeat window, as ticks ago,
    /// newest first, at most [`MAX_CARRIED_KILLS`]: what a hand-over carries to the next
    /// sector (guests' player numbers mean nothing there).
    pub fn recent_kills(&self, player: PlayerId, now: Tick) -> Vec<(i64, Tick)> {
        let Some(p) = self.by_id.get(&player) else { return Vec::new() };
        let Some(scored) = self.scored_kills.get(&Farmer::of(player, p)) else { return Vec::new() };
        let mut kills: Vec<(i64, Tick)> = scored
            .iter()
            .filter_map(|(victim, at)| match victim {
                Farmer::Identity(id) => Some((*id, now.since(*at).get())),
                Farmer::Guest(_) => None,
            })
            .filter(|(_, ago)| Ticks::new(*ago) < KILL_REPEAT_WINDOW)
            .collect();
        kills.sort_by_key(|&(id, ago)| (ago, id));
        kills.truncate(MAX_CARRIED_KILLS);
        kills
    }

    /// Kills `player` scored elsewhere (identities, ticks ago), remembered as if scored here.
    pub fn remember_kills(&mut self, player: PlayerId, kills: &[(i64, Tick)], now: Tick) {
        let Some(p) = self.by_id.get(&player) else { return };
        let scored = self.scored_kills.entry(Farmer::of(player, p)).or_default();
        for &(victim, ago) in kills.iter().filter(|(_, ago)| Ticks::new(*ago) < KILL_REPEAT_WINDOW) {
            let at = now.saturating_sub(ago);
            let known = scored.entry(Farmer::Identity(victim)).or_insert(at);
            *known = (*known).max(at);
        }
    }

    /// Applies `change` to a player's score, and records the new score for the player and the
    /// change itself for the store (players with an identity). Nothing for a player who is
    /// gone.
    pub fn award(&mut self, id: Option<PlayerId>, change: ScoreChange, out: &mut Outbox) {
        let Some((id, p)) = id.and_then(|id| self.by_id.get_mut(&id).map(|p| (id, p))) else { return };
        let mut delta = ScoreDelta::default();
        match change {
            ScoreChange::Hit { points } => (delta.hits, delta.points) = (1, points),
            ScoreChange::Kill { points } => (delta.kills, delta.points) = (1, points),
            ScoreChange::Death { life_ticks } => (delta.deaths, delta.life_ticks) = (1, life_ticks),
        }
        let s = &mut p.score;
        s.hits += delta.hits;
        s.kills += delta.kills;
        s.deaths += delta.deaths;
        s.points += delta.points;
        s.best_life_ticks = s.best_life_ticks.max(delta.life_ticks);
        s.total_points = p.total_before + s.points;
        if let Some(identity) = p.identity {
            out.scores.push(ScoreDelta { identity, ..delta });
        }
        out.events.push((id, GameEvent::Score(p.score)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pilot(identity: Option<i64>) -> Player {
        Player::new("Ada".into(), identity, 100, 0, 1, mpsc::channel(1).0)
    }

    /// Farming pays nothing: a second kill of the same identity within the window scores no
    /// points (a new account of it, or the same one resumed, alike), a victim who never
    /// scored is worth nothing, and after the window the same victim is worth points again.
    #[test]
    fn farmed_kills_score_nothing() {
        let mut players = Players::default();
        let hunter = players.insert(pilot(Some(1)));
        let alt = players.insert(Player { score: Score { total_points: 3, ..Score::default() }, ..pilot(Some(2)) });
        let fresh = players.insert(Player { total_before: 0, score: Score::default(), ..pilot(Some(3)) });
        assert_eq!(players.kill_points(hunter, alt, 100), POINTS_PER_KILL);
        assert_eq!(players.kill_points(hunter, alt, 200), 0, "the same victim again");
        let alt_again =
            players.insert(Player { score: Score { total_points: 3, ..Score::default() }, ..pilot(Some(2)) });
        assert_eq!(players.kill_points(hunter, alt_again, 300), 0, "the same identity on a new player");
        assert_eq!(players.kill_points(hunter, fresh, 300), 0, "a victim who never scored");
        assert_eq!(players.kill_points(hunter, alt, 100 + KILL_REPEAT_WINDOW), POINTS_PER_KILL, "after the window");
    }

    /// Regression (the repeat window reset when the shooter rejoined or crossed a sector): the
    /// window is the shooter's identity's. A new player of the same identity, here or in the
    /// next sector (the ticket carries the recent kills), scores nothing for the same victim
    /// until the window is over; memory of shooters who left is dropped after it.
    #[test]
    fn the_repeat_window_follows_the_shooters_identity() {
        let worth = |identity| Player { score: Score { total_points: 3, ..Score::default() }, ..pilot(Some(identity)) };
        let mut here = Players::default();
        let hunter = here.insert(pilot(Some(1)));
        let alt = here.insert(worth(2));
        assert_eq!(here.kill_points(hunter, alt, 100), POINTS_PER_KILL);
        here.remove(hunter);
        let back = here.insert(pilot(Some(1)));
        assert_eq!(here.kill_points(back, alt, 200), 0, "rejoined: the same shooter");
        let guest = here.insert(pilot(None));
        assert_eq!(here.kill_points(guest, alt, 200), POINTS_PER_KILL, "another shooter");

        let carried = here.recent_kills(back, 160);
        assert_eq!(carried, vec![(2, 60)], "identities only, as ticks ago");
        let mut there = Players::default();
        let arrived = there.insert(pilot(Some(1)));
        there.remember_kills(arrived, &carried, 5_000);
        let alt_there = there.insert(worth(2));
        assert_eq!(there.kill_points(arrived, alt_there, 5_001), 0, "crossed: the same shooter");
        assert_eq!(there.kill_points(arrived, alt_there, 5_000 - 60 + KILL_REPEAT_WINDOW), POINTS_PER_KILL);

        here.forget_old_kills(100 + KILL_REPEAT_WINDOW + 200);
        assert!(here.scored_kills.is_empty(), "nothing kept past the window");
        let many: Vec<(i64, Tick)> = (0..40).map(|i| (100 + i, i as Tick)).collect();
        there.remember_kills(arrived, &many, 6_000);
        assert_eq!(there.recent_kills(arrived, 6_000).len(), MAX_CARRIED_KILLS, "a ticket carries a bounded few");
    }

    /// Regression (deaths were never saved): every change reaches the store as exactly what
    /// happened, so the store's sums equal the player's score, deaths and longest life
    /// included.
    #[test]
    fn the_store_sees_every_change_the_player_sees() {
        let mut players = Players::default();
        let id = players.insert(pilot(Some(7)));
        let mut out = Outbox::default();
        let changes = [
            ScoreChange::Hit { points: 2 },
            ScoreChange::Death { life_ticks: 300 },
            ScoreChange::Kill { points: 10 },
            ScoreChange::Death { life_ticks: 120 },
            ScoreChange::Hit { points: 1 },
        ];
        for change in changes {
            players.award(Some(id), change, &mut out);
        }
        let sum = out.scores.iter().fold(ScoreDelta::default(), |a, d| ScoreDelta {
            identity: d.identity,
            hits: a.hits + d.hits,
            kills: a.kills + d.kills,
            deaths: a.deaths + d.deaths,
            points: a.points + d.points,
            life_ticks: a.life_ticks.max(d.life_ticks),
        });
        let last = out.events.iter().rev().find_map(|(_, e)| if let GameEvent::Score(s) = e { Some(*s) } else { None });
        let s = last.expect("the player was told");
        assert_eq!(out.events.len(), changes.len(), "one score message per change");
        assert_eq!(
            (sum.identity, sum.hits, sum.kills, sum.deaths, sum.points),
            (7, s.hits, s.kills, s.deaths, s.points)
        );
        assert_eq!((s.hits, s.kills, s.deaths, s.points), (2, 1, 2, 13));
        assert_eq!((sum.life_ticks, s.best_life_ticks), (300, 300));
        assert_eq!(s.total_points, 113);
    }

    /// A player without an identity is scored and told, and the store hears nothing.
    #[test]
    fn guests_are_not_stored() {
        let mut players = Players::default();
        let id = players.insert(pilot(None));
        let mut out = Outbox::default();
        players.award(Some(id), ScoreChange::Kill { points: 10 }, &mut out);
        assert!(out.scores.is_empty());
        assert_eq!(out.events.len(), 1);
    }
}
