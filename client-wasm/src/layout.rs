//! How big things are on a given screen: how much of the field the camera shows, how large
//! the HUD's text is, and how wide a line of text is expected to be. Every screen, from a
//! 320 px-wide phone to a 4K monitor, is laid out by these few rules, tested here natively.
//!
//! The camera shows about [`TARGET_VIEW_AREA`] square world units on every screen, so a player
//! with a larger monitor sees no further than one on a phone (only sharper); the server's view
//! clamp ([`MAX_VIEW_SIZE`], with [`VIEW_PADDING`] around the screen) bounds each side, which
//! only bites on tall portrait phones: they see a little less area, but the full height the
//! server allows. Text is sized in CSS pixels, which are about the same physical size on
//! phones and desktops, so it scales up only on screens whose shorter side exceeds
//! [`UI_REFERENCE_PX`] (where CSS pixels are physically small, or the screen is far away).

use glam::Vec2;
use shared::constants::{MAX_ENTITY_RADIUS, MAX_VIEW_SIZE};

/// Extra margin around the screen in the view sent to the server, world units: the view need
/// not be re-sent until the camera has moved half of it.
pub const VIEW_SLACK: f32 = 128.0;
/// Total padding on each side of the screen in the view sent to the server: an entity whose
/// centre is off screen but whose body shows is still sent.
pub const VIEW_PADDING: f32 = MAX_ENTITY_RADIUS + VIEW_SLACK;

/// World units² the camera shows on every screen: what a 1280×720 desktop showed at one pixel
/// per unit. Chosen as large as a 19.5:9 portrait phone can come close to within the server's
/// view clamp (it gets 74 % of it, limited by the clamp's height); a 1600×900-sized target
/// would leave that phone less than half.
pub const TARGET_VIEW_AREA: f32 = 1280.0 * 720.0;
/// The shorter screen side (CSS pixels) at which the HUD is drawn at its nominal sizes.
pub const UI_REFERENCE_PX: f32 = 720.0;
/// The smallest HUD scale (small phones): text stays legible.
pub const MIN_UI_SCALE: f32 = 0.85;
/// The largest HUD scale (4K at one CSS pixel per device pixel).
pub const MAX_UI_SCALE: f32 = 2.0;
/// An upper bound of a system-ui glyph's advance, as a fraction of the font size: widths
/// estimated with it are never smaller than what the canvas draws for the HUD's texts (digits
/// and most letters are 0.5–0.6 em), and the canvas squeezes any text to its box anyway.
pub const GLYPH_EM: f32 = 0.62;

/// The largest visible area (world units) the server's view clamp allows around a screen.
fn max_visible() -> Vec2 {
    Vec2::new(MAX_VIEW_SIZE[0], MAX_VIEW_SIZE[1]) - Vec2::splat(2.0 * VIEW_PADDING)
}

/// Pixels per world unit for a `screen` (CSS pixels): about [`TARGET_VIEW_AREA`] in view,
/// never more than the server's clamp allows in either axis.
pub fn camera_scale(screen: Vec2) -> f32 {
    let for_area = (screen.x * screen.y / TARGET_VIEW_AREA).sqrt();
    let fit = screen / max_visible();
    for_area.max(fit.x).max(fit.y)
}

/// The HUD's scale for a `screen`: 1 at [`UI_REFERENCE_PX`] on the shorter side, within
/// [`MIN_UI_SCALE`]..=[`MAX_UI_SCALE`].
pub fn ui_scale(screen: Vec2) -> f32 {
    (screen.min_element() / UI_REFERENCE_PX).clamp(MIN_UI_SCALE, MAX_UI_SCALE)
}

/// The expected width of `text` at font size `size` (an upper bound, see [`GLYPH_EM`]).
pub fn text_width(text: &str, size: f32) -> f32 {
    text.chars().count() as f32 * size * GLYPH_EM
}

/// Splits `text` at spaces into lines no wider than `width` at font size `size`; a word wider
/// than `width` gets a line of its own (the caller shrinks the font until none is).
pub fn wrap(text: &str, size: f32, width: f32) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        match lines.last_mut() {
            Some(line) if text_width(&format!("{line} {word}"), size) <= width => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    lines
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Screens from the smallest phone to a 4K monitor, both orientations where it applies.
    pub(crate) const SCREENS: [(f32, f32); 16] = [
        (320.0, 568.0),
        (568.0, 320.0),
        (360.0, 800.0),
        (390.0, 844.0),
        (844.0, 390.0),
        (430.0, 932.0),
        (932.0, 430.0),
        (768.0, 1024.0),
        (1024.0, 768.0),
        (1280.0, 720.0),
        (1366.0, 768.0),
        (1920.0, 1080.0),
        (2560.0, 1440.0),
        (3440.0, 1440.0),
        (3840.0, 2160.0),
        (2160.0, 3840.0),
    ];

    /// On every screen the camera shows the target area to within 5 %, unless the server's
    /// clamp limits one side, which it then fills; no screen sees less than 70 % of the target,
    /// and the view asked of the server always fits its clamp.
    #[test]
    fn every_screen_sees_about_the_target_area() {
        for (w, h) in SCREENS {
            let screen = Vec2::new(w, h);
            let scale = camera_scale(screen);
            let visible = screen / scale;
            let ratio = visible.x * visible.y / TARGET_VIEW_AREA;
            let clamped = (visible - max_visible()).abs().min_element() < 0.5;
            assert!(
                (0.95..=1.05).contains(&ratio) || (clamped && ratio >= 0.70),
                "{w}×{h}: {:.0}×{:.0} in view, {:.0} % of the target",
                visible.x,
                visible.y,
                ratio * 100.0
            );
            let asked = visible + Vec2::splat(2.0 * VIEW_PADDING);
            assert!(asked.x <= MAX_VIEW_SIZE[0] + 0.01 && asked.y <= MAX_VIEW_SIZE[1] + 0.01, "{w}×{h} asks {asked}");
        }
    }

    /// A 1280×720 screen is the reference: one pixel per unit, HUD at nominal size.
    #[test]
    fn the_reference_screen_is_one_to_one() {
        let screen = Vec2::new(1280.0, 720.0);
        assert_eq!((camera_scale(screen), ui_scale(screen)), (1.0, 1.0));
        assert_eq!(ui_scale(Vec2::new(390.0, 844.0)), MIN_UI_SCALE);
        assert_eq!(ui_scale(Vec2::new(3840.0, 2160.0)), MAX_UI_SCALE);
    }

    /// Wrapping keeps words whole and every line within the width.
    #[test]
    fn wrapping_keeps_lines_within_the_width() {
        let text = "Your ship was destroyed: hit an asteroid. New ship in 1.5 s";
        let lines = wrap(text, 17.0, 358.0);
        assert!(lines.len() > 1, "{lines:?}");
        assert_eq!(lines.join(" "), text);
        assert!(lines.iter().all(|l| text_width(l, 17.0) <= 358.0), "{lines:?}");
        assert_eq!(wrap("Connecting…", 20.0, 1000.0), vec!["Connecting…"]);
    }
}
