//! The network edge: HTTP routes, the game socket, and per-connection interest management.
//! Everything that arrives here is validated before it is turned into a [`crate::sim::SimEvent`].

pub mod http;
pub mod interest;
pub mod listener;
pub mod name;
pub mod origin;
pub mod session;
