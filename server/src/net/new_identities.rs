//! How many new identities each address may create: at most
//! [`crate::limits::MAX_NEW_IDENTITIES_PER_ADDRESS_PER_HOUR`] within any
//! [`crate::limits::NEW_IDENTITY_WINDOW`] (a sliding window, in memory; a restart forgets it).
//!
//! Identities are permanent rows in the store, so a script that claims fresh names as fast as
//! it can connect would grow the database (and take names) without bound. A returning pilot
//! presents its token and is never counted: only the creation of an identity takes from the
//! quota, and the store asks for it at that moment, on its own thread
//! ([`crate::store::StoreHandle::identify`]), so two Hellos racing for an address's last
//! creation cannot both get it.
//!
//! The table holds one timestamp per creation within the window and nothing older: every call
//! first drops the creations that left the window (oldest first, across all addresses), and
//! an address with none left is removed. Its size is bounded by the creations of the last hour,
//! each of which is also a row in the store.

use super::address::AddressKey;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The creations of the last window, by address.
#[derive(Debug)]
pub struct NewIdentities {
    max: usize,
    window: Duration,
    /// A std `Mutex`: nothing awaits while it is held, and it is taken once per new identity.
    table: Mutex<Creations>,
}

#[derive(Debug, Default)]
struct Creations {
    /// Each address's creations within the window, oldest first.
    by_address: HashMap<AddressKey, VecDeque<Instant>>,
    /// Every creation within the window, oldest first: what to expire next.
    in_order: VecDeque<(Instant, AddressKey)>,
}

impl Creations {
    /// Forgets the creations that are `window` old at `now`.
    fn expire(&mut self, now: Instant, window: Duration) {
        while let Some(&(at, key)) = self.in_order.front() {
            if now.saturating_duration_since(at) < window {
                break;
            }
            self.in_order.pop_front();
            if let Some(times) = self.by_address.get_mut(&key) {
                times.pop_front();
                if times.is_empty() {
                    self.by_address.remove(&key);
                }
            }
        }
    }
}

impl NewIdentities {
    /// At most `max` creations per address within any `window`.
    pub fn new(max: u32, window: Duration) -> NewIdentities {
        NewIdentities { max: max as usize, window, table: Mutex::default() }
    }

    /// Counts a creation for `address` at `now` if it made fewer than the maximum within the
    /// window; false (and nothing counted) if it is at the maximum.
    pub fn try_take(&self, address: AddressKey, now: Instant) -> bool {
        let mut t = self.table.lock().unwrap_or_else(|e| e.into_inner());
        t.expire(now, self.window);
        let times = t.by_address.get(&address).map_or(0, VecDeque::len);
        if times >= self.max {
            return false;
        }
        t.by_address.entry(address).or_default().push_back(now);
        t.in_order.push_back((now, address));
        true
    }

    /// How long from `now` until `address` may create an identity again (zero if it may now).
    pub fn retry_after(&self, address: AddressKey, now: Instant) -> Duration {
        let mut t = self.table.lock().unwrap_or_else(|e| e.into_inner());
        t.expire(now, self.window);
        match t.by_address.get(&address) {
            Some(times) if times.len() >= self.max => {
                // The creation that frees a place is the one `max` places from the newest.
                let freeing = times.len() - self.max;
                times.get(freeing).map_or(Duration::ZERO, |at| (*at + self.window).saturating_duration_since(now))
            }
            _ if self.max == 0 => self.window,
            _ => Duration::ZERO,
        }
    }

    /// Addresses with a creation within the window (the table's size).
    pub fn addresses(&self) -> usize {
        self.table.lock().unwrap_or_else(|e| e.into_inner()).by_address.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(last: u8) -> AddressKey {
        AddressKey::V4(std::net::Ipv4Addr::new(203, 0, 113, last))
    }

    const HOUR: Duration = Duration::from_secs(3600);

    /// An address gets its quota within the hour, then none until its oldest creation is an
    /// hour old (a sliding window, not a fixed hour); other addresses are not affected.
    #[test]
    fn quota_per_address_within_a_sliding_hour() {
        let quota = NewIdentities::new(3, HOUR);
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
        let quota = NewIdentities::new(1, HOUR);
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
        let quota = NewIdentities::new(5, HOUR);
        let t0 = Instant::now();
        for last in 0..=255 {
            assert!(quota.try_take(key(last), t0));
        }
        assert_eq!(quota.addresses(), 256);
        assert!(quota.try_take(AddressKey::V6Prefix(1), t0 + HOUR));
        assert_eq!(quota.addresses(), 1, "only the address that created within the hour is left");
    }

    /// A maximum of zero allows no new identities at all.
    #[test]
    fn zero_allows_none() {
        let quota = NewIdentities::new(0, HOUR);
        let t0 = Instant::now();
        assert!(!quota.try_take(key(1), t0));
        assert_eq!(quota.retry_after(key(1), t0), HOUR);
    }
}
