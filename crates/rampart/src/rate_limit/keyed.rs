//! Keyed rate limiters: one token bucket per key (tenant, API key, client address),
//! sharing one quota, kept within bounded memory by a [`Keyed`] map.
//!
//! # Why
//!
//! The seeds' "tenant-a: 1000 requests/minute" needs a bucket per tenant, and the set
//! of keys is open-ended (API keys, client addresses). A map that keeps every key ever
//! seen grows without limit under key churn; [`KeyedRateLimiter`] caps the live keys
//! and forgets keys nobody has used for a while, with the rules of
//! [`Keyed`](crate::keyed).
//!
//! # Memory
//!
//! A key's bucket is its TAT alone: one `u64`, stored inline in the map entry next to
//! the key and its time of last use. The quota, clock and counters are shared by all
//! keys, so a quota change ([`set_quota`](KeyedRateLimiter::set_quota)) applies to
//! every key at once.
//!
//! # Eviction rule and its consequence
//!
//! **An evicted key comes back with a full bucket**, exactly as if it had been idle
//! long enough to refill. Idle eviction alone never admits more than the quota allows
//! when `idle_timeout` is comfortably above the time a bucket takes to refill (`burst x
//! period / rate`; the map records use to within a couple of milliseconds); evictions
//! for the cap can, for keys pushed out while in debt. So set `max_keys` above the
//! number of keys active within one refill time.
//!
//! # Examples
//!
//! ```
//! use rampart::clock::ManualClock;
//! use rampart::keyed::KeyedConfig;
//! use rampart::rate_limit::{KeyedRateLimiter, RateLimitConfig};
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! let clock = ManualClock::new();
//! let tenants: KeyedRateLimiter<String> = KeyedRateLimiter::with_clock(
//!     "api",
//!     RateLimitConfig::per_minute(1000).with_burst(2),
//!     KeyedConfig::new().with_max_keys(100_000),
//!     Arc::new(clock.clone()),
//! )?;
//!
//! let a = "tenant-a".to_owned();
//! assert!(tenants.check(&a).is_ok());
//! assert!(tenants.check(&a).is_ok());
//! let refused = tenants.check(&a).unwrap_err();
//! assert_eq!(refused.retry_after(), Some(Duration::from_millis(60)));
//!
//! // Other tenants have buckets of their own.
//! assert!(tenants.check(&"tenant-b".to_owned()).is_ok());
//! # Ok::<(), rampart::ConfigError>(())
//! ```

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::sync::atomic::AtomicU64 as StdAtomicU64;
use std::sync::Arc;
use std::time::Duration;

use super::config::RateLimitConfig;
use super::limiter::RateLimitSnapshot;
use super::shared::{wait, Refusal, Shared, UNSET};
use crate::clock::{duration_to_nanos, Clock, TokioClock};
use crate::config::ConfigError;
use crate::error::Rejection;
use crate::event::Listener;
use crate::keyed::{Keyed, KeyedConfig};
use crate::sync::{AtomicU64, Ordering::Relaxed};

/// One key's bucket: its TAT, or [`UNSET`] until its first call.
///
/// A clone is a copy of the value, not a share of it: the map hands a clone to a call
/// only for a key it has just made (see [`KeyedRateLimiter::take`]).
struct Bucket(AtomicU64);

impl Clone for Bucket {
    fn clone(&self) -> Self {
        Bucket(AtomicU64::new(self.0.load(Relaxed)))
    }
}

/// The map's clock: the latest reading of the limiter's clock, so that a check reads
/// the real clock once and the map's idle bookkeeping reads one atomic.
#[derive(Debug)]
struct MapClock {
    last: StdAtomicU64,
    /// The map's own granularity: a reading is published only when it moved by more.
    step: u64,
}

impl MapClock {
    /// Publishes `now` if it moved on by more than the step.
    #[inline]
    fn advance(&self, now: u64) {
        if now > self.last.load(Relaxed).saturating_add(self.step) {
            self.last.fetch_max(now, Relaxed);
        }
    }
}

impl Clock for MapClock {
    fn now_nanos(&self) -> u64 {
        self.last.load(Relaxed)
    }

