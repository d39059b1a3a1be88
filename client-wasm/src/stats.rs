//! Figures for the page's debug object (`window.asteroids.stats`) and the F3 overlay: rates
//! over the last second, corrections over the last ten.
//!
//! A page stays open for hours and nobody may ever read these figures, so what they hold must
//! not grow with time or traffic. Each [`Window`] is a ring of a fixed number of time buckets,
//! allocated once: recording an event adds it to the current bucket (and recycles buckets that
//! fell out of the window), reading folds the buckets still inside it. Memory is bounded by the
//! bucket count whatever the frame rate, message rate or session length. The price is a
//! resolution of one bucket ([`BUCKET_MS`]): a window of 1 s covers the current, partly filled
//! bucket and the ten whole ones before it, and its rate divides by exactly the time covered.

use serde::Serialize;
use shared::protocol::EntityKind;

/// Width of one bucket, milliseconds: the resolution of every window's old edge.
pub const BUCKET_MS: f64 = 100.0;
/// Window of the per-second rates (frames, snapshots, bytes), milliseconds.
pub const RATE_WINDOW_MS: f64 = 1_000.0;
/// Window over which corrections are reported, milliseconds.
pub const CORRECTION_WINDOW_MS: f64 = 10_000.0;
/// The most buckets any window holds: the longest window's whole buckets, plus the current
/// one. A test holds every window to it after ten minutes of play.
pub const MAX_BUCKETS: usize = (CORRECTION_WINDOW_MS / BUCKET_MS) as usize + 1;

/// What one bucket saw.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Bucket {
    /// Which bucket of the page's clock this is (`now_ms / BUCKET_MS`, floored); a slot whose
    /// index is out of the window is stale and reads as empty.
    index: i64,
    /// Events recorded.
    count: u32,
    /// Their amounts, summed.
    sum: f64,
    /// The largest amount.
    max: f64,
}

/// Events (each with an amount) over a sliding window of fixed length, in fixed memory.
#[derive(Clone, Debug)]
pub struct Window {
    /// One slot per bucket of the window, reused round-robin; never resized.
    ring: Vec<Bucket>,
}

impl Window {
    /// A window of `span_ms` (a whole number of [`BUCKET_MS`], at most `MAX_BUCKETS - 1`),
    /// plus the current bucket.
    pub fn new(span_ms: f64) -> Window {
        let buckets = ((span_ms / BUCKET_MS).round() as usize).clamp(1, MAX_BUCKETS - 1) + 1;
        // Index -1 marks a slot as never used: no clock reading maps to it.
        Window { ring: vec![Bucket { index: -1, ..Bucket::default() }; buckets] }
    }

    fn index(now_ms: f64) -> i64 {
        (now_ms / BUCKET_MS).floor() as i64
    }

    /// Records `amount` at `now_ms`.
    pub fn add(&mut self, now_ms: f64, amount: f64) {
        let index = Self::index(now_ms);
        let len = self.ring.len() as i64;
        let slot = &mut self.ring[index.rem_euclid(len) as usize];
        if slot.index != index {
            *slot = Bucket { index, count: 0, sum: 0.0, max: 0.0 };
        }
        slot.count += 1;
        slot.sum += amount;
        slot.max = slot.max.max(amount);
    }

    /// The buckets inside the window ending at `now_ms`: the current one and the whole ones
    /// before it.
    fn live(&self, now_ms: f64) -> impl Iterator<Item = &Bucket> {
        let now = Self::index(now_ms);
        let oldest = now - self.ring.len() as i64 + 1;
        self.ring.iter().filter(move |b| b.index >= oldest && b.index <= now)
    }

    /// Sum of the amounts inside the window.
    pub fn sum(&self, now_ms: f64) -> f64 {
        self.live(now_ms).map(|b| b.sum).sum()
    }

    /// Largest amount inside the window (0 when empty).
    pub fn max(&self, now_ms: f64) -> f64 {
        self.live(now_ms).map(|b| b.max).fold(0.0, f64::max)
    }

    /// Number of events inside the window.
    pub fn count(&self, now_ms: f64) -> usize {
        self.live(now_ms).map(|b| b.count as usize).sum()
    }

