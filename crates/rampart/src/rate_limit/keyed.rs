//! Keyed rate limiters: one token bucket per key (tenant, API key, client address),
//! sharing one quota, kept within bounded memory by a [`Keyed`](crate::keyed::Keyed)
//! map.
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
//! A key's bucket is its TAT alone: one `u64`, stored inline in the map's table next to
//! the key, so a `u64` key costs 16 bytes of table (plus the table's spare room). The
//! TAT also serves as the key's time of use: there is no separate timestamp to store
//! or to update on a hit. The quota, clock and counters are shared by all keys, so a
//! quota change ([`set_quota`](KeyedRateLimiter::set_quota)) applies to every key at
//! once.
//!
//! # Eviction rules and their consequence
//!
//! A key counts as used until its bucket is full again: its TAT, the instant at which
//! the bucket refills, stands for its time of last use. So:
//!
//! - **A key is idle once its bucket has been full for `idle_timeout`**, and evicting
//!   it changes nothing: it comes back with a full bucket, which is what it had. Idle
//!   eviction never admits a call the quota refuses. A key whose calls are being
//!   refused owes tokens, so it is never idle.
//! - **The cap evicts the key whose bucket refilled first** (the smallest TAT): the
//!   fullest bucket, the one whose eviction is least visible. Only when every bucket of
//!   a full shard is still in debt does an eviction forgive a debt: the evicted key
//!   comes back with a full bucket. So set `max_keys` above the number of keys active
//!   within one refill time (`burst x period / rate`).
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

use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;
use std::time::Duration;

use super::config::RateLimitConfig;
use super::limiter::RateLimitSnapshot;
use super::shared::{Refusal, Shared};
use crate::clock::{default_clock, Clock, TickClock};
use crate::config::ConfigError;
use crate::error::Rejection;
use crate::event::Listener;
use crate::keyed::{KeyHasher, KeyedConfig, Map, Slot};
use crate::sync::{AtomicU64, Ordering::Relaxed};

/// One key's bucket: its TAT, which is also its time of use for the map.
struct Bucket(AtomicU64);

impl Slot for Bucket {
    #[inline]
    fn last_used(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

struct Inner<K, S> {
    map: Map<K, Bucket, S>,
    shared: Shared,
}

/// One token bucket per key, all with one quota, with a cap on live keys and idle
/// eviction.
///
/// Cheap to clone; clones share the buckets. `S` hashes each key once per check; the
/// default, [`KeyHasher`], is fast and randomly seeded per limiter, so keys chosen to
/// collide cannot be computed in advance (see [`with_hasher`](Self::with_hasher) for a
/// stronger one). See the [module docs](self) for the eviction rules and an example.
pub struct KeyedRateLimiter<K, S = KeyHasher> {
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

impl<K> KeyedRateLimiter<K, KeyHasher>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
{
    /// A bucket per key with `config`, at most `keyed.max_keys` of them live, on tokio's
    /// clock. `name` is used in rejections and events.
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] of [`RateLimitConfig::validate`] or
    /// [`KeyedConfig::validate`], or one for `rate_limit.burst` when a full bucket is
    /// longer than the limiter's clock can count.
    pub fn new(
        name: &str,
        config: RateLimitConfig,
        keyed: KeyedConfig,
    ) -> Result<Self, ConfigError> {
        Self::with_clock(name, config, keyed, default_clock())
    }

    /// Buckets that, like the map holding them, take their time from `clock`.
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] of [`RateLimitConfig::validate`] or
    /// [`KeyedConfig::validate`], or one for `rate_limit.burst` when a full bucket is
    /// longer than the limiter's clock can count.
    pub fn with_clock(
        name: &str,
        config: RateLimitConfig,
        keyed: KeyedConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        Self::with_hasher(name, config, keyed, clock, KeyHasher::new())
    }
}

impl<K, S> KeyedRateLimiter<K, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    S: BuildHasher + Clone + Send + Sync + 'static,
{
    /// Buckets whose keys are hashed with `hasher`: std's `RandomState` (SipHash-1-3)
    /// where keys come from attackers who could probe the default's seed (it costs
    /// 15 to 25 ns more per check for a `u64` key), or a fixed-seed hasher for
    /// reproducible tests. See [`KeyHasher`] for the default's limits.
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] of [`RateLimitConfig::validate`] or
    /// [`KeyedConfig::validate`], or one for `rate_limit.burst` when a full bucket is
    /// longer than the limiter's clock can count.
    pub fn with_hasher(
        name: &str,
        config: RateLimitConfig,
        keyed: KeyedConfig,
        clock: Arc<dyn Clock>,
        hasher: S,
    ) -> Result<Self, ConfigError> {
        Self::on_ticks(name, config, keyed, TickClock::new(clock), hasher)
    }

