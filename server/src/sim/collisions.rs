//! The collisions phase and rules: the touches rapier's collision detection found, decided by
//! the game's rules. Nothing is solved (see `physics.rs`), so every touch is an event here and
//! its outcome is the rules':
//!
//! - a bullet that touches an asteroid is spent; the asteroid splits (large → two medium →
//!   two small → gone) and the shooter scores a hit;
//! - a bullet that touches another player's ship destroys it: a kill for the shooter (worth
//!   points unless farmed, see `Players::kill_points`), a death for the pilot (one's own
//!   bullets pass through);
//! - a ship that touches an asteroid or another ship is destroyed (both ships, in the latter
//!   case);
//! - a ship under spawn protection (`Ctrl::SHIELD`) is neither destroyed nor destroys: bullets
//!   and ships pass through it, and it through asteroids. When its protection ends while it
//!   overlaps something (rapier reports a touch only when it starts), the overlap counts as a
//!   touch then.
//!
//! Each rule changes the world at once and writes what the players must hear into the outbox.

use super::game::Game;
use super::players::ScoreChange;
use rapier2d::prelude::{ColliderHandle, CollisionEvent};
use shared::constants::{POINTS_PER_HIT, RESPAWN_DELAY, SPLIT_KICK, SPLIT_PUSH};
use shared::protocol::{DeathCause, EntityId, EntityKind, GameEvent};

impl Game {
    pub(super) fn collisions(&mut self) {
        // Rapier reports pairs whose colliders began or ceased to meet. Between ships and
        // bullets the colliders are the entities, and a pair that began is a touch. A pair with
        // an asteroid met its skin (see `physics::ASTEROID_SKIN`): it may touch, now or in any
        // later tick while the colliders meet, so it is kept and tested exactly every tick.
        while let Ok(event) = self.contacts.try_recv() {
            let (c1, c2, began) = match event {
                CollisionEvent::Started(c1, c2, _) => (c1, c2, true),
                CollisionEvent::Stopped(c1, c2, _) => (c1, c2, false),
            };
            let Some((a, b)) = self.entities.pair(c1, c2) else {
                self.near_asteroids.remove(&pair_key(c1, c2));
                continue;
            };
            let with_asteroid = [a, b].iter().any(|&id| self.entities.get(id).is_some_and(|e| e.kind.is_asteroid()));
            match (with_asteroid, began) {
                (true, true) => {
                    self.near_asteroids.insert(pair_key(c1, c2));
                }
                (true, false) => {
                    self.near_asteroids.remove(&pair_key(c1, c2));
                }
                (false, true) => self.touch(a, b),
                (false, false) => {}
            }
        }
        // In the order of the colliders' handles: the same world ticks the same way. (Over a
        // copy, in a buffer kept between ticks: the walk drops the pairs of removed entities.)
        let mut near = std::mem::take(&mut self.near_scratch);
        near.clear();
        near.extend(self.near_asteroids.iter().copied());
        for &key in &near {
            let (c1, c2) = pair_of(key);
            match self.entities.pair(c1, c2) {
                Some((a, b)) if self.entities.touch_now(a, b) => self.touch(a, b),
                Some(_) => {}
                None => {
                    self.near_asteroids.remove(&key);
                }
            }
        }
        self.near_scratch = near;
        for ship in std::mem::take(&mut self.unshielded) {
            for other in self.entities.overlapping(ship) {
                self.touch(ship, other);
            }
        }
    }

    /// Applies the rules to `a` touching `b`.
    fn touch(&mut self, a: EntityId, b: EntityId) {
        let (Some(ea), Some(eb)) = (self.entities.get(a), self.entities.get(b)) else {
            return; // already removed by an earlier contact of this step
        };
        if ea.state.ctrl.shielded() || eb.state.ctrl.shielded() {
            return; // spawn protection: nothing happens, either way
        }
        use EntityKind::*;
        match (ea.kind, eb.kind) {
            (Bullet, k) if k.is_asteroid() => self.bullet_hits_asteroid(a, b),
            (k, Bullet) if k.is_asteroid() => self.bullet_hits_asteroid(b, a),
            (Bullet, Ship) => self.bullet_hits_ship(a, b),
            (Ship, Bullet) => self.bullet_hits_ship(b, a),
            (Ship, k) if k.is_asteroid() => self.destroy_ship(a, DeathCause::Asteroid, None),
            (k, Ship) if k.is_asteroid() => self.destroy_ship(b, DeathCause::Asteroid, None),
            (Ship, Ship) => {
                let owner = |id| self.entities.get(id).and_then(|e| e.owner);
                let (na, nb) = (self.players.name(owner(a)), self.players.name(owner(b)));
                self.destroy_ship(a, DeathCause::Collision { with: nb }, None);
                self.destroy_ship(b, DeathCause::Collision { with: na }, None);
            }
            _ => {}
        }
    }

