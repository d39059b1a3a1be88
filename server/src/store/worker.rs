//! The store's thread: the one owner of the database connection. It serves the handle's
//! commands in order (so a `MayCreate` quota is exact), collects score changes into
//! [`Pending`] and commits them every [`FLUSH_INTERVAL`] (or at [`MAX_BATCH`]), retries a
//! failed commit a flush interval later while counting the wait, expires idle identities in
//! small batches, reclaims idle guests when the store is full, purges what an operator names,
//! and, on a shared database, re-reads the board and the identity count. It knows the
//! database only as a [`Backend`].

use super::pending::Pending;
use super::{
    hash_token, name_key, unix_now, Backend, Command, Created, DbError, Identity, IdentityError, MayCreate,
    NewIdentity, Online, Purge, Release, Row, StorePolicy, Totals, EXPIRY_BATCH, EXPIRY_BATCH_PAUSE, FLUSH_INTERVAL,
    MAX_BATCH, SHARED_RECOUNT_INTERVAL, SHARED_REFRESH_INTERVAL, SHUTDOWN_COMMIT_WAIT,
};
use crate::limits::{LogLimiter, STORE_LOG_INTERVAL};
use crate::Stats;
use shared::protocol::LeaderboardEntry;
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Commits failing since `since`: the time counted into `store_wait_ms` so far.
#[derive(Debug)]
struct Outage {
    since: Instant,
    counted_ms: u64,
}

/// The store's thread: the connection, the rules, and what it has yet to write.
pub(super) struct Worker<B: Backend> {
    db: B,
    policy: StorePolicy,
    stats: Arc<Stats>,
    all_time: watch::Sender<Arc<Vec<LeaderboardEntry>>>,
    /// Identities in the database (counted at open, then kept; re-counted when shared).
    identities: u64,
    /// Score changes waiting for their batch's commit.
    pending: Pending,
    /// Identities seen (a returning `Hello`) since the last commit: their `last_seen` is
    /// written with the next batch rather than with a sync of its own per `Hello`. A set, so
    /// an outage cannot grow it past the identities seen.
    seen: BTreeSet<i64>,
    /// When the commit is due: the oldest change waiting arrived (or the last attempt failed)
    /// a flush interval before.
    oldest: Option<Instant>,
    /// Set while commits fail.
    outage: Option<Outage>,
    next_sweep: Instant,
    /// When a shared database's top and count are re-read next (never, for one that is not).
    next_refresh: Option<Instant>,
    next_recount: Option<Instant>,
    error_log: LogLimiter,
    full_log: LogLimiter,
    reclaim_log: LogLimiter,
    /// Who is online on this server ([`super::StoreHandle::guard_online`]), once told.
    online: Option<Online>,
}

impl<B: Backend> Worker<B> {
    /// The thread's state on an open database holding `identities`, the board already sent.
    pub(super) fn new(
        db: B,
        policy: StorePolicy,
        stats: Arc<Stats>,
        all_time: watch::Sender<Arc<Vec<LeaderboardEntry>>>,
        identities: u64,
    ) -> Worker<B> {
        stats.identities.store(identities, Ordering::Relaxed);
        let now = Instant::now();
        let shared = db.shared();
        Worker {
            db,
            next_sweep: now + policy.sweep_interval.min(Duration::from_secs(1)),
            next_refresh: shared.then_some(now + SHARED_REFRESH_INTERVAL),
            next_recount: shared.then_some(now + SHARED_RECOUNT_INTERVAL),
            policy,
            stats,
            all_time,
            identities,
            pending: Pending::default(),
            seen: BTreeSet::new(),
            oldest: None,
            outage: None,
            error_log: LogLimiter::every(STORE_LOG_INTERVAL),
            full_log: LogLimiter::every(STORE_LOG_INTERVAL),
            reclaim_log: LogLimiter::every(STORE_LOG_INTERVAL),
            online: None,
        }
    }

