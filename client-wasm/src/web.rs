//! The whole `#[wasm_bindgen]` surface: what `www/main.js` calls. Each method forwards to
//! [`Client`]; this file only converts between JavaScript and Rust values.

use crate::client::Client;
use crate::touch::TouchPhase;
use shared::protocol::SectorCoord;
use wasm_bindgen::prelude::*;
use web_sys::CanvasRenderingContext2d;

/// The game client, as the page holds it.
#[wasm_bindgen]
#[derive(Debug)]
pub struct GameClient {
    inner: Client,
    width: f64,
    height: f64,
}

#[wasm_bindgen]
impl GameClient {
    /// A client for a player called `name`, continuing `token`'s identity if given.
    #[wasm_bindgen(constructor)]
    pub fn new(name: String, token: Option<String>) -> GameClient {
        GameClient { inner: Client::new(&name, token), width: 1280.0, height: 720.0 }
    }

    /// A client that watches without playing (the page behind its name form): it follows the
    /// featured pilot.
    pub fn spectator() -> GameClient {
        GameClient { inner: Client::spectator(), width: 1280.0, height: 720.0 }
    }

    /// The socket opened (`now_ms`: `performance.now()`).
    pub fn on_open(&mut self, now_ms: f64) {
        self.inner.on_open(now_ms);
    }

    /// A binary message arrived (`now_ms`: `performance.now()`).
    pub fn on_message(&mut self, bytes: &[u8], now_ms: f64) -> Result<(), JsError> {
        self.inner.on_message(bytes, now_ms).map_err(|e| JsError::new(&e.to_string()))
    }

    /// The socket closed.
    pub fn on_close(&mut self, code: u16, reason: String) {
        self.inner.on_close(code, &reason);
    }

    /// A token the server just issued for this identity, once: the page keeps it (local
    /// storage) and passes it to later `GameClient`s.
    pub fn take_token(&mut self) -> Option<String> {
        self.inner.take_token()
    }

    /// Whether the token this browser saved is void (its identity was revoked, or the server
    /// refused it for this name): the page forgets it, so that the name can be claimed afresh.
    pub fn token_void(&self) -> bool {
        self.inner.session().connection.token_void
    }

    /// Whether the server refused this name or token (the page asks for another name).
    pub fn rejected(&self) -> bool {
        matches!(self.inner.session().connection.phase, crate::session::Phase::Rejected { reload: false, .. })
    }

    /// The game socket to open: set by a hand-over into another sector, by
    /// [`GameClient::choose_sector`], and by failing over to another sector; `undefined`: the
    /// page's own server.
    pub fn socket_url(&self) -> Option<String> {
        self.inner.session().socket_url().map(str::to_string)
    }

    /// A sector of the universe, from `/api/universe` (before the first connection).
    pub fn know_sector(&mut self, width: u16, height: u16, x: u16, y: u16, url: String, players: u32, capacity: u32) {
        let sector = shared::protocol::SectorStatus { sector: SectorCoord { x, y }, url, players, capacity };
        self.inner.session_mut().know_sector([width, height], sector);
    }

    /// Chooses where to play: sector `(x, y)` if it is known and not full (a negative `x`: no
    /// preference), else the least loaded; returns its socket.
    pub fn choose_sector(&mut self, x: i32, y: i32) -> Option<String> {
        let wanted = (x >= 0 && y >= 0).then(|| SectorCoord { x: x as u16, y: y as u16 });
        self.inner.session_mut().choose_sector(wanted).map(str::to_string)
    }

    /// Whether to open a new socket after [`GameClient::reconnect_delay_ms`].
    pub fn should_reconnect(&self) -> bool {
        self.inner.session().should_reconnect()
    }

    /// How long to wait before reconnecting (exponential backoff).
    pub fn reconnect_delay_ms(&self) -> f64 {
        self.inner.session().reconnect_delay_ms()
    }

    /// A key changed (`code`: `KeyboardEvent.code`); returns whether the game used it.
    pub fn key(&mut self, code: &str, down: bool) -> bool {
        self.inner.key(code, down)
    }

    /// The window lost focus.
    pub fn blur(&mut self) {
        self.inner.blur();
    }

    /// A touch changed (`phase`: "start", "move", "end" or "cancel"; `id`: `Touch.identifier`;
    /// `x`, `y`: `clientX`, `clientY`). Unknown phases are ignored.
    pub fn touch(&mut self, phase: &str, id: i32, x: f64, y: f64) {
        let phase = match phase {
            "start" => TouchPhase::Start,
            "move" => TouchPhase::Move,
            "end" | "cancel" => TouchPhase::End,
            _ => return,
        };
        if x.is_finite() && y.is_finite() {
            self.inner.touch(phase, id, glam::Vec2::new(x as f32, y as f32));
        }
    }

    /// Draw the touch controls before the first touch (`(pointer: coarse)` matches).
    pub fn show_touch_controls(&mut self) {
        self.inner.show_touch_controls();
    }

    /// The first connected gamepad this frame: its axes, each button's value, each button's
    /// pressed flag (1 or 0).
    pub fn gamepad(&mut self, axes: &[f32], values: &[f32], pressed: &[u8]) {
        self.inner.gamepad(Some((axes, values, pressed)));
    }

    /// No gamepad is connected (any controls one held are released).
    pub fn no_gamepad(&mut self) {
        self.inner.gamepad(None);
    }

    /// The last frame's text boxes, `[x, y, width, height]` each in CSS pixels, flattened (for
    /// the page's layout tests).
    pub fn text_boxes(&self) -> Vec<f32> {
        self.inner.text_boxes().iter().flatten().copied().collect()
    }

    /// The canvas's size in CSS pixels.
    pub fn resize(&mut self, width: f64, height: f64) {
        self.width = width;
        self.height = height;
        self.inner.resize(width as f32, height as f32);
    }

    /// The next message to send on the socket, if any.
    pub fn take_outgoing(&mut self) -> Option<Vec<u8>> {
        self.inner.take_outgoing()
    }

    /// Advances to `now_ms` and draws a frame.
    pub fn frame(&mut self, now_ms: f64, ctx: &CanvasRenderingContext2d, dpr: f64) {
        let scene = self.inner.frame(now_ms);
        crate::canvas::draw(ctx, &scene, self.width, self.height, dpr);
    }

    /// The debug figures (`window.asteroids.stats`), as a plain object: the client's
    /// `DebugStats`, serialized field for field.
    pub fn stats(&mut self, now_ms: f64) -> JsValue {
        let figures = self.inner.debug_stats(now_ms);
        serde_json::to_string(&figures).ok().and_then(|json| js_sys::JSON::parse(&json).ok()).unwrap_or(JsValue::NULL)
    }
}
