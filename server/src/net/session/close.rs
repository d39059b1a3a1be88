//! How a session ends: every close the server sends a game connection (`Close`: its code
//! and reason, whether it leaves the player's ship waiting to be resumed, and what it is
//! counted as), and the endings that send none (`Ending`).

use super::super::admission::Refusal;
use super::super::link::Link;
use crate::stats::Stats;
use bytes::Bytes;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

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

/// After the server closes a connection (for abuse, or because the connection was replaced or
/// its identity revoked), how long it keeps reading (and discarding) until the peer's close
/// reply, so the close frame is not lost to a TCP reset.
pub const CLOSE_LINGER: Duration = Duration::from_secs(1);

/// Every reason the server closes a game connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Close {
    /// The handshake failed; a `Rejected` saying why went first.
    Rejected,
    /// No `Hello` within the handshake timeout.
    HandshakeTimeout,
    /// Let in on a dropped player's place at a full cap, but not that player.
    OverCap(Refusal),
    /// A message exceeded the size limit.
    TooBig,
    /// Too many messages that were not valid for the protocol or the connection's state.
    InvalidMessages,
    /// The message rate stayed above its limit.
    RateExceeded,
    /// Nothing came from the peer for the idle timeout.
    Idle,
    /// The server is draining.
    ShuttingDown,
    /// The simulation stopped: the server cannot serve the session.
    SimulationStopped,
    /// A newer connection presented the identity's token and took the player over.
    Replaced,
    /// The operator revoked the identity; its player is gone.
    Revoked,
    /// The ship flew into a neighbouring sector; the hand-over ticket went first.
    HandedOver,
    /// The ship flew toward a neighbour that was never listed (the simulation lets ships cross
    /// only toward listed ones): the page reconnects here, and its pilot starts anew.
    NeighbourUnreachable,
}

impl Close {
    /// The close frame's code.
    pub(crate) fn code(self) -> u16 {
        use close_code::*;
        match self {
            Close::Rejected | Close::HandshakeTimeout | Close::InvalidMessages | Close::RateExceeded => {
                POLICY_VIOLATION
            }
            Close::OverCap(_) => TRY_AGAIN_LATER,
            Close::TooBig => MESSAGE_TOO_BIG,
            Close::Idle | Close::ShuttingDown | Close::NeighbourUnreachable => GOING_AWAY,
            Close::SimulationStopped => INTERNAL_ERROR,
            Close::Replaced => REPLACED,
            Close::Revoked => IDENTITY_REVOKED,
            Close::HandedOver => HANDED_OVER,
        }
    }

