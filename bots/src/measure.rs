//! What a bot measures, and nothing else: the page's session decides what the messages mean;
//! this times and counts them as a player's connection would feel them. Snapshot gaps, time to
//! first snapshot and round trips are taken on the bot's clock when the message is read;
//! bytes include the WebSocket framing. Every bot measures those ([`Meter::snapshot`]); only a
//! bot with the page's full replica measures what needs one ([`Meter::predicted`]):
//! dead-reckoning error, which compares, for every entity a snapshot corrected, what the
//! replica predicted with what the server sent, and what the full state would have cost.

use shared::codec::{encoded_len, encoded_len_server, ws_frame_len};
use shared::protocol::{EntityEnter, EntityKind, ServerMsg, Snapshot};
use shared::replica::{Correction, Replica};
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::time::Instant;

/// Counters every bot adds to, for the live progress line.
#[derive(Debug, Default)]
pub struct Live {
    /// Bots connected right now.
    pub connected: AtomicU64,
    /// Snapshots received, all bots.
    pub snapshots: AtomicU64,
    /// Bytes received (WebSocket payload and header), all bots.
    pub bytes: AtomicU64,
    /// Bots that failed to connect or were dropped.
    pub errors: AtomicU64,
}

/// What one bot measured.
#[derive(Debug, Default)]
pub struct BotResult {
    /// The pilot's name (its identity on the server).
    pub name: String,
    /// The last score the server sent this pilot.
    pub score: shared::protocol::Score,
    /// Connected and welcomed.
    pub connected: bool,
    /// Kept the page's full replica, so measured dead-reckoning error and full-state bytes.
    pub full_replica: bool,
    /// Why connecting failed.
    pub failure: Option<String>,
    /// Why the connection ended early (the server closed it, or it broke).
    pub disconnect: Option<String>,
    /// Seconds between the first snapshot and the end.
    pub active_secs: f64,
    /// Snapshots received.
    pub snapshots: u64,
    /// Bytes received after the handshake, with WebSocket framing.
    pub bytes: u64,
    /// Of those, the leaderboard's (`World`, `TopOnline`, `TopAllTime`).
    pub leaderboard_bytes: u64,
    /// What the full state of the same view every snapshot would have cost, with framing
    /// (full replicas only).
    pub full_state_bytes: u64,
    /// Snapshot bytes by part, as [`SNAPSHOT_PARTS`] names them (full replicas only).
    pub snapshot_parts: [u64; SNAPSHOT_PARTS.len()],
    /// Entities in view, one sample per snapshot.
    pub entities_in_view: Vec<u32>,
    /// Round trips, milliseconds.
    pub rtt_ms: Vec<f64>,
    /// Gaps between consecutive snapshots, milliseconds.
    pub gaps_ms: Vec<f64>,
    /// Dead-reckoning samples that were exactly right (every known entity the server did not
    /// need to correct, at every snapshot; full replicas only).
    pub dr_exact: u64,
    /// Dead-reckoning errors of corrected entities whose input had not changed, world units
    /// (full replicas only).
    pub dr_errors: Vec<f64>,
    /// From starting to connect to the first snapshot, milliseconds.
    pub time_to_first_snapshot_ms: Option<f64>,
    /// From sending an input to the snapshot acknowledging it, milliseconds.
    pub ack_ms: Vec<f64>,
    /// Acknowledged inputs that reached the server after the tick they named.
    pub late_inputs: u64,
    /// The own ship's prediction against the server's state, at every snapshot that had both:
    /// how far off it was, world units (0: exact, bit for bit).
    pub own_errors: Vec<f64>,
    /// Edges crossed into another sector (a hand-over followed to its first snapshot).
    pub crossings: u64,
    /// From the hand-over's arrival to the first snapshot in the next sector, per crossing.
    pub crossing_latency_ms: Vec<f64>,
    /// The own ship's prediction against the first snapshot in the next sector, per crossing
    /// (0: exact).
    pub crossing_correction: Vec<f64>,
}

