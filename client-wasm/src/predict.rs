//! The own ship, predicted: the pilot's inputs take effect on the next animation frame,
//! whatever the round trip.
//!
//! Every input names the tick it is for ([`crate::clock::Clock::stamp`]), and the server applies
//! it at exactly that tick when it comes in time. So the client can compute what the server
//! will compute: from the own ship's last authoritative state (the *base*, at a snapshot's
//! tick), each following tick is one `shared::kinematics` step with the controls of the newest
//! input due by then, the acknowledged one ([`shared::protocol::InputAck`]) first, then every
//! input sent since. When a snapshot comes, the state the prediction had for its tick is
//! compared with the server's (an *own-ship correction*: zero, bit for bit, unless something
//! touched the ship or an input came late), and the prediction starts again from it: the
//! inputs the server has acknowledged are forgotten, the others replayed.
//!
//! Shots are predicted the same way: a held trigger fires when the gun has cooled down
//! ([`FIRE_COOLDOWN`]), from the predicted ship, by the server's own rule ([`Helm`]) and
//! formula ([`Kinematics::shot`]). When the snapshot for a shot's tick comes, the shot is matched to
//! the bullet the server spawned (the nearest new bullet within [`SHOT_MATCH_DISTANCE`]),
//! which from then on is drawn on the ship's timeline; a shot the server did not fire (or whose
//! bullet struck something before it could be seen) is dropped without a trace.

use shared::constants::FIRE_COOLDOWN;
use shared::helm::Helm;
use shared::kinematics::Kinematics;
use shared::protocol::{EntityId, EntityKind, Input, Snapshot, Tick};
use shared::quant::{Ctrl, QState};
use shared::time::{TickExt, Ticks};
use std::collections::{HashSet, VecDeque};

/// Furthest the prediction runs ahead of its base: past that the link is down, and the ship
/// waits where it is instead of costing more each frame.
pub const MAX_PREDICTION: Ticks = Ticks::from_secs(2);
/// A predicted shot is matched to a new server bullet at most this far from where the shot
/// should be, world units: exact when the input came in time; an input that came k ticks late
/// puts the bullet k ticks of flight (9 units each, plus the ship's motion) behind, so this
/// allows for about ten.
pub const SHOT_MATCH_DISTANCE: f32 = 100.0;
/// Inputs kept while unacknowledged: more means the server is not acknowledging at all (it
/// applies at most one input per tick and acknowledges in every snapshot), and the oldest are
/// dropped from the replay.
pub const MAX_UNACKED_INPUTS: usize = 256;

/// An input sent and not yet acknowledged.
#[derive(Clone, Copy, Debug)]
struct Sent {
    input: Input,
    sent_ms: f64,
    /// The clock's lead when it was stamped: what a late acknowledgement's margin is measured
    /// against.
    lead: f64,
}

/// A predicted shot waiting for its server bullet.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shot {
    /// The tick the shot is fired at.
    pub tick: Tick,
    /// The bullet's state at that tick.
    pub state: QState,
}

/// What a snapshot told the prediction.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Reconciled {
    /// How far the prediction was from the server's own ship at the snapshot's tick, world
    /// units, and whether the states were equal bit for bit (motion, not the shield bit).
    pub correction: Option<(f32, bool)>,
    /// A newly acknowledged input: milliseconds from sending it to this snapshot, and the
    /// margin the server reported.
    pub acked: Option<(f64, i16)>,
    /// The lead the acknowledged input was stamped with.
    pub acked_lead: Option<f64>,
    /// Predicted shots matched to a server bullet.
    pub shots_matched: u32,
    /// Predicted shots the server did not fire (or whose bullet was gone before it was seen).
    pub shots_dropped: u32,
}

/// The own ship's prediction.
#[derive(Clone, Debug, Default)]
pub struct Prediction {
    kin: Option<Kinematics>,
    ship: Option<EntityId>,
    /// The ship's authoritative state and its tick.
    base: Option<(Tick, QState)>,
    /// The input in effect at the base's tick (the last acknowledged).
    in_effect: Input,
    unacked: VecDeque<Sent>,
    /// `states[i]` is the prediction at `base + i` (`states[0]` the base itself).
    states: Vec<QState>,
    /// Shots of the cached states, by tick.
    shots: Vec<Shot>,
    /// The last shot at or before the base (the gun's cooldown counts from it).
    last_shot: Option<Tick>,
    /// Matched server bullets: drawn on the ship's timeline.
    own_bullets: HashSet<EntityId>,
    /// The newest input dropped from `unacked` for want of room ([`MAX_UNACKED_INPUTS`]): if
    /// the server acknowledges it, it is the one in effect.
    evicted: Option<Input>,
    /// The ship the server said was destroyed, until it leaves the view: not drawn (drawn at
    /// the server's present instead of its predicted tick, it would jump back by the lead).
    destroyed: Option<EntityId>,
}

