//! A client's copy of the world: the entities in its view, kept by applying snapshots.
//!
//! The browser client, the bots and the tests all use this, and the server's sessions build
//! their diffs on the promise it keeps: between snapshots every known entity moves exactly as
//! [`Kinematics::advance`] predicts, so an entity that nothing disturbed needs no bytes.

use crate::kinematics::Kinematics;
use crate::protocol::{EntityEnter, EntityId, EntityKind, Snapshot, Tick};
use crate::quant::QState;
use crate::time::TickExt;
use std::collections::HashMap;

/// One entity as the client knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Known {
    /// What it is.
    pub kind: EntityKind,
    /// Its state at the replica's tick.
    pub state: QState,
    /// The tick by which it has appeared: at or before the tick it entered at for nearly every
    /// entity, later for an asteroid spawned in sight (see [`EntityEnter::appearing`]).
    pub appears_until: Tick,
}

/// The ticks left at `tick` until an entity that has appeared by `appears_until` is all there,
/// as [`EntityEnter::appearing`] carries them (the inverse of [`Known::entered`]).
pub fn appearing(appears_until: Tick, tick: Tick) -> u8 {
    appears_until.since(tick).get().min(u8::MAX.into()) as u8
}

impl Known {
    /// An entity as it entered at tick `tick`.
    pub fn entered(e: &EntityEnter, tick: Tick) -> Known {
        Known { kind: e.kind, state: e.state, appears_until: tick + Tick::from(e.appearing) }
    }

    /// How far it has appeared at (fractional) tick `t`: 0 just spawned in sight, 1 all there.
    pub fn appeared(&self, t: f64) -> f32 {
        let left = self.appears_until as f64 - t;
        (1.0 - left / f64::from(crate::constants::ASTEROID_APPEAR.get())).clamp(0.0, 1.0) as f32
    }
}

/// A snapshot that cannot be applied: the server broke the protocol, or the client skipped or
/// reordered messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApplyError {
    /// The snapshot is not newer than the replica.
    StaleTick {
        /// The replica's tick.
        have: Tick,
        /// The snapshot's tick.
        got: Tick,
    },
    /// `changed` or `left` names an entity the replica does not know.
    UnknownEntity(EntityId),
    /// `entered` names an entity the replica already knows.
    AlreadyKnown(EntityId),
}

impl core::fmt::Display for ApplyError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ApplyError::StaleTick { have, got } => {
                write!(f, "snapshot for tick {got} after tick {have}")
            }
            ApplyError::UnknownEntity(id) => write!(f, "snapshot names unknown entity {id}"),
            ApplyError::AlreadyKnown(id) => write!(f, "entity {id} entered twice"),
        }
    }
}

impl std::error::Error for ApplyError {}

/// One entity the server corrected: the client's prediction and the server's state, both at
/// the snapshot's tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Correction {
    /// Which entity.
    pub id: EntityId,
    /// What it is.
    pub kind: EntityKind,
    /// The client's prediction.
    pub predicted: QState,
    /// The server's state.
    pub actual: QState,
}

/// The entities a client knows, all at one tick.
#[derive(Clone, Debug, Default)]
pub struct Replica {
    tick: Option<Tick>,
    entities: HashMap<EntityId, Known>,
}

impl Replica {
    /// An empty replica (before the first snapshot).
    pub fn new() -> Self {
        Self::default()
    }

    /// The tick of the last applied snapshot.
    pub fn tick(&self) -> Option<Tick> {
        self.tick
    }

    /// Every known entity, at [`Replica::tick`].
    pub fn entities(&self) -> &HashMap<EntityId, Known> {
        &self.entities
    }

    /// One entity.
    pub fn get(&self, id: EntityId) -> Option<&Known> {
        self.entities.get(&id)
    }

    /// Forgets everything (after a reconnect the server starts from an empty baseline).
    pub fn clear(&mut self) {
        self.tick = None;
        self.entities.clear();
    }

    /// Predicts every known entity forward to the snapshot's tick, then applies its
    /// differences. On error the replica is left unchanged.
    pub fn apply(&mut self, snap: &Snapshot, kin: &Kinematics) -> Result<(), ApplyError> {
        self.apply_observed(snap, kin, |_| {})
    }

