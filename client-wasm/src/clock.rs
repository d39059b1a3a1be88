//! The client's two clocks on the server's tick timeline.
//!
//! - **The server's present**, where everything the client does not control is drawn: the tick
//!   of the freshest snapshot one could have now (the *arrival clock*), plus half the round
//!   trip (the snapshot's way down). The arrival clock follows the *least* delayed snapshot of
//!   the last [`ARRIVAL_WINDOW_MS`]: a late one (jitter, a stall) says only that the link was
//!   slow, not that the server's clock moved, so it moves nothing until the window holds
//!   nothing faster (the delay really grew).
//! - **The own ship's tick**, the present plus the way up plus a margin: the tick an input
//!   sent now should name so that it reaches the simulation just before that tick. It runs
//!   [`Clock::lead`] ticks ahead of the arrival clock. The lead starts at the round trip (the
//!   quickest ping of [`RTT_WINDOW_MS`]: a stall delays pongs, not inputs) plus
//!   [`TARGET_MARGIN_TICKS`], and the server's acknowledgements then say how early
//!   each input really came ([`shared::protocol::InputAck::margin`]): one that came with
//!   less than [`MIN_MARGIN_TICKS`] to spare raises the lead at once by the shortfall; a
//!   lead that left more than the target to spare all through [`MARGIN_WINDOW_MS`] comes down
//!   by half the excess.
//!
//! Neither clock ever jumps for the player: each moves towards its target at most
//! [`SLEW`] ticks per tick (the picture runs a few percent fast or slow for a moment), except
//! when it is more than [`RESYNC_TICKS`] off (a new connection, a server that restarted).

use shared::constants::MAX_INPUT_LEAD;
use shared::protocol::Tick;
use std::collections::VecDeque;

/// The window over which the least delayed snapshot sets the arrival clock, milliseconds: four
/// times the longest stall the picture rides through, so a stall moves nothing, while a link
/// that really became slower is followed two seconds later.
pub const ARRIVAL_WINDOW_MS: f64 = 2000.0;
/// The most a clock moves towards its target per tick of real time (5 %): corrections of the
/// clocks are seen as motion a little faster or slower, never as a jump.
pub const SLEW: f64 = 0.05;
/// A clock this far (ticks) from its target jumps to it: the estimate was wrong, not a little
/// off, and slewing would take seconds.
pub const RESYNC_TICKS: f64 = 30.0;
/// The margin (ticks) an input should reach the server with, ahead of the tick it names: a
/// tick and a half of jitter allowance over the measured round trip.
pub const TARGET_MARGIN_TICKS: f64 = 2.0;
/// An acknowledged input that reached the server with less than this to spare (ticks) raises
/// the lead at once.
pub const MIN_MARGIN_TICKS: f64 = 1.0;
/// The window over which the margins are watched before the lead is lowered, milliseconds.
pub const MARGIN_WINDOW_MS: f64 = 5000.0;
/// A window whose least margin was more than this above the target (ticks) lowers the lead by
/// half the excess: a lead that started long (a first ping that caught the jitter's peak) is
/// within half a tick of what the link needs after a few windows, and jitter that stays within
/// the window's least margin never makes an input late.
pub const LEAD_SLACK_TICKS: f64 = 0.5;
/// The longest lead (ticks): short of the server's bound on how far ahead an input may name
/// its tick, beyond which it would be applied early.
pub const MAX_LEAD_TICKS: f64 = MAX_INPUT_LEAD.get() as f64 - 1.0;
/// The window over which the quickest ping sets the round trip, milliseconds (five pings).
pub const RTT_WINDOW_MS: f64 = 10_000.0;
/// The round trip assumed until the first ping is answered, milliseconds.
pub const ASSUMED_RTT_MS: f64 = 100.0;

/// A value that follows a target at a bounded rate.
#[derive(Clone, Copy, Debug, Default)]
struct Slewed {
    value: f64,
    target: f64,
}

impl Slewed {
    fn at(v: f64) -> Slewed {
        Slewed { value: v, target: v }
    }

    /// Moves towards the target over `ticks` of real time.
    fn advance(&mut self, ticks: f64) {
        let gap = self.target - self.value;
        if gap.abs() > RESYNC_TICKS {
            self.value = self.target;
        } else {
            let step = SLEW * ticks.max(0.0);
            self.value += gap.clamp(-step, step);
        }
    }
}

