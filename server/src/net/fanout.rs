//! Frames to every connection in one pass: the fan-out.
//!
//! Every snapshot tick, each of a few fan-out tasks (one per runtime worker) walks its share of
//! the connections and, for each, decides what the client is due from the new frame: the diff
//! against what the client has, whatever part of the leaderboard, the universe map or the
//! watched ship is due. It hands that to the connection's `Link`, which writes it (and a
//! ping when one is due) with one system call, or skips the client while its last write is
//! unfinished (see [`super::link`]). A connection's own task is not woken for it: with
//! thousands of clients, a wake-up per connection per frame (the runtime's queue, a `select!`
//! over five sources, the socket's split lock) cost more than the diff itself.
//!
//! What each client has had (its [`Interest`], the parts and acknowledgement it was sent) is
//! the fan-out's alone: it lives beside the link in the task's own list, behind no lock.

use super::interest::{anchored, follow, view_step, Interest};
use super::link::{Due, Link};
use crate::sim::frame::{Encoded, Frame};
use crate::AppState;
use shared::codec::encode_server;
use shared::constants::{TOP_ALL_TIME_INTERVAL_MS, TOP_ONLINE_INTERVAL_MS};
use shared::protocol::{EntityId, InputAck, LeaderboardEntry, PlayerId, ServerMsg, UniverseMap, ViewRect, WorldStatus};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// What a session serves: a player's connection, or a spectator's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// A player: its snapshots are around its ship (or the ship it watches).
    Player(PlayerId),
    /// A spectator: its snapshots follow the featured pilot.
    Spectator,
}

/// A connection as the fan-out serves it: its link, and what its client has had so far.
#[derive(Debug)]
struct Member {
    link: Arc<Link>,
    duty: Duty,
}

/// What a client has had of the frames so far.
#[derive(Debug)]
struct Duty {
    role: Role,
    interest: Interest,
    /// The ship the client was last told it watches (none: it has its own, or nothing).
    watching_sent: Option<EntityId>,
    /// The input acknowledgement the client has: a snapshot carries one only when it changed.
    ack_sent: InputAck,
    world_sent: Paced<WorldStatus>,
    top_sent: Paced<Vec<LeaderboardEntry>>,
    all_time_sent: Paced<Vec<LeaderboardEntry>>,
    map_sent: Paced<UniverseMap>,
    /// The view of the last snapshot, and the anchor it was served around (its offset from the
    /// anchor moves a bounded step per snapshot: see [`view_step`]).
    served: Option<(ViewRect, [f32; 2])>,
}

impl Duty {
    fn new(role: Role) -> Duty {
        Duty {
            role,
            interest: Interest::new(),
            watching_sent: None,
            ack_sent: InputAck::default(),
            world_sent: Paced::default(),
            top_sent: Paced::default(),
            all_time_sent: Paced::default(),
            map_sent: Paced::default(),
            served: None,
        }
    }
}

impl Member {
    /// Serves one frame: false when the link is done (the fan-out forgets it).
    fn serve(&mut self, frame: &Frame, state: &AppState, now: Instant) -> bool {
        let (link, duty) = (&self.link, &mut self.duty);
        link.serve(now, |view, due| duty.compose(frame, state, link, view, now, due))
    }
}

