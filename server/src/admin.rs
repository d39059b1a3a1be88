//! Operators' routes: `GET /admin/stats` (JSON) and `GET /metrics` (Prometheus text), both
//! behind a bearer token, and `GET /admin`, a page with live charts that asks for the token
//! once and keeps it in the browser's session storage.

use crate::frame::TICK_BUCKETS_MS;
use crate::AppState;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use rand::Rng;
use serde::Serialize;
use shared::constants::TICK_HZ;
use shared::protocol::EntityKind;
use std::fmt::Write;
use std::sync::atomic::Ordering;

/// A fresh random token: 128 bits, hex.
pub fn random_token() -> String {
    let bytes: [u8; 16] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The admin routes, with the token check on the data routes.
pub fn router(state: AppState) -> Router<AppState> {
    let protected = Router::new()
        .route("/admin/stats", get(stats))
        .route("/metrics", get(metrics))
        .route("/admin/revoke/{name}", axum::routing::post(revoke))
        .route_layer(middleware::from_fn_with_state(state, require_token));
    Router::new().route("/admin", get(page)).merge(protected)
}

/// Compares in time independent of where the strings differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn require_token(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if same(given.as_bytes(), state.admin_token.as_bytes()) {
        next.run(req).await
    } else {
        (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], "missing or wrong admin token\n")
            .into_response()
    }
}

/// Tick time over the last 10 s.
#[derive(Serialize)]
pub struct TickMs {
    /// Median, milliseconds.
    pub p50: f32,
    /// 99th percentile, milliseconds.
    pub p99: f32,
    /// Maximum, milliseconds.
    pub max: f32,
}

/// Entities by kind.
#[derive(Serialize)]
pub struct Entities {
    /// Ships.
    pub ships: usize,
    /// Asteroids of every size.
    pub asteroids: usize,
    /// Bullets.
    pub bullets: usize,
}

/// One connection in the drill-down.
#[derive(Serialize)]
pub struct Connection {
    /// Connection id.
    pub id: u64,
    /// Player id.
    pub player: u32,
    /// Player name.
    pub name: String,
    /// Seconds since the handshake.
    pub connected_secs: f64,
    /// The clamped view: `[x, y, w, h]`.
    pub view: [f32; 4],
    /// Entities in view at the last snapshot.
    pub entities_in_view: u32,
    /// Bytes sent per second.
    pub bytes_out_per_sec: f64,
    /// Bytes sent in total.
    pub bytes_out: u64,
    /// Bytes received in total.
    pub bytes_in: u64,
    /// Snapshots sent.
    pub snapshots: u64,
    /// Frames waiting to be written: 0 or 1 (latest wins).
    pub pending_frames: u32,
    /// Round trip of the last WebSocket ping, milliseconds.
    pub rtt_ms: Option<f64>,
}

/// The `/admin/stats` document.
#[derive(Serialize)]
pub struct StatsDoc {
    /// Seconds since start.
    pub uptime_secs: f64,
    /// The last published tick.
    pub tick: u32,
    /// Ticks per second.
    pub tick_hz: u32,
    /// Tick duration over the last 10 s.
    pub tick_ms: TickMs,
    /// Ticks skipped because the simulation fell behind.
    pub missed_ticks: u64,
    /// Open game connections.
    pub connections: u64,
    /// Players in the world.
    pub players: usize,
    /// Entities by kind.
    pub entities: Entities,
    /// Snapshots sent per second.
    pub snapshots_per_sec: f64,
    /// Bytes sent per second.
    pub bytes_out_per_sec: f64,
    /// Bytes received per second.
    pub bytes_in_per_sec: f64,
    /// Messages rejected as invalid since start.
    pub invalid_messages: u64,
    /// Inputs dropped because the simulation's queue was full.
    pub dropped_inputs: u64,
    /// Handshakes that timed out.
    pub handshake_timeouts: u64,
    /// Client messages dropped for exceeding the per-connection rate.
    pub rate_limited: u64,
    /// Upgrades refused for a foreign Origin.
    pub origin_rejected: u64,
    /// Upgrades refused at the connection cap.
    pub full_rejected: u64,
    /// Score changes dropped because the store's queue was full.
    pub dropped_score_changes: u64,
    /// Per connection.
    pub connections_detail: Vec<Connection>,
}

