//! Operators' routes: `GET /admin/stats` (JSON) and `GET /metrics` (Prometheus text), both
//! rendered from the one table of figures in [`crate::metrics`], `POST /admin/revoke/{name}`
//! and `POST /admin/release/{name}`, all behind a bearer token; and `GET /admin`, a page with
//! live charts that asks for the token once and keeps it in the browser's session storage.

use crate::metrics::{self, Sources};
use crate::AppState;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::Value;
use std::sync::atomic::Ordering;

/// The admin routes, with the token check on the data routes.
pub fn router(state: AppState) -> Router<AppState> {
    let protected = Router::new()
        .route("/admin/stats", get(stats))
        .route("/metrics", get(metrics))
        .route("/admin/revoke/{name}", axum::routing::post(revoke))
        .route("/admin/release/{name}", axum::routing::post(release))
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

/// The per-connection drill-down of `/admin/stats` (not in `/metrics`: see [`crate::metrics`]).
fn connections_detail(state: &AppState) -> Vec<Connection> {
    state
        .stats
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
        .collect()
}

/// Calls `f` with what the figures are read from, now.
fn with_sources<T>(state: &AppState, f: impl FnOnce(&Sources<'_>) -> T) -> T {
    let frame = state.frames.borrow().clone();
    f(&Sources { stats: &state.stats, frame: &frame, dropped_score_changes: state.store.dropped() })
}

/// `GET /admin/stats`: every figure of [`crate::metrics`], and `connections_detail`.
async fn stats(State(state): State<AppState>) -> Json<Value> {
    let mut doc = with_sources(&state, metrics::json);
    let detail = serde_json::to_value(connections_detail(&state)).unwrap_or_default();
    doc.insert("connections_detail".into(), detail);
    if let Some(universe) = &state.universe {
        doc.insert("universe".into(), crate::net::http::universe_json(universe));
    }
    Json(Value::Object(doc))
}

/// `GET /metrics`: every figure of [`crate::metrics`], as Prometheus text.
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let sector = state.universe.as_ref().map(|u| shared::grid::sector_name(u.grid.sector));
    let text = with_sources(&state, |s| metrics::prometheus(s, sector.as_deref()));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text)
}

/// `POST /admin/revoke/{name}`: that name's token is never accepted again, and a live session
/// of the identity ends at once: closed 4003, its ship removed without waiting to be resumed.
/// Score changes the store receives after the revoke are discarded. The identity leaves the
/// public boards; its row and committed scores stay in the file. The name stays taken for
/// `--revoked-name-hold-hours` (or until `POST /admin/release/{name}`), then anyone may claim
/// it. 204 if the name exists, 404 otherwise.
async fn revoke(State(state): State<AppState>, axum::extract::Path(name): axum::extract::Path<String>) -> StatusCode {
    let Some(identity) = state.store.revoke(&name).await else { return StatusCode::NOT_FOUND };
    state.admission.revoked(identity);
    // Waits for room rather than fail: the revoke is done, and its session must end.
    if state.sim.send(crate::sim::SimEvent::Revoke { identity }).await.is_err() {
        tracing::warn!(name, "token revoked, but the simulation has stopped");
    }
    tracing::info!(name, identity, "token revoked");
    StatusCode::NO_CONTENT
}

/// `POST /admin/release/{name}`: a revoked identity's name is free at once (its row is kept,
/// archived, with its scores). 204 when released, 409 if the name's identity is not revoked
/// (revoke it first), 404 if nobody holds the name.
async fn release(State(state): State<AppState>, axum::extract::Path(name): axum::extract::Path<String>) -> StatusCode {
    match state.store.release(&name).await {
        crate::store::Release::Released => {
            tracing::info!(name, "revoked name released");
            StatusCode::NO_CONTENT
        }
        crate::store::Release::NotRevoked => StatusCode::CONFLICT,
        crate::store::Release::Unknown => StatusCode::NOT_FOUND,
    }
}

async fn page() -> Html<&'static str> {
    Html(include_str!("admin.html"))
}
