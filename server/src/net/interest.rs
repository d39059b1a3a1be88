//! Interest management for one connection: which entities the client knows, and the diff
//! that brings it from what it has to the world in its view.
//!
//! The client's copy of an entity is the state it was last sent, predicted forward with
//! `shared::kinematics`. That prediction is exact (bit for bit) until the entity's *epoch*
//! moves past the tick it was sent at (see [`FrameEntity::epoch`]), so deciding whether an
//! entity changed is one integer comparison: no per-client prediction runs on the server.
//! The threshold is therefore zero: whenever the client's dead reckoning would be off at all,
//! the entity is sent, which is what lets a client reconstruct the server's state exactly,
//! while a coasting asteroid costs no bytes at all.

use crate::frame::{Frame, FrameEntity};
use shared::protocol::{EntityEnter, EntityId, EntityUpdate, Snapshot, Tick, ViewRect};
use std::collections::HashMap;

#[derive(Clone, Copy, Debug)]
struct Sent {
    /// Tick of the state the client last received for this entity.
    tick: Tick,
    /// Pass number of the last diff that found it in view.
    seen: u32,
}

/// What one client knows. Survives skipped frames: it only ever records what was actually
/// sent, and a snapshot is a diff against that, whatever frames came in between.
#[derive(Debug, Default)]
pub struct Interest {
    known: HashMap<EntityId, Sent>,
    pass: u32,
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
    pub fn diff(&mut self, frame: &Frame, view: &ViewRect, input_ack: u32) -> Option<Snapshot> {
        if self.last_tick.is_some_and(|t| frame.tick <= t) {
            return None;
        }
        self.pass = self.pass.wrapping_add(1);
        let pass = self.pass;
        let mut snap = Snapshot { tick: frame.tick, input_ack, ..Snapshot::default() };
        frame.query(view, |e: &FrameEntity| match self.known.get_mut(&e.id) {
            Some(sent) => {
                sent.seen = pass;
                if e.epoch > sent.tick {
                    sent.tick = frame.tick;
                    snap.changed.push(EntityUpdate { id: e.id, state: e.state });
                }
            }
            None => {
                self.known.insert(e.id, Sent { tick: frame.tick, seen: pass });
                snap.entered.push(EntityEnter { id: e.id, kind: e.kind, state: e.state });
            }
        });
        self.known.retain(|&id, sent| {
            let keep = sent.seen == pass;
            if !keep {
                snap.left.push(id);
            }
            keep
        });
        self.last_tick = Some(frame.tick);
        Some(snap)
    }

    /// The full state of the view, as if the client knew nothing: what a naive server would
    /// send every snapshot (for the bandwidth comparison).
    pub fn full_state(frame: &Frame, view: &ViewRect) -> Snapshot {
        let mut snap = Snapshot { tick: frame.tick, ..Snapshot::default() };
        frame.query(view, |e| snap.entered.push(EntityEnter { id: e.id, kind: e.kind, state: e.state }));
        snap
    }
}