/// Both clocks, fed with what the connection measures.
#[derive(Clone, Debug)]
pub struct Clock {
    ticks_per_ms: f64,
    /// Page time of the last [`Clock::advance`], milliseconds.
    now_ms: Option<f64>,
    /// The arrival clock as an offset: tick = offset + now·rate.
    arrival: Option<Slewed>,
    /// Offsets measured within [`ARRIVAL_WINDOW_MS`]: (page time, offset), oldest first.
    arrivals: VecDeque<(f64, f64)>,
    /// Half the round trip, ticks.
    half_rtt: Slewed,
    /// Ticks the own ship's clock runs ahead of the arrival clock.
    lead: Slewed,
    /// Round trip, milliseconds: the quickest of [`RTT_WINDOW_MS`] (or the assumption).
    rtt_ms: f64,
    /// Round trips measured within [`RTT_WINDOW_MS`]: (page time, milliseconds), oldest first.
    rtts: VecDeque<(f64, f64)>,
    /// Margins reported by acknowledgements: (page time, ticks), oldest first.
    margins: VecDeque<(f64, f64)>,
    /// When the lead last came down, milliseconds.
    lowered_ms: f64,
    /// The last tick stamped on an input: the next one names no earlier tick.
    last_stamp: Tick,
}

impl Clock {
    /// A clock for a server ticking `tick_hz` times a second, nothing measured yet.
    pub fn new(tick_hz: u32) -> Clock {
        let ticks_per_ms = tick_hz as f64 / 1000.0;
        let half = ASSUMED_RTT_MS * 0.5 * ticks_per_ms;
        Clock {
            ticks_per_ms,
            now_ms: None,
            arrival: None,
            arrivals: VecDeque::new(),
            half_rtt: Slewed::at(half),
            lead: Slewed::at(2.0 * half + TARGET_MARGIN_TICKS),
            rtt_ms: ASSUMED_RTT_MS,
            rtts: VecDeque::new(),
            margins: VecDeque::new(),
            lowered_ms: 0.0,
            last_stamp: 0,
        }
    }

    /// Moves every estimate towards its target for the time elapsed since the last call.
    pub fn advance(&mut self, now_ms: f64) {
        let elapsed = self.now_ms.map_or(0.0, |t| (now_ms - t).max(0.0));
        self.now_ms = Some(now_ms);
        let ticks = elapsed * self.ticks_per_ms;
        if let Some(a) = &mut self.arrival {
            a.advance(ticks);
        }
        self.half_rtt.advance(ticks);
        self.lead.advance(ticks);
    }

    /// A message stamped with server tick `tick` (a welcome, a snapshot) arrived at `now_ms`.
    pub fn on_arrival(&mut self, tick: Tick, now_ms: f64) {
        self.advance(now_ms);
        let measured = tick as f64 - now_ms * self.ticks_per_ms;
        self.arrivals.push_back((now_ms, measured));
        while self.arrivals.front().is_some_and(|&(t, _)| now_ms - t > ARRIVAL_WINDOW_MS) {
            self.arrivals.pop_front();
        }
        let least_delayed = self.arrivals.iter().map(|&(_, m)| m).fold(f64::MIN, f64::max);
        match &mut self.arrival {
            Some(a) => a.target = least_delayed,
            None => self.arrival = Some(Slewed::at(measured)),
        }
    }

    /// A ping sent at `now_ms − rtt_ms` came back now.
    pub fn on_rtt(&mut self, rtt_ms: f64, now_ms: f64) {
        let first = self.rtts.is_empty();
        self.rtts.push_back((now_ms, rtt_ms));
        while self.rtts.len() > 1 && self.rtts.front().is_some_and(|&(t, _)| now_ms - t > RTT_WINDOW_MS) {
            self.rtts.pop_front();
        }
        // The quickest round trip of the window: a pong delayed by a stall of the way down
        // says nothing about how early inputs must leave (the margins say that).
        self.rtt_ms = self.rtts.iter().map(|&(_, r)| r).fold(f64::MAX, f64::min);
        let rtt = self.rtt_ms * self.ticks_per_ms;
        self.half_rtt.target = rtt * 0.5;
        if self.margins.is_empty() {
            // Nothing acknowledged yet: the round trip is all there is to go by.
            self.lead.target = (rtt + TARGET_MARGIN_TICKS).min(MAX_LEAD_TICKS);
        }
        if first {
            // The first measurement replaces the assumption at once: the ship has only just
            // spawned (at rest), and slewing from a guess to a slow link's lead would take
            // seconds of inputs arriving late.
            self.half_rtt.value = self.half_rtt.target;
            self.lead.value = self.lead.target;
        }
    }

