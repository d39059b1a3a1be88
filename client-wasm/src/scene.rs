//! What to draw, as data: the camera, and a list of primitives in screen pixels. Built in
//! plain Rust (and tested natively); `canvas.rs` only walks the list.

use crate::layout::VIEW_PADDING;
use crate::view::Pose;
use glam::Vec2;
use shared::constants::{MAX_VIEW_SIZE, SHIP_RADIUS};
use shared::protocol::{EntityId, EntityKind, ViewRect};

use shared::kinematics::OpenEdges;

/// Spacing of the background grid, world units.
pub const GRID_SPACING: f32 = 512.0;

/// World → screen: the camera centre at the middle of the screen, y up in the world and down
/// on screen.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Camera {
    /// World point at the screen's centre.
    pub center: Vec2,
    /// Pixels per world unit.
    pub scale: f32,
    /// Screen size in CSS pixels.
    pub screen: Vec2,
}

impl Camera {
    /// A camera at `center` for a screen of `screen` pixels, showing about the same area of
    /// the field on every screen (see [`crate::layout::camera_scale`]).
    pub fn new(center: Vec2, screen: Vec2) -> Camera {
        Camera { center, scale: crate::layout::camera_scale(screen), screen }
    }

    /// A world point on screen.
    pub fn to_screen(&self, p: Vec2) -> Vec2 {
        let d = (p - self.center) * self.scale;
        Vec2::new(self.screen.x * 0.5 + d.x, self.screen.y * 0.5 - d.y)
    }

    /// The view to ask the server for: the screen in world units, padded.
    pub fn view_rect(&self) -> ViewRect {
        let size = self.screen / self.scale + Vec2::splat(2.0 * VIEW_PADDING);
        ViewRect { center: self.center.into(), size: [size.x.min(MAX_VIEW_SIZE[0]), size.y.min(MAX_VIEW_SIZE[1])] }
    }

    /// Whether a world point is on screen.
    pub fn on_screen(&self, p: Vec2) -> bool {
        let s = self.to_screen(p);
        s.x >= 0.0 && s.y >= 0.0 && s.x <= self.screen.x && s.y <= self.screen.y
    }
}

/// How text is anchored horizontally.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    /// At its left edge.
    Left,
    /// At its centre.
    Center,
    /// At its right edge.
    Right,
}

/// One drawing primitive, in screen pixels.
#[derive(Clone, Debug, PartialEq)]
pub enum Prim {
    /// A polyline or polygon.
    Poly {
        /// Its points.
        points: Vec<Vec2>,
        /// Closed (a polygon) or open.
        closed: bool,
        /// Stroke colour (CSS).
        stroke: &'static str,
        /// Fill colour (CSS), if filled.
        fill: Option<&'static str>,
        /// Stroke width.
        width: f32,
    },
    /// A filled circle.
    Dot {
        /// Centre.
        pos: Vec2,
        /// Radius.
        radius: f32,
        /// Colour (CSS).
        color: &'static str,
    },
    /// A filled rectangle (panels behind text).
    Rect {
        /// Top-left corner.
        pos: Vec2,
        /// Width and height.
        size: Vec2,
        /// Colour (CSS).
        color: &'static str,
    },
    /// A line of text.
    Text {
        /// Anchor point (baseline).
        pos: Vec2,
        /// The text.
        text: String,
        /// Font size, pixels.
        size: f32,
        /// Colour (CSS).
        color: &'static str,
        /// Horizontal anchoring.
        align: Align,
        /// The widest the text may be drawn, pixels: the canvas squeezes it to fit its box.
        max_width: f32,
    },
}

/// A frame to draw.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scene {
    /// Background colour (CSS).
    pub background: &'static str,
    /// Primitives, back to front.
    pub prims: Vec<Prim>,
}

/// Rotates a local point (x forward) by a (cos, sin) heading and moves it to `pos`.
fn place(local: Vec2, pos: Vec2, rot: Vec2) -> Vec2 {
    pos + Vec2::new(local.x * rot.x - local.y * rot.y, local.x * rot.y + local.y * rot.x)
}

/// A cheap integer hash (for shapes and stars that must look the same every frame).
pub fn hash(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^ (x >> 16)
}

fn unit(h: u32) -> f32 {
    (h & 0xffff) as f32 / 65535.0
}

