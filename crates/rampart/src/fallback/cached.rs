//! Keeps the last good value of a chain and serves it as a fallback while it is fresh enough.
//!
//! A [`CachedFallback`] is fed every fresh success of a chain that holds it and answers
//! with that value and its age until it is older than its staleness limit; a
//! [`CacheConfig`] is its configuration as read from a file.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::{default_clock, duration_to_nanos, Clock};
use crate::config::ConfigError;

/// The label a [`CachedFallback`] reports unless given another.
const CACHE_LABEL: &str = "cache";

/// A cache slot as the chain sees it, whatever `T`'s bounds.
pub(super) trait Slot<T>: Send + Sync {
    /// Stores a clone of `value` as the last good value, stamped now.
    fn record(&self, value: &T);
    /// The last good value and its age, if not older than the limit.
    fn serve(&self) -> Option<(T, Duration)>;
}

/// True when `a` and `b` are the same cache.
pub(super) fn same_slot<T>(a: &Arc<dyn Slot<T>>, b: &Arc<dyn Slot<T>>) -> bool {
    std::ptr::addr_eq(Arc::as_ptr(a), Arc::as_ptr(b))
}

/// The shared state of a [`CachedFallback`].
pub(super) struct CacheState<T> {
    max_staleness: Duration,
    max_staleness_nanos: u64,
    clock: Arc<dyn Clock>,
    /// The last good value and when it was stored (clock nanoseconds).
    last: Mutex<Option<(T, u64)>>,
}

impl<T> CacheState<T> {
    fn lock(&self) -> MutexGuard<'_, Option<(T, u64)>> {
        // A panic while the lock was held (a panicking `Clone`) leaves a whole value or
        // none; keep serving rather than propagate the poison.
        self.last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn age_of(&self, stored_at: u64) -> Duration {
        Duration::from_nanos(self.clock.now_nanos().saturating_sub(stored_at))
    }
}

impl<T: Clone + Send> Slot<T> for CacheState<T> {
    fn record(&self, value: &T) {
        let value = value.clone();
        let now = self.clock.now_nanos();
        *self.lock() = Some((value, now));
    }

    fn serve(&self) -> Option<(T, Duration)> {
        let now = self.clock.now_nanos();
        let last = self.lock();
        let (value, stored_at) = last.as_ref()?;
        let age = now.saturating_sub(*stored_at);
        (age <= self.max_staleness_nanos).then(|| (value.clone(), Duration::from_nanos(age)))
    }
}

/// A fallback that serves the last good value while it is no older than a limit.
///
/// A [`FallbackChain`](super::FallbackChain) that holds it (see
/// [`FallbackChain::cached`](super::FallbackChain::cached)) stores every fresh
/// success in it, stamped with the time from its [`Clock`] (the [default clock](crate::clock::default_clock)
/// unless given another). When the primary fails it serves that value with its age in
/// [`Degradation::age`](super::Degradation::age), unless the value is older than
/// `max_staleness`: then it declines and the next fallback is tried. Clones share the
/// same value.
///
/// # Examples
///
/// ```
/// use rampart::clock::ManualClock;
/// use rampart::fallback::CachedFallback;
/// use std::time::Duration;
///
/// let clock = ManualClock::new();
/// let prices = CachedFallback::with_clock(Duration::from_secs(60), clock.clone())?.with_label("last price");
/// prices.store(99);
/// clock.advance(Duration::from_secs(60));
/// assert_eq!(prices.get(), Some((99, Duration::from_secs(60))));
/// clock.advance(Duration::from_nanos(1));
/// assert_eq!(prices.get(), None); // too stale to show
///
/// assert!(CachedFallback::<u32>::new(Duration::ZERO).is_err());
/// # Ok::<(), rampart::ConfigError>(())
/// ```
pub struct CachedFallback<T> {
    pub(super) label: Arc<str>,
    pub(super) inner: Arc<CacheState<T>>,
}

impl<T> CachedFallback<T> {
    /// An empty cache whose values are served up to `max_staleness` old, on the [default clock](crate::clock::default_clock).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for the field `fallback.max_staleness` if it is zero.
    pub fn new(max_staleness: Duration) -> Result<Self, ConfigError> {
        Self::with_clock(max_staleness, default_clock())
    }

    /// An empty cache like [`new`](Self::new) that takes its time from `clock`.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for the field `fallback.max_staleness` if it is zero.
    pub fn with_clock(
        max_staleness: Duration,
        clock: impl Clock + 'static,
    ) -> Result<Self, ConfigError> {
        if max_staleness.is_zero() {
            return Err(ConfigError::new(
                "fallback.max_staleness",
                "must be greater than zero",
            ));
        }
        Ok(CachedFallback {
            label: Arc::from(CACHE_LABEL),
            inner: Arc::new(CacheState {
                max_staleness,
                max_staleness_nanos: duration_to_nanos(max_staleness),
                clock: Arc::new(clock),
                last: Mutex::new(None),
            }),
        })
    }

