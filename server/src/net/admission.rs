//! Who may hold a game connection: the server-wide cap (`--max-connections`) and the cap per
//! source address (`--max-connections-per-address`, by [`AddressKey`]), both held by one
//! guard, [`ConnectionSlot`], from the upgrade until the session is over, and past it while
//! the player's ship waits as a ghost.
//!
//! **Ghosts hold their place.** A player whose connection ends honestly leaves its ship in the
//! world for the resume window, waiting for the same identity to come back. Had the waiting
//! ship given its place back, one address holding 24 sockets could have kept 3,000 ships in
//! the world by reconnecting under new names. So a session that ends resumably keeps its
//! place, under both caps and at its address, until the window ends or its identity comes
//! back. A connection closed for abuse leaves no ghost and keeps nothing.
//!
//! **A pilot is never refused by its own ghost.** The upgrade needs a place before the `Hello`
//! says who is connecting. When a cap is full only because of ghosts, the upgrade is let in on
//! a ghost's credit, *provisionally*, at most one at a time per ghost. Once the handshake has
//! identified the pilot, [`ConnectionSlot::settle`] takes over the place that pilot already
//! holds (its ghost's, or that of the live connection it replaces), so the count is back at
//! the cap. A provisional connection whose pilot holds no place at its address is refused
//! (closed 1013, try again later, and counted as the cap's refusals) and may not create an
//! identity. A reloaded page thus gets in at once, while an address at its cap cannot spend
//! its ghosts' places on anyone else.
//!
//! A revoked identity's ghost gives its place back at once ([`Admission::revoked`]).
//!
//! The table is bounded by what it counts: an address is in it while it holds a place, and a
//! pilot while its connection or ghost does. Ghosts expire in deadline order (a queue: every
//! ghost waits the same window), at every admission and once a second.

use super::address::AddressKey;
use crate::limits::{Limits, LogLimiter, ADDRESS_WARNING_LOG_INTERVAL};
use crate::Stats;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::time::Instant;

/// Most crowded addresses `/admin/stats` lists.
pub const CROWDED_LISTED: usize = 10;

/// Why a connection was refused a place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The server holds `--max-connections` places (answered 503, counted `full_rejected`).
    Full,
    /// The address holds `--max-connections-per-address` places (answered 429, counted
    /// `address_rejected`).
    AddressFull,
}

/// The places held, server-wide and per address, and who holds them.
#[derive(Debug)]
pub struct Admission {
    max_connections: usize,
    max_per_address: usize,
    resume_window: Duration,
    /// Places one address may hold before the operator is warned (`--shared-address-warning`).
    warn_at: usize,
    crowded_log: Mutex<LogLimiter>,
    stats: Arc<Stats>,
    /// A std `Mutex`: nothing awaits while it is held, and it is taken per connection (admit,
    /// settle, end), never per message.
    table: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    /// Server-wide.
    all: Places,
    by_address: HashMap<AddressKey, Places>,
    /// Where each identity's place is: a live connection's or a ghost's.
    pilots: HashMap<i64, Pilot>,
    /// Ghosts' deadlines, oldest first: `(deadline, identity, slot)`. An entry whose pilot has
    /// since come back (or left) is skipped when it comes due.
    deadlines: VecDeque<(Instant, i64, u64)>,
    next_slot: u64,
}

/// Places held at one address, or server-wide.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Places {
    /// Connections (upgraded, or being upgraded), provisional ones included.
    open: usize,
    /// Ships waiting for their pilot.
    ghosts: usize,
    /// Connections let in over the cap on a ghost's credit, not settled yet.
    borrowed: usize,
}

impl Places {
    fn held(&self) -> usize {
        self.open + self.ghosts
    }

    /// Whether one more connection may come in over the cap on a ghost's credit.
    fn ghost_credit_left(&self) -> bool {
        self.ghosts > self.borrowed
    }
}

#[derive(Clone, Copy, Debug)]
struct Pilot {
    slot: u64,
    address: AddressKey,
    ghost: bool,
}