    /// The amounts inside the window per second of the time it covers (its whole buckets and
    /// the elapsed part of the current one).
    pub fn per_sec(&self, now_ms: f64) -> f64 {
        let whole_ms = (self.ring.len() - 1) as f64 * BUCKET_MS;
        let current_ms = now_ms - Self::index(now_ms) as f64 * BUCKET_MS;
        self.sum(now_ms) * 1000.0 / (whole_ms + current_ms)
    }

    /// Slots held (allocated), for the test that memory stays flat.
    pub fn capacity(&self) -> usize {
        self.ring.capacity()
    }
}

/// Figures for the page's debug object and the F3 overlay, at one moment. The page's
/// `window.asteroids.stats` is this struct serialized, field for field (`web.rs`), so a new
/// figure is a field here and the line that fills it in.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DebugStats {
    /// Connection phase: "connecting", "playing", "spectating", "crossing" (into the next
    /// sector), "rejected" or "lost".
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
    /// Visible corrections of the own ship in the last 10 s (the prediction was wrong:
    /// something touched it, or an input came late).
    pub own_corrections_10s: usize,
    /// Largest visible correction of the own ship in the last 10 s, world units.
    pub max_own_correction_10s: f64,
    /// Mean time from sending an input to the snapshot acknowledging it, last 10 s, ms.
    pub input_ack_ms: Option<f64>,
    /// Ticks the own ship runs ahead of the latest snapshots (round trip and margin).
    pub lead_ticks: f64,
    /// Entities known.
    pub entities: usize,
    /// Bullets known.
    pub bullets: usize,
    /// Ships known other than the own one.
    pub other_ships: usize,
    /// Whether the own ship is drawn shielded (spawn protection), if it is in view.
    pub ship_shielded: Option<bool>,
    /// The pilot whose ship the camera follows while there is no own ship (a spectator, or a
    /// pilot waiting for a new ship), as the server named it.
    pub watching: Option<String>,
    /// The own ship's drawn position, if it is in view (to the page: `{x, y}`).
    #[serde(serialize_with = "point")]
    pub ship: Option<[f32; 2]>,
    /// The own ship's drawn heading, radians (counter-clockwise from +x), if it is in view.
    pub ship_heading: Option<f32>,
    /// The own ship's id.
    pub ship_id: Option<shared::protocol::EntityId>,
    /// The tick of the last snapshot.
    pub tick: Option<u32>,
    /// Points.
    pub score: u32,
    /// The sector of a universe the page plays in (`X,Y`), if the server is one.
    pub sector: Option<String>,
    /// Sectors of the universe the page knows of (the map), if any.
    pub sectors: usize,
    /// What the controls hold now, every device combined.
    pub intent: crate::input::Intent,
}

/// A position as the page reads it: `{x, y}`, or null.
fn point<S: serde::Serializer>(p: &Option<[f32; 2]>, s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Point {
        x: f32,
        y: f32,
    }
    p.map(|[x, y]| Point { x, y }).serialize(s)
}

/// Everything the page measures about itself.
#[derive(Clone, Debug)]
pub struct Stats {
    /// Frames drawn.
    pub frames: Window,
    /// Snapshots received.
    pub snapshots: Window,
    /// Bytes received.
    pub bytes: Window,
    /// Visible corrections (any entity), by size in world units.
    pub corrections: Window,
    /// Visible corrections of asteroids, by size in world units.
    pub asteroid_corrections: Window,
    /// Visible corrections of the own ship, by size in world units.
    pub own_corrections: Window,
    /// Inputs acknowledged, by milliseconds from sending to acknowledgement.
    pub input_acks: Window,
}

impl Default for Stats {
    fn default() -> Stats {
        Stats {
            frames: Window::new(RATE_WINDOW_MS),
            snapshots: Window::new(RATE_WINDOW_MS),
            bytes: Window::new(RATE_WINDOW_MS),
            corrections: Window::new(CORRECTION_WINDOW_MS),
            asteroid_corrections: Window::new(CORRECTION_WINDOW_MS),
            own_corrections: Window::new(CORRECTION_WINDOW_MS),
            input_acks: Window::new(CORRECTION_WINDOW_MS),
        }
    }
}

impl Stats {
    /// Records a visible correction of `distance` world units of an entity of `kind`.
    pub fn correction(&mut self, now_ms: f64, kind: EntityKind, distance: f64) {
        self.corrections.add(now_ms, distance);
        if kind.is_asteroid() {
            self.asteroid_corrections.add(now_ms, distance);
        }
    }

