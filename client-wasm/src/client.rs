//! The whole client, minus the browser: a session, a view, the controls and the camera, driven
//! by the page's events (socket open/message/close, keys, resize, animation frames). `web.rs`
//! forwards the browser's events here and draws the scenes this returns.

use crate::input::Controls;
use crate::scene::{self, Align, Camera, Prim, Scene, VIEW_SLACK};
use crate::session::{Applied, Phase, Session, ShipStatus};
use crate::view::View;
use glam::Vec2;
use shared::protocol::{EntityKind, ViewRect};

/// Figures for the page's debug object and the F3 overlay.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DebugStats {
    /// Connection phase: "connecting", "playing", "rejected" or "lost".
    pub phase: &'static str,
    /// Frames drawn in the last second.
    pub fps: f64,
    /// Last measured round trip, milliseconds.
    pub ping_ms: Option<f64>,
    /// Snapshots received in the last second.
    pub snapshots_per_sec: f64,
    /// Bytes received in the last second.
    pub downlink_bytes_per_sec: f64,
    /// Visible corrections in the last 10 s (any entity).
    pub corrections_10s: usize,
    /// Largest visible correction in the last 10 s, world units.
    pub max_correction_10s: f64,
    /// Visible corrections of asteroids in the last 10 s.
    pub asteroid_corrections_10s: usize,
    /// Largest visible correction of an asteroid in the last 10 s, world units.
    pub max_asteroid_correction_10s: f64,
    /// Entities known.
    pub entities: usize,
    /// Bullets known.
    pub bullets: usize,
    /// The own ship's drawn position, if it is in view.
    pub ship: Option<[f32; 2]>,
    /// The own ship's id.
    pub ship_id: Option<u32>,
    /// The tick of the last snapshot.
    pub tick: Option<u32>,
    /// Points.
    pub score: u32,
}

/// The client.
pub struct Client {
    /// Protocol state and the replica.
    pub session: Session,
    /// The drawn world.
    pub view: View,
    /// The keyboard.
    pub controls: Controls,
    screen: Vec2,
    camera_center: Vec2,
    view_sent: Option<ViewRect>,
    debug: bool,
}

impl Client {
    /// A client for `name`.
    pub fn new(name: &str, token: Option<String>) -> Client {
        Client {
            session: Session::new(name, token),
            view: View::default(),
            controls: Controls::default(),
            screen: Vec2::new(1280.0, 720.0),
            camera_center: Vec2::ZERO,
            view_sent: None,
            debug: false,
        }
    }

    /// The socket opened.
    pub fn on_open(&mut self) {
        self.session.on_open();
        self.view.clear();
        self.view_sent = None;
        self.controls.resend();
    }

    /// The socket closed.
    pub fn on_close(&mut self, code: u16, reason: &str) {
        self.session.on_close(code, reason);
    }

