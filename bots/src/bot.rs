//! One bot's connection. The protocol is the page's: an [`asteroids_client::session::Session`]
//! makes the Hello, applies the messages, times the pings and asks for views, and an
//! [`asteroids_client::input::Controls`] turns the pilot's intents into inputs. What is the
//! bot's own is the socket (see [`crate::socket`]), the deadline, the [`Meter`], and what it
//! remembers of the world (its `Memory`): the session's full replica, or, for a light bot, only
//! the last sightings ([`LastSeen`]), so that thousands of bots fit beside the server.

use crate::abuse::Misdeed;
use crate::behavior::Role;
use crate::light::LastSeen;
use crate::measure::{carried, BotResult, Live, Meter};
use crate::pilot::{InReplica, Pilot};
use crate::socket::{Endpoint, Ws};
use asteroids_client::input::Controls;
use asteroids_client::session::{Applied, Phase, ProtocolError, Session};
use futures_util::{SinkExt, StreamExt};
use rand::rngs::SmallRng;
use shared::codec::decode_server;
use shared::protocol::{ServerMsg, ViewRect};
use std::net::Ipv4Addr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// The view every bot asks for: a 1920×1080 screen, centred on its ship.
pub const BOT_VIEW: [f32; 2] = [1920.0, 1080.0];
/// How often a player bot reconsiders its controls (and lets its session ping).
pub const THINK_INTERVAL: Duration = Duration::from_millis(100);
/// Longest a bot waits to connect and be welcomed.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a bot whose send failed keeps reading what the server still sent.
pub const DRAIN_AFTER_SEND_FAILURE: Duration = Duration::from_secs(1);

/// One bot, as the swarm makes it.
#[derive(Debug)]
pub struct BotSpec {
    /// Its name (an identity on the server).
    pub name: String,
    /// Player or hostile.
    pub role: Role,
    /// Its random choices.
    pub rng: SmallRng,
    /// Keeps the page's full replica and measures dead-reckoning error; otherwise light.
    pub full_replica: bool,
    /// The local address its socket binds to, if any (see [`crate::source`]).
    pub source: Option<Ipv4Addr>,
}

/// What a bot remembers of the world in view.
#[derive(Debug)]
enum Memory {
    /// The session's own replica: every entity predicted through every snapshot.
    Replica,
    /// Each entity as last seen; only the own ship predicted (see [`crate::light`]).
    LastSeen(LastSeen),
}

/// One bot: the page's session and controls, a role, what it remembers, and its measurements.
struct Bot {
    session: Session,
    controls: Controls,
    role: Role,
    rng: SmallRng,
    memory: Memory,
    meter: Meter,
}

impl Bot {
    /// Sends everything the session queued.
    async fn flush(&mut self, ws: &mut Ws) -> Result<(), String> {
        while let Some(msg) = self.session.take_outgoing() {
            ws.send(Message::Binary(msg.into())).await.map_err(|e| format!("send: {e}"))?;
        }
        Ok(())
    }

    /// The ship is in a new sector (or its first): a voyager picks a heading for it.
    fn entered_sector(&mut self) {
        let now_ms = self.meter.ms_since_start(Instant::now());
        let open = self.session.world.welcome.as_ref().map(|w| w.kinematics.open_edges).unwrap_or_default();
        if let Role::Player(Pilot::Voyage(v)) = &mut self.role {
            v.entered(open, now_ms, &mut self.rng);
        }
    }

    /// Follows a hand-over: opens the next sector's socket (from `source`) and presents the
    /// ticket there; the ship's memory of the last sector is forgotten.
    async fn cross(&mut self, source: Option<Ipv4Addr>) -> Result<Ws, String> {
        let url = self.session.socket_url().ok_or("a hand-over without a socket")?.to_string();
        let endpoint = Endpoint::resolve(&url, source.is_some()).await?;
        if let Memory::LastSeen(seen) = &mut self.memory {
            *seen = LastSeen::new();
        }
        let ws = tokio::time::timeout(CONNECT_TIMEOUT, self.connect(&endpoint, source))
            .await
            .unwrap_or_else(|_| Err("connect timeout".to_string()))?;
        self.entered_sector();
        Ok(ws)
    }