    /// A visible correction of the own ship (zero-size ones too: the prediction was exact).
    pub fn own_correction(&mut self, now_ms: f64, distance: f64) {
        if distance > 0.0 {
            self.own_corrections.add(now_ms, distance);
        }
    }

    /// Every window with its name, for the memory test.
    pub fn windows(&self) -> [(&'static str, &Window); 7] {
        [
            ("own_corrections", &self.own_corrections),
            ("input_acks", &self.input_acks),
            ("frames", &self.frames),
            ("snapshots", &self.snapshots),
            ("bytes", &self.bytes),
            ("corrections", &self.corrections),
            ("asteroid_corrections", &self.asteroid_corrections),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The page's debug object is the struct, field for field: the names the README and the
    /// browser tests read, a position as `{x, y}`, ids and counts as numbers, absent figures
    /// as null.
    #[test]
    fn debug_figures_serialize_as_the_page_reads_them() {
        let intent = crate::input::Intent { thrust: true, turn: -1, fire: false };
        let d =
            DebugStats { phase: "playing", ship: Some([1.5, -2.0]), ship_id: Some(7), intent, ..Default::default() };
        let v = serde_json::to_value(&d).expect("serializable");
        assert_eq!(v["ship"], serde_json::json!({ "x": 1.5, "y": -2.0 }));
        assert_eq!((v["ship_id"].as_u64(), v["phase"].as_str()), (Some(7), Some("playing")));
        assert_eq!(v["intent"], serde_json::json!({ "thrust": true, "turn": -1, "fire": false }));
        assert!(v["ping_ms"].is_null() && v["watching"].is_null());
        for key in [
            "fps",
            "snapshots_per_sec",
            "downlink_bytes_per_sec",
            "corrections_10s",
            "max_correction_10s",
            "max_asteroid_correction_10s",
            "own_corrections_10s",
            "input_ack_ms",
            "lead_ticks",
            "entities",
            "bullets",
            "other_ships",
            "ship_shielded",
            "ship_heading",
            "tick",
            "score",
            "sector",
            "sectors",
        ] {
            assert!(v.get(key).is_some(), "{key} in {v}");
        }
    }

    /// Events older than the window no longer count; count, sum and max agree.
    #[test]
    fn old_events_fall_out_of_the_window() {
        let mut w = Window::new(1_000.0);
        w.add(0.0, 5.0);
        w.add(450.0, 1.0);
        w.add(1_450.0, 2.0);
        assert_eq!((w.count(1_450.0), w.sum(1_450.0), w.max(1_450.0)), (2, 3.0, 2.0));
        assert_eq!(w.count(3_000.0), 0);
        assert_eq!(w.max(3_000.0), 0.0);
    }

    /// A steady 60 events a second reads as 60 per second at any moment, on a bucket's edge
    /// or inside one.
    #[test]
    fn rate_divides_by_the_time_covered() {
        let mut w = Window::new(RATE_WINDOW_MS);
        let frame_ms = 1000.0 / 60.0;
        for frame in 0..600 {
            let now = frame as f64 * frame_ms;
            w.add(now, 1.0);
            if now > 2_000.0 {
                assert!((w.per_sec(now) - 60.0).abs() <= 1.5, "{} at {now} ms", w.per_sec(now));
            }
        }
    }

    /// A thousand events a second for a minute leave the window the size it was made.
    #[test]
    fn memory_does_not_grow_with_events() {
        let mut w = Window::new(CORRECTION_WINDOW_MS);
        let made = w.capacity();
        assert_eq!(made, MAX_BUCKETS);
        for i in 0..60_000 {
            w.add(i as f64, 1.0);
        }
        assert_eq!(w.capacity(), made);
        assert_eq!(w.count(59_999.0), 10_100, "ten seconds of events, and the current bucket");
    }

    /// A slot left over from an earlier lap of the ring reads as empty, not as recent.
    #[test]
    fn stale_slots_from_an_earlier_lap_read_as_empty() {
        let mut w = Window::new(1_000.0);
        w.add(150.0, 7.0);
        // 2 s later the slot of bucket 1 is the slot of bucket 21: it must not leak through.
        w.add(2_150.0, 1.0);
        assert_eq!(w.sum(2_150.0), 1.0);
        assert_eq!(w.sum(5_000.0), 0.0);
    }
}
