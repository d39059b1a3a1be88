//! The server's configuration. The binary's flags and the library's [`Config`] are one type
//! (clap derives the flags from it), so each default is stated once, as a named constant in
//! its field's attribute, and [`Config::default`] is exactly what the binary runs with when
//! given no flags. Tests start from that and change what they need.

use crate::limits::Limits;
use crate::store::{StoreLocation, DEFAULT_DB_PATH};
use clap::Parser;
use shared::constants::{DEFAULT_SNAPSHOT_HZ, TICK_HZ};
use shared::protocol::SectorCoord;
use shared::time::Ticks;
use std::path::PathBuf;

/// The binary's name, as its `--help` shows it.
pub const BIN: &str = "asteroids-server";

/// Address the binary listens on by default: loopback only, so a first run exposes nothing.
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";

/// Asteroids kept in the field by default.
pub const DEFAULT_ASTEROIDS: usize = 4000;

/// AI pilots the world is filled up to by default: humans take their places one by one, so a
/// lone player has company and a busy server has none.
pub const DEFAULT_AI_PILOTS: usize = 8;

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
    /// Ships the world is filled up to with server-side AI pilots (each human online takes one
    /// AI pilot's place; 0: none).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_AI_PILOTS)]
    pub ai_pilots: usize,
    /// Seed of the world's randomness.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_SEED)]
    pub seed: u64,
    /// Directory of the built browser client.
    #[arg(long = "www", value_name = "DIR", default_value = DEFAULT_WWW_DIR)]
    pub www_dir: PathBuf,
    /// Where identities and scores live: an SQLite file (`:memory:` for a throwaway one), or a
    /// PostgreSQL database shared by several servers (`postgres://user@host:port/db`; no TLS).
    #[arg(long = "db", value_name = "PATH|URL", default_value = DEFAULT_DB_PATH)]
    pub db: StoreLocation,
    /// Bearer token for /admin/stats and /metrics. Prefer ASTEROIDS_ADMIN_TOKEN or
    /// --admin-token-file: a flag's value is visible to every user in `ps`. Default: a random
    /// one, written to ./admin-token (mode 0600).
    #[arg(long, value_name = "T", env = "ASTEROIDS_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Threads of the async runtime (sessions, HTTP); default: the machine's cores less the one
    /// the simulation keeps (see [`Config::runtime_workers`]).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub workers: Option<u16>,
    /// File holding the admin token (its first line), read at start-up; not together with
    /// --admin-token or ASTEROIDS_ADMIN_TOKEN.
    #[arg(long, value_name = "PATH", conflicts_with = "admin_token")]
    pub admin_token_file: Option<PathBuf>,
    /// Make this server one sector of a universe whose directory is this Redis
    /// (redis://HOST:PORT); needs --sector, --universe-size and the universe's secret, and
    /// --public-url unless bound to a specific address.
    #[arg(long = "universe", value_name = "URL", requires_all = ["sector", "universe_size"])]
    pub universe: Option<String>,
    /// This sector's column and row in the universe, from 0 at the bottom left (with --universe).
    #[arg(long, value_name = "X,Y", value_parser = shared::grid::parse_sector, requires = "universe")]
    pub sector: Option<SectorCoord>,
    /// The universe's columns and rows (with --universe).
    #[arg(long, value_name = "W,H", value_parser = shared::grid::parse_pair, requires = "universe")]
    pub universe_size: Option<[u16; 2]>,
    /// The universe's secret, the same on every sector: it signs hand-over tickets (at least 16
    /// bytes). Prefer ASTEROIDS_UNIVERSE_SECRET: a flag's value is visible to every user in `ps`.
    #[arg(long, value_name = "SECRET", env = "ASTEROIDS_UNIVERSE_SECRET", hide_env_values = true)]
    pub universe_secret: Option<String>,
    /// Connection limits (`--max-connections`, the per-address limits, `--trusted-proxy`,
    /// `--allowed-origin`; the rest are constants).
    #[command(flatten)]
    pub limits: Limits,
    /// Published frames kept for inspection (tests); 0 in production. Not a flag.
    #[arg(skip)]
    pub frame_history: usize,
    /// How long a dropped player can come back to its ship, ticks. Not a flag (tests shorten it).
    #[arg(skip = shared::constants::RESUME_WINDOW)]
    pub resume_window: Ticks,
}

/// Cores the simulation thread needs to itself: one.
pub const SIMULATION_CORES: usize = 1;

/// How many runtime workers leave the simulation its core on a machine with `cores`: all but
/// [`SIMULATION_CORES`], and at least one. With as many workers as cores, the sessions' encoding
/// competed with the tick for the CPU under load and ticks were missed; the tick must never
/// wait for a core, while a session that waits only delays its own next snapshot.
pub fn workers_beside_the_simulation(cores: usize) -> usize {
    cores.saturating_sub(SIMULATION_CORES).max(1)
}

