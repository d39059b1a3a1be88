//! What the simulation publishes after a snapshot tick: every entity's quantized state and a
//! spatial index over them. Immutable once built and shared (`Arc`) by every session, which
//! query it for their own view; the simulation never waits for a reader.

use super::{SimCounters, PHASES};
use shared::protocol::{
    EntityId, EntityKind, InputAck, Leaderboard, LeaderboardEntry, PlayerId, ServerMsg, Tick, ViewRect, Watched,
    WorldStatus,
};
use shared::quant::QState;
use std::collections::HashMap;
use std::sync::Arc;

/// Side of a spatial grid cell, world units. About a tenth of a screen: a view query touches
/// on the order of a hundred cells and few entities outside the view.
pub const GRID_CELL: f32 = 256.0;

/// One entity in a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameEntity {
    /// Its id.
    pub id: EntityId,
    /// Its slot: a number below [`Frame::slot_bound`] that no other entity of the frame has,
    /// the same for the entity's whole life (then given to a later entity). Sessions keep
    /// what their client knows by slot: a bit per slot, no hashing.
    pub slot: u32,
    /// What it is.
    pub kind: EntityKind,
    /// Its state at the frame's tick, on the wire grid.
    pub state: QState,
    /// The last tick at which its state was *not* what `shared::kinematics` predicts from the
    /// tick before (spawned, collided, input changed…). A client that received this entity's
    /// state at tick `t ≥ epoch` predicts it exactly, so it needs no update.
    pub epoch: Tick,
    /// Ticks until it has appeared, for an asteroid spawned in sight (0: it is all there).
    pub appearing: u8,
}

/// What a session needs to know about its player from the simulation.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PlayerFrame {
    /// The player's current ship, if alive.
    pub ship: Option<EntityId>,
    /// The newest input applied, for the player's snapshots.
    pub ack: InputAck,
    /// The point every view this player is served must contain: its ship, or the ship it
    /// watches while it has none, or where its last ship was (see
    /// [`crate::net::interest::anchored`]).
    pub anchor: [f32; 2],
    /// While the player has no ship: the ship it watches (its killer's while that flies, else
    /// the featured pilot's), named in [`Frame::featured`] or [`Frame::watched`].
    pub watching: Option<EntityId>,
}

/// Upper bounds of the tick-duration histogram's buckets, milliseconds (Prometheus `le`).
pub const TICK_BUCKETS_MS: [f64; 14] =
    [1.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0, 16.667, 20.0, 25.0, 33.0, 50.0, 100.0];

/// A message's content and the message, postcard-encoded once when the content changes rather
/// than once per connection.
#[derive(Debug)]
pub struct Encoded<T> {
    /// The content.
    pub value: T,
    /// The whole `ServerMsg`, encoded.
    pub wire: bytes::Bytes,
}

impl<T> Encoded<T> {
    /// `value`, encoded once as the message `msg` makes of it.
    pub fn new(value: T, msg: impl FnOnce(T) -> ServerMsg) -> Arc<Self>
    where
        T: Clone,
    {
        let wire = shared::codec::encode_server(&msg(value.clone())).into();
        Arc::new(Encoded { value, wire })
    }
}

/// The leaderboard as published: three parts, each replaced (a new `Arc`) only when it
/// changes, so that a session tells what is new to its client by comparing pointers, and sends
/// each part at its own pace (see `net::session`).
#[derive(Debug)]
pub struct PublishedLeaderboard {
    /// Players online and the hotspot (`ServerMsg::World`).
    pub world: Arc<Encoded<WorldStatus>>,
    /// The online top (`ServerMsg::TopOnline`).
    pub top: Arc<Encoded<Vec<LeaderboardEntry>>>,
    /// The all-time top (`ServerMsg::TopAllTime`).
    pub all_time: Arc<Encoded<Vec<LeaderboardEntry>>>,
    /// This world's own standing, before other sectors' are merged into `world` and `top`:
    /// what a sector tells the universe's directory. The same as the board on a lone server.
    pub here: Standing,
}

/// Players online in this world alone, and its own best pilots online.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Standing {
    /// Humans connected here.
    pub online: u32,
    /// The best players online here, best first.
    pub top: Vec<LeaderboardEntry>,
}