/// Which caps a provisional connection is over, on a ghost's credit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Credit {
    server: bool,
    address: bool,
}

impl Table {
    fn places(&mut self, address: AddressKey) -> &mut Places {
        self.by_address.entry(address).or_default()
    }

    /// Drops an address that holds nothing, so the table only holds addresses with places.
    fn forget_if_empty(&mut self, address: AddressKey) {
        if self.by_address.get(&address).is_some_and(|p| *p == Places::default()) {
            self.by_address.remove(&address);
        }
    }

    fn release_ghost(&mut self, address: AddressKey) {
        self.all.ghosts -= 1;
        self.places(address).ghosts -= 1;
        self.forget_if_empty(address);
    }

    fn repay(&mut self, address: AddressKey, credit: Credit) {
        if credit.server {
            self.all.borrowed -= 1;
        }
        if credit.address {
            self.places(address).borrowed -= 1;
        }
    }

    /// Frees the places of ghosts whose window has ended.
    fn expire(&mut self, now: Instant) {
        while let Some(&(deadline, identity, slot)) = self.deadlines.front() {
            if deadline > now {
                break;
            }
            self.deadlines.pop_front();
            if let Some(p) = self.pilots.get(&identity).copied().filter(|p| p.ghost && p.slot == slot) {
                self.pilots.remove(&identity);
                self.release_ghost(p.address);
            }
        }
    }
}

