//! The model/view split. The model is the session's replica: exact, snapped to the server at
//! each snapshot's tick, read here through a [`Model`] and never changed. The view is what is
//! drawn: the model extrapolated with `shared::kinematics` (damping included, so coasting never
//! stutters) to the server's present ([`crate::clock`]), except the player's own ship and its
//! bullets, drawn a little further ahead, where the own ship's prediction ([`crate::predict`])
//! has them; plus, for an entity whose drawn position a snapshot changed, the visual error at
//! that moment, eased away over [`BLEND_MS`] or longer, at most [`MAX_EASE_SPEED`] (or
//! dropped, a snap, beyond [`SNAP_DISTANCE`]).

use crate::predict::MAX_PREDICTION;
use crate::session::Model;
use shared::kinematics::lerp_pose;
use shared::protocol::{EntityId, EntityKind, Snapshot, Tick};
use shared::quant::Ctrl;
use shared::replica::Known;
use std::collections::HashMap;

/// Shortest time over which a correction's visual error is eased away, milliseconds.
pub const BLEND_MS: f64 = 150.0;
/// Fastest a correction is eased away, world units per second (half a ship's top speed): a
/// larger error takes longer than [`BLEND_MS`], so that after a stall the catch-up is seen as
/// motion a body could have, not as a dash.
pub const MAX_EASE_SPEED: f64 = 210.0;
/// A correction larger than this (world units) is shown at once instead of eased: a
/// teleport, not an error worth hiding.
pub const SNAP_DISTANCE: f32 = 150.0;
/// The view never extrapolates further than this past the last snapshot, in ticks (a
/// second): a stall of half a second plus the way down is drawn as motion the physics allows;
/// a link that stays silent longer freezes the world instead of flinging it onwards.
pub const MAX_EXTRAPOLATION_TICKS: f64 = 60.0;
/// Ids given to the own ship's predicted shots while they have no server bullet: counted down
/// from the top of the id space, which the server never reaches.
pub const PREDICTED_SHOT_IDS: EntityId = u64::MAX;

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
    /// How far it has appeared: 1 for nearly everything, less for an asteroid the server
    /// spawned in sight, which grows from nothing (see `Known::appeared`).
    pub appeared: f32,
}

#[derive(Clone, Copy, Debug)]
struct Blend {
    offset: glam::Vec2,
    at_ms: f64,
    over_ms: f64,
}

/// One visible correction, for stats.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Correction {
    /// Which entity.
    pub id: EntityId,
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

/// The fractional tick the world is drawn at: the server's present, kept within what the
/// replica supports.
fn render_tick(model: Model<'_>) -> Option<f64> {
    let base = model.replica.tick()? as f64;
    let t = model.clock.present().unwrap_or(base);
    Some(t.clamp(base, base + MAX_EXTRAPOLATION_TICKS))
}

/// The fractional tick the own ship and its bullets are drawn at, kept within the prediction.
fn own_tick(model: Model<'_>) -> Option<f64> {
    let base = model.prediction.base_tick()? as f64;
    let t = model.clock.own()?;
    Some(t.clamp(base, base + f64::from(MAX_PREDICTION.get()) - 1.0))
}

impl View {
    /// Forgets everything (a new connection).
    pub fn clear(&mut self) {
        *self = View::default();
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
        let left = 1.0 - (now_ms - b.at_ms) / b.over_ms;
        if left <= 0.0 {
            self.blends.remove(&id);
            return glam::Vec2::ZERO;
        }
        b.offset * left as f32
    }

    /// The own ship where the prediction has it at the own tick.
    fn own_ship(model: Model<'_>, id: EntityId) -> Option<Pose> {
        let t = own_tick(model)?;
        let w = t.floor();
        let a = model.prediction.state(w as Tick)?;
        let b = model.prediction.state(w as Tick + 1).unwrap_or(a);
        let (pos, rot) = lerp_pose(&a, &b, (t - w) as f32);
        Some(Pose { id, kind: EntityKind::Ship, pos, rot, ctrl: b.ctrl, appeared: 1.0 })
    }