impl PublishedLeaderboard {
    /// Encodes every part of `board`.
    pub fn new(board: Leaderboard) -> Self {
        let here = Standing { online: board.online, top: board.top.clone() };
        PublishedLeaderboard {
            here,
            world: Encoded::new(WorldStatus { online: board.online, hotspot: board.hotspot }, ServerMsg::World),
            top: Encoded::new(board.top, ServerMsg::TopOnline),
            all_time: Encoded::new(board.all_time, ServerMsg::TopAllTime),
        }
    }

    /// The board that follows this one (with this world's own standing `here`), sharing the
    /// parts that did not change; `None` when nothing changed.
    pub fn next(&self, board: Leaderboard, here: Standing) -> Option<Self> {
        let world = WorldStatus { online: board.online, hotspot: board.hotspot };
        if world == self.world.value
            && board.top == self.top.value
            && board.all_time == self.all_time.value
            && here == self.here
        {
            return None;
        }
        type Top = Arc<Encoded<Vec<LeaderboardEntry>>>;
        let keep_or = |old: &Top, new: Vec<LeaderboardEntry>, msg: fn(Vec<LeaderboardEntry>) -> ServerMsg| {
            if old.value == new {
                old.clone()
            } else {
                Encoded::new(new, msg)
            }
        };
        Some(PublishedLeaderboard {
            world: if world == self.world.value { self.world.clone() } else { Encoded::new(world, ServerMsg::World) },
            top: keep_or(&self.top, board.top, ServerMsg::TopOnline),
            all_time: keep_or(&self.all_time, board.all_time, ServerMsg::TopAllTime),
            here,
        })
    }

    /// The whole board.
    pub fn board(&self) -> Leaderboard {
        Leaderboard {
            online: self.world.value.online,
            hotspot: self.world.value.hotspot,
            top: self.top.value.clone(),
            all_time: self.all_time.value.clone(),
        }
    }
}

/// Timing figures of the simulation, published with each frame.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SimTiming {
    /// Tick duration over the last [`TICK_WINDOW`] ticks: median, milliseconds.
    pub tick_ms_p50: f32,
    /// … 99th percentile.
    pub tick_ms_p99: f32,
    /// … maximum.
    pub tick_ms_max: f32,
    /// Ticks run since start.
    pub ticks: u64,
    /// Cumulative histogram of tick durations since start: ticks at most `TICK_BUCKETS_MS[i]`.
    pub tick_buckets: [u64; TICK_BUCKETS_MS.len()],
    /// Sum of all tick durations since start, seconds.
    pub tick_secs_sum: f64,
    /// The simulation's counts since start (the game's and the loop's).
    pub counters: SimCounters,
    /// Mean duration of each phase over the last [`TICK_WINDOW`] ticks, milliseconds, in
    /// [`super::PHASES`] order.
    pub phase_ms_mean: [f32; PHASES.len()],
    /// Total time spent in each phase since start, seconds, in [`super::PHASES`] order.
    pub phase_secs_total: [f64; PHASES.len()],
}

/// Ticks over which the tick-time percentiles are computed (10 s).
pub const TICK_WINDOW: usize = 600;

/// Keeps the tick-time window and histogram; owned by the simulation thread.
#[derive(Debug, Default)]
pub struct TickClock {
    /// The last [`TICK_WINDOW`] ticks: total milliseconds and seconds per phase.
    window: std::collections::VecDeque<(f32, [f32; PHASES.len()])>,
    /// Sum of the window's phase seconds (kept as the window slides, so no tick re-adds it).
    window_phase_secs: [f64; PHASES.len()],
    timing: SimTiming,
}

impl TickClock {
    /// Records one tick's duration and the seconds each of its phases took.
    pub fn record(&mut self, ms: f32, phase_secs: [f32; PHASES.len()]) {
        if self.window.len() == TICK_WINDOW {
            if let Some((_, old)) = self.window.pop_front() {
                for (sum, s) in self.window_phase_secs.iter_mut().zip(old) {
                    *sum -= s as f64;
                }
            }
        }
        self.window.push_back((ms, phase_secs));
        for ((sum, total), s) in
            self.window_phase_secs.iter_mut().zip(&mut self.timing.phase_secs_total).zip(phase_secs)
        {
            *sum += s as f64;
            *total += s as f64;
        }
        let t = &mut self.timing;
        t.ticks += 1;
        t.tick_secs_sum += ms as f64 / 1000.0;
        for (bucket, le) in t.tick_buckets.iter_mut().zip(TICK_BUCKETS_MS) {
            if ms as f64 <= le {
                *bucket += 1;
            }
        }
    }