    /// Connects (from `source`, if given), says Hello through the session, and waits for the
    /// Welcome.
    async fn connect(&mut self, endpoint: &Endpoint, source: Option<Ipv4Addr>) -> Result<Ws, String> {
        let mut ws = endpoint.open(source).await?;
        self.session.on_open(self.meter.ms_since_start(Instant::now()));
        self.flush(&mut ws).await?;
        loop {
            let bytes = match ws.next().await {
                Some(Ok(Message::Binary(b))) => b,
                Some(Ok(Message::Close(f))) => return Err(format!("closed during handshake: {f:?}")),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(format!("handshake: {e}")),
                None => return Err("closed during handshake".into()),
            };
            let msg = decode_server(&bytes).map_err(|e| e.to_string())?;
            let refused = match &msg {
                ServerMsg::Welcome(_) => None,
                ServerMsg::Rejected(r) => Some(format!("rejected: {:?}", r.reason)),
                other => return Err(format!("expected Welcome, got {other:?}")),
            };
            let now_ms = self.meter.ms_since_start(Instant::now());
            self.session.on_message(msg, now_ms).map_err(|e| e.to_string())?;
            return match (refused, &self.session.connection.phase) {
                (None, Phase::Playing) => Ok(ws),
                (refused, phase) => Err(refused.unwrap_or_else(|| format!("not playing after Welcome: {phase:?}"))),
            };
        }
    }

    /// Decodes one message (once), applies it, and measures what it did. Snapshots go to the
    /// bot's memory (the session's replica, or the last sightings); everything else to the
    /// session.
    fn receive(&mut self, bytes: &[u8], live: &Live) -> Result<(), ProtocolError> {
        let now = Instant::now();
        self.meter.received(bytes.len(), live);
        let msg = decode_server(bytes).map_err(ProtocolError::Undecodable)?;
        if matches!(msg, ServerMsg::World(_) | ServerMsg::TopOnline(_) | ServerMsg::TopAllTime(_)) {
            self.meter.leaderboard(bytes.len());
        }
        if matches!(msg, ServerMsg::HandOver(_)) {
            self.meter.handed_over(now);
        }
        let now_ms = self.meter.ms_since_start(now);
        match (&mut self.memory, msg) {
            (Memory::LastSeen(seen), ServerMsg::Snapshot(snapshot)) => {
                let s = &mut self.session;
                let kin = s.world.welcome.as_ref().map(|w| w.kinematics).ok_or(ProtocolError::SnapshotBeforeWelcome)?;
                seen.apply(&snapshot, s.world.ship_id, &kin).map_err(ProtocolError::BadSnapshot)?;
                // The rest is what the session does after applying a snapshot to its replica.
                let own = s.world.ship_id.and_then(|id| seen.ship(id));
                let reconciled = s.observed(&snapshot, own, now_ms);
                self.meter.reconciled(&reconciled);
                if self.meter.crossing() {
                    self.meter.arrived(now, &reconciled);
                }
                self.meter.snapshot(now, seen.len(), live);
            }
            (Memory::Replica, ServerMsg::Snapshot(snapshot)) => {
                let carried = carried(self.session.replica(), &snapshot);
                let applied = self.session.on_message(ServerMsg::Snapshot(snapshot), now_ms)?;
                if let Applied::Snapshot { snapshot, corrections, own } = applied {
                    self.meter.reconciled(&own);
                    if self.meter.crossing() {
                        self.meter.arrived(now, &own);
                    }
                    let replica = self.session.replica();
                    self.meter.snapshot(now, replica.entities().len(), live);
                    self.meter.predicted(&snapshot, carried, &corrections, replica);
                }
            }
            (_, msg) => {
                if let Applied::Pong { rtt_ms } = self.session.on_message(msg, now_ms)? {
                    self.meter.round_trip(rtt_ms);
                }
            }
        }
        Ok(())
    }

    /// The bot's turn: play, or misbehave. Then send what the session queued.
    async fn act(&mut self, ws: &mut Ws) -> Result<(), String> {
        let now_ms = self.meter.ms_since_start(Instant::now());
        let seen = self.meter.seen_snapshot();
        match &mut self.role {
            Role::Player(pilot) => {
                steer(&mut self.session, &mut self.controls, pilot, &mut self.rng, &self.memory, now_ms)
            }
            Role::Hostile(abuse) => {
                let reads = abuse.reads(seen);
                match abuse.act(seen, &mut self.rng) {
                    Misdeed::Send(bytes) => {
                        ws.send(Message::Binary(bytes.into())).await.map_err(|e| format!("send: {e}"))?
                    }
                    Misdeed::Behave => {
                        let idle = &mut Pilot::Idle;
                        steer(&mut self.session, &mut self.controls, idle, &mut self.rng, &self.memory, now_ms)
                    }
                    Misdeed::Nothing => {}
                }
                if reads {
                    // Still a client in every other way: its pings measure the round trip.
                    self.session.poll(now_ms);
                }
            }
        }
        self.flush(ws).await
    }

