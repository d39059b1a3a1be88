//! One connection's protocol state, as the page sees it: what to send, what the server said,
//! and the replica of the world in view. The page owns the socket; this decides everything.

use crate::stats::Stats;
use shared::codec::{decode_server, encode_client};
use shared::kinematics::Kinematics;
use shared::protocol::{
    ClientMsg, DeathCause, EntityId, GameEvent, Hello, Input, Leaderboard, RejectReason, Score, ServerMsg, Snapshot,
    ViewRect, Welcome,
};
use shared::replica::{ApplyReport, Replica};
use std::collections::VecDeque;

/// Interval between the client's pings, milliseconds.
pub const PING_INTERVAL_MS: f64 = 2000.0;
/// First reconnect delay, milliseconds; doubled per failed attempt up to [`RECONNECT_MAX_MS`].
pub const RECONNECT_BASE_MS: f64 = 500.0;
/// Longest reconnect delay, milliseconds.
pub const RECONNECT_MAX_MS: f64 = 10_000.0;

/// Where the connection stands.
#[derive(Clone, Debug, PartialEq)]
pub enum Phase {
    /// Socket opening or handshake in flight.
    Connecting,
    /// Welcomed: playing.
    Playing,
    /// The server refused us. `reload`: the page is out of date (protocol mismatch).
    Rejected {
        /// For the player.
        message: String,
        /// Whether reloading the page is the fix.
        reload: bool,
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

/// What applying one server message changed, for the view.
#[derive(Debug)]
pub enum Applied {
    /// A snapshot: the replica moved to its tick.
    Snapshot {
        /// The snapshot itself (the view needs its `changed` ids).
        snapshot: Snapshot,
        /// What the replica reported.
        report: ApplyReport,
    },
    /// Anything else.
    Other,
}

/// The connection's state.
#[derive(Debug)]
pub struct Session {
    name: String,
    token: Option<String>,
    /// Where the connection stands.
    pub phase: Phase,
    /// The server's welcome (constants, ids), once received.
    pub welcome: Option<Welcome>,
    /// The world in view, exactly as the server has it at [`Replica::tick`].
    pub replica: Replica,
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
    /// Figures for the debug object.
    pub stats: Stats,
    /// A token the server just issued, for the page to keep (taken once).
    pub new_token: Option<String>,
    outgoing: VecDeque<Vec<u8>>,
    ping_nonce: u32,
    pending_ping: Option<(u32, f64)>,
    next_ping_ms: f64,
    failed_attempts: u32,
}

impl Session {
    /// A session for a player called `name` (a token continues an earlier identity).
    pub fn new(name: &str, token: Option<String>) -> Session {
        Session {
            name: name.to_string(),
            token,
            phase: Phase::Connecting,
            welcome: None,
            replica: Replica::new(),
            ship_id: None,
            ship_hint: [0.0, 0.0],
            ship_status: ShipStatus::Alive,
            score: Score::default(),
            leaderboard: Leaderboard::default(),
            rtt_ms: None,
            stats: Stats::default(),
            new_token: None,
            outgoing: VecDeque::new(),
            ping_nonce: 0,
            pending_ping: None,
            next_ping_ms: 0.0,
            failed_attempts: 0,
        }
    }

    /// The motion constants, once welcomed.
    pub fn kinematics(&self) -> Option<&Kinematics> {
        self.welcome.as_ref().map(|w| &w.kinematics)
    }

    /// The socket opened: start over with a Hello (a reconnect starts from nothing).
    pub fn on_open(&mut self) {
        self.phase = Phase::Connecting;
        self.welcome = None;
        self.replica.clear();
        self.outgoing.clear();
        self.pending_ping = None;
        let hello =
            Hello { protocol_version: shared::PROTOCOL_VERSION, name: self.name.clone(), token: self.token.clone() };
        self.outgoing.push_back(encode_client(&ClientMsg::Hello(hello)));
    }

    /// The socket closed. Unless the server rejected us, the page should reconnect.
    pub fn on_close(&mut self, code: u16, reason: &str) {
        if matches!(self.phase, Phase::Rejected { .. }) {
            return;
        }
        if self.phase != Phase::Playing {
            self.failed_attempts += 1;
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
        matches!(self.phase, Phase::Lost { .. })
    }

    /// Exponential backoff: 0.5 s, 1 s, 2 s … up to 10 s while attempts keep failing.
    pub fn reconnect_delay_ms(&self) -> f64 {
        let exp = self.failed_attempts.saturating_sub(1).min(10);
        (RECONNECT_BASE_MS * f64::from(1u32 << exp)).min(RECONNECT_MAX_MS)
    }

    /// The next message to send, if any.
    pub fn take_outgoing(&mut self) -> Option<Vec<u8>> {
        self.outgoing.pop_front()
    }

    /// Queues an input (only while playing).
    pub fn send_input(&mut self, input: Input) {
        if self.phase == Phase::Playing {
            self.outgoing.push_back(encode_client(&ClientMsg::Input(input)));
        }
    }

    /// Queues a view change (only while playing).
    pub fn send_view(&mut self, view: ViewRect) {
        if self.phase == Phase::Playing {
            self.outgoing.push_back(encode_client(&ClientMsg::View(view)));
        }
    }

    /// Sends a ping when one is due.
    pub fn poll(&mut self, now_ms: f64) {
        if self.phase == Phase::Playing && now_ms >= self.next_ping_ms {
            self.ping_nonce = self.ping_nonce.wrapping_add(1);
            self.pending_ping = Some((self.ping_nonce, now_ms));
            self.next_ping_ms = now_ms + PING_INTERVAL_MS;
            self.outgoing.push_back(encode_client(&ClientMsg::Ping { nonce: self.ping_nonce }));
        }
    }

    /// Handles one binary message from the server.
    pub fn on_message(&mut self, bytes: &[u8], now_ms: f64) -> Result<Applied, String> {
        self.stats.bytes.add(now_ms, bytes.len() as f64);
        let msg = decode_server(bytes).map_err(|e| format!("undecodable server message: {e}"))?;
        match msg {
            ServerMsg::Welcome(w) => {
                if let Some(token) = &w.token {
                    // Later reconnects of this page present it to stay the same identity.
                    self.token = Some(token.clone());
                    self.new_token = Some(token.clone());
                }
                self.score = Score { total_points: w.total_points, ..Score::default() };
                self.ship_id = Some(w.ship_id);
                self.ship_hint = w.ship_position;
                self.ship_status = ShipStatus::Alive;
                self.welcome = Some(w);
                self.phase = Phase::Playing;
                self.failed_attempts = 0;
                self.next_ping_ms = now_ms;
            }
            ServerMsg::Rejected(r) => {
                let reload = matches!(r.reason, RejectReason::ProtocolMismatch { .. });
                let message =
                    if reload { "The server was updated: reload the page to play.".to_string() } else { r.message };
                self.phase = Phase::Rejected { message, reload };
            }
            ServerMsg::Snapshot(snapshot) => {
                let Some(kin) = self.welcome.as_ref().map(|w| w.kinematics) else {
                    return Err("snapshot before Welcome".into());
                };
                let report = self.replica.apply(&snapshot, &kin).map_err(|e| e.to_string())?;
                self.stats.snapshots.add(now_ms, 1.0);
                if let Some(ship) = self.ship_id.and_then(|id| self.replica.get(id)) {
                    self.ship_hint = ship.state.position().into();
                }
                return Ok(Applied::Snapshot { snapshot, report });
            }
            ServerMsg::Pong { nonce, .. } => {
                if let Some((sent_nonce, sent_ms)) = self.pending_ping {
                    if sent_nonce == nonce {
                        self.rtt_ms = Some(now_ms - sent_ms);
                        self.pending_ping = None;
                    }
                }
            }
            ServerMsg::Event(event) => match event {
                GameEvent::ShipDestroyed { ship_id, cause, respawn_in_ticks } => {
                    if Some(ship_id) == self.ship_id {
                        let tick_ms = self.welcome.as_ref().map_or(1000.0 / 60.0, |w| 1000.0 / w.tick_hz as f64);
                        let cause = match cause {
                            DeathCause::Asteroid => "hit an asteroid".to_string(),
                            DeathCause::Shot { by } => format!("shot by {by}"),
                            DeathCause::Collision { with } => format!("collided with {with}"),
                        };
                        self.ship_status =
                            ShipStatus::Dead { cause, respawn_at_ms: now_ms + respawn_in_ticks as f64 * tick_ms };
                    }
                }
                GameEvent::ShipSpawned { ship_id, position } => {
                    self.ship_id = Some(ship_id);
                    self.ship_hint = position;
                    self.ship_status = ShipStatus::Alive;
                }
                GameEvent::Score(score) => self.score = score,
            },
            ServerMsg::Leaderboard(board) => self.leaderboard = board,
        }
        Ok(Applied::Other)
    }
}

/// An encoded `Welcome` for tests: player 1, ship 7 at `ship_position`, a 10,000-unit arena.
#[cfg(test)]
pub(crate) fn test_welcome(ship_position: [f32; 2]) -> Vec<u8> {
    shared::codec::encode_server(&ServerMsg::Welcome(Welcome {
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
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::codec::encode_server;
    use shared::protocol::Rejected;

    fn welcome() -> Vec<u8> {
        test_welcome([10.0, 20.0])
    }

    /// Hello first; Welcome starts play; a protocol mismatch asks for a reload and never
    /// reconnects.
    #[test]
    fn handshake_and_mismatch() {
        let mut s = Session::new("Ada", None);
        s.on_open();
        let hello = s.take_outgoing().unwrap();
        assert!(matches!(shared::codec::decode_client(&hello), Ok(ClientMsg::Hello(h)) if h.name == "Ada"));
        s.on_message(&welcome(), 0.0).unwrap();
        assert_eq!(s.phase, Phase::Playing);
        assert_eq!(s.ship_hint, [10.0, 20.0]);
        assert_eq!(s.score.total_points, 40);
        assert_eq!(s.new_token.as_deref(), Some("0123456789abcdef0123456789abcdef"), "a new token is kept");
        s.on_close(1006, "");
        s.on_open();
        let hello = s.take_outgoing().unwrap();
        assert!(
            matches!(shared::codec::decode_client(&hello), Ok(ClientMsg::Hello(h)) if h.token.as_deref() == Some("0123456789abcdef0123456789abcdef")),
            "a reconnect presents the token"
        );

        let mut old = Session::new("Old", None);
        old.on_open();
        let rejected = Rejected { reason: RejectReason::ProtocolMismatch { server: 99 }, message: "x".into() };
        old.on_message(&encode_server(&ServerMsg::Rejected(rejected)), 0.0).unwrap();
        old.on_close(1008, "handshake rejected");
        assert!(matches!(&old.phase, Phase::Rejected { reload: true, message } if message.contains("reload")));
        assert!(!old.should_reconnect());
    }

    /// Lost connections reconnect with exponential backoff, reset by a successful welcome.
    #[test]
    fn reconnect_backoff() {
        let mut s = Session::new("Ada", None);
        s.on_open();
        s.on_message(&welcome(), 0.0).unwrap();
        s.on_close(1006, "");
        assert!(s.should_reconnect());
        assert_eq!(s.reconnect_delay_ms(), 500.0);
        for want in [500.0, 1000.0, 2000.0, 4000.0, 8000.0, 10_000.0, 10_000.0] {
            s.on_open();
            s.on_close(1006, "");
            assert_eq!(s.reconnect_delay_ms(), want);
        }
        s.on_open();
        s.on_message(&welcome(), 0.0).unwrap();
        s.on_close(1001, "server shutting down");
        assert_eq!(s.reconnect_delay_ms(), 500.0);
        assert!(matches!(&s.phase, Phase::Lost { reason } if reason.contains("shutting down")));
    }

    /// Pings go out every interval while playing, and their answers measure the round trip.
    #[test]
    fn ping_measures_rtt() {
        let mut s = Session::new("Ada", None);
        s.on_open();
        s.take_outgoing();
        s.on_message(&welcome(), 0.0).unwrap();
        s.poll(1000.0);
        let ping = s.take_outgoing().unwrap();
        let Ok(ClientMsg::Ping { nonce }) = shared::codec::decode_client(&ping) else { panic!() };
        s.poll(1500.0);
        assert!(s.take_outgoing().is_none(), "not due yet");
        s.on_message(&encode_server(&ServerMsg::Pong { nonce, tick: 5 }), 1042.0).unwrap();
        assert_eq!(s.rtt_ms, Some(42.0));
    }
}