impl Duty {
    /// What this client is due from `frame`: the leaderboard parts and the universe map when
    /// due, who it watches when that changed, its snapshot.
    fn compose(
        &mut self,
        frame: &Frame,
        state: &AppState,
        link: &Link,
        view: Option<ViewRect>,
        now: Instant,
        due: &mut Due,
    ) {
        let mut push = |bytes: bytes::Bytes| due.push(bytes);
        let board = &frame.leaderboard;
        for msg in [
            self.world_sent.due(&board.world, now, Duration::ZERO),
            self.top_sent.due(&board.top, now, Duration::from_millis(TOP_ONLINE_INTERVAL_MS)),
            self.all_time_sent.due(&board.all_time, now, Duration::from_millis(TOP_ALL_TIME_INTERVAL_MS)),
            state
                .universe
                .as_ref()
                .and_then(|u| self.map_sent.due(&u.published_map(), now, crate::universe::UNIVERSE_MAP_INTERVAL)),
        ]
        .into_iter()
        .flatten()
        {
            push(msg);
        }
        // What this client may see: around its ship, or the ship it watches.
        let seat = match self.role {
            Role::Player(player) => frame.players.get(&player).map(|p| (p.anchor, p.ack, p.watching)),
            Role::Spectator => {
                let ship = frame.featured.as_ref().map(|f| f.ship);
                let at = ship.and_then(|id| frame.entity(id)).map_or([0.0; 2], |e| e.state.position().into());
                Some((at, InputAck::default(), ship))
            }
        };
        if let Some((_, _, watching)) = seat.filter(|s| s.2 != self.watching_sent) {
            self.watching_sent = watching;
            let named =
                watching.and_then(|ship| frame.featured.iter().chain(&frame.watched).find(|w| w.ship == ship).cloned());
            push(encode_server(&ServerMsg::Watching(named)).into());
        }
        if let (Some(asked), Some((anchor, ack, _))) = (view, seat) {
            // The view is the player's own neighbourhood (or the watched ship's), never
            // elsewhere (no map hack).
            if anchored(&asked, anchor) != asked {
                state.stats.views_moved.fetch_add(1, Ordering::Relaxed);
            }
            let (served, held) = follow(&asked, anchor, self.served, view_step(state.snapshot_hz));
            let news = (ack != self.ack_sent).then_some(ack);
            if let Some(snap) = self.interest.diff(frame, &served, news) {
                // The view moves on by a step per snapshot sent: what the client was served
                // is what the next step starts from.
                self.served = Some((served, anchor));
                if held {
                    state.stats.views_held.fetch_add(1, Ordering::Relaxed);
                }
                self.ack_sent = ack;
                state.stats.snapshots.fetch_add(1, Ordering::Relaxed);
                if let Some(conn) = link.conn() {
                    conn.snapshots.fetch_add(1, Ordering::Relaxed);
                    conn.entities_in_view.store(self.interest.known() as u32, Ordering::Relaxed);
                }
                push(encode_server(&ServerMsg::Snapshot(snap)).into());
            }
        }
    }
}

/// One part of the leaderboard (or the universe map) as this client last had it.
#[derive(Debug)]
pub(super) struct Paced<T> {
    sent: Option<Arc<Encoded<T>>>,
    at: Option<Instant>,
}

impl<T> Default for Paced<T> {
    fn default() -> Self {
        Paced { sent: None, at: None }
    }
}

impl<T> Paced<T> {
    /// The part's message if the client has not had this version of it and `interval` has
    /// passed since the last one sent (the first is sent at once); recorded as sent.
    pub(super) fn due(&mut self, part: &Arc<Encoded<T>>, now: Instant, interval: Duration) -> Option<bytes::Bytes> {
        if self.sent.as_ref().is_some_and(|sent| Arc::ptr_eq(sent, part))
            || self.at.is_some_and(|at| now < at + interval)
        {
            return None;
        }
        self.sent = Some(part.clone());
        self.at = Some(now);
        Some(part.wire.clone())
    }
}

/// The fan-out tasks' doors: a new link goes to one of them, in turn.
#[derive(Debug)]
pub struct Fanout {
    shards: Vec<mpsc::UnboundedSender<Member>>,
    next: AtomicUsize,
}

/// The fan-out tasks' inboxes, until they start (the tasks need the state that holds the
/// [`Fanout`]).
#[derive(Debug)]
pub struct Shards(Vec<mpsc::UnboundedReceiver<Member>>);

impl Fanout {
    /// A fan-out of `shards` tasks (at least one), started by [`Shards::start`]. One per
    /// runtime worker: a pass runs on one worker at a time, so more would only take turns, and
    /// fewer would leave a worker with no snapshots to send.
    pub fn new(shards: usize) -> (Arc<Fanout>, Shards) {
        let (doors, inboxes) = (0..shards.max(1)).map(|_| mpsc::unbounded_channel()).unzip();
        (Arc::new(Fanout { shards: doors, next: AtomicUsize::new(0) }), Shards(inboxes))
    }

