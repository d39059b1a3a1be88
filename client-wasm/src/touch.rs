//! Touch controls: a floating thumb stick on the left half of the screen and a fire button on
//! the right, each finger tracked by its touch identifier, so flying and firing work at once.
//!
//! The stick appears where the thumb lands (no need to find a drawn spot without looking) and
//! follows the thumb when it slides past the stick's rim, so letting the thumb drift never
//! leaves it stuck at full deflection the wrong way. It maps onto the keyboard's controls, not
//! onto a direction to fly: sideways past a dead zone turns (left or right), upwards thrusts,
//! exactly as ←/→ and ↑ do. A "point where to fly" stick would have to steer the ship's
//! heading through the same three-valued turn and overshoot by a frame or two at every
//! correction; the keyboard mapping is predictable and is what Asteroids players know. Any
//! touch that lands on the right half fires while it is held (the button drawn bottom right
//! is a target, not a limit: a thumb need not look for it).
//!
//! Sizes are CSS pixels, not scaled with the HUD: a thumb is the same size on every screen,
//! and CSS pixels are about the same physical size on phones and tablets.

use crate::input::Intent;
use crate::scene::{Align, Prim};
use glam::Vec2;

/// A touch's identifier (`Touch.identifier`), unique among the touches on the screen.
pub type TouchId = i32;

/// The stick's radius: full deflection, pixels.
pub const STICK_RADIUS: f32 = 56.0;
/// Deflection, as a fraction of [`STICK_RADIUS`], below which the stick does nothing: a
/// resting thumb wobbles.
pub const DEAD_ZONE: f32 = 0.3;
/// The fire button's drawn radius, pixels.
pub const FIRE_RADIUS: f32 = 44.0;
/// Distance of the drawn controls from the screen's edges, pixels (clear of rounded corners
/// and the home indicator).
pub const EDGE: f32 = 28.0;
/// The most fingers held on the fire half at once that are remembered (a hand has five).
pub const MAX_FIRE_TOUCHES: usize = 10;

/// What happened to a touch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TouchPhase {
    /// `touchstart`.
    Start,
    /// `touchmove`.
    Move,
    /// `touchend` or `touchcancel`.
    End,
}

/// The stick while a thumb holds it.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Stick {
    id: TouchId,
    /// Where the stick's centre is (where the thumb landed, dragged along past the rim).
    origin: Vec2,
    /// Where the thumb is.
    thumb: Vec2,
}

/// The touch controls' state: which finger holds the stick, which hold fire.
#[derive(Clone, Debug, Default)]
pub struct TouchControls {
    stick: Option<Stick>,
    fire: Vec<TouchId>,
    /// Whether to draw the controls: a touch has been seen, or the page says the pointer is
    /// coarse.
    shown: bool,
}

/// The fire button's centre on a `screen`.
pub fn fire_center(screen: Vec2) -> Vec2 {
    screen - Vec2::splat(EDGE + FIRE_RADIUS)
}

/// Where the stick is drawn while no thumb holds it (a hint), on a `screen`.
pub fn stick_home(screen: Vec2) -> Vec2 {
    Vec2::new(EDGE + STICK_RADIUS, screen.y - EDGE - STICK_RADIUS)
}

/// The height at the bottom of a `screen` the drawn controls take: the HUD stays above it.
pub fn reserved_bottom(_screen: Vec2) -> f32 {
    2.0 * (EDGE + STICK_RADIUS.max(FIRE_RADIUS))
}

impl TouchControls {
    /// Draw the controls even before the first touch (a coarse pointer: a phone or tablet).
    pub fn show(&mut self) {
        self.shown = true;
    }

    /// Whether the controls are drawn.
    pub fn shown(&self) -> bool {
        self.shown
    }

    /// A touch `id` started, moved or ended at `pos` (CSS pixels) on a `screen`.
    pub fn touch(&mut self, phase: TouchPhase, id: TouchId, pos: Vec2, screen: Vec2) {
        self.shown = true;
        match phase {
            TouchPhase::Start => {
                if pos.x < screen.x * 0.5 {
                    // A second finger on the stick's half while one holds it is ignored.
                    if self.stick.is_none() {
                        self.stick = Some(Stick { id, origin: pos, thumb: pos });
                    }
                } else if !self.fire.contains(&id) && self.fire.len() < MAX_FIRE_TOUCHES {
                    self.fire.push(id);
                }
            }
            TouchPhase::Move => {
                if let Some(stick) = self.stick.as_mut().filter(|s| s.id == id) {
                    stick.thumb = pos;
                    let d = pos - stick.origin;
                    if d.length() > STICK_RADIUS {
                        stick.origin = pos - d.normalize() * STICK_RADIUS;
                    }
                }
            }
            TouchPhase::End => {
                if self.stick.is_some_and(|s| s.id == id) {
                    self.stick = None;
                }
                self.fire.retain(|f| *f != id);
            }
        }
    }

