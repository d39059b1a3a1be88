//! The heads-up display, laid out in screen pixels: score and ping (top left), the online and
//! all-time leaderboards (top right), the F3 debug panel (bottom left), and a banner across the
//! middle when the player cannot fly (connecting, rejected, connection lost, ship destroyed).
//! It reads the session and the figures and decides nothing; `canvas.rs` draws the result.

use crate::scene::{Align, Prim};
use crate::session::{Phase, Session, ShipStatus};
use crate::stats::DebugStats;
use glam::Vec2;

/// Distance of the panels from the screen's edges, pixels.
pub const MARGIN: f32 = 16.0;
/// Height of one leaderboard line, pixels.
pub const LINE: f32 = 17.0;

fn text(prims: &mut Vec<Prim>, pos: Vec2, text: String, size: f32, color: &'static str, align: Align) {
    prims.push(Prim::Text { pos, text, size, color, align });
}

/// Adds the whole HUD for a `screen` of CSS pixels: the panels once welcomed (with the debug
/// panel if `debug` is given), and the banner whenever there is something to say.
pub fn draw(prims: &mut Vec<Prim>, screen: Vec2, session: &Session, debug: Option<&DebugStats>, now_ms: f64) {
    if session.welcome.is_some() {
        score_panel(prims, session);
        leaderboards(prims, screen, session);
        if let Some(d) = debug {
            debug_panel(prims, screen, d);
        }
    }
    banner(prims, screen, session, now_ms);
}

/// Score, hits, kills, deaths, players online and ping, top left.
fn score_panel(prims: &mut Vec<Prim>, s: &Session) {
    let score = s.score;
    let line = format!("Score {}   total {}", score.points, score.total_points);
    text(prims, Vec2::new(MARGIN, 28.0), line, 20.0, "#e8f1ff", Align::Left);
    let line = format!("hits {}  kills {}  deaths {}", score.hits, score.kills, score.deaths);
    text(prims, Vec2::new(MARGIN, 48.0), line, 13.0, "#9fb0c8", Align::Left);
    let ping = s.rtt_ms.map_or("–".to_string(), |r| format!("{r:.0} ms"));
    let line = format!("online {}   ping {ping}", s.leaderboard.online);
    text(prims, Vec2::new(MARGIN, 66.0), line, 13.0, "#9fb0c8", Align::Left);
}

/// The best players online, and below them the best of all time, right-aligned top right.
fn leaderboards(prims: &mut Vec<Prim>, screen: Vec2, s: &Session) {
    let right = screen.x - MARGIN;
    text(prims, Vec2::new(right, 28.0), "Top online".into(), 15.0, "#e8f1ff", Align::Right);
    for (i, e) in s.leaderboard.top.iter().enumerate() {
        // AI pilots are tagged and dimmer: company, not people.
        let (tag, color) = if e.ai { ("[AI] ", "#7d8aa0") } else { ("", "#c9d4e5") };
        let line = format!("{}. {tag}{}  {}", i + 1, e.name, e.points);
        text(prims, Vec2::new(right, 48.0 + i as f32 * LINE), line, 13.0, color, Align::Right);
    }
    if !s.leaderboard.all_time.is_empty() {
        let top = 60.0 + s.leaderboard.top.len() as f32 * LINE + 12.0;
        text(prims, Vec2::new(right, top), "Top of all time".into(), 15.0, "#e8f1ff", Align::Right);
        for (i, e) in s.leaderboard.all_time.iter().enumerate() {
            let line = format!("{}. {}  {}", i + 1, e.name, e.points);
            text(prims, Vec2::new(right, top + 20.0 + i as f32 * LINE), line, 13.0, "#c9d4e5", Align::Right);
        }
    }
}

