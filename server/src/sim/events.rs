//! The closed set of things that can reach the simulation from outside. Sessions send these
//! through one bounded channel; the tick drains it at its start. Nothing else touches the world.

use shared::protocol::{EntityId, GameEvent, Input, PlayerId, Tick};
use tokio::sync::{mpsc, oneshot};

/// Capacity of the channel from sessions to the simulation. Inputs are sent with `try_send`,
/// so a full channel drops an input (counted) instead of blocking a session.
pub const SIM_EVENT_CAPACITY: usize = 65_536;

/// Capacity of a player's event channel (deaths, spawns, score); a player whose session does
/// not drain it loses events, never stalls the tick.
pub const PLAYER_EVENT_CAPACITY: usize = 64;

/// An event for the simulation.
#[derive(Debug)]
pub enum SimEvent {
    /// A session finished its handshake: create a player and a ship.
    Join {
        /// The validated display name.
        name: String,
        /// The persistent identity, if any.
        identity: Option<i64>,
        /// Its all-time points before this session.
        total_before: u32,
        /// The ship arriving from a neighbouring sector with a checked ticket: it continues
        /// from the ticket's state instead of spawning anew.
        arrival: Option<Box<super::handover::Arrival>>,
        /// Where to answer.
        reply: oneshot::Sender<Joined>,
    },
    /// A session ended: remove the player and its ship.
    Leave {
        /// The player.
        player: PlayerId,
        /// The connection that ended (ignored if a newer one owns the player now).
        session: u64,
        /// Whether the player may wait to be resumed: false when the connection was closed for
        /// breaking the rules (an abusive session leaves no waiting ship behind).
        resumable: bool,
    },
    /// The operator revoked this identity (`POST /admin/revoke/{name}`): its player and ship
    /// leave at once, without waiting to be resumed, and its connection is dismissed
    /// ([`Dismissal::Revoked`]). A later join with the identity is dismissed the same way.
    Revoke {
        /// The store's identity row.
        identity: i64,
    },
    /// A validated input from a player's connection.
    Input {
        /// The player (from the connection, never from the message).
        player: PlayerId,
        /// The connection it came from (ignored if a newer one owns the player now: a
        /// replaced connection's last inputs must not overtake the new one's sequence).
        session: u64,
        /// The intent.
        input: Input,
    },
}

/// The simulation's answer to `Join`.
#[derive(Debug)]
pub struct Joined {
    /// The new player's id.
    pub player_id: PlayerId,
    /// Its first ship.
    pub ship_id: EntityId,
    /// Where that ship is.
    pub ship_position: [f32; 2],
    /// The tick at which it joined.
    pub tick: Tick,
    /// Events for this player only.
    pub events: mpsc::Receiver<GameEvent>,
    /// This connection's generation, to name it in `Leave`.
    pub session: u64,
    /// Fires when the simulation ends this connection from its side, and says why.
    pub dismissed: oneshot::Receiver<Dismissal>,
    /// All-time points so far, this session included (a resumed session continues).
    pub total_points: u32,
    /// For an arrival: the ship's state at the end of the tick before `tick`, from which it
    /// is stepped at `tick` (see `shared::protocol::Welcome::arrival`).
    pub arrival: Option<shared::quant::QState>,
}

/// Why the simulation ends a connection from its side (the session closes it with the
/// matching code).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dismissal {
    /// A newer connection with the same identity took the player over (closed 4001).
    Replaced,
    /// The operator revoked the identity; the player and its ship are gone (closed 4003).
    Revoked,
    /// The ship flew into a neighbouring sector; the player and its ship left this world
    /// (the session sends the hand-over ticket, then closes 4010).
    HandedOver(Box<super::handover::Departure>),
}
