//! The operators' routes: token required, documented fields present, Prometheus text valid.

use asteroids_server::Config;
use asteroids_tests::*;
use std::collections::HashMap;

const TOKEN: &str = "test-admin-token-123";

fn config() -> Config {
    Config { admin_token: TOKEN.into(), ..small_world() }
}

/// Without a token, or with a wrong one, the data routes answer 401; the page itself loads.
#[tokio::test]
async fn admin_routes_require_the_token() {
    let server = start_server(config()).await;
    let addr = server.local_addr();
    for path in ["/admin/stats", "/metrics"] {
        assert_eq!(http_get(addr, path, None).await.unwrap().0, 401, "{path} without a token");
        assert_eq!(http_get(addr, path, Some("wrong")).await.unwrap().0, 401, "{path} with a wrong token");
        assert_eq!(http_get(addr, path, Some(&format!("{TOKEN}x"))).await.unwrap().0, 401, "{path}, token plus a byte");
    }
    let (status, page) = http_get(addr, "/admin", None).await.unwrap();
    assert_eq!(status, 200);
    assert!(page.contains("/admin/stats") && page.contains("<canvas"), "the page polls the stats and draws charts");
    server.shutdown().await;
}

/// With the token, /admin/stats has every documented field, and they describe the world:
/// one connected player whose snapshots are counted.
#[tokio::test]
async fn admin_stats_reports_the_documented_fields() {
    let server = start_server(config()).await;
    let (mut c, w) = Client::join(server.local_addr(), "Watched").await.unwrap();
    c.view(w.ship_position, [1920.0, 1080.0]).await.unwrap();
    c.send(&shared::protocol::ClientMsg::Ping { nonce: 1 }).await.unwrap();
    for _ in 0..50 {
        c.snapshot().await.unwrap();
    }
    let (status, body) = http_get(server.local_addr(), "/admin/stats", Some(TOKEN)).await.unwrap();
    assert_eq!(status, 200, "{body}");
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    for key in [
        "uptime_secs",
        "tick",
        "tick_hz",
        "tick_ms",
        "missed_ticks",
        "connections",
        "players",
        "entities",
        "snapshots_per_sec",
        "bytes_out_per_sec",
        "bytes_in_per_sec",
        "invalid_messages",
        "connections_detail",
    ] {
        assert!(doc.get(key).is_some(), "missing {key} in {doc}");
    }
    for key in ["p50", "p99", "max"] {
        assert!(doc["tick_ms"][key].as_f64().is_some_and(|v| v > 0.0), "tick_ms.{key} in {doc}");
    }
    assert_eq!(doc["tick_hz"], 60);
    assert_eq!(doc["players"], 1);
    assert_eq!(doc["connections"], 1);
    assert!(doc["entities"]["asteroids"].as_u64().unwrap() >= 400);
    // The one ship may be between a crash and its respawn.
    assert!(doc["entities"]["ships"].as_u64().unwrap() <= 1, "{doc}");
    assert!(doc["snapshots_per_sec"].as_f64().unwrap() > 5.0, "{doc}");
    assert!(doc["bytes_out_per_sec"].as_f64().unwrap() > 0.0, "{doc}");
    let conn = &doc["connections_detail"][0];
    assert_eq!(conn["name"], "Watched");
    assert!(conn["snapshots"].as_u64().unwrap() >= 50);
    assert_eq!(conn["view"][2], 1920.0);
    for key in ["entities_in_view", "bytes_out_per_sec", "pending_frames", "rtt_ms"] {
        assert!(conn.get(key).is_some(), "missing connections_detail[].{key}");
    }
    server.shutdown().await;
}

/// /metrics is valid Prometheus text: every sample line parses, every metric has HELP and
/// TYPE, and the tick histogram's buckets are cumulative and end at the count.
#[tokio::test]
async fn metrics_parse_as_prometheus_text() {
    let server = start_server(config()).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (status, text) = http_get(server.local_addr(), "/metrics", Some(TOKEN)).await.unwrap();
    assert_eq!(status, 200);
    let mut types: HashMap<String, String> = HashMap::new();
    let mut helps = 0;
    let mut samples: Vec<(String, HashMap<String, String>, f64)> = Vec::new();
    let valid_name = |n: &str| {
        !n.is_empty()
            && n.chars()
                .enumerate()
                .all(|(i, c)| c == '_' || c == ':' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()))
    };
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            assert!(valid_name(rest.split(' ').next().unwrap()), "{line}");
            helps += 1;
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind), "{line}");
            types.insert(name.to_string(), kind.to_string());
        } else {
            assert!(!line.starts_with('#'), "unexpected comment {line}");
            let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value: {line}"));
            let value: f64 = match value {
                "+Inf" => f64::INFINITY,
                v => v.parse().unwrap_or_else(|_| panic!("bad value in {line}")),
            };
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => {
                    let body = rest.strip_suffix('}').unwrap_or_else(|| panic!("unclosed labels: {line}"));
                    let labels = body
                        .split(',')
                        .map(|kv| {
                            let (k, v) = kv.split_once('=').unwrap();
                            assert!(v.starts_with('"') && v.ends_with('"'), "{line}");
                            (k.to_string(), v.trim_matches('"').to_string())
                        })
                        .collect();
                    (name, labels)
                }
                None => (series, HashMap::new()),
            };
            assert!(valid_name(name), "{line}");
            samples.push((name.to_string(), labels, value));
        }
    }
    assert_eq!(helps, types.len());
    for (name, _, _) in &samples {
        let family =
            ["_bucket", "_sum", "_count"].iter().find_map(|s| name.strip_suffix(s)).filter(|f| types.contains_key(*f));
        assert!(types.contains_key(name) || family.is_some(), "{name} has no TYPE");
    }
    assert_eq!(types["asteroids_tick_duration_seconds"], "histogram");
    let buckets: Vec<f64> =
        samples.iter().filter(|(n, _, _)| n == "asteroids_tick_duration_seconds_bucket").map(|(_, _, v)| *v).collect();
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "cumulative buckets: {buckets:?}");
    let count = samples.iter().find(|(n, _, _)| n == "asteroids_tick_duration_seconds_count").unwrap().2;
    assert_eq!(*buckets.last().unwrap(), count);
    assert!(count > 0.0, "ticks were timed");
    for metric in
        ["asteroids_connections", "asteroids_players", "asteroids_entities", "asteroids_invalid_messages_total"]
    {
        assert!(samples.iter().any(|(n, _, _)| n == metric), "{metric} missing");
    }
    server.shutdown().await;
}
