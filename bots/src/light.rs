//! What a light bot keeps instead of the page's replica.
//!
//! The replica predicts every entity in view through every snapshot (`Kinematics::advance`,
//! 4 substeps and a quantization per tick, about 75 entities, 3 ticks, 20 times a second):
//! most of a full bot's CPU. That prediction is what the dead-reckoning figures measure, so a
//! sample of bots keeps it; the rest keep [`LastSeen`]: each entity's last authoritative state
//! and the tick it was for, written as snapshots arrive and read only when the pilot asks.
//! Only the own ship is predicted at every snapshot (one entity), because the view follows it.
//!
//! A light bot still decodes every message and checks that each snapshot fits what it knows
//! (a newer tick, no unknown ids in `changed` or `left`, no known id entering twice), so a
//! broken stream ends its connection as it would a full bot's. Its pilot sees other entities
//! extrapolated in a straight line from their last state: exact for asteroids (no damping)
//! until something touches them, close enough to aim at for ships.

use crate::pilot::Sight;
use glam::Vec2;
use shared::kinematics::Kinematics;
use shared::protocol::{EntityId, EntityKind, Snapshot, Tick};
use shared::quant::{Body, QState};
use shared::replica::ApplyError;
use std::collections::HashMap;

/// One entity as last seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Seen {
    kind: EntityKind,
    /// Its state at `tick`: the server's, or (for the own ship) predicted from it.
    state: QState,
    tick: Tick,
}

/// The entities in a light bot's view, each as last seen.
#[derive(Clone, Debug, Default)]
pub struct LastSeen {
    /// The last snapshot's tick.
    tick: Option<Tick>,
    seen: HashMap<EntityId, Seen>,
    /// Seconds per tick, from the Welcome's kinematics (for extrapolating).
    dt_secs: f32,
}

impl LastSeen {
    /// Nothing seen yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Entities in view.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether nothing is in view.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// The last snapshot's tick.
    pub fn tick(&self) -> Option<Tick> {
        self.tick
    }

    /// Records a snapshot: forgets `left`, notes `entered` and `changed` as seen at its tick,
    /// and predicts the own ship `own` to that tick if the snapshot did not mention it.
    pub fn apply(&mut self, snap: &Snapshot, own: Option<EntityId>, kin: &Kinematics) -> Result<(), ApplyError> {
        if let Some(have) = self.tick.filter(|&have| snap.tick <= have) {
            return Err(ApplyError::StaleTick { have, got: snap.tick });
        }
        self.dt_secs = kin.dt;
        for id in &snap.left {
            self.seen.remove(id).ok_or(ApplyError::UnknownEntity(*id))?;
        }
        for e in &snap.entered {
            let seen = Seen { kind: e.kind, state: e.state, tick: snap.tick };
            if self.seen.insert(e.id, seen).is_some() {
                return Err(ApplyError::AlreadyKnown(e.id));
            }
        }
        for c in &snap.changed {
            let seen = self.seen.get_mut(&c.id).ok_or(ApplyError::UnknownEntity(c.id))?;
            (seen.state, seen.tick) = (c.state, snap.tick);
        }
        if let Some(ship) = own.and_then(|id| self.seen.get_mut(&id)) {
            // Whole ticks from a grid state, as the replica does: the same state, bit for bit.
            ship.state = kin.advance(&ship.state, ship.kind, snap.tick - ship.tick);
            ship.tick = snap.tick;
        }
        self.tick = Some(snap.tick);
        Ok(())
    }

    /// The own ship's state at the last snapshot's tick (if [`LastSeen::apply`] was told
    /// which it is).
    pub fn ship(&self, own: EntityId) -> Option<QState> {
        self.seen.get(&own).filter(|s| Some(s.tick) == self.tick).map(|s| s.state)
    }

    /// What a pilot flying `own` sees.
    pub fn sight(&self, own: Option<EntityId>) -> LightSight<'_> {
        LightSight { seen: self, own }
    }
}

/// [`LastSeen`] as a pilot sees it: the own ship as predicted, everything else extrapolated
/// in a straight line to the last snapshot's tick.
#[derive(Clone, Copy, Debug)]
pub struct LightSight<'a> {
    seen: &'a LastSeen,
    own: Option<EntityId>,
}

