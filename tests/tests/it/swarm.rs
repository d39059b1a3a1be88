//! The bot swarm against the real server: a well-formed report with real traffic. The bots run
//! the browser client's session (and, for a sample, its replica) natively, so this is also the
//! page's protocol code against the real server, twenty connections at a time.

use asteroids_bots::behavior::Behavior;
use asteroids_bots::{run, SwarmConfig};
use asteroids_tests::*;
use std::num::NonZeroUsize;

/// A swarm of `bots` against `url`, all with full replicas, from source addresses the way the
/// command line spreads them.
fn swarm(url: String, bots: usize, behavior: Behavior) -> SwarmConfig {
    SwarmConfig {
        url,
        bots,
        ramp_secs: 1.0,
        duration_secs: 4.0,
        behavior,
        seed: 3,
        progress: false,
        full_replicas: usize::MAX,
        bots_per_address: NonZeroUsize::new(16).unwrap(),
        source_address_base: None,
        link: None,
        universe: None,
    }
}

/// 20 bots in `mix` for a few seconds, from five loopback source addresses, five of them with
/// full replicas: all connect, none is dropped, every figure of the report is there and the
/// traffic is real (snapshots at the server's rate for every bot, bytes, round trips,
/// entities in view), the dead-reckoning and full-state figures come from exactly the five
/// (the page's replica predicts the typical entity exactly), and the JSON has the documented
/// keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swarm_reports_real_traffic() {
    let server = start_server(small_world()).await;
    let report = run(SwarmConfig {
        full_replicas: 5,
        bots_per_address: NonZeroUsize::new(4).unwrap(),
        ..swarm(format!("ws://{}/ws", server.local_addr()), 20, Behavior::Mix)
    })
    .await;
    assert_eq!(report.bots_connected, 20, "{}", report.table());
    assert_eq!(report.full_replica_bots, 5, "{}", report.table());
    assert!(report.snapshots_per_sec_per_bot["p5"] > 10.0, "every bot, light or full: {}", report.table());
    assert_eq!(report.failures, 0, "{}", report.table());
    assert_eq!(report.failure_ratio(), 0.0, "{}", report.table());
    assert!(report.snapshots_per_sec_per_bot["p50"] > 15.0, "{}", report.table());
    assert!(report.downlink_bytes_per_sec_per_bot["p50"] > 0.0);
    // Every bot is sent the leaderboard's three parts on joining; snapshots are most of the rest.
    assert!(report.leaderboard_bytes_per_sec_per_bot["p50"] > 0.0, "{}", report.table());
    assert!(report.leaderboard_share > 0.0 && report.leaderboard_share < 0.5, "{}", report.table());
    assert!(
        report.full_state_bytes_per_sec_per_bot["p50"] > report.downlink_bytes_per_sec_per_bot["p50"],
        "full state costs more than diffs (and the 15 light bots' zeros are not in the figure): {}",
        report.table()
    );
    assert!(report.entities_in_view["p50"] > 0.0);
    assert!(report.rtt_ms["p50"] > 0.0);
    assert!(report.snapshot_gap_ms["p50"] > 20.0 && report.snapshot_gap_ms["p50"] < 100.0, "{}", report.table());
    assert!(report.dr_error_units.samples > 1000);
    assert_eq!(report.dr_error_units.p50, 0.0, "the page's prediction is exact for most entities: {}", report.table());
    assert!(report.time_to_first_snapshot_ms["p50"] > 0.0);
    let json: serde_json::Value = serde_json::to_value(&report).unwrap();
    for key in [
        "bots_requested",
        "bots_connected",
        "full_replica_bots",
        "failures",
        "disconnects",
        "snapshots_per_sec_per_bot",
        "downlink_bytes_per_sec_per_bot",
        "full_state_bytes_per_sec_per_bot",
        "entities_in_view",
        "rtt_ms",
        "snapshot_gap_ms",
        "dr_error_units",
        "time_to_first_snapshot_ms",
    ] {
        assert!(json.get(key).is_some(), "missing {key}");
    }
    for (key, sub) in [
        ("snapshots_per_sec_per_bot", "p5"),
        ("downlink_bytes_per_sec_per_bot", "p99"),
        ("full_state_bytes_per_sec_per_bot", "p95"),
        ("entities_in_view", "p95"),
        ("rtt_ms", "p99"),
        ("snapshot_gap_ms", "max"),
        ("dr_error_units", "p99"),
        ("time_to_first_snapshot_ms", "p99"),
    ] {
        assert!(json[key][sub].is_number(), "missing {key}.{sub}");
    }
    server.shutdown().await;
}

/// Hostile swarms are turned away with the documented codes: garbage bots with 1008 after
/// ten invalid messages, flooders with 1008 for the message rate. (Silent peers:
/// `hostile::silent_peer_is_removed`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_swarms_are_disconnected() {
    let server = start_server(small_world()).await;
    for (behavior, reason) in [
        (Behavior::Garbage, "closed by server: 1008 too many invalid messages"),
        (Behavior::Flood, "closed by server: 1008 message rate exceeded"),
    ] {
        let report = run(SwarmConfig {
            ramp_secs: 0.2,
            duration_secs: 3.0,
            seed: 5,
            ..swarm(format!("ws://{}/ws", server.local_addr()), 4, behavior)
        })
        .await;
        assert_eq!(report.bots_connected, 4, "{behavior:?}: {}", report.table());
        assert_eq!(report.disconnects.get(reason), Some(&4), "{behavior:?}: {}", report.table());
    }
    server.shutdown().await;
}

/// Through the link conditioner (50 ms each way, 10 ms of jitter), every bot still connects
/// and gets its snapshots, and the round trips the bots measure include the link's delay
/// both ways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swarm_through_a_slow_link() {
    use asteroids_bots::link::Link;
    use std::time::Duration;
    let server = start_server(small_world()).await;
    let link = Link { delay: Duration::from_millis(50), jitter: Duration::from_millis(10), stall: None };
    let report = run(SwarmConfig {
        full_replicas: 2,
        bots_per_address: NonZeroUsize::new(2).unwrap(),
        link: Some(link),
        universe: None,
        ..swarm(format!("ws://{}/ws", server.local_addr()), 8, Behavior::Mix)
    })
    .await;
    assert_eq!(report.bots_connected, 8, "{}", report.table());
    assert_eq!(report.failures, 0, "{}", report.table());
    assert!(report.snapshots_per_sec_per_bot["p5"] > 10.0, "{}", report.table());
    assert!(report.rtt_ms["p50"] >= 100.0, "the link's delay, both ways: {}", report.table());
    assert!(report.rtt_ms["p50"] < 400.0, "{}", report.table());
    server.shutdown().await;
}