impl Prediction {
    /// Forgets everything of the connection (a new one starts from nothing).
    pub fn reset(&mut self, kin: Kinematics, ship: EntityId) {
        *self = Prediction { kin: Some(kin), ship: Some(ship), ..Prediction::default() };
    }

    /// The ship arrived from a neighbouring sector: its state at the end of `tick`, with the
    /// controls its state carries in effect (the server steps it from there, see
    /// `shared::protocol::Welcome::arrival`), so the prediction runs from the first frame and
    /// the first snapshot is exact.
    pub fn arrive(&mut self, tick: Tick, state: QState) {
        self.base = Some((tick, state));
        self.in_effect = Input { thrust: state.ctrl.thrust(), turn: state.ctrl.turn(), ..Input::default() };
        self.states.clear();
        self.shots.clear();
    }

    /// The player has a new ship (or none): its prediction starts at its first snapshot.
    pub fn set_ship(&mut self, ship: Option<EntityId>) {
        if ship != self.ship {
            self.destroyed = if ship.is_none() { self.ship } else { None };
            self.ship = ship;
            self.base = None;
            self.states.clear();
            self.shots.clear();
        }
    }

    /// An input went out at `now_ms`, naming its tick, stamped with a lead of `lead` ticks.
    pub fn sent(&mut self, input: Input, now_ms: f64, lead: f64) {
        if self.unacked.len() == MAX_UNACKED_INPUTS {
            self.evicted = self.unacked.pop_front().map(|s| s.input);
        }
        self.unacked.push_back(Sent { input, sent_ms: now_ms, lead });
        // The cached ticks from the input's on were predicted without it.
        if let Some((base, _)) = self.base {
            let keep = input.tick.saturating_sub(base).max(1) as usize;
            self.states.truncate(keep);
            self.shots.retain(|s| s.tick < base + keep as Tick);
        }
    }

    /// The snapshot `snap` came, with the own ship's state at its tick (`None`: not in view,
    /// or destroyed). Measures the prediction against it, matches the shots it fired, and
    /// starts again from it.
    pub fn on_snapshot(&mut self, snap: &Snapshot, own: Option<QState>, now_ms: f64) -> Reconciled {
        let mut out = Reconciled::default();
        if let (Some((base, _)), Some(actual)) = (self.base, own) {
            if snap.tick > base && snap.tick.since(base) <= MAX_PREDICTION {
                // The prediction for this tick, with what was known before the snapshot: every
                // input sent, each at the tick it named.
                self.extend_to(snap.tick);
                let Some(&predicted) = self.states.get((snap.tick - base) as usize) else { return out };
                let distance = predicted.position().distance(actual.position());
                let exact = (predicted.pos, predicted.vel, predicted.rot, predicted.angvel)
                    == (actual.pos, actual.vel, actual.rot, actual.angvel);
                out.correction = Some((distance, exact));
                let due: Vec<Shot> = self.shots.iter().copied().filter(|s| s.tick <= snap.tick).collect();
                self.match_shots(&due, snap, &mut out);
            }
        }
        // The snapshot's state contains the acknowledged input and those before it: only the
        // later ones are replayed from now on.
        if let Some(ack) = snap.ack {
            let newly = self.unacked.iter().position(|s| s.input.seq == ack.seq);
            if let Some(i) = newly {
                let sent = self.unacked[i];
                out.acked = Some((now_ms - sent.sent_ms, ack.margin));
                out.acked_lead = Some(sent.lead);
                self.in_effect = sent.input;
                self.unacked.drain(..=i);
            } else {
                // Older than anything kept (or a new connection's 0), or one dropped for room
                // (unacknowledged inputs follow it without a gap: it is the acknowledged one).
                if let Some(e) = self.evicted.filter(|e| e.seq == ack.seq) {
                    self.in_effect = e;
                }
                self.unacked.retain(|s| s.input.seq > ack.seq);
            }
        }
        for id in &snap.left {
            self.own_bullets.remove(id);
            if self.destroyed == Some(*id) {
                self.destroyed = None;
            }
        }
        self.base = own.map(|s| (snap.tick, s));
        self.states.clear();
        self.shots.clear();
        out
    }

