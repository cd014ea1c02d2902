//! A concurrent map from keys (host, tenant, endpoint) to per-key policy handles, such
//! as one circuit breaker or rate limiter per key, created on demand and kept within a
//! bounded amount of memory.
//!
//! # Why
//!
//! A breaker per downstream host or a rate limit per tenant needs one handle per key.
//! None of the peers bound that: Polly users and governor's keyed limiters keep every
//! key ever seen, so memory grows without limit under key churn (client IPs, tenants
//! that come and go, URLs with ids in them). [`Keyed`] caps the number of live keys and
//! forgets keys nobody has used for a while.
//!
//! # Using it with a breaker
//!
//! The values are cheap handles (`Clone`, typically an `Arc` inside): [`Keyed::get`]
//! returns a clone of the key's handle, creating it from the factory the first time.
//!
//! ```
//! use rampart::keyed::{Keyed, KeyedConfig};
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! /// A toy breaker: open after `threshold` consecutive failures.
//! #[derive(Debug)]
//! struct Breaker {
//!     threshold: u32,
//!     failures: AtomicU32,
//! }
//!
//! impl Breaker {
//!     fn is_open(&self) -> bool {
//!         self.failures.load(Ordering::Relaxed) >= self.threshold
//!     }
//!     fn record(&self, ok: bool) {
//!         if ok {
//!             self.failures.store(0, Ordering::Relaxed);
//!         } else {
//!             self.failures.fetch_add(1, Ordering::Relaxed);
//!         }
//!     }
//! }
//!
//! let config = KeyedConfig::new()
//!     .with_max_keys(5_000)
//!     .with_idle_timeout(Duration::from_secs(15 * 60));
//! let breakers: Keyed<String, Arc<Breaker>> = Keyed::new(config, |_host: &String| {
//!     Arc::new(Breaker { threshold: 5, failures: AtomicU32::new(0) })
//! })?;
//!
//! let host = "payments.internal".to_owned();
//! for _ in 0..5 {
//!     breakers.get(&host).record(false);
//! }
//! assert!(breakers.get(&host).is_open());
//! assert!(!breakers.get(&"email.internal".to_owned()).is_open());
//! assert_eq!(breakers.len(), 2);
//! # Ok::<(), rampart::ConfigError>(())
//! ```
//!
//! # Eviction rules
//!
//! - **Idle keys go.** A key not used (by [`get`](Keyed::get) or [`with`](Keyed::with))
//!   for longer than `idle_timeout` is gone: the next `get` creates a fresh value even
//!   if the key is still stored, and reads ([`contains_key`](Keyed::contains_key),
//!   [`for_each`](Keyed::for_each), [`snapshot`](Keyed::snapshot)) skip it. Reads do not
//!   count as use. Idle keys are removed from memory by a sweep of a shard when a key
//!   is inserted into it (one pass over the shard, at most once per quarter of
//!   `idle_timeout`), and by [`evict_idle`](Keyed::evict_idle), which a periodic task
//!   may call so that memory also falls when no new keys arrive at all.
//! - **The cap holds.** The map is split into `shards` independently locked shards
//!   (fewer if `max_keys` is smaller), and each holds at most its share of `max_keys`
//!   (the shares add up to exactly `max_keys`), so at most `max_keys` keys are live at
//!   any instant. Inserting into a full shard evicts its least recently used key, which
//!   is an idle one if it has any. The order is exact within a shard, not across shards,
//!   and use is recorded with a granularity of `idle_timeout / 64` (at most 1 ms), so
//!   keys used within that span of each other may go in either order.
//! - **An evicted key comes back fresh**: the factory makes a new value, so an evicted
//!   breaker comes back closed and an evicted limiter with a full bucket. Set
//!   `max_keys` well above the number of keys that can be in trouble at once, or a
//!   flood of new keys can reset the breakers that are open.
//!
//! # Concurrency
//!
//! A call hashes its key once: the hash picks the shard and finds the key in the
//! shard's table. A hit takes that shard's read lock, reads the clock once, allocates
//! nothing and stores at most one atomic (the time of use, when it moved on by more
//! than the granularity above). A miss takes the shard's write lock and calls the factory
//! under it, so while a key stays live every caller gets clones of one value: two
//! threads racing on a new key never create two values. Evicted, expired and removed
//! keys get a new value on their next use; a caller still holding the old handle keeps
//! using it until it drops it.
//!
//! # Hashing
//!
//! Keys are hashed by [`KeyHasher`] unless [`with_hasher`](Keyed::with_hasher) names
//! another: foldhash (its quality variant, whose every bit is mixed, as a map picks
//! its shard from the hash), seeded per map from the operating system's random source, so
//! keys chosen to collide cannot be computed in advance. std's SipHash costs 15 to 25
//! ns more per call on a `u64` key; see [`KeyHasher`] for when it is worth it.

