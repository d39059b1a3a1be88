//! Every limit a connection is held to, in one place. The defaults are the documented
//! constants (see docs/PROTOCOL.md), stated once each in [`Limits`]' attributes; tests shorten
//! the timeouts to stay fast.

use std::time::Duration;

/// Time a client has from the upgrade to a valid `Hello`.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Interval of the server's WebSocket pings.
pub const PING_INTERVAL: Duration = Duration::from_secs(5);
/// A connection from which nothing (not even a pong) arrives for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(15);
/// A single send that cannot complete within this long closes the connection as too slow.
pub const SLOW_CLIENT_TIMEOUT: Duration = Duration::from_secs(5);
/// Invalid messages tolerated on one connection before it is closed with 1008.
pub const MAX_INVALID_MESSAGES: u32 = 10;
/// Messages per second a connection may send, sustained (a browser sends a few dozen at most).
pub const MAX_MESSAGES_PER_SEC: u32 = 120;
/// Messages a connection may send in a burst above the sustained rate.
pub const MESSAGE_BURST: u32 = 60;
/// Messages dropped for exceeding the rate, within [`RATE_WINDOW`], after which the
/// connection is closed with 1008.
pub const MAX_DROPPED_MESSAGES: u32 = 600;
/// Window over which dropped messages are counted.
pub const RATE_WINDOW: Duration = Duration::from_secs(5);
/// Combining marks allowed on one base character of a name (after canonical decomposition):
/// enough for any language's accents (Vietnamese stacks two, as in "ễ"), not for the towers
/// of marks that draw over the names around them.
pub const MAX_MARKS_PER_BASE: usize = 2;
/// Open game connections the server accepts; beyond it, upgrades are answered with 503.
/// The cap in force is lower when the open-file limit is: see [`connection_cap`].
pub const MAX_CONNECTIONS: usize = 20_000;
/// Open game connections one source address may hold (an IPv4 address, or an IPv6 /64: see
/// [`crate::net::address`]); beyond it, upgrades are answered with 429. Ghosts count: a
/// dropped player's ship holds its place for the resume window. 32 because one address is
/// often many people: a household or a small office behind one NAT, a player with a few tabs
/// open, a LAN party; yet one address can then hold no more than 32 of the server's places, so
/// a script on one machine cannot fill the world. Behind carrier-grade NAT, where hundreds of
/// subscribers share an address, raise it.
pub const MAX_CONNECTIONS_PER_ADDRESS: usize = 32;
/// New identities one source address may create within [`NEW_IDENTITY_WINDOW`]; beyond it, a
/// `Hello` that would create one is answered `Rejected { TooManyNewIdentities }`. Identities
/// are permanent rows in the store: 20 an hour is more than a household makes (a new browser,
/// cleared storage, a friend's turn), while a script claiming names is held to 480 a day per
/// address. Returning pilots (with their token) are never counted.
pub const MAX_NEW_IDENTITIES_PER_ADDRESS_PER_HOUR: u32 = 20;
/// The sliding window of [`MAX_NEW_IDENTITIES_PER_ADDRESS_PER_HOUR`].
pub const NEW_IDENTITY_WINDOW: Duration = Duration::from_secs(3600);
/// New identities one IPv6 /56 may create within [`NEW_IDENTITY_WINDOW`], on top of its /64s'
/// own quotas. An IPv6 subscriber is often given a whole /56 (256 /64s), so a per-/64 quota
/// alone would give one home 256 quotas: 40 an hour is two /64s' worth, more than a household
/// makes. Refusals are counted in `new_identities_refused_56`.
pub const MAX_NEW_IDENTITIES_PER_56_PER_HOUR: u32 = 40;
/// New identities one IPv6 /48 may create within [`NEW_IDENTITY_WINDOW`], on top of the /56
/// and /64 quotas. A /48 (65,536 /64s) is a site, a business, or what some providers give one
/// customer: 100 an hour lets a busy office or a school in, and holds a script that owns the
/// prefix to 2,400 a day where its /64s alone would make it 1.3 million an hour. Refusals are
/// counted in `new_identities_refused_48`.
pub const MAX_NEW_IDENTITIES_PER_48_PER_HOUR: u32 = 100;
/// Identities the store may hold. A `Hello` that would create one more first reclaims the
/// lowest-value idle identities (below [`LASTING_POINTS`], unseen for [`RECLAIM_MIN_IDLE`],
/// offline, not revoked: fewest points, then longest unseen, first); only when none is left to
/// reclaim is it answered `Rejected { NoNewIdentities }` (returning pilots still play). Each
/// identity is a row of a few hundred bytes with its indexes: a million is a few hundred
/// megabytes of disk, and the all-time board and every lookup stay fast at that size
/// (`store-bench`). It bounds what a script with many addresses can make the store grow to,
/// where the per-address quotas cannot.
pub const MAX_IDENTITIES: u64 = 1_000_000;
/// An identity below [`LASTING_POINTS`] that has not been seen (no `Hello` with its token, no
/// score change) for this long expires: its row is deleted and its name is free again.
/// Lasting identities never expire. So a name becomes a lasting identity only once its pilot
/// has actually played; until then it is held for its pilot while they play and for a day
/// after. A day: a player who tried the game briefly has lost little, and the names a script
/// claimed come back the next day.
pub const IDENTITY_IDLE_EXPIRY: Duration = Duration::from_secs(24 * 3600);
/// How often the store looks for idle identities to expire (or to reclaim when full).
pub const EXPIRY_SWEEP_INTERVAL: Duration = Duration::from_secs(60);
/// Points an identity must have committed to become *lasting*: never expired, never reclaimed.
/// Below it, an identity is a guest's: it expires after [`IDENTITY_IDLE_EXPIRY`] unseen, and
/// when the store is full it is the first reclaimed (fewest points, longest unseen first). A
/// point costs about 0.4 s of steady shooting in a dense field; 25 points is a minute or two of
/// a new player's play, and makes a row that is kept for good cost 25 times what one point
/// did (a script filling the store with lasting rows must now play, per row, for that long).
pub const LASTING_POINTS: i64 = 25;
/// An identity seen (a `Hello` with its token, or a score change committed) within this long
/// is never reclaimed, nor one whose pilot is connected or waiting as a ghost on this server.
/// A script that wants to keep a full store full must keep making identities this fast,
/// against the per-address quotas: 15 minutes means 4 million an hour for the default cap.
pub const RECLAIM_MIN_IDLE: Duration = Duration::from_secs(15 * 60);
/// How long a revoked identity's name stays taken (nobody can claim it, its token is
/// refused) before it is released; `POST /admin/release/{name}` releases it at once. A day,
/// so the pilot whose token leaked can claim the name again, while whoever revoked it can
/// still look at the row first.
pub const REVOKED_NAME_HOLD: Duration = Duration::from_secs(24 * 3600);
/// Most log lines per interval for a store error that repeats on every attempt (a full disk
/// fails every new identity and every batch), and for refusals at [`MAX_IDENTITIES`]; the
/// rest are counted (`store_errors`, `store_full_refused`) and summed into the next line.
pub const STORE_LOG_INTERVAL: Duration = Duration::from_secs(10);
/// Shortest admin token accepted at start-up (`--admin-token`, `ASTEROIDS_ADMIN_TOKEN` or
/// `--admin-token-file`): 16 bytes. A short token falls to guessing (the routes once answered
/// 60,000 guesses a second); the generated one is 32 hex digits (128 bits).
pub const MIN_ADMIN_TOKEN_BYTES: usize = 16;
/// Wrong or missing admin tokens one client address may present within
/// [`ADMIN_AUTH_WINDOW`]; past it, its admin requests are answered 429 with `Retry-After`
/// (the token not even compared) until the window ends. 10 a minute lets an operator mistype;
/// a guesser gets 14,400 tries a day per address instead of 60,000 a second. Counted in
/// `admin_auth_failures` and `admin_auth_throttled`.
pub const ADMIN_AUTH_FAILURES_PER_MINUTE: u32 = 10;
/// The fixed window of [`ADMIN_AUTH_FAILURES_PER_MINUTE`].
pub const ADMIN_AUTH_WINDOW: Duration = Duration::from_secs(60);
/// Most addresses the admin failure table holds; past it, windows that have ended are
/// dropped, and if it is still full, a new address's failures are throttled at once (the
/// table stays bounded however many addresses guess).
pub const ADMIN_AUTH_TABLE_MAX: usize = 10_000;
/// Most "wrong admin token" log lines per interval; the rest are counted
/// (`admin_auth_failures`) and summed into the next line.
pub const ADMIN_AUTH_LOG_INTERVAL: Duration = Duration::from_secs(10);
/// File descriptors kept for everything but game sockets: the database and its WAL files,
/// the listener, the runtime's epoll and event descriptors, standard streams, static files
/// being served, HTTP requests not yet upgraded (the 503 answers themselves), the reserve the
/// accept loop sheds with.
pub const FD_HEADROOM: u64 = 64;
/// Most "accept failed" log lines per interval; the rest are counted (`accept_errors`) and
/// summed into the next line.
pub const ACCEPT_ERROR_LOG_INTERVAL: Duration = Duration::from_secs(10);
/// TCP connections one peer address (an IPv4 address or IPv6 /64) may hold open before they
/// are upgraded or closed: accepted, and still sending their first request or serving plain
/// HTTP. Beyond it, the accept loop closes a new connection at once, before reading a byte
/// (counted: `pending_refused`). Without it, one address could hold thousands of sockets
/// (each a descriptor) for the header timeout each, and keep doing so. 64 is twice
/// [`MAX_CONNECTIONS_PER_ADDRESS`]: a household reconnecting at once, with its pages'
/// static files, stays well under it. Trusted proxies (`--trusted-proxy`) are exempt: every
/// client behind them shares their address.
pub const MAX_PENDING_PER_ADDRESS: usize = 64;
/// Time a new TCP connection has to send its first byte (the request-header timeout,
/// [`HANDSHAKE_TIMEOUT`], starts only then); at most the handshake timeout. A browser sends
/// its request as soon as it connects; 2 s frees a silent socket's descriptor and pending
/// place well before the 5 s a slow request may take.
pub const FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest PROXY protocol v2 header a peer named with `--proxy-protocol-from` may send (its
/// fixed 16 bytes, addresses and TLVs); a longer one closes the connection (counted:
/// `proxy_header_rejected`). The addresses take at most 52 bytes; 1 KiB leaves room for the
/// TLVs balancers add (ALPN, authority, a unique id, a cloud endpoint id). v1 lines have their
/// own bound of 107 bytes.
pub const MAX_PROXY_HEADER_BYTES: usize = 1024;
/// TCP connections one `--proxy-protocol-from` balancer may hold open while they await their
/// PROXY header; more are closed at once (counted: `pending_refused`). A balancer that sends
/// the header as it connects (HAProxy) holds few; one that sends it with the client's first
/// byte (a cloud balancer's default) holds every client socket that has not spoken yet, each
/// for at most the first-byte deadline: this bounds what such silent sockets can hold.
pub const MAX_PENDING_PER_BALANCER: usize = 1024;
/// Game connections (live, or ghosts waiting) one address may hold before the operator is
/// warned that many players share it (log, `/admin/stats` `crowded_addresses`, counted:
/// `address_crowded`): half of [`MAX_CONNECTIONS_PER_ADDRESS`]. A household rarely comes near;
/// a balancer or reverse proxy that is not named with `--trusted-proxy` or
/// `--proxy-protocol-from`, whose players all share its address, reaches it first.
pub const SHARED_ADDRESS_WARNING: usize = 16;
/// Most log lines per interval for each warning about addresses (a crowded address, an
/// `X-Forwarded-For` from a peer that is not a trusted proxy); the rest are counted.
pub const ADDRESS_WARNING_LOG_INTERVAL: Duration = Duration::from_secs(60);
/// Pause of the accept loop after an accept error it could not shed, so it never spins.
pub const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(50);

/// Lets one log line through per interval, and counts the ones it holds back, so an error
/// that repeats on every attempt (no descriptors left, a full disk) writes a line every few
/// seconds, not one per attempt.
#[derive(Debug)]
pub struct LogLimiter {
    interval: Duration,
    last: Option<std::time::Instant>,
    suppressed: u64,
}

impl LogLimiter {
    /// At most one line per `interval`.
    pub fn every(interval: Duration) -> LogLimiter {
        LogLimiter { interval, last: None, suppressed: 0 }
    }

    /// `Some(lines suppressed since the last one)` if a line may be logged now.
    pub fn admit(&mut self, now: std::time::Instant) -> Option<u64> {
        if self.last.is_some_and(|t| now.duration_since(t) < self.interval) {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }
}

/// The game connections a process can hold with `nofile` open files allowed: each is one
/// socket, and `headroom` descriptors ([`FD_HEADROOM`] by default) stay free for the rest (at
/// least one connection).
pub fn connection_cap(nofile: u64, headroom: u64) -> usize {
    usize::try_from(nofile.saturating_sub(headroom).max(1)).unwrap_or(usize::MAX)
}

/// The process's open-file limit (soft, hard), if the platform has one.
pub fn nofile_limit() -> Option<(u64, u64)> {
    rlimit::getrlimit(rlimit::Resource::NOFILE).ok()
}

/// Raises the soft open-file limit as far as the hard limit allows (the binary calls it once
/// at start-up; the default soft limit, often 1024 or 256, would cap the server far below
/// [`MAX_CONNECTIONS`]). Returns the limit now in force.
pub fn raise_nofile_limit() -> std::io::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
}

/// The limits in force. Some are flags of the binary (flattened into [`crate::Config`]); the
/// others are the constants above, which tests may shorten.
#[derive(Clone, Debug, PartialEq, clap::Args)]
pub struct Limits {
    /// See [`HANDSHAKE_TIMEOUT`].
    #[arg(skip = HANDSHAKE_TIMEOUT)]
    pub handshake_timeout: Duration,
    /// See [`PING_INTERVAL`].
    #[arg(skip = PING_INTERVAL)]
    pub ping_interval: Duration,
    /// See [`IDLE_TIMEOUT`].
    #[arg(skip = IDLE_TIMEOUT)]
    pub idle_timeout: Duration,
    /// See [`SLOW_CLIENT_TIMEOUT`].
    #[arg(skip = SLOW_CLIENT_TIMEOUT)]
    pub slow_client_timeout: Duration,
    /// See [`MAX_INVALID_MESSAGES`].
    #[arg(skip = MAX_INVALID_MESSAGES)]
    pub max_invalid_messages: u32,
    /// See [`MAX_MESSAGES_PER_SEC`].
    #[arg(skip = MAX_MESSAGES_PER_SEC)]
    pub max_messages_per_sec: u32,
    /// See [`MESSAGE_BURST`].
    #[arg(skip = MESSAGE_BURST)]
    pub message_burst: u32,
    /// See [`MAX_DROPPED_MESSAGES`].
    #[arg(skip = MAX_DROPPED_MESSAGES)]
    pub max_dropped_messages: u32,
    /// Most open game connections; beyond it, new ones get 503. Lowered at start-up to the
    /// open-file limit less --fd-headroom.
    #[arg(long, value_name = "N", default_value_t = MAX_CONNECTIONS)]
    pub max_connections: usize,
    /// File descriptors kept free of game connections (database, listener, HTTP requests).
    #[arg(long, value_name = "N", default_value_t = FD_HEADROOM)]
    pub fd_headroom: u64,
    /// Most open game connections per source address (IPv4 address or IPv6 /64), dropped
    /// players' ships waiting to be resumed included; beyond it, new ones get 429.
    #[arg(long, value_name = "N", default_value_t = MAX_CONNECTIONS_PER_ADDRESS,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_connections_per_address: usize,
    /// Most new identities (names claimed for the first time) per source address within any
    /// hour; beyond it, such a Hello is rejected (TooManyNewIdentities). 0: none at all.
    #[arg(long, value_name = "N", default_value_t = MAX_NEW_IDENTITIES_PER_ADDRESS_PER_HOUR)]
    pub max_new_identities_per_address_per_hour: u32,
    /// Most new identities per IPv6 /56 within any hour, on top of the per-address quota.
    #[arg(long = "max-new-identities-per-56-per-hour", value_name = "N", default_value_t = MAX_NEW_IDENTITIES_PER_56_PER_HOUR)]
    pub max_new_identities_per_56_per_hour: u32,
    /// Most new identities per IPv6 /48 within any hour, on top of the /56 and per-address quotas.
    #[arg(long = "max-new-identities-per-48-per-hour", value_name = "N", default_value_t = MAX_NEW_IDENTITIES_PER_48_PER_HOUR)]
    pub max_new_identities_per_48_per_hour: u32,
    /// Most identities the store may hold; at it, a Hello that would create one reclaims an
    /// idle guest identity (below --lasting-points), or is rejected (NoNewIdentities) if there
    /// is none. Returning pilots are never refused.
    #[arg(long, value_name = "N", default_value_t = MAX_IDENTITIES)]
    pub max_identities: u64,
    /// Days after which an identity below --lasting-points that has not been seen expires (its
    /// name is freed); lasting identities never expire.
    #[arg(long = "identity-idle-expiry-days", value_name = "DAYS", default_value = "1", value_parser = days)]
    pub identity_idle_expiry: Duration,
    /// Points an identity must commit to be kept for good; below it, it expires when idle and
    /// is the first reclaimed when the store is full.
    #[arg(long, value_name = "POINTS", default_value_t = LASTING_POINTS)]
    pub lasting_points: i64,
    /// Minutes an identity below --lasting-points must have been unseen (and offline) before a
    /// full store reclaims it for a newcomer.
    #[arg(long = "identity-reclaim-idle-minutes", value_name = "MINUTES", default_value = "15", value_parser = minutes)]
    pub reclaim_min_idle: Duration,
    /// Hours a revoked identity's name stays taken before anyone may claim it again
    /// (POST /admin/release/{name} releases it at once).
    #[arg(long = "revoked-name-hold-hours", value_name = "HOURS", default_value = "24", value_parser = hours)]
    pub revoked_name_hold: Duration,
    /// See [`EXPIRY_SWEEP_INTERVAL`].
    #[arg(skip = EXPIRY_SWEEP_INTERVAL)]
    pub identity_sweep_interval: Duration,
    /// Most TCP connections one peer address (IPv4, or IPv6 /64) may hold before they are
    /// upgraded or closed; more are closed at once. Trusted proxies are exempt.
    #[arg(long, value_name = "N", default_value_t = MAX_PENDING_PER_ADDRESS,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_pending_per_address: usize,
    /// Seconds a new TCP connection has to send its first byte (at most the handshake timeout).
    #[arg(long = "first-byte-timeout-secs", value_name = "SECS", default_value = "2", value_parser = seconds)]
    pub first_byte_timeout: Duration,
    /// Wrong admin tokens one client address may present per minute before its admin
    /// requests are answered 429 until the minute ends.
    #[arg(long, value_name = "N", default_value_t = ADMIN_AUTH_FAILURES_PER_MINUTE)]
    pub admin_auth_failures_per_minute: u32,
    /// See [`ADMIN_AUTH_WINDOW`].
    #[arg(skip = ADMIN_AUTH_WINDOW)]
    pub admin_auth_window: Duration,
    /// A reverse proxy in front of the server (repeatable). When a request comes from one, the
    /// client's address for the per-address limits is the right-most X-Forwarded-For entry
    /// that is not a trusted proxy; from any other peer the header is ignored.
    #[arg(long = "trusted-proxy", value_name = "IP")]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// A TCP balancer in front of the server that sends the PROXY protocol (v1 or v2) header
    /// (repeatable). Every connection from it must begin with one, and the header's source
    /// address is the client's for every per-address limit; from any other peer, a header is
    /// not accepted.
    #[arg(long = "proxy-protocol-from", value_name = "IP")]
    pub proxy_protocol_peers: Vec<std::net::IpAddr>,
    /// Longest PROXY protocol v2 header accepted, in bytes (at least 52: an IPv6 header's).
    #[arg(long, value_name = "BYTES", default_value_t = MAX_PROXY_HEADER_BYTES,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(52..=65_551))]
    pub max_proxy_header_bytes: usize,
    /// Most TCP connections one --proxy-protocol-from balancer may hold while they await
    /// their PROXY header; more are closed at once.
    #[arg(long, value_name = "N", default_value_t = MAX_PENDING_PER_BALANCER,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_pending_per_balancer: usize,
    /// Game connections (ghosts included) at which one address warns the operator that many
    /// players share it (logged, and listed in /admin/stats); at most the per-address cap.
    #[arg(long, value_name = "N", default_value_t = SHARED_ADDRESS_WARNING,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub shared_address_warning: usize,
    /// Combining marks allowed on one letter of a name.
    #[arg(long, value_name = "N", default_value_t = MAX_MARKS_PER_BASE)]
    pub max_marks_per_base: usize,
    /// Origins allowed on the game socket besides the page's own (repeatable; scheme and host,
    /// as browsers send them). Requests without an Origin (non-browser clients) are allowed;
    /// browsers always send one.
    #[arg(long = "allowed-origin", value_name = "URL", value_parser = crate::net::origin::origin_of)]
    pub allowed_origins: Vec<String>,
    /// The URL players open (e.g. `https://play.example.com` behind a proxy): its origin is the
    /// page's own on the game socket. Default: the bound address (for a loopback bind,
    /// http://127.0.0.1:PORT and http://localhost:PORT).
    #[arg(long, value_name = "URL", value_parser = crate::net::origin::origin_of)]
    pub public_url: Option<String>,
}

/// A flag's number of days (fractions allowed) as a duration.
fn days(text: &str) -> Result<Duration, String> {
    in_units(text, 24.0 * 3600.0)
}

/// A flag's number of seconds (fractions allowed) as a duration.
fn seconds(text: &str) -> Result<Duration, String> {
    in_units(text, 1.0)
}

/// A flag's number of minutes (fractions allowed) as a duration.
fn minutes(text: &str) -> Result<Duration, String> {
    in_units(text, 60.0)
}

/// A flag's number of hours (fractions allowed) as a duration.
fn hours(text: &str) -> Result<Duration, String> {
    in_units(text, 3600.0)
}

fn in_units(text: &str, unit_secs: f64) -> Result<Duration, String> {
    let n: f64 = text.parse().map_err(|e| format!("{e}"))?;
    Duration::try_from_secs_f64(n * unit_secs).map_err(|_| format!("{text} is not a duration"))
}

impl Default for Limits {
    /// The limits of [`crate::Config::default`]: the constants above, as parsing no flags
    /// gives them.
    fn default() -> Self {
        use clap::{Args, FromArgMatches};
        let matches = Limits::augment_args(clap::Command::new("limits")).get_matches_from(["limits"]);
        Limits::from_arg_matches(&matches).expect("every limit has a default")
    }
}

/// A token bucket over a connection's messages, with a count of what it dropped.
#[derive(Debug)]
pub struct RateLimiter {
    tokens: f64,
    last: tokio::time::Instant,
    window_start: tokio::time::Instant,
    dropped_in_window: u32,
    rate: f64,
    burst: f64,
    max_dropped: u32,
}

/// What to do with one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Within the rate: handle it.
    Admit,
    /// Over the rate: drop it (and count it).
    Drop,
    /// Sustained abuse: close the connection.
    Abuse,
}