    /// The close frame's reason (and the session's, in the log).
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Close::Rejected => "handshake rejected",
            Close::HandshakeTimeout => "handshake timeout",
            Close::OverCap(Refusal::Full) => "the server is full",
            Close::OverCap(Refusal::AddressFull) => "too many connections from this address",
            Close::TooBig => "message too big",
            Close::InvalidMessages => "too many invalid messages",
            Close::RateExceeded => "message rate exceeded",
            Close::Idle => "idle timeout",
            Close::ShuttingDown => "server shutting down",
            Close::SimulationStopped => "simulation stopped",
            Close::Replaced => "replaced by a newer connection",
            Close::Revoked => "identity revoked",
            Close::HandedOver => "flew into a neighbouring sector",
            Close::NeighbourUnreachable => "the neighbouring sector is unreachable",
        }
    }

    /// Whether the player's ship may wait for its pilot to come back: not after the client
    /// broke the rules (an abusive session leaves no waiting ship behind), and not when the
    /// player is gone already (revoked, or flown into another sector).
    pub(crate) fn leaves_ghost(self) -> bool {
        !matches!(
            self,
            Close::TooBig
                | Close::InvalidMessages
                | Close::RateExceeded
                | Close::Revoked
                | Close::HandedOver
                | Close::NeighbourUnreachable
        )
    }

    /// Whether the simulation still holds the player (a `Leave` must follow): not when it
    /// removed the player itself.
    pub(crate) fn player_remains(self) -> bool {
        !matches!(self, Close::Revoked | Close::HandedOver | Close::NeighbourUnreachable)
    }

    /// The counter this close adds one to, if it has one of its own (the messages that led to
    /// it are counted where they are read).
    pub(crate) fn counter(self, stats: &Stats) -> Option<&AtomicU64> {
        match self {
            Close::HandshakeTimeout => Some(&stats.handshake_timeouts),
            Close::OverCap(Refusal::Full) => Some(&stats.full_rejected),
            Close::OverCap(Refusal::AddressFull) => Some(&stats.address_rejected),
            Close::RateExceeded => Some(&stats.rate_closed),
            Close::Revoked => Some(&stats.revoked_closed),
            Close::HandedOver => Some(&stats.handovers_out),
            _ => None,
        }
    }

    /// Counts this close (once, where it is decided: a close queued behind a stalled write is
    /// counted all the same).
    pub(crate) fn count(self, stats: &Stats) -> Close {
        if let Some(counter) = self.counter(stats) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        self
    }

    /// Sends `before`, then the close frame, on `link` (already counted); false if the socket
    /// did not take it all.
    pub(crate) async fn write(self, link: &Link, before: impl IntoIterator<Item = Bytes>) -> bool {
        link.close(before, self.code(), self.reason()).await
    }

    /// Counts this close and sends it, after `before`.
    pub(crate) async fn send(self, link: &Link, stats: &Stats, before: impl IntoIterator<Item = Bytes>) -> bool {
        self.count(stats).write(link, before).await
    }
}

/// How a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ending {
    /// The server closed it.
    Closed(Close),
    /// The peer sent a close frame.
    PeerClosed,
    /// The peer went away without one.
    PeerGone,
    /// Reading from the socket failed.
    ReadError,
    /// Writing failed, or the client did not take what was written within the slow-client
    /// timeout.
    SendFailed,
}

impl Ending {
    /// Why, for the log.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Ending::Closed(close) => close.reason(),
            Ending::PeerClosed => "peer closed",
            Ending::PeerGone => "peer disconnected",
            Ending::ReadError => "read error",
            Ending::SendFailed => "send failed or client too slow",
        }
    }

    /// Whether the player's ship may wait for its pilot (see [`Close::leaves_ghost`]): every
    /// ending the client did not cause by breaking the rules.
    pub(crate) fn leaves_ghost(self) -> bool {
        match self {
            Ending::Closed(close) => close.leaves_ghost(),
            _ => true,
        }
    }

    /// Whether the simulation still holds the player (see [`Close::player_remains`]).
    pub(crate) fn player_remains(self) -> bool {
        match self {
            Ending::Closed(close) => close.player_remains(),
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Abuse closes with 1008 or 1009 and leaves no ghost; honest endings leave one; a player
    /// the simulation removed is not left again.
    #[test]
    fn each_close_knows_its_frame_and_its_ghost() {
        for abuse in [Close::TooBig, Close::InvalidMessages, Close::RateExceeded] {
            assert!(matches!(abuse.code(), close_code::POLICY_VIOLATION | close_code::MESSAGE_TOO_BIG));
            assert!(!Ending::Closed(abuse).leaves_ghost() && Ending::Closed(abuse).player_remains());
        }
        for honest in [Ending::Closed(Close::Idle), Ending::Closed(Close::ShuttingDown), Ending::PeerGone] {
            assert!(honest.leaves_ghost() && honest.player_remains());
        }
        assert_eq!(Close::HandedOver.code(), 4010);
        assert!(!Ending::Closed(Close::HandedOver).player_remains(), "no Leave after a hand-over");
        assert!(!Ending::Closed(Close::Revoked).leaves_ghost());
        let stats = Stats::default();
        assert!(std::ptr::eq(Close::Revoked.counter(&stats).unwrap(), &stats.revoked_closed));
        assert!(Close::Idle.counter(&stats).is_none());
    }
}
