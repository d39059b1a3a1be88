//! One connection's session, as the page (and every bot) runs it, in four parts:
//!
//! - [`connection`]: the protocol state (phase, handshake, pings, backoff, what to send);
//! - [`world`]: what the server said of the world (the one replica, the clocks, the own ship
//!   and its prediction);
//! - [`standing`]: the score and the boards the HUD reads;
//! - [`navigation`]: where to connect (the universe's sectors, hand-overs, fail-over).
//!
//! A connection and its world are separate values, so that one page can hold two pairs (its
//! home sector and a neighbour's strip). The socket belongs to whoever drives this (the page's
//! `main.js` through [`crate::client::Client`], or a bot's tokio-tungstenite task): they decode
//! each server message once and hand it to [`Session::on_message`], a dispatcher to the parts,
//! and send what [`Session::take_outgoing`] yields.

pub mod connection;
pub mod navigation;
pub mod standing;
pub mod world;

pub use connection::{Connection, Phase, MAX_PENDING_PINGS, PING_INTERVAL_MS, RECONNECT_BASE_MS, RECONNECT_MAX_MS};
pub use navigation::Navigation;
pub use standing::Standing;
pub use world::{Model, ShipStatus, World};

use crate::clock::Clock;
use crate::predict::{Prediction, Reconciled};
use connection::Closed;
use shared::codec::DecodeError;
use shared::protocol::{
    ClientMsg, EntityId, GameEvent, Input, SectorCoord, SectorStatus, ServerMsg, Snapshot, Spectating, ViewRect,
    Welcome,
};
use shared::quant::QState;
use shared::replica::{ApplyError, Correction, Replica};

/// How long past a round trip an input may stay unacknowledged before the controls are sent
/// again, milliseconds: the server drops inputs when its simulation's queue is full (counted
/// as `dropped_inputs`), and a dropped key release would otherwise hold until the next key.
pub const INPUT_RESEND_MS: f64 = 1000.0;

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

/// A page's (or a bot's) session.
#[derive(Debug)]
pub struct Session {
    /// The protocol state of the connection.
    pub connection: Connection,
    /// What the connection has been told of the world.
    pub world: World,
    /// The score and the boards.
    pub standing: Standing,
    /// Where to connect.
    pub nav: Navigation,
}

impl Session {
    /// A session that watches without playing: the page before its player joins.
    pub fn spectator() -> Session {
        Session::with(Connection::new("", None, true))
    }

    /// A session for a player called `name` (a token continues an earlier identity).
    pub fn new(name: &str, token: Option<String>) -> Session {
        Session::with(Connection::new(name, token, false))
    }

    fn with(connection: Connection) -> Session {
        Session { connection, world: World::default(), standing: Standing::default(), nav: Navigation::default() }
    }

    /// Where the connection stands.
    pub fn phase(&self) -> &Phase {
        &self.connection.phase
    }

    /// The game socket the page should open next: `None` for its own server's.
    pub fn socket_url(&self) -> Option<&str> {
        self.nav.socket_url()
    }

    /// The world in view, exactly as the server has it at [`Replica::tick`].
    pub fn replica(&self) -> &Replica {
        self.world.replica()
    }

