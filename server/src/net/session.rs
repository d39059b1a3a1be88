//! One game connection, from handshake to goodbye.
//!
//! After the handshake the socket becomes a [`Link`] shared with a fan-out task (see
//! [`super::fanout`]), which writes the client its snapshots, and the session runs as two loops
//! under one `select!`: the receive loop decodes and validates client messages (inputs go to
//! the simulation, views to the link, pings are answered through the send loop); the send loop
//! writes the player's events and the replies, finishes writes the fan-out left stalled, and
//! ends the session when the socket fails or a client stays too slow.

use super::admission::{ConnectionSlot, Refusal};
use super::fanout::{self, Broken, Link, News, Role};
use crate::limits::{RateLimiter, Verdict};
use crate::sim::{Dismissal, Joined, SimEvent};
use crate::stats::ConnStats;
use crate::store::IdentityError;
use crate::AppState;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use shared::codec::{decode_client, encode_server, validate_name, DecodeError};
use shared::constants::{MAX_VIEW_SIZE, TICK_HZ};
use shared::protocol::{ClientMsg, GameEvent, Hello, PlayerId, RejectReason, Rejected, ServerMsg, Spectating, Welcome};
use shared::PROTOCOL_VERSION;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{timeout, Instant};

/// Replies (pongs) waiting for the send loop; beyond this, pings go unanswered.
const OUTBOX_CAPACITY: usize = 16;

/// WebSocket close codes the server uses (RFC 6455 §7.4.1).
pub mod close_code {
    /// The server is shutting down, or the peer was idle too long.
    pub const GOING_AWAY: u16 = 1001;
    /// The handshake failed (`Rejected` was sent first) or the client broke the protocol.
    pub const POLICY_VIOLATION: u16 = 1008;
    /// A message exceeded the size limit.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// The server could not serve the session (its simulation stopped).
    pub const INTERNAL_ERROR: u16 = 1011;
    /// Let in on a dropped player's place at a full cap, but not that player (see
    /// [`crate::net::admission`]): try again later (RFC 6455's registered 1013).
    pub const TRY_AGAIN_LATER: u16 = 1013;
    /// A newer connection presented this identity's token and took the player over.
    pub const REPLACED: u16 = shared::constants::CLOSE_REPLACED;
    /// The operator revoked this identity (`POST /admin/revoke/{name}`): its ship is gone and
    /// its token is refused from now on.
    pub const IDENTITY_REVOKED: u16 = shared::constants::CLOSE_IDENTITY_REVOKED;
    /// The ship flew into a neighbouring sector; the page continues there with the ticket it
    /// was just sent.
    pub const HANDED_OVER: u16 = shared::constants::CLOSE_HANDED_OVER;
}

type Tx = SplitSink<WebSocket, Message>;
type Rx = SplitStream<WebSocket>;

enum Outbound {
    Msg(ServerMsg),
    Close(u16, &'static str),
}

fn close(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame { code, reason: Utf8Bytes::from_static(reason) }))
}

/// Serves one upgraded connection to the end. `slot` holds its place under the connection
/// caps until the session is over, and passes to the player's ghost when it ends resumably.
pub async fn serve(socket: WebSocket, state: AppState, mut slot: ConnectionSlot) {
    let (mut tx, mut rx) = socket.split();
    match handshake(&mut tx, &mut rx, &state, &mut slot).await {
        Some(Admitted::Player(player, name, joined)) => play(tx, rx, state, slot, player, name, joined).await,
        Some(Admitted::Spectator) => {
            tracing::debug!("spectator session started");
            // Names cannot hold parentheses: no pilot is ever listed like this.
            let conn = state.stats.register(0, "(spectator)".to_string());
            state.stats.spectators.fetch_add(1, Ordering::Relaxed);
            // Nothing is ever sent to a spectator's mailbox or dismisses it: the senders are
            // held for the session's life so that both wait forever.
            let (_mailbox, events) = mpsc::channel(1);
            let (_dismiss, dismissed) = oneshot::channel();
            let seat = Seat { role: Role::Spectator, session: 0, events, dismissed };
            let (reason, _) = run(tx, rx, &state, conn.clone(), seat).await;
            state.stats.spectators.fetch_sub(1, Ordering::Relaxed);
            state.stats.unregister(conn.id);
            tracing::debug!(reason, "spectator session ended");
            slot.end(false);
        }
        None => {}
    }
}

