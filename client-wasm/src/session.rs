//! One connection's protocol state: what to send, what the server said, and the one replica
//! of the world in view. The socket belongs to whoever drives this (the page's `main.js`
//! through [`crate::client::Client`], or a bot's tokio-tungstenite task); they decode each
//! server message once and hand it here, and send what [`Session::take_outgoing`] yields.
//!
//! The session is the replica's only owner. Everything else reads it through
//! [`Session::replica`] or [`Session::model`] (the replica with the constants needed to
//! predict it), so there is exactly one copy of what the server said.

use crate::clock::Clock;
use crate::predict::{Prediction, Reconciled};
use shared::codec::{encode_client, DecodeError};
use shared::kinematics::Kinematics;
use shared::protocol::{
    ClientMsg, DeathCause, EntityId, GameEvent, HandOver, Hello, Input, Leaderboard, Placement, RejectReason, Score,
    SectorCoord, SectorStatus, ServerMsg, Snapshot, UniverseMap, ViewRect, Welcome,
};
use shared::quant::QState;
use shared::replica::{ApplyError, Correction, Replica};
use std::collections::VecDeque;

/// Interval between the client's pings, milliseconds.
pub const PING_INTERVAL_MS: f64 = 2000.0;
/// Pings awaiting their answer that the session remembers. A pong that comes back after
/// several more pings went out (a stalled link, an overloaded server) still measures its
/// round trip; older ones are forgotten so the list stays bounded (16 s at one per
/// [`PING_INTERVAL_MS`]).
pub const MAX_PENDING_PINGS: usize = 8;
/// How long past a round trip an input may stay unacknowledged before the controls are sent
/// again, milliseconds: the server drops inputs when its simulation's queue is full (counted
/// as `dropped_inputs`), and a dropped key release would otherwise hold until the next key.
pub const INPUT_RESEND_MS: f64 = 1000.0;
/// First reconnect delay, milliseconds; doubled per failed attempt up to [`RECONNECT_MAX_MS`].
pub const RECONNECT_BASE_MS: f64 = 500.0;
/// Longest reconnect delay, milliseconds.
pub const RECONNECT_MAX_MS: f64 = 10_000.0;
/// How far (world units) the wanted view's centre may drift from the one last sent before it
/// is sent again: half the slack the page pads its view with, so what is on screen is always
/// inside what the server sends.
pub const VIEW_RESEND_DISTANCE: f32 = crate::scene::VIEW_SLACK * 0.5;
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
    /// ([`Session::socket_url`]) and presents the hand-over ticket.
    Crossing {
        /// The sector it flies into.
        sector: SectorCoord,
    },
    /// The connection was lost; the page reconnects after [`Session::reconnect_delay_ms`].
    Lost {
        /// Why, for the player.
        reason: String,
    },
}

/// The player's own ship's fate.
#[derive(Clone, Debug, PartialEq)]
pub enum ShipStatus {
    /// Flying (or not yet seen).
    Alive,
    /// Destroyed; a new one comes at `respawn_at_ms` (page clock).
    Dead {
        /// What destroyed it, for the player.
        cause: String,
        /// When the next ship is due.
        respawn_at_ms: f64,
    },
}

/// What applying one server message changed, for whoever drives the session.
#[derive(Debug)]
pub enum Applied {
    /// A snapshot: the replica moved to its tick.
    Snapshot {
        /// The snapshot itself (the view needs its tick and its `left` ids).
        snapshot: Snapshot,
        /// Every entity the server corrected: what the replica predicted, and what came.
        corrections: Vec<Correction>,
        /// What it told the own ship's prediction.
        own: Reconciled,
    },
    /// The answer to one of our pings.
    Pong {
        /// Its round trip, milliseconds.
        rtt_ms: f64,
    },
    /// Anything else.
    Other,
}

/// A server message that breaks the protocol: the connection cannot go on.
#[derive(Clone, Debug, PartialEq)]
pub enum ProtocolError {
    /// The bytes were not a server message.
    Undecodable(DecodeError),
    /// A snapshot came before the `Welcome` that gives the constants to apply it.
    SnapshotBeforeWelcome,
    /// A second `Welcome` on one connection.
    SecondWelcome,
    /// A snapshot that does not fit the replica (stale tick, unknown or duplicate entity).
    BadSnapshot(ApplyError),
}

impl core::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ProtocolError::Undecodable(e) => write!(f, "undecodable server message: {e}"),
            ProtocolError::SnapshotBeforeWelcome => f.write_str("snapshot before Welcome"),
            ProtocolError::SecondWelcome => f.write_str("second Welcome"),
            ProtocolError::BadSnapshot(e) => write!(f, "bad snapshot: {e}"),
        }
    }
}

impl std::error::Error for ProtocolError {}

/// The replica with what it takes to predict it: what a view or a pilot reads.
#[derive(Clone, Copy, Debug)]
pub struct Model<'a> {
    /// The world in view at [`Replica::tick`], exactly as the server has it.
    pub replica: &'a Replica,
    /// The motion constants from the Welcome.
    pub kinematics: &'a Kinematics,
    /// The server's tick rate.
    pub tick_hz: u32,
    /// The server's present and the own ship's tick, as of the last [`Session::poll`].
    pub clock: &'a Clock,
    /// The own ship's prediction, extended by [`Session::predict`].
    pub prediction: &'a Prediction,
}

