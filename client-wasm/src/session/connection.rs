//! The connection's protocol state: where it stands ([`Phase`]), the first message it sends,
//! what else it sends (inputs, views, pings), the round trip its pings measure, the
//! reconnect backoff, and what a close means. It knows nothing of the world in view
//! ([`super::world`]) or of which sector to connect to ([`super::navigation`]).

use shared::codec::encode_client;
use shared::protocol::{ClientMsg, Hello, RejectReason, Rejected, SectorCoord, ViewRect};
use std::collections::VecDeque;

/// Interval between the client's pings, milliseconds.
pub const PING_INTERVAL_MS: f64 = 2000.0;
/// Pings awaiting their answer that the session remembers. A pong that comes back after
/// several more pings went out (a stalled link, an overloaded server) still measures its
/// round trip; older ones are forgotten so the list stays bounded (16 s at one per
/// [`PING_INTERVAL_MS`]).
pub const MAX_PENDING_PINGS: usize = 8;
/// First reconnect delay, milliseconds; doubled per failed attempt up to [`RECONNECT_MAX_MS`].
pub const RECONNECT_BASE_MS: f64 = 500.0;
/// Longest reconnect delay, milliseconds.
pub const RECONNECT_MAX_MS: f64 = 10_000.0;
/// How far (world units) the wanted view's centre may drift from the one last sent before it
/// is sent again: half the slack the page pads its view with, so what is on screen is always
/// inside what the server sends.
pub const VIEW_RESEND_DISTANCE: f32 = crate::layout::VIEW_SLACK * 0.5;

/// Where the connection stands.
#[derive(Clone, Debug, PartialEq)]
pub enum Phase {
    /// Socket opening or handshake in flight.
    Connecting,
    /// Welcomed: playing.
    Playing,
    /// Watching without playing (a spectator's connection, answered `Spectating`).
    Spectating,
    /// The server refused us. `reload`: the page is out of date (protocol mismatch).
    Rejected {
        /// For the player.
        message: String,
        /// Whether reloading the page is the fix.
        reload: bool,
    },
    /// The ship flew into a neighbouring sector: the page connects there at once
    /// ([`super::Session::socket_url`]) and presents the hand-over ticket.
    Crossing {
        /// The sector it flies into.
        sector: SectorCoord,
    },
    /// The connection was lost; the page reconnects after
    /// [`super::Session::reconnect_delay_ms`].
    Lost {
        /// Why, for the player.
        reason: String,
    },
}

/// What a close means for where to connect next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Closed {
    /// Final (rejected, revoked, replaced): no reconnect.
    Final,
    /// Reconnect to the same place.
    Again,
    /// The attempt failed before it was welcomed: reconnect, elsewhere if there is an
    /// elsewhere.
    Failed,
}

/// One connection's protocol state.
#[derive(Debug)]
pub struct Connection {
    name: String,
    /// The identity's token, presented in each `Hello`.
    token: Option<String>,
    /// Watch without playing: the connection opens with `Spectate` instead of `Hello`.
    spectator: bool,
    /// Where the connection stands.
    pub phase: Phase,
    /// A token the server just issued, for the page to keep (taken once).
    pub new_token: Option<String>,
    /// The token this browser saved is void (revoked, or refused for this name): the page
    /// must forget it, or it would present it again for a name it can no longer prove.
    pub token_void: bool,
    /// Round-trip time of the last answered ping, milliseconds.
    pub rtt_ms: Option<f64>,
    outgoing: VecDeque<Vec<u8>>,
    /// The view last sent, to send a new one only when it moved.
    view_sent: Option<ViewRect>,
    ping_nonce: u32,
    /// Pings sent and not yet answered (nonce, when), oldest first, at most
    /// [`MAX_PENDING_PINGS`].
    pub(crate) pending_pings: VecDeque<(u32, f64)>,
    next_ping_ms: f64,
    failed_attempts: u32,
    /// When the socket opened (the Hello went out), until the answer came.
    opened_ms: Option<f64>,
    /// The sector refused the ticket: the next connection joins it again, as usual.
    rejoin: bool,
}