/// Who a connection is, once the handshake is done.
enum Admitted {
    /// A player, its name and what the simulation answered to its join.
    Player(PlayerId, String, Joined),
    /// A spectator: no player, no ship.
    Spectator,
}

/// A session's place in the world: its role, its connection number (0 for a spectator), its
/// player's events, and the simulation's word that a newer connection or a revoke ended it.
struct Seat {
    role: Role,
    session: u64,
    events: mpsc::Receiver<GameEvent>,
    dismissed: oneshot::Receiver<Dismissal>,
}

/// Serves a player's connection to the end, then leaves the world (or waits as a ghost).
async fn play(
    tx: Tx,
    rx: Rx,
    state: AppState,
    mut slot: ConnectionSlot,
    player: PlayerId,
    name: String,
    joined: Joined,
) {
    tracing::debug!(player, "session started");
    let conn = state.stats.register(player, name);
    let session = joined.session;
    let seat = Seat { role: Role::Player, session, events: joined.events, dismissed: joined.dismissed };
    let (reason, ending) = run(tx, rx, &state, conn.clone(), seat).await;
    state.stats.unregister(conn.id);
    tracing::debug!(player, reason, ?ending, "session ended");
    // A connection closed for breaking the rules leaves no ship waiting to be resumed, and
    // a revoked one's player is gone already.
    let resumable = ending == Ending::Resumable;
    let leave = SimEvent::Leave { player, session, resumable };
    if let Err(mpsc::error::TrySendError::Full(leave)) = state.sim.try_send(leave) {
        // The channel is full: wait for room rather than leak the ship.
        let _ = state.sim.send(leave).await;
    }
    // The ship waits for its pilot: so does its place under the caps.
    slot.end(resumable);
}

async fn send_now(tx: &mut Tx, msg: Message, state: &AppState) -> bool {
    send_counted(tx, msg, state, None).await
}

/// Sends one message, counting its bytes for the server and the connection; false if the
/// socket failed or the send blocked longer than the slow-client timeout.
async fn send_counted(tx: &mut Tx, msg: Message, state: &AppState, conn: Option<&ConnStats>) -> bool {
    feed_counted(tx, msg, state, conn).await && flush(tx, state).await
}

/// Queues one message in the WebSocket's write buffer (it goes out with the next
/// [`flush`]), counting its bytes; false as [`send_counted`].
async fn feed_counted(tx: &mut Tx, msg: Message, state: &AppState, conn: Option<&ConnStats>) -> bool {
    let len = match &msg {
        Message::Binary(b) => b.len() as u64,
        _ => 0,
    };
    if !matches!(bounded(state.limits.slow_client_timeout, tx.feed(msg)).await, Some(Ok(()))) {
        return false;
    }
    state.stats.bytes_out.fetch_add(len, Ordering::Relaxed);
    if let Some(conn) = conn {
        conn.bytes_out.fetch_add(len, Ordering::Relaxed);
    }
    true
}

/// Writes out what was fed: one write to the socket for everything queued.
async fn flush(tx: &mut Tx, state: &AppState) -> bool {
    matches!(bounded(state.limits.slow_client_timeout, tx.flush()).await, Some(Ok(())))
}

/// Runs socket work to completion within `limit`; `None` if it took longer. The timer is armed
/// only when the work cannot complete at once (the socket's buffer is full): almost every send
/// completes on its first poll, and a timer per send was a measurable share of the network
/// path with thousands of clients.
pub(super) async fn bounded<F: std::future::Future>(limit: Duration, work: F) -> Option<F::Output> {
    let mut work = std::pin::pin!(work);
    let first = std::future::poll_fn(|cx| std::task::Poll::Ready(work.as_mut().poll(cx))).await;
    match first {
        std::task::Poll::Ready(out) => Some(out),
        std::task::Poll::Pending => timeout(limit, work).await.ok(),
    }
}

async fn reject(tx: &mut Tx, state: &AppState, reason: RejectReason, message: String) {
    let bytes = encode_server(&ServerMsg::Rejected(Rejected { reason, message }));
    if send_now(tx, Message::Binary(bytes.into()), state).await {
        let _ = send_now(tx, close(close_code::POLICY_VIOLATION, "handshake rejected"), state).await;
    }
}