/// The connection's state.
#[derive(Debug)]
pub struct Session {
    name: String,
    token: Option<String>,
    /// Where the connection stands.
    pub phase: Phase,
    /// The server's welcome (constants, ids), once received (players only).
    pub welcome: Option<Welcome>,
    /// The motion constants and tick rate, from the `Welcome` or a spectator's `Spectating`.
    constants: Option<(Kinematics, u32)>,
    /// Watch without playing: the connection opens with `Spectate` instead of `Hello`.
    spectator: bool,
    /// The ship this client follows while it has none of its own (a spectator, or a player
    /// waiting to respawn), as the server said.
    pub watched: Option<shared::protocol::Watched>,
    /// The world in view: the one copy, read through [`Session::replica`].
    replica: Replica,
    /// The server's present and the own ship's tick.
    clock: Clock,
    /// The own ship ahead of the replica, with the inputs the server has not yet applied.
    prediction: Prediction,
    /// The player's current ship.
    pub ship_id: Option<EntityId>,
    /// Where the ship was last known (spawn point, or last position seen).
    pub ship_hint: [f32; 2],
    /// Alive or waiting to respawn.
    pub ship_status: ShipStatus,
    /// This session's score.
    pub score: Score,
    /// The latest leaderboard.
    pub leaderboard: Leaderboard,
    /// Round-trip time of the last answered ping, milliseconds.
    pub rtt_ms: Option<f64>,
    /// A token the server just issued, for the page to keep (taken once).
    pub new_token: Option<String>,
    /// The token this browser saved is void (revoked, or refused for this name): the page
    /// must forget it, or it would present it again for a name it can no longer prove.
    pub token_void: bool,
    outgoing: VecDeque<Vec<u8>>,
    /// The view last sent, to send a new one only when it moved.
    view_sent: Option<ViewRect>,
    ping_nonce: u32,
    /// Pings sent and not yet answered (nonce, when), oldest first, at most
    /// [`MAX_PENDING_PINGS`].
    pending_pings: VecDeque<(u32, f64)>,
    next_ping_ms: f64,
    failed_attempts: u32,
    /// When the socket opened (the Hello went out), until the answer came.
    opened_ms: Option<f64>,
    /// The game socket to open next (`None`: the page's own server). Set by a hand-over and
    /// by failing over to another sector of the universe.
    url: Option<String>,
    /// A hand-over the server announced; its connection closes next.
    hand_over: Option<HandOver>,
    /// The ticket to present in the next `Hello` (taken once).
    ticket: Option<Vec<u8>>,
    /// The sector refused the ticket: the next connection joins it again, as usual.
    rejoin: bool,
    /// Where the server's sector lies in its universe, from the last `Welcome` or `Spectating`.
    pub place: Option<Placement>,
    /// The universe's sectors, as last sent.
    pub universe: Option<UniverseMap>,
}

impl Session {
    /// A session that watches without playing: the page before its player joins.
    pub fn spectator() -> Session {
        Session { spectator: true, ..Session::new("", None) }
    }

    /// A session for a player called `name` (a token continues an earlier identity).
    pub fn new(name: &str, token: Option<String>) -> Session {
        Session {
            name: name.to_string(),
            token,
            phase: Phase::Connecting,
            welcome: None,
            constants: None,
            spectator: false,
            watched: None,
            replica: Replica::new(),
            clock: Clock::new(shared::constants::TICK_HZ),
            prediction: Prediction::default(),
            ship_id: None,
            ship_hint: [0.0, 0.0],
            ship_status: ShipStatus::Alive,
            score: Score::default(),
            leaderboard: Leaderboard::default(),
            rtt_ms: None,
            new_token: None,
            token_void: false,
            outgoing: VecDeque::new(),
            view_sent: None,
            ping_nonce: 0,
            pending_pings: VecDeque::with_capacity(MAX_PENDING_PINGS),
            next_ping_ms: 0.0,
            failed_attempts: 0,
            opened_ms: None,
            url: None,
            hand_over: None,
            ticket: None,
            rejoin: false,
            place: None,
            universe: None,
        }
    }

    /// The game socket the page should open next: `None` for its own server's.
    pub fn socket_url(&self) -> Option<&str> {
        self.url.as_deref()
    }

    /// A sector of the universe, as the page read it from `/api/universe` before its first
    /// connection (later ones come in `Universe` messages).
    pub fn know_sector(&mut self, universe_size: [u16; 2], sector: SectorStatus) {
        let map = self.universe.get_or_insert_with(|| UniverseMap { size: universe_size, sectors: Vec::new() });
        map.sectors.retain(|s| s.sector != sector.sector);
        map.sectors.push(sector);
    }

    /// Where to play: `wanted` if it is known and not full, else the least loaded sector that
    /// is not full; sets the socket to open and returns it (`None`: no universe known).
    pub fn choose_sector(&mut self, wanted: Option<SectorCoord>) -> Option<&str> {
        let map = self.universe.as_ref()?;
        let open = |s: &&SectorStatus| s.players < s.capacity;
        let load = |s: &&SectorStatus| (u64::from(s.players) * 1000) / u64::from(s.capacity.max(1));
        let chosen = map
            .sectors
            .iter()
            .filter(open)
            .find(|s| Some(s.sector) == wanted)
            .or_else(|| map.sectors.iter().filter(open).min_by_key(load))?;
        self.url = Some(chosen.url.clone());
        self.url.as_deref()
    }

    /// After a connection attempt failed: the least loaded other sector of the universe, if
    /// one is known (the page's server may be gone for good; the identity and its committed
    /// score are the same in every sector). "Other" than the socket that just failed: the
    /// one named, or else (the page's own server) the sector the page last played in.
    fn fail_over(&mut self) {
        let failed_sector = if self.url.is_none() { self.place.map(|p| p.sector) } else { None };
        let Some(map) = &self.universe else { return };
        let load = |s: &&SectorStatus| (u64::from(s.players) * 1000) / u64::from(s.capacity.max(1));
        let next = map
            .sectors
            .iter()
            .filter(|s| {
                Some(s.sector) != failed_sector && s.players < s.capacity && Some(s.url.as_str()) != self.url.as_deref()
            })
            .min_by_key(load);
        if let Some(next) = next {
            self.url = Some(next.url.clone());
            // A ticket is for the sector it names, not this one.
            self.ticket = None;
        }
    }

