//! Which web pages may open the game socket: the `Origin` check.
//!
//! A browser sends the page's origin with every WebSocket upgrade, and the page cannot forge
//! it. It can, however, choose the `Host` header's value indirectly: a DNS-rebinding page at
//! `http://evil.example:8080` whose name was re-pointed at this server sends
//! `Origin: http://evil.example:8080` *and* `Host: evil.example:8080`. So the check never
//! looks at `Host`; it compares the origin with a list fixed at start-up:
//!
//! - with `--public-url`, that URL's origin (the address players type, e.g. behind a proxy);
//! - without it, the address the listener is actually bound to (so `--bind 127.0.0.1:0` gives
//!   the real port): for a loopback bind, `http://127.0.0.1:PORT` (or `[::1]`) and
//!   `http://localhost:PORT`; for a specific address, `http://ADDR:PORT`; for an unspecified
//!   bind (`0.0.0.0`), the loopback origins plus any IP-literal origin on the port (the page
//!   was loaded by address: no name was involved, so nothing was rebound);
//! - plus every `--allowed-origin`.
//!
//! Requests with no `Origin` at all are not from a browser page and pass (bots, tools).

use std::net::{IpAddr, SocketAddr};

/// The origins the game socket accepts, fixed at start-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicOrigins {
    /// Origins accepted exactly (scheme and host lower-cased, default port omitted).
    exact: Vec<String>,
    /// With an unspecified bind and no `--public-url`: any `http://` origin whose host is an
    /// IP literal and whose port is this one.
    any_ip_on_port: Option<u16>,
}

/// The origin (`scheme://host[:port]`, lower-cased, without a default port or a path) of an
/// `http` or `https` URL; the error says what is wrong. Used to parse `--public-url` and
/// `--allowed-origin`.
pub fn origin_of(url: &str) -> Result<String, String> {
    let url = url.trim();
    let (scheme, rest) = url.split_once("://").ok_or_else(|| format!("{url:?} is not a URL (no scheme)"))?;
    let scheme = scheme.to_ascii_lowercase();
    // A game socket's URL (a sector's `--public-url ws://…/ws`) names the origin of the page
    // served beside it.
    let scheme = match scheme.as_str() {
        "ws" => "http".to_string(),
        "wss" => "https".to_string(),
        _ => scheme,
    };
    let default_port = match scheme.as_str() {
        "http" => "80",
        "https" => "443",
        _ => return Err(format!("{url:?}: the scheme must be http, https, ws or wss")),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() || authority.contains('@') {
        return Err(format!("{url:?}: expected scheme://host[:port]"));
    }
    let authority = authority.to_ascii_lowercase();
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !p.contains(']') => {
            p.parse::<u16>().map_err(|_| format!("{url:?}: bad port {p:?}"))?;
            (h.to_string(), Some(p.to_string()))
        }
        _ => (authority.clone(), None),
    };
    Ok(match port {
        Some(p) if p != default_port => format!("{scheme}://{host}:{p}"),
        _ => format!("{scheme}://{host}"),
    })
}

/// `http://host:port` for an address, as a browser writes it (no port 80, IPv6 in brackets).
fn http_origin(host: &str, port: u16) -> String {
    if port == 80 {
        format!("http://{host}")
    } else {
        format!("http://{host}:{port}")
    }
}

