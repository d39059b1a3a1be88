//! A game connection's socket, and the only code that writes to it.
//!
//! Two tasks have something to write to a client: the fan-out (snapshots, the leaderboard's
//! parts, the universe map, and pings, which ride on frames) and the connection's own session
//! (the handshake's answers, the player's events, pongs, the close). Both hand their messages
//! to the connection's `Link`, which owns the WebSocket: one queue, one stall clock and
//! slow-client timeout, one ping schedule, one place where bytes are counted.
//!
//! A socket that cannot take what is written to it at once is *stalled*. Whoever wrote leaves
//! the rest queued; the session's task finishes it (its waker is the one the socket wakes when
//! it can take more), and the fan-out skips the client's frames meanwhile, closing it as too
//! slow once the stall has lasted the slow-client timeout. So a slow client skips frames
//! instead of queueing them, and the server never holds more than one frame's messages for it.

use crate::limits::Limits;
use crate::stats::{ConnStats, Stats};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use bytes::Bytes;
use futures_util::{Sink, Stream};
use shared::protocol::ViewRect;
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::time::{timeout, Instant};

/// What a session learns of its link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum News {
    /// It can carry nothing more.
    Broken(Broken),
    /// Its socket stopped taking what was written at this moment, or (`None`) took it all.
    Stalled(Option<Instant>),
}

/// Why a link can carry nothing more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Broken {
    /// A write to the socket failed, or the client stayed too slow.
    SendFailed,
    /// The simulation stopped publishing frames for good.
    SimulationStopped,
}

/// One connection's socket, shared by its session task and a fan-out task.
pub(crate) struct Link {
    line: Mutex<Line>,
    /// Server-wide counters (bytes out).
    stats: Arc<Stats>,
    /// The connection's own figures, once the handshake has registered them.
    conn: OnceLock<Arc<ConnStats>>,
    /// When the connection opened: a ping's payload is the microseconds since.
    opened: Instant,
    slow_client_timeout: Duration,
    ping_interval: Duration,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link").field("opened", &self.opened).finish_non_exhaustive()
    }
}

