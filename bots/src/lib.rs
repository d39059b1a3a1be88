//! The load-test swarm: bots that connect over real WebSockets, speak the real protocol,
//! keep a replica with `shared::kinematics` exactly as the browser does, behave like players,
//! and measure what a player would feel (see [`report::Report`]).
//!
//! - [`behavior`]: what each kind of bot does with its ship;
//! - [`bot`]: one bot's connection and measurements;
//! - [`report`]: aggregation into the final report (table and JSON);
//! - [`swarm`]: ramp-up, the live progress line, the deadline.

pub mod behavior;
pub mod bot;
pub mod report;
pub mod swarm;

pub use swarm::{run, SwarmConfig};
