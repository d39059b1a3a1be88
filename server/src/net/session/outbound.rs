//! What a session writes itself, beside the fan-out's frames: the player's events, pongs, and
//! the close; and the write the fan-out left unfinished, which this task drives (see
//! [`super::super::link`]) and times against the slow-client timeout.

use super::super::link::{Broken, Link, News};
use super::close::{Close, Ending};
use crate::AppState;
use bytes::Bytes;
use shared::codec::encode_server;
use shared::protocol::{GameEvent, ServerMsg};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Replies (pongs) waiting for the send loop; beyond this, pings go unanswered.
pub(super) const OUTBOX_CAPACITY: usize = 16;

/// What the session's other parts hand the send loop. Kept small: a channel allocates its
/// first block of 32 slots at once, per connection, so a `ServerMsg` held inline (about 200
/// bytes) cost 6 KiB of every connection's memory for a pong.
#[derive(Debug)]
pub(super) enum Outbound {
    /// A reply (a pong), encoded.
    Msg(Bytes),
    /// A close (already counted), after a message that must precede it (a hand-over ticket).
    Close(Option<Box<ServerMsg>>, Close),
}

fn encoded(msg: &ServerMsg) -> Bytes {
    encode_server(msg).into()
}

/// Writes what is the session's own to write (the player's events, pongs, closes), finishes
/// what the fan-out could not write at once, and times it: returns how the session ends.
pub(super) async fn send_loop(
    link: &Link,
    state: &AppState,
    mut events: mpsc::Receiver<GameEvent>,
    mut out: mpsc::Receiver<Outbound>,
) -> Ending {
    let limit = state.limits.slow_client_timeout;
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
                    goodbye.push(encoded(&ServerMsg::Event(event)));
                }
                Close::ShuttingDown.send(link, &state.stats, goodbye).await;
                return Ending::Closed(Close::ShuttingDown);
            }
            news = std::future::poll_fn(|cx| link.poll_news(cx, stalled)) => match news {
                News::Stalled(since) => {
                    stalled = since;
                    true
                }
                News::Broken(Broken::SendFailed) => false,
                News::Broken(Broken::SimulationStopped) => {
                    Close::SimulationStopped.send(link, &state.stats, []).await;
                    return Ending::Closed(Close::SimulationStopped);
                }
            },
            Some(o) = out.recv() => match o {
                Outbound::Msg(m) => link.send([m]).await,
                Outbound::Close(before, close) => {
                    close.write(link, before.as_deref().map(encoded)).await;
                    return Ending::Closed(close);
                }
            },
            Some(event) = events.recv() => link.send([encoded(&ServerMsg::Event(event))]).await,
            // A write the socket has not taken for the whole slow-client timeout.
            () = tokio::time::sleep_until(stalled.map_or_else(Instant::now, |since| since + limit)), if stalled.is_some() => false,
            () = &mut ping_timer => {
                let sent = link.ping_if_idle(Instant::now()).await;
                ping_timer.as_mut().reset(link.next_ping());
                sent
            }
        };
        if !sent {
            return Ending::SendFailed;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every connection's outbox allocates 32 slots up front: a slot stays a few words, not a
    /// whole `ServerMsg` (which made each connection 6 KiB heavier).
    #[test]
    fn an_outbox_slot_is_small() {
        let slot = std::mem::size_of::<Outbound>();
        assert!(slot <= 64, "an outbox slot is {slot} bytes");
        assert!(std::mem::size_of::<ServerMsg>() > 2 * slot, "boxing it is what keeps the slot small");
    }
}