    /// [`Replica::apply`], calling `observe` for every corrected entity with what the
    /// prediction said and what the server sent (for dead-reckoning error statistics).
    pub fn apply_observed(
        &mut self,
        snap: &Snapshot,
        kin: &Kinematics,
        mut observe: impl FnMut(&Correction),
    ) -> Result<(), ApplyError> {
        if let Some(have) = self.tick {
            if snap.tick <= have {
                return Err(ApplyError::StaleTick { have, got: snap.tick });
            }
        }
        for id in snap.left.iter().chain(snap.changed.iter().map(|c| &c.id)) {
            if !self.entities.contains_key(id) {
                return Err(ApplyError::UnknownEntity(*id));
            }
        }
        for e in &snap.entered {
            // An id may leave and re-enter in one snapshot only if it is in `left` too.
            if self.entities.contains_key(&e.id) && !snap.left.contains(&e.id) {
                return Err(ApplyError::AlreadyKnown(e.id));
            }
        }

        let ticks = self.tick.map_or(0, |have| snap.tick - have);
        for id in &snap.left {
            self.entities.remove(id);
        }
        if ticks > 0 {
            for known in self.entities.values_mut() {
                known.state = kin.advance(&known.state, known.kind, ticks);
            }
        }
        for e in &snap.entered {
            self.entities.insert(e.id, Known::entered(e, snap.tick));
        }
        for c in &snap.changed {
            if let Some(known) = self.entities.get_mut(&c.id) {
                observe(&Correction { id: c.id, kind: known.kind, predicted: known.state, actual: c.state });
                known.state = c.state;
            }
        }
        self.tick = Some(snap.tick);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{EntityEnter, EntityUpdate};
    use crate::quant::{Body, Ctrl};
    use glam::Vec2;

    fn state(x: f32, vx: f32) -> QState {
        QState::from_body(&Body { pos: Vec2::new(x, 0.0), vel: Vec2::new(vx, 0.0), rot: Vec2::X, angvel: 0.0 }, Ctrl(0))
    }

    /// Unmentioned entities are predicted; changed ones overwritten; left ones forgotten.
    #[test]
    fn applies_diffs_with_prediction() {
        let kin = Kinematics::new([10_000.0, 10_000.0]);
        let mut r = Replica::new();
        let enter = |id, x| EntityEnter { id, kind: EntityKind::AsteroidSmall, state: state(x, 60.0), appearing: 0 };
        r.apply(&Snapshot { tick: 10, entered: vec![enter(1, 0.0), enter(2, 100.0)], ..Default::default() }, &kin)
            .unwrap();
        let fixed = state(500.0, 0.0);
        let mut corrected = Vec::new();
        r.apply_observed(
            &Snapshot { tick: 13, changed: vec![EntityUpdate { id: 2, state: fixed }], ..Default::default() },
            &kin,
            |c| corrected.push((c.id, c.actual)),
        )
        .unwrap();
        assert_eq!(corrected, [(2, fixed)], "one correction, observed");
        assert_eq!(r.tick(), Some(13));
        assert_eq!(r.get(1).unwrap().state, kin.advance(&state(0.0, 60.0), EntityKind::AsteroidSmall, 3));
        assert_eq!(r.get(1).unwrap().state.position(), Vec2::new(3.0, 0.0));
        assert_eq!(r.get(2).unwrap().state, fixed);
        r.apply(&Snapshot { tick: 14, left: vec![1], ..Default::default() }, &kin).unwrap();
        assert!(r.get(1).is_none());
    }

    /// An entity that enters appearing has appeared in proportion to the ticks gone by, and
    /// wholly after [`crate::constants::ASTEROID_APPEAR`]; any other is all there.
    #[test]
    fn appearing_entities_grow_in() {
        let t = crate::constants::ASTEROID_APPEAR.get();
        let kin = Kinematics::new([10_000.0, 10_000.0]);
        let mut r = Replica::new();
        let rock =
            |id, appearing| EntityEnter { id, kind: EntityKind::AsteroidLarge, state: state(0.0, 0.0), appearing };
        let entered = vec![rock(1, t as u8), rock(2, (t / 3) as u8), rock(3, 0)];
        r.apply(&Snapshot { tick: 100, entered, ..Default::default() }, &kin).unwrap();
        let at = |id, t: f64| r.get(id).unwrap().appeared(t);
        assert_eq!((at(1, 100.0), at(2, 100.0), at(3, 100.0)), (0.0, 2.0 / 3.0, 1.0));
        assert_eq!(at(1, 100.0 + f64::from(t) / 2.0), 0.5);
        assert_eq!((at(1, 100.0 + f64::from(t)), at(2, 200.0)), (1.0, 1.0));
    }

    /// Protocol violations are errors and leave the replica untouched.
    #[test]
    fn rejects_violations() {
        let kin = Kinematics::new([10_000.0, 10_000.0]);
        let mut r = Replica::new();
        r.apply(&Snapshot { tick: 5, ..Default::default() }, &kin).unwrap();
        assert_eq!(
            r.apply(&Snapshot { tick: 5, ..Default::default() }, &kin),
            Err(ApplyError::StaleTick { have: 5, got: 5 })
        );
        assert_eq!(
            r.apply(&Snapshot { tick: 6, left: vec![9], ..Default::default() }, &kin),
            Err(ApplyError::UnknownEntity(9))
        );
        assert_eq!(r.tick(), Some(5));
    }
}
