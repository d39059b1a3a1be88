//! Every message in both directions. Each WebSocket binary message carries exactly one of
//! these, postcard-encoded (see [`crate::codec`]); `docs/PROTOCOL.md` documents them for
//! people.
//!
//! Types stay plain (no `untagged`, `flatten` or `skip`): postcard is not self-describing, so
//! the Rust declaration order *is* the wire format. Any change here bumps
//! [`crate::PROTOCOL_VERSION`].

pub use crate::entity::EntityKind;
use crate::kinematics::Kinematics;
use crate::quant::QState;
use serde::{Deserialize, Serialize};

/// Identifies an entity for as long as the server runs; never reused.
pub type EntityId = u64;
/// Identifies a connected player for as long as the server runs; never reused.
pub type PlayerId = u32;
pub use crate::time::Tick;

// ---------------------------------------------------------------------------------------------
// Client → server

/// A message from a client.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ClientMsg {
    /// First message on a connection; anything else first is a protocol error.
    Hello(Hello),
    /// The pilot's intent, for the tick it names (see [`Input::tick`]).
    Input(Input),
    /// The part of the world the client wants to see.
    View(ViewRect),
    /// Round-trip probe; answered with `Pong` carrying the same nonce.
    Ping {
        /// Echoed back unchanged.
        nonce: u32,
    },
    /// First message on a connection that watches without playing (the page before its
    /// player has joined): answered with `Spectating`, then snapshots of the view around the
    /// featured pilot (see [`ServerMsg::Watching`]). The connection never plays; joining opens
    /// a new one with `Hello`.
    Spectate {
        /// Must equal the server's [`crate::PROTOCOL_VERSION`].
        protocol_version: u32,
    },
}

/// Opens a session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// Must equal the server's [`crate::PROTOCOL_VERSION`].
    pub protocol_version: u32,
    /// Display name; see [`crate::constants::NAME_LEN`] and [`crate::codec::validate_name`].
    pub name: String,
    /// A token from an earlier visit, to continue that identity.
    pub token: Option<String>,
    /// A hand-over ticket from the sector the ship just left ([`ServerMsg::HandOver`]): the
    /// ship continues here with its exact state, identity and score (the name and token are
    /// then not used). Opaque to the client; at most [`crate::constants::MAX_TICKET_BYTES`].
    pub ticket: Option<Vec<u8>>,
}

/// A pilot's intent. Identity comes from the connection, never from the message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Input {
    /// Increases with every input the client sends; stale or replayed ones are ignored.
    pub seq: u32,
    /// The tick whose step it drives first: the client predicted its own ship with it from
    /// this tick on. The server applies it at exactly this tick when it arrives in time, and
    /// otherwise at the earliest tick it can, never in the past and never before an input sent
    /// earlier on the connection; a tick more than
    /// [`crate::constants::MAX_INPUT_LEAD`] ahead is brought back to that bound. The
    /// snapshot's [`InputAck`] says when it was applied.
    pub tick: Tick,
    /// Main engine on.
    pub thrust: bool,
    /// −1 (clockwise), 0 or +1 (counter-clockwise).
    pub turn: i8,
    /// Trigger held; the server enforces the fire rate.
    pub fire: bool,
}

/// The rectangle of the world a client wants to see, in world units (y up).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ViewRect {
    /// Centre of the view.
    pub center: [f32; 2],
    /// Width and height; clamped by the server to [`crate::constants::MAX_VIEW_SIZE`].
    pub size: [f32; 2],
}

impl ViewRect {
    /// Whether a point lies inside (edges included).
    pub fn contains(&self, p: [f32; 2]) -> bool {
        (p[0] - self.center[0]).abs() <= self.size[0] * 0.5 && (p[1] - self.center[1]).abs() <= self.size[1] * 0.5
    }

    /// The same rectangle with its size clamped to `max` (and to non-negative values).
    pub fn clamped(&self, max: [f32; 2]) -> ViewRect {
        ViewRect { center: self.center, size: [self.size[0].clamp(0.0, max[0]), self.size[1].clamp(0.0, max[1])] }
    }
}