/// Closes a connection that came in on a ghost's place but is not that ghost's pilot (see
/// [`super::admission`]): counted as the cap's refusal, closed 1013 so the page tries again
/// later (a `Rejected` would stop it for good).
async fn refuse_over_cap(tx: &mut Tx, state: &AppState, refusal: Refusal) {
    let reason = match refusal {
        Refusal::Full => {
            state.stats.full_rejected.fetch_add(1, Ordering::Relaxed);
            "the server is full"
        }
        Refusal::AddressFull => {
            state.stats.address_rejected.fetch_add(1, Ordering::Relaxed);
            "too many connections from this address"
        }
    };
    let _ = send_now(tx, close(close_code::TRY_AGAIN_LATER, reason), state).await;
}

/// Reads the `Hello`, checks it, resolves the identity (creating one only within the
/// address's quota), settles the connection's place, and joins the simulation.
async fn handshake(tx: &mut Tx, rx: &mut Rx, state: &AppState, slot: &mut ConnectionSlot) -> Option<Admitted> {
    let first = match timeout(state.limits.handshake_timeout, rx.next()).await {
        Ok(Some(Ok(Message::Binary(bytes)))) => bytes,
        Ok(Some(Ok(_))) => {
            state.stats.invalid_messages.fetch_add(1, Ordering::Relaxed);
            reject(tx, state, RejectReason::ExpectedHello, "the first message must be a binary Hello".into()).await;
            return None;
        }
        Ok(Some(Err(e))) => {
            note_read_error(tx, state, &e).await;
            return None;
        }
        Ok(None) => return None,
        Err(_) => {
            state.stats.handshake_timeouts.fetch_add(1, Ordering::Relaxed);
            let _ = send_now(tx, close(close_code::POLICY_VIOLATION, "handshake timeout"), state).await;
            return None;
        }
    };
    state.stats.bytes_in.fetch_add(first.len() as u64, Ordering::Relaxed);
    let hello: Hello = match decode_client(&first) {
        Ok(ClientMsg::Hello(hello)) => hello,
        Ok(ClientMsg::Spectate { protocol_version }) => return spectate(tx, state, slot, protocol_version).await,
        other => {
            state.stats.invalid_messages.fetch_add(1, Ordering::Relaxed);
            let why = match other {
                Err(e) => format!("expected Hello: {e}"),
                Ok(_) => "expected Hello first".to_string(),
            };
            reject(tx, state, RejectReason::ExpectedHello, why).await;
            return None;
        }
    };
    if hello.protocol_version != PROTOCOL_VERSION {
        let message = format!(
            "this server speaks protocol {PROTOCOL_VERSION}, the client {}: reload the page",
            hello.protocol_version
        );
        reject(tx, state, RejectReason::ProtocolMismatch { server: PROTOCOL_VERSION }, message).await;
        return None;
    }
    if let Some(ticket) = &hello.ticket {
        return arrive(tx, state, slot, ticket).await;
    }
    let name = match validate_name(&hello.name) {
        Ok(name) => name,
        Err(e) => {
            state.stats.invalid_messages.fetch_add(1, Ordering::Relaxed);
            let message = format!("invalid name ({e:?}): 1 to 20 letters, digits, spaces, '-', '_' or '.'");
            reject(tx, state, RejectReason::InvalidName, message).await;
            return None;
        }
    };
    if let Err(rule) = crate::net::name::check(&name, state.limits.max_marks_per_base) {
        state.stats.invalid_messages.fetch_add(1, Ordering::Relaxed);
        state.stats.names_refused.fetch_add(1, Ordering::Relaxed);
        reject(tx, state, RejectReason::InvalidName, rule.message().to_string()).await;
        return None;
    }
    // Asked by the store only if this Hello would create an identity, on its thread, so two
    // Hellos from one address cannot both take its last creation. A connection let in on a
    // ghost's place is that ghost's pilot or nobody: it creates nothing.
    let address = slot.address();
    let over_cap = slot.over_cap();
    let quota = state.new_identities.clone();
    let may_create = move || over_cap.is_none() && quota.try_take(address, std::time::Instant::now());
    let identity = match (state.store.identify(&name, hello.token.as_deref(), may_create).await, over_cap) {
        (Ok(identity), _) => identity,
        (Err(IdentityError::CreationRefused), Some(refusal)) => {
            refuse_over_cap(tx, state, refusal).await;
            return None;
        }
        (Err(e), _) => {
            let (reason, message) = match e {
                IdentityError::NameTaken => {
                    (RejectReason::NameTaken, "that name belongs to another pilot: pick another".to_string())
                }
                IdentityError::LookAlike => {
                    state.stats.look_alike_names.fetch_add(1, Ordering::Relaxed);
                    (RejectReason::NameTaken, "that name looks like another pilot's: pick another".to_string())
                }
                IdentityError::InvalidToken => (
                    RejectReason::InvalidToken,
                    "this browser's saved identity is not valid for that name: pick another name".to_string(),
                ),
                IdentityError::StoreFull => (
                    RejectReason::NoNewIdentities,
                    "this server takes no new pilots at the moment: play under a name you already have (this browser \
                     remembers its own)"
                        .to_string(),
                ),
                IdentityError::Unavailable => {
                    (RejectReason::Unavailable, "the score store is unavailable: try again shortly".to_string())
                }
                IdentityError::CreationRefused => {
                    state.stats.new_identities_refused.fetch_add(1, Ordering::Relaxed);
                    let wait = state.new_identities.retry_after(address, std::time::Instant::now());
                    let later = match wait.as_secs().div_ceil(60) {
                        0 | 1 => "a minute".to_string(),
                        minutes => format!("{minutes} minutes"),
                    };
                    let message = format!(
                        "too many new pilots from your address in the last hour: play under a name you already have \
                         (this browser remembers its own), or try a new name in {later}"
                    );
                    (RejectReason::TooManyNewIdentities, message)
                }
            };
            reject(tx, state, reason, message).await;
            return None;
        }
    };
    if let Err(refusal) = slot.settle(identity.id) {
        refuse_over_cap(tx, state, refusal).await;
        return None;
    }
    let total_before = identity.totals.points.clamp(0, u32::MAX as i64) as u32;
    let join = Join { name: identity.name, identity: Some(identity.id), total_before, arrival: None };
    join_and_welcome(tx, state, slot, join, identity.new_token).await
}

