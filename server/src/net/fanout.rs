//! Frames to every connection in one pass: the fan-out.
//!
//! Every snapshot tick, each of a few fan-out tasks (one per runtime worker) walks its share of
//! the connections and, for each, diffs the new frame against what the client has, encodes
//! the snapshot (and whatever part of the leaderboard, the universe map or the watched ship
//! is due, and a ping when one is due) and writes it all to the socket with one system call.
//! A connection's own task is not woken for it: with thousands of clients, a wake-up per
//! connection per frame (the runtime's queue, a `select!` over five sources, the socket's
//! split lock) cost more than the diff itself.
//!
//! The socket is shared with the connection's task through a [`Link`]: that task reads from
//! it, writes the messages that are its own (events, pongs, the close) and finishes any write
//! the fan-out could not complete at once. A socket that cannot take a frame's bytes at once
//! is *stalled*: the fan-out leaves the rest to the connection's task (its waker is the one the
//! socket wakes when it can take more) and skips that client's frames until the write is done,
//! closing it as too slow if that takes longer than the slow-client timeout. So a slow client
//! still skips frames instead of queueing them, and the server never holds more than one
//! frame's messages for it.

use super::interest::{anchored, Interest};
use crate::frame::{Encoded, Frame};
use crate::stats::ConnStats;
use crate::AppState;
use axum::extract::ws::{Message, WebSocket};
use futures_util::{Sink, Stream};
use shared::codec::encode_server;
use shared::constants::{TOP_ALL_TIME_INTERVAL_MS, TOP_ONLINE_INTERVAL_MS};
use shared::protocol::{EntityId, InputAck, LeaderboardEntry, ServerMsg, UniverseMap, ViewRect, WorldStatus};
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// What a session serves: a player's connection, or a spectator's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A player: its snapshots are around its ship (or the ship it watches).
    Player,
    /// A spectator: its snapshots follow the featured pilot.
    Spectator,
}

/// What a session learns of its link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum News {
    /// It can carry nothing more.
    Broken(Broken),
    /// Its socket stopped taking what was written at this moment, or (`None`) took it all.
    Stalled(Option<Instant>),
}

/// Why a link can carry nothing more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Broken {
    /// A write to the socket failed.
    SendFailed,
    /// The simulation stopped publishing frames for good.
    SimulationStopped,
}

/// One connection's socket, shared by its session task and a fan-out task.
pub struct Link {
    line: Mutex<Line>,
    conn: Arc<ConnStats>,
    role: Role,
}

/// What a link's lock guards.
struct Line {
    ws: WebSocket,
    /// Messages accepted for this client and not yet handed to the socket (only while a write
    /// is stalled: at most one frame's, plus the session's own replies).
    queued: VecDeque<Message>,
    /// Since when the socket has not taken everything written to it.
    stalled_since: Option<Instant>,
    broken: Option<Broken>,
    /// The session task's waker: woken when its write stalls or breaks, and registered with
    /// the socket for writability while it is stalled.
    waker: Option<Waker>,
    /// The session is over (or sent its close): the fan-out forgets the link.
    done: bool,
    /// The view the client asked for last (none yet: no snapshots).
    view: Option<ViewRect>,
    duty: Duty,
}

/// What a client has had of the frames so far.
struct Duty {
    interest: Interest,
    /// The ship the client was last told it watches (none: it has its own, or nothing).
    watching_sent: Option<EntityId>,
    /// The input acknowledgement the client has: a snapshot carries one only when it changed.
    ack_sent: InputAck,
    world_sent: Paced<WorldStatus>,
    top_sent: Paced<Vec<LeaderboardEntry>>,
    all_time_sent: Paced<Vec<LeaderboardEntry>>,
    map_sent: Paced<UniverseMap>,
    /// When the next ping is due (pings ride on frames).
    ping_due: Instant,
}

impl Line {
    /// Whether a write is unfinished (the fan-out then skips this client's frames).
    fn busy(&self) -> bool {
        self.stalled_since.is_some() || !self.queued.is_empty()
    }

