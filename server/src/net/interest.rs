//! Interest management for one connection: which entities the client knows, and the diff
//! that brings it from what it has to the world in its view.
//!
//! The client's copy of an entity is the state it was last sent, predicted forward with
//! `shared::kinematics`. That prediction is exact (bit for bit) until the entity's *epoch*
//! moves past the tick it was sent at (see [`crate::sim::frame::FrameEntity::epoch`]), so deciding whether an
//! entity changed is one integer comparison: no per-client prediction runs on the server.
//! The threshold is therefore zero: whenever the client's dead reckoning would be off at all,
//! the entity is sent, which is what lets a client reconstruct the server's state exactly,
//! while a coasting asteroid costs no bytes at all.

use crate::sim::frame::Frame;
use shared::protocol::{EntityEnter, EntityId, EntityUpdate, InputAck, Snapshot, Tick, ViewRect};

/// One entity the client has.
#[derive(Clone, Copy, Debug)]
struct Known {
    id: EntityId,
    /// Its slot (see [`crate::sim::frame::FrameEntity::slot`]).
    slot: u32,
    /// Tick of the state the client last received for it.
    tick: Tick,
}

/// The view a player is served: the one it asked for (already clamped in size), moved as
/// little as needed to contain `anchor`, its ship (or where its last ship was). A client may
/// look ahead of its ship by up to half its view, as a camera that leads does, but never at
/// another part of the world: asking for far-away views used to find every ship in seconds,
/// and alternating far-apart views made every snapshot a full state.
pub fn anchored(view: &ViewRect, anchor: [f32; 2]) -> ViewRect {
    // A unit inside the edge, so that rounding in `ViewRect::contains` keeps the anchor in.
    let half = [(view.size[0] * 0.5 - 1.0).max(0.0), (view.size[1] * 0.5 - 1.0).max(0.0)];
    let center = [
        view.center[0].clamp(anchor[0] - half[0], anchor[0] + half[0]),
        view.center[1].clamp(anchor[1] - half[1], anchor[1] + half[1]),
    ];
    ViewRect { center, size: view.size }
}

/// How fast, in world units per second, the served view may slide relative to its anchor (the
/// player's ship). A page's camera sits on its ship, so the offset it asks for stays within
/// the few tens of units by which it lets the ship drift before sending a new view: never
/// near this bound. Flipping between two views at the ends of the anchored range (a view's
/// width apart) made every snapshot a full view, 64 times the bytes for the same connection;
/// at this speed the view takes over a second to cross, and a snapshot enters a strip a few
/// per cent of the view wide.
pub const MAX_VIEW_OFFSET_SPEED: f32 = 2000.0;

/// How far, in world units, the served view may move (see [`follow`]) from one snapshot to
/// the next at `snapshot_hz`: [`MAX_VIEW_OFFSET_SPEED`] spread over the snapshots of a
/// second. Per snapshot rather than per second of the wall clock, so that a client (or a test)
/// can tell exactly which view it was served.
pub fn view_step(snapshot_hz: u32) -> f32 {
    MAX_VIEW_OFFSET_SPEED / snapshot_hz.max(1) as f32
}

/// The view to serve: `asked` anchored at `anchor` (see [`anchored`]), changed from the
/// `last` one served (and the anchor it was served around) by at most `max_step` world units:
/// its offset from the anchor slides at most that far, and each side grows at most that far
/// (it shrinks at once). No view served before: served as asked. Returns the view and whether
/// it was held back. The anchor itself may jump (a new ship, a crossing, another ship
/// watched): the view goes with it at once, since only the offset and the size are bounded.
pub fn follow(
    asked: &ViewRect,
    anchor: [f32; 2],
    last: Option<(ViewRect, [f32; 2])>,
    max_step: f32,
) -> (ViewRect, bool) {
    let Some((last, last_anchor)) = last else { return (anchored(asked, anchor), false) };
    let size = [0, 1].map(|i| asked.size[i].min(last.size[i] + 2.0 * max_step));
    let asked_here = anchored(&ViewRect { center: asked.center, size }, anchor);
    let from = glam::Vec2::from(last.center) - glam::Vec2::from(last_anchor);
    let to = glam::Vec2::from(asked_here.center) - glam::Vec2::from(anchor);
    let step = to - from;
    let grew = size != asked.size;
    if step.length() <= max_step {
        return (asked_here, grew);
    }
    let offset = from + step * (max_step / step.length());
    let center = glam::Vec2::from(anchor) + offset;
    (anchored(&ViewRect { center: center.into(), size }, anchor), true)
}

