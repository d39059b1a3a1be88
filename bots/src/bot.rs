//! One bot: connect, handshake, view, behave, and measure everything a player would feel.

use crate::behavior::{Behavior, Intent, Pilot};
use futures_util::{SinkExt, StreamExt};
use rand::rngs::SmallRng;
use rand::Rng;
use shared::codec::{decode_server, encode_client, encoded_len_server};
use shared::protocol::{
    ClientMsg, EntityEnter, EntityId, GameEvent, Hello, Input, ServerMsg, Snapshot, ViewRect, Welcome,
};
use shared::replica::Replica;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

/// The view every bot asks for: a 1920×1080 screen.
pub const BOT_VIEW: [f32; 2] = [1920.0, 1080.0];
/// How often a bot reconsiders its controls.
pub const THINK_INTERVAL: Duration = Duration::from_millis(100);
/// How often a bot pings (for round-trip times).
pub const PING_INTERVAL: Duration = Duration::from_secs(1);
/// Longest a bot waits to connect and be welcomed.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Counters every bot adds to, for the live progress line.
#[derive(Debug, Default)]
pub struct Live {
    /// Bots connected right now.
    pub connected: AtomicU64,
    /// Snapshots received, all bots.
    pub snapshots: AtomicU64,
    /// Bytes received (WebSocket payload and header), all bots.
    pub bytes: AtomicU64,
    /// Bots that failed to connect or were dropped.
    pub errors: AtomicU64,
}

/// What one bot measured.
#[derive(Debug, Default)]
pub struct BotResult {
    /// Connected and welcomed.
    pub connected: bool,
    /// Why connecting failed.
    pub failure: Option<String>,
    /// Why the connection ended early (the server closed it, or it broke).
    pub disconnect: Option<String>,
    /// Seconds between the first snapshot and the end.
    pub active_secs: f64,
    /// Snapshots received.
    pub snapshots: u64,
    /// Bytes received, with WebSocket framing.
    pub bytes: u64,
    /// What the full state of the same view every snapshot would have cost, with framing.
    pub full_state_bytes: u64,
    /// Entities in view, one sample per snapshot.
    pub entities_in_view: Vec<u32>,
    /// Round trips, milliseconds.
    pub rtt_ms: Vec<f64>,
    /// Gaps between consecutive snapshots, milliseconds.
    pub gaps_ms: Vec<f64>,
    /// Dead-reckoning samples that were exactly right (every known entity the server did not
    /// need to correct, at every snapshot).
    pub dr_exact: u64,
    /// Dead-reckoning errors of corrected entities whose input had not changed, world units.
    pub dr_errors: Vec<f64>,
    /// From starting to connect to the first snapshot, milliseconds.
    pub time_to_first_snapshot_ms: Option<f64>,
}

/// WebSocket framing overhead of a server message of `len` bytes (server frames are unmasked).
pub fn ws_frame_len(len: usize) -> u64 {
    len as u64
        + if len < 126 {
            2
        } else if len <= 65_535 {
            4
        } else {
            10
        }
}

struct Bot {
    name: String,
    pilot: Pilot,
    rng: SmallRng,
    replica: Replica,
    welcome: Option<Welcome>,
    ship: Option<EntityId>,
    ship_hint: [f32; 2],
    view_sent: Option<[f32; 2]>,
    intent: Option<Intent>,
    seq: u32,
    ping_nonce: u32,
    pings: Vec<(u32, Instant)>,
    last_snapshot: Option<Instant>,
    started: Instant,
    first_snapshot: Option<Instant>,
    result: BotResult,
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

impl Bot {
    async fn send(&mut self, ws: &mut Ws, msg: &ClientMsg) -> bool {
        ws.send(Message::Binary(encode_client(msg).into())).await.is_ok()
    }

