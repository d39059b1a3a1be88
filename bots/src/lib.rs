//! The load-test swarm: bots that connect over real WebSockets and run the browser client's own
//! protocol code (`asteroids_client::session` natively, and for a sample of bots its replica
//! too), so every swarm run also tests the page. They behave like players, or break the rules
//! on purpose, and measure what a player would feel (see [`report::Report`]).
//!
//! - [`behavior`]: the swarm's behaviour and each bot's role (player or hostile);
//! - [`pilot`]: how a player bot flies (wander, fight, idle, voyage);
//! - [`abuse`]: how a hostile bot misbehaves (flood, garbage, stop-reading, silent);
//! - [`bot`]: one bot's connection, driving the page's session;
//! - [`light`]: what a light bot keeps instead of the page's replica (most bots of a large
//!   swarm: only a sample keeps full replicas and measures dead-reckoning error);
//! - [`socket`]: opening a bot's connection;
//! - [`source`]: which local address each bot connects from (a server limits each address);
//! - [`measure`]: what a bot measures (gaps, round trips, bytes, dead-reckoning error);
//! - [`report`]: aggregation into the final report (table and JSON);
//! - [`swarm`]: who each bot is, ramp-up, the live progress line, the deadline;
//! - [`universe`]: the sectors' sockets, for a swarm spread over a universe.

pub mod abuse;
pub mod behavior;
pub mod bot;
pub mod light;
pub mod link;
pub mod measure;
pub mod pilot;
pub mod report;
pub mod socket;
pub mod source;
pub mod swarm;
pub mod universe;

pub use swarm::{run, SwarmConfig};
