//! The server's configuration. The binary's flags and the library's [`Config`] are one type
//! (clap derives the flags from it), so each default is stated once, as a named constant in
//! its field's attribute, and [`Config::default`] is exactly what the binary runs with when
//! given no flags. Tests start from that and change what they need.

use crate::limits::Limits;
use crate::store::DEFAULT_DB_PATH;
use clap::Parser;
use shared::constants::{DEFAULT_SNAPSHOT_HZ, TICK_HZ};
use std::path::PathBuf;

/// The binary's name, as its `--help` shows it.
pub const BIN: &str = "asteroids-server";

/// Address the binary listens on by default: loopback only, so a first run exposes nothing.
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";

/// Asteroids kept in the field by default.
pub const DEFAULT_ASTEROIDS: usize = 4000;

/// Seed of the world's randomness by default.
pub const DEFAULT_SEED: u64 = 1;

/// Directory of the built browser client by default (relative to the working directory).
pub const DEFAULT_WWW_DIR: &str = "www";

/// World area per asteroid when the arena is sized from the asteroid count, square units:
/// about 57 asteroids in a 1920×1080 view.
pub const AREA_PER_ASTEROID: f32 = 36_000.0;

/// Smallest side of an arena sized from the asteroid count, world units: a few screens, so a
/// tiny field still has room to fly.
pub const MIN_ARENA_SIZE: f32 = 2000.0;

/// Server configuration: the binary's flags (each field's doc is its `--help` line), plus a
/// few settings only tests change. `Config::default()` parses an empty command line, so it
/// also honours `ASTEROIDS_ADMIN_TOKEN` as the binary does.
#[derive(Clone, Debug, PartialEq, Parser)]
#[command(name = BIN, version, about = "The Asteroids MMO server.", long_about = None)]
pub struct Config {
    // Only the binary reads it: `start` is given a bound listener (tests bind port 0).
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_BIND)]
    pub bind: String,
    /// Asteroids kept in the field.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_ASTEROIDS)]
    pub asteroids: usize,
    /// Arena side length in world units (default: sized for about 57 asteroids per screen).
    #[arg(long, value_name = "UNITS")]
    pub arena_size: Option<f32>,
    /// Snapshots per second per client (1 to 60, the tick rate).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_SNAPSHOT_HZ,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(TICK_HZ)))]
    pub snapshot_hz: u32,
    /// Seed of the world's randomness.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_SEED)]
    pub seed: u64,
    /// Directory of the built browser client.
    #[arg(long = "www", value_name = "DIR", default_value = DEFAULT_WWW_DIR)]
    pub www_dir: PathBuf,
    /// The SQLite file of identities and scores (`:memory:` for a throwaway one).
    #[arg(long = "db", value_name = "PATH", default_value = DEFAULT_DB_PATH)]
    pub db_path: PathBuf,
    /// Bearer token for /admin/stats and /metrics (default: a random one, printed at start-up).
    #[arg(long, value_name = "T", env = "ASTEROIDS_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Per-connection limits (`--max-connections`, `--allowed-origin`; the rest are constants).
    #[command(flatten)]
    pub limits: Limits,
    /// Published frames kept for inspection (tests); 0 in production. Not a flag.
    #[arg(skip)]
    pub frame_history: usize,
    /// How long a dropped player can come back to its ship, ticks. Not a flag (tests shorten it).
    #[arg(skip = shared::constants::RESUME_WINDOW_TICKS)]
    pub resume_window_ticks: u32,
}

impl Default for Config {
    /// What the binary runs with when given no flags.
    fn default() -> Self {
        Config::parse_from([BIN])
    }
}

impl Config {
    /// Half the arena's width and height.
    pub fn arena_half_size(&self) -> [f32; 2] {
        let side = self
            .arena_size
            .unwrap_or_else(|| (self.asteroids.max(1) as f32 * AREA_PER_ASTEROID).sqrt().max(MIN_ARENA_SIZE));
        [side * 0.5, side * 0.5]
    }

    /// The admin token, if one was given (an empty one counts as none: it would open the admin
    /// routes to any request without an `Authorization` header).
    pub fn given_admin_token(&self) -> Option<&str> {
        self.admin_token.as_deref().filter(|t| !t.is_empty())
    }
}