/// Vertices of an asteroid's outline in its own frame: jagged, the same for an id every frame.
pub fn asteroid_outline(id: EntityId, radius: f32) -> Vec<Vec2> {
    const N: u32 = 11;
    let id = (id ^ (id >> 32)) as u32;
    (0..N)
        .map(|i| {
            let a = i as f32 / N as f32 * std::f32::consts::TAU;
            let r = radius * (0.78 + 0.22 * unit(hash(id.wrapping_mul(31).wrapping_add(i))));
            Vec2::new(a.cos(), a.sin()) * r
        })
        .collect()
}

/// Adds an entity's primitives.
pub fn draw_entity(prims: &mut Vec<Prim>, cam: &Camera, pose: &Pose, own: bool) {
    let s = cam.scale;
    // Strokes thicken with the zoom, as the shapes do, but stay visible when zoomed out.
    let w = s.max(0.75);
    let to = |local: Vec2| cam.to_screen(place(local, pose.pos, pose.rot));
    match pose.kind {
        EntityKind::Ship => {
            if pose.ctrl.thrust() {
                let flame = [Vec2::new(-8.0, 5.0), Vec2::new(-22.0, 0.0), Vec2::new(-8.0, -5.0)];
                prims.push(Prim::Poly {
                    points: flame.iter().map(|p| to(*p)).collect(),
                    closed: true,
                    stroke: "#ffb347",
                    fill: Some("#ff7b00"),
                    width: w,
                });
            }
            let hull = [Vec2::new(18.0, 0.0), Vec2::new(-12.0, 10.0), Vec2::new(-7.0, 0.0), Vec2::new(-12.0, -10.0)];
            let (stroke, fill) = if own { ("#7cf7ff", Some("#0b4f66")) } else { ("#f2f2f2", Some("#333a44")) };
            prims.push(Prim::Poly {
                points: hull.iter().map(|p| to(*p)).collect(),
                closed: true,
                stroke,
                fill,
                width: 2.0 * w,
            });
            if pose.ctrl.shielded() {
                // Spawn protection: a ring around the hull, for everyone to see.
                const SIDES: usize = 24;
                let r = SHIP_RADIUS + 8.0;
                let ring = (0..SIDES).map(|i| {
                    let a = i as f32 / SIDES as f32 * std::f32::consts::TAU;
                    cam.to_screen(pose.pos + Vec2::new(a.cos(), a.sin()) * r)
                });
                prims.push(Prim::Poly {
                    points: ring.collect(),
                    closed: true,
                    stroke: "#8fd3ff",
                    fill: None,
                    width: 1.5 * w,
                });
            }
        }
        EntityKind::Bullet => prims.push(Prim::Dot { pos: cam.to_screen(pose.pos), radius: 2.5 * s, color: "#fff6a0" }),
        kind if pose.appeared < 1.0 => {
            // Spawned in sight: an outline growing from nothing, filled once all there.
            let grow = pose.appeared.max(0.05);
            let outline = asteroid_outline(pose.id, kind.radius());
            prims.push(Prim::Poly {
                points: outline.iter().map(|p| to(*p * grow)).collect(),
                closed: true,
                stroke: "#7d7363",
                fill: None,
                width: w,
            });
        }
        kind => {
            let outline = asteroid_outline(pose.id, kind.radius());
            prims.push(Prim::Poly {
                points: outline.iter().map(|p| to(*p)).collect(),
                closed: true,
                stroke: "#b8a98f",
                fill: Some("#2b2620"),
                width: 1.5 * w,
            });
        }
    }
}

/// Where the arena lies and which of its edges lead on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Arena {
    /// Half its width and height.
    pub half: Vec2,
    /// Universe coordinates of its centre (zero for a lone server): the background is drawn in
    /// universe coordinates, so it runs on unbroken when the ship flies into the next sector.
    pub offset: Vec2,
    /// The edges with a neighbouring sector behind them: drawn as a faint border, not a wall.
    pub open: OpenEdges,
}

