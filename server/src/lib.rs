//! The Asteroids MMO server: an authoritative rapier2d simulation, and WebSocket sessions that
//! send each client a diff of what is in its view.
//!
//! Data flows one way: [`net::session`] validates client messages into [`sim::SimEvent`]s;
//! the simulation thread ([`sim`]) owns the world, steps it at 60 Hz and publishes
//! [`sim::frame::Frame`]s; each session diffs the newest frame against what its client knows
//! ([`net::interest`]) and sends the result. Beside that flow: [`store`] keeps identities and
//! scores, [`stats`] and [`metrics`] are what operators read through [`admin`].
//!
//! Where things are: [`config`] (the flags and their defaults), [`server`] (start, run, drain),
//! [`limits`] (what a connection is held to), [`token`] (random secrets), [`clock`] (the wall clock), [`universe`] (this
//! server as one sector of many: the directory, edges and hand-over tickets). `main` only starts
//! logging, parses [`Config`], binds and calls [`run`].

pub mod admin;
pub mod clock;
pub mod config;
pub mod figure;
pub mod limits;
pub mod metrics;
pub mod net;
pub mod server;
pub mod sim;
pub mod stats;
pub mod store;
pub mod token;
pub mod universe;

pub use config::Config;
pub use server::{run, start, AppState, Server};
pub use stats::Stats;