/// What a session asks the simulation for, once the identity is settled.
struct Join {
    name: String,
    identity: Option<i64>,
    total_before: u32,
    arrival: Option<Box<crate::universe::Arrival>>,
}

/// The handshake of a ship arriving from a neighbouring sector: the ticket is checked (and
/// its single use recorded) instead of the name and token, since the sector that signed it
/// checked those; the ship continues from the ticket's state. A refused ticket is counted by
/// its reason and answered `InvalidTicket` (the page then joins without it).
async fn arrive(tx: &mut Tx, state: &AppState, slot: &mut ConnectionSlot, ticket: &[u8]) -> Option<Admitted> {
    use crate::universe::ticket::TicketError;
    let Some(universe) = &state.universe else {
        state.stats.tickets_wrong_sector.fetch_add(1, Ordering::Relaxed);
        reject(tx, state, RejectReason::InvalidTicket, TicketError::WrongSector.message().to_string()).await;
        return None;
    };
    // Checked, then a place under the caps, then its single use recorded: a ticket refused
    // for want of room is not spent.
    let redeemed = match universe.check(ticket) {
        Ok(claims) => {
            let settled = match claims.traveller.identity {
                Some(id) => slot.settle(id),
                None => slot.over_cap().map_or(Ok(()), Err),
            };
            if let Err(refusal) = settled {
                refuse_over_cap(tx, state, refusal).await;
                return None;
            }
            universe.redeem(claims).await
        }
        Err(e) => Err(Some(e)),
    };
    let arrival = match redeemed {
        Ok(arrival) => arrival,
        Err(why) => {
            let s = &state.stats;
            let (counter, message) = match why {
                Some(TicketError::Forged) => (&s.tickets_forged, TicketError::Forged.message()),
                Some(TicketError::Expired) => (&s.tickets_expired, TicketError::Expired.message()),
                Some(TicketError::WrongSector) => (&s.tickets_wrong_sector, TicketError::WrongSector.message()),
                Some(TicketError::Replayed) => (&s.tickets_replayed, TicketError::Replayed.message()),
                None => (&s.tickets_unrecorded, "the universe's directory is unreachable: join again"),
            };
            counter.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(message, "hand-over ticket refused");
            reject(tx, state, RejectReason::InvalidTicket, message.to_string()).await;
            return None;
        }
    };
    let t = &arrival.traveller;
    state.stats.handovers_in.fetch_add(1, Ordering::Relaxed);
    let join = Join {
        name: t.name.clone(),
        identity: t.identity,
        total_before: t.total_before,
        arrival: Some(Box::new(arrival)),
    };
    join_and_welcome(tx, state, slot, join, None).await
}

