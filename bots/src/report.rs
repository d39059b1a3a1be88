//! The swarm's final report: what players felt, as percentiles across bots or samples. Every
//! figure covers every bot, except the two that need the page's full replica
//! (dead-reckoning error and full-state bytes), which cover the bots that kept one
//! ([`Report::full_replica_bots`]).

use crate::measure::BotResult;
use serde::Serialize;
use std::collections::BTreeMap;

/// Named percentiles of a set of values (`p50`, `p99`, `max`, …).
pub type Percentiles = BTreeMap<&'static str, f64>;

/// Percentiles by nearest rank; `max` is the largest value. Empty input gives zeros.
pub fn percentiles(values: &mut [f64], which: &[&'static str]) -> Percentiles {
    values.sort_by(f64::total_cmp);
    which
        .iter()
        .map(|&name| {
            let p =
                if name == "max" { 1.0 } else { name.trim_start_matches('p').parse::<f64>().unwrap_or(50.0) / 100.0 };
            let v = shared::stats::percentile(values, p).unwrap_or(0.0);
            (name, v)
        })
        .collect()
}

/// Dead-reckoning error: every prediction sample, most of them exact.
#[derive(Debug, Serialize)]
pub struct DrError {
    /// p50 of all samples, world units.
    pub p50: f64,
    /// p99 of all samples.
    pub p99: f64,
    /// Largest.
    pub max: f64,
    /// Samples: every known entity at every snapshot (corrections after an input change are
    /// not prediction errors and are left out).
    pub samples: u64,
    /// Samples with a non-zero error.
    pub nonzero: u64,
}

/// Error statistics of a set of samples, every one counted (zeros are exact predictions).
fn errors(mut v: Vec<f64>) -> DrError {
    v.sort_by(f64::total_cmp);
    let at = |p: f64| shared::stats::rank(v.len(), p).map_or(0.0, |i| v[i]);
    DrError {
        p50: at(0.5),
        p99: at(0.99),
        max: v.last().copied().unwrap_or(0.0),
        samples: v.len() as u64,
        nonzero: v.iter().filter(|e| **e > 0.0).count() as u64,
    }
}

/// The report.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Bots asked for.
    pub bots_requested: usize,
    /// Bots that connected and were welcomed.
    pub bots_connected: usize,
    /// Bots that could not connect.
    pub failures: usize,
    /// Why, by reason.
    pub failure_reasons: BTreeMap<String, usize>,
    /// Connections that ended before the deadline, by reason.
    pub disconnects: BTreeMap<String, usize>,
    /// Bots that kept the page's full replica: the sample behind `dr_error_units` and
    /// `full_state_bytes_per_sec_per_bot`.
    pub full_replica_bots: usize,
    /// Snapshots per second per bot (`p5`, `p50`).
    pub snapshots_per_sec_per_bot: Percentiles,
    /// Downlink bytes per second per bot, WebSocket framing included (`p50`, `p95`, `p99`).
    pub downlink_bytes_per_sec_per_bot: Percentiles,
    /// The leaderboard's share of the downlink: its bytes over all bytes, every bot.
    pub leaderboard_share: f64,
    /// The leaderboard's bytes per second per bot (`p50`, `p95`).
    pub leaderboard_bytes_per_sec_per_bot: Percentiles,
    /// What the full state of each bot's view every snapshot would have cost (`p50`, `p95`;
    /// full replicas only).
    pub full_state_bytes_per_sec_per_bot: Percentiles,
    /// Full state over diffs, at the median bot (full replicas only, both figures).
    pub full_over_diff_ratio_p50: f64,
    /// Snapshot bytes per second per bot by part (`crate::measure::SNAPSHOT_PARTS`), the
    /// mean over the full replicas: what the diffs' bytes are made of.
    pub snapshot_bytes_per_sec_by_part: BTreeMap<String, f64>,
    /// Entities in view, over all snapshots (`p50`, `p95`).
    pub entities_in_view: Percentiles,
    /// Ping round trips (`p50`, `p99`).
    pub rtt_ms: Percentiles,
    /// Gaps between consecutive snapshots (`p50`, `p99`, `max`).
    pub snapshot_gap_ms: Percentiles,
    /// Prediction against the next authoritative state (full replicas only).
    pub dr_error_units: DrError,
    /// From connect to the first snapshot, per bot (`p50`, `p99`).
    pub time_to_first_snapshot_ms: Percentiles,
    /// From sending an input to the snapshot acknowledging it (`p50`, `p95`, `p99`).
    pub input_ack_ms: Percentiles,
    /// Acknowledged inputs that reached the server after the tick they named, over all
    /// acknowledged inputs.
    pub late_input_share: f64,
    /// The own ship's prediction against the server's state at each snapshot (every bot):
    /// `samples`, `nonzero` (not bit-exact: a contact or a late input), `p99`, `max`.
    pub own_ship_correction_units: DrError,
    /// Bots whose own-ship prediction was ever corrected.
    pub bots_with_own_corrections: usize,
    /// Edges crossed into another sector of a universe, all bots (`--universe`).
    pub crossings: u64,
    /// From a hand-over to the first snapshot in the next sector (`p50`, `p90`, `p99`, `max`).
    pub crossing_latency_ms: Percentiles,
    /// The own ship's prediction against the first snapshot in the next sector: `samples`,
    /// `nonzero`, `p50`, `p99`, `max` (target: all zero).
    pub crossing_correction_units: DrError,
    /// CPU time the swarm process used (user + system, all threads), seconds.
    pub swarm_cpu_secs: f64,
    /// Seconds bots were connected and receiving, summed over bots.
    pub bot_secs: f64,
    /// The swarm's own cost: CPU milliseconds per bot-second (what a bot costs the machine the
    /// server shares).
    pub swarm_cpu_ms_per_bot_sec: f64,
    /// Each pilot's name and the last score the server sent it (written apart, with
    /// `--scores`: a line per bot would swamp the report).
    #[serde(skip)]
    pub pilots: Vec<(String, shared::protocol::Score)>,
}

