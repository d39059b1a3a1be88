//! One bot's connection. The protocol is the page's: an [`asteroids_client::session::Session`]
//! makes the Hello, applies every message to its replica, times the pings and asks for views,
//! and an [`asteroids_client::input::Controls`] turns the pilot's intents into inputs. What is
//! the bot's own is the socket (tokio-tungstenite), the deadline, and the [`Meter`].

use crate::abuse::Misdeed;
use crate::behavior::Role;
use crate::measure::{carried, BotResult, Live, Meter};
use crate::pilot::Pilot;
use asteroids_client::input::Controls;
use asteroids_client::session::{Applied, Phase, ProtocolError, Session};
use futures_util::{SinkExt, StreamExt};
use rand::rngs::SmallRng;
use shared::codec::decode_server;
use shared::protocol::{ServerMsg, ViewRect};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

/// The view every bot asks for: a 1920×1080 screen, centred on its ship.
pub const BOT_VIEW: [f32; 2] = [1920.0, 1080.0];
/// How often a player bot reconsiders its controls (and lets its session ping).
pub const THINK_INTERVAL: Duration = Duration::from_millis(100);
/// Longest a bot waits to connect and be welcomed.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a bot whose send failed keeps reading what the server still sent.
pub const DRAIN_AFTER_SEND_FAILURE: Duration = Duration::from_secs(1);
/// The socket's read buffer, bytes: tungstenite zeroes it on every read, and its default
/// (128 KiB) would cost a thousand bots more time than their messages.
const READ_BUFFER_BYTES: usize = 16 * 1024;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One bot: the page's session and controls, a role, and its measurements.
struct Bot {
    session: Session,
    controls: Controls,
    role: Role,
    rng: SmallRng,
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

    /// Connects, says Hello through the session, and waits for the Welcome.
    async fn connect(&mut self, url: &str) -> Result<Ws, String> {
        let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER_BYTES);
        let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        self.session.on_open();
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
            return match (refused, &self.session.phase) {
                (None, Phase::Playing) => Ok(ws),
                (refused, phase) => Err(refused.unwrap_or_else(|| format!("not playing after Welcome: {phase:?}"))),
            };
        }
    }

    /// Decodes one message (once), hands it to the session, and measures what it did.
    fn receive(&mut self, bytes: &[u8], live: &Live) -> Result<(), ProtocolError> {
        let now = Instant::now();
        self.meter.received(bytes.len(), live);
        let msg = decode_server(bytes).map_err(ProtocolError::Undecodable)?;
        let carried = match &msg {
            ServerMsg::Snapshot(s) => carried(self.session.replica(), s),
            _ => 0,
        };
        match self.session.on_message(msg, self.meter.ms_since_start(now))? {
            Applied::Snapshot { snapshot, corrections } => {
                self.meter.snapshot(now, &snapshot, carried, &corrections, self.session.replica(), live)
            }
            Applied::Pong { rtt_ms } => self.meter.round_trip(rtt_ms),
            Applied::Other => {}
        }
        Ok(())
    }

    /// The bot's turn: play, or misbehave. Then send what the session queued.
    async fn act(&mut self, ws: &mut Ws) -> Result<(), String> {
        let now_ms = self.meter.ms_since_start(Instant::now());
        let seen = self.meter.seen_snapshot();
        match &mut self.role {
            Role::Player(pilot) => steer(&mut self.session, &mut self.controls, pilot, &mut self.rng, now_ms),
            Role::Hostile(abuse) => {
                let reads = abuse.reads(seen);
                match abuse.act(seen, &mut self.rng) {
                    Misdeed::Send(bytes) => {
                        ws.send(Message::Binary(bytes.into())).await.map_err(|e| format!("send: {e}"))?
                    }
                    Misdeed::Behave => {
                        steer(&mut self.session, &mut self.controls, &mut Pilot::Idle, &mut self.rng, now_ms)
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
/// it moved, and the pilot's intent through the controls.
fn steer(s: &mut Session, controls: &mut Controls, pilot: &mut Pilot, rng: &mut SmallRng, now_ms: f64) {
    s.poll(now_ms);
    s.follow_view(ViewRect { center: s.ship_hint, size: BOT_VIEW });
    controls.hold(pilot.decide(s.replica(), s.alive_ship(), now_ms, rng));
    if let Some(input) = controls.next_input() {
        s.send_input(input);
    }
}

/// Runs one bot called `name` with `role` until `deadline`.
pub async fn run(
    url: String,
    name: String,
    role: Role,
    rng: SmallRng,
    deadline: Instant,
    live: Arc<Live>,
) -> BotResult {
    let every = match &role {
        Role::Player(_) => Some(THINK_INTERVAL),
        Role::Hostile(abuse) => abuse.interval(),
    };
    let mut bot = Bot {
        session: Session::new(&name, None),
        controls: Controls::default(),
        role,
        rng,
        meter: Meter::new(Instant::now()),
    };
    let mut ws = match tokio::time::timeout(CONNECT_TIMEOUT, bot.connect(&url)).await {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => {
            live.errors.fetch_add(1, Ordering::Relaxed);
            return BotResult { name, failure: Some(e), ..BotResult::default() };
        }
        Err(_) => {
            live.errors.fetch_add(1, Ordering::Relaxed);
            return BotResult { name, failure: Some("connect timeout".into()), ..BotResult::default() };
        }
    };
    live.connected.fetch_add(1, Ordering::Relaxed);
    bot.meter.connected();
    // A bot that never acts still needs an interval to name in the select; it is never polled.
    let mut act = tokio::time::interval(every.unwrap_or(THINK_INTERVAL));
    let end = loop {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => {
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
    let score = bot.session.score;
    BotResult { name, score, ..bot.meter.finish(Instant::now(), end) }
}
