//! The whole client, minus the browser: a session, a view, the controls, the camera and the
//! page's figures, driven by the page's events (socket open/message/close, keys, touches,
//! gamepad polls, resize, animation frames). `web.rs` forwards the browser's events here and draws the scenes this
//! returns.
//!
//! Each server message is decoded once, here: the view needs the drawn positions of the
//! entities a snapshot is about to correct before the session applies it, so the decoded
//! message passes through the view's hands, then into [`Session::on_message`].

use crate::hud;
use crate::input::{Controls, Device};
use crate::scene::{self, Camera, Scene};
use crate::session::{Applied, Phase, ProtocolError, Session, ShipStatus};
use crate::stats::{DebugStats, Stats};
use crate::touch::{TouchControls, TouchId, TouchPhase};
use crate::view::View;
use glam::Vec2;
use shared::codec::decode_server;
use shared::protocol::{EntityId, EntityKind, ServerMsg};

/// The client.
#[derive(Debug)]
pub struct Client {
    /// Protocol state, and the one replica.
    session: Session,
    /// The drawn world.
    view: View,
    /// Keyboard, touch and gamepad, combined.
    controls: Controls,
    /// Which fingers hold the stick and the fire button.
    touch: TouchControls,
    /// The last frame's text boxes (`[x, y, width, height]`, CSS pixels), for the page's
    /// layout checks; reused frame to frame.
    text_boxes: Vec<[f32; 4]>,
    /// The page's figures (debug object, F3 panel).
    stats: Stats,
    screen: Vec2,
    camera_center: Vec2,
    debug: bool,
}

impl Client {
    /// A client for `name`.
    pub fn new(name: &str, token: Option<String>) -> Client {
        Client {
            session: Session::new(name, token),
            view: View::default(),
            controls: Controls::default(),
            touch: TouchControls::default(),
            text_boxes: Vec::new(),
            stats: Stats::default(),
            screen: Vec2::new(1280.0, 720.0),
            camera_center: Vec2::ZERO,
            debug: false,
        }
    }

    /// A client that watches the featured pilot without playing.
    pub fn spectator() -> Client {
        Client { session: Session::spectator(), ..Client::new("", None) }
    }

    /// The connection's state (phase, reconnect delay, score…).
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The connection's state, to tell it where the universe's sectors are.
    pub fn session_mut(&mut self) -> &mut Session {
        &mut self.session
    }

    /// A token the server just issued for this identity, once.
    pub fn take_token(&mut self) -> Option<String> {
        self.session.connection.new_token.take()
    }

    /// The socket opened at `now_ms`.
    pub fn on_open(&mut self, now_ms: f64) {
        self.session.on_open(now_ms);
        self.view.clear();
        self.controls.resend();
    }

    /// The socket closed.
    pub fn on_close(&mut self, code: u16, reason: &str) {
        self.session.on_close(code, reason);
    }

    /// A binary message arrived: decode it (once), apply it, and let the view ease whatever
    /// the server corrected.
    pub fn on_message(&mut self, bytes: &[u8], now_ms: f64) -> Result<(), ProtocolError> {
        self.stats.bytes.add(now_ms, bytes.len() as f64);
        let msg = decode_server(bytes).map_err(ProtocolError::Undecodable)?;
        self.session.advance(now_ms);
        // Where the entities the snapshot may move are drawn right now: those it corrects,
        // and the own ship (its prediction starts again from the snapshot).
        let before: Vec<(EntityId, Vec2)> = match (&msg, self.session.model()) {
            (ServerMsg::Snapshot(s), Some(model)) => s
                .changed
                .iter()
                .map(|c| c.id)
                .chain(model.prediction.ship().filter(|own| !s.changed.iter().any(|c| c.id == *own)))
                .filter_map(|id| self.view.pose(model, id, now_ms).map(|p| (id, p.pos)))
                .collect(),
            _ => Vec::new(),
        };
        let was_playing = self.session.connection.phase == Phase::Playing;
        let applied = self.session.on_message(msg, now_ms)?;
        if !was_playing && self.session.connection.phase == Phase::Playing {
            self.camera_center = self.session.world.ship_hint.into();
        }
        if let (Applied::Snapshot { snapshot, own, .. }, Some(model)) = (applied, self.session.model()) {
            self.stats.snapshots.add(now_ms, 1.0);
            let own_ship = model.prediction.ship();
            for c in self.view.on_snapshot(model, &snapshot, &before, now_ms) {
                if Some(c.id) == own_ship {
                    self.stats.own_correction(now_ms, c.distance as f64);
                } else {
                    self.stats.correction(now_ms, c.kind, c.distance as f64);
                }
            }
            if let Some((ms, _)) = own.acked {
                self.stats.input_acks.add(now_ms, ms);
            }
        }
        Ok(())
    }