mod config;
mod hasher;
mod map;
mod shard;

use std::borrow::Borrow;
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::clock::{default_clock, Clock};
use crate::config::ConfigError;

pub use config::{KeyedConfig, MAX_SHARDS};
pub use hasher::{KeyHash, KeyHasher};
pub(crate) use map::Map;
pub(crate) use shard::Slot;

type Factory<K, V> = dyn Fn(&K) -> V + Send + Sync;

/// A concurrent, bounded map from keys to policy handles created on demand.
///
/// Cheap to clone; clones share the map. `S` hashes each key once per call, to pick a
/// shard and to find the key in it; the default, [`KeyHasher`], is fast and randomly
/// seeded per map, so keys chosen to collide (keys often come from requests) cannot be
/// computed in advance (see its docs for the limits, and for a stronger choice). See
/// the [module docs](self) for the rules.
pub struct Keyed<K, V, S = KeyHasher> {
    inner: Arc<Inner<K, V, S>>,
}

struct Inner<K, V, S> {
    map: Map<K, Entry<V>, S>,
    factory: Box<Factory<K, V>>,
    clock: Arc<dyn Clock>,
    config: KeyedConfig,
}

/// A value and the time its key was last used.
struct Entry<V> {
    value: V,
    last_used: AtomicU64,
}

impl<V> Entry<V> {
    /// Marks the entry used at `now`, storing only if the time moved on by more than
    /// `granularity`, so that a hot key is not written on every hit.
    #[inline]
    fn touch(&self, now: u64, granularity: u64) -> &V {
        if now.saturating_sub(self.last_used.load(Ordering::Relaxed)) > granularity {
            self.last_used.store(now, Ordering::Relaxed);
        }
        &self.value
    }
}

impl<V> Slot for Entry<V> {
    #[inline]
    fn last_used(&self) -> u64 {
        self.last_used.load(Ordering::Relaxed)
    }
}

impl<K, V> Keyed<K, V, KeyHasher>
where
    K: Hash + Eq + Clone + Send + Sync,
    V: Clone + Send + Sync,
{
    /// A map with `config` whose values come from `factory`, on the [default clock](crate::clock::default_clock).
    ///
    /// The factory runs under a shard's write lock when a key is missing, so it should
    /// be quick (build a handle, do no I/O) and must not use this map.
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] of [`KeyedConfig::validate`].
    pub fn new(
        config: KeyedConfig,
        factory: impl Fn(&K) -> V + Send + Sync + 'static,
    ) -> Result<Self, ConfigError> {
        Self::with_clock(config, factory, default_clock())
    }

    /// A map with `config` whose values come from `factory`, taking time from `clock`.
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] of [`KeyedConfig::validate`].
    pub fn with_clock(
        config: KeyedConfig,
        factory: impl Fn(&K) -> V + Send + Sync + 'static,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        Self::with_hasher(config, factory, clock, KeyHasher::new())
    }
}