    /// Lets go of everything (the page lost focus: the touches' ends may never come).
    pub fn release_all(&mut self) {
        self.stick = None;
        self.fire.clear();
    }

    /// What the fingers hold: sideways past the dead zone turns, upwards thrusts, the right
    /// half fires.
    pub fn intent(&self) -> Intent {
        let dead = DEAD_ZONE * STICK_RADIUS;
        let (thrust, turn) = match self.stick {
            // Screen y grows downwards: up is negative.
            Some(s) => {
                let d = s.thumb - s.origin;
                (
                    d.y < -dead,
                    if d.x < -dead {
                        1
                    } else if d.x > dead {
                        -1
                    } else {
                        0
                    },
                )
            }
            None => (false, 0),
        };
        Intent { thrust, turn, fire: !self.fire.is_empty() }
    }

    /// Adds the controls as light overlays, if shown: the stick (where the thumb holds it, or
    /// a faint hint at its home) and the fire button, brighter while held.
    pub fn draw(&self, prims: &mut Vec<Prim>, screen: Vec2) {
        if !self.shown {
            return;
        }
        let (origin, knob, held) = match self.stick {
            Some(s) => (s.origin, s.thumb, true),
            None => (stick_home(screen), stick_home(screen), false),
        };
        prims.push(ring(origin, STICK_RADIUS, if held { "rgba(200,230,255,0.45)" } else { "rgba(200,230,255,0.2)" }));
        let knob_color = if held { "rgba(200,230,255,0.35)" } else { "rgba(200,230,255,0.12)" };
        prims.push(Prim::Dot { pos: knob, radius: STICK_RADIUS * 0.45, color: knob_color });
        let fire = fire_center(screen);
        let firing = !self.fire.is_empty();
        prims.push(Prim::Dot {
            pos: fire,
            radius: FIRE_RADIUS,
            color: if firing { "rgba(255,209,102,0.4)" } else { "rgba(255,209,102,0.14)" },
        });
        prims.push(ring(fire, FIRE_RADIUS, "rgba(255,209,102,0.5)"));
        prims.push(Prim::Text {
            pos: fire + Vec2::new(0.0, 5.0),
            text: "FIRE".into(),
            size: 14.0,
            color: "rgba(255,240,200,0.8)",
            align: Align::Center,
            max_width: 2.0 * FIRE_RADIUS - 12.0,
        });
    }
}