    /// The world in view, exactly as the server has it at [`Replica::tick`].
    pub fn replica(&self) -> &Replica {
        &self.replica
    }

    /// The replica with its motion constants, clocks and the own ship's prediction, once
    /// welcomed.
    pub fn model(&self) -> Option<Model<'_>> {
        self.constants.as_ref().map(|(kinematics, tick_hz)| Model {
            replica: &self.replica,
            kinematics,
            tick_hz: *tick_hz,
            clock: &self.clock,
            prediction: &self.prediction,
        })
    }

    /// The clocks.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The own ship's prediction.
    pub fn prediction(&self) -> &Prediction {
        &self.prediction
    }

    /// Extends the own ship's prediction to the tick after the one it is drawn at now (call
    /// after [`Session::poll`] and the frame's input, before drawing).
    pub fn predict(&mut self) {
        if let Some(own) = self.clock.own() {
            self.prediction.extend_to(own.floor().max(0.0) as shared::protocol::Tick + 1);
        }
    }

    /// The own ship's state at the last snapshot, for a client that keeps no replica (a light
    /// bot): tells the prediction and the clocks what [`Session::on_message`] tells them for a
    /// snapshot it applies itself.
    pub fn reconcile(&mut self, snapshot: &Snapshot, own: Option<QState>, now_ms: f64) -> Reconciled {
        self.clock.on_arrival(snapshot.tick, now_ms);
        let own = own.filter(|_| self.ship_status == ShipStatus::Alive);
        let r = self.prediction.on_snapshot(snapshot, own, now_ms);
        if let Some((_, margin)) = r.acked {
            let stamped_with = r.acked_lead.unwrap_or(self.clock.lead());
            self.clock.on_margin(margin, stamped_with, now_ms);
        }
        // Ready to be drawn at once: the prediction from its new base up to the own tick.
        self.predict();
        r
    }

    /// Moves the clocks to `now_ms` and the own ship's prediction with them: what is drawn
    /// now. The page calls it before taking the drawn positions a message may change, so that
    /// only the message, not the time since the last frame, moves them.
    pub fn advance(&mut self, now_ms: f64) {
        self.clock.advance(now_ms);
        self.predict();
    }

    /// The own ship while it flies (none while waiting to respawn).
    pub fn alive_ship(&self) -> Option<EntityId> {
        self.ship_id.filter(|_| self.ship_status == ShipStatus::Alive)
    }

    /// The socket opened at `now_ms`: start over with a Hello (a reconnect starts from
    /// nothing). The answer's arrival measures a first round trip.
    pub fn on_open(&mut self, now_ms: f64) {
        self.opened_ms = Some(now_ms);
        // Crossing into the next sector, the ship is still drawn from its prediction (and the
        // motion constants) until the Welcome there rebases it.
        if !(self.ticket.is_some() && matches!(self.phase, Phase::Crossing { .. })) {
            self.phase = Phase::Connecting;
            self.constants = None;
        }
        self.welcome = None;
        self.watched = None;
        self.replica.clear();
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
                ticket: self.ticket.take(),
            })
        };
        self.outgoing.push_back(encode_client(&first));
    }

    /// The socket closed. Unless the server rejected us, the page should reconnect.
    pub fn on_close(&mut self, code: u16, reason: &str) {
        if matches!(self.phase, Phase::Rejected { .. }) {
            return;
        }
        if let Some(hand_over) = self.hand_over.take() {
            // Into the next sector at once, where the ship continues from the ticket's state.
            self.url = Some(hand_over.url);
            self.ticket = Some(hand_over.ticket);
            self.failed_attempts = 0;
            self.phase = Phase::Crossing { sector: hand_over.sector };
            return;
        }
        if code == shared::constants::CLOSE_IDENTITY_REVOKED {
            // The token is refused from now on: reconnecting with it would only be rejected.
            self.token = None;
            self.token_void = true;
            let message = "An operator revoked this pilot: pick another name to play (this one can be claimed again \
                           later)."
                .to_string();
            self.phase = Phase::Rejected { message, reload: false };
            return;
        }
        if code == shared::constants::CLOSE_REPLACED {
            // Another tab or window took this pilot over. Reconnecting would take it back, and
            // that one would do the same: the player chooses where to fly (Play takes over).
            let message =
                "This pilot is flying in another tab or window now: press Play to fly here instead.".to_string();
            self.phase = Phase::Rejected { message, reload: false };
            return;
        }
        if std::mem::take(&mut self.rejoin) {
            // The sector answered (it refused the ticket): join it again, without one.
        } else if !matches!(self.phase, Phase::Playing | Phase::Spectating) {
            self.failed_attempts += 1;
            self.fail_over();
        }
        let reason = match (code, reason) {
            (1001, r) if !r.is_empty() => format!("server going away: {r}"),
            (_, "") => format!("connection closed ({code})"),
            (_, r) => format!("connection closed: {r} ({code})"),
        };
        self.phase = Phase::Lost { reason };
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

    /// The next message to send, if any.
    pub fn take_outgoing(&mut self) -> Option<Vec<u8>> {
        self.outgoing.pop_front()
    }

    /// Queues an input (only while playing), naming the own ship's next tick, and predicts
    /// with it from that tick on.
    pub fn send_input(&mut self, input: Input, now_ms: f64) {
        if self.phase == Phase::Playing {
            self.clock.advance(now_ms);
            let input = Input { tick: self.clock.stamp(), ..input };
            self.prediction.sent(input, now_ms, self.clock.lead());
            self.outgoing.push_back(encode_client(&ClientMsg::Input(input)));
        }
    }

    /// Whether the newest input has gone unacknowledged for [`INPUT_RESEND_MS`] past a round
    /// trip: it was lost, and the controls must be sent again.
    pub fn input_overdue(&self, now_ms: f64) -> bool {
        let rtt = self.rtt_ms.unwrap_or(crate::clock::ASSUMED_RTT_MS);
        self.phase == Phase::Playing
            && self.prediction.newest_unacked_ms().is_some_and(|sent| now_ms - sent > INPUT_RESEND_MS + rtt)
    }

    /// Asks for `view` (only while playing), unless the view last sent has the same size and
    /// a centre within [`VIEW_RESEND_DISTANCE`]: following a ship costs a message now and then,
    /// not one a frame.
    pub fn follow_view(&mut self, view: ViewRect) {
        let moved = self.view_sent.is_none_or(|v| {
            glam::Vec2::from(v.center).distance(glam::Vec2::from(view.center)) > VIEW_RESEND_DISTANCE
                || v.size != view.size
        });
        if moved && matches!(self.phase, Phase::Playing | Phase::Spectating) {
            self.outgoing.push_back(encode_client(&ClientMsg::View(view)));
            self.view_sent = Some(view);
        }
    }

    /// Moves the clocks to `now_ms`, and sends a ping when one is due.
    pub fn poll(&mut self, now_ms: f64) {
        self.clock.advance(now_ms);
        if matches!(self.phase, Phase::Playing | Phase::Spectating) && now_ms >= self.next_ping_ms {
            self.ping_nonce = self.ping_nonce.wrapping_add(1);
            if self.pending_pings.len() == MAX_PENDING_PINGS {
                self.pending_pings.pop_front();
            }
            self.pending_pings.push_back((self.ping_nonce, now_ms));
            self.next_ping_ms = now_ms + PING_INTERVAL_MS;
            self.outgoing.push_back(encode_client(&ClientMsg::Ping { nonce: self.ping_nonce }));
        }
    }

    /// Applies one (decoded) message from the server at `now_ms`.
    pub fn on_message(&mut self, msg: ServerMsg, now_ms: f64) -> Result<Applied, ProtocolError> {
        match msg {
            ServerMsg::Welcome(w) => {
                if !matches!(self.phase, Phase::Connecting | Phase::Crossing { .. }) {
                    return Err(ProtocolError::SecondWelcome);
                }
                if let Some(token) = &w.token {
                    // Later reconnects of this page present it to stay the same identity.
                    self.token = Some(token.clone());
                    self.new_token = Some(token.clone());
                }
                // A ship arriving from another sector continues this session's score (the
                // ticket carried it); any other Welcome starts a session.
                if w.arrival.is_none() {
                    self.score = Score { total_points: w.total_points, ..Score::default() };
                }
                self.clock = Clock::new(w.tick_hz);
                self.clock.on_arrival(w.tick, now_ms);
                if let Some(opened) = self.opened_ms.take() {
                    // Hello there, Welcome back (with a store lookup between: a little long, and
                    // the margins correct it): the lead is right from the first input.
                    self.clock.on_rtt(now_ms - opened, now_ms);
                }
                self.prediction.reset(w.kinematics, w.ship_id);
                if let Some(state) = w.arrival {
                    self.prediction.arrive(w.tick.saturating_sub(1), state);
                }
                if w.place.is_some() {
                    self.place = w.place;
                }
                self.ship_id = Some(w.ship_id);
                self.ship_hint = w.ship_position;
                self.ship_status = ShipStatus::Alive;
                self.constants = Some((w.kinematics, w.tick_hz));
                self.welcome = Some(w);
                self.phase = Phase::Playing;
                self.failed_attempts = 0;
                self.next_ping_ms = now_ms;
            }
            ServerMsg::Rejected(r) if r.reason == RejectReason::InvalidTicket => {
                // The ship could not continue there (the ticket expired on a slow link, the
                // directory was unreachable): join that sector as usual, identity and score kept.
                self.phase = Phase::Lost { reason: r.message };
                self.rejoin = true;
            }
            ServerMsg::Rejected(r) => {
                if r.reason == RejectReason::InvalidToken {
                    self.token = None;
                    self.token_void = true;
                }
                let reload = matches!(r.reason, RejectReason::ProtocolMismatch { .. });
                let message =
                    if reload { "The server was updated: reload the page to play.".to_string() } else { r.message };
                self.phase = Phase::Rejected { message, reload };
            }
            ServerMsg::Snapshot(snapshot) => {
                let kin = self.constants.map(|(k, _)| k).ok_or(ProtocolError::SnapshotBeforeWelcome)?;
                let mut corrections = Vec::with_capacity(snapshot.changed.len());
                self.replica
                    .apply_observed(&snapshot, &kin, |c| corrections.push(*c))
                    .map_err(ProtocolError::BadSnapshot)?;
                let own = self.ship_id.and_then(|id| self.replica.get(id)).map(|k| k.state);
                if let Some(ship) = own {
                    self.ship_hint = ship.position().into();
                }
                let own = self.reconcile(&snapshot, own, now_ms);
                return Ok(Applied::Snapshot { snapshot, corrections, own });
            }
            ServerMsg::Pong { nonce, .. } => {
                if let Some(i) = self.pending_pings.iter().position(|(n, _)| *n == nonce) {
                    let (_, sent_ms) = self.pending_pings[i];
                    // Older pings still pending were lost or overtaken: forget them.
                    self.pending_pings.drain(..=i);
                    let rtt_ms = now_ms - sent_ms;
                    self.rtt_ms = Some(rtt_ms);
                    self.clock.on_rtt(rtt_ms, now_ms);
                    return Ok(Applied::Pong { rtt_ms });
                }
            }
            ServerMsg::Event(event) => match event {
                GameEvent::ShipDestroyed { ship_id, cause, respawn_in_ticks } => {
                    if Some(ship_id) == self.ship_id {
                        let tick_ms = self.constants.map_or(1000.0 / 60.0, |(_, hz)| 1000.0 / hz as f64);
                        let cause = match cause {
                            DeathCause::Asteroid => "hit an asteroid".to_string(),
                            DeathCause::Shot { by } => format!("shot by {by}"),
                            DeathCause::Collision { with } => format!("collided with {with}"),
                        };
                        self.ship_status =
                            ShipStatus::Dead { cause, respawn_at_ms: now_ms + respawn_in_ticks as f64 * tick_ms };
                        self.prediction.set_ship(None);
                    }
                }
                GameEvent::ShipSpawned { ship_id, position } => {
                    self.prediction.set_ship(Some(ship_id));
                    self.ship_id = Some(ship_id);
                    self.ship_hint = position;
                    self.ship_status = ShipStatus::Alive;
                }
                GameEvent::Score(score) => self.score = score,
            },
            ServerMsg::World(world) => {
                (self.leaderboard.online, self.leaderboard.hotspot) = (world.online, world.hotspot)
            }
            ServerMsg::TopOnline(top) => self.leaderboard.top = top,
            ServerMsg::TopAllTime(top) => self.leaderboard.all_time = top,
            ServerMsg::Spectating(s) => {
                if self.phase != Phase::Connecting || !self.spectator {
                    return Err(ProtocolError::SecondWelcome);
                }
                self.constants = Some((s.kinematics, s.tick_hz));
                if s.place.is_some() {
                    self.place = s.place;
                }
                self.clock = Clock::new(s.tick_hz);
                self.clock.on_arrival(s.tick, now_ms);
                if let Some(opened) = self.opened_ms.take() {
                    self.clock.on_rtt(now_ms - opened, now_ms);
                }
                self.phase = Phase::Spectating;
                self.failed_attempts = 0;
                self.next_ping_ms = now_ms;
            }
            ServerMsg::Watching(watched) => self.watched = watched,
            ServerMsg::HandOver(hand_over) => self.hand_over = Some(hand_over),
            ServerMsg::Universe(map) => self.universe = Some(map),
        }
        Ok(Applied::Other)
    }
}