/// The parts a snapshot's bytes are told apart by: records of entities entering and changing,
/// by kind, the ids that left, and the rest (framing, tick, acknowledgement, list lengths).
pub const SNAPSHOT_PARTS: [&str; 8] = [
    "ships entering",
    "asteroids entering",
    "bullets entering",
    "ships changed",
    "asteroids changed",
    "bullets changed",
    "left",
    "framing, tick, ack",
];

/// Which of [`SNAPSHOT_PARTS`] a record of an entity of `kind` falls in (`changed`: a
/// correction rather than an entry).
fn part(kind: EntityKind, changed: bool) -> usize {
    let k = match kind {
        EntityKind::Ship => 0,
        EntityKind::Bullet => 2,
        _ => 1,
    };
    k + if changed { 3 } else { 0 }
}

/// One bot's measurements as they accumulate.
#[derive(Debug)]
pub struct Meter {
    /// When the bot started to connect.
    started: Instant,
    /// When the last hand-over came, until the first snapshot of the next sector.
    handed_over: Option<Instant>,
    first_snapshot: Option<Instant>,
    last_snapshot: Option<Instant>,
    result: BotResult,
}

/// Entities the replica carries through `snapshot` on prediction alone: every known one that
/// is not leaving. Call before the snapshot is applied.
pub fn carried(replica: &Replica, snapshot: &Snapshot) -> u64 {
    replica.entities().keys().filter(|id| !snapshot.left.contains(id)).count() as u64
}

impl Meter {
    /// A meter for a bot that started to connect at `started`.
    pub fn new(started: Instant) -> Meter {
        Meter { started, handed_over: None, first_snapshot: None, last_snapshot: None, result: BotResult::default() }
    }

    /// Milliseconds since the bot started: the clock the bot's session runs on.
    pub fn ms_since_start(&self, now: Instant) -> f64 {
        (now - self.started).as_secs_f64() * 1000.0
    }

    /// Whether a snapshot has arrived.
    pub fn seen_snapshot(&self) -> bool {
        self.first_snapshot.is_some()
    }

    /// The handshake succeeded.
    pub fn connected(&mut self) {
        self.result.connected = true;
    }

    /// A server message of `payload_len` bytes was read.
    pub fn received(&mut self, payload_len: usize, live: &Live) {
        let len = ws_frame_len(payload_len);
        self.result.bytes += len;
        live.bytes.fetch_add(len, Ordering::Relaxed);
    }

    /// The last message read (already counted by [`Meter::received`]) was part of the
    /// leaderboard.
    pub fn leaderboard(&mut self, payload_len: usize) {
        self.result.leaderboard_bytes += ws_frame_len(payload_len);
    }

    /// A ping was answered after `rtt_ms`.
    pub fn round_trip(&mut self, rtt_ms: f64) {
        self.result.rtt_ms.push(rtt_ms);
    }

    /// A snapshot read at `now` was applied, leaving `in_view` entities in view.
    pub fn snapshot(&mut self, now: Instant, in_view: usize, live: &Live) {
        if let Some(last) = self.last_snapshot {
            self.result.gaps_ms.push((now - last).as_secs_f64() * 1000.0);
        }
        self.last_snapshot = Some(now);
        if self.first_snapshot.is_none() {
            self.first_snapshot = Some(now);
            self.result.time_to_first_snapshot_ms = Some(self.ms_since_start(now));
        }
        self.result.snapshots += 1;
        live.snapshots.fetch_add(1, Ordering::Relaxed);
        self.result.entities_in_view.push(in_view as u32);
    }