    /// An own bullet the server confirmed, from the replica to the own tick.
    fn own_bullet(model: Model<'_>, id: EntityId) -> Option<Pose> {
        let t = own_tick(model)?;
        let k = model.replica.get(id)?;
        let ahead = (t.floor() as Tick).saturating_sub(model.replica.tick()?);
        let state = model.kinematics.advance(&k.state, k.kind, ahead);
        let (pos, rot) = model.kinematics.render_pose(&state, k.kind, (t - t.floor()) as f32);
        Some(Pose { id, kind: k.kind, pos, rot, ctrl: state.ctrl, appeared: 1.0 })
    }

    /// Where entity `id` is drawn, before easing: on the own ship's timeline if it is the own
    /// ship or one of its bullets, at the server's present otherwise.
    fn raw_pose(&self, model: Model<'_>, id: EntityId, present: f64) -> Option<Pose> {
        if model.prediction.is_destroyed(id) {
            return None;
        }
        if model.prediction.ship() == Some(id) {
            if let Some(p) = View::own_ship(model, id) {
                return Some(p);
            }
        } else if model.prediction.is_own_bullet(id) {
            if let Some(p) = View::own_bullet(model, id) {
                return Some(p);
            }
        }
        let k = self.predicted.get(&id)?;
        let (pos, rot) = model.kinematics.render_pose(&k.state, k.kind, (present - present.floor()) as f32);
        Some(Pose { id, kind: k.kind, pos, rot, ctrl: k.state.ctrl, appeared: k.appeared(present) })
    }

    /// Every entity as drawn at `now_ms` (the clocks as of the session's last poll), and the
    /// own ship's shots that have no server bullet yet.
    pub fn poses(&mut self, model: Model<'_>, now_ms: f64) -> Vec<Pose> {
        let Some(t) = render_tick(model) else { return Vec::new() };
        self.advance_prediction(model, t.floor() as Tick);
        let ids: Vec<EntityId> = self.predicted.keys().copied().collect();
        let mut out = Vec::with_capacity(ids.len() + 4);
        for id in ids {
            if let Some(p) = self.raw_pose(model, id, t) {
                let offset = self.blend_offset(id, now_ms);
                out.push(Pose { pos: p.pos + offset, ..p });
            }
        }
        if let Some(c) = own_tick(model) {
            let w = c.floor() as Tick;
            let fired: Vec<_> = model.prediction.shots_at(w).collect();
            for (i, b) in model.prediction.shots_at(w + 1).enumerate() {
                // A shot fired at the next tick starts where it appears.
                let a = fired.get(i).copied().unwrap_or(b);
                let (pos, rot) = lerp_pose(&a, &b, (c - c.floor()) as f32);
                let id = PREDICTED_SHOT_IDS - i as EntityId;
                out.push(Pose { id, kind: EntityKind::Bullet, pos, rot, ctrl: Ctrl(0), appeared: 1.0 });
            }
        }
        out
    }

    /// Where one entity is drawn at `now_ms`.
    pub fn pose(&mut self, model: Model<'_>, id: EntityId, now_ms: f64) -> Option<Pose> {
        let t = render_tick(model)?;
        self.advance_prediction(model, t.floor() as Tick);
        let p = self.raw_pose(model, id, t)?;
        Some(Pose { pos: p.pos + self.blend_offset(id, now_ms), ..p })
    }