// ---------------------------------------------------------------------------------------------
// Server → client

/// A message from the server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ServerMsg {
    /// The handshake succeeded.
    Welcome(Welcome),
    /// The handshake failed; the server closes the connection after this.
    Rejected(Rejected),
    /// What changed in the client's view.
    Snapshot(Snapshot),
    /// Answer to `Ping`.
    Pong {
        /// The ping's nonce.
        nonce: u32,
        /// The server's current tick.
        tick: Tick,
    },
    /// Something happened to this player.
    Event(GameEvent),
    /// How many are online and where the action is; sent when it changes (the server works it
    /// out once a second).
    World(WorldStatus),
    /// The best pilots online now, best first; sent when it changes, at most every
    /// [`crate::constants::TOP_ONLINE_INTERVAL_MS`].
    TopOnline(Vec<LeaderboardEntry>),
    /// The best identities of all time, best first; sent when it changes, at most every
    /// [`crate::constants::TOP_ALL_TIME_INTERVAL_MS`].
    TopAllTime(Vec<LeaderboardEntry>),
    /// The answer to `Spectate`: what a spectator needs to draw the world.
    Spectating(Spectating),
    /// The ship a client without a ship of its own follows (a spectator, or a player waiting
    /// to respawn), sent when it changes; `None`: nobody flies (the view stays at the arena's
    /// centre), or the player has a ship again. The server serves views around it only.
    Watching(Option<Watched>),
    /// The ship flew through an edge into a neighbouring sector: open a connection to the
    /// hand-over's `url` at once and present its `ticket` in the `Hello` (the ship is in no
    /// sector until then, and the ticket expires). The server closes this connection with
    /// [`crate::constants::CLOSE_HANDED_OVER`] after it.
    HandOver(HandOver),
    /// The universe's sectors, sent after `Welcome` or `Spectating` when the server is part
    /// of a universe and again when it changes (at most every few seconds): where to go when
    /// this sector is gone or full, and what a universe map shows.
    Universe(UniverseMap),
}

/// A sector's place in its universe's grid: column `x` from the left, row `y` from the
/// bottom (y up, as in the world).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SectorCoord {
    /// Column, from 0.
    pub x: u16,
    /// Row, from 0.
    pub y: u16,
}

/// Where this server's sector lies in its universe, so a page can draw one continuous space:
/// universe coordinates are `offset` + local position.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Placement {
    /// This sector.
    pub sector: SectorCoord,
    /// The universe's columns and rows.
    pub universe_size: [u16; 2],
    /// Universe coordinates of this sector's local origin (its centre).
    pub offset: [f32; 2],
}

/// The way into a neighbouring sector (see [`ServerMsg::HandOver`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandOver {
    /// The sector the ship flew into.
    pub sector: SectorCoord,
    /// Its game socket (`ws://` or `wss://`).
    pub url: String,
    /// Signed by the sector left, valid for a few seconds and once: present it in `Hello`.
    pub ticket: Vec<u8>,
}

/// The sectors of a universe, as its directory lists them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UniverseMap {
    /// The universe's columns and rows.
    pub size: [u16; 2],
    /// Every sector alive (registered within the last few seconds), in grid order.
    pub sectors: Vec<SectorStatus>,
}

/// One sector of a [`UniverseMap`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectorStatus {
    /// Where it is.
    pub sector: SectorCoord,
    /// Its game socket.
    pub url: String,
    /// Players online there.
    pub players: u32,
    /// How many it takes.
    pub capacity: u32,
}

/// Everything a spectator needs to draw the world.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Spectating {
    /// The server's protocol version.
    pub protocol_version: u32,
    /// The server's tick now.
    pub tick: Tick,
    /// Simulation ticks per second.
    pub tick_hz: u32,
    /// Snapshots per second the server sends.
    pub snapshot_hz: u32,
    /// The largest view the server honours (width, height).
    pub max_view_size: [f32; 2],
    /// The motion model's constants.
    pub kinematics: Kinematics,
    /// Where this sector lies in its universe (`None`: a lone server).
    pub place: Option<Placement>,
}