    /// What only a full replica measures, for the snapshot just applied: `carried` entities
    /// were predicted through it (see [`carried`]), the server corrected `corrections`, and
    /// `replica` is the result.
    pub fn predicted(&mut self, snapshot: &Snapshot, carried: u64, corrections: &[Correction], replica: &Replica) {
        for c in corrections {
            // Only entities whose input did not change: a new input is not a prediction error.
            if c.predicted.ctrl == c.actual.ctrl {
                self.result.dr_errors.push((c.predicted.position() - c.actual.position()).length() as f64);
            }
        }
        self.result.dr_exact += carried.saturating_sub(corrections.len() as u64);
        let mut parts = [0u64; SNAPSHOT_PARTS.len()];
        for e in &snapshot.entered {
            parts[part(e.kind, false)] += encoded_len(e) as u64;
        }
        for c in &snapshot.changed {
            let kind = replica.get(c.id).map_or(EntityKind::AsteroidLarge, |k| k.kind);
            parts[part(kind, true)] += encoded_len(c) as u64;
        }
        parts[6] = snapshot.left.iter().map(|id| encoded_len(id) as u64).sum();
        let whole = ws_frame_len(encoded_len_server(&ServerMsg::Snapshot(snapshot.clone())));
        parts[7] = whole.saturating_sub(parts.iter().sum());
        for (total, p) in self.result.snapshot_parts.iter_mut().zip(parts) {
            *total += p;
        }
        // What a server without diffs would have sent for the same view.
        let full = Snapshot {
            tick: snapshot.tick,
            ack: snapshot.ack,
            entered: replica
                .entities()
                .iter()
                .map(|(&id, k)| EntityEnter {
                    id,
                    kind: k.kind,
                    state: k.state,
                    appearing: shared::replica::appearing(k.appears_until, snapshot.tick),
                })
                .collect(),
            changed: Vec::new(),
            left: Vec::new(),
        };
        self.result.full_state_bytes += ws_frame_len(encoded_len_server(&ServerMsg::Snapshot(full)));
    }

    /// What a snapshot told the own ship's prediction (every bot: the page's session predicts
    /// the own ship whatever the bot keeps of the rest).
    pub fn reconciled(&mut self, own: &asteroids_client::predict::Reconciled) {
        if let Some((ms, margin)) = own.acked {
            self.result.ack_ms.push(ms);
            self.result.late_inputs += u64::from(margin < 0);
        }
        if let Some((distance, exact)) = own.correction {
            self.result.own_errors.push(if exact { 0.0 } else { distance.max(f32::MIN_POSITIVE) as f64 });
        }
    }

    /// The server handed the ship over to a neighbouring sector at `now`.
    pub fn handed_over(&mut self, now: Instant) {
        self.handed_over = Some(now);
    }

    /// The first snapshot in the next sector came at `now`, with what it told the prediction:
    /// the crossing's latency and correction.
    pub fn arrived(&mut self, now: Instant, own: &asteroids_client::predict::Reconciled) {
        if let (Some(at), Some((distance, exact))) = (self.handed_over, own.correction) {
            self.handed_over = None;
            self.result.crossings += 1;
            self.result.crossing_latency_ms.push((now - at).as_secs_f64() * 1000.0);
            self.result.crossing_correction.push(if exact { 0.0 } else { distance.max(f32::MIN_POSITIVE) as f64 });
        }
    }

    /// Whether a hand-over waits for its first snapshot in the next sector.
    pub fn crossing(&self) -> bool {
        self.handed_over.is_some()
    }