    /// Counts player events that could not be delivered.
    pub fn dropped_events(&mut self, n: u64) {
        self.timing.counters.dropped_events += n;
    }

    /// Counts a tick that took more than twice its budget.
    pub fn slow(&mut self) {
        self.timing.counters.slow_ticks += 1;
    }

    /// Counts ticks skipped by the catch-up limit.
    pub fn missed(&mut self, ticks: u64) {
        self.timing.counters.missed_ticks += ticks;
    }

    /// The figures, with the window's percentiles computed now.
    pub fn timing(&self) -> SimTiming {
        let mut sorted: Vec<f32> = self.window.iter().map(|(ms, _)| *ms).collect();
        sorted.sort_by(f32::total_cmp);
        let pick = |p: f64| shared::stats::percentile(&sorted, p).unwrap_or(0.0);
        let n = self.window.len().max(1) as f64;
        let phase_ms_mean = self.window_phase_secs.map(|s| (s / n * 1000.0) as f32);
        SimTiming {
            tick_ms_p50: pick(0.5),
            tick_ms_p99: pick(0.99),
            tick_ms_max: pick(1.0),
            phase_ms_mean,
            ..self.timing
        }
    }
}

/// The world at one tick, as sessions see it.
#[derive(Debug)]
pub struct Frame {
    /// The tick this frame describes.
    pub tick: Tick,
    /// Every entity, in grid-cell order.
    pub entities: Vec<FrameEntity>,
    /// Per connected player.
    pub players: HashMap<PlayerId, PlayerFrame>,
    /// Simulation timing.
    pub timing: SimTiming,
    /// The current leaderboard; each part the same `Arc` until it changes, so sessions send
    /// it only then.
    pub leaderboard: Arc<PublishedLeaderboard>,
    /// The featured pilot's ship and name: what spectators follow (the best-scoring pilot
    /// flying; none when nobody flies).
    pub featured: Option<Watched>,
    /// Ships watched by players waiting to respawn (their killers), with their pilots' names.
    pub watched: Vec<Watched>,
    grid: Grid,
    /// Index in `entities` of the entity in each slot (`u32::MAX`: none).
    by_slot: Vec<u32>,
}

#[derive(Debug)]
struct Grid {
    origin: [f32; 2],
    cols: usize,
    rows: usize,
    /// `entities[starts[c]..starts[c + 1]]` are the entities in cell `c`.
    starts: Vec<u32>,
}

impl Grid {
    fn new(arena_half: [f32; 2]) -> Grid {
        // One cell of margin beyond each edge: bouncing bodies can be slightly outside.
        let origin = [-arena_half[0] - GRID_CELL, -arena_half[1] - GRID_CELL];
        let cols = ((2.0 * arena_half[0] + 2.0 * GRID_CELL) / GRID_CELL).ceil().max(1.0) as usize;
        let rows = ((2.0 * arena_half[1] + 2.0 * GRID_CELL) / GRID_CELL).ceil().max(1.0) as usize;
        Grid { origin, cols, rows, starts: Vec::new() }
    }

    fn cell_xy(&self, p: [f32; 2]) -> (usize, usize) {
        let cx = ((p[0] - self.origin[0]) / GRID_CELL).floor().clamp(0.0, (self.cols - 1) as f32) as usize;
        let cy = ((p[1] - self.origin[1]) / GRID_CELL).floor().clamp(0.0, (self.rows - 1) as f32) as usize;
        (cx, cy)
    }

    fn cell(&self, p: [f32; 2]) -> usize {
        let (cx, cy) = self.cell_xy(p);
        cy * self.cols + cx
    }
}

