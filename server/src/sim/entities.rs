//! The entity table: every entity of the game, and the rapier world that holds their colliders.
//!
//! One owner keeps five things consistent that would otherwise drift apart: the list of
//! entities (dense, iterated every tick), the index from id to list position, each entity's
//! slot, each entity's rapier collider, and the count of entities of each kind. Entities enter and leave only through
//! [`Entities::spawn`] and [`Entities::despawn`] (rapier's own rule: insert and remove only
//! through helpers). Everything else may move an entity, never add or remove one.

use super::physics;
use rapier2d::prelude::{ChannelEventCollector, ColliderHandle, PhysicsWorld, QueryFilter, Shape};
use shared::kinematics::Kinematics;
use shared::protocol::{EntityId, EntityKind, PlayerId, Tick};
use shared::quant::{Body, Ctrl, QState};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

/// One entity.
#[derive(Debug)]
pub struct Entity {
    /// Its id, never reused.
    pub id: EntityId,
    /// Its slot: a small number no other live entity has, kept for its whole life and
    /// reused after it (see [`crate::sim::frame::FrameEntity::slot`]).
    pub slot: u32,
    /// What it is.
    pub kind: EntityKind,
    /// Its rapier collider (a sensor with no parent body).
    collider: ColliderHandle,
    /// Where its collider is: where it is, but for an asteroid, which may have drifted up to
    /// [`physics::ASTEROID_DRIFT`] from it.
    anchor: glam::Vec2,
    /// State at the end of the last tick (the one sessions see), on the wire grid.
    pub state: QState,
    /// The last tick at which its state was not what `shared::kinematics` predicts from the
    /// tick before (see [`crate::sim::frame::FrameEntity::epoch`]).
    pub epoch: Tick,
    /// The controls applied during the current tick's step (ships; zero otherwise).
    pub ctrl_now: Ctrl,
    /// The player who owns it (ships, bullets).
    pub owner: Option<PlayerId>,
    /// For an asteroid spawned in sight: the tick by which it has appeared (see
    /// [`shared::constants::ASTEROID_APPEAR`]); 0 otherwise.
    pub appears_until: Tick,
}

/// What a new entity is and where it starts.
#[derive(Clone, Copy, Debug)]
pub struct Spawn {
    /// What it is.
    pub kind: EntityKind,
    /// Where it starts and how it moves (quantized on entry).
    pub body: Body,
    /// Its controls.
    pub ctrl: Ctrl,
    /// The player who owns it.
    pub owner: Option<PlayerId>,
    /// The tick at which it disappears, if it does by itself.
    pub expires_at: Option<Tick>,
}

/// The entity table and the physics world under it.
pub struct Entities {
    world: PhysicsWorld,
    list: Vec<Entity>,
    index: HashMap<EntityId, usize>,
    counts: [usize; EntityKind::ALL.len()],
    next_id: EntityId,
    /// Slots given back by despawned entities, and the number of slots ever handed out.
    free_slots: Vec<u32>,
    slots: u32,
    /// Entities that disappear by themselves, soonest first, so expiring them costs what
    /// expires rather than a scan of every entity. (An entry whose entity is already gone is
    /// skipped when it comes up.)
    expiries: BinaryHeap<Reverse<(Tick, EntityId)>>,
}

impl std::fmt::Debug for Entities {
    /// The counts, not the rapier world (which has no `Debug`) or every entity.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entities")
            .field("entities", &self.list.len())
            .field("counts", &self.counts)
            .field("next_id", &self.next_id)
            .finish_non_exhaustive()
    }
}

impl Entities {
    /// An empty table over an empty world configured by [`physics::new_world`].
    pub fn new(kin: &Kinematics) -> Entities {
        Entities {
            world: physics::new_world(kin),
            list: Vec::new(),
            index: HashMap::new(),
            counts: [0; EntityKind::ALL.len()],
            next_id: 1,
            free_slots: Vec::new(),
            slots: 0,
            expiries: BinaryHeap::new(),
        }
    }

    /// Adds an entity, with its collider, snapped to the wire grid. Its epoch is `tick`: every
    /// client that knows it must be told.
    pub fn spawn(&mut self, new: Spawn, tick: Tick) -> EntityId {
        let id = self.next_id;
        self.next_id += 1;
        let slot = self.free_slots.pop().unwrap_or_else(|| {
            self.slots += 1;
            self.slots - 1
        });
        let state = QState::from_body(&new.body, new.ctrl);
        let collider = self.world.insert_collider(physics::collider_builder(new.kind, id, state.position()), None);
        self.index.insert(id, self.list.len());
        self.counts[new.kind.index()] += 1;
        if let Some(t) = new.expires_at {
            self.expiries.push(Reverse((t, id)));
        }
        self.list.push(Entity {
            id,
            slot,
            kind: new.kind,
            collider,
            anchor: state.position(),
            state,
            epoch: tick,
            ctrl_now: new.ctrl,
            owner: new.owner,
            appears_until: 0,
        });
        id
    }