/// The background: two parallax star layers and a world grid, both moving with the camera so
/// that motion is visible even in empty space, and the arena's edges (walls, or faint
/// borders where a neighbouring sector lies beyond).
pub fn draw_background(prims: &mut Vec<Prim>, cam: &Camera, arena: &Arena) {
    let ui = crate::layout::ui_scale(cam.screen);
    let universe = cam.center + arena.offset;
    for (layer, parallax, cell, color) in [(1u32, 0.35f32, 300.0f32, "#5d6b80"), (2, 0.7, 220.0, "#9fb0c8")] {
        let center = universe * parallax;
        let half = cam.screen / cam.scale * 0.5;
        let (x0, x1) = (((center.x - half.x) / cell).floor() as i32, ((center.x + half.x) / cell).ceil() as i32);
        let (y0, y1) = (((center.y - half.y) / cell).floor() as i32, ((center.y + half.y) / cell).ceil() as i32);
        for cx in x0..=x1 {
            for cy in y0..=y1 {
                let h = hash((cx as u32).wrapping_mul(73_856_093) ^ (cy as u32).wrapping_mul(19_349_663) ^ layer);
                for k in 0..2u32 {
                    let hk = hash(h.wrapping_add(k));
                    let p = Vec2::new((cx as f32 + unit(hk)) * cell, (cy as f32 + unit(hk.rotate_left(16))) * cell);
                    let d = (p - center) * cam.scale;
                    let screen = Vec2::new(cam.screen.x * 0.5 + d.x, cam.screen.y * 0.5 - d.y);
                    prims.push(Prim::Dot { pos: screen, radius: (0.6 + layer as f32 * 0.4) * ui, color });
                }
            }
        }
    }
    let half = cam.screen / cam.scale * 0.5;
    let (x0, x1) = ((universe.x - half.x) / GRID_SPACING, (universe.x + half.x) / GRID_SPACING);
    for i in x0.floor() as i32..=x1.ceil() as i32 {
        let x = i as f32 * GRID_SPACING - arena.offset.x;
        let top = cam.to_screen(Vec2::new(x, cam.center.y + half.y));
        let bottom = cam.to_screen(Vec2::new(x, cam.center.y - half.y));
        prims.push(Prim::Poly { points: vec![top, bottom], closed: false, stroke: "#141c28", fill: None, width: 1.0 });
    }
    let (y0, y1) = ((universe.y - half.y) / GRID_SPACING, (universe.y + half.y) / GRID_SPACING);
    for i in y0.floor() as i32..=y1.ceil() as i32 {
        let y = i as f32 * GRID_SPACING - arena.offset.y;
        let left = cam.to_screen(Vec2::new(cam.center.x - half.x, y));
        let right = cam.to_screen(Vec2::new(cam.center.x + half.x, y));
        prims.push(Prim::Poly { points: vec![left, right], closed: false, stroke: "#141c28", fill: None, width: 1.0 });
    }
    let h = arena.half;
    let (bl, br, tr, tl) = (Vec2::new(-h.x, -h.y), Vec2::new(h.x, -h.y), h, Vec2::new(-h.x, h.y));
    let open = arena.open;
    for (a, b, open) in [(bl, br, open.bottom), (br, tr, open.right), (tr, tl, open.top), (tl, bl, open.left)] {
        let (stroke, width) = if open { ("#1e3a52", 1.5) } else { ("#803040", 3.0) };
        prims.push(Prim::Poly {
            points: vec![cam.to_screen(a), cam.to_screen(b)],
            closed: false,
            stroke,
            fill: None,
            width,
        });
    }
}

