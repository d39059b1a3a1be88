//! The bot swarm against the real server: a well-formed report with real traffic. The bots run
//! the browser client's session and replica natively, so this is also the page's protocol code
//! against the real server, twenty connections at a time.

use asteroids_bots::behavior::Behavior;
use asteroids_bots::{run, SwarmConfig};
use asteroids_tests::*;

/// 20 bots in `mix` for a few seconds: all connect, none is dropped, every figure of the
/// report is there and the traffic is real (snapshots at the server's rate, bytes, round
/// trips, entities in view), the client's replica predicts the typical entity exactly, and
/// the JSON has the documented keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swarm_reports_real_traffic() {
    let server = start_server(small_world()).await;
    let report = run(SwarmConfig {
        url: format!("ws://{}/ws", server.local_addr()),
        bots: 20,
        ramp_secs: 1.0,
        duration_secs: 4.0,
        behavior: Behavior::Mix,
        seed: 3,
        progress: false,
    })
    .await;
    assert_eq!(report.bots_connected, 20, "{}", report.table());
    assert_eq!(report.failures, 0, "{}", report.table());
    assert_eq!(report.failure_ratio(), 0.0, "{}", report.table());
    assert!(report.snapshots_per_sec_per_bot["p50"] > 15.0, "{}", report.table());
    assert!(report.downlink_bytes_per_sec_per_bot["p50"] > 0.0);
    assert!(
        report.full_state_bytes_per_sec_per_bot["p50"] > report.downlink_bytes_per_sec_per_bot["p50"],
        "full state costs more than diffs: {}",
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
            url: format!("ws://{}/ws", server.local_addr()),
            bots: 4,
            ramp_secs: 0.2,
            duration_secs: 3.0,
            behavior,
            seed: 5,
            progress: false,
        })
        .await;
        assert_eq!(report.bots_connected, 4, "{behavior:?}: {}", report.table());
        assert_eq!(report.disconnects.get(reason), Some(&4), "{behavior:?}: {}", report.table());
    }
    server.shutdown().await;
}
