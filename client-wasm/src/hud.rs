//! The heads-up display, laid out in screen pixels: score and ping (top left), the online and
//! all-time leaderboards (top right), the F3 debug panel (bottom left), and a banner across the
//! middle when the player cannot fly (connecting, rejected, connection lost, ship destroyed).
//! It reads the session and the figures and decides nothing; `canvas.rs` draws the result.

use crate::layout::{self, text_width, ui_scale};
use crate::scene::{Align, Prim};
use crate::session::{Phase, Session, ShipStatus};
use crate::stats::DebugStats;
use glam::Vec2;

/// Distance of the panels from the screen's edges, pixels at a HUD scale of 1.
pub const MARGIN: f32 = 16.0;
/// Height of one leaderboard line, pixels at a HUD scale of 1.
pub const LINE: f32 = 17.0;
/// Width of the score panel and of the leaderboard column, pixels at a HUD scale of 1. A
/// screen narrower than two of them (portrait phones) stacks the leaderboard below the score.
pub const PANEL_WIDTH: f32 = 250.0;
/// Rows of the online leaderboard a narrow screen shows (the all-time one is left out).
pub const NARROW_ROWS: usize = 3;
/// The banner's font size, pixels at a HUD scale of 1; it shrinks until its longest word fits.
pub const BANNER_SIZE: f32 = 20.0;
/// The smallest font the banner shrinks to, pixels.
pub const MIN_BANNER_SIZE: f32 = 10.0;

/// What the HUD must leave free besides the screen itself.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Reserved {
    /// Pixels at the screen's bottom that the right-hand column must stay above (the touch
    /// fire button).
    pub bottom: f32,
}

fn text(prims: &mut Vec<Prim>, pos: Vec2, text: String, size: f32, color: &'static str, align: Align, max_width: f32) {
    prims.push(Prim::Text { pos, text, size, color, align, max_width });
}

/// The box a text primitive is expected to cover, `[x, y, width, height]` in pixels: its
/// estimated width (never more than its `max_width`, which the canvas enforces) from its
/// anchor, from a full font size above the baseline to a quarter below. `None` for other
/// primitives.
pub fn text_box(prim: &Prim) -> Option<[f32; 4]> {
    let Prim::Text { pos, text, size, align, max_width, .. } = prim else { return None };
    let width = text_width(text, *size).min(*max_width);
    let left = match align {
        Align::Left => pos.x,
        Align::Center => pos.x - width * 0.5,
        Align::Right => pos.x - width,
    };
    Some([left, pos.y - size, width, size * 1.25])
}

/// Adds the whole HUD for a `screen` of CSS pixels: the panels once welcomed (with the debug
/// panel if `debug` is given), and the banner whenever there is something to say.
pub fn draw(
    prims: &mut Vec<Prim>,
    screen: Vec2,
    reserved: Reserved,
    session: &Session,
    debug: Option<&DebugStats>,
    now_ms: f64,
) {
    let ui = ui_scale(screen);
    if session.world.welcome.is_some() {
        let score_bottom = score_panel(prims, screen, ui, session);
        leaderboards(prims, screen, ui, reserved, score_bottom, session);
        if let Some(d) = debug {
            debug_panel(prims, screen, ui, d);
        }
    }
    banner(prims, screen, ui, session, now_ms);
}

/// Whether the score and the leaderboard fit side by side.
fn side_by_side(screen: Vec2, ui: f32) -> bool {
    screen.x >= (2.0 * PANEL_WIDTH + 3.0 * MARGIN) * ui
}