/// The defaults of a group of flags, as parsing an empty command line gives them (for the
/// `Default` of a struct flattened into [`Config`], such as [`Limits`]).
pub(crate) fn defaults<T: clap::Args>() -> T {
    let matches = T::augment_args(clap::Command::new(BIN)).get_matches_from([BIN]);
    T::from_arg_matches(&matches).expect("every flag of the group has a default")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits;
    use clap::CommandFactory;

    /// clap's own consistency checks pass on the flags (no clashing names or short options).
    #[test]
    fn flags_are_consistent() {
        Config::command().debug_assert();
    }

    /// Every flag the scripts and tests use keeps its name and meaning.
    #[test]
    fn flags_keep_their_names() {
        let c = Config::try_parse_from([
            BIN,
            "--bind",
            "0.0.0.0:9000",
            "--asteroids",
            "800",
            "--arena-size",
            "3000",
            "--snapshot-hz",
            "30",
            "--seed",
            "7",
            "--www",
            "site",
            "--db",
            "scores.db",
            "--max-connections",
            "9",
            "--allowed-origin",
            "https://a.example",
            "--allowed-origin",
            "https://b.example",
            "--admin-token",
            "secret",
            "--public-url",
            "https://Play.example.com/",
        ])
        .unwrap();
        assert_eq!(c.bind, "0.0.0.0:9000");
        assert_eq!((c.asteroids, c.arena_size, c.snapshot_hz, c.seed), (800, Some(3000.0), 30, 7));
        assert_eq!((&c.www_dir, &c.db_path), (&PathBuf::from("site"), &PathBuf::from("scores.db")));
        assert_eq!(c.limits.max_connections, 9);
        assert_eq!(c.limits.allowed_origins, ["https://a.example", "https://b.example"]);
        assert_eq!(c.given_admin_token(), Some("secret"));
        assert_eq!(c.limits.public_url.as_deref(), Some("https://play.example.com"), "kept as its origin");
        assert!(Config::try_parse_from([BIN, "--public-url", "play.example.com"]).is_err(), "not a URL");
        for hz in ["0", "61"] {
            assert!(Config::try_parse_from([BIN, "--snapshot-hz", hz]).is_err(), "--snapshot-hz {hz}");
        }
    }

    /// With no flags, every setting is its named constant, and `Limits::default()` is the
    /// limits of `Config::default()`.
    #[test]
    fn defaults_are_the_named_constants() {
        let c = Config::default();
        assert_eq!(c.bind, DEFAULT_BIND);
        assert_eq!(
            (c.asteroids, c.arena_size, c.snapshot_hz, c.seed),
            (DEFAULT_ASTEROIDS, None, DEFAULT_SNAPSHOT_HZ, DEFAULT_SEED)
        );
        assert_eq!((c.www_dir.to_str(), c.db_path.to_str()), (Some(DEFAULT_WWW_DIR), Some(DEFAULT_DB_PATH)));
        assert_eq!((c.frame_history, c.resume_window_ticks), (0, shared::constants::RESUME_WINDOW_TICKS));
        let l = &c.limits;
        assert_eq!(
            (l.handshake_timeout, l.ping_interval, l.idle_timeout, l.slow_client_timeout),
            (limits::HANDSHAKE_TIMEOUT, limits::PING_INTERVAL, limits::IDLE_TIMEOUT, limits::SLOW_CLIENT_TIMEOUT)
        );
        assert_eq!(
            (l.max_invalid_messages, l.max_messages_per_sec, l.message_burst, l.max_dropped_messages),
            (
                limits::MAX_INVALID_MESSAGES,
                limits::MAX_MESSAGES_PER_SEC,
                limits::MESSAGE_BURST,
                limits::MAX_DROPPED_MESSAGES
            )
        );
        assert_eq!((l.max_connections, l.allowed_origins.len(), &l.public_url), (limits::MAX_CONNECTIONS, 0, &None));
        assert_eq!(Limits::default(), c.limits);
    }

    /// An arena sized from the asteroid count gives each asteroid its area, and never less
    /// than the minimum side.
    #[test]
    fn arena_size_follows_the_asteroid_count() {
        let c = Config { asteroids: 4000, arena_size: None, ..Config::default() };
        assert_eq!(c.arena_half_size()[0], (4000.0 * AREA_PER_ASTEROID).sqrt() * 0.5);
        let tiny = Config { asteroids: 1, ..c.clone() };
        assert_eq!(tiny.arena_half_size(), [MIN_ARENA_SIZE * 0.5; 2]);
        let fixed = Config { arena_size: Some(3000.0), ..c };
        assert_eq!(fixed.arena_half_size(), [1500.0; 2]);
    }
}