    fn match_shots(&mut self, due: &[Shot], snap: &Snapshot, out: &mut Reconciled) {
        let Some(kin) = self.kin else { return };
        let mut taken = HashSet::new();
        for shot in due {
            let there = kin.advance(&shot.state, EntityKind::Bullet, snap.tick - shot.tick);
            let (there, velocity) = (there.position(), there.body().vel);
            let nearest = snap
                .entered
                .iter()
                .filter(|e| e.kind == EntityKind::Bullet && !taken.contains(&e.id))
                .map(|e| (e.id, e.state.position().distance(there)))
                .min_by(|a, b| a.1.total_cmp(&b.1));
            match nearest {
                Some((id, d)) if d <= SHOT_MATCH_DISTANCE => {
                    taken.insert(id);
                    self.own_bullets.insert(id);
                    out.shots_matched += 1;
                    // The gun's cooldown counts from when the server fired: the shot's tick, or
                    // as many ticks later as its bullet is behind the predicted one (an input
                    // that came late), so the next shots are predicted at the server's ticks.
                    let actual = snap.entered.iter().find(|e| e.id == id).map_or(there, |e| e.state.position());
                    let per_tick = velocity.length() * kin.dt;
                    let behind = if per_tick > 0.0 {
                        (there - actual).dot(velocity.normalize_or_zero()) / per_tick
                    } else {
                        0.0
                    };
                    let fired = shot.tick.saturating_add_signed(behind.round() as i32);
                    self.last_shot = Some(self.last_shot.map_or(fired, |t| t.max(fired)));
                }
                // The server did not fire it (or its bullet struck something before it could be
                // seen): the cooldown keeps counting from the last shot it did fire.
                _ => out.shots_dropped += 1,
            }
        }
    }

    /// The controls and trigger in effect at tick `t` (after the base).
    fn input_at(&self, t: Tick, base: Tick) -> Input {
        let mut input = self.in_effect;
        for s in &self.unacked {
            // An input named for a tick the base already passed was not applied by then: it
            // applies at the next tick at the earliest.
            if s.input.tick.max(base + 1) <= t {
                input = s.input;
            }
        }
        input
    }

    /// Predicts up to tick `to` (no further than [`MAX_PREDICTION`] past the base).
    pub fn extend_to(&mut self, to: Tick) {
        let (Some(kin), Some((base, base_state))) = (self.kin, self.base) else { return };
        let to = to.min(base + MAX_PREDICTION);
        if self.states.is_empty() {
            self.states.push(base_state);
        }
        // The server's helm rule, from what the page knows: the gun cools down from the last
        // shot; the shield's end is not on the wire, so a shield the base had holds until the
        // first predicted shot (the server's word on its time comes with the next snapshot).
        let last_shot = self.shots.last().map(|s| s.tick).or(self.last_shot);
        let mut helm = Helm {
            next_fire: last_shot.map_or(0, |l| l + FIRE_COOLDOWN),
            shield_until: if base_state.ctrl.shielded() && self.shots.is_empty() { Tick::MAX } else { 0 },
        };
        while base + (self.states.len() as Tick) <= to {
            let t = base + self.states.len() as Tick;
            let prev = *self.states.last().expect("the base is always there");
            let input = self.input_at(t, base);
            let steered = helm.steer(&kin, t, &input, &prev.body());
            if let Some(shot) = steered.shot {
                let bullet = QState::from_body(&shot, Ctrl(0));
                self.shots.push(Shot { tick: t, state: kin.tick(&bullet, EntityKind::Bullet) });
            }
            let next = kin.tick(&QState { ctrl: steered.ctrl, ..prev }, EntityKind::Ship);
            self.states.push(next);
        }
    }

    /// The predicted state at `tick`, if [`Prediction::extend_to`] reached it.
    pub fn state(&self, tick: Tick) -> Option<QState> {
        let (base, _) = self.base?;
        self.states.get(tick.checked_sub(base)? as usize).copied()
    }

