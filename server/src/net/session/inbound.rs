//! What a client sends after its handshake: read, metered (every frame costs a token of the
//! connection's rate, control frames included), decoded and validated, then turned into
//! simulation events (inputs), a new view for the fan-out, a pong to send, or a close.

use super::super::fanout::Role;
use super::super::link::Link;
use super::close::{Close, Ending};
use super::outbound::Outbound;
use crate::limits::{RateLimiter, Verdict};
use crate::sim::SimEvent;
use crate::AppState;
use axum::extract::ws::Message;
use shared::codec::{decode_client, DecodeError};
use shared::constants::MAX_VIEW_SIZE;
use shared::protocol::{ClientMsg, ServerMsg};
use std::sync::atomic::Ordering;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Reads until the peer goes away or breaks the rules; returns how the session should end.
pub(super) async fn receive_loop(
    link: &Link,
    state: &AppState,
    role: Role,
    session: u64,
    out: mpsc::Sender<Outbound>,
) -> Ending {
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
                    return Ending::Closed(Close::Idle);
                }
                idle_timer.as_mut().reset(last_message + idle);
                continue;
            }
        };
        last_message = Instant::now();
        let msg = match next {
            None => return Ending::PeerGone,
            Some(Err(e)) => {
                if is_too_big(&e) {
                    state.stats.invalid_messages.fetch_add(1, Ordering::Relaxed);
                    return Ending::Closed(Close::TooBig);
                }
                return Ending::ReadError;
            }
            Some(Ok(msg)) => msg,
        };
        // Every frame the peer sends costs a token, control frames included: tungstenite
        // answers each ping by itself, so an unmetered ping flood would have the server echo
        // hundreds of megabytes and never close the socket.
        let bytes = match msg {
            Message::Close(_) => return Ending::PeerClosed,
            Message::Binary(bytes) => {
                state.stats.bytes_in.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                if let Some(conn) = conn {
                    conn.bytes_in.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                }
                bytes
            }
            control @ (Message::Ping(_) | Message::Pong(_)) => {
                state.stats.control_frames.fetch_add(1, Ordering::Relaxed);
                match admit(&mut rate, state) {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(ending) => return ending,
                }
                if let Message::Pong(payload) = control {
                    link.pong(&payload);
                }
                continue;
            }
            Message::Text(_) => {
                invalid += 1;
                state.stats.invalid_messages.fetch_add(1, Ordering::Relaxed);
                if invalid >= state.limits.max_invalid_messages {
                    return Ending::Closed(Close::InvalidMessages);
                }
                continue;
            }
        };
        match admit(&mut rate, state) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(ending) => return ending,
        }
        match (decode_client(&bytes), role) {
            (Ok(ClientMsg::Input(input)), Role::Player(player)) => {
                if state.sim.try_send(SimEvent::Input { player, session, input }).is_err() {
                    state.stats.dropped_inputs.fetch_add(1, Ordering::Relaxed);
                }
            }
            (Ok(ClientMsg::View(rect)), _) => {
                let clamped = rect.clamped(MAX_VIEW_SIZE);
                if let Some(conn) = conn {
                    conn.set_view(&clamped);
                }
                link.set_view(clamped);
            }
            (Ok(ClientMsg::Ping { nonce }), _) => {
                let tick = state.frames.borrow().tick;
                let pong = shared::codec::encode_server(&ServerMsg::Pong { nonce, tick });
                let _ = out.try_send(Outbound::Msg(pong.into()));
            }
            // A second handshake, or a spectator's input: not this connection's to send.
            (Ok(ClientMsg::Hello(_) | ClientMsg::Spectate { .. } | ClientMsg::Input(_)), _)
            | (Err(DecodeError::Malformed(_) | DecodeError::TrailingBytes { .. } | DecodeError::Invalid(_)), _) => {
                invalid += 1;
                state.stats.invalid_messages.fetch_add(1, Ordering::Relaxed);
                if invalid >= state.limits.max_invalid_messages {
                    return Ending::Closed(Close::InvalidMessages);
                }
            }
            (Err(DecodeError::TooLarge { .. }), _) => {
                state.stats.invalid_messages.fetch_add(1, Ordering::Relaxed);
                return Ending::Closed(Close::TooBig);
            }
        }
    }
}

/// Charges one message to the connection's rate: `Ok(true)` to handle it, `Ok(false)` to drop
/// it (counted), `Err` with the close to send for sustained abuse (counted when sent).
fn admit(rate: &mut RateLimiter, state: &AppState) -> Result<bool, Ending> {
    match rate.check() {
        Verdict::Admit => Ok(true),
        Verdict::Drop => {
            state.stats.rate_limited.fetch_add(1, Ordering::Relaxed);
            Ok(false)
        }
        Verdict::Abuse => {
            state.stats.rate_limited.fetch_add(1, Ordering::Relaxed);
            Err(Ending::Closed(Close::RateExceeded))
        }
    }
}

/// Whether a read failed because the message exceeded the size limit.
pub(super) fn is_too_big(e: &axum::Error) -> bool {
    use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};
    std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<WsError>())
        .is_some_and(|e| matches!(e, WsError::Capacity(CapacityError::MessageTooLong { .. })))
}
