//! The simulation: one thread that owns the game world and steps it at a fixed rate.
//!
//! Sessions reach it only through [`SimEvent`]s on a bounded channel, and read only the
//! [`Frame`]s it publishes on a `watch` channel (latest wins: a slow reader skips frames, the
//! simulation never waits). Nothing else holds the world: there is no lock around it.
//!
//! Timing: ticks are scheduled on a fixed grid (`start + n·dt`), never with a wall-clock dt.
//! A tick that starts late is caught up by running the next ones back to back; if the
//! simulation falls more than [`MAX_CATCHUP_TICKS`] behind, the excess ticks are skipped and
//! counted in [`SimCounters::missed_ticks`] instead of spiralling.
//!
//! The world's tick is [`Game::tick`], which runs the table of phases in `phases.rs` (one file
//! each, over the entity table of [`entities`] and the players of [`players`]). What the world
//! outside is ([`Surroundings`]: the universe's live edges and other sectors, the all-time
//! board, the wall clock) is sampled here, once per tick, by a function the server gives
//! [`spawn`]: the simulation itself names none of them. After each tick this loop
//! delivers what the tick decided ([`outbox`]): answers and events to sessions, score changes
//! to the store, which the simulation knows only as a [`ScoreSink`]. Then, on snapshot ticks,
//! it publishes a frame. Every phase is timed; a tick over twice its budget is counted and
//! logged (at most once per [`SLOW_TICK_LOG_INTERVAL`]).

mod borders;
mod collisions;
pub mod counters;
pub mod entities;
pub mod events;
mod featured;
pub mod frame;
pub mod game;
pub mod handover;
mod inbound;
mod intents;
mod leaderboard;
mod lifetimes;
mod motion;
pub mod outbox;
mod phases;
pub mod physics;
mod pilots;
pub mod players;
mod population;
mod publish;
mod surroundings;

pub use counters::SimCounters;
pub use events::{Dismissal, Joined, SimEvent, SIM_EVENT_CAPACITY};
use frame::{Frame, SimTiming, TickClock};
pub use game::{Game, GameConfig};
pub use handover::{catch_up, Arrival, Departure, MAX_ARRIVAL_CATCHUP};
pub use inbound::MAX_INPUT_SEQ_JUMP;
pub use outbox::{Outbox, ScoreDelta, ScoreSink, Undelivered};
pub use phases::PHASES;
use phases::{Laps, PUBLISH};
use shared::constants::TICK_HZ;
use shared::kinematics::Kinematics;
use shared::protocol::Tick;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
pub use surroundings::{Elsewhere, Surroundings};
use tokio::sync::{mpsc, watch};

/// Least time between two log lines about slow or skipped ticks: an overloaded server says
/// so every few seconds, not sixty times a second.
pub const SLOW_TICK_LOG_INTERVAL: Duration = Duration::from_secs(5);

/// Most ticks run back to back to catch up after a stall; beyond that, ticks are skipped.
pub const MAX_CATCHUP_TICKS: u64 = 5;

/// Most events taken from the channel in one tick; the rest wait for the next tick, so a
/// flood of events cannot stretch a tick without bound.
pub const MAX_EVENTS_PER_TICK: usize = 16_384;

/// How the simulation runs.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// The world.
    pub game: GameConfig,
    /// Frames published per second (1 to the tick rate).
    pub snapshot_hz: u32,
    /// Frames kept for [`SimHandle::frame_at`] (for tests; 0 in production).
    pub frame_history: usize,
}

/// Samples the world outside the simulation, once per tick (see [`Surroundings`]).
pub type Sampler = Box<dyn FnMut() -> Surroundings + Send>;

/// Recently published frames, for tests that compare a client's reconstruction with the
/// server's truth. A std `Mutex`: nothing awaits while holding it, and it is touched once per
/// published frame.
type History = Arc<Mutex<VecDeque<Arc<Frame>>>>;

/// The running simulation, as the rest of the server sees it.
#[derive(Debug)]
pub struct SimHandle {
    /// Where sessions send their events.
    pub events: mpsc::Sender<SimEvent>,
    /// The latest published frame.
    pub frames: watch::Receiver<Arc<Frame>>,
    /// The motion constants clients receive in `Welcome`.
    pub kinematics: Kinematics,
    /// The snapshot rate actually used.
    pub snapshot_hz: u32,
    stop: Arc<AtomicBool>,
    history: History,
    thread: Option<std::thread::JoinHandle<watch::Sender<Arc<Frame>>>>,
    /// The frame channel after the thread stopped: kept open, so sessions see a stopped world
    /// (the last frame) rather than a vanished one until the server closes them.
    parked: Option<watch::Sender<Arc<Frame>>>,
}

impl SimHandle {
    /// A recently published frame, if still kept (see [`SimConfig::frame_history`]).
    pub fn frame_at(&self, tick: Tick) -> Option<Arc<Frame>> {
        let history = self.history.lock().unwrap_or_else(|e| e.into_inner());
        history.iter().find(|f| f.tick == tick).cloned()
    }

