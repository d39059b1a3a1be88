//! Phase 8, population: what is in the field and where new things appear. The initial field
//! is placed without overlaps; after that the keeper tops the asteroid count up a few per
//! tick, far from every ship, so no asteroid ever pops into anyone's sight. New ships are put
//! where nothing is near.

use super::entities::Spawn;
use super::game::Game;
use super::players::Watch;
use glam::Vec2;
use rand::Rng;
use shared::constants::{
    ASTEROID_MAX_DRIFT, ASTEROID_MAX_SPIN, ASTEROID_MIN_DRIFT, ASTEROID_RADII, ASTEROID_SIZE_ODDS,
    ASTEROID_SPAWNS_PER_TICK, ASTEROID_SPAWN_CLEARANCE, SHIP_SPAWN_ATTEMPTS, SHIP_SPAWN_CLEARANCE,
};
use shared::protocol::{EntityId, EntityKind, PlayerId};
use shared::quant::{Body, Ctrl};
use std::f32::consts::TAU;

/// A (cos, sin) pair for an angle. Creation may use `sin`/`cos` (the result is quantized and
/// sent); only prediction must avoid them.
fn dir(angle: f32) -> Vec2 {
    Vec2::new(angle.cos(), angle.sin())
}

impl Game {
    pub(super) fn population(&mut self) {
        let mut budget = ASTEROID_SPAWNS_PER_TICK;
        let ships: Vec<Vec2> =
            self.entities.iter().filter(|e| e.kind == EntityKind::Ship).map(|e| e.state.body().pos).collect();
        while self.entities.asteroids() < self.config.asteroids && budget > 0 {
            budget -= 1;
            let kind = self.random_asteroid_kind();
            let pos = self.random_point(kind.radius());
            let clear_of_ships = ships.iter().all(|s| s.distance(pos) >= ASTEROID_SPAWN_CLEARANCE);
            if clear_of_ships && self.entities.is_free(pos, kind.radius() + 4.0) {
                self.spawn_asteroid(kind, pos, None);
            }
        }
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
            p.shield_until = self.tick + self.config.spawn_protection_ticks;
        }
        id
    }
}