    fn sleep_blocking(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

struct Inner<K, S> {
    map: Keyed<K, Bucket, S>,
    map_clock: Arc<MapClock>,
    shared: Shared,
}

/// One token bucket per key, all with one quota, with a cap on live keys and idle
/// eviction.
///
/// Cheap to clone; clones share the buckets. `S` hashes the keys; the default,
/// [`RandomState`], resists keys chosen to collide, which matters when keys come from
/// requests (see [`with_hasher`](Self::with_hasher) for a faster one). See the [module
/// docs](self) for the eviction rule and an example.
pub struct KeyedRateLimiter<K, S = RandomState> {
    inner: Arc<Inner<K, S>>,
}

/// A keyed limiter's figures at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyedRateLimitSnapshot {
    /// Calls allowed per `period`, per key.
    pub rate: u32,
    /// The period `rate` is counted over.
    pub period: Duration,
    /// The most calls admitted at one instant, per key.
    pub burst: u32,
    /// Keys stored (at most `max_keys`), including idle ones not yet swept.
    pub keys: usize,
    /// Keys evicted (for the cap, or idle too long) since creation.
    pub evicted: u64,
    /// Calls refused since creation, over all keys.
    pub rejected: u64,
}

impl<K> KeyedRateLimiter<K, RandomState>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    /// A bucket per key with `config`, at most `keyed.max_keys` of them live, on tokio's
    /// clock. `name` is used in rejections and events.
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] of [`RateLimitConfig::validate`] or
    /// [`KeyedConfig::validate`].
    pub fn new(
        name: &str,
        config: RateLimitConfig,
        keyed: KeyedConfig,
    ) -> Result<Self, ConfigError> {
        Self::with_clock(name, config, keyed, Arc::new(TokioClock::new()))
    }

    /// Buckets that, like the map holding them, take their time from `clock`.
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] of [`RateLimitConfig::validate`] or
    /// [`KeyedConfig::validate`].
    pub fn with_clock(
        name: &str,
        config: RateLimitConfig,
        keyed: KeyedConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        Self::with_hasher(name, config, keyed, clock, RandomState::new())
    }
}

