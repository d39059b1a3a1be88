//! The population phase: what is in the field and where new things appear. The initial field
//! is placed without overlaps; after that the keeper tops the asteroid count up a few per
//! tick, far from every ship where it can (unseen), else in sight, where the asteroid
//! appears rather than pops into view. New ships are put where nothing is near.

use super::entities::Spawn;
use super::game::Game;
use super::players::Watch;
use glam::Vec2;
use rand::Rng;
use shared::constants::{
    ASTEROID_APPEAR, ASTEROID_APPEAR_CLEARANCE, ASTEROID_MAX_DRIFT, ASTEROID_MAX_SPIN, ASTEROID_MIN_DRIFT,
    ASTEROID_RADII, ASTEROID_SIZE_ODDS, ASTEROID_SPAWNS_PER_TICK, ASTEROID_SPAWN_CLEARANCE,
    ASTEROID_SPAWN_TRIES_PER_TICK, SHIP_SPAWN_ATTEMPTS, SHIP_SPAWN_CLEARANCE,
};
use shared::protocol::{EntityId, EntityKind, PlayerId};
use shared::quant::{Body, Ctrl};
use std::f32::consts::TAU;

/// Room left between a new asteroid and anything already there, world units.
const SPAWN_GAP: f32 = 4.0;

/// A (cos, sin) pair for an angle. Creation may use `sin`/`cos` (the result is quantized and
/// sent); only prediction must avoid them.
fn dir(angle: f32) -> Vec2 {
    Vec2::new(angle.cos(), angle.sin())
}

impl Game {
    /// Tops the asteroid count up by at most [`ASTEROID_SPAWNS_PER_TICK`], trying up to
    /// [`ASTEROID_SPAWN_TRIES_PER_TICK`] random places: unseen ones, far from every ship, where
    /// any is found; where none of this tick's places is (a crowded world, where every point is
    /// in someone's view), places in sight but clear of every ship by
    /// [`ASTEROID_APPEAR_CLEARANCE`], for asteroids that appear over [`ASTEROID_APPEAR`].
    /// Unseen places are always preferred: a place in sight is used only on a tick that found
    /// no unseen one.
    pub(super) fn population(&mut self) {
        let short = self.config.asteroids.saturating_sub(self.entities.asteroids());
        if short == 0 {
            return;
        }
        let ships: Vec<Vec2> =
            self.entities.iter().filter(|e| e.kind == EntityKind::Ship).map(|e| e.state.body().pos).collect();
        let want = ASTEROID_SPAWNS_PER_TICK.min(short);
        // This tick's places, spawned unseen or kept for in sight: rapier's queries see a new
        // collider only after the next collision detection, so they are checked here.
        let (mut unseen, mut in_sight) = (Vec::new(), Vec::new());
        for _ in 0..ASTEROID_SPAWN_TRIES_PER_TICK {
            if unseen.len() == want || (unseen.is_empty() && in_sight.len() == want) {
                break;
            }
            let kind = self.random_asteroid_kind();
            let pos = self.random_point(kind.radius());
            let apart = |placed: &[(EntityKind, Vec2)]| {
                placed.iter().all(|(k, p)| p.distance(pos) >= k.radius() + kind.radius() + SPAWN_GAP)
            };
            if !apart(&unseen) || !apart(&in_sight) {
                continue;
            }
            // In a crowded world a ship in sight of the place is found after a few.
            if ships.iter().all(|s| s.distance(pos) >= ASTEROID_SPAWN_CLEARANCE) {
                if self.entities.is_free(pos, kind.radius() + SPAWN_GAP) {
                    self.spawn_asteroid(kind, pos, None);
                    unseen.push((kind, pos));
                }
            } else if unseen.is_empty() && in_sight.len() < want && self.clear_of_ships(pos, kind) {
                in_sight.push((kind, pos));
            }
        }
        if !unseen.is_empty() {
            return;
        }
        for (kind, pos) in in_sight {
            let id = self.spawn_asteroid(kind, pos, None);
            if let Some(rock) = self.entities.get_mut(id) {
                rock.appears_until = self.tick + ASTEROID_APPEAR;
            }
        }
    }

    /// Whether an asteroid may appear at `pos`: nothing there, no ship within
    /// [`ASTEROID_APPEAR_CLEARANCE`] (a query of what is near, not a walk over every ship).
    fn clear_of_ships(&self, pos: Vec2, kind: EntityKind) -> bool {
        let mut clear = true;
        self.entities.nearby(pos, ASTEROID_APPEAR_CLEARANCE, |e| {
            clear &= e.kind != EntityKind::Ship || e.state.position().distance(pos) >= ASTEROID_APPEAR_CLEARANCE;
        });
        clear && self.entities.is_free(pos, kind.radius() + SPAWN_GAP)
    }