    /// A binary message arrived.
    pub fn on_message(&mut self, bytes: &[u8], now_ms: f64) -> Result<(), String> {
        // Where the entities the server is about to correct are drawn right now.
        let before: Vec<(u32, Vec2)> = match (shared::codec::decode_server(bytes), self.session.kinematics().copied()) {
            (Ok(shared::protocol::ServerMsg::Snapshot(s)), Some(kin)) => s
                .changed
                .iter()
                .filter_map(|c| self.view.pose(&self.session.replica, &kin, c.id, now_ms).map(|p| (c.id, p.pos)))
                .collect(),
            _ => Vec::new(),
        };
        let was_playing = self.session.phase == Phase::Playing;
        let applied = self.session.on_message(bytes, now_ms)?;
        if !was_playing && self.session.phase == Phase::Playing {
            self.camera_center = self.session.ship_hint.into();
        }
        if let Applied::Snapshot { snapshot, .. } = applied {
            let (kin, hz) = match &self.session.welcome {
                Some(w) => (w.kinematics, w.tick_hz),
                None => return Ok(()),
            };
            let corrections = self.view.on_snapshot(&snapshot, &before, &self.session.replica, &kin, hz, now_ms);
            for c in corrections {
                self.session.stats.corrections.add(now_ms, c.distance as f64);
                if c.kind.is_asteroid() {
                    self.session.stats.asteroid_corrections.add(now_ms, c.distance as f64);
                }
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

    /// The window lost focus: release all keys.
    pub fn blur(&mut self) {
        self.controls.release_all();
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
        self.session.stats.frames.add(now_ms, 1.0);
        self.session.poll(now_ms);
        if let Some(input) = self.controls.next_input() {
            self.session.send_input(input);
            if self.session.phase != Phase::Playing {
                self.controls.resend();
            }
        }
        let mut scene = Scene { background: "#05070c", prims: Vec::new() };
        let Some(kin) = self.session.kinematics().copied() else {
            self.overlay(&mut scene, now_ms);
            return scene;
        };
        let poses = self.view.poses(&self.session.replica, &kin, now_ms);
        let own = self.session.ship_id;
        if let Some(p) = poses.iter().find(|p| Some(p.id) == own) {
            self.camera_center = p.pos;
        } else if self.session.ship_status == ShipStatus::Alive {
            self.camera_center = self.session.ship_hint.into();
        }
        let cam = Camera::new(self.camera_center, self.screen);
        let rect = cam.view_rect();
        let moved = self.view_sent.is_none_or(|v| {
            Vec2::from(v.center).distance(Vec2::from(rect.center)) > VIEW_SLACK * 0.5 || v.size != rect.size
        });
        if moved && self.session.phase == Phase::Playing {
            self.session.send_view(rect);
            self.view_sent = Some(rect);
        }
        scene::draw_background(&mut scene.prims, &cam, Vec2::from(kin.arena_half_size));
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
        if let Some(hotspot) = self.session.leaderboard.hotspot {
            scene::draw_arrow(&mut scene.prims, &cam, Vec2::from(hotspot), "action");
        }
        self.hud(&mut scene, now_ms);
        self.overlay(&mut scene, now_ms);
        scene
    }

    fn text(scene: &mut Scene, x: f32, y: f32, text: String, size: f32, color: &'static str, align: Align) {
        scene.prims.push(Prim::Text { pos: Vec2::new(x, y), text, size, color, align });
    }

    fn hud(&mut self, scene: &mut Scene, now_ms: f64) {
        let s = &self.session;
        let score = s.score;
        let line = format!("Score {}   total {}", score.points, score.total_points);
        Self::text(scene, 16.0, 28.0, line, 20.0, "#e8f1ff", Align::Left);
        let line = format!("hits {}  kills {}  deaths {}", score.hits, score.kills, score.deaths);
        Self::text(scene, 16.0, 48.0, line, 13.0, "#9fb0c8", Align::Left);
        let ping = s.rtt_ms.map_or("–".to_string(), |r| format!("{r:.0} ms"));
        let line = format!("online {}   ping {ping}", s.leaderboard.online);
        Self::text(scene, 16.0, 66.0, line, 13.0, "#9fb0c8", Align::Left);
        let right = self.screen.x - 16.0;
        Self::text(scene, right, 28.0, "Top online".into(), 15.0, "#e8f1ff", Align::Right);
        for (i, e) in s.leaderboard.top.iter().enumerate() {
            let line = format!("{}. {}  {}", i + 1, e.name, e.points);
            Self::text(scene, right, 48.0 + i as f32 * 17.0, line, 13.0, "#c9d4e5", Align::Right);
        }
        if !s.leaderboard.all_time.is_empty() {
            let top = 60.0 + s.leaderboard.top.len() as f32 * 17.0 + 12.0;
            Self::text(scene, right, top, "Top of all time".into(), 15.0, "#e8f1ff", Align::Right);
            for (i, e) in s.leaderboard.all_time.iter().enumerate() {
                let line = format!("{}. {}  {}", i + 1, e.name, e.points);
                Self::text(scene, right, top + 20.0 + i as f32 * 17.0, line, 13.0, "#c9d4e5", Align::Right);
            }
        }
        if self.debug {
            let d = self.debug_stats(now_ms);
            let lines = [
                format!("fps {:.0}", d.fps),
                format!("ping {}", d.ping_ms.map_or("–".into(), |p| format!("{p:.0} ms"))),
                format!("snapshots/s {:.0}", d.snapshots_per_sec),
                format!("downlink {:.0} B/s", d.downlink_bytes_per_sec),
                format!("corrections (10 s) {}", d.corrections_10s),
                format!("largest correction (10 s) {:.3}", d.max_correction_10s),
                format!("entities {}  tick {}", d.entities, d.tick.unwrap_or(0)),
            ];
            let top = self.screen.y - 16.0 - lines.len() as f32 * 16.0;
            scene.prims.push(Prim::Rect {
                pos: Vec2::new(8.0, top - 16.0),
                size: Vec2::new(260.0, lines.len() as f32 * 16.0 + 12.0),
                color: "rgba(0,0,0,0.6)",
            });
            for (i, l) in lines.into_iter().enumerate() {
                Self::text(scene, 16.0, top + i as f32 * 16.0, l, 12.0, "#7cf7ff", Align::Left);
            }
        }
    }

    fn overlay(&self, scene: &mut Scene, now_ms: f64) {
        let message = match &self.session.phase {
            Phase::Connecting => Some(("Connecting…".to_string(), "#e8f1ff")),
            Phase::Rejected { message, .. } => Some((message.clone(), "#ffb3b3")),
            Phase::Lost { reason } => Some((format!("Connection lost ({reason}): reconnecting…"), "#ffd166")),
            Phase::Playing => match &self.session.ship_status {
                ShipStatus::Dead { cause, respawn_at_ms } => {
                    let secs = ((respawn_at_ms - now_ms) / 1000.0).max(0.0);
                    Some((format!("Your ship was destroyed: {cause}. New ship in {secs:.1} s"), "#ffd166"))
                }
                ShipStatus::Alive => None,
            },
        };
        if let Some((text, color)) = message {
            let center = self.screen * 0.5;
            scene.prims.push(Prim::Rect {
                pos: Vec2::new(0.0, center.y - 40.0),
                size: Vec2::new(self.screen.x, 64.0),
                color: "rgba(0,0,0,0.65)",
            });
            Self::text(scene, center.x, center.y, text, 20.0, color, Align::Center);
        }
    }

    /// Figures for the debug object and the F3 overlay.
    pub fn debug_stats(&mut self, now_ms: f64) -> DebugStats {
        let window = crate::stats::CORRECTION_WINDOW_MS;
        let ship = match (self.session.ship_id, self.session.kinematics().copied()) {
            (Some(id), Some(kin)) => self.view.pose(&self.session.replica, &kin, id, now_ms).map(|p| p.pos.into()),
            _ => None,
        };
        let s = &mut self.session;
        DebugStats {
            phase: match s.phase {
                Phase::Connecting => "connecting",
                Phase::Playing => "playing",
                Phase::Rejected { .. } => "rejected",
                Phase::Lost { .. } => "lost",
            },
            fps: s.stats.frames.count(now_ms, 1000.0) as f64,
            ping_ms: s.rtt_ms,
            snapshots_per_sec: s.stats.snapshots.sum(now_ms, 1000.0),
            downlink_bytes_per_sec: s.stats.bytes.sum(now_ms, 1000.0),
            corrections_10s: s.stats.corrections.count(now_ms, window),
            max_correction_10s: s.stats.corrections.max(now_ms, window),
            asteroid_corrections_10s: s.stats.asteroid_corrections.count(now_ms, window),
            max_asteroid_correction_10s: s.stats.asteroid_corrections.max(now_ms, window),
            entities: s.replica.entities().len(),
            bullets: s.replica.entities().values().filter(|k| k.kind == EntityKind::Bullet).count(),
            ship,
            ship_id: s.ship_id,
            tick: s.replica.tick(),
            score: s.score.points,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::codec::{decode_client, encode_server};
    use shared::protocol::{ClientMsg, EntityEnter, ServerMsg, Snapshot};
    use shared::quant::{Body, Ctrl, QState};

    fn welcome() -> Vec<u8> {
        crate::session::test_welcome([100.0, 0.0])
    }

    /// After the welcome the client asks for a view around its ship, sends key changes as
    /// inputs, and draws its ship where the snapshot put it.
    #[test]
    fn plays_a_session() {
        let mut c = Client::new("Ada", None);
        c.resize(1280.0, 720.0);
        c.on_open();
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
            entered: vec![EntityEnter { id: 7, kind: EntityKind::Ship, state }],
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
}