/// Joins the simulation and sends the `Welcome`.
async fn join_and_welcome(
    tx: &mut Tx,
    state: &AppState,
    slot: &mut ConnectionSlot,
    join: Join,
    new_token: Option<String>,
) -> Option<Admitted> {
    let Join { name, identity, total_before, arrival } = join;
    let (reply_tx, reply_rx) = oneshot::channel();
    let join = SimEvent::Join { name: name.clone(), identity, total_before, arrival, reply: reply_tx };
    if state.sim.send(join).await.is_err() {
        reject(tx, state, RejectReason::ShuttingDown, "the server is shutting down".into()).await;
        return None;
    }
    let joined = reply_rx.await.ok()?;
    let welcome = Welcome {
        protocol_version: PROTOCOL_VERSION,
        player_id: joined.player_id,
        ship_id: joined.ship_id,
        ship_position: joined.ship_position,
        tick: joined.tick,
        tick_hz: TICK_HZ,
        snapshot_hz: state.snapshot_hz,
        max_view_size: MAX_VIEW_SIZE,
        kinematics: state.kinematics,
        token: new_token,
        total_points: joined.total_points,
        place: state.universe.as_ref().map(|u| u.grid.placement()),
        arrival: joined.arrival,
    };
    let player = joined.player_id;
    if !send_now(tx, Message::Binary(encode_server(&ServerMsg::Welcome(welcome)).into()), state).await {
        let _ = state.sim.send(SimEvent::Leave { player, session: joined.session, resumable: true }).await;
        // The ship now waits as a ghost, and holds its place like any other.
        slot.end(true);
        return None;
    }
    Some(Admitted::Player(player, name, joined))
}

/// The rest of a spectator's handshake: the version, a place under the caps (a place held for a
/// waiting ship is for its pilot, never a spectator), and `Spectating`.
async fn spectate(tx: &mut Tx, state: &AppState, slot: &mut ConnectionSlot, version: u32) -> Option<Admitted> {
    if version != PROTOCOL_VERSION {
        let message = format!("this server speaks protocol {PROTOCOL_VERSION}, the client {version}: reload the page");
        reject(tx, state, RejectReason::ProtocolMismatch { server: PROTOCOL_VERSION }, message).await;
        return None;
    }
    if let Some(refusal) = slot.over_cap() {
        refuse_over_cap(tx, state, refusal).await;
        return None;
    }
    let spectating = Spectating {
        protocol_version: PROTOCOL_VERSION,
        tick: state.frames.borrow().tick,
        tick_hz: TICK_HZ,
        snapshot_hz: state.snapshot_hz,
        max_view_size: MAX_VIEW_SIZE,
        kinematics: state.kinematics,
        place: state.universe.as_ref().map(|u| u.grid.placement()),
    };
    let sent = send_now(tx, Message::Binary(encode_server(&ServerMsg::Spectating(spectating)).into()), state).await;
    sent.then_some(Admitted::Spectator)
}

/// Whether a read failed because the message exceeded the size limit.
fn is_too_big(e: &axum::Error) -> bool {
    use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};
    std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<WsError>())
        .is_some_and(|e| matches!(e, WsError::Capacity(CapacityError::MessageTooLong { .. })))
}

/// Counts a read error and, for an oversized message, answers with 1009.
async fn note_read_error(tx: &mut Tx, state: &AppState, e: &axum::Error) {
    if is_too_big(e) {
        state.stats.invalid_messages.fetch_add(1, Ordering::Relaxed);
        let _ = send_now(tx, close(close_code::MESSAGE_TOO_BIG, "message too big"), state).await;
    }
}

/// After the server closes a connection (for abuse, or because the connection was replaced or
/// its identity revoked), how long it keeps reading (and discarding) until the peer's close
/// reply, so the close frame is not lost to a TCP reset.
pub const CLOSE_LINGER: Duration = Duration::from_secs(1);

/// Why a session ended when the peer sent a close frame.
const PEER_CLOSED: &str = "peer closed";

/// How a session ended, as far as its player is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ending {
    /// Honestly (the peer left, a timeout, shutdown, replaced): the player may wait to be
    /// resumed.
    Resumable,
    /// The client broke the rules (closed 1008 or 1009): it leaves no ship waiting.
    Abusive,
    /// The identity was revoked (closed 4003): the simulation has removed the player already.
    Revoked,
    /// The ship flew into a neighbouring sector (closed 4010): the player left this world.
    HandedOver,
}