impl Report {
    /// Aggregates the bots' results.
    pub fn new(requested: usize, results: &[BotResult]) -> Report {
        let mut failure_reasons = BTreeMap::new();
        let mut disconnects = BTreeMap::new();
        for r in results {
            if let Some(f) = &r.failure {
                *failure_reasons.entry(f.clone()).or_insert(0) += 1;
            }
            if let Some(d) = &r.disconnect {
                *disconnects.entry(d.clone()).or_insert(0) += 1;
            }
        }
        let active: Vec<&BotResult> = results.iter().filter(|r| r.connected && r.active_secs >= 1.0).collect();
        let per_bot =
            |f: &dyn Fn(&BotResult) -> f64| -> Vec<f64> { active.iter().map(|r| f(r) / r.active_secs).collect() };
        let full_per_bot = |f: &dyn Fn(&BotResult) -> f64| -> Vec<f64> {
            active.iter().filter(|r| r.full_replica).map(|r| f(r) / r.active_secs).collect()
        };
        let downlink = percentiles(&mut per_bot(&|r| r.bytes as f64), &["p50", "p95", "p99"]);
        let full_state = percentiles(&mut full_per_bot(&|r| r.full_state_bytes as f64), &["p50", "p95"]);
        let sample_downlink = percentiles(&mut full_per_bot(&|r| r.bytes as f64), &["p50"]);
        let all = |f: &dyn Fn(&BotResult) -> Vec<f64>| -> Vec<f64> { results.iter().flat_map(f).collect() };
        let mut dr: Vec<f64> = all(&|r| r.dr_errors.clone());
        let exact: u64 = results.iter().map(|r| r.dr_exact).sum();
        let nonzero = dr.iter().filter(|e| **e > 0.0).count() as u64;
        let samples = exact + dr.len() as u64;
        // Percentiles over all samples, the exact ones included (they are zeros).
        dr.sort_by(f64::total_cmp);
        let rank = |p: f64| -> f64 {
            let Some(i) = shared::stats::rank(samples as usize, p).map(|i| i as u64) else { return 0.0 };
            let zeros = exact + dr.iter().filter(|e| **e == 0.0).count() as u64;
            if i < zeros {
                0.0
            } else {
                dr[(i - exact) as usize]
            }
        };
        let dr_error_units =
            DrError { p50: rank(0.5), p99: rank(0.99), max: dr.last().copied().unwrap_or(0.0), samples, nonzero };
        Report {
            bots_requested: requested,
            bots_connected: results.iter().filter(|r| r.connected).count(),
            failures: results.iter().filter(|r| r.failure.is_some()).count(),
            failure_reasons,
            disconnects,
            full_replica_bots: results.iter().filter(|r| r.connected && r.full_replica).count(),
            snapshots_per_sec_per_bot: percentiles(&mut per_bot(&|r| r.snapshots as f64), &["p5", "p50"]),
            full_over_diff_ratio_p50: full_state["p50"] / sample_downlink["p50"].max(1e-9),
            snapshot_bytes_per_sec_by_part: {
                let secs: f64 = active.iter().filter(|r| r.full_replica).map(|r| r.active_secs).sum();
                crate::measure::SNAPSHOT_PARTS
                    .iter()
                    .enumerate()
                    .map(|(i, name)| {
                        let bytes: u64 = active.iter().filter(|r| r.full_replica).map(|r| r.snapshot_parts[i]).sum();
                        (name.to_string(), bytes as f64 / secs.max(1e-9))
                    })
                    .collect()
            },
            downlink_bytes_per_sec_per_bot: downlink,
            leaderboard_share: results.iter().map(|r| r.leaderboard_bytes).sum::<u64>() as f64
                / results.iter().map(|r| r.bytes).sum::<u64>().max(1) as f64,
            leaderboard_bytes_per_sec_per_bot: percentiles(
                &mut per_bot(&|r| r.leaderboard_bytes as f64),
                &["p50", "p95"],
            ),
            full_state_bytes_per_sec_per_bot: full_state,
            entities_in_view: percentiles(
                &mut all(&|r| r.entities_in_view.iter().map(|&n| n as f64).collect()),
                &["p50", "p95"],
            ),
            rtt_ms: percentiles(&mut all(&|r| r.rtt_ms.clone()), &["p50", "p99"]),
            snapshot_gap_ms: percentiles(&mut all(&|r| r.gaps_ms.clone()), &["p50", "p99", "max"]),
            dr_error_units,
            time_to_first_snapshot_ms: percentiles(
                &mut results.iter().filter_map(|r| r.time_to_first_snapshot_ms).collect::<Vec<_>>(),
                &["p50", "p99"],
            ),
            input_ack_ms: percentiles(&mut all(&|r| r.ack_ms.clone()), &["p50", "p95", "p99"]),
            late_input_share: {
                let acked: usize = results.iter().map(|r| r.ack_ms.len()).sum();
                results.iter().map(|r| r.late_inputs).sum::<u64>() as f64 / acked.max(1) as f64
            },
            own_ship_correction_units: errors(all(&|r| r.own_errors.clone())),
            bots_with_own_corrections: results.iter().filter(|r| r.own_errors.iter().any(|&e| e > 0.0)).count(),
            crossings: results.iter().map(|r| r.crossings).sum(),
            crossing_latency_ms: percentiles(
                &mut all(&|r| r.crossing_latency_ms.clone()),
                &["p50", "p90", "p99", "max"],
            ),
            crossing_correction_units: errors(all(&|r| r.crossing_correction.clone())),
            swarm_cpu_secs: 0.0,
            pilots: results.iter().filter(|r| r.connected).map(|r| (r.name.clone(), r.score)).collect(),
            bot_secs: results.iter().map(|r| r.active_secs).sum(),
            swarm_cpu_ms_per_bot_sec: 0.0,
        }
    }