    /// The predicted shots fired by `tick` that have no server bullet yet, at `tick`, in the
    /// order they were fired.
    pub fn shots_at(&self, tick: Tick) -> impl Iterator<Item = QState> + '_ {
        let kin = self.kin;
        self.shots
            .iter()
            .filter(move |s| s.tick <= tick)
            .filter_map(move |s| kin.map(|k| k.advance(&s.state, EntityKind::Bullet, tick - s.tick)))
    }

    /// Whether `id` is the own ship the server destroyed, still in view until the next
    /// snapshot (not drawn).
    pub fn is_destroyed(&self, id: EntityId) -> bool {
        self.destroyed == Some(id)
    }

    /// Whether `id` is a bullet of the own ship (drawn on the ship's timeline).
    pub fn is_own_bullet(&self, id: EntityId) -> bool {
        self.own_bullets.contains(&id)
    }

    /// The ship being predicted.
    pub fn ship(&self) -> Option<EntityId> {
        self.ship
    }

    /// The base's tick.
    pub fn base_tick(&self) -> Option<Tick> {
        self.base.map(|(t, _)| t)
    }

    /// Inputs sent and not yet acknowledged.
    pub fn unacked(&self) -> usize {
        self.unacked.len()
    }

    /// When the newest input still unacknowledged went out, if any.
    pub fn newest_unacked_ms(&self) -> Option<f64> {
        self.unacked.back().map(|s| s.sent_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::protocol::{EntityEnter, InputAck};
    use shared::quant::Body;

    fn kin() -> Kinematics {
        Kinematics::new([5000.0, 5000.0])
    }

    fn at_rest() -> QState {
        QState::from_body(
            &Body { pos: glam::Vec2::ZERO, vel: glam::Vec2::ZERO, rot: glam::Vec2::X, angvel: 0.0 },
            Ctrl(0),
        )
    }

    fn input(seq: u32, tick: Tick, thrust: bool, turn: i8, fire: bool) -> Input {
        Input { seq, tick, thrust, turn, fire }
    }

    /// The server's rule, step by step: each tick, the newest input due by then drives the
    /// ship (what `server/src/sim/inbound.rs` and `intents.rs` do), with fire and shots.
    fn server(kin: &Kinematics, start: QState, from: Tick, to: Tick, inputs: &[Input]) -> (QState, Vec<Shot>) {
        let (mut s, mut current, mut next_fire, mut shots) = (start, Input::default(), 0, Vec::new());
        for t in from + 1..=to {
            if let Some(i) = inputs.iter().rev().find(|i| i.tick <= t) {
                current = *i;
            }
            if current.fire && t >= next_fire {
                next_fire = t + FIRE_COOLDOWN;
                let b = QState::from_body(&kin.shot(&s.body()), Ctrl(0));
                shots.push(Shot { tick: t, state: kin.tick(&b, EntityKind::Bullet) });
            }
            s = kin.tick(&QState { ctrl: Ctrl::from_intent(current.thrust, current.turn), ..s }, EntityKind::Ship);
        }
        (s, shots)
    }

    /// Inputs applied at their ticks: the prediction equals the server's state bit for bit at
    /// every snapshot, so reconciling costs nothing; acknowledged inputs are forgotten.
    #[test]
    fn on_time_inputs_predict_the_server_exactly() {
        let kin = kin();
        let mut p = Prediction::default();
        p.reset(kin, 7);
        let snap = |tick, seq, entered| Snapshot {
            tick,
            ack: Some(InputAck { seq, tick, margin: 2 }),
            entered,
            ..Snapshot::default()
        };
        p.on_snapshot(&snap(100, 0, vec![]), Some(at_rest()), 0.0);
        let inputs = [
            input(1, 103, true, 0, false),
            input(2, 110, true, 1, true),
            input(3, 118, false, -1, true),
            input(4, 131, false, 0, false),
        ];
        for (i, inp) in inputs.iter().enumerate() {
            p.sent(*inp, i as f64, 5.0);
        }
        p.extend_to(140);
        let (truth, shots) = server(&kin, at_rest(), 100, 140, &inputs);
        assert_eq!(p.state(140), Some(truth));
        assert_eq!(p.shots, shots, "shots fired at the server's ticks, from the server's formula");
        // The server's snapshot at 120 acknowledges input 3 (applied at 118).
        let (at120, shots120) = server(&kin, at_rest(), 100, 120, &inputs);
        let entered = shots120
            .iter()
            .enumerate()
            .map(|(i, s)| EntityEnter {
                id: 50 + i as u64,
                kind: EntityKind::Bullet,
                state: kin.advance(&s.state, EntityKind::Bullet, 120 - s.tick),
                appearing: 0,
            })
            .collect();
        let r = p.on_snapshot(&snap(120, 3, entered), Some(at120), 30.0);
        assert_eq!(r.correction, Some((0.0, true)));
        assert_eq!((r.shots_matched, r.shots_dropped), (shots120.len() as u32, 0));
        assert!(p.is_own_bullet(50) && p.unacked() == 1);
        assert_eq!(r.acked, Some((28.0, 2)));
        p.extend_to(140);
        assert_eq!(p.state(140), Some(truth), "replayed from the new base, the same future");
    }

    /// A snapshot that acknowledges an input the prediction had not yet reached (no frame
    /// drew it: a bot predicts only at snapshots) is measured against the prediction made
    /// with every input at its own tick, not with the acknowledged one from the base on.
    #[test]
    fn an_input_acknowledged_before_it_was_predicted_is_measured_exactly() {
        let kin = kin();
        let mut p = Prediction::default();
        p.reset(kin, 7);
        let first = input(1, 98, true, 1, false);
        p.sent(first, 0.0, 5.0);
        let (at100, _) = server(&kin, at_rest(), 90, 100, &[first]);
        let ack = |seq, tick| Some(InputAck { seq, tick, margin: 3 });
        p.on_snapshot(&Snapshot { tick: 100, ack: ack(1, 98), ..Snapshot::default() }, Some(at100), 10.0);
        let second = input(2, 102, false, -1, false);
        p.sent(second, 20.0, 5.0);
        let (at103, _) = server(&kin, at100, 100, 103, &[first, second]);
        let r = p.on_snapshot(&Snapshot { tick: 103, ack: ack(2, 102), ..Snapshot::default() }, Some(at103), 30.0);
        assert_eq!(r.correction, Some((0.0, true)));
    }

    /// A trigger the server took in five ticks late: its first bullet is matched (five ticks
    /// behind the predicted shot), and the next shots are predicted at the server's ticks, not
    /// the client's.
    #[test]
    fn the_gun_cooldown_follows_the_server_after_a_late_trigger() {
        let kin = kin();
        let mut p = Prediction::default();
        p.reset(kin, 7);
        p.on_snapshot(&Snapshot { tick: 100, ..Snapshot::default() }, Some(at_rest()), 0.0);
        let fire = input(1, 102, false, 0, true);
        p.sent(fire, 0.0, 5.0);
        let late = Input { tick: 107, ..fire };
        let (at110, shots) = server(&kin, at_rest(), 100, 110, &[late]);
        assert_eq!(shots.iter().map(|s| s.tick).collect::<Vec<_>>(), vec![107]);
        let bullet = kin.advance(&shots[0].state, EntityKind::Bullet, 3);
        let snap = Snapshot {
            tick: 110,
            ack: Some(InputAck { seq: 1, tick: 107, margin: -5 }),
            entered: vec![EntityEnter { id: 60, kind: EntityKind::Bullet, state: bullet, appearing: 0 }],
            ..Snapshot::default()
        };
        let r = p.on_snapshot(&snap, Some(at110), 60.0);
        assert_eq!((r.shots_matched, r.shots_dropped), (1, 0));
        p.extend_to(140);
        let (_, server_shots) = server(&kin, at_rest(), 100, 140, &[late]);
        let predicted: Vec<Tick> = p.shots.iter().map(|s| s.tick).collect();
        let fired: Vec<Tick> = server_shots.iter().map(|s| s.tick).filter(|&t| t > 110).collect();
        assert_eq!(predicted, fired, "the next shots at the server's ticks");
    }

    /// An input the server applied late shows as a correction; a shot it never fired is
    /// dropped.
    #[test]
    fn a_late_input_is_a_correction_and_an_unfired_shot_is_dropped() {
        let kin = kin();
        let mut p = Prediction::default();
        p.reset(kin, 7);
        let snap0 = Snapshot { tick: 100, ..Snapshot::default() };
        p.on_snapshot(&snap0, Some(at_rest()), 0.0);
        let thrust = input(1, 102, true, 0, true);
        p.sent(thrust, 0.0, 5.0);
        // The server got it at 105.
        let (truth, _) = server(&kin, at_rest(), 100, 110, &[Input { tick: 105, ..thrust }]);
        let snap = Snapshot { tick: 110, ack: Some(InputAck { seq: 1, tick: 105, margin: -3 }), ..Snapshot::default() };
        let r = p.on_snapshot(&snap, Some(truth), 60.0);
        let (d, exact) = r.correction.unwrap();
        assert!(!exact && d > 0.0, "{d}");
        assert_eq!((r.shots_matched, r.shots_dropped), (0, 1));
        assert_eq!(r.acked, Some((60.0, -3)));
    }
}
