//! The simulation: one thread that owns the game world and steps it at a fixed rate.
//!
//! Sessions reach it only through [`SimEvent`]s on a bounded channel, and read only the
//! [`Frame`]s it publishes on a `watch` channel (latest wins: a slow reader skips frames, the
//! simulation never waits). Nothing else holds the world: there is no lock around it.
//!
//! Timing: ticks are scheduled on a fixed grid (`start + n·dt`), never with a wall-clock dt.
//! A tick that starts late is caught up by running the next ones back to back; if the
//! simulation falls more than [`MAX_CATCHUP_TICKS`] behind, the excess ticks are skipped and
//! counted in [`SimTiming::missed_ticks`] instead of spiralling.

pub mod events;
pub mod game;
pub mod physics;

use crate::frame::{Frame, SimTiming, TickClock};
pub use events::{Joined, SimEvent, SIM_EVENT_CAPACITY};
pub use game::{Game, GameConfig};
use shared::constants::TICK_HZ;
use shared::kinematics::Kinematics;
use shared::protocol::Tick;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// The phases of a tick, in the order they run: the eight of [`Game::tick`], then the
/// simulation loop's delivery of the tick's outbox and the building of the published frame.
/// Each is timed every tick; the timings are published in [`SimTiming`].
pub const PHASES: [&str; 10] = [
    "inbound",
    "intents",
    "physics",
    "collisions",
    "lifetimes",
    "snap",
    "population",
    "leaderboard",
    "deliver",
    "publish",
];

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

/// Recently published frames, for tests that compare a client's reconstruction with the
/// server's truth. A std `Mutex`: nothing awaits while holding it, and it is touched once per
/// published frame.
type History = Arc<Mutex<VecDeque<Arc<Frame>>>>;

/// The running simulation, as the rest of the server sees it.
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
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SimHandle {
    /// A recently published frame, if still kept (see [`SimConfig::frame_history`]).
    pub fn frame_at(&self, tick: Tick) -> Option<Arc<Frame>> {
        let history = self.history.lock().unwrap_or_else(|e| e.into_inner());
        history.iter().find(|f| f.tick == tick).cloned()
    }

    /// Stops the simulation thread and waits for it.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
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

/// Builds the world and starts the simulation thread.
pub fn spawn(config: SimConfig) -> SimHandle {
    let snapshot_hz = config.snapshot_hz.clamp(1, TICK_HZ);
    let mut game = Game::new(config.game.clone());
    let kinematics = *game.kinematics();
    let (events_tx, mut events_rx) = mpsc::channel(SIM_EVENT_CAPACITY);
    let (frames_tx, frames_rx) = watch::channel(Arc::new(game.frame(SimTiming::default())));
    let stop = Arc::new(AtomicBool::new(false));
    let history: History = Arc::new(Mutex::new(VecDeque::new()));
    let thread = {
        let stop = stop.clone();
        let history = history.clone();
        let keep = config.frame_history;
        std::thread::Builder::new()
            .name("simulation".into())
            .spawn(move || {
                let tick_len = Duration::from_secs_f64(1.0 / TICK_HZ as f64);
                let mut clock = TickClock::default();
                let mut next = Instant::now() + tick_len;
                let mut batch = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let now = Instant::now();
                    if now < next {
                        std::thread::sleep(next - now);
                        continue;
                    }
                    let late = ((now - next).as_secs_f64() / tick_len.as_secs_f64()) as u64;
                    if late > MAX_CATCHUP_TICKS {
                        let skipped = late - MAX_CATCHUP_TICKS;
                        clock.missed(skipped);
                        next += tick_len * skipped as u32;
                    }
                    while batch.len() < MAX_EVENTS_PER_TICK {
                        match events_rx.try_recv() {
                            Ok(event) => batch.push(event),
                            Err(_) => break,
                        }
                    }
                    let started = Instant::now();
                    game.tick(batch.drain(..));
                    if is_snapshot_tick(game.tick_number(), snapshot_hz) {
                        let frame = Arc::new(game.frame(clock.timing()));
                        if keep > 0 {
                            let mut h = history.lock().unwrap_or_else(|e| e.into_inner());
                            h.push_back(frame.clone());
                            while h.len() > keep {
                                h.pop_front();
                            }
                        }
                        frames_tx.send_replace(frame);
                    }
                    let mut phase_secs = [0.0; PHASES.len()];
                    phase_secs[..game.phase_secs.len()].copy_from_slice(&game.phase_secs);
                    clock.record(started.elapsed().as_secs_f32() * 1000.0, phase_secs);
                    next += tick_len;
                }
            })
            .expect("spawning the simulation thread")
    };
    SimHandle { events: events_tx, frames: frames_rx, kinematics, snapshot_hz, stop, history, thread: Some(thread) }
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