    /// Records the swarm's CPU time over the run (`cpu_secs`), as a cost per bot-second.
    pub fn set_swarm_cpu(&mut self, cpu_secs: f64) {
        self.swarm_cpu_secs = cpu_secs;
        self.swarm_cpu_ms_per_bot_sec = 1000.0 * cpu_secs / self.bot_secs.max(1e-9);
    }

    /// Bots that failed to connect or were dropped, as a share of those requested.
    pub fn failure_ratio(&self) -> f64 {
        let dropped: usize = self.disconnects.values().sum();
        (self.failures + dropped) as f64 / self.bots_requested.max(1) as f64
    }

    /// The report as a table for people.
    pub fn table(&self) -> String {
        let p = |m: &Percentiles| m.iter().map(|(k, v)| format!("{k} {v:.2}")).collect::<Vec<_>>().join("  ");
        let mut out = String::new();
        let mut row = |name: &str, value: String| out.push_str(&format!("{name:<34} {value}\n"));
        row("bots requested / connected", format!("{} / {}", self.bots_requested, self.bots_connected));
        row("failures", format!("{} {:?}", self.failures, self.failure_reasons));
        row("disconnects", format!("{} {:?}", self.disconnects.values().sum::<usize>(), self.disconnects));
        row("snapshots/s per bot", p(&self.snapshots_per_sec_per_bot));
        row("downlink bytes/s per bot", p(&self.downlink_bytes_per_sec_per_bot));
        row(
            "leaderboard bytes/s per bot",
            format!(
                "{}  ({:.1} % of the downlink)",
                p(&self.leaderboard_bytes_per_sec_per_bot),
                self.leaderboard_share * 100.0
            ),
        );
        row("full replicas (DR, full state)", format!("{} bots", self.full_replica_bots));
        row("full-state bytes/s per bot", p(&self.full_state_bytes_per_sec_per_bot));
        row("full state / diff (p50)", format!("{:.1}x", self.full_over_diff_ratio_p50));
        // In the order the parts are listed, not the map's.
        let parts = crate::measure::SNAPSHOT_PARTS
            .iter()
            .map(|name| format!("{name} {:.0}", self.snapshot_bytes_per_sec_by_part.get(*name).copied().unwrap_or(0.0)))
            .collect::<Vec<_>>();
        row("snapshot bytes/s per bot, by part", parts.join(", "));
        row("entities in view", p(&self.entities_in_view));
        row("rtt ms", p(&self.rtt_ms));
        row("snapshot gap ms", p(&self.snapshot_gap_ms));
        let errors = |d: &DrError| {
            format!(
                "p50 {:.4}  p99 {:.4}  max {:.4}  ({} samples, {} non-zero",
                d.p50, d.p99, d.max, d.samples, d.nonzero
            )
        };
        row("dead-reckoning error (units)", format!("{})", errors(&self.dr_error_units)));
        row("time to first snapshot ms", p(&self.time_to_first_snapshot_ms));
        row(
            "input → acknowledgement ms",
            format!("{}  ({:.2} % of inputs late)", p(&self.input_ack_ms), self.late_input_share * 100.0),
        );
        row(
            "own-ship corrections (units)",
            format!("{}, in {} bots)", errors(&self.own_ship_correction_units), self.bots_with_own_corrections),
        );
        if self.crossings > 0 {
            row("crossings", format!("{}  latency ms {}", self.crossings, p(&self.crossing_latency_ms)));
            row("correction at crossing (units)", format!("{})", errors(&self.crossing_correction_units)));
        }
        row(
            "swarm CPU",
            format!(
                "{:.1} s for {:.0} bot-seconds: {:.3} ms per bot-second",
                self.swarm_cpu_secs, self.bot_secs, self.swarm_cpu_ms_per_bot_sec
            ),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nearest-rank percentiles and max.
    #[test]
    fn percentile_ranks() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        let p = percentiles(&mut v, &["p5", "p50", "p99", "max"]);
        assert_eq!((p["p5"], p["p50"], p["p99"], p["max"]), (6.0, 51.0, 99.0, 100.0));
        assert_eq!(percentiles(&mut [], &["p50"])["p50"], 0.0);
    }

    /// Exact predictions count as zero-error samples.
    #[test]
    fn dr_error_counts_exact_samples() {
        let bot = |exact: u64, off: usize| BotResult {
            connected: true,
            active_secs: 2.0,
            dr_exact: exact,
            dr_errors: vec![0.5; off],
            ..Default::default()
        };
        // 2 % of samples off by 0.5: p50 is exact, p99 (nearest rank) lands among the errors.
        let r = Report::new(1, &[bot(980, 20)]);
        assert_eq!(r.dr_error_units.samples, 1000);
        assert_eq!(r.dr_error_units.nonzero, 20);
        assert_eq!(r.dr_error_units.p50, 0.0);
        assert_eq!(r.dr_error_units.p99, 0.5);
        assert_eq!(r.dr_error_units.max, 0.5);
        // 0.5 % off: p99 is still exact.
        assert_eq!(Report::new(1, &[bot(995, 5)]).dr_error_units.p99, 0.0);
    }

    /// Full-state bytes and the dead-reckoning samples come from the bots with full
    /// replicas, and the report says how many; snapshots and downlink from every bot.
    #[test]
    fn full_replica_figures_come_from_the_sample() {
        let bot = |full: bool| BotResult {
            connected: true,
            full_replica: full,
            active_secs: 2.0,
            snapshots: 40,
            bytes: 2_000,
            full_state_bytes: if full { 40_000 } else { 0 },
            dr_exact: if full { 100 } else { 0 },
            snapshot_parts: if full { [200, 0, 0, 0, 0, 0, 0, 1_800] } else { [0; 8] },
            ..Default::default()
        };
        let r = Report::new(4, &[bot(true), bot(false), bot(false), bot(false)]);
        assert_eq!(r.full_replica_bots, 1);
        assert_eq!(r.full_state_bytes_per_sec_per_bot["p50"], 20_000.0, "light bots' zeros left out");
        assert_eq!(r.full_over_diff_ratio_p50, 20.0);
        assert_eq!(r.dr_error_units.samples, 100);
        assert_eq!((r.snapshots_per_sec_per_bot["p5"], r.downlink_bytes_per_sec_per_bot["p50"]), (20.0, 1_000.0));
        assert!(r.table().contains("1 bots"), "{}", r.table());
        assert_eq!(r.snapshot_bytes_per_sec_by_part["ships entering"], 100.0, "the sample's bytes per second");
        assert_eq!(r.snapshot_bytes_per_sec_by_part["framing, tick, ack"], 900.0);
    }
}