    /// Call with the drawn positions (`before`) of the entities a snapshot may move on screen
    /// (those it corrects, and the own ship), taken *before* the session applied it, once it
    /// has: resets the prediction and turns each change of drawn position into an eased
    /// offset. Returns the corrections.
    pub fn on_snapshot(
        &mut self,
        model: Model<'_>,
        snapshot: &Snapshot,
        before: &[(EntityId, glam::Vec2)],
        now_ms: f64,
    ) -> Vec<Correction> {
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
                let over_ms = BLEND_MS.max(1000.0 * distance as f64 / MAX_EASE_SPEED);
                self.blends.insert(id, Blend { offset: error, at_ms: now_ms, over_ms });
            }
            corrections.push(Correction { id, kind: now.kind, distance, eased });
        }
        corrections
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use crate::predict::Prediction;
    use shared::kinematics::Kinematics;
    use shared::protocol::{EntityEnter, EntityUpdate, Input};
    use shared::quant::{Body, QState};
    use shared::replica::Replica;

    const MS_PER_TICK: f64 = 1000.0 / 60.0;

    /// What a view reads, owned: a replica, a clock that shows the server's present at tick
    /// 100 + 0 at page time 0 (and the own ship 5 ticks ahead), and a prediction.
    struct World {
        replica: Replica,
        kin: Kinematics,
        clock: Clock,
        prediction: Prediction,
    }

    impl World {
        fn new(first_tick: Tick) -> World {
            World {
                replica: Replica::new(),
                kin: Kinematics::new([10_000.0, 10_000.0]),
                clock: Clock::settled(60, first_tick as f64, 0.0, 5.0),
                prediction: Prediction::default(),
            }
        }

        fn model(&self) -> Model<'_> {
            Model {
                replica: &self.replica,
                kinematics: &self.kin,
                tick_hz: 60,
                clock: &self.clock,
                prediction: &self.prediction,
            }
        }

        fn at(&mut self, now_ms: f64) -> Model<'_> {
            self.clock.advance(now_ms);
            if let Some(own) = self.clock.own() {
                self.prediction.extend_to(own.floor() as Tick + 1);
            }
            self.model()
        }
    }

    /// A world at tick 10 with one small asteroid at rest at the origin (id 1), drawn once.
    fn one_rock_at_rest() -> (World, View) {
        let mut w = World::new(10);
        let mut view = View::default();
        let s1 = Snapshot {
            tick: 10,
            entered: vec![EntityEnter { id: 1, kind: EntityKind::AsteroidSmall, state: ship(0.0, 0.0), appearing: 0 }],
            ..Default::default()
        };
        w.replica.apply(&s1, &w.kin).unwrap();
        view.on_snapshot(w.at(0.0), &s1, &[], 0.0);
        (w, view)
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
        let mut w = World::new(100);
        let start = ship(0.0, 300.0);
        let snap = Snapshot {
            tick: 100,
            entered: vec![EntityEnter { id: 1, kind: EntityKind::Ship, state: start, appearing: 0 }],
            ..Default::default()
        };
        w.replica.apply(&snap, &w.kin).unwrap();
        let mut view = View::default();
        view.on_snapshot(w.at(0.0), &snap, &[], 0.0);
        for ticks in [0u32, 1, 7, 30] {
            let now_ms = ticks as f64 * MS_PER_TICK;
            let drawn = view.pose(w.at(now_ms), 1, now_ms).unwrap().pos;
            let want = w.kin.advance(&start, EntityKind::Ship, ticks).position();
            assert!((drawn - want).length() < 1e-3, "after {ticks} ticks: drawn {drawn}, model {want}");
        }
        // And the damping matters: naive x + v·t would be far ahead after 30 ticks.
        let naive = 300.0 * 0.5;
        let drawn = view.pose(w.at(500.0), 1, 500.0).unwrap().pos.x;
        assert!(naive - drawn > 1.0, "damped {drawn} vs naive {naive}");
    }

    /// A small correction is eased: no frame jumps by more than a fraction of it, and it is
    /// gone after BLEND_MS. A large one snaps.
    #[test]
    fn small_corrections_blend_large_ones_snap() {
        let (mut w, mut view) = one_rock_at_rest();
        let t = 3.0 * MS_PER_TICK;
        let drawn_before = view.pose(w.at(t), 1, t).unwrap().pos;
        let s2 =
            Snapshot { tick: 13, changed: vec![EntityUpdate { id: 1, state: ship(4.0, 0.0) }], ..Default::default() };
        w.replica.apply(&s2, &w.kin).unwrap();
        let c = view.on_snapshot(w.at(t), &s2, &[(1, drawn_before)], t);
        assert_eq!(c.len(), 1);
        assert!(c[0].eased && (c[0].distance - 4.0).abs() < 1e-3);
        let mut last = view.pose(w.at(t), 1, t).unwrap().pos.x;
        assert!((last - drawn_before.x).abs() < 1e-3, "no pop at the moment of correction");
        for step in 1..=12 {
            let now = t + step as f64 * 16.0;
            let x = view.pose(w.at(now), 1, now).unwrap().pos.x;
            assert!((x - last).abs() < 0.6, "a frame moved {} units", x - last);
            last = x;
        }
        let later = t + BLEND_MS + 1.0;
        assert_eq!(view.pose(w.at(later), 1, later).unwrap().pos.x, 4.0);

        let s3 =
            Snapshot { tick: 16, changed: vec![EntityUpdate { id: 1, state: ship(900.0, 0.0) }], ..Default::default() };
        let before = view.pose(w.at(t + 200.0), 1, t + 200.0).unwrap().pos;
        w.replica.apply(&s3, &w.kin).unwrap();
        let c = view.on_snapshot(w.at(t + 200.0), &s3, &[(1, before)], t + 200.0);
        assert!(!c[0].eased);
        assert_eq!(view.pose(w.at(t + 200.0), 1, t + 200.0).unwrap().pos.x, 900.0);
    }

    /// A large correction (a ship that turned during a stall) is eased no faster than
    /// MAX_EASE_SPEED: the catch-up looks like motion, not a dash.
    #[test]
    fn large_corrections_ease_no_faster_than_a_body_moves() {
        let (mut w, mut view) = one_rock_at_rest();
        let before = view.pose(w.at(0.0), 1, 0.0).unwrap().pos;
        let s2 =
            Snapshot { tick: 11, changed: vec![EntityUpdate { id: 1, state: ship(120.0, 0.0) }], ..Default::default() };
        w.replica.apply(&s2, &w.kin).unwrap();
        view.on_snapshot(w.at(0.0), &s2, &[(1, before)], 0.0);
        let mut last = view.pose(w.at(0.0), 1, 0.0).unwrap().pos.x;
        assert_eq!(last, 0.0, "no pop");
        let mut now = 0.0;
        while last < 120.0 {
            now += MS_PER_TICK;
            let x = view.pose(w.at(now), 1, now).unwrap().pos.x;
            assert!(x - last <= (MAX_EASE_SPEED * MS_PER_TICK / 1000.0) as f32 + 1e-3, "a frame moved {}", x - last);
            last = x;
            assert!(now < 1000.0, "still easing after a second");
        }
        assert!(now >= 1000.0 * 120.0 / MAX_EASE_SPEED - MS_PER_TICK, "eased over {now} ms");
    }

    /// The own ship is drawn where the prediction has it, ahead of the server's present, and
    /// an input shows on the very next frame; another ship stays at the present.
    #[test]
    fn the_own_ship_answers_the_next_frame() {
        let mut w = World::new(100);
        let rest = ship(0.0, 0.0);
        let snap = Snapshot {
            tick: 100,
            entered: vec![
                EntityEnter { id: 7, kind: EntityKind::Ship, state: rest, appearing: 0 },
                EntityEnter { id: 8, kind: EntityKind::Ship, state: ship(50.0, 60.0), appearing: 0 },
            ],
            ..Default::default()
        };
        w.replica.apply(&snap, &w.kin).unwrap();
        w.prediction.reset(w.kin, 7);
        w.prediction.on_snapshot(&snap, Some(rest), 0.0);
        let mut view = View::default();
        view.on_snapshot(w.at(0.0), &snap, &[], 0.0);
        let still = view.pose(w.at(10.0), 7, 10.0).unwrap();
        assert_eq!(still.pos, glam::Vec2::ZERO);
        // Turn left, stamped for the own ship's next tick (105 + 1).
        w.clock.advance(10.0);
        let tick = w.clock.stamp();
        assert_eq!(tick, 106);
        w.prediction.sent(Input { seq: 1, tick, turn: 1, ..Input::default() }, 10.0, 5.0);
        let next_frame = 10.0 + MS_PER_TICK;
        let turned = view.pose(w.at(next_frame), 7, next_frame).unwrap();
        assert!(turned.rot.y > 0.0, "the nose turned on the next frame: {:?}", turned.rot);
        // The other ship is at the present (tick 100 + 1.6), not at the own tick.
        let other = view.pose(w.at(next_frame), 8, next_frame).unwrap();
        let at_present = w.kin.advance(&ship(50.0, 60.0), EntityKind::Ship, 1).position().x;
        assert!((other.pos.x - at_present).abs() < 1.0, "{} vs {at_present}", other.pos.x);
        // Destroyed (the event came before the snapshot in which it leaves): not drawn at
        // all, rather than drawn at the present, a lead behind where it was just drawn.
        w.prediction.set_ship(None);
        assert_eq!(view.pose(w.at(next_frame), 7, next_frame), None);
        assert!(view.poses(w.at(next_frame), next_frame).iter().all(|p| p.id != 7));
    }
}
