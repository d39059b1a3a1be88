//! The model/view split. The model is the session's replica: exact, snapped to the server at
//! each snapshot's tick, read here through a [`Model`] and never changed. The view is what is
//! drawn: the model extrapolated to the display's fractional tick with `shared::kinematics`
//! (damping included, so coasting never stutters), plus, for an entity whose state the server
//! corrected, the visual error at the moment of the correction, eased away over [`BLEND_MS`]
//! (or dropped, a snap, beyond [`SNAP_DISTANCE`]).

use crate::session::Model;
use shared::protocol::{EntityId, EntityKind, Snapshot, Tick};
use shared::quant::Ctrl;
use shared::replica::{Known, Replica};
use std::collections::HashMap;

/// Time over which a correction's visual error is eased away, milliseconds.
pub const BLEND_MS: f64 = 150.0;
/// A correction larger than this (world units) is shown at once instead of eased: a
/// teleport, not an error worth hiding.
pub const SNAP_DISTANCE: f32 = 150.0;
/// The view never extrapolates further than this past the last snapshot, in ticks (half a
/// second): a stalled connection freezes the world instead of flinging it onwards.
pub const MAX_EXTRAPOLATION_TICKS: f64 = 30.0;
/// A clock estimate this far (ticks) from the measured one is replaced instead of smoothed.
pub const CLOCK_RESYNC_TICKS: f64 = 6.0;

/// Maps the page's clock to the server's tick timeline.
#[derive(Clone, Debug, Default)]
pub struct RenderClock {
    offset_ticks: Option<f64>,
    ticks_per_ms: f64,
}

impl RenderClock {
    /// A snapshot for `tick` arrived at `now_ms`: steer the estimate towards it, smoothly
    /// (network jitter must not shake the picture), or jump if it is far off.
    pub fn on_snapshot(&mut self, tick: Tick, now_ms: f64, tick_hz: u32) {
        self.ticks_per_ms = tick_hz as f64 / 1000.0;
        let measured = tick as f64 - now_ms * self.ticks_per_ms;
        self.offset_ticks = Some(match self.offset_ticks {
            Some(o) if (measured - o).abs() <= CLOCK_RESYNC_TICKS => o + (measured - o) * 0.1,
            _ => measured,
        });
    }

    /// The server tick (fractional) to display at `now_ms`.
    pub fn tick_at(&self, now_ms: f64) -> Option<f64> {
        self.offset_ticks.map(|o| o + now_ms * self.ticks_per_ms)
    }
}

/// An entity as drawn this frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pose {
    /// Its id.
    pub id: EntityId,
    /// What it is.
    pub kind: EntityKind,
    /// Drawn position, world units.
    pub pos: glam::Vec2,
    /// Drawn heading as (cos, sin).
    pub rot: glam::Vec2,
    /// Its pilot's controls (ships).
    pub ctrl: Ctrl,
}

#[derive(Clone, Copy, Debug)]
struct Blend {
    offset: glam::Vec2,
    at_ms: f64,
}

/// One visible correction, for stats.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Correction {
    /// What it is.
    pub kind: EntityKind,
    /// How far the drawn position would have jumped, world units.
    pub distance: f32,
    /// Whether it was eased (false: snapped).
    pub eased: bool,
}

/// The drawn world.
#[derive(Clone, Debug, Default)]
pub struct View {
    /// The display clock.
    clock: RenderClock,
    /// The whole tick [`View::predicted`] is at.
    predicted_tick: Option<Tick>,
    /// The replica's entities predicted to the last whole tick drawn. Derived, not a second
    /// model: rebuilt from the replica after every snapshot, then advanced a tick at a time as
    /// the display clock moves, so a frame costs about one predicted tick per entity instead
    /// of re-predicting every entity from the snapshot's tick.
    predicted: HashMap<EntityId, Known>,
    /// Visual errors being eased away, by entity.
    blends: HashMap<EntityId, Blend>,
}

impl View {
    /// Forgets everything (a new connection).
    pub fn clear(&mut self) {
        *self = View::default();
    }

    /// The displayed tick at `now_ms`, kept within what the replica supports.
    fn render_tick(&self, replica: &Replica, now_ms: f64) -> Option<f64> {
        let base = replica.tick()? as f64;
        let t = self.clock.tick_at(now_ms).unwrap_or(base);
        Some(t.clamp(base, base + MAX_EXTRAPOLATION_TICKS))
    }