impl Connection {
    /// A player's connection called `name` (a token continues an earlier identity), or a
    /// spectator's.
    pub(crate) fn new(name: &str, token: Option<String>, spectator: bool) -> Connection {
        Connection {
            name: name.to_string(),
            token,
            spectator,
            phase: Phase::Connecting,
            new_token: None,
            token_void: false,
            rtt_ms: None,
            outgoing: VecDeque::new(),
            view_sent: None,
            ping_nonce: 0,
            pending_pings: VecDeque::with_capacity(MAX_PENDING_PINGS),
            next_ping_ms: 0.0,
            failed_attempts: 0,
            opened_ms: None,
            rejoin: false,
        }
    }

    /// The identity's token, as the next `Hello` presents it.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// Whether this is a spectator's connection.
    pub fn is_spectator(&self) -> bool {
        self.spectator
    }

    /// Whether the connection carries a world now (welcomed as a player or a spectator).
    pub fn is_open(&self) -> bool {
        matches!(self.phase, Phase::Playing | Phase::Spectating)
    }

    /// The socket opened at `now_ms`: start over with a `Hello` (with `ticket`, a hand-over's)
    /// or a `Spectate`. Keeps a `Crossing` phase while a ticket is presented.
    pub(crate) fn open(&mut self, now_ms: f64, ticket: Option<Vec<u8>>) {
        self.opened_ms = Some(now_ms);
        if !(ticket.is_some() && matches!(self.phase, Phase::Crossing { .. })) {
            self.phase = Phase::Connecting;
        }
        self.outgoing.clear();
        self.view_sent = None;
        self.pending_pings.clear();
        let first = if self.spectator {
            ClientMsg::Spectate { protocol_version: shared::PROTOCOL_VERSION }
        } else {
            ClientMsg::Hello(Hello {
                protocol_version: shared::PROTOCOL_VERSION,
                name: self.name.clone(),
                token: self.token.clone(),
                ticket,
            })
        };
        self.send(&first);
    }

    /// The server welcomed us (`playing`: as a player, else as a spectator) at `now_ms`;
    /// returns the round trip from the `Hello`, if this is its answer.
    pub(crate) fn welcomed(&mut self, playing: bool, token: Option<&str>, now_ms: f64) -> Option<f64> {
        if let Some(token) = token {
            // Later reconnects of this page present it to stay the same identity.
            self.token = Some(token.to_string());
            self.new_token = Some(token.to_string());
        }
        self.phase = if playing { Phase::Playing } else { Phase::Spectating };
        self.failed_attempts = 0;
        self.next_ping_ms = now_ms;
        self.opened_ms.take().map(|opened| now_ms - opened)
    }

    /// The server refused the handshake.
    pub(crate) fn rejected(&mut self, r: Rejected) {
        if r.reason == RejectReason::InvalidTicket {
            // The ship could not continue there (the ticket expired on a slow link, the
            // directory was unreachable): join that sector as usual, identity and score kept.
            self.phase = Phase::Lost { reason: r.message };
            self.rejoin = true;
            return;
        }
        if r.reason == RejectReason::InvalidToken {
            self.token = None;
            self.token_void = true;
        }
        let reload = matches!(r.reason, RejectReason::ProtocolMismatch { .. });
        let message = if reload { "The server was updated: reload the page to play.".to_string() } else { r.message };
        self.phase = Phase::Rejected { message, reload };
    }

    /// The ship flies into `sector`: the next connection goes there at once.
    pub(crate) fn crossing(&mut self, sector: SectorCoord) {
        self.failed_attempts = 0;
        self.phase = Phase::Crossing { sector };
    }