impl Default for Config {
    /// What the binary runs with when given no flags.
    fn default() -> Self {
        Config::parse_from([BIN])
    }
}

impl Config {
    /// Half the arena's width and height. A side sized from the asteroid count is a whole
    /// number of units (sectors of a universe must be a whole number of position steps wide).
    pub fn arena_half_size(&self) -> [f32; 2] {
        let side = self
            .arena_size
            .unwrap_or_else(|| (self.asteroids.max(1) as f32 * AREA_PER_ASTEROID).sqrt().max(MIN_ARENA_SIZE).round());
        [side * 0.5, side * 0.5]
    }

    /// This server's part in a universe, if `--universe` was given: checked here, so a sector
    /// never starts half configured. `bound` is the listener's address (the game socket's
    /// address when no `--public-url` names it).
    pub fn universe_config(
        &self,
        bound: std::net::SocketAddr,
    ) -> anyhow::Result<Option<crate::universe::UniverseConfig>> {
        use anyhow::{anyhow, Context};
        let Some(redis_url) = &self.universe else { return Ok(None) };
        let (Some(sector), Some(size)) = (self.sector, self.universe_size) else {
            return Err(anyhow!("--universe needs --sector X,Y and --universe-size W,H"));
        };
        let grid = shared::grid::Grid::new(size, sector, self.arena_half_size()).map_err(anyhow::Error::msg)?;
        let secret = self.universe_secret.as_deref().filter(|s| !s.is_empty()).context(
            "--universe needs the universe's secret: ASTEROIDS_UNIVERSE_SECRET (or --universe-secret), the same on every sector",
        )?;
        let key = crate::universe::ticket::TicketKey::new(secret.as_bytes()).map_err(anyhow::Error::msg)?;
        let url = match &self.limits.public_url {
            Some(origin) => {
                let socket = origin.replacen("https://", "wss://", 1).replacen("http://", "ws://", 1);
                format!("{socket}/ws")
            }
            None if bound.ip().is_unspecified() => {
                return Err(anyhow!(
                    "a sector bound to {bound} needs --public-url (the address its players and neighbours reach)"
                ))
            }
            None => format!("ws://{bound}/ws"),
        };
        let store = crate::universe::store_fingerprint(&self.db);
        Ok(Some(crate::universe::UniverseConfig { redis_url: redis_url.clone(), grid, url, key, store }))
    }

    /// Worker threads for the async runtime: `--workers`, or else [`workers_beside_the_simulation`]
    /// for this machine's cores.
    pub fn runtime_workers(&self) -> usize {
        self.workers.map(usize::from).unwrap_or_else(|| {
            workers_beside_the_simulation(std::thread::available_parallelism().map_or(1, |n| n.get()))
        })
    }

    /// The admin token, if one was given (an empty one counts as none: it would open the admin
    /// routes to any request without an `Authorization` header).
    pub fn given_admin_token(&self) -> Option<&str> {
        self.admin_token.as_deref().filter(|t| !t.is_empty())
    }
}

/// Where a generated admin token is written, in the working directory.
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

/// Where the admin token in force came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdminTokenSource {
    /// `--admin-token` or `ASTEROIDS_ADMIN_TOKEN`.
    Given,
    /// `--admin-token-file`.
    File(PathBuf),
    /// Made at start-up and written to this file (mode 0600).
    Generated(PathBuf),
}

impl Config {
    /// Settles [`Config::admin_token`]: the given one, else the first line of
    /// `--admin-token-file`, else a random one written to [`ADMIN_TOKEN_FILE`] in `dir` with
    /// mode 0600 (readable by the operator, not by other users, and never printed where logs
    /// are collected).
    pub fn settle_admin_token(&mut self, dir: &std::path::Path) -> anyhow::Result<AdminTokenSource> {
        use anyhow::Context;
        let min = crate::limits::MIN_ADMIN_TOKEN_BYTES;
        if let Some(token) = self.given_admin_token() {
            anyhow::ensure!(
                token.len() >= min,
                "the admin token (--admin-token or ASTEROIDS_ADMIN_TOKEN) is {} bytes: at least {min} are needed, \
                 a short one falls to guessing (or give none: one is generated into ./{ADMIN_TOKEN_FILE})",
                token.len()
            );
            return Ok(AdminTokenSource::Given);
        }
        if let Some(path) = &self.admin_token_file {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            let token = text.lines().next().unwrap_or("").trim().to_string();
            anyhow::ensure!(!token.is_empty(), "{} holds no admin token", path.display());
            anyhow::ensure!(
                token.len() >= min,
                "the admin token in {} is {} bytes: at least {min} are needed, a short one falls to guessing",
                path.display(),
                token.len()
            );
            self.admin_token = Some(token);
            return Ok(AdminTokenSource::File(path.clone()));
        }
        let token = crate::token::random();
        let path = dir.join(ADMIN_TOKEN_FILE);
        write_private(&path, &format!("{token}\n")).with_context(|| format!("writing {}", path.display()))?;
        self.admin_token = Some(token);
        Ok(AdminTokenSource::Generated(path))
    }
}