    /// Stops the simulation thread and waits for it. The tick in progress finishes and its
    /// outbox is delivered; the last published frame stays readable.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            self.parked = thread.join().ok();
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether `tick` is one on which a frame is published at `snapshot_hz`.
pub fn is_snapshot_tick(tick: Tick, snapshot_hz: u32) -> bool {
    let hz = snapshot_hz as u64;
    let t = tick as u64;
    t == 0 || (t * hz) / TICK_HZ as u64 != ((t - 1) * hz) / TICK_HZ as u64
}

/// Builds the world and starts the simulation thread. Score changes of players with an
/// identity go to `scores` (none: they last as long as the session); `outside` is called
/// once before every tick, and the tick sees what it returns.
pub fn spawn(config: SimConfig, scores: Option<Box<dyn ScoreSink>>, outside: Sampler) -> SimHandle {
    let snapshot_hz = config.snapshot_hz.clamp(1, TICK_HZ);
    let game = Game::new(config.game.clone());
    let kinematics = *game.kinematics();
    let (events_tx, events) = mpsc::channel(SIM_EVENT_CAPACITY);
    let (frames_tx, frames_rx) = watch::channel(Arc::new(game.frame(SimTiming::default())));
    let stop = Arc::new(AtomicBool::new(false));
    let history: History = Arc::new(Mutex::new(VecDeque::new()));
    let mut sim = Loop {
        game,
        events,
        scores,
        outside,
        frames: frames_tx,
        history: history.clone(),
        keep: config.frame_history,
        snapshot_hz,
        clock: TickClock::default(),
        batch: Vec::new(),
        last_warning: None,
        slow_since_warning: 0,
    };
    let thread = {
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("simulation".into())
            .spawn(move || {
                sim.run(&stop);
                sim.frames
            })
            .expect("spawning the simulation thread")
    };
    SimHandle {
        events: events_tx,
        frames: frames_rx,
        kinematics,
        snapshot_hz,
        stop,
        history,
        thread: Some(thread),
        parked: None,
    }
}

/// The simulation thread's state.
struct Loop {
    game: Game,
    events: mpsc::Receiver<SimEvent>,
    scores: Option<Box<dyn ScoreSink>>,
    outside: Sampler,
    frames: watch::Sender<Arc<Frame>>,
    history: History,
    keep: usize,
    snapshot_hz: u32,
    clock: TickClock,
    /// This tick's events (reused; leaves for abandoned joins wait here for the next tick).
    batch: Vec<SimEvent>,
    last_warning: Option<Instant>,
    slow_since_warning: u64,
}

impl Loop {
    /// Ticks on the fixed grid until `stop` is set.
    fn run(&mut self, stop: &AtomicBool) {
        let tick_len = Duration::from_secs_f64(1.0 / TICK_HZ as f64);
        let mut next = Instant::now() + tick_len;
        while !stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            if now < next {
                std::thread::sleep(next - now);
                continue;
            }
            let late = ((now - next).as_secs_f64() / tick_len.as_secs_f64()) as u64;
            if late > MAX_CATCHUP_TICKS {
                let skipped = late - MAX_CATCHUP_TICKS;
                self.clock.missed(skipped);
                next += tick_len * skipped as u32;
                self.warn(|| tracing::warn!(skipped, "simulation fell behind; ticks skipped"));
            }
            let started = Instant::now();
            self.step();
            let ms = started.elapsed().as_secs_f32() * 1000.0;
            self.clock.record(ms, self.game.phase_secs);
            if ms > 2.0 * tick_len.as_secs_f32() * 1000.0 {
                self.clock.slow();
                self.slow_since_warning += 1;
                let (tick, phases) = (self.game.tick_number(), self.game.phase_secs);
                let slow = self.slow_since_warning;
                if self.warn(|| tracing::warn!(tick, ms, slow, phases = ?phase_report(&phases), "slow tick")) {
                    self.slow_since_warning = 0;
                }
            }
            next += tick_len;
        }
    }

    /// One tick: drain events, tick the world, deliver its outbox, publish on snapshot ticks.
    fn step(&mut self) {
        while self.batch.len() < MAX_EVENTS_PER_TICK {
            match self.events.try_recv() {
                Ok(event) => self.batch.push(event),
                Err(_) => break,
            }
        }
        let surroundings = (self.outside)();
        self.game.tick(self.batch.drain(..), &surroundings);
        let undelivered = self.game.deliver(self.scores.as_deref());
        self.clock.dropped_events(undelivered.dropped_events);
        self.batch.extend(undelivered.leaves);
        let mut laps = Laps::start();
        if is_snapshot_tick(self.game.tick_number(), self.snapshot_hz) {
            let frame = Arc::new(self.game.frame(self.clock.timing()));
            if self.keep > 0 {
                let mut h = self.history.lock().unwrap_or_else(|e| e.into_inner());
                h.push_back(frame.clone());
                while h.len() > self.keep {
                    h.pop_front();
                }
            }
            self.frames.send_replace(frame);
        }
        laps.lap(&mut self.game.phase_secs, PUBLISH);
    }

    /// Runs `log` unless a warning was logged less than [`SLOW_TICK_LOG_INTERVAL`] ago;
    /// returns whether it ran.
    fn warn(&mut self, log: impl FnOnce()) -> bool {
        if self.last_warning.is_some_and(|t| t.elapsed() < SLOW_TICK_LOG_INTERVAL) {
            return false;
        }
        self.last_warning = Some(Instant::now());
        log();
        true
    }
}

/// A tick's phase times as `name=ms` pairs, for the log.
fn phase_report(secs: &[f32; PHASES.len()]) -> Vec<String> {
    PHASES.iter().zip(secs).map(|(name, s)| format!("{name}={:.2}", s * 1000.0)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 20 Hz publishes every third tick; 60 Hz every tick; 7 Hz seven times a second.
    #[test]
    fn snapshot_ticks() {
        let count = |hz| (1..=60).filter(|&t| is_snapshot_tick(t, hz)).count();
        assert_eq!(count(20), 20);
        assert_eq!(count(60), 60);
        assert_eq!(count(7), 7);
        assert!(is_snapshot_tick(3, 20) && !is_snapshot_tick(4, 20));
    }
}