/// What one client knows. Survives skipped frames: it only ever records what was actually
/// sent, and a snapshot is a diff against that, whatever frames came in between.
///
/// Kept as a list and a bit per entity slot rather than a map by id: a diff walks the list
/// (each entry finds its entity through the frame's slot table: still there, still in view,
/// changed?), then the entities in view (a bit test says whether the client has it). No
/// hashing and no sorting; with thousands of sessions, the per-session hash maps this
/// replaced were cold in the cache on every snapshot and the network path's largest cost
/// (see `BENCHMARKS.md`).
#[derive(Debug, Default)]
pub struct Interest {
    /// What the client has, in no particular order.
    known: Vec<Known>,
    /// Bit `s` is set when the client has the entity now in slot `s`.
    has: Vec<u64>,
    /// Scratch for the next `known` (kept for its allocation).
    next: Vec<Known>,
    last_tick: Option<Tick>,
}

impl Interest {
    /// A client that knows nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of entities the client knows.
    pub fn known(&self) -> usize {
        self.known.len()
    }

    /// The snapshot that brings the client to `frame` within `view` (already clamped), and
    /// records it as sent. `None` if the frame is not newer than the last one sent.
    pub fn diff(&mut self, frame: &Frame, view: &ViewRect, ack: Option<InputAck>) -> Option<Snapshot> {
        if self.last_tick.is_some_and(|t| frame.tick <= t) {
            return None;
        }
        let words = (frame.slot_bound() as usize).div_ceil(64);
        if self.has.len() < words {
            self.has.resize(words, 0);
        }
        let mut snap = Snapshot { tick: frame.tick, ack, ..Snapshot::default() };
        self.next.clear();
        // What the client has: still there and in view (and changed, or not), or gone. A slot
        // holding another entity means this one was removed (and its slot given away).
        for &k in &self.known {
            match frame.at_slot(k.slot).filter(|e| e.id == k.id && view.contains(e.state.position().into())) {
                Some(e) if e.epoch > k.tick => {
                    snap.changed.push(EntityUpdate { id: k.id, state: e.state });
                    self.next.push(Known { tick: frame.tick, ..k });
                }
                Some(_) => self.next.push(k),
                None => {
                    snap.left.push(k.id);
                    self.has[k.slot as usize / 64] &= !(1 << (k.slot % 64));
                }
            }
        }
        // What is in view and new to the client. (Every bit still set belongs to an entity
        // kept above: the bits of the gone ones were just cleared, so a reused slot reads as
        // new.)
        frame.query(view, |e| {
            let (word, bit) = (e.slot as usize / 64, 1u64 << (e.slot % 64));
            if self.has[word] & bit == 0 {
                self.has[word] |= bit;
                snap.entered.push(EntityEnter { id: e.id, kind: e.kind, state: e.state, appearing: e.appearing });
                self.next.push(Known { id: e.id, slot: e.slot, tick: frame.tick });
            }
        });
        std::mem::swap(&mut self.known, &mut self.next);
        self.last_tick = Some(frame.tick);
        Some(snap)
    }