    /// Removes an entity with its collider; `None` if it is already gone (two contacts of one
    /// tick may both name it).
    pub fn despawn(&mut self, id: EntityId) -> Option<Entity> {
        let i = self.index.remove(&id)?;
        let e = self.list.swap_remove(i);
        if let Some(moved) = self.list.get(i) {
            self.index.insert(moved.id, i);
        }
        self.world.remove_collider(e.collider);
        self.counts[e.kind.index()] -= 1;
        self.free_slots.push(e.slot);
        Some(e)
    }

    /// Removes every entity whose time is up at `now`; returns how many.
    pub fn despawn_expired(&mut self, now: Tick) -> usize {
        let mut removed = 0;
        while let Some(&Reverse((t, id))) = self.expiries.peek() {
            if t > now {
                break;
            }
            self.expiries.pop();
            removed += self.despawn(id).is_some() as usize;
        }
        removed
    }

    /// The entity with this id.
    pub fn get(&self, id: EntityId) -> Option<&Entity> {
        self.index.get(&id).map(|&i| &self.list[i])
    }

    /// The entity with this id, to change.
    pub fn get_mut(&mut self, id: EntityId) -> Option<&mut Entity> {
        self.index.get(&id).map(|&i| &mut self.list[i])
    }

    /// Every entity.
    pub fn iter(&self) -> impl Iterator<Item = &Entity> {
        self.list.iter()
    }

    /// Calls `f` with every entity, then moves its collider to where `f` left it (an
    /// asteroid's only once it has drifted [`physics::ASTEROID_DRIFT`] from it: its skin
    /// still holds it until then).
    pub fn move_each(&mut self, mut f: impl FnMut(&mut Entity)) {
        let drift = physics::ASTEROID_DRIFT * physics::ASTEROID_DRIFT;
        for e in &mut self.list {
            f(e);
            let at = e.state.position();
            if e.kind.is_asteroid() && at.distance_squared(e.anchor) <= drift {
                continue;
            }
            if let Some(collider) = self.world.colliders.get_mut(e.collider) {
                collider.set_translation(at);
                e.anchor = at;
            }
        }
    }

    /// Number of entities.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// One more than the highest slot handed out so far: every slot is below it.
    pub fn slot_bound(&self) -> u32 {
        self.slots
    }

    /// Number of entities of `kind`.
    pub fn count(&self, kind: EntityKind) -> usize {
        self.counts[kind.index()]
    }

    /// Number of asteroids of every size.
    pub fn asteroids(&self) -> usize {
        EntityKind::ALL.iter().filter(|k| k.is_asteroid()).map(|&k| self.count(k)).sum()
    }

    /// Rigid bodies and colliders in the physics world (no bodies; one collider per entity).
    pub fn physics_census(&self) -> (usize, usize) {
        (self.world.bodies.len(), self.world.colliders.len())
    }

    /// Runs rapier's collision detection on the colliders where they are now, reporting new
    /// touches to `collector`.
    pub fn detect_collisions(&mut self, collector: &ChannelEventCollector) {
        self.world.detect_collisions(&(), collector);
    }

    /// The entities that touch `id` (those it may touch), where they are now.
    pub fn overlapping(&self, id: EntityId) -> Vec<EntityId> {
        let Some(e) = self.get(id) else { return Vec::new() };
        let Some(collider) = self.world.colliders.get(e.collider) else { return Vec::new() };
        let filter = QueryFilter::default().groups(collider.collision_groups()).exclude_collider(e.collider);
        let pose = rapier2d::prelude::Pose::from_translation(e.anchor);
        // The colliders that meet this one are those that may touch it (skins included).
        self.world
            .intersect_shape(pose, collider.shape(), filter)
            .filter_map(|(_, c)| self.get(c.user_data as EntityId))
            .filter(|other| physics::touching(e.kind, e.state.position(), other.kind, other.state.position()))
            .map(|other| other.id)
            .collect()
    }

    /// The two entities of a pair of colliders rapier's collision detection found intersecting,
    /// if both still exist and their kinds may touch.
    pub fn pair(&self, c1: ColliderHandle, c2: ColliderHandle) -> Option<(EntityId, EntityId)> {
        let (a, b) = (self.world.colliders.get(c1)?, self.world.colliders.get(c2)?);
        a.collision_groups().test(b.collision_groups()).then_some((a.user_data as EntityId, b.user_data as EntityId))
    }

    /// Whether two entities touch, where they are now.
    pub fn touch_now(&self, a: EntityId, b: EntityId) -> bool {
        match (self.get(a), self.get(b)) {
            (Some(a), Some(b)) => physics::touching(a.kind, a.state.position(), b.kind, b.state.position()),
            _ => false,
        }
    }