impl RateLimiter {
    /// A full bucket.
    pub fn new(limits: &Limits) -> RateLimiter {
        let now = tokio::time::Instant::now();
        RateLimiter {
            tokens: limits.message_burst as f64,
            last: now,
            window_start: now,
            dropped_in_window: 0,
            rate: limits.max_messages_per_sec as f64,
            burst: limits.message_burst as f64,
            max_dropped: limits.max_dropped_messages,
        }
    }

    /// Judges one message arriving now.
    pub fn check(&mut self) -> Verdict {
        let now = tokio::time::Instant::now();
        self.tokens = (self.tokens + (now - self.last).as_secs_f64() * self.rate).min(self.burst);
        self.last = now;
        if now - self.window_start > RATE_WINDOW {
            self.window_start = now;
            self.dropped_in_window = 0;
        }
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Verdict::Admit;
        }
        self.dropped_in_window += 1;
        if self.dropped_in_window > self.max_dropped {
            Verdict::Abuse
        } else {
            Verdict::Drop
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The connection cap leaves the headroom free: at a limit of 256 open files, 192 game
    /// connections (where 241 once made new players hang), never zero.
    #[test]
    fn connection_cap_from_the_open_file_limit() {
        assert_eq!(connection_cap(256, FD_HEADROOM), 192);
        assert_eq!(connection_cap(1024, FD_HEADROOM), 960);
        assert_eq!(connection_cap(1_048_576, FD_HEADROOM), 1_048_512);
        assert_eq!(connection_cap(10, FD_HEADROOM), 1);
        assert_eq!(connection_cap(1024, 512), 512, "a larger headroom lowers the cap");
        let huge = connection_cap(u64::MAX, FD_HEADROOM) as u64;
        assert_eq!(huge, (u64::MAX - FD_HEADROOM).min(usize::MAX as u64));
    }

    /// A burst passes, a sustained flood is dropped and then called abuse; a client within
    /// the rate is never dropped.
    #[tokio::test(start_paused = true)]
    async fn token_bucket() {
        let limits = Limits::default();
        let mut r = RateLimiter::new(&limits);
        for _ in 0..MESSAGE_BURST {
            assert_eq!(r.check(), Verdict::Admit);
        }
        assert_eq!(r.check(), Verdict::Drop);
        let mut verdicts = Vec::new();
        for _ in 0..2000 {
            tokio::time::advance(Duration::from_micros(800)).await; // 1250 messages/s: 10× the rate
            verdicts.push(r.check());
        }
        assert!(verdicts.contains(&Verdict::Abuse), "a 10× flood is abuse within 1.6 s");
        let mut fine = RateLimiter::new(&limits);
        for _ in 0..1000 {
            tokio::time::advance(Duration::from_millis(10)).await; // 100 messages/s
            assert_eq!(fine.check(), Verdict::Admit);
        }
    }
}
