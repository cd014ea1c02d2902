//! One shard of a keyed map: a table with a cap, idle expiry and least-recently-used
//! eviction, as a pure core that takes "now" (nanoseconds) as an argument.
//!
//! Hits run under a shared reference (the handle's read lock) and only store the time
//! of use in the entry's atomic. Everything that changes the table takes `&mut self`.
//!
//! Least recently used, without a list to reorder on every hit: a scan of the table
//! keeps the oldest keys (an eighth of the cap, from [`CANDIDATES`] to
//! [`MAX_CANDIDATES`]) with the time of use each had then. Times only
//! grow, so a candidate whose time is unchanged is still older than every key outside
//! the list (those were newer at the scan, or created after it), and the oldest
//! unchanged candidate is the least recently used key of the shard. A changed candidate
//! was used since and is skipped. When the list runs out the shard is scanned again:
//! one scan per many evictions.

use std::borrow::Borrow;
use std::cmp::Ordering as CmpOrdering;
use std::collections::hash_map::Entry as MapEntry;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicU64, Ordering};

/// How many eviction candidates one scan keeps, at least: an eighth of the shard's cap
/// up to [`MAX_CANDIDATES`].
const CANDIDATES: usize = 32;

/// How many eviction candidates one scan keeps at most.
const MAX_CANDIDATES: usize = 256;

/// Tables at least this large are shrunk when a sweep leaves them three-quarters empty.
const SHRINK_ABOVE: usize = 64;

/// The time rules of a map, in nanoseconds.
#[derive(Debug, Clone, Copy)]
pub(super) struct Timing {
    /// A key unused for longer than this is expired.
    pub(super) idle: u64,
    /// A hit stores the time of use only if it moved by more than this, so that a hot
    /// key is not written on every hit.
    pub(super) touch: u64,
    /// A shard sweeps its expired keys on insert at most this often.
    pub(super) sweep: u64,
}

impl Timing {
    /// The rules for an idle timeout of `idle` nanoseconds.
    pub(super) fn new(idle: u64) -> Self {
        Timing {
            idle,
            touch: (idle / 64).min(1_000_000),
            sweep: (idle / 4).max(1),
        }
    }

    fn expired(&self, last_used: u64, now: u64) -> bool {
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

struct Entry<V> {
    value: V,
    last_used: AtomicU64,
}

/// One shard's keys.
pub(super) struct Shard<K, V, S> {
    map: HashMap<K, Entry<V>, S>,
    /// The most keys this shard holds.
    cap: usize,
    /// When expired keys were last swept.
    last_sweep: u64,
    /// The oldest keys at the last scan with their time of use then, newest first (so
    /// that `pop` gives the oldest).
    candidates: Vec<(K, u64)>,
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

impl<K, V, S> Shard<K, V, S>
where
    K: Hash + Eq + Clone,
    V: Clone,
    S: BuildHasher,
{
    /// An empty shard holding at most `cap` keys (at least 1).
    pub(super) fn new(cap: usize, hasher: S, now: u64) -> Self {
        Shard {
            map: HashMap::with_hasher(hasher),
            cap: cap.max(1),
            last_sweep: now,
            candidates: Vec::new(),
        }
    }

    /// The live value for `key`, marking it used at `now`. The hit path: no allocation,
    /// at most one relaxed store.
    #[inline]
    pub(super) fn touch<Q>(&self, key: &Q, now: u64, t: &Timing) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let entry = self.map.get(key)?;
        let last = entry.last_used.load(Ordering::Relaxed);
        if t.expired(last, now) {
            return None;
        }
        if now.saturating_sub(last) > t.touch {
            entry.last_used.store(now, Ordering::Relaxed);
        }
        Some(&entry.value)
    }

    /// The live value for `key`, without marking it used.
    pub(super) fn peek<Q>(&self, key: &Q, now: u64, t: &Timing) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let entry = self.map.get(key)?;
        (!t.expired(entry.last_used.load(Ordering::Relaxed), now)).then_some(&entry.value)
    }

    /// Removes `key`: `Some((value, expired))` if it was stored.
    pub(super) fn remove<Q>(&mut self, key: &Q, now: u64, t: &Timing) -> Option<(V, bool)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let entry = self.map.remove(key)?;
        let expired = t.expired(entry.last_used.load(Ordering::Relaxed), now);
        Some((entry.value, expired))
    }

    /// Under the write lock, before inserting: whether `key` is live (another caller
    /// made it meanwhile); an expired entry for it is removed (`Stale::Removed`).
    pub(super) fn clear_stale(&mut self, key: &K, now: u64, t: &Timing) -> Stale {
        let Some(entry) = self.map.get(key) else {
            return Stale::Absent;
        };
        if !t.expired(entry.last_used.load(Ordering::Relaxed), now) {
            return Stale::Live;
        }
        self.map.remove(key);
        Stale::Removed
    }

