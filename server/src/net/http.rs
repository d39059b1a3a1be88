//! HTTP routes: the browser client's files, the game socket, the health check.

use super::address::{self, AddressKey};
use super::admission::Refusal;
use super::session;
use crate::AppState;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ConnectInfo;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use shared::constants::MAX_CLIENT_MESSAGE_BYTES;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::Ordering;
use tower_http::services::ServeDir;

/// Bytes of outgoing data a connection may buffer beyond what the socket accepted; past it a
/// send fails and the session ends. Snapshots are small (a few KiB at most), so this only
/// bounds memory for a client that stopped reading.
pub const MAX_WRITE_BUFFER_BYTES: usize = 256 * 1024;

/// Size of each connection's read buffer. Client messages are tiny (an input is about 20
/// bytes; at most `MAX_CLIENT_MESSAGE_BYTES`, which then takes two reads); tungstenite's
/// default of 128 KiB is zeroed on every read, which with a thousand chatty clients cost more
/// CPU than the game's own work, and the buffer is held for the connection's life: at 8 KiB it
/// was the largest single part of a connection's memory (heaptrack, issue 27).
pub const READ_BUFFER_BYTES: usize = 2 * 1024;

/// The file the wasm build produces; without it the page cannot run.
pub const CLIENT_WASM: &str = "pkg/asteroids_client_bg.wasm";

/// The server's routes, with `operators`' (the admin routes, which have their own auth layer)
/// merged in. `www` is the directory of the browser client (with the wasm build in `www/pkg/`).
pub fn router(state: AppState, www: &Path, operators: Router<AppState>) -> Router {
    let routes = Router::new()
        .route("/ws", get(ws_upgrade))
        .route("/healthz", get(healthz))
        .route("/api/leaderboard", get(leaderboard))
        .route("/api/players/{name}", get(player))
        .route("/api/universe", get(universe))
        .merge(operators);
    let missing: Vec<&str> = ["index.html", CLIENT_WASM].into_iter().filter(|f| !www.join(f).is_file()).collect();
    let routes = if missing.is_empty() {
        routes.fallback_service(ServeDir::new(www))
    } else {
        tracing::warn!(dir = %www.display(), ?missing, "the browser client is not built; / explains how to build it");
        let msg = format!(
            "<!doctype html><title>Asteroids: client not built</title><h1>The browser client has not been built</h1>\
             <p>This server looks for it in <code>{}</code> and is missing <code>{}</code>. \
             Build it with <code>scripts/build-client.sh</code> (or start the game with <code>./run.sh</code>, \
             which builds it), then reload.</p><p>The game socket at <code>/ws</code> works without it.</p>",
            www.display(),
            missing.join(", ")
        );
        routes.fallback(move || async move { (StatusCode::SERVICE_UNAVAILABLE, Html(msg)) })
    };
    routes.with_state(state)
}

/// Whether `origin` is the page of a sector of this server's universe, listed now or before
/// (a page loaded from one sector follows its ship into the others, and fails over to them
/// when its own is gone).
fn sibling_sector(state: &AppState, origin: Option<&[u8]>) -> bool {
    let (Some(universe), Some(origin)) = (&state.universe, origin.and_then(|o| std::str::from_utf8(o).ok())) else {
        return false;
    };
    let Ok(origin) = super::origin::origin_of(origin) else { return false };
    universe.directory.ever_listed(|url| super::origin::origin_of(url).is_ok_and(|o| o == origin))
}

/// `GET /api/universe`: the universe's sectors as the directory lists them, from any sector:
/// `{"universe":true,"size":"W,H","sector":"X,Y","sectors":[{"sector":"X,Y","url":…,
/// "players":N,"capacity":N,"heartbeat_age_ms":N}, …]}`; on a lone server
/// `{"universe":false,"sectors":[]}` (every page asks, and a 404 would be an error in its
/// console).
async fn universe(State(state): State<AppState>) -> Response {
    let Some(universe) = &state.universe else {
        return axum::Json(serde_json::json!({ "universe": false, "sectors": [] })).into_response();
    };
    axum::Json(universe.json()).into_response()
}