    fn identify(
        &mut self,
        name: &str,
        token: Option<&str>,
        from: Option<crate::net::address::AddressKey>,
        may_create: MayCreate,
    ) -> Result<Result<Identity, IdentityError>, DbError> {
        let keys = crate::net::name::keys(name);
        let mut existing = self.db.find(&keys)?;
        // A revoked identity whose hold is over gives its name back now (the sweep does it
        // too, but a name is only ever wanted here).
        let hold = self.policy.revoked_name_hold.as_secs() as i64;
        while let Some(row) = existing.as_ref().filter(|r| r.revoked_at.is_some_and(|at| at + hold <= unix_now())) {
            self.db.release_row(row.id)?;
            existing = self.db.find(&keys)?;
        }
        match (existing, token) {
            // Its owner's token opens the identity under either spelling (the registered one is kept).
            (Some(row), Some(token)) => {
                if row.revoked_at.is_some() || row.token_hash != hash_token(token) {
                    return Ok(Err(IdentityError::InvalidToken));
                }
                self.seen.insert(row.id);
                self.oldest.get_or_insert_with(Instant::now);
                Ok(Ok(Identity { id: row.id, name: row.name, new_token: None, totals: self.db.totals(row.id)? }))
            }
            (Some(row), None) => Ok(Err(taken(&row))),
            (None, token) => {
                // A token that belongs to another name is never accepted for this one.
                if let Some(token) = token {
                    if self.db.token_known(&hash_token(token))? {
                        return Ok(Err(IdentityError::InvalidToken));
                    }
                }
                // Before the quota is asked: a refusal here must not spend the address's quota.
                if self.identities >= self.policy.max_identities && !self.reclaim()? {
                    self.stats.store_full_refused.fetch_add(1, Ordering::Relaxed);
                    if let Some(suppressed) = self.full_log.admit(Instant::now()) {
                        tracing::warn!(
                            max_identities = self.policy.max_identities,
                            suppressed,
                            "the store is full: no new identity created (see --max-identities; further ones counted \
                             in store_full_refused)"
                        );
                    }
                    return Ok(Err(IdentityError::StoreFull));
                }
                if !may_create() {
                    return Ok(Err(IdentityError::CreationRefused));
                }
                let token = crate::token::random();
                let new = NewIdentity { name, keys: &keys, token_hash: &hash_token(&token), now: unix_now(), from };
                match self.db.create(&new)? {
                    Created::Id(id) => {
                        self.identities += 1;
                        self.stats.identities.store(self.identities, Ordering::Relaxed);
                        Ok(Ok(Identity {
                            id,
                            name: name.to_string(),
                            new_token: Some(token),
                            totals: Totals::default(),
                        }))
                    }
                    // Another process claimed the name (or a look-alike) between our look and
                    // our insert: it is taken, exactly as if it had been there first.
                    Created::Conflict => Ok(Err(self.db.find(&keys)?.as_ref().map_or(IdentityError::NameTaken, taken))),
                }
            }
        }
    }

    /// Whether `id`'s pilot is online on this server (or was seen since the last commit).
    fn is_online(&self, id: i64) -> bool {
        self.seen.contains(&id) || self.online.as_ref().is_some_and(|online| online(id))
    }

    /// Makes room at the cap by deleting up to [`StorePolicy::reclaim_batch`] guests: idle for
    /// the reclaim time, offline, fewest points first, then longest unseen. What is queued is
    /// committed first, so the points that decide (and that may have made a pilot lasting)
    /// are the latest; while commits fail, nothing is reclaimed. True if there is room now.
    fn reclaim(&mut self) -> Result<bool, DbError> {
        self.commit();
        if self.outage.is_some() {
            return Ok(false);
        }
        let batch = self.policy.reclaim_batch.max(1);
        let cutoff = unix_now() - self.policy.reclaim_min_idle.as_secs() as i64;
        // Online pilots are passed over; ask for enough that a batch is left after them.
        let candidates = self.db.reclaimable(cutoff, batch * 4)?;
        let ids: Vec<i64> = candidates.into_iter().filter(|id| !self.is_online(*id)).take(batch).collect();
        let n = self.db.delete(&ids, Some(cutoff))? as u64;
        if n > 0 {
            self.identities = self.identities.saturating_sub(n);
            self.stats.identities.store(self.identities, Ordering::Relaxed);
            self.stats.identities_reclaimed.fetch_add(n, Ordering::Relaxed);
            if let Some(suppressed) = self.reclaim_log.admit(Instant::now()) {
                tracing::info!(
                    reclaimed = n,
                    suppressed,
                    "the store is full: idle guest identities reclaimed for newcomers (further ones counted in \
                     identities_reclaimed)"
                );
            }
        }
        Ok(self.identities < self.policy.max_identities)
    }

    /// Deletes what `purge` names, in batches, after committing what is queued; online
    /// pilots are kept. Returns how many were deleted.
    fn purge(&mut self, purge: &Purge) -> Result<u64, DbError> {
        self.commit();
        let (mut after, mut total) = (0, 0u64);
        loop {
            let ids = self.db.purgeable(purge, after, EXPIRY_BATCH)?;
            let Some(&last) = ids.last() else { break };
            after = last;
            let full = ids.len() == EXPIRY_BATCH;
            let ids: Vec<i64> = ids.into_iter().filter(|id| !self.is_online(*id)).collect();
            let n = self.db.delete(&ids, None)? as u64;
            total += n;
            self.identities = self.identities.saturating_sub(n);
            if !full {
                break;
            }
        }
        self.stats.identities.store(self.identities, Ordering::Relaxed);
        self.stats.identities_purged.fetch_add(total, Ordering::Relaxed);
        Ok(total)
    }