    fn reads(&self) -> bool {
        match &self.role {
            Role::Player(_) => true,
            Role::Hostile(abuse) => abuse.reads(self.meter.seen_snapshot()),
        }
    }
}

/// A player's turn, as the page's frame takes it: pings when due, a view around the ship when
/// it moved, and the pilot's intent (from what the bot remembers) through the controls.
fn steer(
    s: &mut Session,
    controls: &mut Controls,
    pilot: &mut Pilot,
    rng: &mut SmallRng,
    memory: &Memory,
    now_ms: f64,
) {
    s.poll(now_ms);
    s.follow_view(ViewRect { center: s.world.ship_hint, size: BOT_VIEW });
    let ship = s.alive_ship();
    let intent = match memory {
        Memory::Replica => pilot.decide(&InReplica { replica: s.replica(), ship }, now_ms, rng),
        Memory::LastSeen(seen) => pilot.decide(&seen.sight(ship), now_ms, rng),
    };
    controls.hold(intent);
    if s.input_overdue(now_ms) {
        controls.resend();
    }
    if let Some(input) = controls.next_input() {
        s.send_input(input, now_ms);
    }
}

/// Runs one bot until `deadline`.
pub async fn run(endpoint: Arc<Endpoint>, spec: BotSpec, deadline: Instant, live: Arc<Live>) -> BotResult {
    let BotSpec { name, role, rng, full_replica, source } = spec;
    let every = match &role {
        Role::Player(_) => Some(THINK_INTERVAL),
        Role::Hostile(abuse) => abuse.interval(),
    };
    let mut bot = Bot {
        session: Session::new(&name, None),
        controls: Controls::default(),
        role,
        rng,
        memory: if full_replica { Memory::Replica } else { Memory::LastSeen(LastSeen::new()) },
        meter: Meter::new(Instant::now()),
    };
    let connected = tokio::time::timeout(CONNECT_TIMEOUT, bot.connect(&endpoint, source))
        .await
        .unwrap_or_else(|_| Err("connect timeout".to_string()));
    let mut ws = match connected {
        Ok(ws) => ws,
        Err(e) => {
            live.errors.fetch_add(1, Ordering::Relaxed);
            return BotResult { name, full_replica, failure: Some(e), ..BotResult::default() };
        }
    };
    live.connected.fetch_add(1, Ordering::Relaxed);
    bot.meter.connected();
    bot.entered_sector();
    // A bot that never acts still needs an interval to name in the select; it is never polled.
    let mut act = tokio::time::interval(every.unwrap_or(THINK_INTERVAL));
    // One timer for the whole run (a new `sleep_until` per message would re-register it in
    // the timer wheel every time).
    let end_of_run = tokio::time::sleep_until(deadline);
    tokio::pin!(end_of_run);
    let end = loop {
        tokio::select! {
            _ = &mut end_of_run => {
                let _ = ws.close(None).await;
                break None;
            }
            msg = ws.next(), if bot.reads() => match msg {
                Some(Ok(Message::Binary(b))) => {
                    if let Err(e) = bot.receive(&b, &live) {
                        let _ = ws.close(None).await;
                        break Some(format!("protocol error: {e}"));
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    let code = frame.as_ref().map_or(1005, |f| u16::from(f.code));
                    if code == shared::constants::CLOSE_HANDED_OVER {
                        // Into the next sector, at once, with the ticket.
                        bot.session.on_close(code, "");
                        match bot.cross(source).await {
                            Ok(next) => {
                                ws = next;
                                continue;
                            }
                            Err(e) => break Some(format!("crossing: {e}")),
                        }
                    }
                    break Some(frame.map_or("closed by server".into(), |f| format!("closed by server: {} {}", u16::from(f.code), f.reason)));
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => break Some(format!("connection error: {e}")),
                None => break Some("connection dropped".into()),
            },
            _ = act.tick(), if every.is_some() => {
                if bot.act(&mut ws).await.is_err() {
                    // The server may have said more before it closed (a draining server sends
                    // each player what it is owed, then goodbye): read it, briefly.
                    let drain_until = Instant::now() + DRAIN_AFTER_SEND_FAILURE;
                    while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(drain_until, ws.next()).await {
                        if let Message::Binary(b) = msg {
                            let _ = bot.receive(&b, &live);
                        }
                    }
                    break Some("send failed".into());
                }
            }
        }
    };
    live.connected.fetch_sub(1, Ordering::Relaxed);
    if end.is_some() {
        live.errors.fetch_add(1, Ordering::Relaxed);
    }
    let score = bot.session.standing.score;
    BotResult { name, score, full_replica, ..bot.meter.finish(Instant::now(), end) }
}
