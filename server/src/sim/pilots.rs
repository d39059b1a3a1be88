//! The pilots phase: server-side AI pilots, company for a lone player.
//!
//! An AI pilot is a [`Player`] with a [`Pilot`] and nothing else a human has: no connection,
//! no identity, no mailbox anyone reads. It plays by the rules a human plays by, because the
//! only thing it decides is the player's latest [`Input`] (thrust, turn, fire), set here just
//! before the intents phase turns every player's input into controls and bullets: same fire
//! rate, same bullet, same spawn protection, same scoring. Its score is never stored (no
//! identity, so [`super::players::Players::award`] writes no delta for the store), its events
//! go nowhere ([`super::outbox::Outbox::deliver`] skips them), it is not counted online, and
//! the leaderboard marks it as AI. Killing one is scored as killing a guest: worth
//! [`shared::constants::POINTS_PER_KILL`] once it has scored, within the usual repeat window.
//!
//! How many: the world is filled up to [`super::GameConfig::ai_pilots`] ships less the humans
//! online, one pilot added or removed per tick (a removed pilot's ship leaves through the
//! entity table), so humans take the AI pilots' places as they come.
//!
//! What it costs: a pilot *looks* (one scene query of rapier's broad phase for what is within
//! [`SIGHT`]) at most [`LOOK_INTERVAL`] apart, spread over ticks, and remembers what it
//! chose; every tick it only *steers* toward that target (one lookup by id and a little
//! arithmetic), so its aim does not overshoot between looks.

use super::entities::Entity;
use super::game::Game;
use super::players::Player;
use glam::Vec2;
use shared::constants::{BULLET_LIFETIME, BULLET_SPEED, DT_SECS};
use shared::protocol::{EntityId, EntityKind, Input, PlayerId, Tick};
use shared::time::Ticks;
use std::collections::HashSet;
use tokio::sync::mpsc;

/// Names AI pilots take, in order (a second round adds a number: "AI Vega 2"). Each passes
/// `shared::codec::validate_name`; the leaderboard marks AI pilots by a flag, not by name.
pub(crate) const AI_NAMES: [&str; 16] = [
    "AI Vega",
    "AI Orion",
    "AI Lyra",
    "AI Rigel",
    "AI Deneb",
    "AI Altair",
    "AI Sirius",
    "AI Mira",
    "AI Castor",
    "AI Pollux",
    "AI Antares",
    "AI Spica",
    "AI Capella",
    "AI Electra",
    "AI Atlas",
    "AI Nova",
];

/// Longest time between two looks of one pilot: ten times a second.
pub(crate) const LOOK_INTERVAL: Ticks = Ticks::from_millis(100);

/// How far a pilot sees, world units: about half a screen's width beyond its edge.
pub(crate) const SIGHT: f32 = 900.0;

/// How far a pilot shoots, world units: most of a bullet's reach (550 u/s for 1.5 s).
pub(crate) const FIRE_RANGE: f32 = 0.8 * BULLET_SPEED * BULLET_LIFETIME.get() as f32 * DT_SECS;

/// Largest angle between nose and aim at which a pilot fires, radians.
pub(crate) const FIRE_ANGLE: f32 = 0.12;

/// Angle between nose and aim below which a pilot stops turning, radians: one tick's turn at
/// 4 rad/s is 0.067, so it settles instead of swinging across the aim.
pub(crate) const AIM_DEADBAND: f32 = 0.04;

/// A pilot thrusts toward a target farther than this, world units.
pub(crate) const CLOSE_IN_DISTANCE: f32 = 350.0;

/// A pilot does not thrust beyond this speed, units per second (it would fly past everything).
pub(crate) const CRUISE_SPEED: f32 = 220.0;

/// An asteroid whose surface is nearer than this, and closing, is a danger: the pilot stops
/// thrusting and shoots it rather than chase anything else, world units.
pub(crate) const DANGER_DISTANCE: f32 = 140.0;

/// A new ship's pilot holds fire this long (its shield lasts until it fires).
pub(crate) const HOLD_FIRE: Ticks = Ticks::from_secs(1);

/// An AI pilot's mind: what it is after, and when it looks around again.
#[derive(Debug, Default)]
pub struct Pilot {
    /// The tick at which it looks around next.
    next_look: Tick,
    /// What it aims at (a ship or an asteroid), if anything is in sight.
    target: Option<EntityId>,
    /// Whether the target is an asteroid about to hit it (no thrust then).
    danger: bool,
}

impl Game {
    pub(super) fn pilots(&mut self) {
        self.keep_ai_pilot_count();
        let now = self.tick;
        let flying: Vec<(PlayerId, Option<EntityId>, bool)> = self
            .players
            .iter()
            .filter_map(|(id, p)| p.pilot.as_ref().map(|mind| (id, p.ship, mind.next_look <= now)))
            .collect();
        for (id, ship, looks) in flying {
            let Some(ship) = ship else {
                // Dead: the trigger is released, so the next ship does not fire (and lose its
                // shield) before its pilot has looked around.
                if let Some(p) = self.players.get_mut(id) {
                    p.input = Input::default();
                }
                continue;
            };
            if looks {
                let (target, danger) = self.look(ship);
                if let Some(mind) = self.players.get_mut(id).and_then(|p| p.pilot.as_mut()) {
                    *mind = Pilot { next_look: now + LOOK_INTERVAL, target, danger };
                }
            }
            let input = self.steer(id, ship);
            if let Some(p) = self.players.get_mut(id) {
                p.input = Input { seq: p.input.seq.wrapping_add(1), ..input };
            }
        }
    }

