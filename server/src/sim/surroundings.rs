//! What the simulation knows of the world outside it: a value, sampled once per tick by
//! whoever drives the loop, and passed in ([`super::Game::tick`]).
//!
//! The simulation never reads a clock, a channel written by another task, or an atomic mid-tick:
//! every input it consumes is either a [`super::SimEvent`] or a field of this struct. So a
//! game is a function of its configuration, its events and its surroundings, tick by tick, and
//! can be stepped again from a record of them to the same frames (`tests` in `game.rs`).
//! Where each field comes from (the universe's directory, the store, the wall clock) is the
//! driver's business (`server.rs`); the simulation names none of them.

use shared::kinematics::OpenEdges;
use shared::protocol::LeaderboardEntry;
use std::sync::Arc;

/// The outside world as one tick sees it. The default is a lone world: every edge closed,
/// nobody elsewhere, no all-time board, the clock at 0.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Surroundings {
    /// The open edges whose neighbouring sector is alive now: ships beyond them are handed
    /// over, beyond any other edge turned back (see `borders.rs`).
    pub live_edges: OpenEdges,
    /// What the other sectors of the universe have online, ranked with this world's own on
    /// the board (empty for a lone world).
    pub elsewhere: Arc<Elsewhere>,
    /// The all-time top, as the store last committed it.
    pub all_time: Arc<Vec<LeaderboardEntry>>,
    /// Unix milliseconds at the start of this tick: a crossing is stamped with it, so the
    /// neighbour can move the ship on by the time it spent between sectors.
    pub unix_ms: u64,
}

/// What the other sectors of the universe have online, as the directory last listed them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Elsewhere {
    /// Humans online in the other sectors.
    pub online: u32,
    /// Their best pilots online (each sector's own top, all of them).
    pub top: Vec<LeaderboardEntry>,
}
