//! The operators' routes: token required, documented fields present, Prometheus text valid.

use asteroids_server::Config;
use asteroids_tests::*;
use std::collections::{HashMap, HashSet};

const TOKEN: &str = "test-admin-token-123";

fn config() -> Config {
    Config { admin_token: Some(TOKEN.into()), ..small_world() }
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
        "dropped_inputs",
        "handshake_timeouts",
        "rate_limited",
        "origin_rejected",
        "full_rejected",
        "dropped_score_changes",
        "snapshots",
        "bytes_out",
        "bytes_in",
        "slow_ticks",
        "nonfinite_bodies",
        "dropped_events",
        "tick_phase_ms",
        "tick_phase_secs_total",
        "tick_duration_seconds",
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
    assert!(doc["snapshots"].as_u64().unwrap() >= 50, "{doc}");
    assert!(doc["bytes_out"].as_u64().unwrap() > 0, "{doc}");
    for phase in ["inbound", "physics", "publish"] {
        assert!(doc["tick_phase_ms"][phase].is_number(), "tick_phase_ms.{phase} in {doc}");
        assert!(doc["tick_phase_secs_total"][phase].is_number(), "tick_phase_secs_total.{phase} in {doc}");
    }
    let conn = &doc["connections_detail"][0];
    assert_eq!(conn["name"], "Watched");
    assert!(conn["snapshots"].as_u64().unwrap() >= 50);
    assert_eq!(conn["view"][2], 1920.0);
    for key in ["entities_in_view", "bytes_out_per_sec", "pending_frames", "rtt_ms"] {
        assert!(conn.get(key).is_some(), "missing connections_detail[].{key}");
    }
    server.shutdown().await;
}

/// A parsed Prometheus text exposition.
struct Exposition {
    /// Help text by metric family.
    helps: HashMap<String, String>,
    /// Type by metric family.
    types: HashMap<String, String>,
    /// Every sample: series name, labels, value.
    samples: Vec<(String, HashMap<String, String>, f64)>,
}

impl Exposition {
    /// Parses `text`, asserting that every line is well formed and every sample's family has
    /// exactly one HELP and one TYPE.
    fn parse(text: &str) -> Exposition {
        let mut helps: HashMap<String, String> = HashMap::new();
        let mut types: HashMap<String, String> = HashMap::new();
        let mut samples: Vec<(String, HashMap<String, String>, f64)> = Vec::new();
        let valid_name = |n: &str| {
            !n.is_empty()
                && n.chars()
                    .enumerate()
                    .all(|(i, c)| c == '_' || c == ':' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()))
        };
        for line in text.lines().filter(|l| !l.is_empty()) {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
                assert!(valid_name(name), "{line}");
                assert!(helps.insert(name.to_string(), help.to_string()).is_none(), "two HELP lines for {name}");
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                assert!(["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind), "{line}");
                assert!(types.insert(name.to_string(), kind.to_string()).is_none(), "two TYPE lines for {name}");
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
        assert_eq!(helps.len(), types.len(), "every metric has HELP and TYPE");
        assert!(helps.keys().all(|n| types.contains_key(n)), "every metric has HELP and TYPE");
        Exposition { helps, types, samples }
    }

    /// The family a sample belongs to (a histogram's `_bucket`, `_sum` and `_count` belong to
    /// the histogram), and the suffix that took it there.
    fn family<'a>(&self, name: &'a str) -> Option<(&'a str, &'a str)> {
        if self.types.contains_key(name) {
            return Some((name, ""));
        }
        ["_bucket", "_sum", "_count"]
            .into_iter()
            .find_map(|s| name.strip_suffix(s).map(|f| (f, s)))
            .filter(|(f, _)| self.types.get(*f).is_some_and(|t| t == "histogram"))
    }
}

/// /metrics is valid Prometheus text: every sample line parses, every metric has HELP and
/// TYPE, and the tick histogram's buckets are cumulative and end at the count.
#[tokio::test]
async fn metrics_parse_as_prometheus_text() {
    let server = start_server(config()).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (status, text) = http_get(server.local_addr(), "/metrics", Some(TOKEN)).await.unwrap();
    assert_eq!(status, 200);
    let exposition = Exposition::parse(&text);
    let Exposition { types, samples, .. } = &exposition;
    for (name, _, _) in samples {
        assert!(exposition.family(name).is_some(), "{name} has no TYPE");
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
    for phase in ["inbound", "physics", "publish"] {
        for metric in ["asteroids_tick_phase_seconds_total", "asteroids_tick_phase_ms_mean"] {
            assert!(
                samples.iter().any(|(n, l, _)| n == metric && l.get("phase").is_some_and(|p| p == phase)),
                "{metric}{{phase=\"{phase}\"}} missing"
            );
        }
    }
    server.shutdown().await;
}

/// Every number in /admin/stats has its Prometheus series and every series its number in
/// the JSON (each HELP line names its JSON place), so neither rendering can gain a figure alone.
#[tokio::test]
async fn stats_and_metrics_carry_the_same_figures() {
    let server = start_server(config()).await;
    let (mut c, w) = Client::join(server.local_addr(), "Counted").await.unwrap();
    c.view(w.ship_position, [1920.0, 1080.0]).await.unwrap();
    for _ in 0..5 {
        c.snapshot().await.unwrap();
    }
    let addr = server.local_addr();
    let (_, body) = http_get(addr, "/admin/stats", Some(TOKEN)).await.unwrap();
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    let (_, text) = http_get(addr, "/metrics", Some(TOKEN)).await.unwrap();
    let exposition = Exposition::parse(&text);

    // Prometheus → JSON: each sample names, through its family's HELP, a number in the JSON.
    let mut claimed: HashSet<Vec<String>> = HashSet::new();
    for (name, labels, _) in &exposition.samples {
        let (family, suffix) = exposition.family(name).unwrap_or_else(|| panic!("{name} has no TYPE"));
        let help = &exposition.helps[family];
        let (_, place) = help.rsplit_once(" JSON: ").unwrap_or_else(|| panic!("{family}'s HELP names no JSON field"));
        let mut path: Vec<String> = place
            .split('.')
            .map(|segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(label) => labels.get(label).unwrap_or_else(|| panic!("{name} lacks label {label}")).clone(),
                None => segment.to_string(),
            })
            .collect();
        match suffix {
            "_bucket" => path.extend(["bucket".to_string(), labels["le"].clone()]),
            "_sum" => path.push("sum".into()),
            "_count" => path.push("count".into()),
            _ => {}
        }
        let value = path.iter().fold(&doc, |v, key| &v[key]);
        assert!(value.is_number(), "{name}{labels:?} is at {path:?} in the JSON, which holds {value}");
        assert!(claimed.insert(path.clone()), "two series claim {path:?}");
    }

    // JSON → Prometheus: every number was claimed by a series. The drill-downs (per
    // connection, per crowded address, per untrusted forwarder) are left out on purpose: a
    // series per connection or address would be unbounded label cardinality; their totals
    // are counters of their own.
    const DRILL_DOWNS: [&str; 3] = ["connections_detail", "crowded_addresses", "untrusted_forwarders"];
    fn leaves(v: &serde_json::Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    if path.is_empty() && DRILL_DOWNS.contains(&k.as_str()) {
                        continue;
                    }
                    path.push(k.clone());
                    leaves(v, path, out);
                    path.pop();
                }
            }
            serde_json::Value::Number(_) => out.push(path.clone()),
            other => panic!("{path:?} holds {other}, not a number or an object"),
        }
    }
    let mut numbers = Vec::new();
    leaves(&doc, &mut Vec::new(), &mut numbers);
    for path in &numbers {
        assert!(claimed.contains(path), "{path:?} is in /admin/stats but in no /metrics series");
    }
    assert_eq!(numbers.len(), claimed.len());
    for drill_down in DRILL_DOWNS {
        assert!(doc[drill_down].is_array(), "the drill-down {drill_down} is still there");
    }
    server.shutdown().await;
}