    /// The socket closed with `code` and `reason`: what it means for the next connection.
    pub(crate) fn closed(&mut self, code: u16, reason: &str) -> Closed {
        if matches!(self.phase, Phase::Rejected { .. }) {
            return Closed::Final;
        }
        if code == shared::constants::CLOSE_IDENTITY_REVOKED {
            // The token is refused from now on: reconnecting with it would only be rejected.
            self.token = None;
            self.token_void = true;
            let message = "An operator revoked this pilot: pick another name to play (this one can be claimed again \
                           later)."
                .to_string();
            self.phase = Phase::Rejected { message, reload: false };
            return Closed::Final;
        }
        if code == shared::constants::CLOSE_REPLACED {
            // Another tab or window took this pilot over. Reconnecting would take it back, and
            // that one would do the same: the player chooses where to fly (Play takes over).
            let message =
                "This pilot is flying in another tab or window now: press Play to fly here instead.".to_string();
            self.phase = Phase::Rejected { message, reload: false };
            return Closed::Final;
        }
        let closed = if std::mem::take(&mut self.rejoin) {
            // The sector answered (it refused the ticket): join it again, without one.
            Closed::Again
        } else if !self.is_open() {
            self.failed_attempts += 1;
            Closed::Failed
        } else {
            Closed::Again
        };
        let reason = match (code, reason) {
            (1001, r) if !r.is_empty() => format!("server going away: {r}"),
            (_, "") => format!("connection closed ({code})"),
            (_, r) => format!("connection closed: {r} ({code})"),
        };
        self.phase = Phase::Lost { reason };
        closed
    }

    /// Whether the page should open a new socket (after waiting [`Self::reconnect_delay_ms`]).
    pub fn should_reconnect(&self) -> bool {
        matches!(self.phase, Phase::Lost { .. } | Phase::Crossing { .. })
    }

    /// Exponential backoff: 0.5 s, 1 s, 2 s … up to 10 s while attempts keep failing; none
    /// into the next sector.
    pub fn reconnect_delay_ms(&self) -> f64 {
        if matches!(self.phase, Phase::Crossing { .. }) {
            return 0.0;
        }
        let exp = self.failed_attempts.saturating_sub(1).min(10);
        (RECONNECT_BASE_MS * f64::from(1u32 << exp)).min(RECONNECT_MAX_MS)
    }

    /// Queues a message.
    pub(crate) fn send(&mut self, msg: &ClientMsg) {
        self.outgoing.push_back(encode_client(msg));
    }

    /// The next message to send, if any.
    pub fn take_outgoing(&mut self) -> Option<Vec<u8>> {
        self.outgoing.pop_front()
    }

    /// Asks for `view` (only once welcomed), unless the view last sent has the same size and a
    /// centre within [`VIEW_RESEND_DISTANCE`]: following a ship costs a message now and then,
    /// not one a frame.
    pub fn follow_view(&mut self, view: ViewRect) {
        let moved = self.view_sent.is_none_or(|v| {
            glam::Vec2::from(v.center).distance(glam::Vec2::from(view.center)) > VIEW_RESEND_DISTANCE
                || v.size != view.size
        });
        if moved && self.is_open() {
            self.send(&ClientMsg::View(view));
            self.view_sent = Some(view);
        }
    }

    /// Sends a ping when one is due at `now_ms`.
    pub(crate) fn ping_if_due(&mut self, now_ms: f64) {
        if self.is_open() && now_ms >= self.next_ping_ms {
            self.ping_nonce = self.ping_nonce.wrapping_add(1);
            if self.pending_pings.len() == MAX_PENDING_PINGS {
                self.pending_pings.pop_front();
            }
            self.pending_pings.push_back((self.ping_nonce, now_ms));
            self.next_ping_ms = now_ms + PING_INTERVAL_MS;
            self.send(&ClientMsg::Ping { nonce: self.ping_nonce });
        }
    }

    /// A pong for ping `nonce` came at `now_ms`: its round trip, if it answers a ping still
    /// pending (older pings still pending were lost or overtaken, and are forgotten).
    pub(crate) fn pong(&mut self, nonce: u32, now_ms: f64) -> Option<f64> {
        let i = self.pending_pings.iter().position(|(n, _)| *n == nonce)?;
        let (_, sent_ms) = self.pending_pings[i];
        self.pending_pings.drain(..=i);
        let rtt_ms = now_ms - sent_ms;
        self.rtt_ms = Some(rtt_ms);
        Some(rtt_ms)
    }
}
