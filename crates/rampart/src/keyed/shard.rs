//! One shard of a keyed map: a table with a cap, idle expiry and least-recently-used
//! eviction, as a pure core that takes "now" (nanoseconds) and each key's hash as
//! arguments.
//!
//! The table stores `(key, slot)` pairs by a hash that the map computes once per call
//! (it also picks the shard from it), so a lookup hashes nothing; only a resize or a
//! shrink hashes the keys again. Lookups run under a shared reference (the map's read
//! lock); everything that changes the table takes `&mut self`.
//!
//! Least recently used, without a list to reorder on every hit: a scan of the table
//! keeps the oldest keys (an eighth of the cap, from [`CANDIDATES`] to
//! [`MAX_CANDIDATES`]) with the time of use each had then. Times only grow, so a
//! candidate whose time is unchanged is still older than every key outside the list
//! (those were newer at the scan, or created after it), and the oldest unchanged
//! candidate is the least recently used key of the shard. A changed candidate was used
//! since and is skipped. When the list runs out the shard is scanned again: one scan per
//! many evictions.

use std::borrow::Borrow;
use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;

use hashbrown::HashTable;

/// How many eviction candidates one scan keeps, at least: an eighth of the shard's cap
/// up to [`MAX_CANDIDATES`].
const CANDIDATES: usize = 32;

/// How many eviction candidates one scan keeps at most.
const MAX_CANDIDATES: usize = 256;

/// Tables at least this large are shrunk when a sweep leaves them three-quarters empty.
const SHRINK_ABOVE: usize = 64;

/// What a map stores beside each key: a value that knows when its key was last used.
pub(crate) trait Slot {
    /// When the key was last used, in the map's nanoseconds. A key unused for longer
    /// than the idle timeout is expired; the oldest keys are evicted first.
    fn last_used(&self) -> u64;
}

/// One millisecond in nanoseconds.
pub(crate) const MILLI: u64 = 1_000_000;

/// The time rules of a map, in the units of its clock (nanoseconds, or a rate
/// limiter's ticks).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    /// A key unused for longer than this is expired.
    pub(crate) idle: u64,
    /// A hit stores the time of use only if it moved by more than this, so that a hot
    /// key is not written on every hit.
    pub(crate) touch: u64,
    /// A shard sweeps its expired keys on insert at most this often.
    pub(crate) sweep: u64,
}

impl Timing {
    /// The rules for an idle timeout of `idle` nanoseconds.
    #[cfg(test)]
    pub(crate) fn new(idle: u64) -> Self {
        Self::scaled(idle, MILLI)
    }

    /// The rules for an idle timeout of `idle` units of a clock of which `milli` make
    /// one millisecond.
    pub(crate) fn scaled(idle: u64, milli: u64) -> Self {
        Timing {
            idle,
            touch: (idle / 64).min(milli),
            sweep: (idle / 4).max(1),
        }
    }

    /// Whether a key last used at `last_used` is expired at `now`.
    #[inline]
    pub(crate) fn expired(&self, last_used: u64, now: u64) -> bool {
        now.saturating_sub(last_used) > self.idle
    }
}

/// What [`Shard::clear_stale`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stale {
    /// No entry.
    Absent,
    /// A live entry.
    Live,
    /// An expired entry, now removed.
    Removed,
}

/// One shard's keys.
pub(super) struct Shard<K, E> {
    table: HashTable<(K, E)>,
    /// The most keys this shard holds.
    cap: usize,
    /// When expired keys were last swept.
    last_sweep: u64,
    /// The oldest keys at the last scan, as their hash and their time of use then,
    /// newest first (so that `pop` gives the oldest).
    candidates: Vec<(u64, u64)>,
}

/// A key and its time of use, ordered by the time only.
struct Aged<'a, K>(u64, &'a K);

impl<K> PartialEq for Aged<'_, K> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl<K> Eq for Aged<'_, K> {}
impl<K> PartialOrd for Aged<'_, K> {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl<K> Ord for Aged<'_, K> {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        self.0.cmp(&other.0)
    }
}

impl<K: Eq, E: Slot> Shard<K, E> {
    /// An empty shard holding at most `cap` keys (at least 1).
    pub(super) fn new(cap: usize, now: u64) -> Self {
        Shard {
            table: HashTable::new(),
            cap: cap.max(1),
            last_sweep: now,
            candidates: Vec::new(),
        }
    }