    /// The server acknowledged a new input, stamped with a lead of `stamped_with` ticks, that
    /// reached it `margin` ticks before its tick.
    pub fn on_margin(&mut self, margin: i16, stamped_with: f64, now_ms: f64) {
        let margin = f64::from(margin);
        self.margins.push_back((now_ms, margin));
        while self.margins.front().is_some_and(|&(t, _)| now_ms - t > MARGIN_WINDOW_MS) {
            self.margins.pop_front();
        }
        if margin < MIN_MARGIN_TICKS {
            // Late, or nearly: the lead that input needed was its own plus what it lacked, plus
            // the margin's target. Measured against the lead it was stamped with, not added to
            // the target: the inputs stamped before the lead caught up come back late too, and
            // must not raise it again.
            let needed = stamped_with - margin + TARGET_MARGIN_TICKS;
            self.lead.target = self.lead.target.max(needed).min(MAX_LEAD_TICKS);
            self.lowered_ms = now_ms;
            return;
        }
        let oldest = self.margins.front().map_or(now_ms, |&(t, _)| t);
        let least = self.margins.iter().map(|&(_, m)| m).fold(f64::MAX, f64::min);
        let watched = now_ms - self.lowered_ms >= MARGIN_WINDOW_MS && now_ms - oldest >= MARGIN_WINDOW_MS * 0.5;
        if watched && least > TARGET_MARGIN_TICKS + LEAD_SLACK_TICKS {
            let floor = self.rtt_ms * self.ticks_per_ms + MIN_MARGIN_TICKS;
            self.lead.target = (self.lead.target - (least - TARGET_MARGIN_TICKS) * 0.5).max(floor);
            self.lowered_ms = now_ms;
        }
    }

    /// The server's present at the last [`Clock::advance`] (fractional tick), once a
    /// server tick has arrived.
    pub fn present(&self) -> Option<f64> {
        Some(self.arrival_now()? + self.half_rtt.value)
    }

    /// The own ship's tick at the last [`Clock::advance`] (fractional).
    pub fn own(&self) -> Option<f64> {
        Some(self.arrival_now()? + self.lead.value)
    }

    /// The tick an input sent now names: the own ship's next tick, and never earlier than the
    /// one named before (the server applies inputs in the order they were sent).
    pub fn stamp(&mut self) -> Tick {
        let next = self.own().map_or(0, |t| t.floor().max(0.0) as Tick + 1);
        self.last_stamp = self.last_stamp.max(next);
        self.last_stamp
    }

    /// Ticks the own ship runs ahead of the arrival clock now.
    pub fn lead(&self) -> f64 {
        self.lead.value
    }

    /// A clock already settled: the arrival clock reads `arrival_tick` at page time 0, the
    /// present runs `half_rtt` ticks ahead of it and the own ship `lead` ticks.
    #[cfg(test)]
    pub(crate) fn settled(tick_hz: u32, arrival_tick: f64, half_rtt: f64, lead: f64) -> Clock {
        let mut c = Clock::new(tick_hz);
        c.arrival = Some(Slewed::at(arrival_tick));
        c.half_rtt = Slewed::at(half_rtt);
        c.lead = Slewed::at(lead);
        c.now_ms = Some(0.0);
        c
    }