    /// A key went down or up. Returns whether the page should swallow it.
    pub fn key(&mut self, code: &str, down: bool) -> bool {
        if code == "F3" {
            if down {
                self.debug = !self.debug;
            }
            return true;
        }
        self.controls.key(code, down)
    }

    /// The window lost focus: release all keys and touches.
    pub fn blur(&mut self) {
        self.touch.release_all();
        self.controls.release_all();
    }

    /// A touch `id` started, moved or ended at `pos` (CSS pixels).
    pub fn touch(&mut self, phase: TouchPhase, id: TouchId, pos: Vec2) {
        self.touch.touch(phase, id, pos, self.screen);
        self.controls.set(Device::Touch, self.touch.intent());
    }

    /// Draw the touch controls before the first touch (the page's pointer is coarse).
    pub fn show_touch_controls(&mut self) {
        self.touch.show();
    }

    /// The first connected gamepad's state this frame (see [`crate::gamepad::intent`]), or
    /// `None` when there is none: its controls are released.
    pub fn gamepad(&mut self, pad: Option<(&[f32], &[f32], &[u8])>) {
        let intent =
            pad.map_or_else(Default::default, |(axes, values, pressed)| crate::gamepad::intent(axes, values, pressed));
        self.controls.set(Device::Gamepad, intent);
    }

    /// What the controls hold now, every device combined.
    pub fn intent(&self) -> crate::input::Intent {
        self.controls.intent()
    }

    /// The text boxes of the last frame drawn, `[x, y, width, height]` in CSS pixels.
    pub fn text_boxes(&self) -> &[[f32; 4]] {
        &self.text_boxes
    }

    /// The canvas has a new size (CSS pixels).
    pub fn resize(&mut self, width: f32, height: f32) {
        self.screen = Vec2::new(width.max(1.0), height.max(1.0));
    }

    /// The next message for the socket.
    pub fn take_outgoing(&mut self) -> Option<Vec<u8>> {
        self.session.take_outgoing()
    }

    /// Advances the client to `now_ms` (queues inputs, view changes and pings) and returns
    /// the frame to draw.
    pub fn frame(&mut self, now_ms: f64) -> Scene {
        self.stats.frames.add(now_ms, 1.0);
        self.session.poll(now_ms);
        if self.session.input_overdue(now_ms) {
            self.controls.resend();
        }
        if let Some(input) = self.controls.next_input() {
            self.session.send_input(input, now_ms);
            if self.session.connection.phase != Phase::Playing {
                self.controls.resend();
            }
        }
        self.session.predict();
        let mut scene = Scene { background: "#05070c", prims: Vec::new() };
        if let Some(model) = self.session.model() {
            let poses = self.view.poses(model, now_ms);
            let own = self.session.world.ship_id;
            let watched = self.session.world.watched.as_ref().map(|w| w.ship);
            if let Some(p) = poses.iter().find(|p| Some(p.id) == own) {
                self.camera_center = p.pos;
            } else if let Some(p) = poses.iter().find(|p| Some(p.id) == watched) {
                // A spectator, or a pilot waiting for a new ship: the server's choice of
                // action (the one who shot us, or the featured pilot).
                self.camera_center = p.pos;
            } else if self.session.world.ship_status == ShipStatus::Alive && own.is_some() {
                self.camera_center = self.session.world.ship_hint.into();
            }
            let cam = Camera::new(self.camera_center, self.screen);
            let arena = scene::Arena {
                half: Vec2::from(model.kinematics.arena_half_size),
                offset: self.session.nav.place.map_or(Vec2::ZERO, |p| Vec2::from(p.offset)),
                open: model.kinematics.open_edges,
            };
            scene::draw_background(&mut scene.prims, &cam, &arena);
            for kind in [
                EntityKind::AsteroidLarge,
                EntityKind::AsteroidMedium,
                EntityKind::AsteroidSmall,
                EntityKind::Bullet,
                EntityKind::Ship,
            ] {
                for p in poses.iter().filter(|p| p.kind == kind) {
                    scene::draw_entity(&mut scene.prims, &cam, p, Some(p.id) == own);
                }
            }
            if let Some(hotspot) = self.session.standing.leaderboard.hotspot {
                scene::draw_arrow(&mut scene.prims, &cam, Vec2::from(hotspot), "action");
            }
            self.session.follow_view(cam.view_rect());
        }
        self.touch.draw(&mut scene.prims, self.screen);
        let reserved =
            hud::Reserved { bottom: if self.touch.shown() { crate::touch::reserved_bottom(self.screen) } else { 0.0 } };
        let debug = self.debug.then(|| self.debug_stats(now_ms));
        hud::draw(&mut scene.prims, self.screen, reserved, &self.session, debug.as_ref(), now_ms);
        self.text_boxes.clear();
        self.text_boxes.extend(scene.prims.iter().filter_map(hud::text_box));
        scene
    }

