//! How a well-behaved bot flies. A pilot sees only what a player sees (the replica of its view,
//! and which entity is its own ship) and answers with an [`Intent`]: the controls to hold. The
//! bot hands that to the page's own [`asteroids_client::input::Controls`], which turns changes
//! into inputs exactly as a keyboard's would.

use asteroids_client::input::Intent;
use glam::Vec2;
use rand::rngs::SmallRng;
use rand::Rng;
use shared::protocol::{EntityId, EntityKind};
use shared::replica::Replica;

/// A wanderer, or a fighter with nothing to hunt: holds random controls for a random while.
#[derive(Clone, Debug, Default)]
pub struct Wander {
    held: Intent,
    until_ms: f64,
}

impl Wander {
    /// Thrusts (60 % of the time) and turns at random, never fires; a new choice every
    /// 0.4–2 s.
    fn decide(&mut self, now_ms: f64, rng: &mut SmallRng) -> Intent {
        if now_ms >= self.until_ms {
            self.held = Intent { thrust: rng.random_bool(0.6), turn: rng.random_range(-1..=1), fire: false };
            self.until_ms = now_ms + rng.random_range(400.0..2000.0);
        }
        self.held
    }
}

/// A hunter: turns towards the nearest ship (or else the nearest asteroid), closes in, and
/// fires when aligned and in range.
#[derive(Clone, Debug, Default)]
pub struct Fight {
    /// What it does when nothing is in view.
    wander: Wander,
}

/// Aligned enough to fire or thrust: the cosine of about 14°.
const AIM_COS: f32 = 0.97;
/// A fighter closes in until this near, world units.
const CLOSE_IN_DISTANCE: f32 = 500.0;
/// A fighter fires at targets nearer than this, world units.
const FIRE_DISTANCE: f32 = 800.0;

impl Fight {
    fn decide(&mut self, replica: &Replica, ship: Option<EntityId>, now_ms: f64, rng: &mut SmallRng) -> Intent {
        let Some(me) = ship.and_then(|id| replica.get(id)) else { return Intent::default() };
        let body = me.state.body();
        let nearest = |want: fn(EntityKind) -> bool| {
            replica
                .entities()
                .iter()
                .filter(|(id, k)| Some(**id) != ship && want(k.kind))
                .map(|(_, k)| k.state.position())
                .min_by(|a, b| a.distance_squared(body.pos).total_cmp(&b.distance_squared(body.pos)))
        };
        let Some(target) = nearest(|k| k == EntityKind::Ship).or_else(|| nearest(EntityKind::is_asteroid)) else {
            return self.wander.decide(now_ms, rng);
        };
        let to: Vec2 = (target - body.pos).normalize_or(Vec2::X);
        let aligned = body.rot.dot(to) > AIM_COS;
        let turn = if aligned {
            0
        } else if body.rot.perp_dot(to) > 0.0 {
            1
        } else {
            -1
        };
        let distance = target.distance(body.pos);
        Intent { thrust: aligned && distance > CLOSE_IN_DISTANCE, turn, fire: aligned && distance < FIRE_DISTANCE }
    }
}

/// A well-behaved bot's mind.
#[derive(Clone, Debug)]
pub enum Pilot {
    /// Flies around at random, never fires.
    Wander(Wander),
    /// Hunts ships, then asteroids.
    Fight(Fight),
    /// Connected and watching, never touching the controls.
    Idle,
}

impl Pilot {
    /// What to hold now, seeing `replica` with its own ship `ship` (none while dead).
    pub fn decide(&mut self, replica: &Replica, ship: Option<EntityId>, now_ms: f64, rng: &mut SmallRng) -> Intent {
        match self {
            Pilot::Wander(w) => w.decide(now_ms, rng),
            Pilot::Fight(f) => f.decide(replica, ship, now_ms, rng),
            Pilot::Idle => Intent::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use shared::kinematics::Kinematics;
    use shared::protocol::{EntityEnter, Snapshot};
    use shared::quant::{Body, Ctrl, QState};

    fn replica(entities: &[(EntityId, EntityKind, Vec2)]) -> Replica {
        let state = |pos| QState::from_body(&Body { pos, vel: Vec2::ZERO, rot: Vec2::X, angvel: 0.0 }, Ctrl(0));
        let entered =
            entities.iter().map(|&(id, kind, pos)| EntityEnter { id, kind, state: state(pos) }).collect::<Vec<_>>();
        let mut r = Replica::new();
        r.apply(&Snapshot { tick: 1, entered, ..Default::default() }, &Kinematics::new([5000.0, 5000.0])).unwrap();
        r
    }

    /// A fighter facing +x turns towards a ship above it, and fires at one straight ahead in
    /// range; ships come before asteroids.
    #[test]
    fn fighter_turns_to_and_fires_at_the_nearest_ship() {
        let mut rng = SmallRng::seed_from_u64(1);
        let mut pilot = Pilot::Fight(Fight::default());
        let above = replica(&[(1, EntityKind::Ship, Vec2::ZERO), (2, EntityKind::Ship, Vec2::new(0.0, 300.0))]);
        assert_eq!(pilot.decide(&above, Some(1), 0.0, &mut rng), Intent { thrust: false, turn: 1, fire: false });
        let ahead = replica(&[
            (1, EntityKind::Ship, Vec2::ZERO),
            (2, EntityKind::AsteroidSmall, Vec2::new(0.0, -50.0)),
            (3, EntityKind::Ship, Vec2::new(600.0, 0.0)),
        ]);
        assert_eq!(pilot.decide(&ahead, Some(1), 0.0, &mut rng), Intent { thrust: true, turn: 0, fire: true });
        assert_eq!(pilot.decide(&ahead, None, 0.0, &mut rng), Intent::default(), "no ship, no controls");
    }

    /// A wanderer keeps its choice for a while, never fires, and the same seed makes the same
    /// choices; an idle pilot holds nothing.
    #[test]
    fn wanderer_is_seeded_and_idle_holds_nothing() {
        let empty = replica(&[]);
        let run = |seed| {
            let mut rng = SmallRng::seed_from_u64(seed);
            let mut pilot = Pilot::Wander(Wander::default());
            (0..200).map(|i| pilot.decide(&empty, None, i as f64 * 100.0, &mut rng)).collect::<Vec<_>>()
        };
        let a = run(7);
        assert_eq!(a, run(7));
        assert!(a.iter().all(|i| !i.fire));
        assert!(a.windows(2).filter(|w| w[0] != w[1]).count() < 60, "choices are held for 0.4 s or more");
        assert!(a.iter().any(|i| i.thrust) && a.iter().any(|i| i.turn != 0));
        let mut rng = SmallRng::seed_from_u64(1);
        assert_eq!(Pilot::Idle.decide(&empty, Some(1), 0.0, &mut rng), Intent::default());
    }
}
