//! A connection's handshake: the `Hello` (or `Spectate`) read within the handshake timeout,
//! its version and name checked, the identity resolved (created only within the address's
//! quota) or a hand-over ticket redeemed, the connection's place under the caps settled, and
//! the player joined to the simulation; answered `Welcome`, `Spectating` or `Rejected`.

use super::super::admission::{ConnectionSlot, Refusal};
use super::super::link::Link;
use super::close::Close;
use super::inbound::is_too_big;
use super::Admitted;
use crate::sim::{catch_up, Arrival, SimEvent};
use crate::store::IdentityError;
use crate::AppState;
use axum::extract::ws::Message;
use shared::codec::{decode_client, encode_server, validate_name};
use shared::constants::{MAX_VIEW_SIZE, TICK_HZ};
use shared::protocol::{ClientMsg, Hello, RejectReason, Rejected, ServerMsg, Spectating, Welcome};
use shared::PROTOCOL_VERSION;
use std::sync::atomic::Ordering;
use tokio::sync::oneshot;
use tokio::time::timeout;

/// Refuses the handshake: `Rejected`, saying why, then the close.
async fn reject(link: &Link, state: &AppState, reason: RejectReason, message: String) {
    let rejected = encode_server(&ServerMsg::Rejected(Rejected { reason, message }));
    Close::Rejected.send(link, &state.stats, [rejected.into()]).await;
}

/// Closes a connection that came in on a ghost's place but is not that ghost's pilot (see
/// [`super::admission`]): counted as the cap's refusal, closed 1013 so the page tries again
/// later (a `Rejected` would stop it for good).
async fn refuse_over_cap(link: &Link, state: &AppState, refusal: Refusal) {
    Close::OverCap(refusal).send(link, &state.stats, []).await;
}

/// Reads the `Hello`, checks it, resolves the identity (creating one only within the
/// address's quota), settles the connection's place, and joins the simulation.
pub(super) async fn handshake(link: &Link, state: &AppState, slot: &mut ConnectionSlot) -> Option<Admitted> {
    let first = match timeout(state.limits.handshake_timeout, link.next()).await {
        Ok(Some(Ok(Message::Binary(bytes)))) => bytes,
        Ok(Some(Ok(_))) => {
            state.stats.invalid_messages.fetch_add(1, Ordering::Relaxed);
            reject(link, state, RejectReason::ExpectedHello, "the first message must be a binary Hello".into()).await;
            return None;
        }
        Ok(Some(Err(e))) => {
            note_read_error(link, state, &e).await;
            return None;
        }
        Ok(None) => return None,
        Err(_) => {
            Close::HandshakeTimeout.send(link, &state.stats, []).await;
            return None;
        }
    };
    state.stats.bytes_in.fetch_add(first.len() as u64, Ordering::Relaxed);
    let hello: Hello = match decode_client(&first) {
        Ok(ClientMsg::Hello(hello)) => hello,
        Ok(ClientMsg::Spectate { protocol_version }) => return spectate(link, state, slot, protocol_version).await,
        other => {
            state.stats.invalid_messages.fetch_add(1, Ordering::Relaxed);
            let why = match other {
                Err(e) => format!("expected Hello: {e}"),
                Ok(_) => "expected Hello first".to_string(),
            };
            reject(link, state, RejectReason::ExpectedHello, why).await;
            return None;
        }
    };
    if hello.protocol_version != PROTOCOL_VERSION {
        let message = format!(
            "this server speaks protocol {PROTOCOL_VERSION}, the client {}: reload the page",
            hello.protocol_version
        );
        reject(link, state, RejectReason::ProtocolMismatch { server: PROTOCOL_VERSION }, message).await;
        return None;
    }
    if let Some(ticket) = &hello.ticket {
        return arrive(link, state, slot, ticket).await;
    }
    let name = match validate_name(&hello.name) {
        Ok(name) => name,
        Err(e) => {
            state.stats.invalid_messages.fetch_add(1, Ordering::Relaxed);
            let message = format!("invalid name ({e:?}): 1 to 20 letters, digits, spaces, '-', '_' or '.'");
            reject(link, state, RejectReason::InvalidName, message).await;
            return None;
        }
    };
    if let Err(rule) = crate::net::name::check(&name, state.limits.max_marks_per_base) {
        state.stats.invalid_messages.fetch_add(1, Ordering::Relaxed);
        state.stats.names_refused.fetch_add(1, Ordering::Relaxed);
        reject(link, state, RejectReason::InvalidName, rule.message().to_string()).await;
        return None;
    }
    // Asked by the store only if this Hello would create an identity, on its thread, so two
    // Hellos from one address cannot both take its last creation. A connection let in on a
    // ghost's place is that ghost's pilot or nobody: it creates nothing.
    let address = slot.address();
    let over_cap = slot.over_cap();
    let quota = state.new_identities.clone();
    let may_create = move || over_cap.is_none() && quota.try_take(address, std::time::Instant::now());
    let identity =
        match (state.store.identify(&name, hello.token.as_deref(), Some(address), may_create).await, over_cap) {
            (Ok(identity), _) => identity,
            (Err(IdentityError::CreationRefused), Some(refusal)) => {
                refuse_over_cap(link, state, refusal).await;
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
                reject(link, state, reason, message).await;
                return None;
            }
        };
    if let Err(refusal) = slot.settle(identity.id) {
        refuse_over_cap(link, state, refusal).await;
        return None;
    }
    let total_before = identity.totals.points.clamp(0, u32::MAX as i64) as u32;
    let join = Join { name: identity.name, identity: Some(identity.id), total_before, arrival: None };
    join_and_welcome(link, state, slot, join, identity.new_token).await
}