    /// Makes room for one more key: sweeps expired keys if a sweep is due, then evicts
    /// least recently used keys while the shard is full. Returns how many went.
    pub(super) fn make_room(&mut self, now: u64, t: &Timing) -> usize {
        let mut removed = 0;
        if now.saturating_sub(self.last_sweep) >= t.sweep {
            removed += self.sweep(now, t);
        }
        while self.map.len() >= self.cap {
            match self.candidates.pop() {
                Some((key, stamp)) => {
                    if let MapEntry::Occupied(e) = self.map.entry(key) {
                        if e.get().last_used.load(Ordering::Relaxed) == stamp {
                            e.remove();
                            removed += 1;
                        }
                    }
                }
                // Expired keys are the oldest, so they are the first candidates.
                None => self.refill(),
            }
        }
        removed
    }

    /// Inserts `key` (which must be absent, with room made) as used at `now`.
    pub(super) fn insert(&mut self, key: K, value: V, now: u64) {
        let entry = Entry {
            value,
            last_used: AtomicU64::new(now),
        };
        self.map.insert(key, entry);
    }

    /// Removes every expired key; returns how many.
    pub(super) fn sweep(&mut self, now: u64, t: &Timing) -> usize {
        self.last_sweep = now;
        let before = self.map.len();
        self.map
            .retain(|_, e| !t.expired(e.last_used.load(Ordering::Relaxed), now));
        let removed = before - self.map.len();
        let capacity = self.map.capacity();
        if removed > 0 && capacity > SHRINK_ABOVE && self.map.len() < capacity / 4 {
            self.map.shrink_to(self.map.len().saturating_mul(2));
        }
        removed
    }

    /// Calls `f` on every live key and value.
    pub(super) fn for_each(&self, now: u64, t: &Timing, f: &mut impl FnMut(&K, &V)) {
        for (k, e) in &self.map {
            if !t.expired(e.last_used.load(Ordering::Relaxed), now) {
                f(k, &e.value);
            }
        }
    }

    /// Refills the eviction candidates with the oldest keys.
    fn refill(&mut self) {
        let keep = (self.cap / 8)
            .clamp(CANDIDATES, MAX_CANDIDATES)
            .min(self.map.len());
        // A max-heap of the `keep` oldest seen so far: its top is the newest of them.
        let mut oldest: BinaryHeap<Aged<'_, K>> = BinaryHeap::with_capacity(keep);
        for (k, e) in &self.map {
            let aged = Aged(e.last_used.load(Ordering::Relaxed), k);
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
            .extend(sorted.into_iter().rev().map(|Aged(t, k)| (k.clone(), t)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::hash_map::RandomState;

    const MS: u64 = 1_000_000;

    #[test]
    fn a_candidate_used_since_the_scan_is_skipped() {
        let t = Timing::new(u64::MAX);
        let mut s = Shard::new(3, RandomState::new(), 0);
        for k in 0..3u64 {
            s.insert(k, k, k * 10 * MS);
        }
        // Full: the scan keeps 0, 1, 2 as candidates and evicts 0.
        assert_eq!(s.make_room(30 * MS, &t), 1);
        assert!(!s.map.contains_key(&0));
        s.insert(3, 3, 30 * MS);
        // 1 is the next candidate, but it is used after the scan: 2 goes instead.
        assert_eq!(s.touch(&1, 40 * MS, &t), Some(&1));
        assert_eq!(s.make_room(50 * MS, &t), 1);
        assert!(s.map.contains_key(&1));
        assert!(!s.map.contains_key(&2));
    }

    #[test]
    fn a_hot_key_is_written_once_per_granularity() {
        let t = Timing::new(u64::MAX);
        let mut s = Shard::new(1, RandomState::new(), 0);
        s.insert(7u8, (), 0);
        let stamp = |s: &Shard<u8, (), RandomState>| s.map[&7].last_used.load(Ordering::Relaxed);
        s.touch(&7, MS, &t);
        assert_eq!(stamp(&s), 0, "within the granularity");
        s.touch(&7, MS + 1, &t);
        assert_eq!(stamp(&s), MS + 1);
    }

    #[test]
    fn a_clock_going_backwards_neither_expires_nor_panics() {
        let t = Timing::new(10);
        let mut s = Shard::new(1, RandomState::new(), 100);
        s.insert(1u8, (), 100);
        assert!(s.touch(&1, 0, &t).is_some());
        assert_eq!(s.make_room(0, &t), 1);
    }
}
