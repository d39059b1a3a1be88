//! Every figure an operator can read, declared once, and its two renderings: the JSON of
//! `GET /admin/stats` and the Prometheus text of `GET /metrics`.
//!
//! A figure is one row of a table ([`Figure`]): its JSON name, its Prometheus name, whether
//! it is a counter, a gauge or a histogram, its help text, and a function that reads it from
//! what the server has ([`Sources`]). Both renderings walk the same rows, so a figure cannot be
//! in one and missing from the other. The server's own counters are declared in
//! [`crate::stats`] (their macro makes the atomics and their rows at once,
//! [`Stats::FIGURES`]); the rows here read what others publish: the simulation's frame and its
//! timing, and the store.
//!
//! Each Prometheus `HELP` line ends with the figure's place in the JSON (`JSON: entities.{kind}`,
//! a label in braces standing for its value), so an operator can go from one to the other, and
//! a test can check that the two renderings carry exactly the same numbers.
//!
//! The per-connection drill-down (`connections_detail` in the JSON) is not a figure and has no
//! Prometheus series: one series per connection would be unbounded label cardinality that
//! changes with every visit.

pub use crate::figure::{Figure, Kind, Num, Reading};
use crate::sim::frame::{Frame, TICK_BUCKETS_MS};
use crate::sim::PHASES;
use crate::stats::Stats;
use serde_json::{Map, Value};
use shared::constants::TICK_HZ;
use shared::protocol::EntityKind;
use std::fmt::Write;

/// Everything a figure can be read from.
#[derive(Clone, Copy, Debug)]
pub struct Sources<'a> {
    /// The server's counters.
    pub stats: &'a Stats,
    /// The newest frame (entities, players, the simulation's timing).
    pub frame: &'a Frame,
    /// The store's count of score changes it had to drop (`StoreHandle::dropped`).
    pub dropped_score_changes: u64,
}

/// How a published figure is read: from everything the documents are made from.
pub type ReadSources = for<'a, 'b> fn(&'a Sources<'b>) -> Reading;

fn int(n: impl TryInto<u64>) -> Reading {
    Reading::One(Num::Int(n.try_into().unwrap_or(u64::MAX)))
}

fn real(x: impl Into<f64>) -> Reading {
    Reading::One(Num::Real(x.into()))
}

fn by_phase(values: impl IntoIterator<Item = Num>) -> Reading {
    Reading::By { label: "phase", values: PHASES.iter().copied().zip(values).collect() }
}

/// The rows for what the server does not count itself: the frame, the simulation's timing
/// and the store. (The server's own counters are [`Stats::FIGURES`].)
const PUBLISHED: &[Figure<ReadSources>] = &[
    Figure {
        json: "uptime_secs",
        prom: "asteroids_uptime_seconds",
        kind: Kind::Gauge,
        help: "Seconds since the server started.",
        read: |s| real(s.stats.started.elapsed().as_secs_f64()),
    },
    Figure {
        json: "tick",
        prom: "asteroids_tick",
        kind: Kind::Gauge,
        help: "The last published simulation tick.",
        read: |s| int(s.frame.tick),
    },
    Figure {
        json: "tick_hz",
        prom: "asteroids_tick_hz",
        kind: Kind::Gauge,
        help: "Simulation ticks per second (fixed).",
        read: |_| int(TICK_HZ),
    },
    Figure {
        json: "tick_ms",
        prom: "asteroids_tick_ms",
        kind: Kind::Gauge,
        help: "Tick duration over the last 10 s, milliseconds: median (p50), 99th percentile (p99), maximum (max).",
        read: |s| {
            let t = &s.frame.timing;
            Reading::By {
                label: "stat",
                values: vec![
                    ("p50", Num::from_f32(t.tick_ms_p50)),
                    ("p99", Num::from_f32(t.tick_ms_p99)),
                    ("max", Num::from_f32(t.tick_ms_max)),
                ],
            }
        },
    },
    Figure {
        json: "tick_duration_seconds",
        prom: "asteroids_tick_duration_seconds",
        kind: Kind::Histogram,
        help: "Duration of simulation ticks since start, seconds.",
        read: |s| {
            let t = &s.frame.timing;
            Reading::Histogram {
                buckets: TICK_BUCKETS_MS.iter().map(|ms| ms / 1000.0).zip(t.tick_buckets).collect(),
                count: t.ticks,
                sum: t.tick_secs_sum,
            }
        },
    },
    Figure {
        json: "tick_phase_ms",
        prom: "asteroids_tick_phase_ms_mean",
        kind: Kind::Gauge,
        help: "Mean duration of each phase of the tick over the last 10 s, milliseconds.",
        read: |s| by_phase(s.frame.timing.phase_ms_mean.map(Num::from_f32)),
    },
    Figure {
        json: "tick_phase_secs_total",
        prom: "asteroids_tick_phase_seconds_total",
        kind: Kind::Counter,
        help: "Time spent in each phase of the tick since start, seconds.",
        read: |s| by_phase(s.frame.timing.phase_secs_total.map(Num::Real)),
    },
    Figure {
        json: "players",
        prom: "asteroids_players",
        kind: Kind::Gauge,
        help: "Players in the world (AI pilots included; humans online: the leaderboard's online).",
        read: |s| int(s.frame.players.len()),
    },
    Figure {
        json: "entities",
        prom: "asteroids_entities",
        kind: Kind::Gauge,
        help: "Entities in the world, by kind.",
        read: |s| {
            let (mut ships, mut asteroids, mut bullets) = (0u64, 0u64, 0u64);
            for e in &s.frame.entities {
                match e.kind {
                    EntityKind::Ship => ships += 1,
                    EntityKind::Bullet => bullets += 1,
                    EntityKind::AsteroidLarge | EntityKind::AsteroidMedium | EntityKind::AsteroidSmall => {
                        asteroids += 1
                    }
                }
            }
            let values =
                vec![("ships", Num::Int(ships)), ("asteroids", Num::Int(asteroids)), ("bullets", Num::Int(bullets))];
            Reading::By { label: "kind", values }
        },
    },
    Figure {
        json: "dropped_score_changes",
        prom: "asteroids_dropped_score_changes_total",
        kind: Kind::Counter,
        help: "Score changes dropped because the store's queue was full.",
        read: |s| int(s.dropped_score_changes),
    },
];