    /// Hands the queued messages to the socket and flushes it: `Pending` while the socket
    /// cannot take them (the context's waker is woken when it can).
    fn push(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), axum::Error>> {
        let mut ws = Pin::new(&mut self.ws);
        while !self.queued.is_empty() {
            match ws.as_mut().poll_ready(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
            let msg = self.queued.pop_front().expect("not empty");
            ws.as_mut().start_send(msg)?;
        }
        ws.poll_flush(cx)
    }

    /// [`Line::push`] with the bookkeeping of a stall: `Ready(true)` once everything is out,
    /// `Ready(false)` if the socket failed.
    fn drive(&mut self, cx: &mut Context<'_>, conn: &ConnStats) -> Poll<bool> {
        match self.push(cx) {
            Poll::Ready(Ok(())) => {
                if self.stalled_since.take().is_some() {
                    conn.sending.store(false, Ordering::Relaxed);
                }
                Poll::Ready(true)
            }
            Poll::Ready(Err(_)) => {
                self.broken = Some(Broken::SendFailed);
                Poll::Ready(false)
            }
            Poll::Pending => {
                if self.stalled_since.is_none() {
                    self.stalled_since = Some(Instant::now());
                    conn.sending.store(true, Ordering::Relaxed);
                }
                Poll::Pending
            }
        }
    }

    fn wake_session(&self) {
        if let Some(waker) = &self.waker {
            waker.wake_by_ref();
        }
    }
}

impl Link {
    /// A link for an upgraded socket whose handshake is done.
    pub fn new(ws: WebSocket, conn: Arc<ConnStats>, role: Role, ping_interval: Duration) -> Arc<Link> {
        let duty = Duty {
            interest: Interest::new(),
            watching_sent: None,
            ack_sent: InputAck::default(),
            world_sent: Paced::default(),
            top_sent: Paced::default(),
            all_time_sent: Paced::default(),
            map_sent: Paced::default(),
            ping_due: Instant::now() + ping_interval,
        };
        let line = Line {
            ws,
            queued: VecDeque::new(),
            stalled_since: None,
            broken: None,
            waker: None,
            done: false,
            view: None,
            duty,
        };
        Arc::new(Link { line: Mutex::new(line), conn, role })
    }

    fn lock(&self) -> MutexGuard<'_, Line> {
        // A panic while the lock was held can only have left a message half queued; the
        // socket itself is consistent, so carry on rather than poison every later use.
        self.line.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The connection's counters.
    pub fn conn(&self) -> &ConnStats {
        &self.conn
    }

    /// Sets the view the client asked for (already clamped).
    pub fn set_view(&self, view: ViewRect) {
        self.lock().view = Some(view);
    }

    /// The session's side of the write path: keeps its waker registered and finishes a write
    /// the fan-out left stalled. Ready when the link broke, or when its stall began or ended
    /// (`known`: when the caller last knew it to have begun), so the caller can time it.
    pub fn poll_news(&self, cx: &mut Context<'_>, known: Option<Instant>) -> Poll<News> {
        let mut line = self.lock();
        if !line.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            line.waker = Some(cx.waker().clone());
        }
        if let Some(broken) = line.broken {
            return Poll::Ready(News::Broken(broken));
        }
        if line.busy() {
            if let Poll::Ready(false) = line.drive(cx, &self.conn) {
                return Poll::Ready(News::Broken(Broken::SendFailed));
            }
        }
        if line.stalled_since != known {
            return Poll::Ready(News::Stalled(line.stalled_since));
        }
        Poll::Pending
    }

    /// Whether a ping is due by `now`; if so it is recorded as sent (the next `every` later).
    pub fn ping_due(&self, now: Instant, every: Duration) -> bool {
        let mut line = self.lock();
        let due = now >= line.duty.ping_due;
        if due {
            line.duty.ping_due = now + every;
        }
        due
    }