    fn on_snapshot(&mut self, snap: Snapshot, now: Instant, live: &Live) -> Result<(), String> {
        let kin = self.welcome.as_ref().map(|w| w.kinematics).ok_or("snapshot before Welcome")?;
        if let Some(last) = self.last_snapshot {
            self.result.gaps_ms.push((now - last).as_secs_f64() * 1000.0);
        }
        self.last_snapshot = Some(now);
        if self.first_snapshot.is_none() {
            self.first_snapshot = Some(now);
            self.result.time_to_first_snapshot_ms = Some((now - self.started).as_secs_f64() * 1000.0);
        }
        // Entities predicted through this snapshot: all known ones not leaving.
        let carried = self.replica.entities().keys().filter(|id| !snap.left.contains(id)).count() as u64;
        let mut corrected = 0u64;
        let errors = &mut self.result.dr_errors;
        self.replica
            .apply_observed(&snap, &kin, |c| {
                corrected += 1;
                // Only entities whose input did not change: a new input is not a prediction error.
                if c.predicted.ctrl == c.actual.ctrl {
                    errors.push((c.predicted.position() - c.actual.position()).length() as f64);
                }
            })
            .map_err(|e| e.to_string())?;
        self.result.dr_exact += carried.saturating_sub(corrected);
        self.result.snapshots += 1;
        live.snapshots.fetch_add(1, Ordering::Relaxed);
        let in_view = self.replica.entities().len();
        self.result.entities_in_view.push(in_view as u32);
        // What a server without diffs would have sent for the same view.
        let full = Snapshot {
            tick: snap.tick,
            input_ack: snap.input_ack,
            entered: self
                .replica
                .entities()
                .iter()
                .map(|(&id, k)| EntityEnter { id, kind: k.kind, state: k.state })
                .collect(),
            changed: Vec::new(),
            left: Vec::new(),
        };
        self.result.full_state_bytes += ws_frame_len(encoded_len_server(&ServerMsg::Snapshot(full)));
        if let Some(me) = self.ship.and_then(|id| self.replica.get(id)) {
            self.ship_hint = me.state.position().into();
        }
        Ok(())
    }

    fn on_message(&mut self, bytes: &[u8], now: Instant, live: &Live) -> Result<(), String> {
        let len = ws_frame_len(bytes.len());
        self.result.bytes += len;
        live.bytes.fetch_add(len, Ordering::Relaxed);
        match decode_server(bytes).map_err(|e| e.to_string())? {
            ServerMsg::Snapshot(s) => self.on_snapshot(s, now, live)?,
            ServerMsg::Pong { nonce, .. } => {
                if let Some(i) = self.pings.iter().position(|(n, _)| *n == nonce) {
                    let (_, sent) = self.pings.swap_remove(i);
                    self.result.rtt_ms.push((now - sent).as_secs_f64() * 1000.0);
                }
            }
            ServerMsg::Event(GameEvent::ShipSpawned { ship_id, position }) => {
                self.ship = Some(ship_id);
                self.ship_hint = position;
            }
            ServerMsg::Event(GameEvent::ShipDestroyed { ship_id, .. }) if Some(ship_id) == self.ship => {
                self.ship = None
            }
            ServerMsg::Welcome(_) => return Err("second Welcome".into()),
            _ => {}
        }
        Ok(())
    }

