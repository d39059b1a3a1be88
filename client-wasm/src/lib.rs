//! The browser client. Everything that decides anything is plain Rust that compiles and is
//! tested natively:
//!
//! - [`session`]: the connection's protocol state (handshake, snapshots into the one
//!   [`shared::replica::Replica`], events, leaderboard, ping, view requests, reconnect
//!   backoff). The bot swarm (`asteroids-bots`) drives this same module natively, so every
//!   load test also tests the page's protocol code;
//! - [`clock`]: the server's present and the own ship's tick, on the server's timeline, kept
//!   from snapshot arrivals, the round trip and the margins the server reports;
//! - [`predict`]: the own ship and its shots, predicted from the last authoritative state with
//!   the inputs the server has not yet applied: controls answer on the next frame;
//! - [`view`]: the model/view split: the model is the session's replica, exact and snapped to
//!   the server; the view extrapolates it to the server's present with `shared::kinematics`,
//!   draws the own ship where the prediction has it, and eases corrections away over
//!   [`view::BLEND_MS`];
//! - [`client`]: all of the above put together, driven by the page's events; the one place a
//!   server message is decoded;
//! - [`input`]: keys, touch and gamepad (or a bot's [`input::Intent`]) to inputs, sent only
//!   when they change;
//! - [`touch`]: the thumb stick and fire button, finger by finger, to an intent, and their
//!   overlay;
//! - [`gamepad`]: a pad's axes and buttons to an intent;
//! - [`layout`]: how much of the field the camera shows and how large the HUD is, per screen;
//! - [`scene`]: what to draw (camera, shapes, starfield, the arrow to the action), as data;
//! - [`hud`]: the score, leaderboards, banner and debug panel, laid out on the scene;
//! - [`stats`]: the page's figures, in fixed-size time windows.
//!
//! Only two files touch the browser, both compiled for wasm32 alone: `web.rs` (the whole
//! `#[wasm_bindgen]` surface) and `canvas.rs` (draws a [`scene::Scene`] on a 2D canvas).

pub mod client;
pub mod clock;
pub mod gamepad;
pub mod hud;
pub mod input;
pub mod layout;
pub mod predict;
pub mod scene;
pub mod session;
pub mod stats;
pub mod touch;
pub mod view;

#[cfg(target_arch = "wasm32")]
mod canvas;
#[cfg(target_arch = "wasm32")]
mod web;
