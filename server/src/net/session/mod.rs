//! One game connection, from handshake to goodbye, a file per concern: the handshake
//! (`handshake`), what the client sends (`inbound`), what the session writes itself
//! (`outbound`), and how it ends (`close`).
//!
//! The socket is the connection's `Link` from the start (the only code that writes it). After
//! the handshake, the link joins the fan-out (which writes the client its frames), and the
//! session runs as two loops under one `select!`: the receive loop decodes and validates client
//! messages (inputs go to the simulation, views to the link, pings are answered through the
//! send loop); the send loop writes the player's events and the replies, finishes writes the
//! fan-out left stalled, and ends the session when the socket fails or a client stays too
//! slow. The simulation's word that the connection is over (replaced, revoked, handed over)
//! ends it too.

pub mod close;
mod handshake;
mod inbound;
mod outbound;

use super::admission::ConnectionSlot;
use super::fanout::Role;
use super::link::Link;
use crate::sim::{Dismissal, Joined, SimEvent};
use crate::stats::ConnStats;
use crate::AppState;
use axum::extract::ws::WebSocket;
use close::{Close, Ending, CLOSE_LINGER};
use outbound::{Outbound, OUTBOX_CAPACITY};
use shared::protocol::{GameEvent, PlayerId, ServerMsg};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::timeout;