    /// The live slot of `key`, whose hash is `hash`. The hit path: no hashing, no
    /// allocation, no store.
    #[inline]
    pub(super) fn live<Q>(&self, hash: u64, key: &Q, now: u64, t: &Timing) -> Option<&E>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let (_, slot) = self.table.find(hash, |(k, _)| k.borrow() == key)?;
        (!t.expired(slot.last_used(), now)).then_some(slot)
    }

    /// Removes `key`: `Some((slot, expired))` if it was stored.
    pub(super) fn remove<Q>(
        &mut self,
        hash: u64,
        key: &Q,
        now: u64,
        t: &Timing,
    ) -> Option<(E, bool)>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let entry = self
            .table
            .find_entry(hash, |(k, _)| k.borrow() == key)
            .ok()?;
        let ((_, slot), _) = entry.remove();
        let expired = t.expired(slot.last_used(), now);
        Some((slot, expired))
    }

    /// Under the write lock, before inserting: whether `key` is live (another caller
    /// made it meanwhile); an expired entry for it is removed (`Stale::Removed`).
    pub(super) fn clear_stale(&mut self, hash: u64, key: &K, now: u64, t: &Timing) -> Stale {
        let Ok(entry) = self.table.find_entry(hash, |(k, _)| k == key) else {
            return Stale::Absent;
        };
        if !t.expired(entry.get().1.last_used(), now) {
            return Stale::Live;
        }
        entry.remove();
        Stale::Removed
    }

    /// Makes room for one more key: sweeps expired keys if a sweep is due, then evicts
    /// least recently used keys while the shard is full. Returns how many went.
    /// `rehash` gives a stored key's hash.
    pub(super) fn make_room(&mut self, now: u64, t: &Timing, rehash: &impl Fn(&K) -> u64) -> usize {
        let mut removed = 0;
        if now.saturating_sub(self.last_sweep) >= t.sweep {
            removed += self.sweep(now, t, rehash);
        }
        while self.table.len() >= self.cap {
            match self.candidates.pop() {
                Some((hash, stamp)) => {
                    // The stamp first: it rules out nearly every other key at once.
                    let unchanged = |(k, s): &(K, E)| s.last_used() == stamp && rehash(k) == hash;
                    if let Ok(entry) = self.table.find_entry(hash, unchanged) {
                        entry.remove();
                        removed += 1;
                    }
                }
                // Expired keys are the oldest, so they are the first candidates.
                None => self.refill(rehash),
            }
        }
        removed
    }

    /// Inserts `key` (which must be absent, with room made) with `slot`; returns the
    /// stored slot.
    pub(super) fn insert(&mut self, hash: u64, key: K, slot: E, rehash: &impl Fn(&K) -> u64) -> &E {
        let entry = self
            .table
            .insert_unique(hash, (key, slot), |(k, _)| rehash(k));
        &entry.into_mut().1
    }

    /// Removes every expired key; returns how many.
    pub(super) fn sweep(&mut self, now: u64, t: &Timing, rehash: &impl Fn(&K) -> u64) -> usize {
        self.last_sweep = now;
        let before = self.table.len();
        self.table
            .retain(|(_, slot)| !t.expired(slot.last_used(), now));
        let removed = before - self.table.len();
        let capacity = self.table.capacity();
        if removed > 0 && capacity > SHRINK_ABOVE && self.table.len() < capacity / 4 {
            let keep = self.table.len().saturating_mul(2);
            self.table.shrink_to(keep, |(k, _)| rehash(k));
        }
        removed
    }

    /// Calls `f` on every live key and slot.
    pub(super) fn for_each(&self, now: u64, t: &Timing, f: &mut impl FnMut(&K, &E)) {
        for (k, slot) in &self.table {
            if !t.expired(slot.last_used(), now) {
                f(k, slot);
            }
        }
    }

    /// Refills the eviction candidates with the oldest keys.
    fn refill(&mut self, rehash: &impl Fn(&K) -> u64) {
        let keep = (self.cap / 8)
            .clamp(CANDIDATES, MAX_CANDIDATES)
            .min(self.table.len());
        // A max-heap of the `keep` oldest seen so far: its top is the newest of them.
        let mut oldest: BinaryHeap<Aged<'_, K>> = BinaryHeap::with_capacity(keep);
        for (k, slot) in &self.table {
            let aged = Aged(slot.last_used(), k);
            if oldest.len() < keep {
                oldest.push(aged);
            } else if let Some(mut newest) = oldest.peek_mut() {
                if aged < *newest {
                    *newest = aged;
                }
            }
        }
        self.candidates.clear();
        // Oldest use first; reversed so that `pop` yields the oldest.
        let sorted = oldest.into_sorted_vec();
        self.candidates
            .extend(sorted.into_iter().rev().map(|Aged(t, k)| (rehash(k), t)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::hash_map::RandomState;
    use std::hash::BuildHasher;
    use std::sync::atomic::{AtomicU64, Ordering};

    const MS: u64 = 1_000_000;

    /// A slot that is its time of use.
    struct Stamp(AtomicU64);

    impl Slot for Stamp {
        fn last_used(&self) -> u64 {
            self.0.load(Ordering::Relaxed)
        }
    }

    struct Fixture {
        shard: Shard<u64, Stamp>,
        hasher: RandomState,
    }

    impl Fixture {
        fn new(cap: usize, now: u64) -> Self {
            Fixture {
                shard: Shard::new(cap, now),
                hasher: RandomState::new(),
            }
        }

        fn insert(&mut self, k: u64, now: u64) {
            let h = &self.hasher;
            let rehash = |k: &u64| h.hash_one(k);
            self.shard
                .insert(rehash(&k), k, Stamp(AtomicU64::new(now)), &rehash);
        }

        fn touch(&self, k: u64, now: u64, t: &Timing) -> bool {
            let slot = self.shard.live(self.hasher.hash_one(k), &k, now, t);
            slot.map(|s| s.0.store(now, Ordering::Relaxed)).is_some()
        }

        fn make_room(&mut self, now: u64, t: &Timing) -> usize {
            let h = &self.hasher;
            self.shard.make_room(now, t, &|k: &u64| h.hash_one(k))
        }

        fn contains(&self, k: u64) -> bool {
            let t = Timing::new(u64::MAX);
            self.shard
                .live(self.hasher.hash_one(k), &k, 0, &t)
                .is_some()
        }
    }

    #[test]
    fn a_candidate_used_since_the_scan_is_skipped() {
        let t = Timing::new(u64::MAX);
        let mut s = Fixture::new(3, 0);
        for k in 0..3u64 {
            s.insert(k, k * 10 * MS);
        }
        // Full: the scan keeps 0, 1, 2 as candidates and evicts 0.
        assert_eq!(s.make_room(30 * MS, &t), 1);
        assert!(!s.contains(0));
        s.insert(3, 30 * MS);
        // 1 is the next candidate, but it is used after the scan: 2 goes instead.
        assert!(s.touch(1, 40 * MS, &t));
        assert_eq!(s.make_room(50 * MS, &t), 1);
        assert!(s.contains(1));
        assert!(!s.contains(2));
    }

    #[test]
    fn keys_used_at_one_instant_are_evicted_one_per_insert() {
        let t = Timing::new(u64::MAX);
        let mut s = Fixture::new(64, 0);
        for k in 0..64u64 {
            s.insert(k, 0);
        }
        for k in 64..1000u64 {
            assert_eq!(s.make_room(0, &t), 1);
            s.insert(k, 0);
            assert_eq!(s.shard.table.len(), 64);
        }
    }

    #[test]
    fn a_clock_going_backwards_neither_expires_nor_panics() {
        let t = Timing::new(10);
        let mut s = Fixture::new(1, 100);
        s.insert(1, 100);
        assert!(s.touch(1, 0, &t));
        assert_eq!(s.make_room(0, &t), 1);
    }

    #[test]
    fn a_sweep_removes_expired_keys_and_shrinks_the_table() {
        let t = Timing::new(10);
        let mut s = Fixture::new(10_000, 0);
        for k in 0..1000u64 {
            s.insert(k, if k < 10 { 100 } else { 0 });
        }
        let h = &s.hasher;
        assert_eq!(s.shard.sweep(100, &t, &|k: &u64| h.hash_one(k)), 990);
        assert!(s.shard.table.capacity() < 100);
        assert!((0..10).all(|k| s.contains(k)));
    }
}