    fn arrival_now(&self) -> Option<f64> {
        let (a, now) = (self.arrival?, self.now_ms?);
        Some(a.value + now * self.ticks_per_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS_PER_TICK: f64 = 1000.0 / 60.0;

    /// A snapshot every 50 ms over a link of 40 ± 10 ms: the arrival clock settles on the
    /// least delayed ones and the picture never steps by more than the slew allows.
    #[test]
    fn arrival_clock_follows_the_least_delayed_snapshots_smoothly() {
        let mut c = Clock::new(60);
        let mut last: Option<f64> = None;
        for i in 0..200u32 {
            let tick = 100 + 3 * i;
            let jitter = [0.0, 10.0, -10.0, 5.0, -3.0][i as usize % 5];
            let now = tick as f64 * MS_PER_TICK + 40.0 + jitter;
            c.on_arrival(tick, now);
            let p = c.present().unwrap() - now / MS_PER_TICK;
            if let Some(l) = last {
                assert!((p - l).abs() <= SLEW * 3.5 + 0.2, "present stepped {} ticks at {i}", p - l);
            }
            last = Some(p);
        }
        // Least delay 30 ms = 1.8 ticks behind the server, plus half the assumed round trip.
        let arrival = c.present().unwrap() - c.half_rtt.value;
        let now = c.now_ms.unwrap();
        let behind = now / MS_PER_TICK - arrival;
        assert!((behind - 1.8).abs() < 0.3, "arrival clock {behind} ticks behind the server");
    }

    /// A stall (no snapshots, then a burst of late ones) does not pull the clock back.
    #[test]
    fn a_stall_does_not_move_the_clock() {
        let mut c = Clock::new(60);
        for i in 0..20u32 {
            c.on_arrival(3 * i, 3.0 * i as f64 * MS_PER_TICK + 20.0);
        }
        c.advance(60.0 * MS_PER_TICK);
        let before = c.present().unwrap() - c.now_ms.unwrap() / MS_PER_TICK;
        // 300 ms late, in a burst.
        for i in 20..26u32 {
            c.on_arrival(3 * i, 3.0 * 25.0 * MS_PER_TICK + 320.0);
        }
        let after = c.present().unwrap() - c.now_ms.unwrap() / MS_PER_TICK;
        assert!((after - before).abs() < 0.1, "the clock moved {} ticks", after - before);
    }

    /// The lead starts at the round trip plus the target margin, rises at once when an input
    /// came late, and comes down slowly when margins were generous.
    #[test]
    fn lead_adapts_to_the_margins_the_server_reports() {
        let mut c = Clock::new(60);
        c.on_arrival(1000, 0.0);
        c.on_rtt(300.0, 0.0);
        assert!((c.lead.value - (18.0 + TARGET_MARGIN_TICKS)).abs() < 1e-9, "the first measurement is taken at once");
        // Before any input was acknowledged the lead follows the round trip, slewing.
        c.on_rtt(100.0, 50.0);
        assert!((c.lead.target - (6.0 + TARGET_MARGIN_TICKS)).abs() < 1e-9);
        assert!(c.lead.value > c.lead.target, "slews down, does not jump");
        c.on_margin(-2, 8.0, 100.0);
        let raised = c.lead.target;
        assert!((raised - (8.0 + 4.0)).abs() < 1e-9, "{raised}");
        // Inputs stamped with the old lead before it caught up come back late too: they say
        // the same, and raise nothing more.
        for (i, margin) in [-2, -1, -2, 0].into_iter().enumerate() {
            c.on_margin(margin, 8.0, 150.0 + i as f64 * 50.0);
        }
        assert!((c.lead.target - raised).abs() < 1e-9, "raised again to {}", c.lead.target);
        // A link that needs a lead of 7 ticks (the margin is what the lead leaves beyond that),
        // and a lead far too long (a first ping that caught the jitter's peak): within half a
        // minute it comes down to the target margin plus a little, and no input is late on
        // the way.
        let needed = 7.0;
        c.lead = Slewed::at(30.0);
        let mut now = 1000.0;
        for _ in 0..300 {
            now += 100.0;
            c.advance(now);
            let margin = (c.lead.value - needed).floor();
            assert!(margin >= 0.0, "late at {now} ms: lead {}", c.lead.value);
            c.on_margin(margin as i16, c.lead.value, now);
        }
        let excess = c.lead.value - needed - TARGET_MARGIN_TICKS;
        assert!((0.0..=2.0 * LEAD_SLACK_TICKS + 1.0).contains(&excess), "lead {} for a need of {needed}", c.lead.value);
    }

    /// A pong delayed by a stall of the way down moves neither the present nor the lead.
    #[test]
    fn a_delayed_pong_moves_nothing() {
        let mut c = Clock::new(60);
        c.on_arrival(1000, 0.0);
        c.on_rtt(100.0, 100.0);
        c.on_margin(2, 8.0, 200.0);
        let (lead, half) = (c.lead.target, c.half_rtt.target);
        c.on_rtt(2100.0, 2300.0);
        assert_eq!((c.lead.target, c.half_rtt.target), (lead, half));
    }

    /// Stamps never go back, even when the lead comes down.
    #[test]
    fn stamps_are_monotonic() {
        let mut c = Clock::new(60);
        c.on_arrival(500, 0.0);
        c.advance(0.0);
        let first = c.stamp();
        c.lead = Slewed::at(0.0);
        assert_eq!(c.stamp(), first);
        c.advance(1000.0);
        assert!(c.stamp() > first);
    }
}