/// A circle's outline.
fn ring(center: Vec2, radius: f32, stroke: &'static str) -> Prim {
    const SIDES: usize = 32;
    let points = (0..SIDES)
        .map(|i| {
            let a = i as f32 / SIDES as f32 * std::f32::consts::TAU;
            center + Vec2::new(a.cos(), a.sin()) * radius
        })
        .collect();
    Prim::Poly { points, closed: true, stroke, fill: None, width: 2.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PHONE: Vec2 = Vec2::new(390.0, 844.0);

    /// The stick appears where the thumb lands: inside the dead zone nothing, sideways turns
    /// (left counter-clockwise), upwards thrusts, both at once on a diagonal.
    #[test]
    fn the_stick_turns_and_thrusts() {
        let mut t = TouchControls::default();
        assert!(!t.shown());
        let at = Vec2::new(100.0, 600.0);
        t.touch(TouchPhase::Start, 3, at, PHONE);
        assert!(t.shown(), "the first touch shows the controls");
        assert_eq!(t.intent(), Intent::default());
        t.touch(TouchPhase::Move, 3, at + Vec2::new(-10.0, -10.0), PHONE);
        assert_eq!(t.intent(), Intent::default(), "within the dead zone");
        t.touch(TouchPhase::Move, 3, at + Vec2::new(-40.0, 0.0), PHONE);
        assert_eq!(t.intent(), Intent { turn: 1, ..Intent::default() });
        t.touch(TouchPhase::Move, 3, at + Vec2::new(40.0, 0.0), PHONE);
        assert_eq!(t.intent(), Intent { turn: -1, ..Intent::default() });
        t.touch(TouchPhase::Move, 3, at + Vec2::new(30.0, -30.0), PHONE);
        assert_eq!(t.intent(), Intent { thrust: true, turn: -1, fire: false });
        t.touch(TouchPhase::Move, 3, at + Vec2::new(0.0, 40.0), PHONE);
        assert_eq!(t.intent(), Intent::default(), "pulling down does nothing");
        t.touch(TouchPhase::End, 3, at, PHONE);
        assert_eq!(t.intent(), Intent::default());
    }

    /// A thumb that slides past the rim drags the stick along: sliding back turns the other
    /// way at once, instead of having to cross the whole way back first.
    #[test]
    fn the_stick_follows_the_thumb_past_its_rim() {
        let mut t = TouchControls::default();
        t.touch(TouchPhase::Start, 1, Vec2::new(100.0, 600.0), PHONE);
        t.touch(TouchPhase::Move, 1, Vec2::new(300.0, 600.0), PHONE);
        assert_eq!(t.intent().turn, -1);
        t.touch(TouchPhase::Move, 1, Vec2::new(300.0 - 2.0 * STICK_RADIUS * 0.8, 600.0), PHONE);
        assert_eq!(t.intent().turn, 1);
    }

    /// Stick and fire at once, each by its own finger; other fingers on the stick's half are
    /// ignored, and a finger lifted releases only what it held.
    #[test]
    fn multi_touch_flies_and_fires() {
        let mut t = TouchControls::default();
        t.touch(TouchPhase::Start, 1, Vec2::new(80.0, 700.0), PHONE);
        t.touch(TouchPhase::Start, 2, fire_center(PHONE), PHONE);
        t.touch(TouchPhase::Start, 4, Vec2::new(150.0, 300.0), PHONE);
        t.touch(TouchPhase::Move, 4, Vec2::new(300.0, 300.0), PHONE);
        t.touch(TouchPhase::Move, 1, Vec2::new(80.0, 640.0), PHONE);
        assert_eq!(t.intent(), Intent { thrust: true, turn: 0, fire: true });
        t.touch(TouchPhase::End, 4, Vec2::new(300.0, 300.0), PHONE);
        assert_eq!(t.intent(), Intent { thrust: true, turn: 0, fire: true }, "the ignored finger held nothing");
        t.touch(TouchPhase::End, 2, fire_center(PHONE), PHONE);
        assert_eq!(t.intent(), Intent { thrust: true, turn: 0, fire: false });
        t.touch(TouchPhase::Start, 5, Vec2::new(300.0, 100.0), PHONE);
        assert!(t.intent().fire, "anywhere on the right half fires");
        t.release_all();
        assert_eq!(t.intent(), Intent::default());
    }

    /// The controls are drawn only once shown, inside the screen, with the fire button's
    /// label inside it.
    #[test]
    fn drawn_only_when_shown_and_inside_the_screen() {
        let mut t = TouchControls::default();
        let mut prims = Vec::new();
        t.draw(&mut prims, PHONE);
        assert!(prims.is_empty());
        t.show();
        for screen in [PHONE, Vec2::new(844.0, 390.0), Vec2::new(320.0, 568.0)] {
            let mut prims = Vec::new();
            t.draw(&mut prims, screen);
            assert!(prims.len() >= 4);
            for p in &prims {
                let inside = |q: Vec2| q.x >= 0.0 && q.y >= 0.0 && q.x <= screen.x && q.y <= screen.y;
                match p {
                    Prim::Poly { points, .. } => assert!(points.iter().all(|q| inside(*q))),
                    Prim::Dot { pos, radius, .. } => {
                        assert!(inside(*pos - Vec2::splat(*radius)) && inside(*pos + Vec2::splat(*radius)))
                    }
                    _ => {
                        let [x, y, w, h] = crate::hud::text_box(p).unwrap();
                        assert!(inside(Vec2::new(x, y)) && inside(Vec2::new(x + w, y + h)));
                    }
                }
            }
            assert!(fire_center(screen).y - FIRE_RADIUS >= screen.y - reserved_bottom(screen));
        }
    }
}