    /// Figures for the debug object and the F3 overlay.
    pub fn debug_stats(&mut self, now_ms: f64) -> DebugStats {
        let pose = match (self.session.world.ship_id, self.session.model()) {
            (Some(id), Some(model)) => self.view.pose(model, id, now_ms),
            _ => None,
        };
        let ship = pose.map(|p| p.pos.into());
        let ship_heading = pose.map(|p| p.rot.y.atan2(p.rot.x));
        let (s, st) = (&self.session, &self.stats);
        let replica = s.replica();
        DebugStats {
            phase: match s.connection.phase {
                Phase::Connecting => "connecting",
                Phase::Playing => "playing",
                Phase::Spectating => "spectating",
                Phase::Rejected { .. } => "rejected",
                Phase::Lost { .. } => "lost",
                Phase::Crossing { .. } => "crossing",
            },
            fps: st.frames.per_sec(now_ms),
            ping_ms: s.connection.rtt_ms,
            snapshots_per_sec: st.snapshots.per_sec(now_ms),
            downlink_bytes_per_sec: st.bytes.per_sec(now_ms),
            corrections_10s: st.corrections.count(now_ms),
            max_correction_10s: st.corrections.max(now_ms),
            asteroid_corrections_10s: st.asteroid_corrections.count(now_ms),
            max_asteroid_correction_10s: st.asteroid_corrections.max(now_ms),
            own_corrections_10s: st.own_corrections.count(now_ms),
            max_own_correction_10s: st.own_corrections.max(now_ms),
            input_ack_ms: {
                let n = st.input_acks.count(now_ms);
                (n > 0).then(|| st.input_acks.sum(now_ms) / n as f64)
            },
            lead_ticks: s.clock().lead(),
            entities: replica.entities().len(),
            bullets: replica.entities().values().filter(|k| k.kind == EntityKind::Bullet).count(),
            other_ships: replica
                .entities()
                .iter()
                .filter(|(id, k)| k.kind == EntityKind::Ship && Some(**id) != s.world.ship_id)
                .count(),
            ship_shielded: pose.map(|p| p.ctrl.shielded()),
            watching: s.world.watched.as_ref().map(|w| w.name.clone()),
            ship,
            ship_heading,
            ship_id: s.world.ship_id,
            tick: replica.tick(),
            score: s.standing.score.points,
            sector: s.nav.place.map(|p| format!("{},{}", p.sector.x, p.sector.y)),
            sectors: s.nav.universe.as_ref().map_or(0, |u| u.sectors.len()),
            intent: self.controls.intent(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scene::Prim;
    use shared::codec::{decode_client, encode_server};
    use shared::protocol::{ClientMsg, EntityEnter, ServerMsg, Snapshot};
    use shared::quant::{Body, Ctrl, QState};

    fn welcome() -> Vec<u8> {
        encode_server(&crate::session::test_welcome([100.0, 0.0]))
    }

    /// After the welcome the client asks for a view around its ship, sends key changes as
    /// inputs, and draws its ship where the snapshot put it.
    #[test]
    fn plays_a_session() {
        let mut c = Client::new("Ada", None);
        c.resize(1280.0, 720.0);
        c.on_open(0.0);
        assert!(matches!(decode_client(&c.take_outgoing().unwrap()), Ok(ClientMsg::Hello(_))));
        c.on_message(&welcome(), 0.0).unwrap();
        c.key("ArrowUp", true);
        c.frame(1.0);
        let mut sent = Vec::new();
        while let Some(m) = c.take_outgoing() {
            sent.push(decode_client(&m).unwrap());
        }
        assert!(sent.iter().any(|m| matches!(m, ClientMsg::View(v) if v.center == [100.0, 0.0])), "{sent:?}");
        assert!(sent.iter().any(|m| matches!(m, ClientMsg::Input(i) if i.thrust)), "{sent:?}");
        let state = QState::from_body(
            &Body { pos: Vec2::new(100.0, 0.0), vel: Vec2::ZERO, rot: Vec2::X, angvel: 0.0 },
            Ctrl(Ctrl::THRUST),
        );
        let snap = Snapshot {
            tick: 12,
            entered: vec![EntityEnter { id: 7, kind: EntityKind::Ship, state, appearing: 0 }],
            ..Default::default()
        };
        c.on_message(&encode_server(&ServerMsg::Snapshot(snap)), 20.0).unwrap();
        let scene = c.frame(21.0);
        let own_hull = scene
            .prims
            .iter()
            .any(|p| matches!(p, Prim::Poly { stroke: "#7cf7ff", points, .. } if (points[0].x - 658.0).abs() < 1.0));
        assert!(own_hull, "own ship drawn at the screen's centre, nose right");
        let d = c.debug_stats(21.0);
        assert_eq!((d.phase, d.entities, d.ship_id), ("playing", 1, Some(7)));
    }

    /// The page flying through a link of 50 ms each way against a model of the server (inputs
    /// applied at the tick they name, a snapshot every third tick): the own ship is never
    /// corrected, and from frame to frame it moves no further than its top speed allows (a
    /// snapshot arriving between frames must not pull the drawn ship back to where the last
    /// frame had it).
    #[test]
    fn the_own_ship_flies_without_corrections_through_a_delayed_link() {
        use shared::kinematics::Kinematics;
        use shared::protocol::{EntityUpdate, Input, InputAck};
        const ONE_WAY_MS: f64 = 50.0;
        const TICK_MS: f64 = 1000.0 / 60.0;
        let kin = Kinematics::new([5000.0, 5000.0]);
        let mut c = Client::new("Ada", None);
        c.resize(1280.0, 720.0);
        c.on_open(0.0);
        while c.take_outgoing().is_some() {}
        // Messages in flight: (arrival time, bytes), each way.
        let mut down: Vec<(f64, Vec<u8>)> = vec![(ONE_WAY_MS, welcome())];
        let mut up: Vec<(f64, ClientMsg)> = Vec::new();
        // The server's model: tick 10 at page time 0.
        let rest = Body { pos: Vec2::new(100.0, 0.0), vel: Vec2::ZERO, rot: Vec2::X, angvel: 0.0 };
        let (mut tick, mut ship) = (10u32, QState::from_body(&rest, Ctrl(0)));
        let (mut pending, mut current, mut ack): (Vec<Input>, Input, InputAck) = Default::default();
        let mut ack_sent = InputAck::default();
        let (mut entered, mut last_drawn, mut frames) = (false, None::<Vec2>, 0);
        let keys = [("ArrowUp", 600.0, 2600.0), ("ArrowLeft", 1000.0, 1500.0), ("ArrowRight", 2000.0, 2300.0)];
        let mut now = 0.0;
        while now < 4000.0 {
            now += TICK_MS * 0.97; // a display a little faster than the server's ticks
                                   // The server runs its ticks up to now.
            while f64::from(tick + 1 - 10) * TICK_MS <= now {
                tick += 1;
                let at = f64::from(tick - 10) * TICK_MS;
                for (_, msg) in up.iter().filter(|(t, _)| *t <= at) {
                    match msg {
                        ClientMsg::Input(i) => {
                            let after = pending.last().map_or(tick, |p| p.tick);
                            pending.push(Input { tick: i.tick.max(tick).max(after), ..*i });
                        }
                        ClientMsg::Ping { nonce } => {
                            down.push((at + ONE_WAY_MS, encode_server(&ServerMsg::Pong { nonce: *nonce, tick })))
                        }
                        _ => {}
                    }
                }
                up.retain(|(t, _)| *t > at);
                while pending.first().is_some_and(|p| p.tick <= tick) {
                    let p = pending.remove(0);
                    ack = InputAck { seq: p.seq, tick, margin: 0 };
                    current = p;
                }
                ship.ctrl = Ctrl::from_intent(current.thrust, current.turn);
                ship = kin.tick(&ship, EntityKind::Ship);
                if tick.is_multiple_of(3) {
                    // Like the server, an acknowledgement only when it changed.
                    let ack = (ack != ack_sent).then_some(ack);
                    ack_sent = ack.unwrap_or(ack_sent);
                    let snap = if entered {
                        Snapshot { tick, ack, changed: vec![EntityUpdate { id: 7, state: ship }], ..Default::default() }
                    } else {
                        entered = true;
                        Snapshot {
                            tick,
                            ack,
                            entered: vec![EntityEnter { id: 7, kind: EntityKind::Ship, state: ship, appearing: 0 }],
                            ..Default::default()
                        }
                    };
                    down.push((at + ONE_WAY_MS, encode_server(&ServerMsg::Snapshot(snap))));
                }
            }
            for (_, bytes) in down.iter().filter(|(t, _)| *t <= now) {
                c.on_message(bytes, now).unwrap();
            }
            down.retain(|(t, _)| *t > now);
            for (key, from, to) in keys {
                c.key(key, (from..to).contains(&now));
            }
            c.frame(now);
            while let Some(m) = c.take_outgoing() {
                up.push((now + ONE_WAY_MS, decode_client(&m).unwrap()));
            }
            let drawn = c.debug_stats(now).ship.map(Vec2::from);
            if let (Some(a), Some(b)) = (last_drawn, drawn) {
                let allowed = kin.ship_max_speed * 1.06 * (TICK_MS * 0.97 / 1000.0) as f32 + 0.01;
                assert!(a.distance(b) <= allowed, "at {now:.0} ms the ship jumped {} units", a.distance(b));
                frames += 1;
            }
            last_drawn = drawn;
        }
        let d = c.debug_stats(now);
        assert!(frames > 200 && d.input_ack_ms.is_some(), "{frames} frames drawn, {d:?}");
        assert_eq!((d.own_corrections_10s, d.max_own_correction_10s), (0, 0.0), "{d:?}");
        let moved = d.ship.map_or(0.0, |p| Vec2::from(p).distance(rest.pos));
        assert!(moved > 100.0, "the ship flew {moved} units");
    }

    /// A spectator opens with Spectate, sends no inputs, and its camera follows the ship the
    /// server says it watches.
    #[test]
    fn a_spectator_follows_the_watched_ship() {
        use shared::protocol::{Spectating, Watched};
        let mut c = Client::spectator();
        c.resize(1280.0, 720.0);
        c.on_open(0.0);
        let first = decode_client(&c.take_outgoing().unwrap()).unwrap();
        assert!(
            matches!(first, ClientMsg::Spectate { protocol_version } if protocol_version == shared::PROTOCOL_VERSION)
        );
        let spectating = Spectating {
            protocol_version: shared::PROTOCOL_VERSION,
            tick: 10,
            tick_hz: 60,
            snapshot_hz: 20,
            max_view_size: [2560.0, 1600.0],
            kinematics: shared::kinematics::Kinematics::new([5000.0, 5000.0]),
            place: None,
        };
        c.on_message(&encode_server(&ServerMsg::Spectating(spectating)), 0.0).unwrap();
        c.on_message(&encode_server(&ServerMsg::Watching(Some(Watched { ship: 9, name: "Ace".into() }))), 1.0).unwrap();
        let state = QState::from_body(
            &Body { pos: Vec2::new(500.0, 200.0), vel: Vec2::ZERO, rot: Vec2::X, angvel: 0.0 },
            Ctrl(0),
        );
        let snap = Snapshot {
            tick: 12,
            entered: vec![EntityEnter { id: 9, kind: EntityKind::Ship, state, appearing: 0 }],
            ..Default::default()
        };
        c.on_message(&encode_server(&ServerMsg::Snapshot(snap)), 20.0).unwrap();
        c.key("ArrowUp", true);
        c.frame(21.0);
        let mut sent = Vec::new();
        while let Some(m) = c.take_outgoing() {
            sent.push(decode_client(&m).unwrap());
        }
        assert!(!sent.iter().any(|m| matches!(m, ClientMsg::Input(_))), "a spectator sends no inputs: {sent:?}");
        assert!(
            sent.iter().any(|m| matches!(m, ClientMsg::View(v) if v.center == [500.0, 200.0])),
            "the view follows the watched ship: {sent:?}"
        );
        assert_eq!(c.debug_stats(21.0).phase, "spectating");
    }

    /// Ten minutes of play at 60 fps (36,000 frames, snapshots at 20 Hz with corrections,
    /// pings answered) leave every statistics window exactly as large as after one minute,
    /// and within MAX_BUCKETS: memory stays flat however long the page is open.
    #[test]
    fn ten_minutes_of_frames_keep_memory_flat() {
        use crate::stats::{CORRECTION_WINDOW_MS, MAX_BUCKETS};
        use shared::protocol::EntityUpdate;
        const FPS: u32 = 60;
        const MINUTE_FRAMES: u32 = 60 * FPS;
        let mut c = Client::new("Ada", None);
        c.on_open(0.0);
        while c.take_outgoing().is_some() {}
        c.on_message(&welcome(), 0.0).unwrap();
        let state = |x: f32, vx: f32| {
            QState::from_body(
                &Body { pos: Vec2::new(x, 0.0), vel: Vec2::new(vx, 0.0), rot: Vec2::X, angvel: 0.0 },
                Ctrl(0),
            )
        };
        let capacities = |c: &Client| c.stats.windows().map(|(name, w)| (name, w.capacity()));
        let mut after_one_minute = None;
        let (mut pongs, mut corrected) = (0, 0);
        for frame in 0..10 * MINUTE_FRAMES {
            let now_ms = frame as f64 * 1000.0 / FPS as f64;
            // A snapshot every third frame (20 Hz at 60 ticks a second, one tick per frame):
            // the ship and an asteroid enter, then the server keeps nudging the asteroid off
            // its predicted path, so every snapshot is a visible correction.
            if frame % 3 == 0 {
                let tick = 12 + frame;
                let snap = if frame == 0 {
                    Snapshot {
                        tick,
                        entered: vec![
                            EntityEnter { id: 7, kind: EntityKind::Ship, state: state(100.0, 0.0), appearing: 0 },
                            EntityEnter {
                                id: 8,
                                kind: EntityKind::AsteroidSmall,
                                state: state(300.0, 30.0),
                                appearing: 0,
                            },
                        ],
                        ..Default::default()
                    }
                } else {
                    let x = 300.0 + (frame % 11) as f32;
                    Snapshot {
                        tick,
                        changed: vec![EntityUpdate { id: 8, state: state(x, 30.0) }],
                        ..Default::default()
                    }
                };
                c.on_message(&encode_server(&ServerMsg::Snapshot(snap)), now_ms).unwrap();
                corrected += 1;
            }
            c.key("ArrowLeft", frame % 120 < 60);
            c.frame(now_ms);
            while let Some(m) = c.take_outgoing() {
                if let Ok(ClientMsg::Ping { nonce }) = decode_client(&m) {
                    c.on_message(&encode_server(&ServerMsg::Pong { nonce, tick: 0 }), now_ms + 40.0).unwrap();
                    pongs += 1;
                }
            }
            if frame + 1 == MINUTE_FRAMES {
                after_one_minute = Some(capacities(&c));
            }
        }
        let end_ms = (10 * MINUTE_FRAMES) as f64 * 1000.0 / FPS as f64;
        let d = c.debug_stats(end_ms);
        assert!(pongs >= 290 && d.ping_ms == Some(40.0), "pings flowed: {pongs}");
        assert!(corrected >= 12_000, "corrections flowed: {corrected}");
        assert!(d.fps >= 59.0 && d.snapshots_per_sec >= 19.0, "{d:?}");
        // Ten seconds of corrections at 20 Hz, to within the window's resolution of a bucket.
        let want = (CORRECTION_WINDOW_MS / 50.0) as usize;
        assert!((want - 2..=want + 2).contains(&d.corrections_10s), "{} corrections in 10 s", d.corrections_10s);
        let after_ten = capacities(&c);
        assert_eq!(Some(after_ten), after_one_minute, "windows grew between minute 1 and minute 10");
        for (name, cap) in after_ten {
            assert!(cap <= MAX_BUCKETS, "{name} holds {cap} slots, more than {MAX_BUCKETS}");
        }
        assert_eq!(c.session.replica().entities().len(), 2);
    }
}
