//! The wall clock, read in this one place.
//!
//! Almost nothing in the server needs it: the simulation counts ticks, timeouts use tokio's
//! monotonic clock. What crosses between processes does: a hand-over ticket's expiry and the
//! time its ship crossed, a sector's heartbeat in the directory. Those are Unix milliseconds,
//! and sectors are expected to keep their clocks in sync, as NTP does. The simulation never
//! reads this: the loop that drives it samples it once per tick (see `server.rs`).

/// Milliseconds since the Unix epoch (0 for a clock set before it).
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}
