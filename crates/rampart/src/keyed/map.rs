//! The sharded table under [`Keyed`](super::Keyed) and the keyed rate limiter: keys
//! hashed once per call, the shard picked from the hash's middle bits, the table inside
//! the shard searched with the same hash.
//!
//! It stores any [`Slot`] (a value that knows when its key was last used) and takes
//! "now" from its caller, so a keyed rate limiter can store its buckets inline, with
//! their theoretical arrival time standing in for the time of last use, and read the
//! clock once per check.

use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::config::KeyedConfig;
use super::shard::{Shard, Slot, Stale, Timing, MILLI};
use crate::clock::duration_to_nanos;
use crate::config::ConfigError;

/// A shard alone on its cache lines (two, as neighbouring lines are fetched in pairs),
/// so that threads on different shards do not share a written line.
#[repr(align(128))]
struct Padded<T>(T);

/// One shard behind its lock, on lines of its own.
type Locked<K, E> = Padded<RwLock<Shard<K, E>>>;

/// A bounded, sharded map from keys to slots; see the [module docs](self).
pub(crate) struct Map<K, E, S> {
    shards: Box<[Locked<K, E>]>,
    hasher: S,
    timing: Timing,
    len: AtomicUsize,
    evicted: AtomicU64,
}

impl<K, E, S> Map<K, E, S> {
    /// Keys stored, including expired ones not swept yet.
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// Keys evicted (for the cap, or expired) since creation.
    pub(crate) fn evicted(&self) -> u64 {
        self.evicted.load(Ordering::Relaxed)
    }
}

impl<K, E, S> Map<K, E, S>
where
    K: Hash + Eq,
    E: Slot,
    S: BuildHasher,
{
    /// An empty map with the limits of `config` (validated here), at `now`, keeping
    /// time in the units of its caller's clock, which `units` turns nanoseconds into.
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] of [`KeyedConfig::validate`].
    pub(crate) fn new(
        config: &KeyedConfig,
        hasher: S,
        now: u64,
        units: &dyn Fn(u64) -> u64,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        let count = config.shards.min(config.max_keys);
        let (share, extra) = (config.max_keys / count, config.max_keys % count);
        let shards = (0..count)
            .map(|i| Padded(RwLock::new(Shard::new(share + usize::from(i < extra), now))))
            .collect();
        Ok(Map {
            shards,
            hasher,
            timing: Timing::scaled(units(duration_to_nanos(config.idle_timeout)), units(MILLI)),
            len: AtomicUsize::new(0),
            evicted: AtomicU64::new(0),
        })
    }

    /// The map's time rules.
    pub(crate) fn timing(&self) -> &Timing {
        &self.timing
    }

    /// Calls `hit` with `key`'s live slot, under the shard's read lock; or, when the
    /// key is missing or expired, stores the slot `make` gives (evicting to make room)
    /// and calls `hit` with it, under the shard's write lock.
    ///
    /// `make` and `hit` run under a lock: they must be short and must not use this map.
    #[inline]
    pub(crate) fn get_or_insert<R>(
        &self,
        key: &K,
        now: u64,
        make: impl FnOnce(&K) -> E,
        hit: impl FnOnce(&E) -> R,
    ) -> R
    where
        K: Clone,
    {
        let hash = self.hasher.hash_one(key);
        let shard = self.shard(hash);
        {
            let guard = read(shard);
            if let Some(slot) = guard.live(hash, key, now, &self.timing) {
                return hit(slot);
            }
        }
        self.insert_slow(shard, hash, key, now, make, hit)
    }

    #[cold]
    #[inline(never)]
    fn insert_slow<R>(
        &self,
        shard: &RwLock<Shard<K, E>>,
        hash: u64,
        key: &K,
        now: u64,
        make: impl FnOnce(&K) -> E,
        hit: impl FnOnce(&E) -> R,
    ) -> R
    where
        K: Clone,
    {
        let t = &self.timing;
        let mut guard = write(shard);
        match guard.clear_stale(hash, key, now, t) {
            Stale::Absent => {}
            Stale::Removed => self.forget(1),
            Stale::Live => {
                // Another caller made it meanwhile.
                if let Some(slot) = guard.live(hash, key, now, t) {
                    return hit(slot);
                }
            }
        }
        let slot = make(key);
        let rehash = |k: &K| self.hasher.hash_one(k);
        let removed = guard.make_room(now, t, &rehash);
        self.forget(removed);
        self.len.fetch_add(1, Ordering::Relaxed);
        hit(guard.insert(hash, key.clone(), slot, &rehash))
    }

    /// Calls `f` with `key`'s live slot under the shard's read lock, if there is one.
    pub(crate) fn peek<Q, R>(&self, key: &Q, now: u64, f: impl FnOnce(&E) -> R) -> Option<R>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hasher.hash_one(key);
        read(self.shard(hash))
            .live(hash, key, now, &self.timing)
            .map(f)
    }

    /// Removes `key`, returning its slot if it was live.
    pub(crate) fn remove<Q>(&self, key: &Q, now: u64) -> Option<E>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hasher.hash_one(key);
        let (slot, expired) = write(self.shard(hash)).remove(hash, key, now, &self.timing)?;
        self.len.fetch_sub(1, Ordering::Relaxed);
        if expired {
            self.evicted.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Some(slot)
    }

    /// Removes every key expired at `now`, shard by shard; returns how many.
    pub(crate) fn evict_idle(&self, now: u64) -> usize {
        let rehash = |k: &K| self.hasher.hash_one(k);
        let mut removed = 0;
        for shard in self.shards.iter() {
            let n = write(&shard.0).sweep(now, &self.timing, &rehash);
            self.forget(n);
            removed += n;
        }
        removed
    }

    /// Calls `f` on every live key and slot, each shard under its read lock in turn.
    pub(crate) fn for_each(&self, now: u64, mut f: impl FnMut(&K, &E)) {
        for shard in self.shards.iter() {
            read(&shard.0).for_each(now, &self.timing, &mut f);
        }
    }

    /// The shard of a key whose hash is `hash`.
    #[inline]
    fn shard(&self, hash: u64) -> &RwLock<Shard<K, E>> {
        // Bits 25..57 of the hash: a shard's table takes its buckets from the lowest
        // bits and its tags from the top seven, so those stay spread out within a shard.
        let bits = (hash >> 25) & 0xffff_ffff;
        let index = ((bits * self.shards.len() as u64) >> 32) as usize;
        &self.shards[index.min(self.shards.len() - 1)].0
    }

    fn forget(&self, evicted: usize) {
        if evicted > 0 {
            self.len.fetch_sub(evicted, Ordering::Relaxed);
            self.evicted.fetch_add(evicted as u64, Ordering::Relaxed);
        }
    }
}

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}
