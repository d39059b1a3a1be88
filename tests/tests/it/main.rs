//! The integration tests, one binary (faster to link than one per file). Every test starts
//! the real server on 127.0.0.1:0 unless it tests a pure model.
//!
//! - `addresses`: per-address limits: connections (429), ghosts holding places (and their
//!   pilots getting back in), new identities per hour, the client behind a trusted proxy.
//! - `admin`: the admin token (wrong ones counted and slowed per address), /admin/stats
//!   fields, /metrics as Prometheus text, and the two carrying the same figures.
//! - `drain`: graceful shutdown: 1001 to clients, new connections refused, scores flushed, no task left.
//! - `gameplay`: the rules (splitting, deaths, respawn, kills, stale inputs, revokes) on the real world.
//! - `handshake`: Welcome, version and name rejections (look-alike and invisible names), ping.
//! - `identities`: what an identity costs: the store's cap, a full store reclaiming one-point
//!   guests for newcomers, the operator's purge by address, idle guests expiring, a revoke
//!   ending the live session (4003) and releasing the name.
//! - `layers`: the server's modules name only the layers below them (a scan of the source):
//!   the simulation nothing outside it, no wall clock.
//! - `hostile`: oversized and garbage messages, floods (ping frames too), forged pongs, close echo,
//!   silent peers, stalled handshakes, connections per address before the upgrade, origins
//!   (DNS rebinding), the cap, running out of descriptors.
//! - `pilots`: AI pilots: filling the world less the humans, flying and firing by the players'
//!   rules, killing and being killed, never stored, marked in the leaderboard; seen over the socket.
//! - `kinematics_vs_rapier`: the shared motion model against real rapier bodies.
//! - `prediction`: inputs applied at the tick they name (late, too early, in order), and the
//!   page's own-ship prediction exact at every snapshot through a jittery and a stalling link.
//! - `snapshots`: exact reconstruction of the server's state from diffs, view clamping,
//!   enter/leave, skipped frames.
//! - `swarm`: the load-test bots against the real server.
//! - `resume`: coming back within the window, after it, and a second connection taking over.
//! - `scores`: tokens, name clashes, scores across a restart, the leaderboard and player API (real SQLite file).
//! - `store`: the store on both backends (an SQLite file and a real PostgreSQL): identities
//!   and tokens, taken and look-alike names, creation asking first, the cap, the reclaim's
//!   order, purges by network and window, expiry, revoke/release, scores persisting; two stores sharing one PostgreSQL; PostgreSQL stopped
//!   for seconds with nothing lost; the Redis starter.
//! - `spectators`: watching the featured pilot without playing: served around its ship only,
//!   no player, inputs refused.
//! - `slow_reader`: a client that stops reading costs the server bounded memory.
//! - `universe`: sectors in a Redis directory, ships crossing edges with exact hand-over
//!   tickets, refused tickets, the swarm across sectors, Redis restarted, what operators see.
//! - `universe_faults`: sectors on a shared PostgreSQL: scores summed across sectors, a sector
//!   killed with `kill -9` (its pilots move on with their scores).
mod addresses;
mod admin;
mod drain;
mod gameplay;
mod handshake;
mod hostile;
mod identities;
mod kinematics_vs_rapier;
mod layers;
mod pilots;
mod prediction;
mod resume;
mod scores;
mod slow_reader;
mod snapshots;
mod spectators;
mod store;
mod swarm;
mod universe;
mod universe_faults;