    /// Counts a failed read or write and logs it, at most once per interval.
    fn failed(&mut self, what: &'static str, e: &DbError) {
        self.stats.store_errors.fetch_add(1, Ordering::Relaxed);
        if let Some(suppressed) = self.error_log.admit(Instant::now()) {
            tracing::error!(error = %e, suppressed, "{what} failed (further failures counted in store_errors)");
        }
    }

    /// Sends the all-time top to the watchers if it changed.
    fn publish_top(&mut self) {
        match self.db.top() {
            Ok(top) => {
                self.all_time.send_if_modified(|current| {
                    let changed = **current != top;
                    if changed {
                        *current = Arc::new(top);
                    }
                    changed
                });
            }
            Err(e) => self.failed("reading the all-time top", &e),
        }
    }

    /// Commits the waiting score changes and sightings, in transactions of at most
    /// [`MAX_BATCH`] entries. Changes for an identity that is revoked or gone (expired) are
    /// discarded, counted. On failure what is left waits for the next attempt, a flush
    /// interval later, and the wait is counted.
    fn commit(&mut self) {
        let mut committed_scores = false;
        while !self.pending.is_empty() || !self.seen.is_empty() {
            let (batch, taken) = self.pending.batch(MAX_BATCH);
            let started = Instant::now();
            // A pilot whose score changes is playing: seen now, as much as by a Hello.
            let seen: BTreeSet<i64> = self.seen.iter().copied().chain(batch.iter().map(|c| c.delta.identity)).collect();
            match self.db.commit(&batch, &seen, unix_now(), self.policy.lasting_points) {
                Ok(discarded) => {
                    let changes: u64 = batch.iter().map(|c| c.changes).sum();
                    let s = &self.stats;
                    s.store_commit_us.fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
                    s.store_commits.fetch_add(1, Ordering::Relaxed);
                    s.store_committed_changes.fetch_add(changes, Ordering::Relaxed);
                    s.store_last_batch.store(changes, Ordering::Relaxed);
                    s.discarded_score_changes.fetch_add(discarded, Ordering::Relaxed);
                    self.pending.committed(taken);
                    self.seen.clear();
                    committed_scores |= taken > 0;
                }
                Err(e) => {
                    self.failed("committing scores (will retry)", &e);
                    self.oldest = Some(Instant::now());
                    let outage = self.outage.get_or_insert(Outage { since: started, counted_ms: 0 });
                    count_wait(&self.stats, outage);
                    self.stats.store_pending_changes.store(self.pending.changes(), Ordering::Relaxed);
                    return;
                }
            }
        }
        if let Some(mut outage) = self.outage.take() {
            count_wait(&self.stats, &mut outage);
            tracing::info!(
                waited_ms = outage.since.elapsed().as_millis() as u64,
                "the database is back: every waiting score change is committed"
            );
        }
        self.oldest = None;
        self.stats.store_pending_changes.store(0, Ordering::Relaxed);
        if committed_scores {
            self.publish_top();
        }
    }

    /// Revokes `name`'s identity, after committing what was earned before.
    fn revoke(&mut self, name: &str) -> Result<Option<i64>, DbError> {
        self.commit();
        let id = self.db.revoke(&name_key(name), unix_now())?;
        if id.is_some() {
            self.publish_top(); // off the board at once
        }
        Ok(id)
    }

    fn release(&mut self, name: &str) -> Result<Release, DbError> {
        Ok(match self.db.revoked(&name_key(name))? {
            None => Release::Unknown,
            Some((_, false)) => Release::NotRevoked,
            Some((id, true)) => {
                self.db.release_row(id)?;
                Release::Released
            }
        })
    }

    /// Expires one batch of idle identities; another follows at once if this one was full.
    fn sweep(&mut self) {
        let now = Instant::now();
        let cutoff = unix_now() - self.policy.idle_expiry.as_secs() as i64;
        match self.db.expire(cutoff, EXPIRY_BATCH) {
            Ok(n) => {
                self.identities = self.identities.saturating_sub(n as u64);
                self.stats.identities.store(self.identities, Ordering::Relaxed);
                self.stats.identities_expired.fetch_add(n as u64, Ordering::Relaxed);
                if n == EXPIRY_BATCH {
                    // The next batch after a pause, in which every command waiting is handled.
                    self.next_sweep = Instant::now() + EXPIRY_BATCH_PAUSE;
                } else {
                    if n > 0 {
                        tracing::info!(expired = n, "idle identities expired, their names freed");
                    }
                    self.next_sweep = now + self.policy.sweep_interval;
                }
            }
            Err(e) => {
                self.failed("expiring idle identities", &e);
                self.next_sweep = now + self.policy.sweep_interval;
            }
        }
    }

