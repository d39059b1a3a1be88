//! How a well-behaved bot flies. A pilot sees only what a player sees (its own ship and what
//! else is in view, through a [`Sight`]) and answers with an [`Intent`]: the controls to hold.
//! The bot hands that to the page's own [`asteroids_client::input::Controls`], which turns
//! changes into inputs exactly as a keyboard's would.

use asteroids_client::input::Intent;
use glam::Vec2;
use rand::rngs::SmallRng;
use rand::Rng;
use shared::protocol::{EntityId, EntityKind};
use shared::quant::Body;
use shared::replica::Replica;

/// What a pilot sees. A bot with the page's replica sees through [`InReplica`]; a light bot
/// through its last sightings ([`crate::light::LastSeen`]).
pub trait Sight {
    /// The own ship, while it flies and is in view.
    fn own_ship(&self) -> Option<Body>;
    /// Calls `f` with the kind and position of every other entity in view.
    fn others(&self, f: &mut dyn FnMut(EntityKind, Vec2));
}

/// The page's replica, seen from the ship `ship`.
#[derive(Clone, Copy, Debug)]
pub struct InReplica<'a> {
    /// The world in view.
    pub replica: &'a Replica,
    /// The own ship, if it flies.
    pub ship: Option<EntityId>,
}

impl Sight for InReplica<'_> {
    fn own_ship(&self) -> Option<Body> {
        self.ship.and_then(|id| self.replica.get(id)).map(|k| k.state.body())
    }

    fn others(&self, f: &mut dyn FnMut(EntityKind, Vec2)) {
        for (id, k) in self.replica.entities() {
            if Some(*id) != self.ship {
                f(k.kind, k.state.position());
            }
        }
    }
}

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
    fn decide(&mut self, sight: &impl Sight, now_ms: f64, rng: &mut SmallRng) -> Intent {
        let Some(body) = sight.own_ship() else { return Intent::default() };
        // The nearest ship and the nearest asteroid, in one pass: (distance², position).
        let (mut ship, mut rock) = (None::<(f32, Vec2)>, None::<(f32, Vec2)>);
        sight.others(&mut |kind, pos| {
            let nearest = match kind {
                EntityKind::Ship => &mut ship,
                k if k.is_asteroid() => &mut rock,
                _ => return,
            };
            let d = pos.distance_squared(body.pos);
            if nearest.is_none_or(|(best, _)| d < best) {
                *nearest = Some((d, pos));
            }
        });
        let Some((_, target)) = ship.or(rock) else {
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

/// A traveller: picks a heading along one of the axes, toward an edge with a neighbouring
/// sector when it knows of one ([`Voyage::entered`]), turns to it and flies on, through the
/// edge and across the next sector; a new heading in every sector, and after
/// [`VOYAGE_HEADING_MS`] in any case (a heading into a closed edge only bounces).
#[derive(Clone, Debug, Default)]
pub struct Voyage {
    heading: Vec2,
    until_ms: f64,
}

/// Longest a voyager keeps one heading, milliseconds.
pub const VOYAGE_HEADING_MS: f64 = 30_000.0;

impl Voyage {
    /// The ship is in a new sector (or the first one), whose open edges are `open`: head for
    /// one of them (any axis if none is open).
    pub fn entered(&mut self, open: shared::kinematics::OpenEdges, now_ms: f64, rng: &mut SmallRng) {
        let all = [(open.right, Vec2::X), (open.left, -Vec2::X), (open.top, Vec2::Y), (open.bottom, -Vec2::Y)];
        let ways: Vec<Vec2> = all.iter().filter(|(o, _)| *o).map(|(_, v)| *v).collect();
        let ways = if ways.is_empty() { all.map(|(_, v)| v).to_vec() } else { ways };
        self.heading = ways[rng.random_range(0..ways.len())];
        self.until_ms = now_ms + VOYAGE_HEADING_MS;
    }

    fn decide(&mut self, sight: &impl Sight, now_ms: f64, rng: &mut SmallRng) -> Intent {
        if self.heading == Vec2::ZERO || now_ms >= self.until_ms {
            self.entered(shared::kinematics::OpenEdges::default(), now_ms, rng);
        }
        let Some(body) = sight.own_ship() else { return Intent::default() };
        let aligned = body.rot.dot(self.heading) > AIM_COS;
        let turn = if aligned {
            0
        } else if body.rot.perp_dot(self.heading) > 0.0 {
            1
        } else {
            -1
        };
        Intent { thrust: aligned, turn, fire: false }
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
    /// Travels from sector to sector (see [`Voyage`]).
    Voyage(Voyage),
}

impl Pilot {
    /// What to hold now, seeing `sight`.
    pub fn decide(&mut self, sight: &impl Sight, now_ms: f64, rng: &mut SmallRng) -> Intent {
        match self {
            Pilot::Wander(w) => w.decide(now_ms, rng),
            Pilot::Fight(f) => f.decide(sight, now_ms, rng),
            Pilot::Idle => Intent::default(),
            Pilot::Voyage(v) => v.decide(sight, now_ms, rng),
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
        let entered = entities
            .iter()
            .map(|&(id, kind, pos)| EntityEnter { id, kind, state: state(pos), appearing: 0 })
            .collect::<Vec<_>>();
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
        assert_eq!(
            pilot.decide(&InReplica { replica: &above, ship: Some(1) }, 0.0, &mut rng),
            Intent { thrust: false, turn: 1, fire: false }
        );
        let ahead = replica(&[
            (1, EntityKind::Ship, Vec2::ZERO),
            (2, EntityKind::AsteroidSmall, Vec2::new(0.0, -50.0)),
            (3, EntityKind::Ship, Vec2::new(600.0, 0.0)),
        ]);
        assert_eq!(
            pilot.decide(&InReplica { replica: &ahead, ship: Some(1) }, 0.0, &mut rng),
            Intent { thrust: true, turn: 0, fire: true }
        );
        assert_eq!(
            pilot.decide(&InReplica { replica: &ahead, ship: None }, 0.0, &mut rng),
            Intent::default(),
            "no ship, no controls"
        );
    }

    /// A wanderer keeps its choice for a while, never fires, and the same seed makes the same
    /// choices; an idle pilot holds nothing.
    #[test]
    fn wanderer_is_seeded_and_idle_holds_nothing() {
        let empty = replica(&[]);
        let run = |seed| {
            let mut rng = SmallRng::seed_from_u64(seed);
            let mut pilot = Pilot::Wander(Wander::default());
            (0..200)
                .map(|i| pilot.decide(&InReplica { replica: &empty, ship: None }, i as f64 * 100.0, &mut rng))
                .collect::<Vec<_>>()
        };
        let a = run(7);
        assert_eq!(a, run(7));
        assert!(a.iter().all(|i| !i.fire));
        assert!(a.windows(2).filter(|w| w[0] != w[1]).count() < 60, "choices are held for 0.4 s or more");
        assert!(a.iter().any(|i| i.thrust) && a.iter().any(|i| i.turn != 0));
        let mut rng = SmallRng::seed_from_u64(1);
        assert_eq!(Pilot::Idle.decide(&InReplica { replica: &empty, ship: Some(1) }, 0.0, &mut rng), Intent::default());
    }
}