/// Queues `close` for the send loop and lets the loop send it, for at most a second. The close
/// waits for room in the outbox while the loop runs (a full outbox of pongs must not lose it).
async fn close_then_finish(
    out: &mpsc::Sender<Outbound>,
    before: Option<Outbound>,
    close: Outbound,
    send: &mut (impl std::future::Future<Output = &'static str> + Unpin),
) {
    let _ = timeout(Duration::from_secs(1), async {
        // The send loop keeps running while each waits for room (a client flooding pings must
        // not hold its own hand-over, or its close, forever).
        for msg in before.into_iter().chain([close]) {
            tokio::select! {
                sent = out.send(msg) => if sent.is_err() { return },
                _ = &mut *send => return,
            }
        }
        send.await;
    })
    .await;
}

/// A dismissal that arrived without being acted on, if any.
fn dismissed_now(dismissed: &mut oneshot::Receiver<Dismissal>) -> Option<Dismissal> {
    dismissed.try_recv().ok()
}

/// Runs a session to its end; returns why it ended, and how.
async fn run(tx: Tx, rx: Rx, state: &AppState, conn: Arc<ConnStats>, seat: Seat) -> (&'static str, Ending) {
    let ws = tx.reunite(rx).expect("the two halves of one socket");
    let link = Link::new(ws, conn, seat.role, state.limits.ping_interval);
    if !state.fanout.join(link.clone()) {
        // The frames have stopped: the simulation is gone.
        let _ = link.send([close(close_code::INTERNAL_ERROR, "simulation stopped")], CLOSE_LINGER, true).await;
        return ("simulation stopped", Ending::Resumable);
    }
    run_link(&link, state, seat).await
}

/// [`run`] once the link has joined the fan-out.
async fn run_link(link: &Link, state: &AppState, seat: Seat) -> (&'static str, Ending) {
    let mut closed_by_us = false;
    let mut ending = Ending::Resumable;
    let mut dismissed_late = seat.dismissed;
    let reason = {
        let (out_tx, out_rx) = mpsc::channel(OUTBOX_CAPACITY);
        let recv = receive_loop(link, state, seat.role, seat.session, out_tx.clone());
        let send = send_loop(link, state, seat.events, out_rx);
        tokio::pin!(recv, send);
        tokio::select! {
            reason = &mut send => reason,
            Ok(why) = &mut dismissed_late => {
                let mut before = None;
                let (code, reason) = match why {
                    Dismissal::HandedOver(departure) => {
                        ending = Ending::HandedOver;
                        match state.universe.as_ref().and_then(|u| u.issue(*departure)) {
                            Some(hand_over) => {
                                state.stats.handovers_out.fetch_add(1, Ordering::Relaxed);
                                before = Some(Outbound::Msg(ServerMsg::HandOver(hand_over)));
                                (close_code::HANDED_OVER, "flew into a neighbouring sector")
                            }
                            // Never listed (the simulation only lets ships cross toward listed
                            // neighbours): the page reconnects here and its pilot starts anew.
                            None => (close_code::GOING_AWAY, "the neighbouring sector is unreachable"),
                        }
                    }
                    Dismissal::Replaced => (close_code::REPLACED, "replaced by a newer connection"),
                    Dismissal::Revoked => {
                        state.stats.revoked_closed.fetch_add(1, Ordering::Relaxed);
                        ending = Ending::Revoked;
                        (close_code::IDENTITY_REVOKED, "identity revoked")
                    }
                };
                close_then_finish(&out_tx, before, Outbound::Close(code, reason), &mut send).await;
                closed_by_us = true;
                reason
            }
            outcome = &mut recv => {
                let (code, reason) = outcome;
                if let Some(code) = code {
                    close_then_finish(&out_tx, None, Outbound::Close(code, reason), &mut send).await;
                    closed_by_us = true;
                    if matches!(code, close_code::POLICY_VIOLATION | close_code::MESSAGE_TOO_BIG) {
                        ending = Ending::Abusive;
                    }
                }
                reason
            }
        }
    };
    if ending == Ending::Resumable && matches!(dismissed_now(&mut dismissed_late), Some(Dismissal::Revoked)) {
        // The peer went away in the same moment its identity was revoked: no ghost either.
        ending = Ending::Revoked;
    }
    // Whatever happened, the fan-out writes nothing more (and nothing may follow a close).
    link.finish();
    if closed_by_us {
        // Read (and discard) what the peer still had in flight until its close reply, for a
        // bounded time: dropping a socket with unread data makes the kernel answer with a
        // reset, which can destroy our close frame before the peer reads it.
        let _ = timeout(CLOSE_LINGER, async { while let Some(Ok(_)) = link.next().await {} }).await;
    }
    if reason == PEER_CLOSED {
        // The WebSocket layer queued the echo of the peer's close frame (RFC 6455 §5.5.1) when
        // it read it; flushing the sink sends it, completing the closing handshake.
        let _ = timeout(Duration::from_secs(1), link.close()).await;
    }
    (reason, ending)
}

/// Reads until the peer goes away or breaks the rules. Returns the close code to send (if
/// any) and the reason.
async fn receive_loop(
    link: &Link,
    state: &AppState,
    role: Role,
    session: u64,
    out: mpsc::Sender<Outbound>,
) -> (Option<u16>, &'static str) {
    let conn = link.conn();
    let mut invalid = 0u32;
    let mut rate = RateLimiter::new(&state.limits);
    // The idle timer is not reset per message (a timer update for every input of thousands
    // of clients): it is checked when it fires, and re-armed from the last message then.
    let idle = state.limits.idle_timeout;
    let mut last_message = Instant::now();
    let idle_timer = tokio::time::sleep(idle);
    tokio::pin!(idle_timer);
    loop {
        let next = tokio::select! {
            next = link.next() => next,
            () = &mut idle_timer => {
                if last_message.elapsed() >= idle {
                    return (Some(close_code::GOING_AWAY), "idle timeout");
                }
                idle_timer.as_mut().reset(last_message + idle);
                continue;
            }
        };
        last_message = Instant::now();
        let msg = match next {
            None => return (None, "peer disconnected"),
            Some(Err(e)) => {
                if is_too_big(&e) {
                    state.stats.invalid_messages.fetch_add(1, Ordering::Relaxed);
                    return (Some(close_code::MESSAGE_TOO_BIG), "message too big");
                }
                return (None, "read error");
            }
            Some(Ok(msg)) => msg,
        };
        // Every frame the peer sends costs a token, control frames included: tungstenite
        // answers each ping by itself, so an unmetered ping flood would have the server echo
        // hundreds of megabytes and never close the socket.
        let bytes = match msg {
            Message::Close(_) => return (None, PEER_CLOSED),
            Message::Binary(bytes) => {
                state.stats.bytes_in.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                conn.bytes_in.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                bytes
            }
            control @ (Message::Ping(_) | Message::Pong(_)) => {
                state.stats.control_frames.fetch_add(1, Ordering::Relaxed);
                match admit(&mut rate, state) {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(outcome) => return outcome,
                }
                if let Message::Pong(payload) = control {
                    note_pong(conn, &payload);
                }
                continue;
            }
            Message::Text(_) => {
                invalid += 1;
                state.stats.invalid_messages.fetch_add(1, Ordering::Relaxed);
                if invalid >= state.limits.max_invalid_messages {
                    return (Some(close_code::POLICY_VIOLATION), "too many invalid messages");
                }
                continue;
            }
        };
        match admit(&mut rate, state) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(outcome) => return outcome,
        }
        let player = conn.player;
        match decode_client(&bytes) {
            Ok(ClientMsg::Input(input)) if role == Role::Player => {
                if state.sim.try_send(SimEvent::Input { player, session, input }).is_err() {
                    state.stats.dropped_inputs.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok(ClientMsg::View(rect)) => {
                let clamped = rect.clamped(MAX_VIEW_SIZE);
                conn.set_view(&clamped);
                link.set_view(clamped);
            }
            Ok(ClientMsg::Ping { nonce }) => {
                let tick = state.frames.borrow().tick;
                let _ = out.try_send(Outbound::Msg(ServerMsg::Pong { nonce, tick }));
            }
            // A second handshake, or a spectator's input: not this connection's to send.
            Ok(ClientMsg::Hello(_) | ClientMsg::Spectate { .. } | ClientMsg::Input(_))
            | Err(DecodeError::Malformed(_) | DecodeError::TrailingBytes { .. } | DecodeError::Invalid(_)) => {
                invalid += 1;
                state.stats.invalid_messages.fetch_add(1, Ordering::Relaxed);
                if invalid >= state.limits.max_invalid_messages {
                    return (Some(close_code::POLICY_VIOLATION), "too many invalid messages");
                }
            }
            Err(DecodeError::TooLarge { .. }) => {
                state.stats.invalid_messages.fetch_add(1, Ordering::Relaxed);
                return (Some(close_code::MESSAGE_TOO_BIG), "message too big");
            }
        }
    }
}

/// Charges one message to the connection's rate: `Ok(true)` to handle it, `Ok(false)` to drop
/// it (counted), `Err` with the close to send for sustained abuse (counted).
fn admit(rate: &mut RateLimiter, state: &AppState) -> Result<bool, (Option<u16>, &'static str)> {
    match rate.check() {
        Verdict::Admit => Ok(true),
        Verdict::Drop => {
            state.stats.rate_limited.fetch_add(1, Ordering::Relaxed);
            Ok(false)
        }
        Verdict::Abuse => {
            state.stats.rate_limited.fetch_add(1, Ordering::Relaxed);
            state.stats.rate_closed.fetch_add(1, Ordering::Relaxed);
            Err((Some(close_code::POLICY_VIOLATION), "message rate exceeded"))
        }
    }
}

/// Measures the round trip from a pong, if it answers the ping still outstanding (its payload
/// is the microseconds at which we sent it). Unsolicited pongs, and stale or forged payloads,
/// change nothing: otherwise any client could set the round trip its admin sees.
fn note_pong(conn: &ConnStats, payload: &[u8]) {
    let Ok(sent) = <[u8; 8]>::try_from(payload) else { return };
    let sent = u64::from_le_bytes(sent);
    if sent == 0 || conn.ping_outstanding.compare_exchange(sent, 0, Ordering::Relaxed, Ordering::Relaxed).is_err() {
        return;
    }
    let now = conn.since.elapsed().as_micros() as u64;
    conn.rtt_us.store(now.saturating_sub(sent).max(1), Ordering::Relaxed);
}

/// Writes what is the session's own to write (the player's events, pongs, closes), finishes
/// what the fan-out could not write at once, and times it: returns why it stopped.
async fn send_loop(
    link: &Link,
    state: &AppState,
    mut events: mpsc::Receiver<GameEvent>,
    mut out: mpsc::Receiver<Outbound>,
) -> &'static str {
    let conn = link.conn();
    let limit = state.limits.slow_client_timeout;
    let every = state.limits.ping_interval;
    let counted = |msg: &ServerMsg| {
        let bytes = encode_server(msg);
        state.stats.bytes_out.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        conn.bytes_out.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        Message::Binary(bytes.into())
    };
    // Since when the socket has not taken what was written to it, as last heard.
    let mut stalled: Option<Instant> = None;
    // Pings ride on frames; this timer only catches a world that stopped publishing (a client
    // that sends nothing by itself must still be pinged, or it would be closed as idle). It is
    // re-armed when it fires, not per frame.
    let ping_timer = tokio::time::sleep_until(link.next_ping());
    let shutdown = state.shutdown.cancelled();
    tokio::pin!(shutdown, ping_timer);
    loop {
        let sent = tokio::select! {
            biased;
            () = &mut shutdown => {
                // The world has stopped (shutdown stops the simulation first): the last things
                // it told this player are still queued. Send them before the goodbye, so a
                // pilot hears of every score the store commits.
                let mut goodbye = Vec::new();
                while let Ok(event) = events.try_recv() {
                    goodbye.push(counted(&ServerMsg::Event(event)));
                }
                goodbye.push(close(close_code::GOING_AWAY, "server shutting down"));
                let _ = link.send(goodbye, limit, true).await;
                return "server shutting down";
            }
            news = std::future::poll_fn(|cx| link.poll_news(cx, stalled)) => match news {
                News::Stalled(since) => {
                    stalled = since;
                    true
                }
                News::Broken(Broken::SendFailed) => false,
                News::Broken(Broken::SimulationStopped) => {
                    let _ = link.send([close(close_code::INTERNAL_ERROR, "simulation stopped")], limit, true).await;
                    return "simulation stopped";
                }
            },
            Some(o) = out.recv() => match o {
                Outbound::Msg(m) => link.send([counted(&m)], limit, false).await,
                Outbound::Close(code, reason) => {
                    let _ = link.send([close(code, reason)], limit, true).await;
                    return reason;
                }
            },
            Some(event) = events.recv() => link.send([counted(&ServerMsg::Event(event))], limit, false).await,
            // A write the socket has not taken for the whole slow-client timeout.
            () = tokio::time::sleep_until(stalled.map_or_else(Instant::now, |since| since + limit)), if stalled.is_some() => false,
            () = &mut ping_timer => {
                let now = Instant::now();
                let sent = !link.ping_due(now, every) || link.send([fanout::ping(conn)], limit, false).await;
                ping_timer.as_mut().reset(link.next_ping());
                sent
            }
        };
        if !sent {
            return "send failed or client too slow";
        }
    }
}