/// Makes [`SIMULATION`] from the simulation's list of counters.
macro_rules! simulation_figures {
    ($( $(#[doc = $doc:literal])+ $name:ident $prom:literal; )+) => {
        /// The rows for the simulation's counters (declared in `sim/counters.rs`).
        const SIMULATION: &[Figure<ReadSources>] = &[
            $( Figure {
                json: stringify!($name),
                prom: $prom,
                kind: Kind::Counter,
                help: concat!($($doc),+),
                read: |s| int(s.frame.timing.counters.$name),
            }, )+
        ];
    };
}
crate::sim::counters::sim_counters!(simulation_figures);

/// Every figure (its names, kind and help; not how it is read): the server's counters, then
/// what the simulation and the store publish.
pub fn figures() -> impl Iterator<Item = Figure<()>> {
    Stats::FIGURES.iter().map(Figure::head).chain(PUBLISHED.iter().chain(SIMULATION).map(Figure::head))
}

/// Every figure, in [`figures`] order, with its reading from `sources` now.
fn readings<'s>(sources: &'s Sources<'s>) -> impl Iterator<Item = (Figure<()>, Reading)> + 's {
    let counters = Stats::FIGURES.iter().map(move |f| (f.head(), (f.read)(sources.stats)));
    counters.chain(PUBLISHED.iter().chain(SIMULATION).map(move |f| (f.head(), (f.read)(sources))))
}

/// Every figure as a JSON object (the `/admin/stats` document without its drill-down).
pub fn json(sources: &Sources<'_>) -> Map<String, Value> {
    let mut doc = Map::new();
    for (figure, reading) in readings(sources) {
        let value = match reading {
            Reading::One(n) => n.json(),
            Reading::By { values, .. } => values.into_iter().map(|(key, n)| (key.to_string(), n.json())).collect(),
            Reading::Histogram { buckets, count, sum } => {
                let mut bucket: Map<String, Value> =
                    buckets.into_iter().map(|(le, n)| (le.to_string(), n.into())).collect();
                bucket.insert("+Inf".into(), count.into());
                serde_json::json!({ "bucket": bucket, "count": count, "sum": Num::Real(sum).json() })
            }
        };
        doc.insert(figure.json.into(), value);
    }
    doc
}

/// Every figure in the Prometheus text format (version 0.0.4). `sector`: the sector of a
/// universe this server is (`X,Y`), a label on every series, so that one Prometheus can tell
/// the sectors' series apart.
pub fn prometheus(sources: &Sources<'_>, sector: Option<&str>) -> String {
    let mut out = String::new();
    let extra = sector.map_or(String::new(), |s| format!("sector=\"{s}\""));
    // `{a="b",sector="X,Y"}`, `{sector="X,Y"}` or nothing.
    let labels = |own: Option<String>| -> String {
        let all: Vec<String> = own.into_iter().chain((!extra.is_empty()).then(|| extra.clone())).collect();
        if all.is_empty() {
            String::new()
        } else {
            format!("{{{}}}", all.join(","))
        }
    };
    for (figure, reading) in readings(sources) {
        let name = figure.prom;
        let place = match &reading {
            Reading::By { label, .. } => format!("{}.{{{label}}}", figure.json),
            _ => figure.json.to_string(),
        };
        let _ = writeln!(out, "# HELP {name} {} JSON: {place}", figure.help.trim());
        let _ = writeln!(out, "# TYPE {name} {}", figure.kind.prometheus());
        match reading {
            Reading::One(n) => {
                let _ = writeln!(out, "{name}{} {}", labels(None), n.prometheus());
            }
            Reading::By { label, values } => {
                for (key, n) in values {
                    let _ = writeln!(out, "{name}{} {}", labels(Some(format!("{label}=\"{key}\""))), n.prometheus());
                }
            }
            Reading::Histogram { buckets, count, sum } => {
                for (le, n) in buckets {
                    let _ = writeln!(out, "{name}_bucket{} {n}", labels(Some(format!("le=\"{le}\""))));
                }
                let _ = writeln!(out, "{name}_bucket{} {count}", labels(Some("le=\"+Inf\"".to_string())));
                let _ = writeln!(out, "{name}_sum{} {sum}", labels(None));
                let _ = writeln!(out, "{name}_count{} {count}", labels(None));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::frame::{PublishedLeaderboard, SimTiming};
    use std::collections::{HashMap, HashSet};
    use std::sync::atomic::Ordering;
    use std::sync::Arc;

    /// A server counter, a simulation timing, a per-phase figure and the store's count read
    /// the same in the JSON and in the Prometheus text.
    #[test]
    fn both_renderings_read_the_same_values() {
        let stats = Stats::default();
        stats.rate_limited.store(3, Ordering::Relaxed);
        let counters = crate::sim::SimCounters { slow_ticks: 4, edge_turnbacks: 6, ..Default::default() };
        let mut timing = SimTiming { counters, tick_ms_p99: 2.5, ..SimTiming::default() };
        let physics = PHASES.iter().position(|p| *p == "physics").expect("a physics phase");
        timing.phase_ms_mean[physics] = 0.25;
        timing.phase_secs_total[physics] = 12.5;
        let leaderboard = Arc::new(PublishedLeaderboard::new(Default::default()));
        let frame = Frame::new(7, [], 0, HashMap::new(), [1000.0; 2], timing, leaderboard);
        let sources = Sources { stats: &stats, frame: &frame, dropped_score_changes: 5 };
        let doc = Value::Object(json(&sources));
        let text = prometheus(&sources, None);
        let in_sector = prometheus(&sources, Some("1,0"));
        for (path, series, value) in [
            ("/rate_limited", "asteroids_rate_limited_total", "3"),
            ("/slow_ticks", "asteroids_slow_ticks_total", "4"),
            ("/edge_turnbacks", "asteroids_edge_turnbacks_total", "6"),
            ("/tick", "asteroids_tick", "7"),
            ("/tick_ms/p99", "asteroids_tick_ms{stat=\"p99\"}", "2.5"),
            ("/tick_phase_ms/physics", "asteroids_tick_phase_ms_mean{phase=\"physics\"}", "0.25"),
            ("/tick_phase_secs_total/physics", "asteroids_tick_phase_seconds_total{phase=\"physics\"}", "12.5"),
            ("/dropped_score_changes", "asteroids_dropped_score_changes_total", "5"),
        ] {
            assert_eq!(doc.pointer(path).map(ToString::to_string).as_deref(), Some(value), "{path} in {doc}");
            assert!(text.lines().any(|l| l == format!("{series} {value}")), "{series} {value} in\n{text}");
            // A sector's series carry its label beside their own.
            let labelled = match series.split_once('{') {
                Some((name, rest)) => format!("{name}{{{},sector=\"1,0\"}} {value}", rest.trim_end_matches('}')),
                None => format!("{series}{{sector=\"1,0\"}} {value}"),
            };
            assert!(in_sector.lines().any(|l| l == labelled), "{labelled} in\n{in_sector}");
        }
    }

    /// Every figure has a unique JSON name and a unique, well-formed Prometheus name; counters
    /// end in `_total`, nothing else does; help texts are single lines.
    #[test]
    fn names_are_unique_and_follow_prometheus_conventions() {
        let (mut json, mut prom) = (HashSet::new(), HashSet::new());
        for f in figures() {
            assert!(json.insert(f.json), "JSON name {} declared twice", f.json);
            assert!(prom.insert(f.prom), "Prometheus name {} declared twice", f.prom);
            assert!(f.prom.starts_with("asteroids_"), "{}", f.prom);
            assert!(f.prom.chars().all(|c| c == '_' || c.is_ascii_lowercase() || c.is_ascii_digit()), "{}", f.prom);
            assert_eq!(f.kind == Kind::Counter, f.prom.ends_with("_total"), "{}", f.prom);
            assert!(!f.help.trim().is_empty() && !f.help.contains(['\n', '\\']), "{}", f.prom);
        }
    }
}