/// Score, hits, kills, deaths, players online and ping, top left. Returns its bottom edge.
fn score_panel(prims: &mut Vec<Prim>, screen: Vec2, ui: f32, s: &Session) -> f32 {
    let width = if side_by_side(screen, ui) { PANEL_WIDTH * ui } else { screen.x - 2.0 * MARGIN * ui };
    let x = MARGIN * ui;
    let score = s.standing.score;
    let line = format!("Score {}   total {}", score.points, score.total_points);
    text(prims, Vec2::new(x, 28.0 * ui), line, 20.0 * ui, "#e8f1ff", Align::Left, width);
    let line = format!("hits {}  kills {}  deaths {}", score.hits, score.kills, score.deaths);
    text(prims, Vec2::new(x, 48.0 * ui), line, 13.0 * ui, "#9fb0c8", Align::Left, width);
    let ping = s.connection.rtt_ms.map_or("–".to_string(), |r| format!("{r:.0} ms"));
    let line = format!("online {}   ping {ping}", s.standing.leaderboard.online);
    text(prims, Vec2::new(x, 66.0 * ui), line, 13.0 * ui, "#9fb0c8", Align::Left, width);
    70.0 * ui
}

/// The best players online, and below them the best of all time, right-aligned: top right on
/// a wide screen, below the score on a narrow one (the online top [`NARROW_ROWS`] only).
/// Rows that would reach into the reserved bottom are left out.
fn leaderboards(prims: &mut Vec<Prim>, screen: Vec2, ui: f32, reserved: Reserved, score_bottom: f32, s: &Session) {
    let wide = side_by_side(screen, ui);
    let width = if wide { PANEL_WIDTH * ui } else { screen.x - 2.0 * MARGIN * ui };
    let right = screen.x - MARGIN * ui;
    let line = LINE * ui;
    // The lowest baseline a row may have.
    let floor = screen.y - reserved.bottom - MARGIN * ui;
    let mut y = if wide { 28.0 * ui } else { score_bottom + 24.0 * ui };
    let online_rows =
        if wide { s.standing.leaderboard.top.len() } else { s.standing.leaderboard.top.len().min(NARROW_ROWS) };
    if y > floor || s.standing.leaderboard.top.is_empty() {
        return;
    }
    text(prims, Vec2::new(right, y), "Top online".into(), 15.0 * ui, "#e8f1ff", Align::Right, width);
    y += 20.0 * ui;
    for (i, e) in s.standing.leaderboard.top.iter().take(online_rows).enumerate() {
        if y > floor {
            return;
        }
        // AI pilots are tagged and dimmer: company, not people.
        let (tag, color) = if e.ai { ("[AI] ", "#7d8aa0") } else { ("", "#c9d4e5") };
        let row = format!("{}. {tag}{}  {}", i + 1, e.name, e.points);
        text(prims, Vec2::new(right, y), row, 13.0 * ui, color, Align::Right, width);
        y += line;
    }
    // The all-time table only where it fits whole with its title.
    let all_time = &s.standing.leaderboard.all_time;
    let needed = 12.0 * ui + 20.0 * ui + all_time.len() as f32 * line;
    if !wide || all_time.is_empty() || y + needed - line > floor {
        return;
    }
    y += 12.0 * ui;
    text(prims, Vec2::new(right, y), "Top of all time".into(), 15.0 * ui, "#e8f1ff", Align::Right, width);
    y += 20.0 * ui;
    for (i, e) in all_time.iter().enumerate() {
        let row = format!("{}. {}  {}", i + 1, e.name, e.points);
        text(prims, Vec2::new(right, y), row, 13.0 * ui, "#c9d4e5", Align::Right, width);
        y += line;
    }
}

