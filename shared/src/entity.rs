//! What an entity is, and the size of each kind. Its own module because both the wire
//! ([`crate::protocol`]) and the motion model ([`crate::kinematics`]) need it, and neither
//! should depend on the other for it.

use crate::constants::{ASTEROID_RADII, BULLET_RADIUS, SHIP_RADIUS};
use serde::{Deserialize, Serialize};

/// What an entity is. Sent once, when it enters a client's view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EntityKind {
    /// A player's ship.
    Ship,
    /// A large asteroid; splits into two medium ones when shot.
    AsteroidLarge,
    /// A medium asteroid; splits into two small ones.
    AsteroidMedium,
    /// A small asteroid; destroyed when shot.
    AsteroidSmall,
    /// A bullet; lives a short while.
    Bullet,
}

impl EntityKind {
    /// Every kind, in declaration order (see [`EntityKind::index`]).
    pub const ALL: [EntityKind; 5] = [
        EntityKind::Ship,
        EntityKind::AsteroidLarge,
        EntityKind::AsteroidMedium,
        EntityKind::AsteroidSmall,
        EntityKind::Bullet,
    ];

    /// This kind's place in [`EntityKind::ALL`], for tables indexed by kind.
    pub fn index(self) -> usize {
        self as usize
    }

    /// An asteroid's size class: 0 large, 1 medium, 2 small (the index into the per-size
    /// tables in [`crate::constants`]); `None` for other kinds.
    pub fn asteroid_size(self) -> Option<usize> {
        match self {
            EntityKind::AsteroidLarge => Some(0),
            EntityKind::AsteroidMedium => Some(1),
            EntityKind::AsteroidSmall => Some(2),
            _ => None,
        }
    }

    /// Collision radius in world units.
    pub fn radius(self) -> f32 {
        match self {
            EntityKind::Ship => SHIP_RADIUS,
            EntityKind::Bullet => BULLET_RADIUS,
            asteroid => ASTEROID_RADII[asteroid.asteroid_size().unwrap_or(0)],
        }
    }

    /// Whether this is an asteroid of any size.
    pub fn is_asteroid(self) -> bool {
        self.asteroid_size().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ALL` lists every kind at its own index, and each asteroid size has its own radius.
    #[test]
    fn kinds_index_their_tables() {
        for (i, kind) in EntityKind::ALL.into_iter().enumerate() {
            assert_eq!(kind.index(), i);
        }
        let radii: Vec<f32> = EntityKind::ALL.iter().filter(|k| k.is_asteroid()).map(|k| k.radius()).collect();
        assert_eq!(radii, ASTEROID_RADII);
        assert!(!EntityKind::Ship.is_asteroid() && !EntityKind::Bullet.is_asteroid());
    }
}
