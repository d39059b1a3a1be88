//! Where the store keeps identities and scores, as `--db` names it: a SQLite file (the
//! embedded default, one process) or a PostgreSQL URL (a database several server processes,
//! the sectors of one universe, share). The flag is parsed here, once, into a
//! [`StoreLocation`], so the store never has to guess what a string meant, and a URL that
//! cannot be a PostgreSQL connection string stops the server at start-up rather than at its
//! first commit.

use std::path::PathBuf;
use std::str::FromStr;

/// The URL schemes that name a PostgreSQL database (libpq accepts both).
pub const POSTGRES_SCHEMES: [&str; 2] = ["postgres://", "postgresql://"];

/// Where identities and scores live.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// An SQLite file (`:memory:` for a throwaway database).
    Sqlite(PathBuf),
    /// A PostgreSQL database: a `postgres://` or `postgresql://` URL, validated when parsed.
    Postgres(String),
}

impl StoreLocation {
    /// An SQLite file.
    pub fn sqlite(path: impl Into<PathBuf>) -> StoreLocation {
        StoreLocation::Sqlite(path.into())
    }

    /// A throwaway in-memory SQLite database.
    pub fn memory() -> StoreLocation {
        StoreLocation::Sqlite(":memory:".into())
    }

    /// How logs show it: the path, or the URL without its password.
    pub fn redacted(&self) -> String {
        match self {
            StoreLocation::Sqlite(path) => path.display().to_string(),
            StoreLocation::Postgres(url) => redact_password(url),
        }
    }
}

/// `url` with the password of its user info (`user:password@`) replaced by `***`.
fn redact_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else { return url.to_string() };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else { return url.to_string() };
    match rest[..at].find(':') {
        Some(colon) => format!("{}{}:***{}", &url[..scheme_end], &rest[..colon], &rest[at..]),
        None => url.to_string(),
    }
}

/// Shows [`StoreLocation::redacted`]: a `Config` printed for debugging must not leak the
/// database's password.
impl std::fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreLocation::Sqlite(_) => write!(f, "Sqlite({:?})", self.redacted()),
            StoreLocation::Postgres(_) => write!(f, "Postgres({:?})", self.redacted()),
        }
    }
}

impl std::fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl FromStr for StoreLocation {
    type Err = String;

    /// A `postgres://` or `postgresql://` URL (checked by the PostgreSQL client's own parser)
    /// names a PostgreSQL database; anything else non-empty is an SQLite path.
    fn from_str(s: &str) -> Result<StoreLocation, String> {
        if s.is_empty() {
            return Err("an SQLite path or a postgres:// URL".into());
        }
        let lower = s.to_ascii_lowercase();
        if POSTGRES_SCHEMES.iter().any(|scheme| lower.starts_with(scheme)) {
            let config = s
                .parse::<postgres::Config>()
                .map_err(|e| format!("not a PostgreSQL URL ({e}): {}", redact_password(s)))?;
            // The store connects without TLS (a database on the same host or a private
            // network); a URL that demands TLS would fail at every connection, so it fails here.
            if config.get_ssl_mode() == postgres::config::SslMode::Require {
                return Err(format!(
                    "sslmode=require is not supported (the store connects without TLS): {}",
                    redact_password(s)
                ));
            }
            return Ok(StoreLocation::Postgres(s.to_string()));
        }
        Ok(StoreLocation::Sqlite(PathBuf::from(s)))
    }
}

impl From<PathBuf> for StoreLocation {
    fn from(path: PathBuf) -> StoreLocation {
        StoreLocation::Sqlite(path)
    }
}

impl From<&std::path::Path> for StoreLocation {
    fn from(path: &std::path::Path) -> StoreLocation {
        StoreLocation::Sqlite(path.to_path_buf())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both URL schemes name PostgreSQL, any other string is an SQLite path, and a malformed
    /// URL or an empty value is refused.
    #[test]
    fn urls_and_paths_are_told_apart() {
        let pg = "postgres://ast@127.0.0.1:5432/universe".parse::<StoreLocation>().unwrap();
        assert_eq!(pg, StoreLocation::Postgres("postgres://ast@127.0.0.1:5432/universe".into()));
        assert!(matches!("postgresql://db.example/u".parse(), Ok(StoreLocation::Postgres(_))));
        assert_eq!("scores.db".parse(), Ok(StoreLocation::sqlite("scores.db")));
        assert_eq!(":memory:".parse(), Ok(StoreLocation::memory()));
        assert!("postgres://ast@127.0.0.1:notaport/u".parse::<StoreLocation>().is_err());
        assert!("postgres://ast@db/u?sslmode=require".parse::<StoreLocation>().is_err(), "no TLS client");
        assert!("".parse::<StoreLocation>().is_err());
    }

    /// Logs and `Debug` never show a URL's password.
    #[test]
    fn passwords_are_redacted() {
        let pg: StoreLocation = "postgres://ast:s3cret@10.0.0.5:5432/universe".parse().unwrap();
        assert_eq!(pg.redacted(), "postgres://ast:***@10.0.0.5:5432/universe");
        assert!(!format!("{pg:?} {pg}").contains("s3cret"));
        let error = "postgres://ast:s3cret@host:bad/u".parse::<StoreLocation>().unwrap_err();
        assert!(!error.contains("s3cret"), "{error}");
        assert_eq!(redact_password("postgres://ast@h/u"), "postgres://ast@h/u");
    }
}