/// What a link's lock guards. A std `Mutex`, not a tokio one: nothing awaits while it is held,
/// and it is taken once per frame by the fan-out and once per message by the session.
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
    /// The session is over (or sent its close): nothing more is written, and the fan-out
    /// forgets the link.
    done: bool,
    /// The view the client asked for last (none yet: no snapshots).
    view: Option<ViewRect>,
    /// When the next ping is due.
    ping_due: Instant,
    /// The payload of the ping awaiting its pong (microseconds since `opened`, never 0), or
    /// 0: the one pong that may set the connection's round trip.
    ping_outstanding: u64,
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
    fn drive(&mut self, cx: &mut Context<'_>, conn: Option<&ConnStats>) -> Poll<bool> {
        match self.push(cx) {
            Poll::Ready(Ok(())) => {
                if self.stalled_since.take().is_some() {
                    if let Some(conn) = conn {
                        conn.sending.store(false, Ordering::Relaxed);
                    }
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
                    if let Some(conn) = conn {
                        conn.sending.store(true, Ordering::Relaxed);
                    }
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

/// What the fan-out hands a link for one frame: the messages due, in order.
pub(crate) type Due = Vec<Bytes>;

impl Link {
    /// A link for an upgraded socket, before its handshake.
    pub(crate) fn new(ws: WebSocket, stats: Arc<Stats>, limits: &Limits) -> Arc<Link> {
        let opened = Instant::now();
        let line = Line {
            ws,
            queued: VecDeque::new(),
            stalled_since: None,
            broken: None,
            waker: None,
            done: false,
            view: None,
            ping_due: opened + limits.ping_interval,
            ping_outstanding: 0,
        };
        Arc::new(Link {
            line: Mutex::new(line),
            stats,
            conn: OnceLock::new(),
            opened,
            slow_client_timeout: limits.slow_client_timeout,
            ping_interval: limits.ping_interval,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Line> {
        // A panic while the lock was held can only have left a message half queued; the
        // socket itself is consistent, so carry on rather than poison every later use.
        self.line.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Gives the link the connection's figures once its handshake registered them (bytes,
    /// round trip, stalls are counted there from then on).
    pub(crate) fn attach(&self, conn: Arc<ConnStats>) {
        let _ = self.conn.set(conn);
    }

    /// The connection's figures (none before the handshake registered them).
    pub(crate) fn conn(&self) -> Option<&ConnStats> {
        self.conn.get().map(Arc::as_ref)
    }

    /// Sets the view the client asked for (already clamped).
    pub(crate) fn set_view(&self, view: ViewRect) {
        self.lock().view = Some(view);
    }

    /// Counts a message's bytes (binary messages: what the protocol carries) and queues it.
    fn queue(&self, line: &mut Line, msg: Message) {
        if let Message::Binary(bytes) = &msg {
            let len = bytes.len() as u64;
            self.stats.bytes_out.fetch_add(len, Ordering::Relaxed);
            if let Some(conn) = self.conn() {
                conn.bytes_out.fetch_add(len, Ordering::Relaxed);
            }
        }
        line.queued.push_back(msg);
    }

    /// A ping if one is due by `now` (the next one `ping_interval` later): its payload is the
    /// time it was sent, and it is the one outstanding (a newer ping replaces an unanswered
    /// one).
    fn ping_if_due(&self, line: &mut Line, now: Instant) -> Option<Message> {
        if now < line.ping_due {
            return None;
        }
        line.ping_due = now + self.ping_interval;
        let micros = (now.saturating_duration_since(self.opened).as_micros() as u64).max(1);
        line.ping_outstanding = micros;
        Some(Message::Ping(micros.to_le_bytes().to_vec().into()))
    }

    /// When the next ping is due.
    pub(crate) fn next_ping(&self) -> Instant {
        self.lock().ping_due
    }

    /// Measures the round trip from a pong, if it answers the ping still outstanding (its
    /// payload is the microseconds at which it was sent). Unsolicited pongs, and stale or
    /// forged payloads, change nothing: otherwise any client could set the round trip its
    /// operator sees.
    pub(crate) fn pong(&self, payload: &[u8]) {
        let Ok(sent) = <[u8; 8]>::try_from(payload) else { return };
        let sent = u64::from_le_bytes(sent);
        {
            let mut line = self.lock();
            if sent == 0 || line.ping_outstanding != sent {
                return;
            }
            line.ping_outstanding = 0;
        }
        let now = Instant::now().saturating_duration_since(self.opened).as_micros() as u64;
        if let Some(conn) = self.conn() {
            conn.rtt_us.store(now.saturating_sub(sent).max(1), Ordering::Relaxed);
        }
    }

    /// The session's side of the write path: keeps its waker registered and finishes a write
    /// the fan-out left stalled. Ready when the link broke, or when its stall began or ended
    /// (`known`: when the caller last knew it to have begun), so the caller can time it.
    pub(crate) fn poll_news(&self, cx: &mut Context<'_>, known: Option<Instant>) -> Poll<News> {
        let mut line = self.lock();
        if !line.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            line.waker = Some(cx.waker().clone());
        }
        if let Some(broken) = line.broken {
            return Poll::Ready(News::Broken(broken));
        }
        if line.busy() {
            if let Poll::Ready(false) = line.drive(cx, self.conn()) {
                return Poll::Ready(News::Broken(Broken::SendFailed));
            }
        }
        if line.stalled_since != known {
            return Poll::Ready(News::Stalled(line.stalled_since));
        }
        Poll::Pending
    }

    /// Sends `msgs` after whatever is queued: false if the socket failed or did not take it
    /// all within the slow-client timeout.
    pub(crate) async fn send(&self, msgs: impl IntoIterator<Item = Bytes>) -> bool {
        self.write(msgs.into_iter().map(Message::Binary), false).await
    }

    /// Sends a ping if one is due by `now` (for a session whose frames stopped: pings ride
    /// on frames otherwise); false as [`Link::send`].
    pub(crate) async fn ping_if_idle(&self, now: Instant) -> bool {
        let ping = {
            let mut line = self.lock();
            self.ping_if_due(&mut line, now)
        };
        match ping {
            Some(ping) => self.write([ping], false).await,
            None => true,
        }
    }

    /// Sends `msgs`, then the close frame `code` with `reason`; nothing may follow it. Waits
    /// at most the slow-client timeout (false if the socket did not take it all).
    pub(crate) async fn close(&self, msgs: impl IntoIterator<Item = Bytes>, code: u16, reason: &'static str) -> bool {
        let frame = Message::Close(Some(CloseFrame { code, reason: Utf8Bytes::from_static(reason) }));
        self.write(msgs.into_iter().map(Message::Binary).chain([frame]), true).await
    }

    /// Queues messages after whatever is queued and writes everything out. `last` marks the
    /// link done once queued (a close: nothing may follow it).
    async fn write(&self, msgs: impl IntoIterator<Item = Message>, last: bool) -> bool {
        {
            let mut line = self.lock();
            if line.broken == Some(Broken::SendFailed) {
                return false;
            }
            for msg in msgs {
                self.queue(&mut line, msg);
            }
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
            line.drive(cx, self.conn())
        });
        bounded(self.slow_client_timeout, written).await.unwrap_or(false)
    }

    /// Reads the next message from the socket.
    pub(crate) async fn next(&self) -> Option<Result<Message, axum::Error>> {
        std::future::poll_fn(|cx| Pin::new(&mut self.lock().ws).poll_next(cx)).await
    }

    /// Flushes and closes the socket's write side, within a second: sends the echo of the
    /// peer's close frame that the WebSocket layer queued when it read it (RFC 6455 §5.5.1).
    pub(crate) async fn echo_close(&self) {
        let closing = std::future::poll_fn(|cx| Pin::new(&mut self.lock().ws).poll_close(cx));
        let _ = timeout(Duration::from_secs(1), closing).await;
    }

    /// Nothing more is written, and the fan-out forgets this link at its next frame.
    pub(crate) fn finish(&self) {
        self.lock().done = true;
    }

    /// The link can carry nothing more: the simulation stopped. Its session is woken, and may
    /// still send its closing message.
    pub(crate) fn simulation_stopped(&self) {
        let mut line = self.lock();
        line.broken = Some(Broken::SimulationStopped);
        line.wake_session();
    }

    /// The fan-out's side: serves one frame. `compose` is given the client's view and fills in
    /// what the client is due (it is not called while a write is unfinished: latest wins, a
    /// client that has not taken the last frame skips this one); a ping is added when due, and
    /// everything goes out in one write. False when the link is done (the fan-out forgets it).
    pub(crate) fn serve(&self, now: Instant, compose: impl FnOnce(Option<ViewRect>, &mut Due)) -> bool {
        let mut guard = self.lock();
        let line = &mut *guard;
        if line.done {
            return false;
        }
        if line.broken.is_some() {
            return true;
        }
        if line.busy() {
            if line.stalled_since.is_some_and(|since| now >= since + self.slow_client_timeout) {
                // Too slow: a client that neither reads nor writes never wakes its session,
                // so the timeout is kept here, at every frame.
                line.broken = Some(Broken::SendFailed);
                line.wake_session();
            }
            return true;
        }
        let mut due = Due::new();
        compose(line.view, &mut due);
        for bytes in due {
            self.queue(line, Message::Binary(bytes));
        }
        if let Some(ping) = self.ping_if_due(line, now) {
            line.queued.push_back(ping);
        }
        if line.queued.is_empty() {
            return true;
        }
        // Written with the session's waker: a socket that becomes writable again wakes the task
        // that finishes the write (no wake-up of our own: a stall costs no extra poll). Before
        // its first poll the session has no waker yet, and that poll finds the write unfinished.
        let waker = line.waker.take();
        let mut cx = Context::from_waker(waker.as_ref().unwrap_or(Waker::noop()));
        let written = line.drive(&mut cx, self.conn());
        line.waker = waker;
        if written == Poll::Ready(false) {
            line.wake_session();
        }
        true
    }
}

/// Runs socket work to completion within `limit`; `None` if it took longer. The timer is armed
/// only when the work cannot complete at once (the socket's buffer is full): almost every send
/// completes on its first poll, and a timer per send was a measurable share of the network
/// path with thousands of clients.
async fn bounded<F: std::future::Future>(limit: Duration, work: F) -> Option<F::Output> {
    let mut work = std::pin::pin!(work);
    let first = std::future::poll_fn(|cx| Poll::Ready(work.as_mut().poll(cx))).await;
    match first {
        Poll::Ready(out) => Some(out),
        Poll::Pending => timeout(limit, work).await.ok(),
    }
}
