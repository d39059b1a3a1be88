//! How many new identities each address may create: at most
//! [`crate::limits::MAX_NEW_IDENTITIES_PER_ADDRESS_PER_HOUR`] per address (an IPv4 address or
//! an IPv6 /64), and, for IPv6, at most [`crate::limits::MAX_NEW_IDENTITIES_PER_56_PER_HOUR`]
//! per /56 and [`crate::limits::MAX_NEW_IDENTITIES_PER_48_PER_HOUR`] per /48, within any
//! [`crate::limits::NEW_IDENTITY_WINDOW`] (a sliding window, in memory; a restart forgets it).
//!
//! Identities are rows in the store, so a script that claims fresh names as fast as it can
//! connect would grow the database (and take names) without bound. A returning pilot
//! presents its token and is never counted: only the creation of an identity takes from the
//! quota, and the store asks for it at that moment, on its own thread
//! ([`crate::store::StoreHandle::identify`]), so two Hellos racing for an address's last
//! creation cannot both get it. The wider IPv6 quotas exist because one subscriber often holds
//! a /56 or a /48: 256 or 65,536 /64s, each with a quota of its own.
//!
//! A creation is counted under all of its keys or none: refused by its /48, it spends nothing
//! of its /64's quota. Which key refused is counted (`new_identities_refused_56`,
//! `new_identities_refused_48`; every refusal also in `new_identities_refused`).
//!
//! The table holds one timestamp per key per creation within the window and nothing older:
//! every call first drops the creations that left the window (oldest first, across all keys),
//! and a key with none left is removed. Its size is bounded by the creations of the last hour,
//! each of which is also a row in the store.
//!
//! The store also records which address created an identity (so an operator can purge by
//! network: `POST /admin/purge`): the session gives it the address beside the closure that
//! asks [`NewIdentities::try_take`] on the store's thread.

use super::address::AddressKey;
use crate::Stats;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a quota counts by: an address (IPv4, or IPv6 /64), or a wider IPv6 prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum QuotaKey {
    Address(AddressKey),
    /// The first 56 bits of an IPv6 address.
    V6Prefix56(u64),
    /// The first 48 bits of an IPv6 address.
    V6Prefix48(u64),
}

/// The quotas per hour (or per window) of each kind of key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quotas {
    /// Per address (IPv4, or IPv6 /64).
    pub per_address: u32,
    /// Per IPv6 /56.
    pub per_56: u32,
    /// Per IPv6 /48.
    pub per_48: u32,
}

impl Quotas {
    /// The quotas of `limits`.
    pub fn from_limits(limits: &crate::limits::Limits) -> Quotas {
        Quotas {
            per_address: limits.max_new_identities_per_address_per_hour,
            per_56: limits.max_new_identities_per_56_per_hour,
            per_48: limits.max_new_identities_per_48_per_hour,
        }
    }
}

/// The creations of the last window, by key.
#[derive(Debug)]
pub struct NewIdentities {
    quotas: Quotas,
    window: Duration,
    stats: Arc<Stats>,
    /// A std `Mutex`: nothing awaits while it is held, and it is taken once per new identity.
    table: Mutex<Creations>,
}

#[derive(Debug, Default)]
struct Creations {
    /// Each key's creations within the window, oldest first.
    by_key: HashMap<QuotaKey, VecDeque<Instant>>,
    /// Every creation within the window, under each of its keys, oldest first: what to
    /// expire next.
    in_order: VecDeque<(Instant, QuotaKey)>,
}

impl Creations {
    /// Forgets the creations that are `window` old at `now`.
    fn expire(&mut self, now: Instant, window: Duration) {
        while let Some(&(at, key)) = self.in_order.front() {
            if now.saturating_duration_since(at) < window {
                break;
            }
            self.in_order.pop_front();
            if let Some(times) = self.by_key.get_mut(&key) {
                times.pop_front();
                if times.is_empty() {
                    self.by_key.remove(&key);
                }
            }
        }
    }

    fn count(&self, key: &QuotaKey) -> usize {
        self.by_key.get(key).map_or(0, VecDeque::len)
    }
}

impl NewIdentities {
    /// At most `quotas` creations per key within any `window`; refusals by the wider keys are
    /// counted into `stats`.
    pub fn new(quotas: Quotas, window: Duration, stats: Arc<Stats>) -> NewIdentities {
        NewIdentities { quotas, window, stats, table: Mutex::default() }
    }