/// An arrow at the screen's edge pointing at `target` (world), if it is off screen, with its
/// distance in world units. Returns whether one was drawn.
pub fn draw_arrow(prims: &mut Vec<Prim>, cam: &Camera, target: Vec2, label: &str) -> bool {
    if cam.on_screen(target) {
        return false;
    }
    let ui = crate::layout::ui_scale(cam.screen);
    let dir = (target - cam.center).normalize_or(Vec2::X);
    let screen_dir = Vec2::new(dir.x, -dir.y);
    let r = cam.screen.min_element() * 0.5 - 48.0 * ui;
    let tip = cam.screen * 0.5 + screen_dir * (r + 18.0 * ui);
    let back = cam.screen * 0.5 + screen_dir * r;
    let side = screen_dir.perp() * 11.0 * ui;
    prims.push(Prim::Poly {
        points: vec![tip, back + side, back - side],
        closed: true,
        stroke: "#ffd166",
        fill: Some("#ffd166"),
        width: 1.0,
    });
    let distance = (target - cam.center).length();
    let text = format!("{label} {:.0}", distance);
    // Inward of the arrow's back by half the label's width too when pointing sideways, so the
    // label never covers the arrow.
    let half_width = crate::layout::text_width(&text, 12.0 * ui) * 0.5;
    prims.push(Prim::Text {
        pos: back - screen_dir * (14.0 * ui + half_width * screen_dir.x.abs()) + Vec2::new(0.0, 4.0 * ui),
        text,
        size: 12.0 * ui,
        color: "#ffd166",
        align: Align::Center,
        max_width: r,
    });
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::quant::Ctrl;

    /// The camera puts its centre mid-screen, flips y, and asks for a padded view.
    #[test]
    fn camera_maps_world_to_screen() {
        let cam = Camera::new(Vec2::new(100.0, 50.0), Vec2::new(1280.0, 720.0));
        assert_eq!(cam.scale, 1.0);
        assert_eq!(cam.to_screen(Vec2::new(100.0, 50.0)), Vec2::new(640.0, 360.0));
        assert_eq!(cam.to_screen(Vec2::new(110.0, 60.0)), Vec2::new(650.0, 350.0));
        let v = cam.view_rect();
        assert_eq!(v.center, [100.0, 50.0]);
        assert_eq!(v.size, [1280.0 + 2.0 * VIEW_PADDING, 720.0 + 2.0 * VIEW_PADDING]);
    }

    /// A screen larger than the largest view zooms in (more pixels per unit) so the view
    /// still covers it.
    #[test]
    fn huge_screens_zoom_in() {
        let cam = Camera::new(Vec2::ZERO, Vec2::new(3840.0, 2160.0));
        assert!(cam.scale > 1.0);
        let v = cam.view_rect();
        assert!(v.size[0] <= MAX_VIEW_SIZE[0] && v.size[1] <= MAX_VIEW_SIZE[1]);
        assert!(v.size[0] >= 3840.0 / cam.scale && v.size[1] >= 2160.0 / cam.scale);
    }

    /// Ships point where their heading says, with a flame only when thrusting; an own ship
    /// is drawn differently.
    #[test]
    fn ships_point_their_nose() {
        let cam = Camera { center: Vec2::ZERO, scale: 1.0, screen: Vec2::new(800.0, 600.0) };
        let pose = Pose {
            id: 1,
            kind: EntityKind::Ship,
            pos: Vec2::ZERO,
            rot: Vec2::Y,
            ctrl: Ctrl(Ctrl::THRUST),
            appeared: 1.0,
        };
        let mut prims = Vec::new();
        draw_entity(&mut prims, &cam, &pose, true);
        assert_eq!(prims.len(), 2, "flame and hull");
        let Prim::Poly { points, stroke, .. } = &prims[1] else { panic!() };
        assert_eq!(points[0], Vec2::new(400.0, 300.0 - 18.0), "the nose points up the screen");
        assert_eq!(*stroke, "#7cf7ff");
        let mut other = Vec::new();
        draw_entity(&mut other, &cam, &Pose { ctrl: Ctrl(0), ..pose }, false);
        assert_eq!(other.len(), 1, "no flame without thrust");
        let mut shielded = Vec::new();
        draw_entity(&mut shielded, &cam, &Pose { ctrl: Ctrl(0).with_shield(true), ..pose }, false);
        assert_eq!(shielded.len(), 2, "hull and shield");
        let Prim::Poly { points, fill: None, .. } = &shielded[1] else { panic!("an open ring") };
        let r = SHIP_RADIUS + 8.0;
        assert!(points.iter().all(|p| ((*p - Vec2::new(400.0, 300.0)).length() - r).abs() < 1e-3), "around the ship");
    }

    /// The background moves with the camera (stars and grid shift when it moves).
    #[test]
    fn background_moves_with_the_camera() {
        let screen = Vec2::new(800.0, 600.0);
        let mut a = Vec::new();
        let arena = Arena { half: Vec2::splat(5000.0), offset: Vec2::ZERO, open: OpenEdges::default() };
        draw_background(&mut a, &Camera::new(Vec2::ZERO, screen), &arena);
        let mut b = Vec::new();
        draw_background(&mut b, &Camera::new(Vec2::new(40.0, 0.0), screen), &arena);
        assert!(a.len() > 20);
        assert_ne!(a, b);
    }

    /// Across a sector border the background is the same: a camera at local x = 4990 in the
    /// sector at universe x = 0 and one at local x = −5010 in the sector at x = 10,000 draw
    /// the same stars and grid (only the edges differ).
    #[test]
    fn background_runs_on_across_sectors() {
        let screen = Vec2::new(800.0, 600.0);
        let open = OpenEdges { left: true, right: true, ..OpenEdges::default() };
        let here = Arena { half: Vec2::splat(5000.0), offset: Vec2::ZERO, open };
        let next = Arena { offset: Vec2::new(10_000.0, 0.0), ..here };
        let mut a = Vec::new();
        draw_background(&mut a, &Camera::new(Vec2::new(4990.0, 30.0), screen), &here);
        let mut b = Vec::new();
        draw_background(&mut b, &Camera::new(Vec2::new(-5010.0, 30.0), screen), &next);
        let n = a.len() - 4;
        assert_eq!(a[..n], b[..n]);
    }

    /// The arrow appears only for off-screen targets and points towards them.
    #[test]
    fn arrow_points_off_screen() {
        let cam = Camera::new(Vec2::ZERO, Vec2::new(800.0, 600.0));
        let mut prims = Vec::new();
        assert!(!draw_arrow(&mut prims, &cam, Vec2::new(100.0, 0.0), "action"));
        assert!(draw_arrow(&mut prims, &cam, Vec2::new(5000.0, 0.0), "action"));
        let Prim::Poly { points, .. } = &prims[0] else { panic!() };
        assert!(points[0].x > 600.0 && (points[0].y - 300.0).abs() < 1.0);
    }

    /// The arrow and its label stay on every screen, whichever way it points, and the label
    /// keeps clear of the arrow.
    #[test]
    fn arrow_stays_on_every_screen() {
        for (w, h) in crate::layout::tests::SCREENS {
            let screen = Vec2::new(w, h);
            let cam = Camera::new(Vec2::ZERO, screen);
            for i in 0..16 {
                let a = i as f32 / 16.0 * std::f32::consts::TAU;
                let mut prims = Vec::new();
                assert!(draw_arrow(&mut prims, &cam, Vec2::new(a.cos(), a.sin()) * 1e5, "action"));
                let Prim::Poly { points, .. } = &prims[0] else { panic!() };
                let [x, y, bw, bh] = crate::hud::text_box(&prims[1]).unwrap();
                assert!(x >= 0.0 && y >= 0.0 && x + bw <= w && y + bh <= h, "{w}×{h} at {a}: label {x},{y} {bw}×{bh}");
                for p in points {
                    assert!(p.x >= 0.0 && p.y >= 0.0 && p.x <= w && p.y <= h, "{w}×{h} at {a}: arrow at {p}");
                    let inside = p.x > x && p.x < x + bw && p.y > y && p.y < y + bh;
                    assert!(!inside, "{w}×{h} at {a}: the label covers the arrow's point {p}");
                }
            }
        }
    }

    /// Asteroid outlines are stable per id and stay within their radius.
    #[test]
    fn asteroid_outlines() {
        assert_eq!(asteroid_outline(5, 32.0), asteroid_outline(5, 32.0));
        assert_ne!(asteroid_outline(5, 32.0), asteroid_outline(6, 32.0));
        assert!(asteroid_outline(9, 32.0).iter().all(|p| p.length() <= 32.0 + 1e-3));
    }

    /// An asteroid the server spawned in sight grows from nothing as an open outline, and is
    /// drawn as every other once it has appeared.
    #[test]
    fn an_appearing_asteroid_grows() {
        let cam = Camera { center: Vec2::ZERO, scale: 1.0, screen: Vec2::new(800.0, 600.0) };
        let kind = EntityKind::AsteroidLarge;
        let rock = |appeared| Pose { id: 4, kind, pos: Vec2::ZERO, rot: Vec2::X, ctrl: Ctrl(0), appeared };
        let extent = |appeared| {
            let mut prims = Vec::new();
            draw_entity(&mut prims, &cam, &rock(appeared), false);
            let Prim::Poly { points, fill, .. } = &prims[0] else { panic!() };
            let reach = points.iter().map(|p| (*p - Vec2::new(400.0, 300.0)).length()).fold(0.0, f32::max);
            (reach, fill.is_some())
        };
        let (whole, filled) = extent(1.0);
        assert!(filled && whole > 0.7 * kind.radius() && whole <= kind.radius() + 1e-3);
        let (half, filled) = extent(0.5);
        assert!(!filled && (half - 0.5 * whole).abs() < 1e-3, "half grown: {half} of {whole}");
        assert!(extent(0.0).0 > 0.0, "visible from its first frame");
    }
}