    /// Calls `f` with every entity within about `radius` of `pos`: those whose box in rapier's
    /// broad phase (as of the last collision detection) meets the square around that circle.
    /// What is near costs, not the size of the world; no exact shape test is made, since the
    /// caller measures distances itself. Intangible entities included.
    pub fn nearby(&self, pos: glam::Vec2, radius: f32, mut f: impl FnMut(&Entity)) {
        let aabb = rapier2d::parry::bounding_volume::Aabb::from_half_extents(pos, glam::Vec2::splat(radius));
        for (_, c) in self.world.intersect_aabb_conservative(aabb, QueryFilter::default()) {
            if let Some(e) = self.get(c.user_data as EntityId) {
                f(e);
            }
        }
    }

    /// Whether a ball of `radius` at `pos` touches no collider.
    pub fn is_free(&self, pos: glam::Vec2, radius: f32) -> bool {
        let ball = rapier2d::parry::shape::Ball::new(radius);
        let shape: &dyn Shape = &ball;
        let pose = rapier2d::prelude::Pose::from_translation(pos);
        let free = self.world.intersect_shape(pose, shape, QueryFilter::default()).next().is_none();
        free
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use glam::Vec2;

    fn rock(x: f32) -> Spawn {
        Spawn {
            kind: EntityKind::AsteroidSmall,
            body: Body { pos: Vec2::new(x, 0.0), vel: Vec2::ZERO, rot: Vec2::X, angvel: 0.0 },
            ctrl: Ctrl(0),
            owner: None,
            expires_at: None,
        }
    }

    /// After any mix of spawns and despawns (from the middle, the end, twice), the list, the
    /// index, the rapier sets and the per-kind counts all agree.
    #[test]
    fn spawn_and_despawn_keep_the_table_consistent() {
        let kin = Kinematics::new([1000.0, 1000.0]);
        let mut t = Entities::new(&kin);
        let ids: Vec<EntityId> = (0..10).map(|i| t.spawn(rock(i as f32 * 50.0), 0)).collect();
        let ship = t.spawn(Spawn { kind: EntityKind::Ship, ..rock(900.0) }, 0);
        for id in [ids[3], ids[0], ids[9], ids[3]] {
            t.despawn(id);
        }
        assert_eq!(t.len(), 8);
        assert_eq!(t.physics_census(), (0, 8));
        assert_eq!((t.asteroids(), t.count(EntityKind::Ship)), (7, 1));
        for e in t.iter() {
            assert_eq!(t.get(e.id).map(|g| g.id), Some(e.id), "the index points at the entity");
        }
        let mut slots: Vec<u32> = t.iter().map(|e| e.slot).collect();
        slots.sort();
        slots.dedup();
        assert_eq!(slots.len(), t.len(), "no two live entities share a slot");
        assert!(slots.iter().all(|&s| s < t.slot_bound()));
        let reused = t.spawn(rock(0.0), 0);
        assert!(t.get(reused).unwrap().slot < 11, "a freed slot is reused, not a new one taken");
        assert!(t.get(ids[3]).is_none() && t.get(ship).is_some());
        assert!(t.despawn(ids[3]).is_none(), "a second despawn finds nothing");
    }

    /// Regression (ids wrapped after 2³² spawns and were reused): ids go on past `u32::MAX`
    /// and never repeat.
    #[test]
    fn ids_never_wrap() {
        let kin = Kinematics::new([1000.0, 1000.0]);
        let mut t = Entities::new(&kin);
        t.next_id = u32::MAX as EntityId - 1;
        let ids: Vec<EntityId> = (0..4).map(|i| t.spawn(rock(i as f32), 0)).collect();
        assert_eq!(ids, [u32::MAX as u64 - 1, u32::MAX as u64, 1 << 32, (1 << 32) + 1]);
        assert!(ids.iter().all(|&id| t.get(id).is_some()));
    }

    /// Entities expire at their tick, not before, whatever the order they were spawned in,
    /// and one removed earlier (a bullet that hit something) is skipped.
    #[test]
    fn entities_expire_on_time() {
        let kin = Kinematics::new([1000.0, 1000.0]);
        let mut t = Entities::new(&kin);
        let at = |tick| Spawn { expires_at: Some(tick), ..rock(0.0) };
        let late = t.spawn(at(30), 0);
        let early = t.spawn(at(10), 0);
        let hit = t.spawn(at(10), 0);
        let forever = t.spawn(rock(0.0), 0);
        t.despawn(hit);
        assert_eq!(t.despawn_expired(9), 0);
        assert_eq!(t.despawn_expired(10), 1);
        assert!(t.get(early).is_none() && t.get(late).is_some());
        assert_eq!(t.despawn_expired(100), 1);
        assert!(t.get(late).is_none() && t.get(forever).is_some());
    }
}