    /// The full state of the view, as if the client knew nothing: what a naive server would
    /// send every snapshot (for the bandwidth comparison).
    pub fn full_state(frame: &Frame, view: &ViewRect) -> Snapshot {
        let mut snap = Snapshot { tick: frame.tick, ..Snapshot::default() };
        frame.query(view, |e| {
            snap.entered.push(EntityEnter { id: e.id, kind: e.kind, state: e.state, appearing: e.appearing })
        });
        snap
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::frame::{FrameEntity, PublishedLeaderboard};
    use glam::Vec2;
    use shared::protocol::EntityKind;
    use shared::quant::{Body, Ctrl, QState};
    use std::collections::HashMap;
    use std::sync::Arc;

    /// Regression (flipping the view multiplied egress by 64): a view asked for at the other
    /// end of the anchored range slides there at a bounded step, and a view asked bigger
    /// grows by a bounded step; a camera that stays on its ship is served as asked, even when
    /// the ship (the anchor) jumps across the world.
    #[test]
    fn the_served_view_slides_at_a_bounded_speed() {
        let size = [2560.0, 1600.0];
        let ship = [500.0, 0.0];
        let view = |x: f32, size: [f32; 2]| ViewRect { center: [x, 0.0], size };
        assert_eq!(follow(&view(500.0, size), ship, None, 100.0), (view(500.0, size), false), "the first as asked");
        let last = Some((view(500.0, size), ship));
        assert_eq!(follow(&view(530.0, size), ship, last, 100.0), (view(530.0, size), false), "a small move");
        let (served, held) = follow(&view(500.0 + 1279.0, size), ship, last, 100.0);
        assert!(held && (served.center[0] - 600.0).abs() < 1e-3, "flipped: {served:?}");
        let far = [90_000.0, 40.0];
        let jumped = ViewRect { center: far, size };
        assert_eq!(follow(&jumped, far, last, 100.0), (jumped, false), "the anchor jumps, the view goes with it");
        let small = Some((view(500.0, [200.0, 200.0]), ship));
        let (grown, held) = follow(&view(500.0, size), ship, small, 100.0);
        assert!(held && grown.size == [400.0, 400.0], "grown by a step each side: {grown:?}");
        let (shrunk, held) = follow(&view(500.0, [100.0, 100.0]), ship, last, 100.0);
        assert!(!held && shrunk.size == [100.0, 100.0], "shrinks at once");
    }

    fn rock(id: EntityId, slot: u32, x: f32, epoch: Tick) -> FrameEntity {
        let body = Body { pos: Vec2::new(x, 0.0), vel: Vec2::ZERO, rot: Vec2::X, angvel: 0.0 };
        let state = QState::from_body(&body, Ctrl(0));
        FrameEntity { id, slot, kind: EntityKind::AsteroidSmall, state, epoch, appearing: 0 }
    }

    fn frame(tick: Tick, entities: Vec<FrameEntity>) -> Frame {
        let board = Arc::new(PublishedLeaderboard::new(Default::default()));
        Frame::new(tick, entities, 200, HashMap::new(), [2000.0, 2000.0], Default::default(), board)
    }

    fn ids(snap: &Snapshot) -> (Vec<EntityId>, Vec<EntityId>, Vec<EntityId>) {
        let mut entered: Vec<_> = snap.entered.iter().map(|e| e.id).collect();
        let mut changed: Vec<_> = snap.changed.iter().map(|e| e.id).collect();
        let mut left = snap.left.clone();
        entered.sort();
        changed.sort();
        left.sort();
        (entered, changed, left)
    }

    /// A view is moved only as far as needed to contain the anchor, which then lies inside
    /// (edges included), whatever was asked.
    #[test]
    fn views_are_anchored_to_the_ship() {
        let size = [1920.0, 1080.0];
        let near = ViewRect { center: [100.0, -50.0], size };
        assert_eq!(anchored(&near, [0.0, 0.0]), near, "a view around the ship is served as asked");
        let far = anchored(&ViewRect { center: [9000.0, -7000.0], size }, [10.0, 20.0]);
        assert_eq!(far.center, [969.0, -519.0], "moved until the ship is a unit inside its edge");
        assert!(far.contains([10.0, 20.0]));
        for (cx, cy) in [(-5e4, 3e4), (0.0, 1e9), (12.5, -0.5)] {
            let v = anchored(&ViewRect { center: [cx, cy], size }, [300.0, -400.0]);
            assert!(v.contains([300.0, -400.0]), "{v:?}");
        }
    }

    /// An entity removed while a new one takes its slot (the same frame) is reported as left,
    /// and the new one as entered; one that left the view and one whose epoch moved are told
    /// too, and an unchanged one costs nothing.
    #[test]
    fn a_reused_slot_is_a_new_entity() {
        let view = ViewRect { center: [0.0, 0.0], size: [1000.0, 1000.0] };
        let mut interest = Interest::new();
        let first =
            frame(1, vec![rock(1, 0, 0.0, 1), rock(2, 1, 100.0, 1), rock(3, 2, 200.0, 1), rock(4, 3, 300.0, 1)]);
        assert_eq!(ids(&interest.diff(&first, &view, None).unwrap()), (vec![1, 2, 3, 4], vec![], vec![]));
        // 1 removed and its slot 0 given to 9; 2 changed; 3 flew out of view; 4 coasts.
        let second =
            frame(2, vec![rock(9, 0, 50.0, 2), rock(2, 1, 100.0, 2), rock(3, 2, 900.0, 1), rock(4, 3, 300.0, 1)]);
        assert_eq!(ids(&interest.diff(&second, &view, None).unwrap()), (vec![9], vec![2], vec![1, 3]));
        assert_eq!(interest.known(), 3);
        // 3 comes back into view: it is new to the client again.
        let third = frame(3, vec![rock(9, 0, 50.0, 2), rock(2, 1, 100.0, 2), rock(3, 2, 0.0, 3), rock(4, 3, 300.0, 1)]);
        assert_eq!(ids(&interest.diff(&third, &view, None).unwrap()), (vec![3], vec![], vec![]));
        assert!(interest.diff(&third, &view, None).is_none(), "a frame is diffed once");
    }

    /// An asteroid still appearing enters with the ticks it has left, whenever the client
    /// meets it; one that has appeared enters as any other.
    #[test]
    fn an_appearing_asteroid_enters_with_what_it_has_left() {
        let view = ViewRect { center: [0.0, 0.0], size: [1000.0, 1000.0] };
        let growing = |tick, x, appearing| frame(tick, vec![FrameEntity { appearing, ..rock(1, 0, x, 1) }]);
        let entered = |interest: &mut Interest, f: &Frame| interest.diff(f, &view, None).unwrap().entered;
        let mut here = Interest::new();
        assert_eq!(entered(&mut here, &growing(1, 0.0, 30))[0].appearing, 30, "met as it spawned");
        let mut later = Interest::new();
        assert_eq!(entered(&mut later, &growing(1, 900.0, 30)), vec![], "out of view");
        assert_eq!(entered(&mut later, &growing(13, 0.0, 18))[0].appearing, 18, "met twelve ticks in");
        let mut after = Interest::new();
        assert_eq!(entered(&mut after, &growing(40, 0.0, 0))[0].appearing, 0, "met after it appeared");
    }
}