impl Admission {
    /// The caps of `limits` (`max_connections` as in force), with ghosts held for
    /// `resume_window`.
    pub fn new(limits: &Limits, resume_window: Duration, stats: Arc<Stats>) -> Arc<Admission> {
        Arc::new(Admission {
            max_connections: limits.max_connections,
            max_per_address: limits.max_connections_per_address,
            resume_window,
            // A mark above the cap could never be reached.
            warn_at: limits.shared_address_warning.min(limits.max_connections_per_address),
            crowded_log: Mutex::new(LogLimiter::every(ADDRESS_WARNING_LOG_INTERVAL)),
            stats,
            table: Mutex::default(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Publishes the gauges (under the lock, so they never go backwards in time).
    fn publish(&self, t: &Table) {
        self.stats.connections.store(t.all.open as u64, Ordering::Relaxed);
        self.stats.ghosts.store(t.all.ghosts as u64, Ordering::Relaxed);
        self.stats.connection_addresses.store(t.by_address.len() as u64, Ordering::Relaxed);
    }

    /// A place for a new connection from `address`, if both caps have room (or are full
    /// only of ghosts, one of which may be this pilot's: then provisionally, see the module
    /// doc).
    pub fn admit(self: &Arc<Self>, address: AddressKey) -> Result<ConnectionSlot, Refusal> {
        let mut t = self.lock();
        t.expire(Instant::now());
        let here = t.by_address.get(&address).copied().unwrap_or_default();
        let credit =
            Credit { server: t.all.held() >= self.max_connections, address: here.held() >= self.max_per_address };
        if credit.server && !t.all.ghost_credit_left() {
            return Err(Refusal::Full);
        }
        if credit.address && !here.ghost_credit_left() {
            return Err(Refusal::AddressFull);
        }
        t.all.open += 1;
        t.places(address).open += 1;
        if credit.server {
            t.all.borrowed += 1;
        }
        if credit.address {
            t.places(address).borrowed += 1;
        }
        t.next_slot += 1;
        let id = t.next_slot;
        let held = t.places(address).held();
        self.publish(&t);
        drop(t);
        if held == self.warn_at {
            self.crowded(address, held);
        }
        Ok(ConnectionSlot { admission: self.clone(), id, address, credit, identity: None, ended: false })
    }

    /// `address` has come to hold `held` places, [`Limits::shared_address_warning`]: counted,
    /// and logged (at most once per [`ADDRESS_WARNING_LOG_INTERVAL`]), since it most often
    /// means a relay whose players all share its address.
    fn crowded(&self, address: AddressKey, held: usize) {
        self.stats.address_crowded.fetch_add(1, Ordering::Relaxed);
        let admitted = self.crowded_log.lock().unwrap_or_else(|e| e.into_inner()).admit(std::time::Instant::now());
        if let Some(suppressed) = admitted {
            tracing::warn!(
                %address,
                held,
                suppressed,
                "many game connections share one address: if it is a balancer or reverse proxy, name it with \
                 --proxy-protocol-from or --trusted-proxy, or its players share one address's limits"
            );
        }
    }

    /// The addresses holding at least [`Limits::shared_address_warning`] places (connections
    /// and ghosts), most first, at most [`CROWDED_LISTED`] of them, for `/admin/stats`.
    pub fn crowded_addresses(&self) -> Vec<(AddressKey, usize)> {
        let mut crowded: Vec<_> = {
            let t = self.lock();
            t.by_address.iter().map(|(a, p)| (*a, p.held())).filter(|(_, held)| *held >= self.warn_at).collect()
        };
        // Sorted after the lock is given back (the admin page asks every second).
        crowded.sort_by_cached_key(|(address, held)| (std::cmp::Reverse(*held), address.to_string()));
        crowded.truncate(CROWDED_LISTED);
        crowded
    }

    /// Frees the places of ghosts whose window has ended (admissions do it too; this keeps the
    /// gauges current when nobody connects).
    pub fn expire_ghosts(&self) {
        let mut t = self.lock();
        t.expire(Instant::now());
        self.publish(&t);
    }

    /// Expires ghosts once a second until `shutdown` is cancelled.
    pub async fn run_expiry(self: Arc<Self>, shutdown: tokio_util::sync::CancellationToken) {
        let mut ticker = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticker.tick() => self.expire_ghosts(),
            }
        }
    }

    /// The identity was revoked: a place its ghost held is freed now (the simulation removes
    /// the ghost at once). A live connection's place is its own until that connection ends.
    pub fn revoked(&self, identity: i64) {
        let mut t = self.lock();
        if let Some(p) = t.pilots.get(&identity).copied().filter(|p| p.ghost) {
            t.pilots.remove(&identity);
            t.release_ghost(p.address);
        }
        self.publish(&t);
    }

    /// Whether `identity`'s pilot holds a place here: connected, or waiting as a ghost (the
    /// store never reclaims or purges such an identity).
    pub fn holds(&self, identity: i64) -> bool {
        let mut t = self.lock();
        t.expire(Instant::now());
        self.publish(&t);
        t.pilots.contains_key(&identity)
    }

    /// Seconds a refused client should wait (`Retry-After`): the resume window, within which
    /// every ghost frees its place, at least one.
    pub fn retry_after_secs(&self) -> u64 {
        self.resume_window.as_secs_f64().ceil().max(1.0) as u64
    }
}

/// A connection's place under both caps: taken at the upgrade ([`Admission::admit`]), tied to
/// an identity by the handshake ([`ConnectionSlot::settle`]), and given back when the session
/// ends ([`ConnectionSlot::end`]) or the slot is dropped, unless it passes to a ghost.
#[derive(Debug)]
pub struct ConnectionSlot {
    admission: Arc<Admission>,
    id: u64,
    address: AddressKey,
    credit: Credit,
    identity: Option<i64>,
    ended: bool,
}

impl ConnectionSlot {
    /// The address this connection counts under.
    pub fn address(&self) -> AddressKey {
        self.address
    }

    /// The cap this connection is over, if it came in on a ghost's credit and has not settled
    /// yet: only a ghost's pilot may keep it (so it may not create an identity), and anyone
    /// else is refused as that cap refuses.
    pub fn over_cap(&self) -> Option<Refusal> {
        match self.credit {
            Credit { address: true, .. } => Some(Refusal::AddressFull),
            Credit { server: true, .. } => Some(Refusal::Full),
            Credit { .. } => None,
        }
    }

    /// Ties the place to the identity the handshake resolved. The identity's ghost, if it has
    /// one, is taken over (its place freed: the pilot is back); a live connection of the same
    /// identity is being replaced and frees its place when it ends. A provisional connection
    /// is refused unless its pilot held a place at the same address.
    pub fn settle(&mut self, identity: i64) -> Result<(), Refusal> {
        let admission = self.admission.clone();
        let mut t = admission.lock();
        t.expire(Instant::now());
        let held = t.pilots.get(&identity).copied();
        if let Some(refusal) = self.over_cap() {
            if !held.is_some_and(|p| !self.credit.address || p.address == self.address) {
                return Err(refusal);
            }
            // The pilot's own place is what this connection takes: no longer over a cap.
            t.repay(self.address, self.credit);
            self.credit = Credit::default();
        }
        if let Some(p) = held.filter(|p| p.ghost) {
            t.release_ghost(p.address);
        }
        t.pilots.insert(identity, Pilot { slot: self.id, address: self.address, ghost: false });
        self.identity = Some(identity);
        admission.publish(&t);
        Ok(())
    }

    /// The session is over. If it ended `resumable` and this connection still holds its
    /// pilot's place (it was not replaced), the place passes to the ghost for the resume
    /// window; otherwise it is given back. Only the first call counts (dropping the slot
    /// calls it with `resumable: false`).
    pub fn end(&mut self, resumable: bool) {
        if std::mem::replace(&mut self.ended, true) {
            return;
        }
        let admission = self.admission.clone();
        let mut t = admission.lock();
        let now = Instant::now();
        t.all.open -= 1;
        t.places(self.address).open -= 1;
        t.repay(self.address, self.credit);
        if let Some(identity) = self.identity {
            if t.pilots.get(&identity).is_some_and(|p| p.slot == self.id) {
                if resumable && !admission.resume_window.is_zero() {
                    t.pilots.insert(identity, Pilot { slot: self.id, address: self.address, ghost: true });
                    t.all.ghosts += 1;
                    t.places(self.address).ghosts += 1;
                    t.deadlines.push_back((now + admission.resume_window, identity, self.id));
                } else {
                    t.pilots.remove(&identity);
                }
            }
        }
        t.forget_if_empty(self.address);
        t.expire(now);
        admission.publish(&t);
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.end(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_secs(10);

    fn admission(max_connections: usize, max_per_address: usize) -> (Arc<Admission>, Arc<Stats>) {
        let stats = Arc::new(Stats::default());
        let limits = Limits { max_connections, max_connections_per_address: max_per_address, ..Limits::default() };
        (Admission::new(&limits, WINDOW, stats.clone()), stats)
    }

    fn addr(last: u8) -> AddressKey {
        AddressKey::V4(std::net::Ipv4Addr::new(198, 51, 100, last))
    }

    fn gauges(stats: &Stats) -> [u64; 3] {
        [&stats.connections, &stats.ghosts, &stats.connection_addresses].map(|g| g.load(Ordering::Relaxed))
    }

    /// Each address has its own cap, a closed connection frees its place, and an address
    /// holding nothing leaves the table.
    #[tokio::test(start_paused = true)]
    async fn per_address_cap_and_bounded_table() {
        let (a, stats) = admission(100, 2);
        let mut held = vec![a.admit(addr(1)).unwrap(), a.admit(addr(1)).unwrap()];
        assert_eq!(a.admit(addr(1)).unwrap_err(), Refusal::AddressFull);
        held.push(a.admit(addr(2)).unwrap());
        assert_eq!(gauges(&stats), [3, 0, 2]);
        held.remove(0);
        let again = a.admit(addr(1)).unwrap();
        drop((held, again));
        assert_eq!(gauges(&stats), [0, 0, 0], "no address is kept without places");
    }

    /// An address coming to hold `--shared-address-warning` places (ghosts included) is
    /// counted each time it gets there, and listed for the operator while it holds them.
    #[tokio::test(start_paused = true)]
    async fn crowded_addresses_are_counted_and_listed() {
        let stats = Arc::new(Stats::default());
        let limits = Limits { shared_address_warning: 3, ..Limits::default() };
        let a = Admission::new(&limits, WINDOW, stats.clone());
        let mut crowd: Vec<_> = (0..3).map(|_| a.admit(addr(1)).unwrap()).collect();
        let _alone = a.admit(addr(2)).unwrap();
        assert_eq!(stats.address_crowded.load(Ordering::Relaxed), 1);
        assert_eq!(a.crowded_addresses(), [(addr(1), 3)]);
        let _fourth = a.admit(addr(1)).unwrap();
        assert_eq!(stats.address_crowded.load(Ordering::Relaxed), 1, "counted when it gets there, not after");
        assert_eq!(a.crowded_addresses(), [(addr(1), 4)]);
        // A ghost still holds its place: the address stays crowded.
        crowd[0].settle(7).unwrap();
        crowd.remove(0).end(true);
        assert_eq!(a.crowded_addresses(), [(addr(1), 4)], "three connections and a ghost");
        drop(_fourth);
        drop(crowd.pop());
        assert!(a.crowded_addresses().is_empty());
        let _back = a.admit(addr(1)).unwrap();
        assert_eq!(stats.address_crowded.load(Ordering::Relaxed), 2, "it got there again");
    }

    /// The server-wide cap is checked first and answered as before (503).
    #[tokio::test(start_paused = true)]
    async fn server_cap() {
        let (a, _) = admission(2, 2);
        let _held = [a.admit(addr(1)).unwrap(), a.admit(addr(2)).unwrap()];
        assert_eq!(a.admit(addr(3)).unwrap_err(), Refusal::Full);
    }

    /// A session that ends resumably keeps its place for the resume window; one closed for
    /// abuse (or never identified) gives it back at once.
    #[tokio::test(start_paused = true)]
    async fn ghosts_hold_their_place_for_the_window() {
        let (a, stats) = admission(100, 2);
        for identity in [1, 2] {
            let mut slot = a.admit(addr(1)).unwrap();
            slot.settle(identity).unwrap();
            slot.end(true);
        }
        assert_eq!(gauges(&stats), [0, 2, 1]);
        // The ghosts fill the address: a newcomer gets in only on a ghost's credit, one per
        // ghost, and is refused once its Hello shows it is neither ghost's pilot.
        let strangers = [a.admit(addr(1)).unwrap(), a.admit(addr(1)).unwrap()];
        assert_eq!(a.admit(addr(1)).unwrap_err(), Refusal::AddressFull, "no more credit than ghosts");
        for mut stranger in strangers {
            assert_eq!(stranger.over_cap(), Some(Refusal::AddressFull));
            assert_eq!(stranger.settle(3), Err(Refusal::AddressFull));
        }
        tokio::time::advance(WINDOW - Duration::from_millis(1)).await;
        let mut stranger = a.admit(addr(1)).unwrap();
        assert_eq!(stranger.settle(3), Err(Refusal::AddressFull), "the ghosts still hold the address");
        drop(stranger);
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(a.admit(addr(1)).unwrap().over_cap(), None, "the window is over: a place of its own");
        let mut abusive = a.admit(addr(1)).unwrap();
        abusive.settle(3).unwrap();
        abusive.end(false);
        let unidentified = a.admit(addr(1)).unwrap();
        drop(unidentified);
        assert_eq!(gauges(&stats), [0, 0, 0]);
    }

    /// At a cap full of ghosts, a ghost's pilot gets in (on the ghost's credit) and takes its
    /// place back; nobody else can use that credit, and no more connections come in on credit
    /// than there are ghosts.
    #[tokio::test(start_paused = true)]
    async fn a_pilot_takes_over_its_own_ghost() {
        let (a, stats) = admission(100, 2);
        let mut live = a.admit(addr(1)).unwrap();
        live.settle(1).unwrap();
        let mut dropped = a.admit(addr(1)).unwrap();
        dropped.settle(2).unwrap();
        dropped.end(true);
        assert_eq!(gauges(&stats), [1, 1, 1]);
        let mut back = a.admit(addr(1)).unwrap();
        assert_eq!(back.over_cap(), Some(Refusal::AddressFull));
        assert_eq!(a.admit(addr(1)).unwrap_err(), Refusal::AddressFull, "one ghost, one connection on credit");
        back.settle(2).unwrap();
        assert_eq!(back.over_cap(), None);
        assert_eq!(gauges(&stats), [2, 0, 1], "back at the cap, the ghost's place taken over");
        // A stranger on a ghost's credit is refused at settle and gives the place back.
        back.end(true);
        let mut stranger = a.admit(addr(1)).unwrap();
        assert_eq!(stranger.settle(99), Err(Refusal::AddressFull));
        drop(stranger);
        assert_eq!(gauges(&stats), [1, 1, 1]);
        // The ghost's pilot from another address is a new connection there, not a takeover here.
        let mut elsewhere = a.admit(addr(2)).unwrap();
        elsewhere.settle(2).unwrap();
        assert_eq!(gauges(&stats), [2, 0, 2], "the ghost at the first address is freed");
        drop((live, elsewhere));
    }

    /// The server-wide cap honours ghosts' credit the same way.
    #[tokio::test(start_paused = true)]
    async fn server_cap_credit() {
        let (a, _) = admission(1, 10);
        let mut s = a.admit(addr(1)).unwrap();
        s.settle(7).unwrap();
        s.end(true);
        let mut other = a.admit(addr(2)).unwrap();
        assert_eq!(other.settle(8), Err(Refusal::Full));
        drop(other);
        let mut back = a.admit(addr(2)).unwrap();
        assert_eq!(back.settle(7), Ok(()), "at the server cap, a pilot's ghost anywhere will do");
    }

    /// A connection replaced by a newer one of the same identity leaves no ghost when it
    /// ends: the player is live on the new connection.
    #[tokio::test(start_paused = true)]
    async fn a_replaced_connection_leaves_no_ghost() {
        let (a, stats) = admission(100, 2);
        let mut first = a.admit(addr(1)).unwrap();
        first.settle(5).unwrap();
        let mut second = a.admit(addr(1)).unwrap();
        second.settle(5).unwrap();
        first.end(true);
        assert_eq!(gauges(&stats), [1, 0, 1]);
        second.end(true);
        assert_eq!(gauges(&stats), [0, 1, 1]);
        tokio::time::advance(WINDOW).await;
        a.expire_ghosts();
        assert_eq!(gauges(&stats), [0, 0, 0]);
    }

    /// A ghost taken over and then left again waits a whole new window, not the rest of the
    /// first one.
    #[tokio::test(start_paused = true)]
    async fn a_new_ghost_gets_a_new_window() {
        let (a, stats) = admission(100, 2);
        let mut s = a.admit(addr(1)).unwrap();
        s.settle(5).unwrap();
        s.end(true);
        tokio::time::advance(WINDOW / 2).await;
        let mut back = a.admit(addr(1)).unwrap();
        back.settle(5).unwrap();
        back.end(true);
        tokio::time::advance(WINDOW / 2).await;
        a.expire_ghosts();
        assert_eq!(gauges(&stats)[1], 1, "the first window's deadline does not free the new ghost");
        tokio::time::advance(WINDOW / 2).await;
        a.expire_ghosts();
        assert_eq!(gauges(&stats), [0, 0, 0]);
    }

    /// A revoked identity's ghost gives its place back at once; a live connection keeps its
    /// own until it ends (then without a ghost).
    #[tokio::test(start_paused = true)]
    async fn a_revoked_ghost_frees_its_place() {
        let (a, stats) = admission(100, 2);
        let mut gone = a.admit(addr(1)).unwrap();
        gone.settle(1).unwrap();
        gone.end(true);
        let mut live = a.admit(addr(1)).unwrap();
        live.settle(2).unwrap();
        assert_eq!(gauges(&stats), [1, 1, 1]);
        a.revoked(1);
        a.revoked(2);
        assert_eq!(gauges(&stats), [1, 0, 1], "the ghost's place is free, the live one holds its own");
        live.end(false);
        assert_eq!(gauges(&stats), [0, 0, 0]);
    }
}