    /// Jittered grid placement: one candidate per cell, cells at least a large asteroid wide,
    /// so no two initial asteroids overlap.
    pub(super) fn place_initial_asteroids(&mut self) {
        let [hx, hy] = self.config.arena_half_size;
        let want = self.config.asteroids;
        if want == 0 {
            return;
        }
        let min_cell = 2.0 * ASTEROID_RADII[0] + 8.0;
        let cell = ((4.0 * hx * hy) / want as f32).sqrt().max(min_cell);
        let cols = ((2.0 * hx) / cell).floor().max(1.0) as usize;
        let rows = ((2.0 * hy) / cell).floor().max(1.0) as usize;
        let mut cells: Vec<usize> = (0..cols * rows).collect();
        // Fisher–Yates with the seeded rng, so a seed reproduces the field.
        for i in (1..cells.len()).rev() {
            let j = self.rng.random_range(0..=i);
            cells.swap(i, j);
        }
        for &c in cells.iter().take(want) {
            let (cx, cy) = ((c % cols) as f32, (c / cols) as f32);
            let kind = self.random_asteroid_kind();
            let slack = (cell * 0.5 - kind.radius() - 2.0).max(0.0);
            let pos = Vec2::new(
                -hx + (cx + 0.5) * cell + self.rng.random_range(-slack..=slack),
                -hy + (cy + 0.5) * cell + self.rng.random_range(-slack..=slack),
            );
            self.spawn_asteroid(kind, pos, None);
        }
    }

    fn random_asteroid_kind(&mut self) -> EntityKind {
        let [large, medium, small] = ASTEROID_SIZE_ODDS;
        match self.rng.random_range(0..large + medium + small) {
            r if r < large => EntityKind::AsteroidLarge,
            r if r < large + medium => EntityKind::AsteroidMedium,
            _ => EntityKind::AsteroidSmall,
        }
    }

    fn random_point(&mut self, margin: f32) -> Vec2 {
        let [hx, hy] = self.config.arena_half_size;
        let (mx, my) = ((hx - margin).max(1.0), (hy - margin).max(1.0));
        Vec2::new(self.rng.random_range(-mx..mx), self.rng.random_range(-my..my))
    }

    /// Places an asteroid (the game spawns its own; tools and tests may add more). `vel:
    /// None` picks a random drift for its size.
    pub fn spawn_asteroid(&mut self, kind: EntityKind, pos: Vec2, vel: Option<Vec2>) -> EntityId {
        let max_drift = ASTEROID_MAX_DRIFT[kind.asteroid_size().unwrap_or(2)];
        let vel = vel.unwrap_or_else(|| {
            let angle = self.rng.random_range(0.0..TAU);
            dir(angle) * self.rng.random_range(ASTEROID_MIN_DRIFT..max_drift)
        });
        let rot = dir(self.rng.random_range(0.0..TAU));
        let angvel = self.rng.random_range(-ASTEROID_MAX_SPIN..ASTEROID_MAX_SPIN);
        let rock = Spawn { kind, body: Body { pos, vel, rot, angvel }, ctrl: Ctrl(0), owner: None, expires_at: None };
        self.entities.spawn(rock, self.tick)
    }

