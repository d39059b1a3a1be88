//! HTTP routes: the browser client's files, the game socket, the health check.

use super::session;
use crate::AppState;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use shared::constants::MAX_CLIENT_MESSAGE_BYTES;
use std::path::Path;
use tower_http::services::ServeDir;

/// Bytes of outgoing data a connection may buffer beyond what the socket accepted; past it a
/// send fails and the session ends. Snapshots are small (a few KiB at most), so this only
/// bounds memory for a client that stopped reading.
pub const MAX_WRITE_BUFFER_BYTES: usize = 256 * 1024;

/// The server's routes. `www` is the directory of the built browser client.
pub fn router(state: AppState, www: &Path) -> Router {
    let routes = Router::new().route("/ws", get(ws_upgrade)).route("/healthz", get(healthz));
    let routes = if www.join("index.html").is_file() {
        routes.fallback_service(ServeDir::new(www))
    } else {
        let msg = format!(
            "<!doctype html><title>Asteroids: client not built</title><h1>The browser client has not been built</h1>\
             <p>This server looks for it in <code>{}</code> and found no <code>index.html</code> there. \
             Build it with the run command in the README, then reload.</p>",
            www.display()
        );
        routes.fallback(move || async move { (StatusCode::SERVICE_UNAVAILABLE, Html(msg)) })
    };
    routes.with_state(state)
}

async fn healthz() -> &'static str {
    "ok"
}

async fn ws_upgrade(ws: WebSocketUpgrade, State(state): State<AppState>) -> Response {
    if state.shutdown.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    let tracker = state.tracker.clone();
    ws.max_message_size(MAX_CLIENT_MESSAGE_BYTES)
        .max_frame_size(MAX_CLIENT_MESSAGE_BYTES)
        .max_write_buffer_size(MAX_WRITE_BUFFER_BYTES)
        .on_upgrade(move |socket| tracker.track_future(session::serve(socket, state)))
}