impl Sight for LightSight<'_> {
    fn own_ship(&self) -> Option<Body> {
        self.own.and_then(|id| self.seen.ship(id)).map(|s| s.body())
    }

    fn others(&self, f: &mut dyn FnMut(EntityKind, Vec2)) {
        let now = self.seen.tick.unwrap_or(0);
        for (id, s) in &self.seen.seen {
            if Some(*id) != self.own {
                let body = s.state.body();
                f(s.kind, body.pos + body.vel * ((now - s.tick) as f32 * self.seen.dt_secs));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::protocol::{EntityEnter, EntityUpdate};
    use shared::quant::Ctrl;
    use shared::replica::Replica;

    fn state(x: f32, vx: f32, ctrl: Ctrl) -> QState {
        QState::from_body(&Body { pos: Vec2::new(x, 0.0), vel: Vec2::new(vx, 0.0), rot: Vec2::X, angvel: 0.0 }, ctrl)
    }

    /// The own ship, thrusting and turning between corrections, is where the page's replica
    /// puts it after every snapshot, bit for bit; a respawned ship (a new id) is followed as
    /// soon as it enters.
    #[test]
    fn own_ship_is_tracked_exactly_as_the_replica_predicts() {
        let kin = Kinematics::new([5000.0, 5000.0]);
        let thrusting = Ctrl::from_intent(true, 1);
        let snapshots = [
            Snapshot {
                tick: 10,
                entered: vec![
                    EntityEnter { id: 7, kind: EntityKind::Ship, state: state(0.0, 50.0, thrusting), appearing: 0 },
                    EntityEnter {
                        id: 8,
                        kind: EntityKind::AsteroidLarge,
                        state: state(300.0, -20.0, Ctrl(0)),
                        appearing: 0,
                    },
                ],
                ..Default::default()
            },
            Snapshot { tick: 13, ..Default::default() },
            Snapshot {
                tick: 16,
                changed: vec![EntityUpdate { id: 8, state: state(250.0, 0.0, Ctrl(0)) }],
                ..Default::default()
            },
            Snapshot {
                tick: 19,
                changed: vec![EntityUpdate { id: 7, state: state(40.0, 10.0, Ctrl::from_intent(false, -1)) }],
                ..Default::default()
            },
            Snapshot { tick: 25, ..Default::default() },
        ];
        let (mut light, mut replica) = (LastSeen::new(), Replica::new());
        for snap in &snapshots {
            light.apply(snap, Some(7), &kin).unwrap();
            replica.apply(snap, &kin).unwrap();
            assert_eq!(light.ship(7), Some(replica.get(7).unwrap().state), "tick {}", snap.tick);
            assert_eq!(light.len(), replica.entities().len());
        }
        // Destroyed, then a new ship enters: followed from its first snapshot on.
        let gone = Snapshot { tick: 28, left: vec![7], ..Default::default() };
        light.apply(&gone, Some(7), &kin).unwrap();
        assert_eq!(light.ship(7), None);
        let reborn = Snapshot {
            tick: 31,
            entered: vec![EntityEnter {
                id: 9,
                kind: EntityKind::Ship,
                state: state(-100.0, 0.0, thrusting),
                appearing: 0,
            }],
            ..Default::default()
        };
        light.apply(&reborn, Some(9), &kin).unwrap();
        light.apply(&Snapshot { tick: 34, ..Default::default() }, Some(9), &kin).unwrap();
        let expected = kin.advance(&state(-100.0, 0.0, thrusting), EntityKind::Ship, 3);
        assert_eq!(light.ship(9), Some(expected));
        assert!(light.ship(9).unwrap().position().x > -100.0, "thrusting along +x");
    }

    /// The pilot sees the own ship and, in a straight line from their last state, the
    /// others: an asteroid last seen 10 ticks ago has moved 10 ticks' worth.
    #[test]
    fn a_pilot_sees_others_extrapolated() {
        let kin = Kinematics::new([5000.0, 5000.0]);
        let mut light = LastSeen::new();
        let enter = Snapshot {
            tick: 100,
            entered: vec![
                EntityEnter { id: 1, kind: EntityKind::Ship, state: state(0.0, 0.0, Ctrl(0)), appearing: 0 },
                EntityEnter {
                    id: 2,
                    kind: EntityKind::AsteroidSmall,
                    state: state(600.0, 60.0, Ctrl(0)),
                    appearing: 0,
                },
            ],
            ..Default::default()
        };
        light.apply(&enter, Some(1), &kin).unwrap();
        light.apply(&Snapshot { tick: 110, ..Default::default() }, Some(1), &kin).unwrap();
        let sight = light.sight(Some(1));
        assert_eq!(sight.own_ship().map(|b| b.pos), Some(Vec2::ZERO));
        let mut others = Vec::new();
        sight.others(&mut |kind, pos| others.push((kind, pos)));
        assert_eq!(others.len(), 1, "the own ship is not among the others");
        assert_eq!(others[0].0, EntityKind::AsteroidSmall);
        assert!((others[0].1.x - 610.0).abs() < 0.01, "60 units/s for 10 ticks of 1/60 s: {:?}", others[0].1);
        assert!(light.sight(None).own_ship().is_none(), "no ship while dead");
    }

    /// A stale tick, an unknown id in `changed` or `left`, and a known id entering again are
    /// errors, as they are for the replica; an id may leave and re-enter in one snapshot.
    #[test]
    fn snapshots_that_do_not_fit_are_errors() {
        let kin = Kinematics::new([5000.0, 5000.0]);
        let mut light = LastSeen::new();
        let enter =
            |id| EntityEnter { id, kind: EntityKind::AsteroidSmall, state: state(0.0, 0.0, Ctrl(0)), appearing: 0 };
        light.apply(&Snapshot { tick: 5, entered: vec![enter(1)], ..Default::default() }, None, &kin).unwrap();
        let stale = Snapshot { tick: 5, ..Default::default() };
        assert_eq!(light.apply(&stale, None, &kin), Err(ApplyError::StaleTick { have: 5, got: 5 }));
        let unknown = Snapshot { tick: 6, left: vec![9], ..Default::default() };
        assert_eq!(light.apply(&unknown, None, &kin), Err(ApplyError::UnknownEntity(9)));
        let changed = Snapshot {
            tick: 6,
            changed: vec![EntityUpdate { id: 9, state: state(0.0, 0.0, Ctrl(0)) }],
            ..Default::default()
        };
        assert_eq!(light.apply(&changed, None, &kin), Err(ApplyError::UnknownEntity(9)));
        let twice = Snapshot { tick: 6, entered: vec![enter(1)], ..Default::default() };
        assert_eq!(light.apply(&twice, None, &kin), Err(ApplyError::AlreadyKnown(1)));
        let again = Snapshot { tick: 7, entered: vec![enter(1)], left: vec![1], ..Default::default() };
        assert_eq!(light.apply(&again, None, &kin), Ok(()));
        assert_eq!((light.len(), light.tick()), (1, Some(7)));
    }
}