    fn bullet_hits_asteroid(&mut self, bullet: EntityId, asteroid: EntityId) {
        let Some(parent) = self.entities.get(asteroid).map(|a| a.state.body()) else { return };
        let Some(b) = self.entities.despawn(bullet) else { return };
        let Some(a) = self.entities.despawn(asteroid) else { return };
        let points = if a.kind == EntityKind::AsteroidSmall { 2 * POINTS_PER_HIT } else { POINTS_PER_HIT };
        self.players.award(b.owner, ScoreChange::Hit { points }, &mut self.outbox);
        let child = match a.kind {
            EntityKind::AsteroidLarge => EntityKind::AsteroidMedium,
            EntityKind::AsteroidMedium => EntityKind::AsteroidSmall,
            _ => return,
        };
        // The halves fly apart sideways to the shot, and a little along it.
        let along = b.state.body().vel.normalize_or(glam::Vec2::X);
        let side = along.perp();
        let kick = rand::Rng::random_range(&mut self.rng, SPLIT_KICK);
        for sign in [-1.0f32, 1.0] {
            let pos = parent.pos + side * sign * (child.radius() + 1.0);
            let vel = parent.vel + side * sign * kick + along * SPLIT_PUSH;
            self.spawn_asteroid(child, pos, Some(vel));
        }
    }

    fn bullet_hits_ship(&mut self, bullet: EntityId, ship: EntityId) {
        let (Some(b), Some(s)) = (self.entities.get(bullet), self.entities.get(ship)) else { return };
        if b.owner.is_some() && b.owner == s.owner {
            return; // one's own bullet
        }
        let (shooter, victim) = (b.owner, s.owner);
        let by = self.players.name(shooter);
        let shooter_ship = shooter.and_then(|id| self.players.get(id)).and_then(|p| p.ship);
        // Decided before the death changes the victim's record.
        let points = match (shooter, victim) {
            (Some(shooter), Some(victim)) => self.players.kill_points(shooter, victim, self.tick),
            _ => 0,
        };
        self.entities.despawn(bullet);
        self.destroy_ship(ship, DeathCause::Shot { by }, shooter_ship);
        self.players.award(shooter, ScoreChange::Kill { points }, &mut self.outbox);
    }

    /// Destroys `ship`; its pilot watches what `Game::watch_after` decides until it respawns.
    fn destroy_ship(&mut self, ship: EntityId, cause: DeathCause, killer: Option<EntityId>) {
        let Some(gone) = self.entities.despawn(ship) else { return };
        let Some(pid) = gone.owner else { return };
        let watch = self.watch_after(gone.state.position(), killer);
        let Some(p) = self.players.get_mut(pid) else { return };
        p.ship = None;
        p.anchor = gone.state.position().into();
        p.respawn_at = Some(self.tick + RESPAWN_DELAY);
        p.watch = watch;
        let life_ticks = self.tick - p.life_started;
        let destroyed = GameEvent::ShipDestroyed { ship_id: ship, cause, respawn_in_ticks: RESPAWN_DELAY.get() };
        self.outbox.events.push((pid, destroyed));
        self.players.award(Some(pid), ScoreChange::Death { life_ticks }, &mut self.outbox);
    }
}

/// A pair of colliders as one ordered number (the smaller handle first).
fn pair_key(c1: ColliderHandle, c2: ColliderHandle) -> (u64, u64) {
    let raw = |c: ColliderHandle| {
        let (index, generation) = c.into_raw_parts();
        (u64::from(index) << 32) | u64::from(generation)
    };
    let (a, b) = (raw(c1), raw(c2));
    (a.min(b), a.max(b))
}

/// The colliders of a [`pair_key`].
fn pair_of((a, b): (u64, u64)) -> (ColliderHandle, ColliderHandle) {
    let handle = |raw: u64| ColliderHandle::from_raw_parts((raw >> 32) as u32, raw as u32);
    (handle(a), handle(b))
}