    /// Sets the label reported when this handle's fallback answers (default "cache").
    ///
    /// The label belongs to the handle: clones made before share the stored value but
    /// keep their own label.
    pub fn with_label(mut self, label: impl Into<Arc<str>>) -> Self {
        self.label = label.into();
        self
    }

    /// The label reported when the cache answers.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The oldest a value may be and still be served.
    pub fn max_staleness(&self) -> Duration {
        self.inner.max_staleness
    }

    /// How old the stored value is, stale or not; `None` when empty.
    pub fn age(&self) -> Option<Duration> {
        let stored_at = self.inner.lock().as_ref().map(|(_, at)| *at)?;
        Some(self.inner.age_of(stored_at))
    }

    /// Forgets the stored value.
    pub fn clear(&self) {
        *self.inner.lock() = None;
    }
}

impl<T: Clone + Send> CachedFallback<T> {
    /// Stores `value` as the last good value, stamped now (e.g. to warm the cache).
    pub fn store(&self, value: T) {
        let now = self.inner.clock.now_nanos();
        *self.inner.lock() = Some((value, now));
    }

    /// The stored value and its age, if there is one no older than the limit.
    pub fn get(&self) -> Option<(T, Duration)> {
        self.inner.serve()
    }
}

impl<T> Clone for CachedFallback<T> {
    fn clone(&self) -> Self {
        CachedFallback {
            label: Arc::clone(&self.label),
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T> fmt::Debug for CachedFallback<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedFallback")
            .field("label", &self.label)
            .field("max_staleness", &self.inner.max_staleness)
            .field("age", &self.age())
            .finish()
    }
}

/// The configuration of a [`CachedFallback`], as read from a file.
///
/// # Defaults
///
/// | field | default |
/// |---|---|
/// | `max_staleness` | none: required |
///
/// # Examples
///
/// ```
/// use rampart::fallback::CacheConfig;
/// use std::time::Duration;
///
/// let config = CacheConfig::new(Duration::from_secs(300));
/// let cache = config.build::<Vec<String>>()?;
/// assert_eq!(cache.max_staleness(), Duration::from_secs(300));
/// # Ok::<(), rampart::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CacheConfig {
    /// The oldest a cached value may be and still be served ("5m", "30s").
    #[serde(with = "humantime_serde")]
    pub max_staleness: Duration,
}

impl CacheConfig {
    /// A configuration serving values up to `max_staleness` old.
    pub const fn new(max_staleness: Duration) -> Self {
        CacheConfig { max_staleness }
    }

    /// Checks the configuration.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for `fallback.max_staleness` if it is zero.
    pub fn validate(&self) -> Result<(), ConfigError> {
        crate::config::positive("fallback.max_staleness", self.max_staleness)
    }

    /// An empty cache with this configuration, on the [default clock](crate::clock::default_clock).
    ///
    /// # Errors
    ///
    /// As [`validate`](Self::validate).
    pub fn build<T>(&self) -> Result<CachedFallback<T>, ConfigError> {
        CachedFallback::new(self.max_staleness)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn cache_age_never_panics_when_time_goes_back() {
        #[derive(Debug)]
        struct Backwards(AtomicUsize);
        impl Clock for Backwards {
            fn now_nanos(&self) -> u64 {
                // 100, then 0, then 0, ...
                if self.0.fetch_add(1, Ordering::Relaxed) == 0 {
                    100
                } else {
                    0
                }
            }
            fn sleep_blocking(&self, _: Duration) {}
        }
        let cache =
            CachedFallback::with_clock(Duration::from_nanos(1), Backwards(AtomicUsize::new(0)))
                .unwrap();
        cache.store(5u8);
        assert_eq!(cache.get(), Some((5, Duration::ZERO)));
    }

    #[test]
    fn huge_staleness_does_not_overflow() {
        let clock = ManualClock::new();
        let cache = CachedFallback::with_clock(Duration::MAX, clock.clone()).unwrap();
        cache.store(1u8);
        clock.advance(Duration::MAX);
        assert_eq!(cache.get().map(|(v, _)| v), Some(1));
    }

    #[test]
    fn with_label_keeps_value_and_config() {
        let clock = ManualClock::new();
        let cache = CachedFallback::with_clock(Duration::from_secs(1), clock).unwrap();
        cache.store(3u8);
        let cache = cache.with_label("prices");
        assert_eq!(cache.label(), "prices");
        assert_eq!(cache.get(), Some((3, Duration::ZERO)));
        cache.clear();
        assert_eq!(cache.age(), None);
    }
}