    /// The keys `address` counts under, with each one's maximum: its own, then (IPv6) its
    /// /56 and its /48.
    fn keys(&self, address: AddressKey) -> Vec<(QuotaKey, usize)> {
        let mut keys = vec![(QuotaKey::Address(address), self.quotas.per_address as usize)];
        if let Some((p56, p48)) = address.wider() {
            keys.push((QuotaKey::V6Prefix56(p56), self.quotas.per_56 as usize));
            keys.push((QuotaKey::V6Prefix48(p48), self.quotas.per_48 as usize));
        }
        keys
    }

    /// Counts a creation for `address` at `now` if it and its wider prefixes each made fewer
    /// than their maximum within the window; false (and nothing counted) otherwise.
    pub fn try_take(&self, address: AddressKey, now: Instant) -> bool {
        let keys = self.keys(address);
        let mut t = self.table.lock().unwrap_or_else(|e| e.into_inner());
        t.expire(now, self.window);
        if let Some((refused, _)) = keys.iter().find(|(key, max)| t.count(key) >= *max) {
            match refused {
                QuotaKey::Address(_) => {}
                QuotaKey::V6Prefix56(_) => {
                    self.stats.new_identities_refused_56.fetch_add(1, Ordering::Relaxed);
                }
                QuotaKey::V6Prefix48(_) => {
                    self.stats.new_identities_refused_48.fetch_add(1, Ordering::Relaxed);
                }
            }
            return false;
        }
        for (key, _) in keys {
            t.by_key.entry(key).or_default().push_back(now);
            t.in_order.push_back((now, key));
        }
        true
    }

    /// How long from `now` until `address` may create an identity again (zero if it may now):
    /// the longest wait of its keys.
    pub fn retry_after(&self, address: AddressKey, now: Instant) -> Duration {
        let keys = self.keys(address);
        let mut t = self.table.lock().unwrap_or_else(|e| e.into_inner());
        t.expire(now, self.window);
        keys.iter()
            .map(|(key, max)| match t.by_key.get(key) {
                Some(times) if times.len() >= *max => {
                    // The creation that frees a place is the one `max` places from the newest.
                    let freeing = times.len() - max;
                    times.get(freeing).map_or(self.window, |at| (*at + self.window).saturating_duration_since(now))
                }
                _ if *max == 0 => self.window,
                _ => Duration::ZERO,
            })
            .max()
            .unwrap_or(Duration::ZERO)
    }