impl<K, V, S> Keyed<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync,
    V: Clone + Send + Sync,
    S: BuildHasher + Clone + Send + Sync,
{
    /// A map that hashes keys with `hasher`: std's `RandomState` (SipHash-1-3) where
    /// keys come from attackers who could probe the default's seed, or a fixed-seed one
    /// for reproducible tests.
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] of [`KeyedConfig::validate`].
    pub fn with_hasher(
        config: KeyedConfig,
        factory: impl Fn(&K) -> V + Send + Sync + 'static,
        clock: Arc<dyn Clock>,
        hasher: S,
    ) -> Result<Self, ConfigError> {
        let map = Map::new(&config, hasher, clock.now_nanos(), &|ns| ns)?;
        Ok(Keyed {
            inner: Arc::new(Inner {
                map,
                factory: Box::new(factory),
                clock,
                config,
            }),
        })
    }

    /// The value for `key`, marking it used now; created by the factory if the key is
    /// new, was evicted or has been idle longer than `idle_timeout`.
    ///
    /// A hit takes the shard's read lock and allocates nothing; a miss takes its write
    /// lock and calls the factory under it (the factory must not use this map).
    pub fn get(&self, key: &K) -> V {
        self.with(key, V::clone)
    }

    /// Calls `f` with the value for `key` (created as by [`get`](Self::get)) without
    /// cloning it. `f` runs under the shard's lock (the read lock on a hit, the write
    /// lock when the value is made), so it must be short and must not use this map.
    #[inline]
    pub fn with<R>(&self, key: &K, f: impl FnOnce(&V) -> R) -> R {
        let inner = &*self.inner;
        let now = inner.clock.now_nanos();
        let touch = inner.map.timing().touch;
        inner.map.get_or_insert(
            key,
            now,
            |k| Entry {
                value: (inner.factory)(k),
                last_used: AtomicU64::new(now),
            },
            |e| f(e.touch(now, touch)),
        )
    }

    /// Whether `key` is live (stored and not idle too long). Does not mark it used.
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let now = self.inner.clock.now_nanos();
        self.inner.map.peek(key, now, |_| ()).is_some()
    }

    /// Removes `key`, returning its value if it was live.
    pub fn remove<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let now = self.inner.clock.now_nanos();
        self.inner.map.remove(key, now).map(|e| e.value)
    }

    /// Keys stored now, including idle ones that no sweep has removed yet; never more
    /// than `max_keys`. One atomic load.
    pub fn len(&self) -> usize {
        self.inner.map.len()
    }

    /// Whether no key is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many keys were evicted (for the cap, or idle too long) since creation; keys
    /// taken out by [`remove`](Self::remove) while live do not count.
    pub fn evicted(&self) -> u64 {
        self.inner.map.evicted()
    }

    /// Removes every key idle longer than `idle_timeout` now, shard by shard; returns
    /// how many. One pass over the map, taking each shard's write lock in turn.
    pub fn evict_idle(&self) -> usize {
        self.inner.map.evict_idle(self.inner.clock.now_nanos())
    }

    /// Calls `f` on every live key and value, for dashboards and health reports.
    ///
    /// Costs one pass over the map. Each shard's read lock is held while `f` runs on
    /// its keys (so `f` must not use this map), and the shards are visited in turn, so
    /// this is not one instant's view. Does not mark keys used.
    pub fn for_each(&self, mut f: impl FnMut(&K, &V)) {
        let now = self.inner.clock.now_nanos();
        self.inner.map.for_each(now, |k, e| f(k, &e.value));
    }

    /// Clones of every live key and value, for dashboards and health reports.
    ///
    /// Costs one pass over the map and a vector of up to `max_keys` clones; see
    /// [`for_each`](Self::for_each) to avoid the copy.
    pub fn snapshot(&self) -> Vec<(K, V)> {
        let mut out = Vec::with_capacity(self.len());
        self.for_each(|k, v| out.push((k.clone(), v.clone())));
        out
    }

    /// The configuration this map was built with.
    pub fn config(&self) -> &KeyedConfig {
        &self.inner.config
    }
}

impl<K, V, S> Clone for Keyed<K, V, S> {
    fn clone(&self) -> Self {
        Keyed {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<K, V, S> fmt::Debug for Keyed<K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyed")
            .field("config", &self.inner.config)
            .field("len", &self.inner.map.len())
            .field("evicted", &self.inner.map.evicted())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hot_key_is_written_once_per_granularity() {
        const MS: u64 = 1_000_000;
        let e = Entry {
            value: (),
            last_used: AtomicU64::new(0),
        };
        e.touch(MS, MS);
        assert_eq!(e.last_used(), 0, "within the granularity");
        e.touch(MS + 1, MS);
        assert_eq!(e.last_used(), MS + 1);
    }
}