/// The F3 panel, bottom left.
fn debug_panel(prims: &mut Vec<Prim>, screen: Vec2, ui: f32, d: &DebugStats) {
    let lines = [
        format!("fps {:.0}", d.fps),
        format!("ping {}", d.ping_ms.map_or("–".into(), |p| format!("{p:.0} ms"))),
        format!("snapshots/s {:.0}", d.snapshots_per_sec),
        format!("downlink {:.0} B/s", d.downlink_bytes_per_sec),
        format!("corrections (10 s) {}", d.corrections_10s),
        format!("largest correction (10 s) {:.3}", d.max_correction_10s),
        format!("own ship corrections (10 s) {}  largest {:.3}", d.own_corrections_10s, d.max_own_correction_10s),
        format!(
            "input → ack {}  lead {:.1} ticks",
            d.input_ack_ms.map_or("–".into(), |ms| format!("{ms:.0} ms")),
            d.lead_ticks
        ),
        format!("entities {}  tick {}", d.entities, d.tick.unwrap_or(0)),
        match &d.sector {
            Some(sector) => format!("sector {sector} of {}", d.sectors),
            None => "one world (no universe)".to_string(),
        },
    ];
    let (line, pad) = (16.0 * ui, 8.0 * ui);
    let width = (300.0 * ui).min(screen.x - 2.0 * pad);
    let top = screen.y - MARGIN * ui - lines.len() as f32 * line;
    prims.push(Prim::Rect {
        pos: Vec2::new(pad, top - line),
        size: Vec2::new(width, lines.len() as f32 * line + 12.0 * ui),
        color: "rgba(0,0,0,0.6)",
    });
    for (i, l) in lines.into_iter().enumerate() {
        let pos = Vec2::new(2.0 * pad, top + i as f32 * line);
        text(prims, pos, l, 12.0 * ui, "#7cf7ff", Align::Left, width - 2.0 * pad);
    }
}

