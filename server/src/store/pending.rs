//! Score changes waiting for their commit, in a buffer that stays bounded however long the
//! database is away, without dropping anything.
//!
//! The idea it rests on: score changes are additive per identity. Hits, kills, deaths and
//! points add up and the best life is a maximum, so any number of waiting changes of one
//! identity can be replaced by a single [`Change`] that is their sum, and committing the sum
//! is the same as committing each. Normally the buffer is a plain list (the store commits it
//! every flush interval); when it passes [`MAX_PENDING_CHANGES`] (only while commits fail),
//! it is coalesced to one entry per identity, so it is then bounded by the number of distinct
//! identities that scored, and nothing is lost. Every batch handed to a backend is coalesced
//! and sorted by identity too: one upsert per row (PostgreSQL refuses to touch a row twice in
//! one statement), taken in the same order by every process that shares the database.

use super::ScoreDelta;
use std::collections::BTreeMap;

/// Entries the buffer holds before it coalesces them per identity: a few flush intervals of a
/// busy server (each entry is a few dozen bytes), reached only while commits fail.
pub const MAX_PENDING_CHANGES: usize = 16 * 1024;

/// The sum of one or more score changes of one identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change {
    /// The summed change (`life_ticks`: the longest of the lives).
    pub delta: ScoreDelta,
    /// How many score changes it sums (for the counts of committed and discarded changes).
    pub changes: u64,
}

impl Change {
    fn one(delta: ScoreDelta) -> Change {
        Change { delta, changes: 1 }
    }

    /// Adds `other` (of the same identity) into this one.
    fn absorb(&mut self, other: &Change) {
        let (d, o) = (&mut self.delta, &other.delta);
        d.hits = d.hits.saturating_add(o.hits);
        d.kills = d.kills.saturating_add(o.kills);
        d.deaths = d.deaths.saturating_add(o.deaths);
        d.points = d.points.saturating_add(o.points);
        d.life_ticks = d.life_ticks.max(o.life_ticks);
        self.changes += other.changes;
    }
}

/// `changes` summed per identity, in identity order.
pub fn coalesce(changes: &[Change]) -> Vec<Change> {
    let mut by_identity: BTreeMap<i64, Change> = BTreeMap::new();
    for c in changes {
        by_identity.entry(c.delta.identity).and_modify(|sum| sum.absorb(c)).or_insert(*c);
    }
    by_identity.into_values().collect()
}

/// Score changes not committed yet, oldest first.
#[derive(Debug)]
pub struct Pending {
    entries: Vec<Change>,
    /// Length at which the buffer is coalesced next: [`MAX_PENDING_CHANGES`], or twice the
    /// distinct identities after the last coalescing if that is more (so a buffer of many
    /// identities is not coalesced again on every change).
    coalesce_at: usize,
    /// Score changes the entries sum.
    changes: u64,
}

impl Default for Pending {
    fn default() -> Self {
        Pending { entries: Vec::new(), coalesce_at: MAX_PENDING_CHANGES, changes: 0 }
    }
}

impl Pending {
    /// Adds a change, coalescing the buffer if it passed its bound.
    pub fn push(&mut self, delta: ScoreDelta) {
        self.entries.push(Change::one(delta));
        self.changes += 1;
        if self.entries.len() > self.coalesce_at {
            self.entries = coalesce(&self.entries);
            self.coalesce_at = MAX_PENDING_CHANGES.max(2 * self.entries.len());
        }
    }

    /// Entries held (what memory it takes).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Score changes waiting (more than [`Pending::len`] once coalesced).
    pub fn changes(&self) -> u64 {
        self.changes
    }

    /// The next batch: the oldest `max` entries, coalesced, with how many entries it took.
    /// They stay in the buffer until [`Pending::committed`] says they are in the database.
    pub fn batch(&self, max: usize) -> (Vec<Change>, usize) {
        let n = self.entries.len().min(max);
        (coalesce(&self.entries[..n]), n)
    }

    /// Removes the oldest `n` entries (a batch that was committed).
    pub fn committed(&mut self, n: usize) {
        let gone: u64 = self.entries.drain(..n).map(|c| c.changes).sum();
        self.changes -= gone;
        if self.entries.is_empty() {
            self.coalesce_at = MAX_PENDING_CHANGES;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delta(identity: i64, points: u32, life_ticks: u32) -> ScoreDelta {
        ScoreDelta { identity, hits: 1, kills: 0, deaths: 1, points, life_ticks }
    }

    /// Past its bound the buffer holds one entry per identity, and the entries still sum to
    /// exactly what was pushed: counts add, the best life is the longest.
    #[test]
    fn past_its_bound_the_buffer_coalesces_and_loses_nothing() {
        let mut p = Pending::default();
        let pushed = 5 * MAX_PENDING_CHANGES as u64;
        for i in 0..pushed {
            p.push(delta((i % 3) as i64, 2, (i % 1000) as u32));
        }
        assert!(p.len() <= MAX_PENDING_CHANGES + 1, "{} entries", p.len());
        assert_eq!(p.changes(), pushed);
        let (batch, n) = p.batch(usize::MAX);
        let all = coalesce(&batch);
        assert_eq!(all.len(), 3);
        assert_eq!(all.iter().map(|c| c.changes).sum::<u64>(), pushed);
        assert_eq!(all.iter().map(|c| u64::from(c.delta.points)).sum::<u64>(), 2 * pushed);
        assert_eq!(all.iter().map(|c| u64::from(c.delta.hits)).sum::<u64>(), pushed);
        assert!(all.iter().all(|c| c.delta.life_ticks == 999));
        p.committed(n);
        assert!(p.is_empty() && p.changes() == 0);
    }

    /// A buffer of more distinct identities than the bound is coalesced once, not on every
    /// change: its bound becomes twice the identities.
    #[test]
    fn many_identities_raise_the_bound() {
        let mut p = Pending::default();
        for i in 0..(MAX_PENDING_CHANGES as i64 + 1) {
            p.push(delta(i, 1, 0));
        }
        assert_eq!(p.coalesce_at, 2 * (MAX_PENDING_CHANGES + 1));
        p.push(delta(0, 1, 0));
        assert_eq!(p.len(), MAX_PENDING_CHANGES + 2, "not coalesced again");
    }

    /// A batch is coalesced and in identity order, and leaves the buffer only once committed.
    #[test]
    fn batches_are_sorted_sums_kept_until_committed() {
        let mut p = Pending::default();
        for id in [3, 1, 3, 2, 1] {
            p.push(delta(id, 1, id as u32));
        }
        let (batch, n) = p.batch(4);
        assert_eq!(n, 4);
        assert_eq!(batch.iter().map(|c| (c.delta.identity, c.changes)).collect::<Vec<_>>(), [(1, 1), (2, 1), (3, 2)]);
        assert_eq!(p.len(), 5, "still there");
        p.committed(n);
        assert_eq!((p.len(), p.changes()), (1, 1));
    }
}