impl<K, S> KeyedRateLimiter<K, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    S: BuildHasher + Clone + Send + Sync + 'static,
{
    /// Buckets whose keys are hashed with `hasher`: a faster one than the default
    /// (hashing is about a third of a check's cost with it) when keys cannot be chosen
    /// by an attacker, or are seeded per process.
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] of [`RateLimitConfig::validate`] or
    /// [`KeyedConfig::validate`].
    pub fn with_hasher(
        name: &str,
        config: RateLimitConfig,
        keyed: KeyedConfig,
        clock: Arc<dyn Clock>,
        hasher: S,
    ) -> Result<Self, ConfigError> {
        let shared = Shared::new(name, config, Arc::clone(&clock))?;
        keyed.validate()?;
        let map_clock = Arc::new(MapClock {
            last: StdAtomicU64::new(clock.now_nanos()),
            // As fine as the map records use: a 64th of the idle timeout, at most 1 ms.
            step: (duration_to_nanos(keyed.idle_timeout) / 64).min(1_000_000),
        });
        let map = Keyed::with_hasher(
            keyed,
            |_: &K| Bucket(AtomicU64::new(UNSET)),
            Arc::clone(&map_clock) as Arc<dyn Clock>,
            hasher,
        )?;
        Ok(KeyedRateLimiter {
            inner: Arc::new(Inner {
                map,
                map_clock,
                shared,
            }),
        })
    }

    /// Reports rejections to `listener`.
    ///
    /// Call it right after construction. On a limiter that already has clones it still
    /// takes effect for all of them, but only if no listener was set before.
    pub fn with_listener(mut self, listener: Arc<dyn Listener>) -> Self {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => inner.shared.replace_listener(listener),
            None => self.inner.shared.set_listener(listener),
        }
        self
    }

    /// The name given at construction.
    pub fn name(&self) -> &str {
        &self.inner.shared.name
    }

    /// Takes one token from `key`'s bucket now, or says when to come back; never waits.
    /// Marks the key used; a new, evicted or expired key starts with a full bucket.
    ///
    /// A known key costs one clock read, one shard read lock, one hash lookup and one
    /// CAS, and allocates nothing; a new key takes the shard's write lock once.
    ///
    /// # Errors
    ///
    /// A [`Rejection`] of kind [`RateLimited`](crate::RejectionKind::RateLimited) by
    /// policy `"rate_limit"` with the exact time until the same call would pass.
    #[inline]
    pub fn check(&self, key: &K) -> Result<(), Rejection> {
        self.check_n(key, 1)
    }

    /// Same as [`check`](Self::check).
    ///
    /// # Errors
    ///
    /// As [`check`](Self::check).
    #[inline]
    pub fn try_acquire(&self, key: &K) -> Result<(), Rejection> {
        self.check_n(key, 1)
    }

    /// Takes `n` tokens at once from `key`'s bucket, or none.
    ///
    /// # Errors
    ///
    /// As [`check`](Self::check); when `n` is above the burst the call can never pass,
    /// and the rejection has no `retry_after`.
    pub fn check_n(&self, key: &K, n: u32) -> Result<(), Rejection> {
        let now = self.inner.shared.clock.now_nanos();
        match self.take(key, n, now) {
            Ok(()) => Ok(()),
            Err(refusal) => Err(self.inner.shared.refuse(refusal)),
        }
    }

    /// Waits until one token of `key`'s bucket can be taken, then takes it.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it completes takes no token.
    pub async fn acquire(&self, key: &K) {
        // One token never exceeds the burst, which is at least 1.
        let _ = self.acquire_n(key, 1).await;
    }

    /// Waits until `n` tokens of `key`'s bucket can be taken at once, then takes them.
    ///
    /// # Errors
    ///
    /// At once, a [`Rejection`] without `retry_after` when `n` is above the burst.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it completes takes no token.
    pub async fn acquire_n(&self, key: &K, n: u32) -> Result<(), Rejection> {
        loop {
            let now = self.inner.shared.clock.now_nanos();
            match self.take(key, n, now) {
                Ok(()) => return Ok(()),
                Err(Refusal::Wait(ns)) => wait(ns).await,
                Err(Refusal::Never) => return Err(self.inner.shared.refuse(Refusal::Never)),
            }
        }
    }

    /// Takes `n` tokens from `key`'s bucket at `now`.
    ///
    /// The map gives the closure the stored bucket when the key is live, and a copy of
    /// a new bucket when it has just made one. A copy is still [`UNSET`], so a first
    /// look that finds `UNSET` does nothing and looks again: the key is stored by then
    /// and the second look takes from the stored bucket. (Only a key evicted between
    /// the two looks is taken from a copy, which is what a fresh bucket evicted right
    /// after the call would give.)
    #[inline]
    fn take(&self, key: &K, n: u32, now: u64) -> Result<(), Refusal> {
        let inner = &*self.inner;
        inner.map_clock.advance(now);
        let first = inner.map.with(key, |b| {
            (b.0.load(Relaxed) != UNSET).then(|| inner.shared.take(&b.0, n, now))
        });
        match first {
            Some(outcome) => outcome,
            None => inner.map.with(key, |b| inner.shared.take(&b.0, n, now)),
        }
    }

    /// Replaces the quota of every key at run time.
    ///
    /// As [`RateLimiter::set_quota`](super::RateLimiter::set_quota), for each live key:
    /// the tokens it owes are kept (at most a full bucket's worth) and come back at the
    /// new rate. Costs one pass over the map, which takes each shard's read lock in
    /// turn.
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] of [`RateLimitConfig::validate`]; the quota is then unchanged.
    pub fn set_quota(&self, config: RateLimitConfig) -> Result<(), ConfigError> {
        self.refresh();
        let map = &self.inner.map;
        self.inner
            .shared
            .set_quota(config, |rescale| map.for_each(|_, b| rescale(&b.0)))
    }

    /// The configuration in force.
    pub fn config(&self) -> RateLimitConfig {
        self.inner.shared.config()
    }

    /// The limiter's figures now; changes nothing.
    pub fn snapshot(&self) -> KeyedRateLimitSnapshot {
        let config = self.inner.shared.config();
        KeyedRateLimitSnapshot {
            rate: config.rate,
            period: config.period,
            burst: config.effective_burst(),
            keys: self.len(),
            evicted: self.evicted(),
            rejected: self.inner.shared.rejected.load(Relaxed),
        }
    }

    /// The figures of `key`'s bucket, if the key is live; does not mark it used.
    ///
    /// One pass over the map: for dashboards and tests, not for every call.
    pub fn key_snapshot(&self, key: &K) -> Option<RateLimitSnapshot> {
        self.refresh();
        let mut tat = None;
        self.inner.map.for_each(|k, b| {
            if k == key {
                tat = Some(b.0.load(Relaxed));
            }
        });
        let shared = &self.inner.shared;
        tat.map(|t| {
            RateLimitSnapshot::new(
                shared.config(),
                shared.available(t),
                shared.rejected.load(Relaxed),
            )
        })
    }

    /// Keys stored now (at most `max_keys`), including idle ones not yet swept.
    pub fn len(&self) -> usize {
        self.inner.map.len()
    }

    /// Whether no key is stored.
    pub fn is_empty(&self) -> bool {
        self.inner.map.is_empty()
    }

    /// How many keys were evicted (for the cap, or idle too long) since creation.
    pub fn evicted(&self) -> u64 {
        self.inner.map.evicted()
    }

    /// Removes every key idle longer than `idle_timeout`; returns how many. For a
    /// periodic task, so that memory also falls when no calls arrive.
    pub fn evict_idle(&self) -> usize {
        self.refresh();
        self.inner.map.evict_idle()
    }

    /// Brings the map's clock up to the limiter's.
    fn refresh(&self) {
        let now = self.inner.shared.clock.now_nanos();
        self.inner.map_clock.last.fetch_max(now, Relaxed);
    }
}

impl<K, S> Clone for KeyedRateLimiter<K, S> {
    fn clone(&self) -> Self {
        KeyedRateLimiter {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<K, S> fmt::Debug for KeyedRateLimiter<K, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedRateLimiter")
            .field("name", &self.inner.shared.name)
            .field("config", &self.inner.shared.config())
            .field("map", &self.inner.map)
            .finish_non_exhaustive()
    }
}