/// A ship being watched, and its pilot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watched {
    /// The ship.
    pub ship: EntityId,
    /// Its pilot's name.
    pub name: String,
}

/// The part of the leaderboard that changes every second.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WorldStatus {
    /// Humans connected (AI pilots are not counted).
    pub online: u32,
    /// The centre of the busiest part of the arena (most ships and bullets), if anyone is
    /// playing: the page points an arrow at it.
    pub hotspot: Option<[f32; 2]>,
}

/// The top of the current scores, as a client assembles it from [`ServerMsg::World`],
/// [`ServerMsg::TopOnline`] and [`ServerMsg::TopAllTime`] (three messages, each sent at its
/// own pace, so the part that changes every second does not carry the rest).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Leaderboard {
    /// Humans connected (AI pilots are not counted).
    pub online: u32,
    /// The best players online by points, best first (at most
    /// [`crate::constants::LEADERBOARD_SIZE`]).
    pub top: Vec<LeaderboardEntry>,
    /// The centre of the busiest part of the arena (most ships and bullets), if anyone is
    /// playing: the page points an arrow at it.
    pub hotspot: Option<[f32; 2]>,
    /// The best identities of all time by total points, best first (at most
    /// [`crate::constants::LEADERBOARD_SIZE`]).
    pub all_time: Vec<LeaderboardEntry>,
}

/// One line of the leaderboard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaderboardEntry {
    /// The player's name.
    pub name: String,
    /// Their points.
    pub points: u32,
    /// Their kills.
    pub kills: u32,
    /// A server-side AI pilot, not a person (its scores are never stored; all-time entries
    /// never are).
    pub ai: bool,
}

/// Everything a client needs to take part.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Welcome {
    /// The server's protocol version.
    pub protocol_version: u32,
    /// This player's id.
    pub player_id: PlayerId,
    /// This player's ship (it changes when the ship is destroyed and respawns).
    pub ship_id: EntityId,
    /// Where that ship is, so the client can point its first view at it.
    pub ship_position: [f32; 2],
    /// The server's tick when the session started.
    pub tick: Tick,
    /// Simulation ticks per second.
    pub tick_hz: u32,
    /// Snapshots per second the server sends.
    pub snapshot_hz: u32,
    /// The largest view the server honours (width, height).
    pub max_view_size: [f32; 2],
    /// The motion model's constants: dt, substeps, damping per kind, thrust, arena.
    pub kinematics: Kinematics,
    /// A secret token for this identity, when the server just created it: the client keeps it
    /// and presents it in later `Hello`s to continue the same identity and total score.
    pub token: Option<String>,
    /// The identity's all-time points so far (a resumed session continues its total).
    pub total_points: u32,
    /// Where this sector lies in its universe (`None`: a lone server).
    pub place: Option<Placement>,
    /// The ship arrived through an edge with a hand-over ticket: its exact state at the end of
    /// tick `tick − 1`, from which the server steps it at `tick` with the controls it carries.
    /// The client predicts on from there, so the crossing costs no correction.
    pub arrival: Option<QState>,
}

/// Why a handshake failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RejectReason {
    /// The client speaks another protocol version: the page is out of date and must reload.
    ProtocolMismatch {
        /// The version the server speaks.
        server: u32,
    },
    /// The name is empty, too long or has characters that are not allowed.
    InvalidName,
    /// The first message was not a valid `Hello`.
    ExpectedHello,
    /// The server is shutting down.
    ShuttingDown,
    /// Another identity has this name (present its token to be that identity).
    NameTaken,
    /// The token is unknown, revoked, or belongs to another name.
    InvalidToken,
    /// The identity store cannot be reached; try again later.
    Unavailable,
    /// The `Hello` would create a new identity, and its address has created as many as it may
    /// within the hour: play under a name this browser already holds, or try later.
    TooManyNewIdentities,
    /// The `Hello` would create a new identity, and the server holds as many as its operator
    /// allows: play under a name this browser already holds (returning pilots are never
    /// refused).
    NoNewIdentities,
    /// The hand-over ticket is forged, expired, already used, or for another sector: join
    /// again without it (the identity and its committed score are kept; the ship starts anew).
    InvalidTicket,
}

