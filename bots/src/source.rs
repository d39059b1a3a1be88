//! Which local address each bot's socket comes from.
//!
//! A server limits what one source address may do (game connections at once, new identities
//! an hour), as it should: on the internet one address is one household. A swarm on one
//! machine would be one address thousands of times over, so it spreads its bots over several:
//! bot `i` binds to the `i / bots_per_address`-th usable address from a base. Every address
//! in 127.0.0.0/8 reaches the loopback interface on Linux without any set-up, so against a
//! loopback URL the swarm spreads by default from 127.0.0.1; elsewhere only when given a base
//! (the addresses must then be the machine's own).
//!
//! Usable addresses skip those whose last octet is 0 or 255 (network and broadcast addresses
//! in a /24): after 127.0.0.254 comes 127.0.1.1. Spreading also widens the ephemeral ports:
//! the kernel gives each source address its own range (about 28,000 ports by default), so no
//! run comes near exhausting them.

use std::net::Ipv4Addr;
use std::num::NonZeroUsize;

/// Usable addresses in each block of 256 (last octets 1 to 254).
const USABLE_PER_BLOCK: u64 = 254;

/// Source addresses for a swarm: `bots_per_address` bots on each usable address from `base` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourceAddresses {
    /// The first address, as its index among usable addresses (see [`usable_index`]).
    first: u64,
    bots_per_address: NonZeroUsize,
}

/// The base used against a loopback URL when none is given.
pub const LOOPBACK_BASE: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);

/// The position of `ip` among usable addresses, rounding an unusable one up to the next
/// usable one (x.y.z.0 to x.y.z.1, x.y.z.255 to x.y.(z+1).1).
fn usable_index(ip: Ipv4Addr) -> u64 {
    let ip = u32::from(ip) as u64;
    let (block, host) = (ip >> 8, ip & 0xff);
    match host {
        0 => block * USABLE_PER_BLOCK,
        255 => (block + 1) * USABLE_PER_BLOCK,
        h => block * USABLE_PER_BLOCK + h - 1,
    }
}

/// The usable address at `index` (the inverse of [`usable_index`]); none past 255.255.255.254.
fn usable_address(index: u64) -> Option<Ipv4Addr> {
    let (block, host) = (index / USABLE_PER_BLOCK, index % USABLE_PER_BLOCK + 1);
    u32::try_from((block << 8) | host).ok().map(Ipv4Addr::from)
}

impl SourceAddresses {
    /// `bots_per_address` bots on each usable address from `base` on (an unusable base is
    /// rounded up to the next usable address).
    pub fn new(base: Ipv4Addr, bots_per_address: NonZeroUsize) -> Self {
        SourceAddresses { first: usable_index(base), bots_per_address }
    }

    /// The address bot `i` binds to; none when the address space runs out.
    pub fn for_bot(&self, i: usize) -> Option<Ipv4Addr> {
        usable_address(self.first + (i / self.bots_per_address) as u64)
    }

    /// How many addresses `bots` bots use.
    pub fn addresses_for(&self, bots: usize) -> usize {
        bots.div_ceil(self.bots_per_address.get())
    }

    /// The spread for a swarm aimed at `host` (a URL's host): from `base` if one is given,
    /// from [`LOOPBACK_BASE`] if the host is a loopback address, otherwise none (the kernel
    /// picks the source address).
    pub fn plan(host: &str, base: Option<Ipv4Addr>, bots_per_address: NonZeroUsize) -> Option<Self> {
        base.or_else(|| is_loopback_host(host).then_some(LOOPBACK_BASE))
            .map(|base| SourceAddresses::new(base, bots_per_address))
    }
}

/// Whether a URL's host is an IPv4 loopback address or `localhost`. (IPv6 has one loopback
/// address, `::1`: nothing to spread over.)
pub fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn per(n: usize) -> NonZeroUsize {
        NonZeroUsize::new(n).unwrap()
    }

    /// Sixteen bots share an address; the 255th address is 127.0.1.1 (no .0, no .255), and
    /// so on through the blocks.
    #[test]
    fn bots_fill_usable_addresses_in_order() {
        let s = SourceAddresses::new(LOOPBACK_BASE, per(16));
        let at = |i| s.for_bot(i).unwrap();
        assert_eq!(at(0), Ipv4Addr::new(127, 0, 0, 1));
        assert_eq!(at(15), Ipv4Addr::new(127, 0, 0, 1));
        assert_eq!(at(16), Ipv4Addr::new(127, 0, 0, 2));
        assert_eq!(at(253 * 16), Ipv4Addr::new(127, 0, 0, 254));
        assert_eq!(at(254 * 16), Ipv4Addr::new(127, 0, 1, 1), "past .254 to the next block's .1");
        assert_eq!(at(254 * 16 * 256), Ipv4Addr::new(127, 1, 0, 1));
        assert_eq!(s.addresses_for(5000), 313);
        let all: Vec<_> = (0..20_000).step_by(16).map(at).collect();
        assert!(all.iter().all(|ip| ip.is_loopback() && !matches!(ip.octets()[3], 0 | 255)));
        assert!(all.windows(2).all(|w| w[0] < w[1]), "every bot group has its own address");
    }

    /// An unusable base rounds up; a base in the middle of a block continues from there; the
    /// address space ends at 255.255.255.254.
    #[test]
    fn bases_round_up_and_the_space_ends() {
        let from = |base, i| SourceAddresses::new(base, per(1)).for_bot(i);
        assert_eq!(from(Ipv4Addr::new(10, 0, 0, 0), 0), Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(from(Ipv4Addr::new(10, 0, 0, 255), 0), Some(Ipv4Addr::new(10, 0, 1, 1)));
        assert_eq!(from(Ipv4Addr::new(10, 0, 0, 250), 5), Some(Ipv4Addr::new(10, 0, 1, 1)));
        assert_eq!(from(Ipv4Addr::new(255, 255, 255, 254), 0), Some(Ipv4Addr::new(255, 255, 255, 254)));
        assert_eq!(from(Ipv4Addr::new(255, 255, 255, 254), 1), None);
    }

    /// Loopback URLs spread by default, others only with a base; `::1` does not spread.
    #[test]
    fn only_loopback_spreads_by_default() {
        let plan = |host, base| SourceAddresses::plan(host, base, per(16)).and_then(|s| s.for_bot(0));
        assert_eq!(plan("127.0.0.1", None), Some(LOOPBACK_BASE));
        assert_eq!(plan("127.3.2.1", None), Some(LOOPBACK_BASE));
        assert_eq!(plan("LocalHost", None), Some(LOOPBACK_BASE));
        assert_eq!(plan("[::1]", None), None);
        assert_eq!(plan("game.example.com", None), None);
        assert_eq!(plan("192.168.1.10", None), None);
        let base = Ipv4Addr::new(192, 168, 1, 20);
        assert_eq!(plan("game.example.com", Some(base)), Some(base));
        assert_eq!(plan("127.0.0.1", Some(Ipv4Addr::new(127, 1, 0, 1))), Some(Ipv4Addr::new(127, 1, 0, 1)));
    }
}