/// Serves one upgraded connection to the end. `slot` holds its place under the connection
/// caps until the session is over, and passes to the player's ghost when it ends resumably.
pub async fn serve(socket: WebSocket, state: AppState, mut slot: ConnectionSlot) {
    let link = Link::new(socket, state.stats.clone(), &state.limits);
    match handshake::handshake(&link, &state, &mut slot).await {
        Some(Admitted::Player(player, name, joined)) => play(link, state, slot, player, name, joined).await,
        Some(Admitted::Spectator) => {
            tracing::debug!("spectator session started");
            // Names cannot hold parentheses: no pilot is ever listed like this.
            let conn = state.stats.register(0, "(spectator)".to_string());
            state.stats.spectators.fetch_add(1, Ordering::Relaxed);
            // Nothing is ever sent to a spectator's mailbox or dismisses it: the senders are
            // held for the session's life so that both wait forever.
            let (_mailbox, events) = mpsc::channel(1);
            let (_dismiss, dismissed) = oneshot::channel();
            let seat = Seat { role: Role::Spectator, holder: [0; 16], session: 0, events, dismissed };
            let ending = run(&link, &state, conn.clone(), seat).await;
            state.stats.spectators.fetch_sub(1, Ordering::Relaxed);
            state.stats.unregister(conn.id);
            tracing::debug!(reason = ending.reason(), "spectator session ended");
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
    /// The digest a hand-over ticket issued to this connection carries (its address).
    holder: [u8; 16],
    session: u64,
    events: mpsc::Receiver<GameEvent>,
    dismissed: oneshot::Receiver<Dismissal>,
}

/// Serves a player's connection to the end, then leaves the world (or waits as a ghost).
async fn play(
    link: Arc<Link>,
    state: AppState,
    mut slot: ConnectionSlot,
    player: PlayerId,
    name: String,
    joined: Joined,
) {
    tracing::debug!(player, "session started");
    let conn = state.stats.register(player, name);
    let session = joined.session;
    let seat = Seat {
        role: Role::Player(player),
        holder: crate::universe::ticket::holder(&slot.address()),
        session,
        events: joined.events,
        dismissed: joined.dismissed,
    };
    let ending = run(&link, &state, conn.clone(), seat).await;
    state.stats.unregister(conn.id);
    tracing::debug!(player, reason = ending.reason(), ?ending, "session ended");
    // A connection closed for breaking the rules leaves no ship waiting to be resumed. A
    // revoked or handed-over player left the world in the tick that dismissed it: there is
    // nothing to leave.
    let resumable = ending.leaves_ghost();
    if ending.player_remains() {
        let leave = SimEvent::Leave { player, session, resumable };
        if let Err(mpsc::error::TrySendError::Full(leave)) = state.sim.try_send(leave) {
            // The channel is full: wait for room rather than leak the ship.
            let _ = state.sim.send(leave).await;
        }
    }
    // The ship waits for its pilot: so does its place under the caps.
    slot.end(resumable);
}

/// Queues `close` for the send loop and lets the loop send it, for at most a second. The close
/// waits for room in the outbox while the loop runs (a full outbox of pongs must not lose it).
async fn close_then_finish(
    out: &mpsc::Sender<Outbound>,
    close: Outbound,
    send: &mut (impl std::future::Future<Output = Ending> + Unpin),
) {
    let _ = timeout(Duration::from_secs(1), async {
        // The send loop keeps running while the close waits for room (a client flooding pings
        // must not hold its own hand-over, or its close, forever).
        tokio::select! {
            sent = out.send(close) => if sent.is_err() { return },
            _ = &mut *send => return,
        }
        send.await;
    })
    .await;
}

/// Runs a session to its end; returns how it ended.
async fn run(link: &Arc<Link>, state: &AppState, conn: Arc<ConnStats>, seat: Seat) -> Ending {
    link.attach(conn);
    if !state.fanout.join(link.clone(), seat.role) {
        // The frames have stopped: the simulation is gone.
        Close::SimulationStopped.send(link, &state.stats, []).await;
        return Ending::Closed(Close::SimulationStopped);
    }
    run_link(link, state, seat).await
}

/// [`run`] once the link has joined the fan-out.
async fn run_link(link: &Link, state: &AppState, seat: Seat) -> Ending {
    let mut dismissed_late = seat.dismissed;
    // Whether this function sent the close (the send loop's own closes, at shutdown or when
    // the simulation stopped, do not linger).
    let mut closed_here = false;
    let mut ending = {
        let (out_tx, out_rx) = mpsc::channel(OUTBOX_CAPACITY);
        let recv = inbound::receive_loop(link, state, seat.role, seat.session, out_tx.clone());
        let send = outbound::send_loop(link, state, seat.events, out_rx);
        tokio::pin!(recv, send);
        tokio::select! {
            ending = &mut send => ending,
            Ok(why) = &mut dismissed_late => {
                let (before, close) = match why {
                    Dismissal::HandedOver(departure) => match state.universe.as_ref().and_then(|u| u.issue(*departure, seat.holder)) {
                        Some(hand_over) => (Some(Box::new(ServerMsg::HandOver(hand_over))), Close::HandedOver),
                        // Never listed (the simulation only lets ships cross toward listed
                        // neighbours): the page reconnects here and its pilot starts anew.
                        None => (None, Close::NeighbourUnreachable),
                    },
                    Dismissal::Replaced => (None, Close::Replaced),
                    Dismissal::Revoked => (None, Close::Revoked),
                };
                close_then_finish(&out_tx, Outbound::Close(before, close.count(&state.stats)), &mut send).await;
                closed_here = true;
                Ending::Closed(close)
            }
            ending = &mut recv => {
                if let Ending::Closed(close) = ending {
                    close_then_finish(&out_tx, Outbound::Close(None, close.count(&state.stats)), &mut send).await;
                    closed_here = true;
                }
                ending
            }
        }
    };
    if ending.leaves_ghost() && matches!(dismissed_late.try_recv(), Ok(Dismissal::Revoked)) {
        // The peer went away in the same moment its identity was revoked: no ghost either.
        ending = Ending::Closed(Close::Revoked);
    }
    // Whatever happened, the fan-out writes nothing more (and nothing may follow a close).
    link.finish();
    if closed_here {
        // Read (and discard) what the peer still had in flight until its close reply, for a
        // bounded time: dropping a socket with unread data makes the kernel answer with a
        // reset, which can destroy our close frame before the peer reads it.
        let _ = timeout(CLOSE_LINGER, async { while let Some(Ok(_)) = link.next().await {} }).await;
    }
    if ending == Ending::PeerClosed {
        // The WebSocket layer queued the echo of the peer's close frame when it read it;
        // flushing the sink sends it, completing the closing handshake.
        link.echo_close().await;
    }
    ending
}
