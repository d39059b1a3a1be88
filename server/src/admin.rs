//! Operators' routes: `GET /admin/stats` (JSON) and `GET /metrics` (Prometheus text), both
//! rendered from the one table of figures in [`crate::metrics`], `POST /admin/revoke/{name}`,
//! `POST /admin/release/{name}` and `POST /admin/purge`, all behind a bearer token
//! (compared in constant time; wrong ones counted, logged at most once per
//! [`crate::limits::ADMIN_AUTH_LOG_INTERVAL`], and limited per client address by
//! [`AdminGuard`]); and `GET /admin`, a page with
//! live charts that asks for the token once and keeps it in the browser's session storage.

use crate::metrics::{self, Sources};
use crate::net::address::AddressKey;
use crate::AppState;
use axum::extract::ConnectInfo;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::Value;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::time::Instant;

/// The admin routes, with the token check on the data routes.
pub fn router(state: AppState) -> Router<AppState> {
    let protected = Router::new()
        .route("/admin/stats", get(stats))
        .route("/metrics", get(metrics))
        .route("/admin/revoke/{name}", axum::routing::post(revoke))
        .route("/admin/release/{name}", axum::routing::post(release))
        .route("/admin/purge", axum::routing::post(purge))
        .route_layer(middleware::from_fn_with_state(state, require_token));
    Router::new().route("/admin", get(page)).merge(protected)
}

/// Wrong admin tokens by client address (an IPv4 address or IPv6 /64, as the game's limits
/// count them), in fixed windows: an address that presented
/// [`crate::limits::ADMIN_AUTH_FAILURES_PER_MINUTE`] wrong tokens within its window is
/// answered 429 until the window ends, without its token being compared, so guessing is held
/// to that rate per address. The table holds only addresses that failed within their window,
/// and at most [`crate::limits::ADMIN_AUTH_TABLE_MAX`].
#[derive(Debug)]
pub struct AdminGuard {
    budget: u32,
    window: std::time::Duration,
    /// A std `Mutex`: nothing awaits while it is held, and it is taken once per admin request.
    table: std::sync::Mutex<GuardTable>,
}

#[derive(Debug)]
struct GuardTable {
    /// Each address's window: when it began, and the failures in it.
    failures: std::collections::HashMap<AddressKey, (Instant, u32)>,
    log: crate::limits::LogLimiter,
}

impl AdminGuard {
    /// At most `budget` failures per address per `window` (`--admin-auth-failures-per-minute`).
    pub fn new(budget: u32, window: std::time::Duration) -> AdminGuard {
        let log = crate::limits::LogLimiter::every(crate::limits::ADMIN_AUTH_LOG_INTERVAL);
        AdminGuard { budget, window, table: std::sync::Mutex::new(GuardTable { failures: Default::default(), log }) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GuardTable> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How long `address` must wait before its token is looked at again, if it spent its
    /// budget (or the table is full of other guessers).
    pub fn wait(&self, address: AddressKey, now: Instant) -> Option<std::time::Duration> {
        let mut t = self.lock();
        let window = self.window;
        match t.failures.get(&address).copied() {
            Some((since, _)) if now.duration_since(since) >= window => {
                t.failures.remove(&address);
                None
            }
            Some((since, n)) if n >= self.budget => Some(window - now.duration_since(since)),
            Some(_) => None,
            None if t.failures.len() >= crate::limits::ADMIN_AUTH_TABLE_MAX => {
                t.failures.retain(|_, (since, _)| now.duration_since(*since) < window);
                (t.failures.len() >= crate::limits::ADMIN_AUTH_TABLE_MAX).then_some(window)
            }
            None => None,
        }
    }

    /// Counts a wrong token from `address`; `Some(failures suppressed)` if it may be logged.
    pub fn failed(&self, address: AddressKey, now: Instant) -> Option<u64> {
        let mut t = self.lock();
        let window = self.window;
        let entry = t.failures.entry(address).or_insert((now, 0));
        if now.duration_since(entry.0) >= window {
            *entry = (now, 0);
        }
        entry.1 += 1;
        t.log.admit(now)
    }

    /// Addresses in the table.
    pub fn addresses(&self) -> usize {
        self.lock().failures.len()
    }
}

/// Compares in time independent of where the strings differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn require_token(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
    let client = crate::net::address::client_ip(peer, req.headers(), &state.limits.trusted_proxies);
    let address = AddressKey::of(client);
    let now = Instant::now();
    if let Some(wait) = state.admin_guard.wait(address, now) {
        state.stats.admin_auth_throttled.fetch_add(1, Ordering::Relaxed);
        let retry_after = wait.as_secs_f64().ceil().max(1.0).to_string();
        return (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, retry_after)], "too many wrong admin tokens\n")
            .into_response();
    }
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if same(given.as_bytes(), state.admin_token.as_bytes()) {
        next.run(req).await
    } else {
        state.stats.admin_auth_failures.fetch_add(1, Ordering::Relaxed);
        if let Some(suppressed) = state.admin_guard.failed(address, now) {
            tracing::warn!(
                %address,
                path = %req.uri().path(),
                suppressed,
                "wrong or missing admin token (further ones counted in admin_auth_failures)"
            );
        }
        (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], "missing or wrong admin token\n")
            .into_response()
    }
}

