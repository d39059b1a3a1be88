//! What a bot does with its ship. Decisions use only what a player sees: the replica of the
//! view, and the bot's own ship in it.

use glam::Vec2;
use rand::rngs::SmallRng;
use rand::Rng;
use shared::protocol::{EntityId, EntityKind};
use shared::replica::Replica;

/// A bot's behaviour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Behavior {
    /// Flies around: thrusts, turns at random, never fires.
    Wander,
    /// Hunts: turns towards the nearest ship (or asteroid), closes in, fires when aligned.
    Fight,
    /// Connected and watching, never touching the controls.
    Idle,
    /// A mix per bot: 40 % wander, 40 % fight, 20 % idle.
    Mix,
    /// Hostile: sends inputs at about ten times the allowed message rate.
    Flood,
    /// Hostile: sends random bytes instead of messages, ten a second.
    Garbage,
    /// Hostile: stops reading after its first snapshot (the server must not buffer for it).
    StopReading,
    /// Hostile: completes the handshake, then neither reads nor writes (a dead peer).
    Silent,
}

impl Behavior {
    /// Whether this behaviour breaks the rules on purpose (its bots are expected to be
    /// disconnected by the server).
    pub fn is_hostile(self) -> bool {
        matches!(self, Behavior::Flood | Behavior::Garbage | Behavior::StopReading | Behavior::Silent)
    }
}

impl Behavior {
    /// The concrete behaviour of one bot (resolves `Mix` with the bot's random source).
    pub fn pick(self, rng: &mut SmallRng) -> Behavior {
        match self {
            Behavior::Mix => match rng.random_range(0..10) {
                0..=3 => Behavior::Wander,
                4..=7 => Behavior::Fight,
                _ => Behavior::Idle,
            },
            b => b,
        }
    }
}

/// The controls a bot holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Intent {
    /// Engine on.
    pub thrust: bool,
    /// −1, 0, +1.
    pub turn: i8,
    /// Trigger held.
    pub fire: bool,
}

/// A bot's mind: its behaviour and what it was doing.
#[derive(Debug)]
pub struct Pilot {
    behavior: Behavior,
    wander: Intent,
    wander_until_ms: f64,
}

impl Pilot {
    /// A pilot with a concrete behaviour.
    pub fn new(behavior: Behavior) -> Pilot {
        Pilot { behavior, wander: Intent::default(), wander_until_ms: 0.0 }
    }

    /// The behaviour.
    pub fn behavior(&self) -> Behavior {
        self.behavior
    }

    fn wander(&mut self, now_ms: f64, rng: &mut SmallRng) -> Intent {
        if now_ms >= self.wander_until_ms {
            self.wander = Intent { thrust: rng.random_bool(0.6), turn: rng.random_range(-1..=1), fire: false };
            self.wander_until_ms = now_ms + rng.random_range(400.0..2000.0);
        }
        self.wander
    }

    /// What to do now.
    pub fn decide(&mut self, replica: &Replica, ship: Option<EntityId>, now_ms: f64, rng: &mut SmallRng) -> Intent {
        match self.behavior {
            // The hostile behaviours do not pilot; the bot loop sends what they send.
            Behavior::Idle
            | Behavior::Mix
            | Behavior::Flood
            | Behavior::Garbage
            | Behavior::StopReading
            | Behavior::Silent => Intent::default(),
            Behavior::Wander => self.wander(now_ms, rng),
            Behavior::Fight => {
                let Some(me) = ship.and_then(|id| replica.get(id)) else { return Intent::default() };
                let body = me.state.body();
                let nearest = |want: fn(EntityKind) -> bool| {
                    replica
                        .entities()
                        .iter()
                        .filter(|(id, k)| Some(**id) != ship && want(k.kind))
                        .map(|(_, k)| k.state.position())
                        .min_by(|a, b| a.distance_squared(body.pos).total_cmp(&b.distance_squared(body.pos)))
                };
                let Some(target) = nearest(|k| k == EntityKind::Ship).or_else(|| nearest(EntityKind::is_asteroid))
                else {
                    return self.wander(now_ms, rng);
                };
                let to: Vec2 = (target - body.pos).normalize_or(Vec2::X);
                let aligned = body.rot.dot(to) > 0.97;
                let turn = if aligned {
                    0
                } else if body.rot.perp_dot(to) > 0.0 {
                    1
                } else {
                    -1
                };
                let distance = target.distance(body.pos);
                Intent { thrust: aligned && distance > 500.0, turn, fire: aligned && distance < 800.0 }
            }
        }
    }
}