/// `GET /api/leaderboard`: the best players online now, and of all time.
async fn leaderboard(State(state): State<AppState>) -> Response {
    let online = state.frames.borrow().leaderboard.board();
    let all_time = state.store.all_time();
    let entry = |e: &shared::protocol::LeaderboardEntry| serde_json::json!({ "name": e.name, "points": e.points, "kills": e.kills, "ai": e.ai });
    axum::Json(serde_json::json!({
        "online_players": online.online,
        "online": online.top.iter().map(entry).collect::<Vec<_>>(),
        "all_time": all_time.iter().map(entry).collect::<Vec<_>>(),
    }))
    .into_response()
}

/// `GET /api/players/{name}`: a pilot's committed all-time figures. A name nobody holds and
/// a name with no committed figures get the same answer (zeros, under the name as asked), so
/// the route cannot be used to list which names are registered; what it shows of a pilot who
/// has played is what the game shows anyway. A name that could never be valid gets 404.
async fn player(State(state): State<AppState>, axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    let Ok(asked) = shared::codec::validate_name(&name) else {
        return (StatusCode::NOT_FOUND, "not a valid pilot name").into_response();
    };
    let (name, t) = match state.store.player(&asked).await {
        Some((registered, t)) if t != crate::store::Totals::default() => (registered, t),
        _ => (asked, crate::store::Totals::default()),
    };
    axum::Json(serde_json::json!({
        "name": name, "hits": t.hits, "kills": t.kills, "deaths": t.deaths,
        "best_life_ticks": t.best_life_ticks, "points": t.points,
    }))
    .into_response()
}

/// `GET /healthz`: 200 `ok: tick N` while the simulation publishes frames; 503 when it has
/// stalled (no frame for [`HEALTHY_FRAME_AGE_MS`]) or the server is draining. What a load
/// balancer or an orchestrator's health check asks.
async fn healthz(State(state): State<AppState>) -> Response {
    if state.shutdown.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "draining").into_response();
    }
    let last = state.stats.last_frame_unix_ms.load(Ordering::Relaxed);
    let age_ms = crate::clock::unix_ms().saturating_sub(last);
    let tick = state.frames.borrow().tick;
    if last > 0 && age_ms > HEALTHY_FRAME_AGE_MS {
        let why = format!("the simulation has stalled: tick {tick}, last frame {age_ms} ms ago");
        return (StatusCode::SERVICE_UNAVAILABLE, why).into_response();
    }
    format!("ok: tick {tick}").into_response()
}

/// Oldest a published frame may be for `/healthz` to answer 200: frames come 20 times a
/// second, so a second without one means the simulation stopped or fell far behind.
pub const HEALTHY_FRAME_AGE_MS: u64 = 1000;

/// `GET /ws`: the game socket. Refused before the upgrade when shutting down (503), for a
/// foreign origin (403), at the connection cap (503) and at the per-address cap (429).
async fn ws_upgrade(
    ws: WebSocketUpgrade,
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if state.shutdown.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    let origin = headers.get(header::ORIGIN).map(|o| o.as_bytes());
    if !state.origins.allows(origin) && !sibling_sector(&state, origin) {
        state.stats.origin_rejected.fetch_add(1, Ordering::Relaxed);
        return (StatusCode::FORBIDDEN, "this origin may not open the game socket").into_response();
    }
    let trusted = &state.limits.trusted_proxies;
    if headers.contains_key(address::X_FORWARDED_FOR) && !address::is_one_of(peer.ip(), trusted) {
        state.untrusted_forwarders.saw(peer.ip());
    }
    let client = address::client_ip(peer.ip(), &headers, trusted);
    let slot = match state.admission.admit(AddressKey::of(client)) {
        Ok(slot) => slot,
        Err(Refusal::Full) => {
            state.stats.full_rejected.fetch_add(1, Ordering::Relaxed);
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, "10")],
                "the server is full: try again later",
            )
                .into_response();
        }
        Err(Refusal::AddressFull) => {
            state.stats.address_rejected.fetch_add(1, Ordering::Relaxed);
            let retry = state.admission.retry_after_secs().to_string();
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, retry)],
                "too many game connections from your address: close some, or try again later",
            )
                .into_response();
        }
    };
    let tracker = state.tracker.clone();
    ws.max_message_size(MAX_CLIENT_MESSAGE_BYTES)
        .read_buffer_size(READ_BUFFER_BYTES)
        .max_frame_size(MAX_CLIENT_MESSAGE_BYTES)
        .max_write_buffer_size(MAX_WRITE_BUFFER_BYTES)
        .on_upgrade(move |socket| tracker.track_future(session::serve(socket, state, slot)))
}