    /// Brings the prediction to whole tick `to` (from the replica if it is stale).
    fn advance_prediction(&mut self, model: Model<'_>, to: Tick) {
        let Some(rt) = model.replica.tick() else { return };
        if self.predicted_tick.is_none_or(|c| c < rt || c > to) {
            self.predicted.clone_from(model.replica.entities());
            self.predicted_tick = Some(rt);
        }
        let from = self.predicted_tick.unwrap_or(rt);
        if to > from {
            for k in self.predicted.values_mut() {
                k.state = model.kinematics.advance(&k.state, k.kind, to - from);
            }
            self.predicted_tick = Some(to);
        }
    }

    fn blend_offset(&mut self, id: EntityId, now_ms: f64) -> glam::Vec2 {
        let Some(b) = self.blends.get(&id) else { return glam::Vec2::ZERO };
        let left = 1.0 - (now_ms - b.at_ms) / BLEND_MS;
        if left <= 0.0 {
            self.blends.remove(&id);
            return glam::Vec2::ZERO;
        }
        b.offset * left as f32
    }

    /// Every entity as drawn at `now_ms`.
    pub fn poses(&mut self, model: Model<'_>, now_ms: f64) -> Vec<Pose> {
        let Some(t) = self.render_tick(model.replica, now_ms) else { return Vec::new() };
        let whole = t.floor();
        self.advance_prediction(model, whole as Tick);
        let frac = (t - whole) as f32;
        let ids: Vec<EntityId> = self.predicted.keys().copied().collect();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let k = self.predicted[&id];
            let (pos, rot) = model.kinematics.render_pose(&k.state, k.kind, frac);
            let offset = self.blend_offset(id, now_ms);
            out.push(Pose { id, kind: k.kind, pos: pos + offset, rot, ctrl: k.state.ctrl });
        }
        out
    }

    /// Where one entity is drawn at `now_ms`.
    pub fn pose(&mut self, model: Model<'_>, id: EntityId, now_ms: f64) -> Option<Pose> {
        let t = self.render_tick(model.replica, now_ms)?;
        let whole = t.floor();
        self.advance_prediction(model, whole as Tick);
        let k = *self.predicted.get(&id)?;
        let (pos, rot) = model.kinematics.render_pose(&k.state, k.kind, (t - whole) as f32);
        Some(Pose { id, kind: k.kind, pos: pos + self.blend_offset(id, now_ms), rot, ctrl: k.state.ctrl })
    }

    /// Call with the drawn positions of the snapshot's `changed` entities *before* applying it
    /// to the replica (`before`), after applying it: resets the prediction, moves the clock,
    /// and turns each correction into an eased offset. Returns the corrections.
    pub fn on_snapshot(
        &mut self,
        model: Model<'_>,
        snapshot: &Snapshot,
        before: &[(EntityId, glam::Vec2)],
        now_ms: f64,
    ) -> Vec<Correction> {
        self.clock.on_snapshot(snapshot.tick, now_ms, model.tick_hz);
        self.predicted_tick = None;
        for id in &snapshot.left {
            self.blends.remove(id);
        }
        let mut corrections = Vec::new();
        for &(id, drawn) in before {
            self.blends.remove(&id);
            let Some(now) = self.pose(model, id, now_ms) else { continue };
            let error = drawn - now.pos;
            let distance = error.length();
            let eased = distance <= SNAP_DISTANCE;
            if eased && distance > 0.0 {
                self.blends.insert(id, Blend { offset: error, at_ms: now_ms });
            }
            corrections.push(Correction { kind: now.kind, distance, eased });
        }
        corrections
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::kinematics::Kinematics;
    use shared::protocol::{EntityEnter, EntityUpdate};
    use shared::quant::{Body, QState};

    fn model<'a>(replica: &'a Replica, kin: &'a Kinematics) -> Model<'a> {
        Model { replica, kinematics: kin, tick_hz: 60 }
    }

    fn kin() -> Kinematics {
        Kinematics::new([10_000.0, 10_000.0])
    }

    fn ship(x: f32, vx: f32) -> QState {
        QState::from_body(
            &Body { pos: glam::Vec2::new(x, 0.0), vel: glam::Vec2::new(vx, 0.0), rot: glam::Vec2::X, angvel: 0.0 },
            Ctrl(0),
        )
    }

    /// A coasting, damped ship drawn at whole ticks is exactly where `shared::kinematics`
    /// puts it: the client reproduces the server's damping, it does not extrapolate x + v·t.
    #[test]
    fn coasting_damped_body_follows_shared_kinematics() {
        let kin = kin();
        let mut replica = Replica::new();
        let start = ship(0.0, 300.0);
        let snap = Snapshot {
            tick: 100,
            entered: vec![EntityEnter { id: 1, kind: EntityKind::Ship, state: start }],
            ..Default::default()
        };
        replica.apply(&snap, &kin).unwrap();
        let mut view = View::default();
        view.on_snapshot(model(&replica, &kin), &snap, &[], 0.0);
        for ticks in [0u32, 1, 7, 30] {
            let now_ms = ticks as f64 * 1000.0 / 60.0;
            let drawn = view.pose(model(&replica, &kin), 1, now_ms).unwrap().pos;
            let want = kin.advance(&start, EntityKind::Ship, ticks).position();
            assert!((drawn - want).length() < 1e-3, "after {ticks} ticks: drawn {drawn}, model {want}");
        }
        // And the damping matters: naive x + v·t would be far ahead after 30 ticks.
        let naive = 300.0 * 0.5;
        let drawn = view.pose(model(&replica, &kin), 1, 500.0).unwrap().pos.x;
        assert!(naive - drawn > 1.0, "damped {drawn} vs naive {naive}");
    }

    /// A small correction is eased: no frame jumps by more than a fraction of it, and it is
    /// gone after BLEND_MS. A large one snaps.
    #[test]
    fn small_corrections_blend_large_ones_snap() {
        let kin = kin();
        let mut replica = Replica::new();
        let mut view = View::default();
        let s1 = Snapshot {
            tick: 10,
            entered: vec![EntityEnter { id: 1, kind: EntityKind::AsteroidSmall, state: ship(0.0, 0.0) }],
            ..Default::default()
        };
        replica.apply(&s1, &kin).unwrap();
        view.on_snapshot(model(&replica, &kin), &s1, &[], 0.0);
        let t = 3.0 * 1000.0 / 60.0;
        let drawn_before = view.pose(model(&replica, &kin), 1, t).unwrap().pos;
        let s2 =
            Snapshot { tick: 13, changed: vec![EntityUpdate { id: 1, state: ship(4.0, 0.0) }], ..Default::default() };
        replica.apply(&s2, &kin).unwrap();
        let c = view.on_snapshot(model(&replica, &kin), &s2, &[(1, drawn_before)], t);
        assert_eq!(c.len(), 1);
        assert!(c[0].eased && (c[0].distance - 4.0).abs() < 1e-3);
        let mut last = view.pose(model(&replica, &kin), 1, t).unwrap().pos.x;
        assert!((last - drawn_before.x).abs() < 1e-3, "no pop at the moment of correction");
        for step in 1..=12 {
            let x = view.pose(model(&replica, &kin), 1, t + step as f64 * 16.0).unwrap().pos.x;
            assert!((x - last).abs() < 0.6, "a frame moved {} units", x - last);
            last = x;
        }
        assert_eq!(view.pose(model(&replica, &kin), 1, t + BLEND_MS + 1.0).unwrap().pos.x, 4.0);

        let s3 =
            Snapshot { tick: 16, changed: vec![EntityUpdate { id: 1, state: ship(900.0, 0.0) }], ..Default::default() };
        let before = view.pose(model(&replica, &kin), 1, t + 200.0).unwrap().pos;
        replica.apply(&s3, &kin).unwrap();
        let c = view.on_snapshot(model(&replica, &kin), &s3, &[(1, before)], t + 200.0);
        assert!(!c[0].eased);
        assert_eq!(view.pose(model(&replica, &kin), 1, t + 200.0).unwrap().pos.x, 900.0);
    }

    /// The clock follows snapshots smoothly and resyncs when far off.
    #[test]
    fn clock_smooths_jitter() {
        let mut c = RenderClock::default();
        c.on_snapshot(300, 5000.0, 60);
        assert_eq!(c.tick_at(5000.0), Some(300.0));
        c.on_snapshot(303, 5060.0, 60); // 10 ms late: measured offset 0.6 tick lower
        let t = c.tick_at(5060.0).unwrap();
        assert!((t - 303.54).abs() < 1e-6, "{t}");
        c.on_snapshot(900, 5100.0, 60);
        assert_eq!(c.tick_at(5100.0), Some(900.0));
    }
}
