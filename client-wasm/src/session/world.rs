//! What one connection has been told of the world: the motion constants, the replica of
//! what is in view (the page's one copy), the clocks, the own ship (its id, where it was last
//! seen, whether it flies) and its prediction, and the ship the page watches while it has
//! none. It knows nothing of the socket ([`super::connection`]).

use super::{Applied, ProtocolError};
use crate::clock::Clock;
use crate::predict::{Prediction, Reconciled};
use shared::kinematics::Kinematics;
use shared::protocol::{DeathCause, EntityId, GameEvent, Input, Snapshot, Spectating, Tick, Watched, Welcome};
use shared::quant::QState;
use shared::replica::Replica;

/// The player's own ship's fate.
#[derive(Clone, Debug, PartialEq)]
pub enum ShipStatus {
    /// Flying (or not yet seen).
    Alive,
    /// Destroyed; a new one comes at `respawn_at_ms` (page clock).
    Dead {
        /// What destroyed it, for the player.
        cause: String,
        /// When the next ship is due.
        respawn_at_ms: f64,
    },
}

/// The replica with what it takes to predict it: what a view or a pilot reads.
#[derive(Clone, Copy, Debug)]
pub struct Model<'a> {
    /// The world in view at [`Replica::tick`], exactly as the server has it.
    pub replica: &'a Replica,
    /// The motion constants from the Welcome.
    pub kinematics: &'a Kinematics,
    /// The server's tick rate.
    pub tick_hz: u32,
    /// The server's present and the own ship's tick, as of the last [`super::Session::poll`].
    pub clock: &'a Clock,
    /// The own ship's prediction, extended by [`World::predict`].
    pub prediction: &'a Prediction,
}

/// One connection's world.
#[derive(Debug)]
pub struct World {
    /// The server's welcome (constants, ids), once received (players only).
    pub welcome: Option<Welcome>,
    /// The motion constants and tick rate, from the `Welcome` or a spectator's `Spectating`.
    constants: Option<(Kinematics, u32)>,
    /// The world in view: the one copy, read through [`World::replica`].
    replica: Replica,
    /// The server's present and the own ship's tick.
    clock: Clock,
    /// The own ship ahead of the replica, with the inputs the server has not yet applied.
    prediction: Prediction,
    /// The ship this client follows while it has none of its own (a spectator, or a player
    /// waiting to respawn), as the server said.
    pub watched: Option<Watched>,
    /// The player's current ship.
    pub ship_id: Option<EntityId>,
    /// Where the ship was last known (spawn point, or last position seen).
    pub ship_hint: [f32; 2],
    /// Alive or waiting to respawn.
    pub ship_status: ShipStatus,
}

impl Default for World {
    fn default() -> World {
        World {
            welcome: None,
            constants: None,
            replica: Replica::new(),
            clock: Clock::new(shared::constants::TICK_HZ),
            prediction: Prediction::default(),
            watched: None,
            ship_id: None,
            ship_hint: [0.0, 0.0],
            ship_status: ShipStatus::Alive,
        }
    }
}

impl World {
    /// A new connection starts from nothing; crossing into the next sector, the motion
    /// constants stay (`crossing`), so the ship is still drawn from its prediction until the
    /// Welcome there rebases it.
    pub(crate) fn reopen(&mut self, crossing: bool) {
        if !crossing {
            self.constants = None;
        }
        self.welcome = None;
        self.watched = None;
        self.replica.clear();
    }

    /// The world in view, exactly as the server has it at [`Replica::tick`].
    pub fn replica(&self) -> &Replica {
        &self.replica
    }

    /// The motion constants and the tick rate, once welcomed.
    pub fn constants(&self) -> Option<(Kinematics, u32)> {
        self.constants
    }