/// One admin request from the local address `source` (another client address to the server
/// when it is not 127.0.0.1): its status and `Retry-After`.
async fn admin_from(source: std::net::IpAddr, addr: std::net::SocketAddr, bearer: &str) -> (u16, Option<String>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(std::net::SocketAddr::new(source, 0)).unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    let request = format!(
        "GET /admin/stats HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {bearer}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw);
    let status = text.split(' ').nth(1).unwrap().parse().unwrap();
    let retry_after =
        text.lines().find_map(|l| l.to_ascii_lowercase().strip_prefix("retry-after: ").map(|v| v.trim().to_string()));
    (status, retry_after)
}

/// Regression (issue 23: admin tokens could be guessed 59,940 times a second, unseen): wrong
/// tokens are counted, and past the per-address budget that address is answered 429 with
/// `Retry-After`, even with the right token (its guesses are not even compared), while
/// another address still gets in; both counters reach /metrics.
#[tokio::test]
async fn wrong_admin_tokens_are_counted_and_slowed_per_address() {
    let mut config = config();
    config.limits.admin_auth_failures_per_minute = 3;
    let server = start_server(config).await;
    let addr = server.local_addr();
    let guesser: std::net::IpAddr = [127, 0, 0, 2].into();
    for guess in ["guess-0000000001", "guess-0000000002", "guess-0000000003"] {
        assert_eq!(admin_from(guesser, addr, guess).await, (401, None));
    }
    let (status, retry_after) = admin_from(guesser, addr, "guess-0000000004").await;
    assert_eq!(status, 429, "the budget is spent");
    let secs: u64 = retry_after.expect("a Retry-After").parse().unwrap();
    assert!((1..=60).contains(&secs), "until the minute ends: {secs}");
    assert_eq!(admin_from(guesser, addr, TOKEN).await.0, 429, "not even the right token is compared meanwhile");
    assert_eq!(admin_from([127, 0, 0, 3].into(), addr, TOKEN).await.0, 200, "another address is not slowed");
    let stats = server.stats();
    use std::sync::atomic::Ordering;
    assert_eq!(stats.admin_auth_failures.load(Ordering::Relaxed), 3);
    assert_eq!(stats.admin_auth_throttled.load(Ordering::Relaxed), 2);
    let (_, metrics) = http_get(addr, "/metrics", Some(TOKEN)).await.unwrap();
    assert!(metrics.contains("asteroids_admin_auth_failures_total 3"), "{metrics}");
    assert!(metrics.contains("asteroids_admin_auth_throttled_total 2"), "{metrics}");
    server.shutdown().await;
}

/// The server's `Debug` (the new lint made every type have one) never prints the admin token.
#[tokio::test]
async fn the_servers_debug_never_shows_the_admin_token() {
    let server = start_server(config()).await;
    let shown = format!("{server:?}");
    assert!(shown.contains("AppState"), "{shown}");
    assert!(!shown.contains(TOKEN), "the token is in {shown}");
    server.shutdown().await;
}