/// What a session asks the simulation for, once the identity is settled.
struct Join {
    name: String,
    identity: Option<i64>,
    total_before: u32,
    arrival: Option<Box<Arrival>>,
}

/// The handshake of a ship arriving from a neighbouring sector: the ticket is checked (and
/// its single use recorded) instead of the name and token, since the sector that signed it
/// checked those; the ship continues from the ticket's state. A refused ticket is counted by
/// its reason and answered `InvalidTicket` (the page then joins without it).
async fn arrive(link: &Link, state: &AppState, slot: &mut ConnectionSlot, ticket: &[u8]) -> Option<Admitted> {
    use crate::universe::ticket::TicketError;
    let Some(universe) = &state.universe else {
        state.stats.tickets_wrong_sector.fetch_add(1, Ordering::Relaxed);
        reject(link, state, RejectReason::InvalidTicket, TicketError::WrongSector.message().to_string()).await;
        return None;
    };
    // Checked, then a place under the caps, then its single use recorded: a ticket refused
    // for want of room is not spent.
    let holder = crate::universe::ticket::holder(&slot.address());
    let redeemed = match universe.check(ticket, holder) {
        Ok(claims) => {
            let settled = match claims.traveller.identity {
                Some(id) => slot.settle(id),
                None => slot.over_cap().map_or(Ok(()), Err),
            };
            if let Err(refusal) = settled {
                refuse_over_cap(link, state, refusal).await;
                return None;
            }
            let crossed_unix_ms = claims.crossed_unix_ms;
            universe.redeem(claims).await.map(|traveller| Arrival {
                // The whole ticks the ship spent between sectors: the simulation moves it on by
                // these (it reads no clock itself).
                catch_up: catch_up(crossed_unix_ms, crate::clock::unix_ms()),
                traveller,
            })
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
                Some(TicketError::WrongHolder) => (&s.tickets_wrong_holder, TicketError::WrongHolder.message()),
                None => (&s.tickets_unrecorded, "the universe's directory is unreachable: join again"),
            };
            counter.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(message, "hand-over ticket refused");
            reject(link, state, RejectReason::InvalidTicket, message.to_string()).await;
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
    join_and_welcome(link, state, slot, join, None).await
}

/// Joins the simulation and sends the `Welcome`.
async fn join_and_welcome(
    link: &Link,
    state: &AppState,
    slot: &mut ConnectionSlot,
    join: Join,
    new_token: Option<String>,
) -> Option<Admitted> {
    let Join { name, identity, total_before, arrival } = join;
    let (reply_tx, reply_rx) = oneshot::channel();
    let join = SimEvent::Join { name: name.clone(), identity, total_before, arrival, reply: reply_tx };
    if state.sim.send(join).await.is_err() {
        reject(link, state, RejectReason::ShuttingDown, "the server is shutting down".into()).await;
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
    if !link.send([encode_server(&ServerMsg::Welcome(welcome)).into()]).await {
        let _ = state.sim.send(SimEvent::Leave { player, session: joined.session, resumable: true }).await;
        // The ship now waits as a ghost, and holds its place like any other.
        slot.end(true);
        return None;
    }
    Some(Admitted::Player(player, name, joined))
}

/// The rest of a spectator's handshake: the version, a place under the caps (a place held for a
/// waiting ship is for its pilot, never a spectator), and `Spectating`.
async fn spectate(link: &Link, state: &AppState, slot: &mut ConnectionSlot, version: u32) -> Option<Admitted> {
    if version != PROTOCOL_VERSION {
        let message = format!("this server speaks protocol {PROTOCOL_VERSION}, the client {version}: reload the page");
        reject(link, state, RejectReason::ProtocolMismatch { server: PROTOCOL_VERSION }, message).await;
        return None;
    }
    if let Some(refusal) = slot.over_cap() {
        refuse_over_cap(link, state, refusal).await;
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
    let sent = link.send([encode_server(&ServerMsg::Spectating(spectating)).into()]).await;
    sent.then_some(Admitted::Spectator)
}

/// Counts a read error and, for an oversized message, answers with 1009.
async fn note_read_error(link: &Link, state: &AppState, e: &axum::Error) {
    if is_too_big(e) {
        state.stats.invalid_messages.fetch_add(1, Ordering::Relaxed);
        Close::TooBig.send(link, &state.stats, []).await;
    }
}