/// A failed handshake.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    /// Machine-readable reason.
    pub reason: RejectReason,
    /// Human-readable explanation.
    pub message: String,
}

/// One snapshot: the difference between what the client had and the world at `tick`.
///
/// To apply it, a client first advances every entity it knows to `tick` with
/// [`crate::kinematics::Kinematics::advance`], then removes `left`, inserts `entered` and
/// overwrites `changed` (see [`crate::replica::Replica::apply`]). Entities not mentioned are
/// exactly where that prediction puts them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The tick this snapshot describes; strictly increasing on a connection.
    pub tick: Tick,
    /// The newest of this client's inputs applied at or before `tick`, when it is not the one
    /// the previous snapshot on this connection carried (`None`: unchanged). Most snapshots
    /// carry none: a pilot changes its controls a few times a second, snapshots come twenty.
    pub ack: Option<InputAck>,
    /// Entities new to the client, with their full state.
    pub entered: Vec<EntityEnter>,
    /// Known entities whose state differs from the client's prediction.
    pub changed: Vec<EntityUpdate>,
    /// Entities the client must forget: out of view or destroyed.
    pub left: Vec<EntityId>,
}

/// Which input a snapshot's state already contains, and how early it reached the simulation:
/// what a client needs to replay only the inputs after it, and to keep its inputs just early
/// enough (its clock's lead over the server's).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputAck {
    /// Its sequence number (0: none yet on this connection).
    pub seq: u32,
    /// The tick it was applied at: the tick it named, unless it came late.
    pub tick: Tick,
    /// How many ticks before the tick it named it reached the simulation: its tick less the
    /// tick that took it in (negative: late by that many ticks, and applied at once instead).
    /// Clamped to the range of an `i16`.
    pub margin: i16,
}

/// An entity entering a client's view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityEnter {
    /// Its id.
    pub id: EntityId,
    /// What it is.
    pub kind: EntityKind,
    /// Its state at the snapshot's tick.
    pub state: QState,
    /// Ticks until it has appeared (0 for nearly every entity): an asteroid spawned in sight,
    /// which clients draw growing from nothing over
    /// [`crate::constants::ASTEROID_APPEAR`] instead of popping into view.
    pub appearing: u8,
}

/// A known entity's corrected state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityUpdate {
    /// Its id.
    pub id: EntityId,
    /// Its state at the snapshot's tick.
    pub state: QState,
}

/// Something that happened to the receiving player.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum GameEvent {
    /// The player's ship was destroyed.
    ShipDestroyed {
        /// The ship that was destroyed.
        ship_id: EntityId,
        /// What destroyed it.
        cause: DeathCause,
        /// Ticks until the next ship spawns.
        respawn_in_ticks: u32,
    },
    /// The player has a new ship.
    ShipSpawned {
        /// The new ship's id.
        ship_id: EntityId,
        /// Where it spawned, so the client can move its view there.
        position: [f32; 2],
    },
    /// The player's score changed.
    Score(Score),
}

/// What destroyed a ship.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeathCause {
    /// Flew into an asteroid.
    Asteroid,
    /// Shot by another player.
    Shot {
        /// The shooter's name.
        by: String,
    },
    /// Collided with another ship.
    Collision {
        /// The other pilot's name.
        with: String,
    },
}

/// A player's score this session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Score {
    /// Asteroids hit.
    pub hits: u32,
    /// Ships destroyed.
    pub kills: u32,
    /// Own ship destroyed.
    pub deaths: u32,
    /// Points: 1 per asteroid hit (2 for a small one), 10 per kill.
    pub points: u32,
    /// The longest life of this session's ships that has ended, ticks.
    pub best_life_ticks: u32,
    /// All-time points of this identity, this session included.
    pub total_points: u32,
}