/// A `Welcome` for tests: player 1, ship 7 at `ship_position`, a 10,000-unit arena.
#[cfg(test)]
pub(crate) fn test_welcome(ship_position: [f32; 2]) -> ServerMsg {
    ServerMsg::Welcome(Welcome {
        protocol_version: shared::PROTOCOL_VERSION,
        player_id: 1,
        ship_id: 7,
        ship_position,
        tick: 10,
        tick_hz: 60,
        snapshot_hz: 20,
        max_view_size: [2560.0, 1600.0],
        kinematics: Kinematics::new([5000.0, 5000.0]),
        token: Some("0123456789abcdef0123456789abcdef".into()),
        total_points: 40,
        place: None,
        arrival: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::codec::decode_client;
    use shared::protocol::{EntityEnter, EntityKind, Rejected};
    use shared::quant::{Body, Ctrl, QState};

    fn welcome() -> ServerMsg {
        test_welcome([10.0, 20.0])
    }

    /// Hello first; Welcome starts play; a protocol mismatch asks for a reload and never
    /// reconnects.
    /// The Welcome's arrival after the Hello is a first round trip: the lead is sized for the
    /// link before the first input, not after a ping.
    /// An input the server never acknowledged (dropped from its full queue) is overdue a
    /// second past the round trip; an acknowledged one never is.
    #[test]
    fn an_unacknowledged_input_is_overdue_after_a_round_trip_and_a_second() {
        let mut s = Session::new("Ada", None);
        s.on_open(0.0);
        s.on_message(welcome(), 100.0).unwrap();
        s.send_input(Input { seq: 1, thrust: true, ..Input::default() }, 200.0);
        assert!(!s.input_overdue(200.0 + INPUT_RESEND_MS));
        assert!(s.input_overdue(200.0 + INPUT_RESEND_MS + 101.0));
        let ack = shared::protocol::InputAck { seq: 1, tick: 20, margin: 2 };
        s.on_message(ServerMsg::Snapshot(Snapshot { tick: 20, ack: Some(ack), ..Snapshot::default() }), 400.0).unwrap();
        assert!(!s.input_overdue(5000.0));
    }

    #[test]
    fn the_welcome_measures_a_first_round_trip() {
        let mut s = Session::new("Ada", None);
        s.on_open(1000.0);
        s.on_message(welcome(), 1300.0).unwrap();
        let lead = s.clock().lead();
        assert!((lead - (18.0 + crate::clock::TARGET_MARGIN_TICKS)).abs() < 1e-6, "lead {lead} ticks");
    }

    #[test]
    fn handshake_and_mismatch() {
        let mut s = Session::new("Ada", None);
        s.on_open(0.0);
        let hello = s.take_outgoing().unwrap();
        assert!(matches!(decode_client(&hello), Ok(ClientMsg::Hello(h)) if h.name == "Ada"));
        s.on_message(welcome(), 0.0).unwrap();
        assert_eq!(s.phase, Phase::Playing);
        assert_eq!(s.ship_hint, [10.0, 20.0]);
        assert_eq!(s.score.total_points, 40);
        assert_eq!(s.new_token.as_deref(), Some("0123456789abcdef0123456789abcdef"), "a new token is kept");
        s.on_close(1006, "");
        s.on_open(0.0);
        let hello = s.take_outgoing().unwrap();
        assert!(
            matches!(decode_client(&hello), Ok(ClientMsg::Hello(h)) if h.token.as_deref() == Some("0123456789abcdef0123456789abcdef")),
            "a reconnect presents the token"
        );

        let mut old = Session::new("Old", None);
        old.on_open(0.0);
        let rejected = Rejected { reason: RejectReason::ProtocolMismatch { server: 99 }, message: "x".into() };
        old.on_message(ServerMsg::Rejected(rejected), 0.0).unwrap();
        old.on_close(1008, "handshake rejected");
        assert!(matches!(&old.phase, Phase::Rejected { reload: true, message } if message.contains("reload")));
        assert!(!old.should_reconnect());
    }

    /// A refused new pilot (its address made too many this hour) is shown the server's words
    /// and not reconnected; a connection closed to try again later (1013: its address is full)
    /// is reconnected.
    #[test]
    fn too_many_new_pilots_is_final_try_again_later_is_not() {
        let mut s = Session::new("Newbie", None);
        s.on_open(0.0);
        let message = "too many new pilots from your address in the last hour: play under a name you already have";
        let rejected = Rejected { reason: RejectReason::TooManyNewIdentities, message: message.into() };
        s.on_message(ServerMsg::Rejected(rejected), 0.0).unwrap();
        s.on_close(1008, "handshake rejected");
        assert_eq!(s.phase, Phase::Rejected { message: message.into(), reload: false });
        assert!(!s.should_reconnect());
        let mut full = Session::new("Crowded", None);
        full.on_open(0.0);
        full.on_close(1013, "too many connections from this address");
        assert!(full.should_reconnect());
    }

    /// A session closed because its identity was revoked (4003) says so, forgets the token
    /// and is not reconnected.
    #[test]
    fn a_revoked_pilot_is_told_and_not_reconnected() {
        let mut s = Session::new("Ada", Some("t0ken".into()));
        s.on_open(0.0);
        s.on_close(shared::constants::CLOSE_IDENTITY_REVOKED, "identity revoked");
        assert!(matches!(&s.phase, Phase::Rejected { reload: false, message } if message.contains("revoked")));
        assert!(!s.should_reconnect());
        assert_eq!(s.token, None);
        assert!(s.token_void, "the page is told to forget the saved token");
    }

    /// A token the server refuses for this name is void: dropped, and the page told to
    /// forget it (a revoked pilot's browser could otherwise never claim the name again).
    #[test]
    fn a_refused_token_is_forgotten() {
        let mut s = Session::new("Ada", Some("stale".into()));
        s.on_open(0.0);
        let refused = Rejected { reason: RejectReason::InvalidToken, message: "not yours".into() };
        s.on_message(ServerMsg::Rejected(refused), 0.0).unwrap();
        assert!(s.token_void && s.token.is_none());
        assert!(!s.should_reconnect());
    }

    /// Regression (two tabs took the ship from each other forever): a session taken over by
    /// another connection (4001) says so and is not reconnected, and keeps its token so that
    /// Play takes the pilot back.
    #[test]
    fn a_replaced_session_does_not_reconnect() {
        let mut s = Session::new("Ada", Some("t0ken".into()));
        s.on_open(0.0);
        s.on_message(welcome(), 0.0).unwrap();
        s.on_close(shared::constants::CLOSE_REPLACED, "replaced by a newer connection");
        assert!(matches!(&s.phase, Phase::Rejected { reload: false, message } if message.contains("another tab")));
        assert!(!s.should_reconnect());
        assert!(s.token.is_some(), "the token is kept: Play takes the pilot back");
    }

    /// A snapshot before the Welcome, a second Welcome, and a snapshot that does not fit the
    /// replica are protocol errors, and leave the replica as it was.
    #[test]
    fn protocol_violations_are_errors() {
        let mut s = Session::new("Ada", None);
        s.on_open(0.0);
        let snap = |tick| ServerMsg::Snapshot(Snapshot { tick, ..Default::default() });
        assert_eq!(s.on_message(snap(5), 0.0).unwrap_err(), ProtocolError::SnapshotBeforeWelcome);
        s.on_message(welcome(), 0.0).unwrap();
        s.on_message(snap(5), 0.0).unwrap();
        assert!(matches!(s.on_message(snap(5), 0.0), Err(ProtocolError::BadSnapshot(_))));
        assert_eq!(s.on_message(welcome(), 0.0).unwrap_err(), ProtocolError::SecondWelcome);
        assert_eq!(s.replica().tick(), Some(5));
    }

    /// A snapshot moves the one replica, reports what the server corrected, and the ship's
    /// last known position follows the ship.
    #[test]
    fn snapshots_move_the_replica() {
        let mut s = Session::new("Ada", None);
        s.on_open(0.0);
        s.on_message(welcome(), 0.0).unwrap();
        let state = |x: f32| {
            QState::from_body(
                &Body { pos: glam::Vec2::new(x, 0.0), vel: glam::Vec2::ZERO, rot: glam::Vec2::X, angvel: 0.0 },
                Ctrl(0),
            )
        };
        let enter = Snapshot {
            tick: 20,
            entered: vec![EntityEnter { id: 7, kind: EntityKind::Ship, state: state(40.0), appearing: 0 }],
            ..Default::default()
        };
        assert!(
            matches!(s.on_message(ServerMsg::Snapshot(enter), 0.0), Ok(Applied::Snapshot { corrections, .. }) if corrections.is_empty())
        );
        assert_eq!(s.ship_hint, [40.0, 0.0]);
        let moved = Snapshot {
            tick: 21,
            changed: vec![shared::protocol::EntityUpdate { id: 7, state: state(43.0) }],
            ..Default::default()
        };
        let Ok(Applied::Snapshot { corrections, .. }) = s.on_message(ServerMsg::Snapshot(moved), 50.0) else {
            panic!()
        };
        assert_eq!(corrections.len(), 1);
        assert_eq!((corrections[0].predicted.position().x, corrections[0].actual.position().x), (40.0, 43.0));
        assert_eq!(s.replica().get(7).unwrap().state, state(43.0));
        assert_eq!(s.ship_hint, [43.0, 0.0]);
        assert_eq!(s.model().unwrap().replica.entities().len(), 1);
    }

    /// Lost connections reconnect with exponential backoff, reset by a successful welcome.
    #[test]
    fn reconnect_backoff() {
        let mut s = Session::new("Ada", None);
        s.on_open(0.0);
        s.on_message(welcome(), 0.0).unwrap();
        s.on_close(1006, "");
        assert!(s.should_reconnect());
        assert_eq!(s.reconnect_delay_ms(), 500.0);
        for want in [500.0, 1000.0, 2000.0, 4000.0, 8000.0, 10_000.0, 10_000.0] {
            s.on_open(0.0);
            s.on_close(1006, "");
            assert_eq!(s.reconnect_delay_ms(), want);
        }
        s.on_open(0.0);
        s.on_message(welcome(), 0.0).unwrap();
        s.on_close(1001, "server shutting down");
        assert_eq!(s.reconnect_delay_ms(), 500.0);
        assert!(matches!(&s.phase, Phase::Lost { reason } if reason.contains("shutting down")));
    }

    /// Pings go out every interval while playing, and their answers measure the round trip,
    /// even when the answer comes after the next ping went out.
    #[test]
    fn ping_measures_rtt() {
        let mut s = Session::new("Ada", None);
        s.on_open(0.0);
        s.take_outgoing();
        s.on_message(welcome(), 0.0).unwrap();
        let ping = |s: &mut Session| match decode_client(&s.take_outgoing().unwrap()) {
            Ok(ClientMsg::Ping { nonce }) => nonce,
            other => panic!("expected a ping, got {other:?}"),
        };
        s.poll(1000.0);
        let first = ping(&mut s);
        s.poll(1500.0);
        assert!(s.take_outgoing().is_none(), "not due yet");
        s.on_message(ServerMsg::Pong { nonce: first, tick: 5 }, 1042.0).unwrap();
        assert_eq!(s.rtt_ms, Some(42.0));
        s.poll(3000.0);
        let slow = ping(&mut s);
        s.poll(5000.0);
        let next = ping(&mut s);
        assert!(
            matches!(s.on_message(ServerMsg::Pong { nonce: slow, tick: 9 }, 5100.0), Ok(Applied::Pong { rtt_ms }) if rtt_ms == 2100.0)
        );
        s.on_message(ServerMsg::Pong { nonce: next, tick: 9 }, 5120.0).unwrap();
        assert_eq!(s.rtt_ms, Some(120.0));
    }

    /// Unanswered pings are forgotten beyond MAX_PENDING_PINGS: a dead link costs bounded
    /// memory.
    #[test]
    fn unanswered_pings_are_bounded() {
        let mut s = Session::new("Ada", None);
        s.on_open(0.0);
        s.on_message(welcome(), 0.0).unwrap();
        for i in 0..100 {
            s.poll(i as f64 * PING_INTERVAL_MS);
        }
        assert_eq!(s.pending_pings.len(), MAX_PENDING_PINGS);
    }

    /// The view is re-sent only when its centre moved more than VIEW_RESEND_DISTANCE or its
    /// size changed, and a reconnect sends it again.
    #[test]
    fn view_is_sent_when_it_moves() {
        let mut s = Session::new("Ada", None);
        s.on_open(0.0);
        s.take_outgoing();
        s.on_message(welcome(), 0.0).unwrap();
        let view = |x: f32, w: f32| ViewRect { center: [x, 0.0], size: [w, 800.0] };
        let sent = |s: &mut Session, v| {
            s.follow_view(v);
            s.take_outgoing().is_some()
        };
        assert!(sent(&mut s, view(0.0, 1000.0)));
        assert!(!sent(&mut s, view(VIEW_RESEND_DISTANCE, 1000.0)));
        assert!(sent(&mut s, view(VIEW_RESEND_DISTANCE + 1.0, 1000.0)));
        assert!(sent(&mut s, view(VIEW_RESEND_DISTANCE + 1.0, 1200.0)));
        s.on_open(0.0);
        s.take_outgoing();
        s.on_message(welcome(), 0.0).unwrap();
        assert!(sent(&mut s, view(VIEW_RESEND_DISTANCE + 1.0, 1200.0)), "a new connection knows no view");
    }

    fn sector(x: u16, players: u32, capacity: u32) -> SectorStatus {
        SectorStatus {
            sector: SectorCoord { x, y: 0 },
            url: format!("ws://127.0.0.{}:80/ws", x + 1),
            players,
            capacity,
        }
    }

    /// A hand-over takes the page into the next sector at once: the socket there, the ticket
    /// in its Hello, no banner, and the ship predicted from the arrival's state from the
    /// Welcome on (its base one tick before the Welcome's tick).
    #[test]
    fn a_hand_over_continues_in_the_next_sector() {
        let mut s = Session::new("Ada", Some("t".into()));
        s.on_open(0.0);
        s.take_outgoing();
        s.on_message(welcome(), 10.0).unwrap();
        let hand_over = HandOver { sector: SectorCoord { x: 1, y: 0 }, url: "ws://b/ws".into(), ticket: vec![9; 40] };
        s.on_message(ServerMsg::HandOver(hand_over), 20.0).unwrap();
        s.on_close(shared::constants::CLOSE_HANDED_OVER, "flew into a neighbouring sector");
        assert_eq!(s.phase, Phase::Crossing { sector: SectorCoord { x: 1, y: 0 } });
        assert!(s.should_reconnect());
        assert_eq!((s.reconnect_delay_ms(), s.socket_url()), (0.0, Some("ws://b/ws")));
        s.on_open(25.0);
        assert!(matches!(s.phase, Phase::Crossing { .. }), "still drawn, no banner");
        assert!(s.model().is_some(), "the constants are kept while crossing");
        let Ok(ClientMsg::Hello(hello)) = decode_client(&s.take_outgoing().unwrap()) else { panic!("a Hello") };
        assert_eq!(hello.ticket, Some(vec![9; 40]));
        let arrived =
            QState { pos: [-128_000, 0], vel: [25_600, 0], rot: [16384, 0], angvel: 0, ctrl: Ctrl(Ctrl::THRUST) };
        let ServerMsg::Welcome(mut w) = welcome() else { unreachable!() };
        w.tick = 500;
        w.arrival = Some(arrived);
        w.place = Some(Placement { sector: SectorCoord { x: 1, y: 0 }, universe_size: [2, 1], offset: [2000.0, 0.0] });
        let score = Score { hits: 3, points: 4, total_points: 44, ..Score::default() };
        s.score = score;
        s.on_message(ServerMsg::Welcome(w), 30.0).unwrap();
        assert_eq!(s.phase, Phase::Playing);
        assert_eq!(s.score, score, "the session's score flies on with the ship");
        assert_eq!(s.prediction().base_tick(), Some(499));
        s.advance(30.0);
        assert_eq!(s.prediction().state(499), Some(arrived));
        assert_eq!(s.place.map(|p| p.offset), Some([2000.0, 0.0]));
        // A dropped connection later reconnects to this sector, not the first.
        s.on_close(1006, "");
        assert_eq!(s.socket_url(), Some("ws://b/ws"));
    }

    /// A refused ticket is not the end: the page joins that sector as usual (not another one,
    /// though it knows others).
    #[test]
    fn a_refused_ticket_joins_as_usual() {
        let mut s = Session::new("Ada", Some("t".into()));
        for x in 0..3 {
            s.know_sector([3, 1], sector(x, 0, 100));
        }
        s.choose_sector(Some(SectorCoord { x: 2, y: 0 }));
        s.on_open(0.0);
        let rejected = Rejected { reason: RejectReason::InvalidTicket, message: "expired".into() };
        s.on_message(ServerMsg::Rejected(rejected), 5.0).unwrap();
        assert!(s.should_reconnect());
        s.on_close(1008, "handshake rejected");
        assert_eq!(s.socket_url(), Some("ws://127.0.0.3:80/ws"), "the same sector");
        s.on_open(600.0);
        let Ok(ClientMsg::Hello(hello)) = decode_client(&s.take_outgoing().unwrap()) else { panic!("a Hello") };
        assert_eq!((hello.ticket, hello.token.as_deref()), (None, Some("t")));
    }

    /// The page plays where the player chose unless that sector is full, else where it is
    /// least crowded; when its sector stops answering, it moves to the least crowded other one.
    #[test]
    fn sectors_are_chosen_by_load_and_failed_over() {
        let mut s = Session::new("Ada", None);
        assert_eq!(s.choose_sector(None), None, "no universe");
        s.know_sector([3, 1], sector(0, 10, 100));
        s.know_sector([3, 1], sector(1, 2, 100));
        s.know_sector([3, 1], sector(2, 50, 50));
        assert_eq!(s.choose_sector(None), Some("ws://127.0.0.2:80/ws"));
        assert_eq!(s.choose_sector(Some(SectorCoord { x: 0, y: 0 })), Some("ws://127.0.0.1:80/ws"));
        assert_eq!(s.choose_sector(Some(SectorCoord { x: 2, y: 0 })), Some("ws://127.0.0.2:80/ws"), "full");
        s.on_open(0.0);
        let ServerMsg::Welcome(mut w) = welcome() else { unreachable!() };
        w.place = Some(Placement { sector: SectorCoord { x: 1, y: 0 }, universe_size: [3, 1], offset: [0.0; 2] });
        s.on_message(ServerMsg::Welcome(w), 10.0).unwrap();
        s.on_close(1006, "");
        assert_eq!(s.socket_url(), Some("ws://127.0.0.2:80/ws"), "first, the same sector again");
        s.on_open(600.0);
        s.on_close(1006, "");
        assert_eq!(s.socket_url(), Some("ws://127.0.0.1:80/ws"), "then the least crowded other one");
        // A page that crossed into a sector that then died goes back where it came from.
        let mut t = Session::new("Bo", None);
        t.know_sector([2, 1], sector(0, 5, 100));
        t.know_sector([2, 1], sector(1, 1, 100));
        t.on_open(0.0);
        let ServerMsg::Welcome(mut w) = welcome() else { unreachable!() };
        w.place = Some(Placement { sector: SectorCoord { x: 0, y: 0 }, universe_size: [2, 1], offset: [0.0; 2] });
        t.on_message(ServerMsg::Welcome(w), 10.0).unwrap();
        let hand_over =
            HandOver { sector: SectorCoord { x: 1, y: 0 }, url: "ws://127.0.0.2:80/ws".into(), ticket: vec![1] };
        t.on_message(ServerMsg::HandOver(hand_over), 20.0).unwrap();
        t.on_close(shared::constants::CLOSE_HANDED_OVER, "");
        t.on_close(1006, "");
        assert_eq!(t.socket_url(), Some("ws://127.0.0.1:80/ws"), "back to the sector it left");
        t.on_open(30.0);
        let Ok(ClientMsg::Hello(hello)) = decode_client(&t.take_outgoing().unwrap()) else { panic!("a Hello") };
        assert_eq!(hello.ticket, None, "the ticket was for the dead sector");
    }
}