    /// Keys (addresses and wider prefixes) with a creation within the window: the table's size.
    pub fn addresses(&self) -> usize {
        self.table.lock().unwrap_or_else(|e| e.into_inner()).by_key.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(last: u8) -> AddressKey {
        AddressKey::V4(std::net::Ipv4Addr::new(203, 0, 113, last))
    }

    const HOUR: Duration = Duration::from_secs(3600);

    /// `per_address` per address, and the wider quotas out of the way.
    fn per_address(per_address: u32) -> NewIdentities {
        let quotas = Quotas { per_address, per_56: u32::MAX, per_48: u32::MAX };
        NewIdentities::new(quotas, HOUR, Arc::new(Stats::default()))
    }

    /// The /64 `n` of the /56 `p56` of the /48 2001:db8:1::/48.
    fn v6(p56: u8, n: u8) -> AddressKey {
        AddressKey::V6Prefix(0x2001_0db8_0001_0000 | (u64::from(p56) << 8) | u64::from(n))
    }

    /// An address gets its quota within the hour, then none until its oldest creation is an
    /// hour old (a sliding window, not a fixed hour); other addresses are not affected.
    #[test]
    fn quota_per_address_within_a_sliding_hour() {
        let quota = per_address(3);
        let t0 = Instant::now();
        let min = |m: u64| t0 + Duration::from_secs(60 * m);
        assert!(quota.try_take(key(1), min(0)));
        assert!(quota.try_take(key(1), min(10)));
        assert!(quota.try_take(key(1), min(20)));
        assert!(!quota.try_take(key(1), min(30)), "a fourth within the hour");
        assert_eq!(quota.retry_after(key(1), min(30)), Duration::from_secs(30 * 60), "when the first is an hour old");
        assert!(quota.try_take(key(2), min(30)), "another address has its own quota");
        assert!(!quota.try_take(key(1), min(59)));
        assert!(quota.try_take(key(1), min(60)), "the first creation left the window");
        assert!(!quota.try_take(key(1), min(61)));
        assert_eq!(quota.retry_after(key(1), min(61)), Duration::from_secs(9 * 60));
        assert_eq!(quota.retry_after(key(2), min(61)), Duration::ZERO);
    }

    /// Refusals are not counted, so an address that keeps trying is free again an hour after
    /// its creations, not an hour after its last attempt.
    #[test]
    fn refusals_do_not_extend_the_wait() {
        let quota = per_address(1);
        let t0 = Instant::now();
        assert!(quota.try_take(key(1), t0));
        for m in 1..60 {
            assert!(!quota.try_take(key(1), t0 + Duration::from_secs(60 * m)));
        }
        assert!(quota.try_take(key(1), t0 + HOUR));
    }

    /// The table forgets an address once its creations have left the window, whoever calls.
    #[test]
    fn table_is_pruned() {
        let quota = per_address(5);
        let t0 = Instant::now();
        for last in 0..=255 {
            assert!(quota.try_take(key(last), t0));
        }
        assert_eq!(quota.addresses(), 256);
        assert!(quota.try_take(AddressKey::V6Prefix(1), t0 + HOUR));
        assert_eq!(quota.addresses(), 3, "only the /64 that created within the hour is left, with its /56 and /48");
    }

    /// A maximum of zero allows no new identities at all.
    #[test]
    fn zero_allows_none() {
        let quota = per_address(0);
        let t0 = Instant::now();
        assert!(!quota.try_take(key(1), t0));
        assert_eq!(quota.retry_after(key(1), t0), HOUR);
    }

    /// Regression (issue 23: every /64 of a /48 had a quota of its own, 65,536 quotas for one
    /// prefix): a /56 is held to its quota across its /64s, counted as the /56's refusal; a /64
    /// in another /56 of the same /48 still creates; a refusal spends nothing of the /64's own
    /// quota, and the wait is the /56's.
    #[test]
    fn a_56_is_held_to_its_quota_across_its_64s() {
        let stats = Arc::new(Stats::default());
        let quota = NewIdentities::new(Quotas { per_address: 2, per_56: 3, per_48: 100 }, HOUR, stats.clone());
        let t0 = Instant::now();
        assert!(quota.try_take(v6(0, 0), t0));
        assert!(quota.try_take(v6(0, 1), t0 + Duration::from_secs(60)));
        assert!(quota.try_take(v6(0, 2), t0 + Duration::from_secs(120)));
        assert!(!quota.try_take(v6(0, 3), t0 + Duration::from_secs(180)), "a fourth /64 of the same /56");
        assert_eq!(stats.new_identities_refused_56.load(Ordering::Relaxed), 1);
        assert_eq!(quota.retry_after(v6(0, 3), t0 + Duration::from_secs(180)), HOUR - Duration::from_secs(180));
        assert!(quota.try_take(v6(1, 3), t0 + Duration::from_secs(180)), "another /56 of the /48");
        assert!(quota.try_take(v6(0, 3), t0 + HOUR), "the /56's first creation left the window");
        assert!(quota.try_take(v6(0, 3), t0 + HOUR + Duration::from_secs(60)), "its /64 spent nothing when refused");
        assert_eq!(stats.new_identities_refused_48.load(Ordering::Relaxed), 0);
    }

    /// A /48 is held to its quota across all its /56s and /64s, each of them under its own
    /// quota, counted as the /48's refusal; IPv4 addresses have no wider quota.
    #[test]
    fn a_48_is_held_to_its_quota_across_its_56s() {
        let stats = Arc::new(Stats::default());
        let quota = NewIdentities::new(Quotas { per_address: 20, per_56: 40, per_48: 5 }, HOUR, stats.clone());
        let t0 = Instant::now();
        for p56 in 0..5 {
            assert!(quota.try_take(v6(p56, 0), t0), "/56 number {p56}");
        }
        assert!(!quota.try_take(v6(200, 7), t0), "any /64 of any /56 of the /48");
        assert_eq!(stats.new_identities_refused_48.load(Ordering::Relaxed), 1);
        assert_eq!(quota.retry_after(v6(9, 9), t0), HOUR);
        assert!(quota.try_take(AddressKey::V6Prefix(0x2001_0db8_0002_0000), t0), "another /48");
        let v4 = NewIdentities::new(Quotas { per_address: 20, per_56: 0, per_48: 0 }, HOUR, stats);
        assert!(v4.try_take(key(1), t0), "IPv4 is held to its address's quota only");
    }
}