    /// The connection ended at `now` (`disconnect`: why, if before the deadline).
    pub fn finish(mut self, now: Instant, disconnect: Option<String>) -> BotResult {
        self.result.disconnect = disconnect;
        self.result.active_secs = self.first_snapshot.map_or(0.0, |t| (now - t).as_secs_f64());
        self.result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::kinematics::Kinematics;
    use shared::protocol::{EntityKind, EntityUpdate};
    use shared::quant::{Body, Ctrl, QState};
    use std::time::Duration;

    fn state(x: f32, ctrl: u8) -> QState {
        let body = Body { pos: glam::Vec2::new(x, 0.0), vel: glam::Vec2::ZERO, rot: glam::Vec2::X, angvel: 0.0 };
        QState::from_body(&body, Ctrl(ctrl))
    }

    /// Entities carried without correction are exact samples; a correction with unchanged
    /// controls is an error sample of its distance, one after an input change is no sample;
    /// gaps, first-snapshot time and full-state bytes follow the snapshots.
    #[test]
    fn snapshots_make_honest_samples() {
        let kin = Kinematics::new([5000.0, 5000.0]);
        let live = Live::default();
        let t0 = Instant::now();
        let mut meter = Meter::new(t0);
        let mut replica = Replica::new();
        let first = Snapshot {
            tick: 10,
            entered: (1..=4)
                .map(|id| EntityEnter { id, kind: EntityKind::AsteroidSmall, state: state(0.0, 0), appearing: 0 })
                .collect(),
            ..Default::default()
        };
        let carried_first = carried(&replica, &first);
        replica.apply(&first, &kin).unwrap();
        meter.snapshot(t0 + Duration::from_millis(120), replica.entities().len(), &live);
        meter.predicted(&first, carried_first, &[], &replica);
        let second = Snapshot {
            tick: 13,
            changed: vec![EntityUpdate { id: 1, state: state(2.5, 0) }, EntityUpdate { id: 2, state: state(0.0, 1) }],
            left: vec![4],
            ..Default::default()
        };
        let carried_second = carried(&replica, &second);
        let mut corrections = Vec::new();
        replica.apply_observed(&second, &kin, |c| corrections.push(*c)).unwrap();
        meter.snapshot(t0 + Duration::from_millis(170), replica.entities().len(), &live);
        meter.predicted(&second, carried_second, &corrections, &replica);
        meter.received(200, &live);
        let r = meter.finish(t0 + Duration::from_millis(1_170), None);
        assert_eq!(carried_second, 3, "entity 4 left, so it was not predicted through");
        assert_eq!(r.dr_exact, 1, "entity 3 only");
        assert_eq!(r.dr_errors, vec![2.5], "entity 2's new controls are not a prediction error");
        assert_eq!((r.snapshots, r.gaps_ms.len(), r.entities_in_view.clone()), (2, 1, vec![4, 3]));
        assert!((r.gaps_ms[0] - 50.0).abs() < 1e-6 && r.time_to_first_snapshot_ms == Some(120.0));
        assert!((r.active_secs - 1.05).abs() < 1e-9);
        // The parts add up to the snapshots' bytes on the wire, and each lands in its own.
        let wire: u64 =
            [first, second].into_iter().map(|s| ws_frame_len(encoded_len_server(&ServerMsg::Snapshot(s)))).sum();
        assert_eq!(r.snapshot_parts.iter().sum::<u64>(), wire);
        let entered =
            encoded_len(&EntityEnter { id: 1, kind: EntityKind::AsteroidSmall, state: state(0.0, 0), appearing: 0 });
        assert_eq!(r.snapshot_parts[1], 4 * entered as u64, "four asteroids entered");
        assert!(r.snapshot_parts[4] > 0 && r.snapshot_parts[6] == 1, "two asteroids changed, one id left");
        assert_eq!(r.snapshot_parts[0] + r.snapshot_parts[2] + r.snapshot_parts[3] + r.snapshot_parts[5], 0);
        assert_eq!(r.bytes, 204, "payload and a 4-byte frame header");
        assert!(r.full_state_bytes > 2 * 3 * 10, "two full states of 4 and 3 entities");
        assert_eq!(live.snapshots.load(Ordering::Relaxed), 2);
    }
}

/// CPU time this process has used so far (user + system, every thread), seconds; `None` where
/// `/proc/self/stat` cannot be read (not Linux).
pub fn process_cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    cpu_secs_from_stat(&stat)
}

/// `utime + stime` from a `/proc/<pid>/stat` line, in seconds. The fields are counted from
/// after the command name (which may hold spaces, so it is skipped up to its closing
/// parenthesis); they are in clock ticks of `USER_HZ`, which Linux fixes at 100.
fn cpu_secs_from_stat(stat: &str) -> Option<f64> {
    const USER_HZ: f64 = 100.0;
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11); // state is field 3; utime is field 14
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / USER_HZ)
}

#[cfg(test)]
mod cpu_tests {
    use super::*;

    /// utime and stime are fields 14 and 15, counted past a command name with spaces in it.
    #[test]
    fn reads_cpu_time_from_a_stat_line() {
        let line = "4242 (asteroids bots) S 1 4242 4242 0 -1 4194304 100 0 0 0 250 50 0 0 20 0 3 0";
        assert_eq!(cpu_secs_from_stat(line), Some(3.0));
        assert!(process_cpu_secs().is_some_and(|s| s >= 0.0), "this process's own figure");
    }
}