    /// Adds or removes one AI pilot, if the world has fewer or more than the configured number
    /// less the humans online.
    fn keep_ai_pilot_count(&mut self) {
        let humans = self.players.iter().filter(|(_, p)| p.is_human_online()).count();
        let want = self.config.ai_pilots.saturating_sub(humans);
        let ai: Vec<(PlayerId, &str)> =
            self.players.iter().filter(|(_, p)| p.is_ai()).map(|(id, p)| (id, p.name.as_str())).collect();
        if ai.len() > want {
            // The newest leaves first: the ones that have been around longest keep their scores.
            let newest = ai.iter().map(|&(id, _)| id).max().expect("more than wanted, so at least one");
            self.remove_player(newest);
        } else if ai.len() < want {
            let taken: HashSet<&str> = ai.iter().map(|&(_, name)| name).collect();
            let name = (1..)
                .flat_map(|round| {
                    AI_NAMES.iter().map(move |n| if round == 1 { n.to_string() } else { format!("{n} {round}") })
                })
                .find(|n| !taken.contains(n.as_str()))
                .expect("names never run out");
            self.add_ai_pilot(name);
        }
    }

    fn add_ai_pilot(&mut self, name: String) {
        // A session number of its own keeps it "connected" for the rules that ask (respawns,
        // the leaderboard), and spreads the pilots' looks over the ticks.
        let session = self.players.new_session();
        let next_look = self.tick + (session % u64::from(LOOK_INTERVAL.get())) as Tick;
        let id = self.players.insert(Player {
            pilot: Some(Pilot { next_look, ..Pilot::default() }),
            ..Player::new(name, None, 0, self.tick, session, mpsc::channel(1).0)
        });
        self.spawn_ship(id);
    }

    /// What a pilot in `ship` should aim at: an asteroid about to hit it; else the nearest
    /// ship in sight that can be shot (not its own, not shielded); else
    /// the nearest asteroid in sight. Also whether it is a danger.
    fn look(&self, ship: EntityId) -> (Option<EntityId>, bool) {
        let Some(me) = self.entities.get(ship) else { return (None, false) };
        let body = me.state.body();
        let mut nearest_ship: Option<(f32, EntityId)> = None;
        let mut nearest_rock: Option<(f32, EntityId, bool)> = None;
        self.entities.nearby(body.pos, SIGHT, |e| {
            let other = e.state.body();
            let to = other.pos - body.pos;
            let gap = to.length() - e.kind.radius();
            if gap > SIGHT {
                return; // in the corners of the square searched, out of sight
            }
            if e.kind == EntityKind::Ship && e.id != ship && self.shootable(e) {
                if nearest_ship.is_none_or(|(d, _)| gap < d) {
                    nearest_ship = Some((gap, e.id));
                }
            } else if e.kind.is_asteroid() && nearest_rock.is_none_or(|(d, ..)| gap < d) {
                let closing = (other.vel - body.vel).dot(to) < 0.0;
                nearest_rock = Some((gap, e.id, closing && gap < DANGER_DISTANCE));
            }
        });
        match (nearest_rock, nearest_ship) {
            (Some((_, rock, true)), _) => (Some(rock), true),
            (_, Some((_, ship))) => (Some(ship), false),
            (Some((_, rock, false)), None) => (Some(rock), false),
            (None, None) => (None, false),
        }
    }

    /// Whether an AI pilot may shoot at this ship: spawn protection makes it pointless.
    fn shootable(&self, ship: &Entity) -> bool {
        !ship.state.ctrl.shielded()
    }

    /// The input that turns `ship` toward where its target will be when a bullet gets there,
    /// closes in on a far target, and fires when aligned and in range.
    fn steer(&self, id: PlayerId, ship: EntityId) -> Input {
        let (Some(p), Some(me)) = (self.players.get(id), self.entities.get(ship)) else { return Input::default() };
        let Some(mind) = p.pilot.as_ref() else { return Input::default() };
        let Some(target) = mind.target.and_then(|t| self.entities.get(t)) else { return Input::default() };
        let (body, other) = (me.state.body(), target.state.body());
        let nose = body.rot.normalize_or(Vec2::X);
        let to = other.pos - body.pos;
        let distance = to.length();
        // A bullet leaves with the ship's velocity plus the muzzle's: lead by the target's
        // motion relative to the ship over the bullet's flight.
        let aim = to + (other.vel - body.vel) * (distance / BULLET_SPEED);
        let want = aim.normalize_or(nose);
        let angle = nose.perp_dot(want).atan2(nose.dot(want));
        let turn = if angle.abs() < AIM_DEADBAND { 0 } else { angle.signum() as i8 };
        let thrust = !mind.danger
            && distance - target.kind.radius() > CLOSE_IN_DISTANCE
            && angle.abs() < FIRE_ANGLE * 4.0
            && body.vel.length() < CRUISE_SPEED;
        let fire = angle.abs() < FIRE_ANGLE
            && distance - target.kind.radius() < FIRE_RANGE
            && self.tick >= p.life_started + HOLD_FIRE
            && (target.kind != EntityKind::Ship || self.shootable(target));
        Input { seq: 0, tick: self.tick, thrust, turn, fire }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every AI name, second rounds included, is a valid player name and unique.
    #[test]
    fn ai_names_are_valid_and_unique() {
        let names: Vec<String> = AI_NAMES.iter().flat_map(|n| [n.to_string(), format!("{n} 99")]).collect();
        for n in &names {
            assert_eq!(shared::codec::validate_name(n).as_deref(), Ok(n.as_str()), "{n}");
        }
        assert_eq!(names.iter().collect::<HashSet<_>>().len(), names.len());
    }
}