    /// The replica with its motion constants, clocks and the own ship's prediction, once
    /// welcomed.
    pub fn model(&self) -> Option<Model<'_>> {
        self.world.model()
    }

    /// The clocks.
    pub fn clock(&self) -> &Clock {
        self.world.clock()
    }

    /// The own ship's prediction.
    pub fn prediction(&self) -> &Prediction {
        self.world.prediction()
    }

    /// Extends the own ship's prediction to the tick after the one it is drawn at now (call
    /// after [`Session::poll`] and the frame's input, before drawing).
    pub fn predict(&mut self) {
        self.world.predict();
    }

    /// Moves the clocks to `now_ms` and the own ship's prediction with them: what is drawn
    /// now. The page calls it before taking the drawn positions a message may change, so that
    /// only the message, not the time since the last frame, moves them.
    pub fn advance(&mut self, now_ms: f64) {
        self.world.advance(now_ms);
    }

    /// The own ship while it flies (none while waiting to respawn).
    pub fn alive_ship(&self) -> Option<EntityId> {
        self.world.alive_ship()
    }

    /// The socket opened at `now_ms`: start over with a Hello (a reconnect starts from
    /// nothing, but a ship crossing into the next sector is still drawn from its prediction
    /// until the Welcome there rebases it). The answer's arrival measures a first round trip.
    pub fn on_open(&mut self, now_ms: f64) {
        let ticket = self.nav.take_ticket();
        let crossing = ticket.is_some() && matches!(self.connection.phase, Phase::Crossing { .. });
        self.world.reopen(crossing);
        self.connection.open(now_ms, ticket);
    }

    /// The socket closed. Unless the server rejected us, the page should reconnect: into the
    /// next sector at once after a hand-over, elsewhere after a failed attempt if the
    /// universe has an elsewhere.
    pub fn on_close(&mut self, code: u16, reason: &str) {
        if matches!(self.connection.phase, Phase::Rejected { .. }) {
            return;
        }
        if let Some(hand_over) = self.nav.hand_over.take() {
            // Into the next sector at once, where the ship continues from the ticket's state.
            let sector = self.nav.cross(hand_over);
            self.connection.crossing(sector);
            return;
        }
        if self.connection.closed(code, reason) == Closed::Failed {
            self.nav.fail_over();
        }
    }

    /// Whether the page should open a new socket (after waiting [`Self::reconnect_delay_ms`]).
    pub fn should_reconnect(&self) -> bool {
        self.connection.should_reconnect()
    }

    /// Exponential backoff: 0.5 s, 1 s, 2 s … up to 10 s while attempts keep failing; none
    /// into the next sector.
    pub fn reconnect_delay_ms(&self) -> f64 {
        self.connection.reconnect_delay_ms()
    }

    /// The next message to send, if any.
    pub fn take_outgoing(&mut self) -> Option<Vec<u8>> {
        self.connection.take_outgoing()
    }

    /// Queues an input (only while playing), naming the own ship's next tick, and predicts
    /// with it from that tick on.
    pub fn send_input(&mut self, input: Input, now_ms: f64) {
        if self.connection.phase == Phase::Playing {
            let input = self.world.stamp(input, now_ms);
            self.connection.send(&ClientMsg::Input(input));
        }
    }

    /// Whether the newest input has gone unacknowledged for [`INPUT_RESEND_MS`] past a round
    /// trip: it was lost, and the controls must be sent again.
    pub fn input_overdue(&self, now_ms: f64) -> bool {
        let rtt = self.connection.rtt_ms.unwrap_or(crate::clock::ASSUMED_RTT_MS);
        self.connection.phase == Phase::Playing
            && self.world.prediction().newest_unacked_ms().is_some_and(|sent| now_ms - sent > INPUT_RESEND_MS + rtt)
    }

    /// Asks for `view` when it moved (see [`Connection::follow_view`]).
    pub fn follow_view(&mut self, view: ViewRect) {
        self.connection.follow_view(view);
    }

    /// Moves the clocks to `now_ms`, and sends a ping when one is due.
    pub fn poll(&mut self, now_ms: f64) {
        self.world.clock_to(now_ms);
        self.connection.ping_if_due(now_ms);
    }

    /// A sector of the universe, as the page read it from `/api/universe` (see
    /// [`Navigation::know_sector`]).
    pub fn know_sector(&mut self, universe_size: [u16; 2], sector: SectorStatus) {
        self.nav.know_sector(universe_size, sector);
    }

    /// Where to play (see [`Navigation::choose_sector`]).
    pub fn choose_sector(&mut self, wanted: Option<SectorCoord>) -> Option<&str> {
        self.nav.choose_sector(wanted)
    }

    /// What a snapshot kept elsewhere (a light bot's last sightings) showed of the own ship:
    /// the same as [`Session::on_message`] does with a snapshot it applies itself.
    pub fn observed(&mut self, snapshot: &Snapshot, own: Option<QState>, now_ms: f64) -> Reconciled {
        self.world.observed(snapshot, own, now_ms)
    }

    /// Applies one (decoded) message from the server at `now_ms`: each goes to the part it
    /// concerns.
    pub fn on_message(&mut self, msg: ServerMsg, now_ms: f64) -> Result<Applied, ProtocolError> {
        match msg {
            ServerMsg::Welcome(w) => self.welcome(w, now_ms)?,
            ServerMsg::Spectating(s) => self.spectating(s, now_ms)?,
            ServerMsg::Rejected(r) => self.connection.rejected(r),
            ServerMsg::Snapshot(snapshot) => return self.world.apply(snapshot, now_ms),
            ServerMsg::Pong { nonce, .. } => {
                if let Some(rtt_ms) = self.connection.pong(nonce, now_ms) {
                    self.world.on_rtt(rtt_ms, now_ms);
                    return Ok(Applied::Pong { rtt_ms });
                }
            }
            ServerMsg::Event(GameEvent::Score(score)) => self.standing.score = score,
            ServerMsg::Event(event) => self.world.on_event(&event, now_ms),
            ServerMsg::World(world) => self.standing.world(world),
            ServerMsg::TopOnline(top) => self.standing.top(top),
            ServerMsg::TopAllTime(top) => self.standing.all_time(top),
            ServerMsg::Watching(watched) => self.world.watched = watched,
            ServerMsg::HandOver(hand_over) => self.nav.hand_over = Some(hand_over),
            ServerMsg::Universe(map) => self.nav.universe = Some(map),
        }
        Ok(Applied::Other)
    }

    /// A player's `Welcome`: the connection plays, the world starts from it (or continues a
    /// ship arriving from another sector), the score starts or continues.
    fn welcome(&mut self, w: Welcome, now_ms: f64) -> Result<(), ProtocolError> {
        if !matches!(self.connection.phase, Phase::Connecting | Phase::Crossing { .. }) {
            return Err(ProtocolError::SecondWelcome);
        }
        let rtt_ms = self.connection.welcomed(true, w.token.as_deref(), now_ms);
        self.standing.welcomed(w.total_points, w.arrival.is_some());
        if w.place.is_some() {
            self.nav.place = w.place;
        }
        self.world.welcomed(w, rtt_ms, now_ms);
        Ok(())
    }

    /// A spectator's `Spectating`.
    fn spectating(&mut self, s: Spectating, now_ms: f64) -> Result<(), ProtocolError> {
        if self.connection.phase != Phase::Connecting || !self.connection.is_spectator() {
            return Err(ProtocolError::SecondWelcome);
        }
        let rtt_ms = self.connection.welcomed(false, None, now_ms);
        if s.place.is_some() {
            self.nav.place = s.place;
        }
        self.world.spectating(&s, rtt_ms, now_ms);
        Ok(())
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
        kinematics: shared::kinematics::Kinematics::new([5000.0, 5000.0]),
        token: Some("0123456789abcdef0123456789abcdef".into()),
        total_points: 40,
        place: None,
        arrival: None,
    })
}