    /// The replica with its motion constants, clocks and the own ship's prediction, once
    /// welcomed.
    pub fn model(&self) -> Option<Model<'_>> {
        self.constants.as_ref().map(|(kinematics, tick_hz)| Model {
            replica: &self.replica,
            kinematics,
            tick_hz: *tick_hz,
            clock: &self.clock,
            prediction: &self.prediction,
        })
    }

    /// The clocks.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The own ship's prediction.
    pub fn prediction(&self) -> &Prediction {
        &self.prediction
    }

    /// The own ship while it flies (none while waiting to respawn).
    pub fn alive_ship(&self) -> Option<EntityId> {
        self.ship_id.filter(|_| self.ship_status == ShipStatus::Alive)
    }

    /// Extends the own ship's prediction to the tick after the one it is drawn at now.
    pub fn predict(&mut self) {
        if let Some(own) = self.clock.own() {
            self.prediction.extend_to(own.floor().max(0.0) as Tick + 1);
        }
    }

    /// Moves the clocks to `now_ms` (the prediction is extended when the frame is drawn).
    pub(crate) fn clock_to(&mut self, now_ms: f64) {
        self.clock.advance(now_ms);
    }

    /// Moves the clocks to `now_ms`, and the own ship's prediction with them.
    pub fn advance(&mut self, now_ms: f64) {
        self.clock.advance(now_ms);
        self.predict();
    }

    /// A round trip measured at `now_ms`.
    pub(crate) fn on_rtt(&mut self, rtt_ms: f64, now_ms: f64) {
        self.clock.on_rtt(rtt_ms, now_ms);
    }

    /// A player's `Welcome` at `now_ms` (`rtt_ms`: the handshake's round trip, if measured).
    pub(crate) fn welcomed(&mut self, w: Welcome, rtt_ms: Option<f64>, now_ms: f64) {
        self.start_clock(w.tick_hz, w.tick, rtt_ms, now_ms);
        self.prediction.reset(w.kinematics, w.ship_id);
        if let Some(state) = w.arrival {
            self.prediction.arrive(w.tick.saturating_sub(1), state);
        }
        self.ship_id = Some(w.ship_id);
        self.ship_hint = w.ship_position;
        self.ship_status = ShipStatus::Alive;
        self.constants = Some((w.kinematics, w.tick_hz));
        self.welcome = Some(w);
    }

    /// A spectator's `Spectating` at `now_ms`.
    pub(crate) fn spectating(&mut self, s: &Spectating, rtt_ms: Option<f64>, now_ms: f64) {
        self.constants = Some((s.kinematics, s.tick_hz));
        self.start_clock(s.tick_hz, s.tick, rtt_ms, now_ms);
    }

    fn start_clock(&mut self, tick_hz: u32, tick: Tick, rtt_ms: Option<f64>, now_ms: f64) {
        self.clock = Clock::new(tick_hz);
        self.clock.on_arrival(tick, now_ms);
        if let Some(rtt_ms) = rtt_ms {
            // Hello there, Welcome back (with a store lookup between: a little long, and the
            // margins correct it): the lead is right from the first input.
            self.clock.on_rtt(rtt_ms, now_ms);
        }
    }

    /// A snapshot at `now_ms`, applied to the replica; then the own ship is reconciled.
    pub(crate) fn apply(&mut self, snapshot: Snapshot, now_ms: f64) -> Result<Applied, ProtocolError> {
        let kin = self.constants.map(|(k, _)| k).ok_or(ProtocolError::SnapshotBeforeWelcome)?;
        let mut corrections = Vec::with_capacity(snapshot.changed.len());
        self.replica.apply_observed(&snapshot, &kin, |c| corrections.push(*c)).map_err(ProtocolError::BadSnapshot)?;
        let own = self.ship_id.and_then(|id| self.replica.get(id)).map(|k| k.state);
        let own = self.observed(&snapshot, own, now_ms);
        Ok(Applied::Snapshot { snapshot, corrections, own })
    }

    /// What a snapshot at `now_ms` showed of the own ship (`own`: its state, if in view),
    /// however the snapshot was kept (this world's replica, or a light bot's last sightings):
    /// the view follows the ship, the clocks hear of the arrival and the acknowledged input's
    /// margin, and the prediction starts again from the ship.
    pub fn observed(&mut self, snapshot: &Snapshot, own: Option<QState>, now_ms: f64) -> Reconciled {
        if let Some(ship) = own {
            self.ship_hint = ship.position().into();
        }
        self.clock.on_arrival(snapshot.tick, now_ms);
        let own = own.filter(|_| self.ship_status == ShipStatus::Alive);
        let r = self.prediction.on_snapshot(snapshot, own, now_ms);
        if let Some((_, margin)) = r.acked {
            let stamped_with = r.acked_lead.unwrap_or(self.clock.lead());
            self.clock.on_margin(margin, stamped_with, now_ms);
        }
        // Ready to be drawn at once: the prediction from its new base up to the own tick.
        self.predict();
        r
    }

    /// An input sent at `now_ms`, named for the own ship's next tick; the prediction flies
    /// with it from that tick on.
    pub(crate) fn stamp(&mut self, input: Input, now_ms: f64) -> Input {
        self.clock.advance(now_ms);
        let input = Input { tick: self.clock.stamp(), ..input };
        self.prediction.sent(input, now_ms, self.clock.lead());
        input
    }

    /// The own ship destroyed or spawned (other events are not the world's).
    pub(crate) fn on_event(&mut self, event: &GameEvent, now_ms: f64) {
        match event {
            GameEvent::ShipDestroyed { ship_id, cause, respawn_in_ticks } if Some(*ship_id) == self.ship_id => {
                let tick_ms = self.constants.map_or(1000.0 / 60.0, |(_, hz)| 1000.0 / hz as f64);
                let cause = match cause {
                    DeathCause::Asteroid => "hit an asteroid".to_string(),
                    DeathCause::Shot { by } => format!("shot by {by}"),
                    DeathCause::Collision { with } => format!("collided with {with}"),
                };
                self.ship_status =
                    ShipStatus::Dead { cause, respawn_at_ms: now_ms + f64::from(*respawn_in_ticks) * tick_ms };
                self.prediction.set_ship(None);
            }
            GameEvent::ShipSpawned { ship_id, position } => {
                self.prediction.set_ship(Some(*ship_id));
                self.ship_id = Some(*ship_id);
                self.ship_hint = *position;
                self.ship_status = ShipStatus::Alive;
            }
            _ => {}
        }
    }
}