    /// On a shared database: re-reads the top and the identity count when they are due.
    fn refresh(&mut self, now: Instant) {
        if self.next_refresh.is_some_and(|t| t <= now) {
            self.next_refresh = Some(now + SHARED_REFRESH_INTERVAL);
            self.publish_top();
        }
        if self.next_recount.is_some_and(|t| t <= now) {
            self.next_recount = Some(now + SHARED_RECOUNT_INTERVAL);
            match self.db.count() {
                Ok(n) => {
                    self.identities = n;
                    self.stats.identities.store(n, Ordering::Relaxed);
                }
                Err(e) => self.failed("counting identities", &e),
            }
        }
    }

    /// When the loop must wake at the latest: the due commit, sweep or refresh.
    fn wake(&self) -> Instant {
        [self.oldest.map(|t| t + FLUSH_INTERVAL), Some(self.next_sweep), self.next_refresh, self.next_recount]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(self.next_sweep)
    }

    /// Serves commands until the store is closed (or every handle is gone).
    pub(super) fn run(mut self, rx: Receiver<Command>) {
        loop {
            match rx.recv_timeout(self.wake().saturating_duration_since(Instant::now())) {
                Ok(Command::Score(d)) => {
                    self.pending.push(d);
                    self.oldest.get_or_insert_with(Instant::now);
                    // While commits fail, a full batch waits for the retry like the rest.
                    if self.pending.len() >= MAX_BATCH && self.outage.is_none() {
                        self.commit();
                    }
                    if self.outage.is_some() {
                        self.stats.store_pending_changes.store(self.pending.changes(), Ordering::Relaxed);
                    }
                }
                Ok(Command::Identify { name, token, from, may_create, reply }) => {
                    let result = self.identify(&name, token.as_deref(), from, may_create).unwrap_or_else(|e| {
                        self.failed("identity lookup or creation", &e);
                        Err(IdentityError::Unavailable)
                    });
                    let _ = reply.send(result);
                }
                Ok(Command::Revoke { name, reply }) => {
                    let id = self.revoke(&name).unwrap_or_else(|e| {
                        self.failed("revoking", &e);
                        None
                    });
                    let _ = reply.send(id);
                }
                Ok(Command::Release { name, reply }) => {
                    let released = self.release(&name).unwrap_or_else(|e| {
                        self.failed("releasing a name", &e);
                        Release::Unknown
                    });
                    let _ = reply.send(released);
                }
                Ok(Command::Player { name, reply }) => {
                    let found = self.db.player(&name_key(&name)).unwrap_or_else(|e| {
                        self.failed("reading a player", &e);
                        None
                    });
                    let _ = reply.send(found);
                }
                Ok(Command::Online(online)) => self.online = Some(online),
                Ok(Command::Purge { purge, reply }) => {
                    let purged = self.purge(&purge).map_err(|e| self.failed("purging identities", &e)).ok();
                    let _ = reply.send(purged);
                }
                Ok(Command::Flush { reply }) => {
                    self.commit();
                    let _ = reply.send(());
                }
                Err(RecvTimeoutError::Timeout) => {}
                Ok(Command::Shutdown) | Err(RecvTimeoutError::Disconnected) => {
                    self.commit();
                    let deadline = Instant::now() + SHUTDOWN_COMMIT_WAIT;
                    while self.outage.is_some() && Instant::now() < deadline {
                        std::thread::sleep(FLUSH_INTERVAL);
                        self.commit();
                    }
                    if !self.pending.is_empty() {
                        tracing::error!(
                            changes = self.pending.changes(),
                            "the store stops with score changes it could not commit (the database is unreachable)"
                        );
                    }
                    return;
                }
            }
            // Checked after every command, not only when none came: a steady stream of them
            // must not hold back a due commit, sweep or refresh.
            let now = Instant::now();
            if self.oldest.is_some_and(|t| t + FLUSH_INTERVAL <= now)
                || (self.seen.len() >= MAX_BATCH && self.outage.is_none())
            {
                self.commit();
            }
            if self.next_sweep <= now {
                self.sweep();
            }
            self.refresh(now);
        }
    }
}

/// Why a name held by `row` is refused.
fn taken(row: &Row) -> IdentityError {
    if row.same_key {
        IdentityError::NameTaken
    } else {
        IdentityError::LookAlike
    }
}

/// Adds the outage's time not counted yet to `store_wait_ms`.
fn count_wait(stats: &Stats, outage: &mut Outage) {
    let total_ms = outage.since.elapsed().as_millis() as u64;
    stats.store_wait_ms.fetch_add(total_ms.saturating_sub(outage.counted_ms), Ordering::Relaxed);
    outage.counted_ms = outage.counted_ms.max(total_ms);
}