/// What stands between the player and flying, if anything, across the screen's middle:
/// wrapped at spaces to the screen's width, and smaller if a word alone is too wide.
fn banner(prims: &mut Vec<Prim>, screen: Vec2, ui: f32, s: &Session, now_ms: f64) {
    let message = match &s.connection.phase {
        Phase::Connecting => Some(("Connecting…".to_string(), "#e8f1ff")),
        // The name form is the spectator's banner.
        Phase::Spectating => None,
        Phase::Rejected { message, .. } => Some((message.clone(), "#ffb3b3")),
        Phase::Lost { reason } => Some((format!("Connection lost ({reason}): reconnecting…"), "#ffd166")),
        // A few milliseconds between two sectors: the ship flies on, nothing to say.
        Phase::Crossing { .. } => None,
        Phase::Playing => match &s.world.ship_status {
            ShipStatus::Dead { cause, respawn_at_ms } => {
                let secs = ((respawn_at_ms - now_ms) / 1000.0).max(0.0);
                Some((format!("Your ship was destroyed: {cause}. New ship in {secs:.1} s"), "#ffd166"))
            }
            ShipStatus::Alive => None,
        },
    };
    let Some((message, color)) = message else { return };
    let width = screen.x - 2.0 * MARGIN * ui;
    let mut size = BANNER_SIZE * ui;
    let mut lines = layout::wrap(&message, size, width);
    while size > MIN_BANNER_SIZE && lines.iter().any(|l| text_width(l, size) > width) {
        size = (size * 0.9).max(MIN_BANNER_SIZE);
        lines = layout::wrap(&message, size, width);
    }
    let line = size * 1.3;
    let height = lines.len() as f32 * line + 24.0 * ui;
    let center = screen * 0.5;
    prims.push(Prim::Rect {
        pos: Vec2::new(0.0, center.y - height * 0.5),
        size: Vec2::new(screen.x, height),
        color: "rgba(0,0,0,0.65)",
    });
    // Baselines: the block of lines centred on the screen's middle.
    let first = center.y - (lines.len() as f32 - 1.0) * line * 0.5 + size * 0.35;
    for (i, l) in lines.into_iter().enumerate() {
        text(prims, Vec2::new(center.x, first + i as f32 * line), l, size, color, Align::Center, width);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::test_welcome;
    use shared::protocol::{DeathCause, GameEvent, LeaderboardEntry, ServerMsg, WorldStatus};

    fn texts(prims: &[Prim]) -> Vec<(String, Vec2, Align)> {
        prims
            .iter()
            .filter_map(|p| match p {
                Prim::Text { text, pos, align, .. } => Some((text.clone(), *pos, *align)),
                _ => None,
            })
            .collect()
    }

    fn playing() -> Session {
        let mut s = Session::new("Ada", None);
        s.on_open(0.0);
        s.on_message(test_welcome([0.0, 0.0]), 0.0).unwrap();
        s
    }

    fn draw_on(prims: &mut Vec<Prim>, screen: Vec2, s: &Session, now_ms: f64) {
        draw(prims, screen, Reserved::default(), s, None, now_ms);
    }

    /// Before the Welcome only the "Connecting…" banner shows: no score, no leaderboard.
    #[test]
    fn connecting_shows_only_the_banner() {
        let mut s = Session::new("Ada", None);
        s.on_open(0.0);
        let mut prims = Vec::new();
        draw_on(&mut prims, Vec2::new(800.0, 600.0), &s, 0.0);
        let t = texts(&prims);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].0, "Connecting…");
        assert!(t[0].1.x == 400.0 && (t[0].1.y - 300.0).abs() < 10.0, "mid-screen: {:?}", t[0].1);
    }

    /// The leaderboards hang from the right edge, all time below online, AI pilots tagged; the
    /// score is top left; nothing else shows while the ship flies.
    #[test]
    fn panels_sit_in_their_corners() {
        let mut s = playing();
        let entry = |name: &str, points| LeaderboardEntry { name: name.into(), points, kills: 0, ai: false };
        let vega = LeaderboardEntry { ai: true, ..entry("AI Vega", 5) };
        s.on_message(ServerMsg::World(WorldStatus { online: 2, hotspot: None }), 0.0).unwrap();
        s.on_message(ServerMsg::TopOnline(vec![entry("Ada", 30), entry("Bob", 10), vega]), 0.0).unwrap();
        s.on_message(ServerMsg::TopAllTime(vec![entry("Cy", 900)]), 0.0).unwrap();
        let mut prims = Vec::new();
        draw_on(&mut prims, Vec2::new(1280.0, 720.0), &s, 0.0);
        let t = texts(&prims);
        let find =
            |want: &str| t.iter().find(|(text, ..)| text == want).unwrap_or_else(|| panic!("no {want:?} in {t:?}"));
        assert_eq!(find("Score 0   total 40").1, Vec2::new(MARGIN, 28.0));
        assert_eq!(find("online 2   ping –").2, Align::Left);
        let (_, bob, align) = find("2. Bob  10");
        assert_eq!((bob.x, *align), (1280.0 - MARGIN, Align::Right));
        assert!(find("1. Cy  900").1.y > bob.y, "all time is below online");
        assert!(find("3. [AI] AI Vega  5").1.y > bob.y, "an AI pilot is tagged as one");
        assert!(!t.iter().any(|(text, ..)| text.contains("Connecting") || text.contains("destroyed")));

        // A portrait phone: the leaderboard moves below the score, three rows, no all-time.
        let mut prims = Vec::new();
        draw_on(&mut prims, Vec2::new(390.0, 844.0), &s, 0.0);
        let t = texts(&prims);
        assert!(find("2. Bob  10").1.y > 0.0);
        let score = t.iter().find(|(text, ..)| text.starts_with("online")).unwrap().1;
        let top = t.iter().find(|(text, ..)| text == "Top online").unwrap().1;
        assert!(top.y > score.y, "below the score on a narrow screen");
        assert!(!t.iter().any(|(text, ..)| text.contains("Cy")), "no all-time table on a narrow screen");
    }

    /// A destroyed ship's banner names the cause and counts down to the new ship.
    #[test]
    fn death_banner_counts_down() {
        let mut s = playing();
        let event = GameEvent::ShipDestroyed { ship_id: 7, cause: DeathCause::Asteroid, respawn_in_ticks: 180 };
        s.on_message(ServerMsg::Event(event), 1_000.0).unwrap();
        let mut prims = Vec::new();
        draw_on(&mut prims, Vec2::new(1280.0, 720.0), &s, 2_000.0);
        assert!(texts(&prims).iter().any(|(t, ..)| t == "Your ship was destroyed: hit an asteroid. New ship in 2.0 s"));
        // On a portrait phone it wraps instead of running off both edges.
        let mut prims = Vec::new();
        draw_on(&mut prims, Vec2::new(390.0, 844.0), &s, 2_000.0);
        let lines: Vec<String> = texts(&prims).into_iter().map(|t| t.0).filter(|t| !t.contains("  ")).collect();
        let banner = lines.iter().skip_while(|l| !l.starts_with("Your")).cloned().collect::<Vec<_>>();
        assert!(banner.len() >= 2, "wrapped: {banner:?}");
        assert_eq!(banner.join(" "), "Your ship was destroyed: hit an asteroid. New ship in 2.0 s");
    }

    /// The worst case on every screen from a 320×568 phone to a 4K monitor (full leaderboards
    /// of 20-character names and large scores, the death banner, the F3 panel, the touch
    /// controls' reserved corner): every text box lies within the screen, and the score and
    /// the leaderboard never overlap.
    #[test]
    fn no_text_leaves_any_screen() {
        let mut s = playing();
        let entry = |i: usize, ai| LeaderboardEntry {
            name: format!("WWWWWWWWWWWWWWWWWW{i:02}"),
            points: 9_999_999,
            kills: 0,
            ai,
        };
        let top: Vec<_> = (0..10).map(|i| entry(i, i % 2 == 0)).collect();
        s.on_message(ServerMsg::World(WorldStatus { online: 999, hotspot: None }), 0.0).unwrap();
        s.on_message(ServerMsg::TopOnline(top.clone()), 0.0).unwrap();
        s.on_message(ServerMsg::TopAllTime(top), 0.0).unwrap();
        let event = GameEvent::ShipDestroyed { ship_id: 7, cause: DeathCause::Asteroid, respawn_in_ticks: 180 };
        s.on_message(ServerMsg::Event(event), 0.0).unwrap();
        let debug = DebugStats::default();
        for (w, h) in crate::layout::tests::SCREENS {
            let screen = Vec2::new(w, h);
            for reserved in [Reserved::default(), Reserved { bottom: crate::touch::reserved_bottom(screen) }] {
                let mut prims = Vec::new();
                draw(&mut prims, screen, reserved, &s, Some(&debug), 0.0);
                let boxes: Vec<([f32; 4], String)> = prims
                    .iter()
                    .filter_map(|p| match p {
                        Prim::Text { text, .. } => text_box(p).map(|b| (b, text.clone())),
                        _ => None,
                    })
                    .collect();
                assert!(boxes.len() >= 15, "{w}×{h}: {} texts", boxes.len());
                for ([x, y, bw, bh], text) in &boxes {
                    assert!(
                        *x >= 0.0 && *y >= 0.0 && x + bw <= w && y + bh <= h,
                        "{w}×{h}: {text:?} at {x:.0},{y:.0} size {bw:.0}×{bh:.0}"
                    );
                }
                let panel = |pred: &dyn Fn(&str) -> bool| {
                    boxes.iter().filter(|(_, t)| pred(t)).map(|(b, _)| *b).collect::<Vec<_>>()
                };
                let score = panel(&|t| t.starts_with("Score") || t.starts_with("hits") || t.starts_with("online"));
                let board = panel(&|t| t.starts_with("Top") || t.contains("WWW"));
                for a in &score {
                    for b in &board {
                        let apart =
                            a[0] + a[2] <= b[0] || b[0] + b[2] <= a[0] || a[1] + a[3] <= b[1] || b[1] + b[3] <= a[1];
                        assert!(apart, "{w}×{h}: score {a:?} overlaps leaderboard {b:?}");
                    }
                }
            }
        }
    }
}