#[cfg(test)]
mod tests {
    use super::connection::VIEW_RESEND_DISTANCE;
    use super::*;
    use shared::codec::decode_client;
    use shared::protocol::{EntityEnter, EntityKind, Rejected};
    use shared::protocol::{HandOver, Placement, RejectReason, Score};
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
        assert_eq!(s.connection.phase, Phase::Playing);
        assert_eq!(s.world.ship_hint, [10.0, 20.0]);
        assert_eq!(s.standing.score.total_points, 40);
        assert_eq!(s.connection.new_token.as_deref(), Some("0123456789abcdef0123456789abcdef"), "a new token is kept");
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
        assert!(
            matches!(&old.connection.phase, Phase::Rejected { reload: true, message } if message.contains("reload"))
        );
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
        assert_eq!(s.connection.phase, Phase::Rejected { message: message.into(), reload: false });
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
        assert!(
            matches!(&s.connection.phase, Phase::Rejected { reload: false, message } if message.contains("revoked"))
        );
        assert!(!s.should_reconnect());
        assert_eq!(s.connection.token(), None);
        assert!(s.connection.token_void, "the page is told to forget the saved token");
    }

    /// A token the server refuses for this name is void: dropped, and the page told to
    /// forget it (a revoked pilot's browser could otherwise never claim the name again).
    #[test]
    fn a_refused_token_is_forgotten() {
        let mut s = Session::new("Ada", Some("stale".into()));
        s.on_open(0.0);
        let refused = Rejected { reason: RejectReason::InvalidToken, message: "not yours".into() };
        s.on_message(ServerMsg::Rejected(refused), 0.0).unwrap();
        assert!(s.connection.token_void && s.connection.token().is_none());
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
        assert!(
            matches!(&s.connection.phase, Phase::Rejected { reload: false, message } if message.contains("another tab"))
        );
        assert!(!s.should_reconnect());
        assert!(s.connection.token().is_some(), "the token is kept: Play takes the pilot back");
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
        assert_eq!(s.world.ship_hint, [40.0, 0.0]);
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
        assert_eq!(s.world.ship_hint, [43.0, 0.0]);
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
        assert!(matches!(&s.connection.phase, Phase::Lost { reason } if reason.contains("shutting down")));
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
        assert_eq!(s.connection.rtt_ms, Some(42.0));
        s.poll(3000.0);
        let slow = ping(&mut s);
        s.poll(5000.0);
        let next = ping(&mut s);
        assert!(
            matches!(s.on_message(ServerMsg::Pong { nonce: slow, tick: 9 }, 5100.0), Ok(Applied::Pong { rtt_ms }) if rtt_ms == 2100.0)
        );
        s.on_message(ServerMsg::Pong { nonce: next, tick: 9 }, 5120.0).unwrap();
        assert_eq!(s.connection.rtt_ms, Some(120.0));
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
        assert_eq!(s.connection.pending_pings.len(), MAX_PENDING_PINGS);
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
        assert_eq!(s.connection.phase, Phase::Crossing { sector: SectorCoord { x: 1, y: 0 } });
        assert!(s.should_reconnect());
        assert_eq!((s.reconnect_delay_ms(), s.socket_url()), (0.0, Some("ws://b/ws")));
        s.on_open(25.0);
        assert!(matches!(s.connection.phase, Phase::Crossing { .. }), "still drawn, no banner");
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
        s.standing.score = score;
        s.on_message(ServerMsg::Welcome(w), 30.0).unwrap();
        assert_eq!(s.connection.phase, Phase::Playing);
        assert_eq!(s.standing.score, score, "the session's score flies on with the ship");
        assert_eq!(s.prediction().base_tick(), Some(499));
        s.advance(30.0);
        assert_eq!(s.prediction().state(499), Some(arrived));
        assert_eq!(s.nav.place.map(|p| p.offset), Some([2000.0, 0.0]));
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