    /// When the next ping is due.
    pub fn next_ping(&self) -> Instant {
        self.lock().duty.ping_due
    }

    /// Queues messages after whatever is queued and writes everything out; false if the socket
    /// failed or did not take it all within `limit` (the slow-client timeout). `last` marks
    /// the link done once queued (a close: nothing may follow it).
    pub async fn send(&self, msgs: impl IntoIterator<Item = Message>, limit: Duration, last: bool) -> bool {
        {
            let mut line = self.lock();
            if line.broken == Some(Broken::SendFailed) {
                return false;
            }
            line.queued.extend(msgs);
            line.done |= last;
        }
        // Ends early (false) if the fan-out finds the client too slow meanwhile: the timeout
        // runs from when the socket stopped taking bytes, not from this message. (A link broken
        // because the simulation stopped still takes its closing message.)
        let written = std::future::poll_fn(|cx| {
            let mut line = self.lock();
            if line.broken == Some(Broken::SendFailed) {
                return Poll::Ready(false);
            }
            line.drive(cx, &self.conn)
        });
        super::session::bounded(limit, written).await.unwrap_or(false)
    }

    /// Reads the next message from the socket.
    pub async fn next(&self) -> Option<Result<Message, axum::Error>> {
        std::future::poll_fn(|cx| Pin::new(&mut self.lock().ws).poll_next(cx)).await
    }

    /// Flushes and closes the socket's write side (sends a close echo the WebSocket layer
    /// queued).
    pub async fn close(&self) -> Result<(), axum::Error> {
        std::future::poll_fn(|cx| Pin::new(&mut self.lock().ws).poll_close(cx)).await
    }

    /// The fan-out forgets this link at its next frame.
    pub fn finish(&self) {
        self.lock().done = true;
    }

    /// Serves one frame: false when the link is done (the fan-out forgets it).
    fn serve(&self, frame: &Frame, state: &AppState, now: Instant) -> bool {
        let mut guard = self.lock();
        let line = &mut *guard;
        if line.done {
            return false;
        }
        // Latest wins: a client whose socket has not taken the last frame skips this one; the
        // next diff is against what it has, so nothing is lost by skipping.
        if line.broken.is_some() {
            return true;
        }
        if line.busy() {
            if line.stalled_since.is_some_and(|since| now >= since + state.limits.slow_client_timeout) {
                // Too slow: a client that neither reads nor writes never wakes its session,
                // so the timeout is kept here, at every frame.
                line.broken = Some(Broken::SendFailed);
                line.wake_session();
            }
            return true;
        }
        let conn = &*self.conn;
        let queued_before = line.queued.len();
        line.duty.compose(frame, state, conn, self.role, line.view, now, &mut line.queued);
        if line.queued.len() == queued_before {
            return true;
        }
        // Written with the session's waker: a socket that becomes writable again wakes the task
        // that finishes the write (no wake-up of our own: a stall costs no extra poll). Before
        // its first poll the session has no waker yet, and that poll finds the write unfinished.
        let waker = line.waker.take();
        let mut cx = Context::from_waker(waker.as_ref().unwrap_or(Waker::noop()));
        let written = line.drive(&mut cx, conn);
        line.waker = waker;
        if written == Poll::Ready(false) {
            line.wake_session();
        }
        true
    }
}