    /// Follow the ship with the view; decide and send controls.
    async fn think(&mut self, ws: &mut Ws, now_ms: f64) -> bool {
        let center = self.ship_hint;
        let moved = self.view_sent.is_none_or(|c| glam::Vec2::from(c).distance(glam::Vec2::from(center)) > 64.0);
        if moved {
            self.view_sent = Some(center);
            if !self.send(ws, &ClientMsg::View(ViewRect { center, size: BOT_VIEW })).await {
                return false;
            }
        }
        let intent = self.pilot.decide(&self.replica, self.ship, now_ms, &mut self.rng);
        if self.intent != Some(intent) {
            self.intent = Some(intent);
            self.seq += 1;
            let input = Input { seq: self.seq, thrust: intent.thrust, turn: intent.turn, fire: intent.fire };
            return self.send(ws, &ClientMsg::Input(input)).await;
        }
        true
    }
}

/// Runs one bot until `deadline`.
pub async fn run(
    url: String,
    name: String,
    pilot: Pilot,
    rng: SmallRng,
    deadline: Instant,
    live: Arc<Live>,
) -> BotResult {
    let started = Instant::now();
    let mut bot = Bot {
        name,
        pilot,
        rng,
        replica: Replica::new(),
        welcome: None,
        ship: None,
        ship_hint: [0.0, 0.0],
        view_sent: None,
        intent: None,
        seq: 0,
        ping_nonce: 0,
        pings: Vec::new(),
        last_snapshot: None,
        started,
        first_snapshot: None,
        result: BotResult::default(),
    };
    let connect = async {
        // A small read buffer: tungstenite zeroes it on every read (its default is 128 KiB).
        let config = WebSocketConfig::default().read_buffer_size(16 * 1024);
        let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url.as_str(), Some(config), true)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let hello = Hello { protocol_version: shared::PROTOCOL_VERSION, name: bot.name.clone(), token: None };
        ws.send(Message::Binary(encode_client(&ClientMsg::Hello(hello)).into()))
            .await
            .map_err(|e| format!("send: {e}"))?;
        loop {
            match ws.next().await {
                Some(Ok(Message::Binary(b))) => {
                    return match decode_server(&b).map_err(|e| e.to_string())? {
                        ServerMsg::Welcome(w) => Ok((ws, w)),
                        ServerMsg::Rejected(r) => Err(format!("rejected: {:?}", r.reason)),
                        other => Err(format!("expected Welcome, got {other:?}")),
                    };
                }
                Some(Ok(Message::Close(f))) => return Err(format!("closed during handshake: {f:?}")),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(format!("handshake: {e}")),
                None => return Err("closed during handshake".into()),
            }
        }
    };
    let (mut ws, welcome) = match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
        Ok(Ok(ok)) => ok,
        Ok(Err(e)) => {
            live.errors.fetch_add(1, Ordering::Relaxed);
            return BotResult { failure: Some(e), ..BotResult::default() };
        }
        Err(_) => {
            live.errors.fetch_add(1, Ordering::Relaxed);
            return BotResult { failure: Some("connect timeout".into()), ..BotResult::default() };
        }
    };
    live.connected.fetch_add(1, Ordering::Relaxed);
    bot.result.connected = true;
    bot.ship = Some(welcome.ship_id);
    bot.ship_hint = welcome.ship_position;
    bot.welcome = Some(welcome);
    let behavior = bot.pilot.behavior();
    // A flooder thinks (and sends) every 0.8 ms: 1,250 messages a second, about ten times the
    // server's allowed rate.
    let every = if behavior == Behavior::Flood { Duration::from_micros(800) } else { THINK_INTERVAL };
    let mut think = tokio::time::interval(every);
    let mut ping = tokio::time::interval(PING_INTERVAL);
    let silent = behavior == Behavior::Silent;
    let end = loop {
        let reading = !(silent || behavior == Behavior::StopReading && bot.first_snapshot.is_some());
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => {
                let _ = ws.close(None).await;
                break None;
            }
            msg = ws.next(), if reading => match msg {
                Some(Ok(Message::Binary(b))) => {
                    if let Err(e) = bot.on_message(&b, Instant::now(), &live) {
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
            _ = think.tick(), if !silent => {
                let now_ms = (Instant::now() - started).as_secs_f64() * 1000.0;
                let ok = if behavior == Behavior::Garbage {
                    let len = bot.rng.random_range(1..64);
                    let junk: Vec<u8> = (0..len).map(|_| bot.rng.random()).collect();
                    ws.send(Message::Binary(junk.into())).await.is_ok()
                } else if behavior == Behavior::Flood {
                    bot.seq += 1;
                    let input = Input { seq: bot.seq, thrust: bot.seq.is_multiple_of(2), turn: 0, fire: false };
                    bot.send(&mut ws, &ClientMsg::Input(input)).await
                } else {
                    bot.think(&mut ws, now_ms).await
                };
                if !ok {
                    break Some("send failed".into());
                }
            }
            _ = ping.tick(), if reading => {
                bot.ping_nonce += 1;
                let nonce = bot.ping_nonce;
                bot.pings.push((nonce, Instant::now()));
                bot.pings.retain(|(_, t)| t.elapsed() < Duration::from_secs(30));
                if !bot.send(&mut ws, &ClientMsg::Ping { nonce }).await {
                    break Some("send failed".into());
                }
            }
        }
    };
    live.connected.fetch_sub(1, Ordering::Relaxed);
    if end.is_some() {
        live.errors.fetch_add(1, Ordering::Relaxed);
    }
    bot.result.disconnect = end;
    bot.result.active_secs = bot.first_snapshot.map_or(0.0, |t| (Instant::now() - t).as_secs_f64());
    bot.result
}