/// Writes a file only its owner can read (mode 0600 on Unix, also when it already existed).
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let mut file = options.open(path)?;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        file.write_all(text.as_bytes())
    }
    #[cfg(not(unix))]
    {
        options.open(path)?.write_all(text.as_bytes())
    }
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
    /// The runtime leaves the simulation a core: one worker on a 2-core machine, never none.
    #[test]
    fn runtime_workers_leave_the_simulation_a_core() {
        assert_eq!([1, 2, 4, 16].map(workers_beside_the_simulation), [1, 1, 3, 15]);
        assert!(Config::default().runtime_workers() >= 1);
    }

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
            "--fd-headroom",
            "200",
            "--max-marks-per-base",
            "3",
            "--workers",
            "3",
            "--max-connections-per-address",
            "4",
            "--max-new-identities-per-address-per-hour",
            "5",
            "--trusted-proxy",
            "10.0.0.1",
            "--trusted-proxy",
            "::1",
            "--max-identities",
            "3",
            "--identity-idle-expiry-days",
            "0.5",
            "--revoked-name-hold-hours",
            "2",
            "--max-new-identities-per-56-per-hour",
            "6",
            "--max-new-identities-per-48-per-hour",
            "7",
            "--lasting-points",
            "9",
            "--identity-reclaim-idle-minutes",
            "0.5",
            "--admin-auth-failures-per-minute",
            "4",
            "--max-pending-per-address",
            "12",
            "--first-byte-timeout-secs",
            "1.5",
            "--proxy-protocol-from",
            "10.0.0.9",
            "--max-proxy-header-bytes",
            "300",
            "--max-pending-per-balancer",
            "10",
            "--shared-address-warning",
            "8",
        ])
        .unwrap();
        assert_eq!(c.limits.proxy_protocol_peers, ["10.0.0.9".parse::<std::net::IpAddr>().unwrap()]);
        assert_eq!((c.limits.max_proxy_header_bytes, c.limits.shared_address_warning), (300, 8));
        assert_eq!(c.limits.max_pending_per_balancer, 10);
        assert!(Config::try_parse_from([BIN, "--max-proxy-header-bytes", "51"]).is_err(), "an IPv6 header's length");
        assert!(Config::try_parse_from([BIN, "--shared-address-warning", "0"]).is_err(), "at least one");
        assert_eq!((c.limits.max_new_identities_per_56_per_hour, c.limits.max_new_identities_per_48_per_hour), (6, 7));
        assert_eq!((c.limits.lasting_points, c.limits.reclaim_min_idle), (9, std::time::Duration::from_secs(30)));
        assert_eq!(c.limits.admin_auth_failures_per_minute, 4);
        assert_eq!((c.limits.max_pending_per_address, c.limits.first_byte_timeout.as_millis()), (12, 1500));
        assert!(Config::try_parse_from([BIN, "--max-pending-per-address", "0"]).is_err(), "at least one");
        assert_eq!(c.limits.max_identities, 3);
        assert_eq!(c.limits.identity_idle_expiry, std::time::Duration::from_secs(12 * 3600));
        assert_eq!(c.limits.revoked_name_hold, std::time::Duration::from_secs(2 * 3600));
        assert!(Config::try_parse_from([BIN, "--identity-idle-expiry-days", "-1"]).is_err(), "not negative");
        assert_eq!((c.limits.max_connections_per_address, c.limits.max_new_identities_per_address_per_hour), (4, 5));
        assert_eq!(c.limits.trusted_proxies, ["10.0.0.1".parse::<std::net::IpAddr>().unwrap(), "::1".parse().unwrap()]);
        assert!(Config::try_parse_from([BIN, "--max-connections-per-address", "0"]).is_err(), "at least one");
        assert!(Config::try_parse_from([BIN, "--trusted-proxy", "nginx.local"]).is_err(), "an IP address");
        assert_eq!((c.workers, c.runtime_workers()), (Some(3), 3));
        assert_eq!(c.bind, "0.0.0.0:9000");
        assert_eq!((c.asteroids, c.arena_size, c.snapshot_hz, c.seed), (800, Some(3000.0), 30, 7));
        assert_eq!((&c.www_dir, &c.db), (&PathBuf::from("site"), &StoreLocation::sqlite("scores.db")));
        let pg = Config::try_parse_from([BIN, "--db", "postgres://ast@127.0.0.1:5432/universe"]).unwrap();
        assert_eq!(pg.db, StoreLocation::Postgres("postgres://ast@127.0.0.1:5432/universe".into()));
        assert!(Config::try_parse_from([BIN, "--db", "postgresql://ast@127.0.0.1:x/u"]).is_err(), "a bad URL");
        assert_eq!(c.limits.max_connections, 9);
        assert_eq!(c.limits.allowed_origins, ["https://a.example", "https://b.example"]);
        assert_eq!(c.given_admin_token(), Some("secret"));
        assert_eq!(c.limits.public_url.as_deref(), Some("https://play.example.com"), "kept as its origin");
        assert_eq!((c.limits.fd_headroom, c.limits.max_marks_per_base), (200, 3));
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
        assert_eq!((c.www_dir.to_str(), &c.db), (Some(DEFAULT_WWW_DIR), &StoreLocation::sqlite(DEFAULT_DB_PATH)));
        assert_eq!((c.frame_history, c.resume_window), (0, shared::constants::RESUME_WINDOW));
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
        assert_eq!((l.fd_headroom, l.max_marks_per_base), (limits::FD_HEADROOM, limits::MAX_MARKS_PER_BASE));
        assert_eq!(
            (l.max_connections_per_address, l.max_new_identities_per_address_per_hour, l.trusted_proxies.len()),
            (limits::MAX_CONNECTIONS_PER_ADDRESS, limits::MAX_NEW_IDENTITIES_PER_ADDRESS_PER_HOUR, 0)
        );
        assert_eq!(
            (l.max_new_identities_per_56_per_hour, l.max_new_identities_per_48_per_hour),
            (limits::MAX_NEW_IDENTITIES_PER_56_PER_HOUR, limits::MAX_NEW_IDENTITIES_PER_48_PER_HOUR)
        );
        assert_eq!(
            (l.lasting_points, l.reclaim_min_idle),
            (limits::LASTING_POINTS, limits::RECLAIM_MIN_IDLE),
            "the reclaim's flags, written in points and minutes, are the constants"
        );
        assert_eq!(
            (l.admin_auth_failures_per_minute, l.admin_auth_window),
            (limits::ADMIN_AUTH_FAILURES_PER_MINUTE, limits::ADMIN_AUTH_WINDOW)
        );
        assert_eq!(
            (l.max_pending_per_address, l.first_byte_timeout),
            (limits::MAX_PENDING_PER_ADDRESS, limits::FIRST_BYTE_TIMEOUT)
        );
        assert_eq!(
            (l.max_identities, l.identity_idle_expiry, l.revoked_name_hold),
            (limits::MAX_IDENTITIES, limits::IDENTITY_IDLE_EXPIRY, limits::REVOKED_NAME_HOLD),
            "the flags' defaults, written as days and hours, are the constants"
        );
        assert_eq!(Limits::default(), c.limits);
    }

    /// The admin token is the given one, else a file's, else generated into ./admin-token
    /// with mode 0600 (never printed); a flag and a file together are refused.
    #[test]
    fn admin_token_sources() {
        let dir = std::env::temp_dir().join(format!("asteroids-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut generated = Config { admin_token: None, ..Config::default() };
        let AdminTokenSource::Generated(path) = generated.settle_admin_token(&dir).unwrap() else { panic!() };
        assert_eq!(path, dir.join(ADMIN_TOKEN_FILE));
        let token = generated.given_admin_token().unwrap().to_string();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("{token}\n"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let mut from_file = Config::try_parse_from([BIN, "--admin-token-file", path.to_str().unwrap()]).unwrap();
        from_file.admin_token = None; // as if ASTEROIDS_ADMIN_TOKEN were unset
        assert_eq!(from_file.settle_admin_token(&dir).unwrap(), AdminTokenSource::File(path.clone()));
        assert_eq!(from_file.given_admin_token(), Some(token.as_str()));
        let mut given = Config { admin_token: Some("s3cret-s3cret-16".into()), ..Config::default() };
        assert_eq!(given.settle_admin_token(&dir).unwrap(), AdminTokenSource::Given);
        let mut short = Config { admin_token: Some("s3cret".into()), ..Config::default() };
        let refused = short.settle_admin_token(&dir).unwrap_err().to_string();
        assert!(refused.contains("6 bytes") && refused.contains("at least 16"), "{refused}");
        let short_file = dir.join("short-token");
        std::fs::write(&short_file, "tooshort\n").unwrap();
        let mut short = Config::try_parse_from([BIN, "--admin-token-file", short_file.to_str().unwrap()]).unwrap();
        short.admin_token = None;
        assert!(short.settle_admin_token(&dir).is_err(), "a short token in a file is refused too");
        assert!(Config::try_parse_from([BIN, "--admin-token", "a", "--admin-token-file", "f"]).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
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