    /// Gives a player a new ship, where nothing is within [`SHIP_SPAWN_CLEARANCE`] if such a
    /// place is found.
    pub(super) fn spawn_ship(&mut self, player: PlayerId) -> EntityId {
        let mut pos = self.random_point(SHIP_SPAWN_CLEARANCE);
        for _ in 0..SHIP_SPAWN_ATTEMPTS {
            if self.entities.is_free(pos, SHIP_SPAWN_CLEARANCE) {
                break;
            }
            pos = self.random_point(SHIP_SPAWN_CLEARANCE);
        }
        let rot = dir(self.rng.random_range(0.0..TAU));
        let body = Body { pos, vel: Vec2::ZERO, rot, angvel: 0.0 };
        let ctrl = Ctrl(0).with_shield(true);
        let ship = Spawn { kind: EntityKind::Ship, body, ctrl, owner: Some(player), expires_at: None };
        let id = self.entities.spawn(ship, self.tick);
        if let Some(p) = self.players.get_mut(player) {
            p.ship = Some(id);
            p.respawn_at = None;
            p.watch = Watch::Stay;
            p.life_started = self.tick;
            p.anchor = pos.into();
            p.helm.shield_until = self.tick + self.config.spawn_protection;
        }
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{GameConfig, Surroundings};
    use shared::protocol::EntityId;
    use std::collections::HashSet;

    /// A world of `asteroids` with ships (no pilots) standing at `ships`, then every asteroid
    /// removed: what the keeper refills.
    fn emptied(asteroids: usize, half: f32, ships: &[Vec2]) -> (Game, HashSet<EntityId>) {
        let mut game = Game::new(GameConfig::new(asteroids, [half, half], 11));
        for &pos in ships {
            let body = Body { pos, vel: Vec2::ZERO, rot: Vec2::X, angvel: 0.0 };
            let ship = Spawn { kind: EntityKind::Ship, body, ctrl: Ctrl(0), owner: None, expires_at: None };
            game.entities.spawn(ship, game.tick);
        }
        let rocks: Vec<EntityId> =
            game.entities.iter().filter(|e| e.kind.asteroid_size().is_some()).map(|e| e.id).collect();
        for id in rocks {
            game.entities.despawn(id);
        }
        let before = game.entities.iter().map(|e| e.id).collect();
        (game, before)
    }

    /// Ticks until the field is whole again; every asteroid new at a tick is checked against
    /// the ships of that tick by `check(game, asteroid, distance to the nearest ship)`.
    fn refill(game: &mut Game, mut seen: HashSet<EntityId>, mut check: impl FnMut(&Game, EntityId, f32)) {
        for _ in 0..600 {
            game.tick([], &Surroundings::default());
            let ships: Vec<Vec2> =
                game.entities.iter().filter(|e| e.kind == EntityKind::Ship).map(|e| e.state.position()).collect();
            let new: Vec<(EntityId, Vec2, f32)> = game
                .entities
                .iter()
                .filter(|e| e.kind.asteroid_size().is_some() && seen.insert(e.id))
                .map(|e| (e.id, e.state.position(), e.kind.radius()))
                .collect();
            for (i, &(a, pa, ra)) in new.iter().enumerate() {
                for &(b, pb, rb) in &new[i + 1..] {
                    assert!(pa.distance(pb) >= ra + rb, "asteroids {a} and {b}, spawned in one tick, overlap");
                }
            }
            for (id, pos, _) in new {
                let nearest = ships.iter().map(|s| s.distance(pos)).fold(f32::INFINITY, f32::min);
                check(game, id, nearest);
            }
            if game.entities.asteroids() == game.config.asteroids {
                return;
            }
        }
        panic!("the field was not refilled: {} of {} asteroids", game.entities.asteroids(), game.config.asteroids);
    }

    /// An arena every point of which some ship sees (the crowded world of a few hundred
    /// players, in small): the keeper still refills it, in sight but never near a ship, and
    /// every asteroid it places appears, as the published frame tells clients.
    #[test]
    fn a_watched_field_is_refilled_with_asteroids_that_appear() {
        let ships: Vec<Vec2> =
            [-600.0, 0.0, 600.0].into_iter().flat_map(|x| [-600.0, 600.0].map(|y| Vec2::new(x, y))).collect();
        let (mut game, seen) = emptied(24, 1000.0, &ships);
        let mut appearing = 0;
        refill(&mut game, seen, |game, id, nearest| {
            assert!(nearest < ASTEROID_SPAWN_CLEARANCE, "the whole arena is in sight");
            assert!(nearest >= ASTEROID_APPEAR_CLEARANCE, "asteroid {id} spawned {nearest} from a ship");
            let rock = game.entities.get(id).unwrap();
            assert_eq!(rock.appears_until, game.tick + ASTEROID_APPEAR, "spawned this tick, appearing");
            let frame = game.frame(Default::default());
            assert_eq!(u32::from(frame.entity(id).unwrap().appearing), ASTEROID_APPEAR.get());
            appearing += 1;
        });
        assert_eq!(appearing, 24);
        for _ in 0..ASTEROID_APPEAR.get() {
            game.tick([], &Surroundings::default());
        }
        let frame = game.frame(Default::default());
        assert!(frame.entities.iter().all(|e| e.appearing == 0), "all there after {ASTEROID_APPEAR} ticks");
    }

    /// With unseen places to be had (one ship in a corner of a large arena), the keeper uses
    /// only them: nothing appears in anyone's sight.
    #[test]
    fn unseen_places_are_preferred() {
        let (mut game, seen) = emptied(40, 6000.0, &[Vec2::new(-5000.0, -5000.0)]);
        refill(&mut game, seen, |game, id, nearest| {
            assert!(nearest >= ASTEROID_SPAWN_CLEARANCE, "asteroid {id} spawned in sight, {nearest} from the ship");
            assert_eq!(game.entities.get(id).unwrap().appears_until, 0);
        });
    }
}