fn ip_host(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

impl PublicOrigins {
    /// The accepted origins for a server reachable at `public_url` (if given) or else at the
    /// address it is `bound` to, plus the `allowed` ones. Errors if a URL is not one.
    pub fn derive(public_url: Option<&str>, bound: SocketAddr, allowed: &[String]) -> Result<PublicOrigins, String> {
        let mut exact = Vec::new();
        let mut any_ip_on_port = None;
        let port = bound.port();
        if let Some(url) = public_url {
            exact.push(origin_of(url)?);
        } else {
            let ip = bound.ip();
            if ip.is_unspecified() {
                any_ip_on_port = Some(port);
            }
            if ip.is_loopback() || ip.is_unspecified() {
                exact.push(http_origin("localhost", port));
                exact.push(http_origin("127.0.0.1", port));
                exact.push(http_origin("[::1]", port));
            }
            if !ip.is_unspecified() {
                exact.push(http_origin(&ip_host(ip), port));
            }
        }
        for a in allowed {
            exact.push(origin_of(a)?);
        }
        exact.sort();
        exact.dedup();
        Ok(PublicOrigins { exact, any_ip_on_port })
    }

    /// Whether a request with this `Origin` header (None: the header is absent) may open the
    /// game socket.
    pub fn allows(&self, origin: Option<&[u8]>) -> bool {
        let Some(origin) = origin else { return true };
        let Ok(origin) = std::str::from_utf8(origin) else { return false };
        let Ok(normal) = origin_of(origin) else { return false };
        if self.exact.contains(&normal) {
            return true;
        }
        let Some(port) = self.any_ip_on_port else { return false };
        let Some(authority) = normal.strip_prefix("http://") else { return false };
        let (host, p) = authority.rsplit_once(':').unwrap_or((authority, "80"));
        let host = host.trim_start_matches('[').trim_end_matches(']');
        p.parse::<u16>() == Ok(port) && host.parse::<IpAddr>().is_ok()
    }

    /// The origins accepted exactly, for the start-up log.
    pub fn exact(&self) -> &[String] {
        &self.exact
    }

    /// Whether any IP-literal origin on the bound port is accepted (unspecified bind, no
    /// `--public-url`).
    pub fn any_ip_on_port(&self) -> Option<u16> {
        self.any_ip_on_port
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(o: &PublicOrigins, origin: &str) -> bool {
        o.allows(Some(origin.as_bytes()))
    }

    /// URLs reduce to the origin a browser sends: lower case, no default port, no path.
    #[test]
    fn origins_of_urls() {
        assert_eq!(origin_of("https://Play.Example.com/game/").unwrap(), "https://play.example.com");
        assert_eq!(origin_of("https://play.example.com:443").unwrap(), "https://play.example.com");
        assert_eq!(origin_of("http://play.example.com:8080/").unwrap(), "http://play.example.com:8080");
        assert_eq!(origin_of("http://[::1]:8080").unwrap(), "http://[::1]:8080");
        for bad in ["play.example.com", "ftp://x", "http://", "http://u@evil", "http://x:99999", "null"] {
            assert!(origin_of(bad).is_err(), "{bad}");
        }
    }

    /// A loopback bind accepts its own address and localhost on the bound port, nothing else,
    /// whatever the request's Host says (the check never reads it).
    #[test]
    fn loopback_bind() {
        let o = PublicOrigins::derive(None, "127.0.0.1:41234".parse().unwrap(), &[]).unwrap();
        assert!(allows(&o, "http://127.0.0.1:41234"));
        assert!(allows(&o, "http://localhost:41234"));
        assert!(!allows(&o, "http://127.0.0.1:8080"));
        assert!(!allows(&o, "http://evil.example:41234"));
        assert!(!allows(&o, "https://127.0.0.1:41234"));
        assert!(!allows(&o, "null"));
        assert!(o.allows(None), "non-browser clients send no Origin");
    }

    /// With --public-url only its origin (and --allowed-origin ones) pass, not the bind's.
    #[test]
    fn public_url_and_allowed() {
        let allowed = vec!["https://other.example/".to_string()];
        let o = PublicOrigins::derive(Some("https://play.example.com/"), "0.0.0.0:8080".parse().unwrap(), &allowed)
            .unwrap();
        assert!(allows(&o, "https://play.example.com"));
        assert!(allows(&o, "https://other.example"));
        assert!(!allows(&o, "http://127.0.0.1:8080"));
        assert!(!allows(&o, "http://10.0.0.5:8080"));
        assert!(PublicOrigins::derive(Some("play.example.com"), "0.0.0.0:8080".parse().unwrap(), &[]).is_err());
    }

    /// An unspecified bind without --public-url accepts pages loaded by IP address on its port
    /// (no name, so nothing rebound) and localhost, never a host name.
    #[test]
    fn unspecified_bind() {
        let o = PublicOrigins::derive(None, "0.0.0.0:8080".parse().unwrap(), &[]).unwrap();
        assert!(allows(&o, "http://192.168.1.20:8080"));
        assert!(allows(&o, "http://[fe80::1]:8080"));
        assert!(allows(&o, "http://localhost:8080"));
        assert!(!allows(&o, "http://192.168.1.20:9090"));
        assert!(!allows(&o, "http://evil.example:8080"));
        let specific = PublicOrigins::derive(None, "10.0.0.5:80".parse().unwrap(), &[]).unwrap();
        assert_eq!(specific.exact(), ["http://10.0.0.5"]);
    }
}