/// One connection in the drill-down.
#[derive(Debug, Serialize)]
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
    let crowded = state.admission.crowded_addresses();
    let crowded = crowded.iter().map(|(a, held)| serde_json::json!({ "address": a.to_string(), "connections": held }));
    doc.insert("crowded_addresses".into(), Value::Array(crowded.collect()));
    let forwarders = state.untrusted_forwarders.list();
    let forwarders = forwarders.iter().map(|(peer, n)| serde_json::json!({ "peer": peer, "requests": n }));
    doc.insert("untrusted_forwarders".into(), Value::Array(forwarders.collect()));
    if let Some(universe) = &state.universe {
        doc.insert("universe".into(), universe.json());
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

/// `POST /admin/purge?created_after=…&created_before=…&address=…&max_points=…`: deletes the
/// identities created within a window (Unix seconds, `created_after` inclusive,
/// `created_before` exclusive) and/or from a network (`address`: an IP address or a prefix
/// such as `2001:db8::/48`), optionally only those with at most `max_points` points, and frees
/// their names at once. Revoked identities, pilots online here, and the newest identity are
/// kept (see [`crate::store::Purge`]). 200 with `{"purged": n}`; 400 for an unknown or
/// malformed parameter, or for neither a window nor a network (a purge of everything); 503 if
/// the store failed.
async fn purge(
    State(state): State<AppState>,
    axum::extract::Query(query): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Response {
    let parsed = parse_purge(&query);
    let purge = match parsed {
        Ok(purge) if purge.is_narrowed() => purge,
        Ok(_) => {
            return (StatusCode::BAD_REQUEST, "name a window (created_after, created_before) or an address\n")
                .into_response()
        }
        Err(e) => return (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
    };
    match state.store.purge(purge.clone()).await {
        Some(purged) => {
            tracing::info!(?purge, purged, "identities purged by the operator");
            Json(serde_json::json!({ "purged": purged })).into_response()
        }
        None => (StatusCode::SERVICE_UNAVAILABLE, "the store failed: see the log\n").into_response(),
    }
}

/// The purge a query names.
fn parse_purge(query: &std::collections::HashMap<String, String>) -> Result<crate::store::Purge, String> {
    let mut purge = crate::store::Purge::default();
    let number = |key: &str, value: &str| value.parse::<i64>().map_err(|_| format!("{key}={value}: not a number"));
    for (key, value) in query {
        match key.as_str() {
            "created_after" => purge.created_after = Some(number(key, value)?),
            "created_before" => purge.created_before = Some(number(key, value)?),
            "max_points" => purge.max_points = Some(number(key, value)?),
            "address" => purge.network = Some(value.parse()?),
            _ => return Err(format!("unknown parameter {key}")),
        }
    }
    Ok(purge)
}

async fn page() -> Html<&'static str> {
    Html(include_str!("admin.html"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn key(last: u8) -> AddressKey {
        AddressKey::V4(std::net::Ipv4Addr::new(198, 51, 100, last))
    }

    /// An address gets its budget of failures per window, then waits out the rest of that
    /// window (the wait shrinking as it passes), and has a fresh budget after it; other
    /// addresses are not affected, and the table forgets an address whose window ended.
    #[test]
    fn the_guard_budgets_failures_per_address_and_window() {
        let guard = AdminGuard::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        for i in 0..3 {
            assert_eq!(guard.wait(key(1), t0), None, "failure {i} is within the budget");
            assert_eq!(guard.failed(key(1), t0).is_some(), i == 0, "only the first is logged");
        }
        assert_eq!(guard.wait(key(1), t0 + Duration::from_secs(10)), Some(Duration::from_secs(50)));
        assert_eq!(guard.wait(key(2), t0), None, "another address");
        assert_eq!(guard.wait(key(1), t0 + Duration::from_secs(60)), None, "a new window");
        assert_eq!(guard.addresses(), 0, "forgotten");
        let logged = (0..100).filter(|_| guard.failed(key(3), t0).is_some()).count();
        assert_eq!(logged, 0, "within the interval of the first failure's line");
        let later = t0 + crate::limits::ADMIN_AUTH_LOG_INTERVAL;
        assert_eq!(guard.failed(key(3), later), Some(102), "the next line counts the ones held back");
    }
}
