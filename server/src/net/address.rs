//! Who a connection comes from, for the per-address limits ([`super::admission`] and
//! [`super::new_identities`]).
//!
//! Two questions, one answer each:
//!
//! - **Which address is the client's?** The TCP peer's (or, behind a `--proxy-protocol-from`
//!   balancer, the one its PROXY header names: the listener hands that on as the peer), unless
//!   that peer is a reverse proxy
//!   the operator named with `--trusted-proxy`: then the right-most address of
//!   `X-Forwarded-For` that is not itself a trusted proxy ([`client_ip`]). Everything left of
//!   that entry was written by the client and could be anything; the header of an untrusted
//!   peer is ignored for the same reason.
//! - **Which addresses count as one?** An IPv4 address is one subscriber. IPv6 is handed out
//!   by the /64 (one home or phone gets a whole /64, and can pick any of its 2⁶⁴ addresses), so
//!   a limit per IPv6 address would be no limit at all: [`AddressKey`] groups them by /64. An
//!   IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, what a dual-stack socket reports for an IPv4
//!   client) is that IPv4 address.

use crate::limits::{LogLimiter, ADDRESS_WARNING_LOG_INTERVAL};
use axum::http::HeaderMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The header a reverse proxy appends the address it received a request from to.
pub const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// What the per-address limits count by: one IPv4 address, or one IPv6 /64.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddressKey {
    /// An IPv4 address (also when it arrived IPv4-mapped in IPv6).
    V4(Ipv4Addr),
    /// The first 64 bits of an IPv6 address.
    V6Prefix(u64),
}

impl AddressKey {
    /// The key a client address counts under.
    pub fn of(ip: IpAddr) -> AddressKey {
        match ip {
            IpAddr::V4(v4) => AddressKey::V4(v4),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => AddressKey::V4(v4),
                None => AddressKey::V6Prefix((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

impl AddressKey {
    /// The IPv6 /56 and /48 this key's /64 lies in (as their first 56 and 48 bits), which
    /// the wider new-identity quotas count by; none for IPv4.
    pub fn wider(self) -> Option<(u64, u64)> {
        match self {
            AddressKey::V4(_) => None,
            AddressKey::V6Prefix(p64) => Some((p64 >> 8, p64 >> 16)),
        }
    }

    /// How the store records the address that created an identity: its family (4 or 6) and
    /// a number that keeps the addresses' order (the IPv4 address; the IPv6 /64 with its top
    /// bit flipped, so it fits a signed 64-bit column in order), so a purge by network is one
    /// range ([`Network`]).
    pub fn stored(self) -> (i64, i64) {
        match self {
            AddressKey::V4(v4) => (4, i64::from(u32::from(v4))),
            AddressKey::V6Prefix(p64) => (6, ordered(p64)),
        }
    }
}

/// A `u64` as an `i64` of the same order (the top bit flipped).
fn ordered(n: u64) -> i64 {
    (n ^ (1 << 63)) as i64
}

/// A network an operator names to purge the identities created from it (`203.0.113.0/24`,
/// `2001:db8::/48`, or one address): the family and the range of [`AddressKey::stored`]
/// numbers in it. IPv6 is recorded by the /64, so an IPv6 network longer than /64 counts as
/// its /64.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Network {
    /// 4 or 6.
    pub family: i64,
    /// The first stored number in the network.
    pub first: i64,
    /// The last stored number in the network.
    pub last: i64,
}

impl std::str::FromStr for Network {
    type Err = String;

    fn from_str(text: &str) -> Result<Network, String> {
        let (ip, len) = match text.split_once('/') {
            Some((ip, len)) => (ip, Some(len.parse::<u32>().map_err(|_| format!("{text}: not a prefix length"))?)),
            None => (text, None),
        };
        let ip: IpAddr = ip.parse().map_err(|_| format!("{text}: not an IP address"))?;
        match ip.to_canonical() {
            IpAddr::V4(v4) => {
                let len = len.unwrap_or(32);
                if len > 32 {
                    return Err(format!("{text}: an IPv4 prefix is at most /32"));
                }
                let host_bits = u64::from(32 - len);
                let first = u64::from(u32::from(v4)) >> host_bits << host_bits;
                let last = first + ((1u64 << host_bits) - 1);
                Ok(Network { family: 4, first: first as i64, last: last as i64 })
            }
            IpAddr::V6(v6) => {
                let len = len.unwrap_or(128);
                if len > 128 {
                    return Err(format!("{text}: an IPv6 prefix is at most /128"));
                }
                let p64 = (u128::from(v6) >> 64) as u64;
                let host_bits = 64u32.saturating_sub(len);
                let first = if host_bits == 64 { 0 } else { p64 >> host_bits << host_bits };
                let last = if host_bits == 64 { u64::MAX } else { first | ((1u64 << host_bits) - 1) };
                Ok(Network { family: 6, first: ordered(first), last: ordered(last) })
            }
        }
    }
}

impl std::fmt::Display for AddressKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AddressKey::V4(v4) => write!(f, "{v4}"),
            AddressKey::V6Prefix(prefix) => write!(f, "{}/64", Ipv6Addr::from(u128::from(*prefix) << 64)),
        }
    }
}

/// The client's address: `peer` (the TCP peer), or, when `peer` is one of `trusted`, the
/// right-most `X-Forwarded-For` entry that is not a trusted proxy. If every entry is trusted,
/// the left-most one (the request went through proxies only); if the walk meets an entry that
/// is not an address, the last trusted hop before it (nothing left of a broken entry can be
/// believed). With no trusted proxies configured, the header is never read.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    let is_trusted = |ip: IpAddr| is_one_of(ip, trusted);
    if !is_trusted(peer) {
        return peer;
    }
    // Several header lines are one list, in order (RFC 9110 §5.3); a line that is not text is
    // one unreadable entry.
    let entries: Vec<&str> = headers
        .get_all(X_FORWARDED_FOR)
        .iter()
        .flat_map(|line| line.to_str().unwrap_or("?").split(','))
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    let mut client = peer;
    for entry in entries.iter().rev() {
        let Some(ip) = parse_entry(entry) else { return client };
        client = ip;
        if !is_trusted(ip) {
            return ip;
        }
    }
    client
}