fn collect(state: &AppState) -> StatsDoc {
    let frame = state.frames.borrow().clone();
    let s = &state.stats;
    let (mut ships, mut asteroids, mut bullets) = (0, 0, 0);
    for e in &frame.entities {
        match e.kind {
            EntityKind::Ship => ships += 1,
            EntityKind::Bullet => bullets += 1,
            _ => asteroids += 1,
        }
    }
    let connections_detail = s
        .session_list()
        .iter()
        .map(|c| {
            let rtt = c.rtt_us.load(Ordering::Relaxed);
            Connection {
                id: c.id,
                player: c.player,
                name: c.name.clone(),
                connected_secs: c.since.elapsed().as_secs_f64(),
                view: c.view(),
                entities_in_view: c.entities_in_view.load(Ordering::Relaxed),
                bytes_out_per_sec: c.bytes_out_per_sec.get(),
                bytes_out: c.bytes_out.load(Ordering::Relaxed),
                bytes_in: c.bytes_in.load(Ordering::Relaxed),
                snapshots: c.snapshots.load(Ordering::Relaxed),
                pending_frames: c.sending.load(Ordering::Relaxed) as u32,
                rtt_ms: (rtt > 0).then_some(rtt as f64 / 1000.0),
            }
        })
        .collect();
    StatsDoc {
        uptime_secs: s.started.elapsed().as_secs_f64(),
        tick: frame.tick,
        tick_hz: TICK_HZ,
        tick_ms: TickMs { p50: frame.timing.tick_ms_p50, p99: frame.timing.tick_ms_p99, max: frame.timing.tick_ms_max },
        missed_ticks: frame.timing.missed_ticks,
        connections: s.connections.load(Ordering::Relaxed),
        players: frame.players.len(),
        entities: Entities { ships, asteroids, bullets },
        snapshots_per_sec: s.snapshots_per_sec.get(),
        bytes_out_per_sec: s.bytes_out_per_sec.get(),
        bytes_in_per_sec: s.bytes_in_per_sec.get(),
        invalid_messages: s.invalid_messages.load(Ordering::Relaxed),
        dropped_inputs: s.dropped_inputs.load(Ordering::Relaxed),
        handshake_timeouts: s.handshake_timeouts.load(Ordering::Relaxed),
        rate_limited: s.rate_limited.load(Ordering::Relaxed),
        origin_rejected: s.origin_rejected.load(Ordering::Relaxed),
        full_rejected: s.full_rejected.load(Ordering::Relaxed),
        dropped_score_changes: state.store.dropped(),
        connections_detail,
    }
}

async fn stats(State(state): State<AppState>) -> Json<StatsDoc> {
    Json(collect(&state))
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let doc = collect(&state);
    let timing = state.frames.borrow().timing;
    let s = &state.stats;
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, kind: &str, value: f64| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
    };
    gauge("asteroids_uptime_seconds", "Seconds since the server started.", "gauge", doc.uptime_secs);
    gauge("asteroids_tick", "Last published simulation tick.", "gauge", doc.tick as f64);
    gauge(
        "asteroids_missed_ticks_total",
        "Ticks skipped because the simulation fell behind.",
        "counter",
        doc.missed_ticks as f64,
    );
    gauge("asteroids_connections", "Open game connections.", "gauge", doc.connections as f64);
    gauge("asteroids_players", "Players in the world.", "gauge", doc.players as f64);
    gauge("asteroids_snapshots_sent_total", "Snapshots sent.", "counter", s.snapshots.load(Ordering::Relaxed) as f64);
    gauge(
        "asteroids_bytes_out_total",
        "Bytes sent in binary WebSocket messages.",
        "counter",
        s.bytes_out.load(Ordering::Relaxed) as f64,
    );
    gauge(
        "asteroids_bytes_in_total",
        "Bytes received in binary WebSocket messages.",
        "counter",
        s.bytes_in.load(Ordering::Relaxed) as f64,
    );
    gauge(
        "asteroids_invalid_messages_total",
        "Client messages rejected as invalid.",
        "counter",
        doc.invalid_messages as f64,
    );
    gauge(
        "asteroids_dropped_inputs_total",
        "Inputs dropped because the simulation queue was full.",
        "counter",
        doc.dropped_inputs as f64,
    );
    gauge(
        "asteroids_handshake_timeouts_total",
        "Connections closed for not saying Hello in time.",
        "counter",
        doc.handshake_timeouts as f64,
    );
    let _ = writeln!(out, "# HELP asteroids_entities Entities in the world by kind.\n# TYPE asteroids_entities gauge");
    for (kind, n) in
        [("ship", doc.entities.ships), ("asteroid", doc.entities.asteroids), ("bullet", doc.entities.bullets)]
    {
        let _ = writeln!(out, "asteroids_entities{{kind=\"{kind}\"}} {n}");
    }
    let _ = writeln!(out, "# HELP asteroids_tick_duration_seconds Duration of simulation ticks.\n# TYPE asteroids_tick_duration_seconds histogram");
    for (le, count) in TICK_BUCKETS_MS.iter().zip(timing.tick_buckets) {
        let _ = writeln!(out, "asteroids_tick_duration_seconds_bucket{{le=\"{}\"}} {count}", le / 1000.0);
    }
    let _ = writeln!(out, "asteroids_tick_duration_seconds_bucket{{le=\"+Inf\"}} {}", timing.ticks);
    let _ = writeln!(out, "asteroids_tick_duration_seconds_sum {}", timing.tick_secs_sum);
    let _ = writeln!(out, "asteroids_tick_duration_seconds_count {}", timing.ticks);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], out)
}

/// `POST /admin/revoke/{name}`: that name's token is never accepted again (the name stays
/// taken). 204 if the name exists, 404 otherwise.
async fn revoke(State(state): State<AppState>, axum::extract::Path(name): axum::extract::Path<String>) -> StatusCode {
    if state.store.revoke(&name).await {
        tracing::info!(name, "token revoked");
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

async fn page() -> Html<&'static str> {
    Html(include_str!("admin.html"))
}