impl Duty {
    /// Queues what this client is due from `frame`, counting the bytes: the leaderboard parts
    /// and the universe map when due, who it watches when that changed, its snapshot, a ping.
    #[allow(clippy::too_many_arguments)]
    fn compose(
        &mut self,
        frame: &Frame,
        state: &AppState,
        conn: &ConnStats,
        role: Role,
        view: Option<ViewRect>,
        now: Instant,
        out: &mut VecDeque<Message>,
    ) {
        let mut push = |bytes: bytes::Bytes| {
            let len = bytes.len() as u64;
            state.stats.bytes_out.fetch_add(len, Ordering::Relaxed);
            conn.bytes_out.fetch_add(len, Ordering::Relaxed);
            out.push_back(Message::Binary(bytes));
        };
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
        let seat = match role {
            Role::Player => frame.players.get(&conn.player).map(|p| (p.anchor, p.ack, p.watching)),
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
            let served = anchored(&asked, anchor);
            if served != asked {
                state.stats.views_moved.fetch_add(1, Ordering::Relaxed);
            }
            let news = (ack != self.ack_sent).then_some(ack);
            if let Some(snap) = self.interest.diff(frame, &served, news) {
                self.ack_sent = ack;
                state.stats.snapshots.fetch_add(1, Ordering::Relaxed);
                conn.snapshots.fetch_add(1, Ordering::Relaxed);
                conn.entities_in_view.store(self.interest.known() as u32, Ordering::Relaxed);
                push(encode_server(&ServerMsg::Snapshot(snap)).into());
            }
        }
        if now >= self.ping_due {
            self.ping_due = now + state.limits.ping_interval;
            out.push_back(ping(conn));
        }
    }
}

/// A WebSocket ping whose payload is the time it was sent (microseconds since the connection
/// started; never 0, which means "no ping outstanding"; a newer ping replaces an unanswered
/// one).
pub fn ping(conn: &ConnStats) -> Message {
    let micros = (conn.since.elapsed().as_micros() as u64).max(1);
    conn.ping_outstanding.store(micros, Ordering::Relaxed);
    Message::Ping(micros.to_le_bytes().to_vec().into())
}

/// One part of the leaderboard (or the universe map) as this client last had it.
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
pub struct Fanout {
    shards: Vec<mpsc::UnboundedSender<Arc<Link>>>,
    next: AtomicUsize,
}

/// The fan-out tasks' inboxes, until they start (the tasks need the state that holds the
/// [`Fanout`]).
pub struct Shards(Vec<mpsc::UnboundedReceiver<Arc<Link>>>);

impl Fanout {
    /// A fan-out of `shards` tasks (at least one), started by [`Shards::start`]. One per
    /// runtime worker: a pass runs on one worker at a time, so more would only take turns, and
    /// fewer would leave a worker with no snapshots to send.
    pub fn new(shards: usize) -> (Arc<Fanout>, Shards) {
        let (doors, inboxes) = (0..shards.max(1)).map(|_| mpsc::unbounded_channel()).unzip();
        (Arc::new(Fanout { shards: doors, next: AtomicUsize::new(0) }), Shards(inboxes))
    }

    /// Gives a link its frames from the next frame on; false if the frames have stopped (the
    /// simulation is gone).
    pub fn join(&self, link: Arc<Link>) -> bool {
        let shard = self.next.fetch_add(1, Ordering::Relaxed) % self.shards.len();
        self.shards[shard].send(link).is_ok()
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
async fn run(state: AppState, mut joining: mpsc::UnboundedReceiver<Arc<Link>>) {
    let mut frames = state.frames.clone();
    let mut links: Vec<Arc<Link>> = Vec::new();
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
    for link in links {
        let mut line = link.lock();
        line.broken = Some(Broken::SimulationStopped);
        line.wake_session();
    }
}

/// Serves one frame to every link, forgetting those that are done.
async fn pass(links: &mut Vec<Arc<Link>>, frame: &Frame, state: &AppState, now: Instant) {
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
    use crate::frame::PublishedLeaderboard;
    use shared::protocol::{Leaderboard, LeaderboardEntry};

    /// A part is sent at once the first time, never twice in the same version, and a new
    /// version waits for the interval.
    #[test]
    fn leaderboard_parts_are_paced() {
        let entry = |name: &str| LeaderboardEntry { name: name.into(), points: 1, kills: 0, ai: false };
        let one = PublishedLeaderboard::new(Leaderboard { top: vec![entry("Ada")], ..Default::default() });
        let here = |name: &str| crate::frame::Standing { online: 0, top: vec![entry(name)] };
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