/// Whether `ip` is one of `peers` (a flag's list: `--trusted-proxy`, `--proxy-protocol-from`).
pub fn is_one_of(ip: IpAddr, peers: &[IpAddr]) -> bool {
    peers.iter().any(|p| same_ip(*p, ip))
}

/// Whether two addresses are the same host (an IPv4-mapped IPv6 address is its IPv4 one).
fn same_ip(a: IpAddr, b: IpAddr) -> bool {
    a.to_canonical() == b.to_canonical()
}

/// Most peers [`UntrustedForwarders`] names (more are only counted).
pub const UNTRUSTED_FORWARDERS_LISTED: usize = 10;

/// Peers that sent `X-Forwarded-For` on the game socket without being named with
/// `--trusted-proxy`. The header is ignored (anyone can write it: a client, or its own forward
/// proxy), but such a peer may be a reverse proxy of the operator's that was forgotten, whose
/// players then all share its address: each request is counted (`forwarded_untrusted`), logged
/// at most once per [`ADDRESS_WARNING_LOG_INTERVAL`], and the first
/// [`UNTRUSTED_FORWARDERS_LISTED`] peers (by [`AddressKey`], so one IPv6 /64 is one entry) are
/// listed with their counts in `/admin/stats`. Only the operator can tell which it is, so the
/// warning says both.
#[derive(Debug)]
pub struct UntrustedForwarders {
    stats: std::sync::Arc<crate::Stats>,
    seen: std::sync::Mutex<(LogLimiter, std::collections::BTreeMap<String, u64>)>,
}

impl UntrustedForwarders {
    /// Counting into `stats`.
    pub fn new(stats: std::sync::Arc<crate::Stats>) -> UntrustedForwarders {
        let log = LogLimiter::every(ADDRESS_WARNING_LOG_INTERVAL);
        UntrustedForwarders { stats, seen: std::sync::Mutex::new((log, Default::default())) }
    }

