//! Everything the server and its clients must agree on, and nothing else.
//!
//! This crate is pure: no IO, no async runtime, no physics engine, no browser bindings. It
//! builds for native targets and for `wasm32-unknown-unknown`, so the browser client, the bot
//! swarm, the integration tests and the server all link the very same code for:
//!
//! - [`entity`]: what an entity is ([`entity::EntityKind`]) and how big each kind is;
//! - [`protocol`]: every message in both directions, plain serde types;
//! - [`codec`]: the one encode/decode pair (postcard) and the validation done at the socket;
//! - [`quant`]: the wire quantization of an entity's state;
//! - [`constants`]: tick rate, dt, damping per entity kind, limits, `PROTOCOL_VERSION`;
//! - [`grid`]: a sector's place in a universe's grid, and the exact mapping of a state across
//!   an edge;
//! - [`helm`]: the gun's cooldown, the shot and the spawn shield, one tick's rule for both
//!   the server and the page's prediction;
//! - [`kinematics`]: the damping-exact motion model (a mirror of rapier2d's integrator);
//! - [`replica`]: a client's copy of the world, built by applying snapshots;
//! - [`stats`]: percentiles, computed one way by the server, the benchmark and the bots;
//! - [`ticket`]: what a hand-over ticket between two sectors of a universe says;
//! - [`time`]: an instant ([`time::Tick`]) and a duration ([`time::Ticks`]) of the simulation.

pub mod codec;
pub mod constants;
pub mod entity;
pub mod grid;
pub mod helm;
pub mod kinematics;
pub mod protocol;
pub mod quant;
pub mod replica;
pub mod stats;
pub mod ticket;
pub mod time;

pub use constants::PROTOCOL_VERSION;