/// The F3 panel, bottom left.
fn debug_panel(prims: &mut Vec<Prim>, screen: Vec2, d: &DebugStats) {
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
    ];
    let top = screen.y - MARGIN - lines.len() as f32 * 16.0;
    prims.push(Prim::Rect {
        pos: Vec2::new(8.0, top - 16.0),
        size: Vec2::new(260.0, lines.len() as f32 * 16.0 + 12.0),
        color: "rgba(0,0,0,0.6)",
    });
    for (i, l) in lines.into_iter().enumerate() {
        text(prims, Vec2::new(MARGIN, top + i as f32 * 16.0), l, 12.0, "#7cf7ff", Align::Left);
    }
}

/// What stands between the player and flying, if anything, across the screen's middle.
fn banner(prims: &mut Vec<Prim>, screen: Vec2, s: &Session, now_ms: f64) {
    let message = match &s.phase {
        Phase::Connecting => Some(("Connecting…".to_string(), "#e8f1ff")),
        // The name form is the spectator's banner.
        Phase::Spectating => None,
        Phase::Rejected { message, .. } => Some((message.clone(), "#ffb3b3")),
        Phase::Lost { reason } => Some((format!("Connection lost ({reason}): reconnecting…"), "#ffd166")),
        Phase::Playing => match &s.ship_status {
            ShipStatus::Dead { cause, respawn_at_ms } => {
                let secs = ((respawn_at_ms - now_ms) / 1000.0).max(0.0);
                Some((format!("Your ship was destroyed: {cause}. New ship in {secs:.1} s"), "#ffd166"))
            }
            ShipStatus::Alive => None,
        },
    };
    if let Some((line, color)) = message {
        let center = screen * 0.5;
        prims.push(Prim::Rect {
            pos: Vec2::new(0.0, center.y - 40.0),
            size: Vec2::new(screen.x, 64.0),
            color: "rgba(0,0,0,0.65)",
        });
        text(prims, center, line, 20.0, color, Align::Center);
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
        s.on_open();
        s.on_message(test_welcome([0.0, 0.0]), 0.0).unwrap();
        s
    }

    /// Before the Welcome only the "Connecting…" banner shows: no score, no leaderboard.
    #[test]
    fn connecting_shows_only_the_banner() {
        let mut s = Session::new("Ada", None);
        s.on_open();
        let mut prims = Vec::new();
        draw(&mut prims, Vec2::new(800.0, 600.0), &s, None, 0.0);
        let t = texts(&prims);
        assert_eq!(t.len(), 1);
        assert_eq!((t[0].0.as_str(), t[0].1), ("Connecting…", Vec2::new(400.0, 300.0)));
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
        draw(&mut prims, Vec2::new(1000.0, 600.0), &s, None, 0.0);
        let t = texts(&prims);
        let find =
            |want: &str| t.iter().find(|(text, ..)| text == want).unwrap_or_else(|| panic!("no {want:?} in {t:?}"));
        assert_eq!(find("Score 0   total 40").1, Vec2::new(MARGIN, 28.0));
        assert_eq!(find("online 2   ping –").2, Align::Left);
        let (_, bob, align) = find("2. Bob  10");
        assert_eq!((bob.x, *align), (1000.0 - MARGIN, Align::Right));
        assert!(find("1. Cy  900").1.y > bob.y, "all time is below online");
        assert!(find("3. [AI] AI Vega  5").1.y > bob.y, "an AI pilot is tagged as one");
        assert!(!t.iter().any(|(text, ..)| text.contains("Connecting") || text.contains("destroyed")));
    }

    /// A destroyed ship's banner names the cause and counts down to the new ship.
    #[test]
    fn death_banner_counts_down() {
        let mut s = playing();
        let event = GameEvent::ShipDestroyed { ship_id: 7, cause: DeathCause::Asteroid, respawn_in_ticks: 180 };
        s.on_message(ServerMsg::Event(event), 1_000.0).unwrap();
        let mut prims = Vec::new();
        draw(&mut prims, Vec2::new(800.0, 600.0), &s, None, 2_000.0);
        assert!(texts(&prims).iter().any(|(t, ..)| t == "Your ship was destroyed: hit an asteroid. New ship in 2.0 s"));
    }
}