    /// A request from `peer` (not a trusted proxy) carried `X-Forwarded-For`.
    pub fn saw(&self, peer: IpAddr) {
        self.stats.forwarded_untrusted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let peer = AddressKey::of(peer).to_string();
        let suppressed = {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            let (log, peers) = &mut *seen;
            if peers.len() < UNTRUSTED_FORWARDERS_LISTED || peers.contains_key(&peer) {
                *peers.entry(peer.clone()).or_default() += 1;
            }
            log.admit(std::time::Instant::now())
        };
        if let Some(suppressed) = suppressed {
            tracing::warn!(
                %peer,
                suppressed,
                "X-Forwarded-For from a peer not named with --trusted-proxy was ignored: if the peer is a \
                 reverse proxy of yours, name it (its players now share its address's limits); if it is not \
                 yours (a client, or a client's own proxy), do not"
            );
        }
    }

    /// The peers seen (an address, or an IPv6 /64), with their requests.
    pub fn list(&self) -> Vec<(String, u64)> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.1.iter().map(|(peer, n)| (peer.clone(), *n)).collect()
    }
}

/// One `X-Forwarded-For` entry: an address, or (as some proxies write it) an address with a
/// port, IPv6 in brackets.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|s| s.ip()))
        .or_else(|_| entry.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>())
        .ok()
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn forwarded(lines: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for line in lines {
            h.append(X_FORWARDED_FOR, HeaderValue::from_str(line).unwrap());
        }
        h
    }

    /// IPv4 is keyed by the address, IPv6 by its /64, and IPv4-mapped IPv6 as the IPv4 address.
    #[test]
    fn keys_group_ipv6_by_64_and_unmap_ipv4() {
        assert_eq!(AddressKey::of(ip("203.0.113.7")), AddressKey::V4("203.0.113.7".parse().unwrap()));
        assert_ne!(AddressKey::of(ip("203.0.113.7")), AddressKey::of(ip("203.0.113.8")));
        assert_eq!(AddressKey::of(ip("::ffff:203.0.113.7")), AddressKey::of(ip("203.0.113.7")));
        let home = AddressKey::of(ip("2001:db8:1:2::1"));
        assert_eq!(home, AddressKey::of(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")), "one /64");
        assert_eq!(home, AddressKey::V6Prefix(0x2001_0db8_0001_0002));
        assert_ne!(home, AddressKey::of(ip("2001:db8:1:3::1")), "the next /64 is another subscriber");
        assert_eq!(home.to_string(), "2001:db8:1:2::/64");
        assert_eq!(AddressKey::of(ip("127.0.0.2")).to_string(), "127.0.0.2");
        assert_ne!(AddressKey::of(ip("::1")), AddressKey::of(ip("127.0.0.1")), "IPv6 loopback is not mapped");
    }

    /// A /64 lies in its /56 and /48; IPv4 has none. Networks hold exactly the stored keys
    /// inside them, in both families, and the order survives the signed column.
    #[test]
    fn wider_prefixes_and_networks() {
        let home = AddressKey::of(ip("2001:db8:1:2::1"));
        // The /56 2001:db8:1::/56 and the /48 2001:db8:1::/48, as their leading bits.
        assert_eq!(home.wider(), Some((0x2001_0db8_0001_0000 >> 8, 0x2001_0db8_0001)));
        let next_56 = AddressKey::of(ip("2001:db8:1:2ff::1")).wider().unwrap().0;
        assert_eq!(next_56, 0x2001_0db8_0001_0200 >> 8, "2001:db8:1:200::/56, another /56");
        assert_eq!(AddressKey::of(ip("203.0.113.7")).wider(), None);
        let inside = |net: &str, key: AddressKey| {
            let n: Network = net.parse().unwrap();
            let (family, number) = key.stored();
            family == n.family && (n.first..=n.last).contains(&number)
        };
        assert!(inside("2001:db8:1::/48", home));
        assert!(inside("2001:db8:1:2::/64", home));
        assert!(inside("2001:db8:1:2::99", home), "a longer prefix is its /64");
        assert!(!inside("2001:db8:2::/48", home));
        assert!(!inside("203.0.113.0/24", home), "another family");
        assert!(inside("::/0", home));
        assert!(inside("8000::/1", AddressKey::of(ip("ff02::1"))), "the top half stays in order");
        assert!(!inside("::/1", AddressKey::of(ip("ff02::1"))));
        assert!(inside("203.0.113.0/24", AddressKey::of(ip("203.0.113.7"))));
        assert!(inside("203.0.113.7", AddressKey::of(ip("::ffff:203.0.113.7"))));
        assert!(!inside("203.0.113.8/32", AddressKey::of(ip("203.0.113.7"))));
        for bad in ["203.0.113.0/33", "2001:db8::/129", "nginx", "1.2.3.4/x"] {
            assert!(bad.parse::<Network>().is_err(), "{bad}");
        }
    }

    /// Without trusted proxies, or from a peer that is not one, the header is ignored.
    #[test]
    fn forwarded_for_is_ignored_unless_the_peer_is_trusted() {
        let h = forwarded(&["198.51.100.1"]);
        assert_eq!(client_ip(ip("203.0.113.7"), &h, &[]), ip("203.0.113.7"));
        assert_eq!(client_ip(ip("203.0.113.7"), &h, &[ip("10.0.0.1")]), ip("203.0.113.7"));
        assert_eq!(client_ip(ip("10.0.0.1"), &HeaderMap::new(), &[ip("10.0.0.1")]), ip("10.0.0.1"), "no header");
    }

    /// Behind trusted proxies, the client is the right-most entry that is not a trusted proxy:
    /// what the client wrote itself (left of it) cannot move it to another address.
    #[test]
    fn right_most_untrusted_entry_is_the_client() {
        let nginx = ip("10.0.0.1");
        let cdn = ip("10.0.0.2");
        let trusted = [nginx, cdn];
        // The client forged "1.2.3.4"; nginx appended the address it saw.
        let h = forwarded(&["1.2.3.4, 198.51.100.9"]);
        assert_eq!(client_ip(nginx, &h, &trusted), ip("198.51.100.9"));
        // Two proxies: the CDN saw the client, nginx saw the CDN.
        let h = forwarded(&["1.2.3.4", "198.51.100.9, 10.0.0.2"]);
        assert_eq!(client_ip(nginx, &h, &trusted), ip("198.51.100.9"), "header lines are one list");
        // Every hop trusted: the left-most.
        assert_eq!(client_ip(nginx, &forwarded(&["10.0.0.2"]), &trusted), cdn);
        // Ports, brackets and IPv4-mapped forms.
        let h = forwarded(&["[2001:db8::1]:4711"]);
        assert_eq!(client_ip(nginx, &h, &trusted), ip("2001:db8::1"));
        assert_eq!(client_ip(nginx, &forwarded(&["198.51.100.9:443"]), &trusted), ip("198.51.100.9"));
        assert_eq!(client_ip(nginx, &forwarded(&["::ffff:198.51.100.9"]), &trusted), ip("198.51.100.9"));
        let mapped_proxy = ip("::ffff:10.0.0.1");
        assert_eq!(client_ip(mapped_proxy, &forwarded(&["198.51.100.9"]), &trusted), ip("198.51.100.9"));
    }

    /// An entry that is not an address stops the walk at the last trusted hop: garbage cannot
    /// pick the address a client counts under.
    #[test]
    fn garbage_entries_count_as_the_last_trusted_hop() {
        let trusted = [ip("10.0.0.1"), ip("10.0.0.2")];
        assert_eq!(client_ip(ip("10.0.0.1"), &forwarded(&["unknown"]), &trusted), ip("10.0.0.1"));
        assert_eq!(client_ip(ip("10.0.0.1"), &forwarded(&["1.2.3.4, junk, 10.0.0.2"]), &trusted), ip("10.0.0.2"));
        assert_eq!(client_ip(ip("10.0.0.1"), &forwarded(&[" , "]), &trusted), ip("10.0.0.1"));
    }
}