impl Frame {
    /// Builds a frame, sorting the entities into the grid (a counting sort: O(n)).
    pub fn new(
        tick: Tick,
        entities: impl IntoIterator<Item = FrameEntity>,
        slot_bound: u32,
        players: HashMap<PlayerId, PlayerFrame>,
        arena_half: [f32; 2],
        timing: SimTiming,
        leaderboard: Arc<PublishedLeaderboard>,
    ) -> Frame {
        let mut grid = Grid::new(arena_half);
        let unsorted: Vec<(usize, FrameEntity)> =
            entities.into_iter().map(|e| (grid.cell(e.state.position().into()), e)).collect();
        let mut starts = vec![0u32; grid.cols * grid.rows + 1];
        for (cell, _) in &unsorted {
            starts[cell + 1] += 1;
        }
        for i in 1..starts.len() {
            starts[i] += starts[i - 1];
        }
        let mut next = starts.clone();
        let mut sorted = vec![None; unsorted.len()];
        for (cell, e) in unsorted {
            sorted[next[cell] as usize] = Some(e);
            next[cell] += 1;
        }
        grid.starts = starts;
        let entities: Vec<FrameEntity> =
            sorted.into_iter().map(|e| e.expect("every place filled by the counting sort")).collect();
        let mut by_slot = vec![u32::MAX; slot_bound as usize];
        for (index, e) in entities.iter().enumerate() {
            by_slot[e.slot as usize] = index as u32;
        }
        Frame { tick, entities, players, timing, leaderboard, featured: None, watched: Vec::new(), grid, by_slot }
    }

    /// One more than the highest slot of any entity in the frame.
    pub fn slot_bound(&self) -> u32 {
        self.by_slot.len() as u32
    }

    /// The entity in `slot`, if any.
    pub fn at_slot(&self, slot: u32) -> Option<&FrameEntity> {
        let index = *self.by_slot.get(slot as usize)?;
        self.entities.get(index as usize)
    }

    /// Calls `f` for every entity whose centre lies inside `view`.
    pub fn query(&self, view: &ViewRect, mut f: impl FnMut(&FrameEntity)) {
        let half = [view.size[0] * 0.5, view.size[1] * 0.5];
        let (x0, y0) = self.grid.cell_xy([view.center[0] - half[0], view.center[1] - half[1]]);
        let (x1, y1) = self.grid.cell_xy([view.center[0] + half[0], view.center[1] + half[1]]);
        for cy in y0..=y1 {
            let row = cy * self.grid.cols;
            let (a, b) = (self.grid.starts[row + x0] as usize, self.grid.starts[row + x1 + 1] as usize);
            for e in &self.entities[a..b] {
                if view.contains(e.state.position().into()) {
                    f(e);
                }
            }
        }
    }

    /// Looks an entity up by id (linear; for tests and tools, not the hot path).
    pub fn entity(&self, id: EntityId) -> Option<&FrameEntity> {
        self.entities.iter().find(|e| e.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use glam::Vec2;
    use shared::quant::{Body, Ctrl};

    fn at(id: EntityId, x: f32, y: f32) -> FrameEntity {
        let state =
            QState::from_body(&Body { pos: Vec2::new(x, y), vel: Vec2::ZERO, rot: Vec2::X, angvel: 0.0 }, Ctrl(0));
        FrameEntity { id, slot: id as u32, kind: EntityKind::AsteroidSmall, state, epoch: 0, appearing: 0 }
    }

    /// A grid query returns exactly the entities a brute-force scan finds, for many views,
    /// including ones crossing and beyond the arena's edges.
    #[test]
    fn query_matches_brute_force() {
        let half = [3000.0, 2000.0];
        let mut seed = 12345u64;
        let mut rnd = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((seed >> 33) as f32 / (1u64 << 31) as f32) * 2.0 - 1.0
        };
        let ents: Vec<_> = (0..3000).map(|i| at(i, rnd() * 3300.0, rnd() * 2300.0)).collect();
        let frame = Frame::new(
            1,
            ents.clone(),
            3000,
            HashMap::new(),
            half,
            SimTiming::default(),
            Arc::new(PublishedLeaderboard::new(Default::default())),
        );
        for _ in 0..200 {
            let view = ViewRect {
                center: [rnd() * 3500.0, rnd() * 2500.0],
                size: [(rnd() + 1.0) * 1500.0, (rnd() + 1.0) * 900.0],
            };
            let mut got: Vec<EntityId> = Vec::new();
            frame.query(&view, |e| got.push(e.id));
            got.sort();
            let mut want: Vec<EntityId> =
                ents.iter().filter(|e| view.contains(e.state.position().into())).map(|e| e.id).collect();
            want.sort();
            assert_eq!(got, want);
        }
    }
}