    /// Gives a link its frames from the next frame on, as `role` sees them; false if the
    /// frames have stopped (the simulation is gone).
    pub(crate) fn join(&self, link: Arc<Link>, role: Role) -> bool {
        let shard = self.next.fetch_add(1, Ordering::Relaxed) % self.shards.len();
        self.shards[shard].send(Member { link, duty: Duty::new(role) }).is_ok()
    }
}

impl Shards {
    /// Starts the tasks, serving `state`'s frames until shutdown.
    pub fn start(self, state: &AppState) {
        for inbox in self.0 {
            state.tracker.spawn(run(state.clone(), inbox));
        }
    }
}

/// How many links a fan-out pass serves before it lets other tasks run (≈ 1 ms of work).
const LINKS_PER_TURN: usize = 64;

/// One fan-out task: every frame, every link of its share, in turn.
async fn run(state: AppState, mut joining: mpsc::UnboundedReceiver<Member>) {
    let mut frames = state.frames.clone();
    let mut links: Vec<Member> = Vec::new();
    loop {
        tokio::select! {
            biased;
            () = state.shutdown.cancelled() => return,
            changed = frames.changed() => {
                if changed.is_err() {
                    break;
                }
            }
        }
        while let Ok(link) = joining.try_recv() {
            links.push(link);
        }
        let frame = frames.borrow_and_update().clone();
        let now = Instant::now();
        // Outside the runtime's budget for this task: it stands for thousands of sessions,
        // and a socket polled past the budget reports "not ready" (a false stall, handed to its
        // session) instead of taking the bytes it has room for.
        tokio::task::coop::unconstrained(pass(&mut links, &frame, &state, now)).await;
    }
    // The simulation is gone: every session ends (and any that joins later is refused).
    joining.close();
    while let Ok(link) = joining.try_recv() {
        links.push(link);
    }
    for member in links {
        member.link.simulation_stopped();
    }
}

/// Serves one frame to every link, forgetting those that are done.
async fn pass(links: &mut Vec<Member>, frame: &Frame, state: &AppState, now: Instant) {
    let (mut i, mut served) = (0, 0);
    while i < links.len() {
        if links[i].serve(frame, state, now) {
            i += 1;
        } else {
            links.swap_remove(i);
        }
        served += 1;
        if served % LINKS_PER_TURN == 0 {
            // Let the sessions' reads in between (a pass over thousands of links takes tens of
            // milliseconds, too long for inputs to wait).
            tokio::task::yield_now().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::frame::PublishedLeaderboard;
    use shared::protocol::{Leaderboard, LeaderboardEntry};

    /// A part is sent at once the first time, never twice in the same version, and a new
    /// version waits for the interval.
    #[test]
    fn leaderboard_parts_are_paced() {
        let entry = |name: &str| LeaderboardEntry { name: name.into(), points: 1, kills: 0, ai: false };
        let one = PublishedLeaderboard::new(Leaderboard { top: vec![entry("Ada")], ..Default::default() });
        let here = |name: &str| crate::sim::frame::Standing { online: 0, top: vec![entry(name)] };
        let two =
            one.next(Leaderboard { top: vec![entry("Bob")], ..Default::default() }, here("Bob")).expect("changed");
        assert!(Arc::ptr_eq(&one.world, &two.world) && !Arc::ptr_eq(&one.top, &two.top), "unchanged parts shared");
        let mut paced = Paced::default();
        let (t0, every) = (Instant::now(), Duration::from_secs(2));
        assert!(paced.due(&one.top, t0, every).is_some(), "first at once");
        assert!(paced.due(&one.top, t0 + every * 2, every).is_none(), "same version: not again");
        let t1 = t0 + Duration::from_millis(500);
        assert!(paced.due(&two.top, t1, every).is_none(), "new version within the interval: waits");
        assert_eq!(paced.due(&two.top, t0 + every, every), Some(two.top.wire.clone()), "then goes");
        assert!(
            one.next(Leaderboard { top: vec![entry("Ada")], ..Default::default() }, here("Ada")).is_none(),
            "same: None"
        );
    }
}
