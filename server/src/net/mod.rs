//! The network edge: HTTP routes, the game socket, who may connect (the caps, server-wide and
//! per address, and new identities per address), and per-connection interest management.
//! Everything that arrives here is validated before it is turned into a [`crate::sim::SimEvent`].

pub mod address;
pub mod admission;
pub mod fanout;
pub mod http;
pub mod interest;
pub mod link;
pub mod listener;
pub mod name;
pub mod new_identities;
pub mod origin;
pub mod proxy_protocol;
pub mod session;