    /// Buckets, and a map, that keep time in `clock`'s ticks.
    pub(super) fn on_ticks(
        name: &str,
        config: RateLimitConfig,
        keyed: KeyedConfig,
        clock: TickClock,
        hasher: S,
    ) -> Result<Self, ConfigError> {
        let shared = Shared::new(name, config, clock)?;
        let ticks = &shared.clock;
        let map = Map::new(&keyed, hasher, ticks.now(), &|ns| ticks.ticks(ns))?;
        Ok(KeyedRateLimiter {
            inner: Arc::new(Inner { map, shared }),
        })
    }

    /// Reports rejections to `listener`.
    ///
    /// Call it right after construction. On a limiter that already has clones it still
    /// takes effect for all of them, but only if no listener was set before.
    pub fn with_listener(self, listener: Arc<dyn Listener>) -> Self {
        self.inner.shared.set_listener(listener);
        self
    }

    /// The name given at construction.
    pub fn name(&self) -> &str {
        &self.inner.shared.name
    }

    /// Takes one token from `key`'s bucket now, or says when to come back; never waits.
    /// Marks the key used; a new, evicted or expired key starts with a full bucket.
    ///
    /// A known key costs one clock read, one hash of the key, one shard read lock, one
    /// table lookup and one CAS, and allocates nothing; a new key takes the shard's
    /// write lock once.
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
    #[inline]
    pub fn check_n(&self, key: &K, n: u32) -> Result<(), Rejection> {
        let now = self.inner.shared.clock.now();
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
            let now = self.inner.shared.clock.now();
            match self.take(key, n, now) {
                Ok(()) => return Ok(()),
                Err(Refusal::Wait(ticks)) => self.inner.shared.wait(ticks).await,
                Err(Refusal::Never) => return Err(self.inner.shared.refuse(Refusal::Never)),
            }
        }
    }

    /// Takes `n` tokens from `key`'s bucket at `now`: from the stored bucket under the
    /// shard's read lock when the key is live, else from a new, full one (its TAT is
    /// `now`) under the write lock.
    #[inline]
    fn take(&self, key: &K, n: u32, now: u64) -> Result<(), Refusal> {
        let inner = &*self.inner;
        inner.map.get_or_insert(
            key,
            now,
            |_| Bucket(AtomicU64::new(now)),
            |b| inner.shared.take(&b.0, n, now),
        )
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
    /// The [`ConfigError`] of [`RateLimitConfig::validate`], or one for `rate_limit.burst`
    /// when a full bucket is longer than the limiter's clock can count; the quota is then
    /// unchanged.
    pub fn set_quota(&self, config: RateLimitConfig) -> Result<(), ConfigError> {
        let (map, shared) = (&self.inner.map, &self.inner.shared);
        let now = shared.clock.now();
        shared.set_quota(config, |rescale| map.for_each(now, |_, b| rescale(&b.0)))
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
    pub fn key_snapshot(&self, key: &K) -> Option<RateLimitSnapshot> {
        let shared = &self.inner.shared;
        let tat = self
            .inner
            .map
            .peek(key, shared.clock.now(), |b| b.0.load(Relaxed))?;
        Some(RateLimitSnapshot::new(
            shared.config(),
            shared.bucket(tat),
            shared.rejected.load(Relaxed),
        ))
    }

    /// Keys stored now (at most `max_keys`), including idle ones not yet swept.
    pub fn len(&self) -> usize {
        self.inner.map.len()
    }

    /// Whether no key is stored.
    pub fn is_empty(&self) -> bool {
        self.inner.map.len() == 0
    }

    /// How many keys were evicted (for the cap, or idle too long) since creation.
    pub fn evicted(&self) -> u64 {
        self.inner.map.evicted()
    }

    /// Removes every key idle longer than `idle_timeout` (whose bucket has been full
    /// that long); returns how many. For a periodic task, so that memory also falls
    /// when no calls arrive.
    pub fn evict_idle(&self) -> usize {
        let now = self.inner.shared.clock.now();
        self.inner.map.evict_idle(now)
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
            .field("keys", &self.inner.map.len())
            .field("evicted", &self.inner.map.evicted())
            .finish_non_exhaustive()
    }
}
