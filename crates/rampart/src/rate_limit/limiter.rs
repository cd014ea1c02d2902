//! The direct limiter: one token bucket, its TAT in one atomic on a cache line of its
//! own, taken by CAS.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::config::RateLimitConfig;
use super::shared::{Bucket, Refusal, Shared};
use crate::clock::{default_clock, Clock, TickClock};
use crate::config::ConfigError;
use crate::error::Rejection;
use crate::event::Listener;
use crate::sync::{AtomicU64, Ordering::Relaxed};

/// A value alone on its cache lines (two, as neighbouring lines are fetched in pairs),
/// so that the CAS of one limiter does not slow down reads of its quota.
#[repr(align(128))]
struct Padded<T>(T);

struct Inner {
    tat: Padded<AtomicU64>,
    shared: Shared,
}

/// A token-bucket rate limiter: `burst` calls at once, refilled at `rate` per
/// `period`, decided lock-free in integer ticks of its clock.
///
/// Cheap to clone; clones share the bucket. `Send + Sync`. See the [module
/// docs](super) for the rules and an example.
#[derive(Clone)]
pub struct RateLimiter {
    inner: Arc<Inner>,
}

/// A limiter's figures at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimitSnapshot {
    /// Calls allowed per `period`.
    pub rate: u32,
    /// The period `rate` is counted over.
    pub period: Duration,
    /// The most calls admitted at one instant.
    pub burst: u32,
    /// Whole tokens in the bucket now (calls that would pass at once); a figure that
    /// concurrent calls may change right after it is read.
    pub available: u32,
    /// Time until the bucket is full again if no call takes a token meanwhile (zero
    /// when it is full): the exact "reset" of rate-limit headers.
    pub full_in: Duration,
    /// Calls refused by [`check`](RateLimiter::check) (and its weighted form) since the
    /// limiter was made.
    pub rejected: u64,
}

impl RateLimitSnapshot {
    pub(super) fn new(config: RateLimitConfig, bucket: Bucket, rejected: u64) -> Self {
        RateLimitSnapshot {
            rate: config.rate,
            period: config.period,
            burst: config.effective_burst(),
            available: bucket.available,
            full_in: bucket.full_in,
            rejected,
        }
    }
}

impl RateLimiter {
    /// A limiter named `name` (the pipeline's name, used in rejections and events) with
    /// `config`, on the [default clock](crate::clock::default_clock).
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] of [`RateLimitConfig::validate`], or one for `rate_limit.burst`
    /// when a full bucket is longer than the limiter's clock can count.
    pub fn new(name: &str, config: RateLimitConfig) -> Result<Self, ConfigError> {
        Self::with_clock(name, config, default_clock())
    }

    /// A limiter that takes its time from `clock` (a
    /// [`ManualClock`](crate::clock::ManualClock) in tests, or a cheaper clock than
    /// tokio's where a check's cost matters).
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] of [`RateLimitConfig::validate`], or one for `rate_limit.burst`
    /// when a full bucket is longer than the limiter's clock can count.
    pub fn with_clock(
        name: &str,
        config: RateLimitConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        Self::on_ticks(name, config, TickClock::new(clock))
    }

    /// A limiter whose buckets keep time in `clock`'s ticks.
    pub(super) fn on_ticks(
        name: &str,
        config: RateLimitConfig,
        clock: TickClock,
    ) -> Result<Self, ConfigError> {
        Ok(RateLimiter {
            inner: Arc::new(Inner {
                tat: Padded(AtomicU64::new(0)),
                shared: Shared::new(name, config, clock)?,
            }),
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

    /// Takes one token now, or says when to come back; never waits.
    ///
    /// One clock read and, when admitted, one CAS (repeated only when another caller
    /// changed the bucket in between). Allocates nothing when admitted.
    ///
    /// # Errors
    ///
    /// A [`Rejection`] of kind [`RateLimited`](crate::RejectionKind::RateLimited) by
    /// policy `"rate_limit"`, whose [`retry_after`](Rejection::retry_after) is exactly
    /// the time after which the same call would pass if nothing else took tokens.
    #[inline]
    pub fn check(&self) -> Result<(), Rejection> {
        self.check_n(1)
    }

    /// Same as [`check`](Self::check), named like a semaphore's method.
    ///
    /// # Errors
    ///
    /// As [`check`](Self::check).
    #[inline]
    pub fn try_acquire(&self) -> Result<(), Rejection> {
        self.check_n(1)
    }

    /// Takes `n` tokens at once (a call that weighs `n`), or none.
    ///
    /// # Errors
    ///
    /// As [`check`](Self::check); when `n` is above the burst the call can never pass,
    /// and the rejection has no `retry_after`.
    #[inline]
    pub fn check_n(&self, n: u32) -> Result<(), Rejection> {
        let inner = &*self.inner;
        let now = inner.shared.clock.now();
        match inner.shared.take(&inner.tat.0, n, now) {
            Ok(()) => Ok(()),
            Err(refusal) => Err(inner.shared.refuse(refusal)),
        }
    }

    /// Waits until one token can be taken, then takes it.
    ///
    /// Sleeps on tokio's timer for the time the bucket says, then tries again (another
    /// caller may have taken the token meanwhile). Waiters are not served in order.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it completes takes no token.
    pub async fn acquire(&self) {
        // One token never exceeds the burst, which is at least 1.
        let _ = self.acquire_n(1).await;
    }

    /// Waits until `n` tokens can be taken at once, then takes them.
    ///
    /// # Errors
    ///
    /// At once, a [`Rejection`] without `retry_after` when `n` is above the burst.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it completes takes no token.
    pub async fn acquire_n(&self, n: u32) -> Result<(), Rejection> {
        let inner = &*self.inner;
        loop {
            let now = inner.shared.clock.now();
            match inner.shared.take(&inner.tat.0, n, now) {
                Ok(()) => return Ok(()),
                Err(Refusal::Wait(ticks)) => inner.shared.wait(ticks).await,
                Err(Refusal::Never) => return Err(inner.shared.refuse(Refusal::Never)),
            }
        }
    }

    /// Replaces the quota at run time, for this limiter and its clones.
    ///
    /// The tokens the bucket owes are kept (at most a full bucket's worth under the
    /// new quota) and come back at the new rate: raising the rate shortens the wait
    /// that checks report at once, and a bucket that was empty stays empty. A caller
    /// already waiting in [`acquire`](Self::acquire) sleeps the time it was given,
    /// then tries again under the new quota. A call racing with the change
    /// is decided by the old quota or the new one, never a mix of the two, though it
    /// may be charged at the other one's price.
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] of [`RateLimitConfig::validate`], or one for `rate_limit.burst`
    /// when a full bucket is longer than the limiter's clock can count; the quota is then
    /// unchanged.
    pub fn set_quota(&self, config: RateLimitConfig) -> Result<(), ConfigError> {
        let tat = &self.inner.tat.0;
        self.inner.shared.set_quota(config, |rescale| rescale(tat))
    }

    /// The configuration in force.
    pub fn config(&self) -> RateLimitConfig {
        self.inner.shared.config()
    }

    /// The limiter's figures now; changes nothing.
    pub fn snapshot(&self) -> RateLimitSnapshot {
        let shared = &self.inner.shared;
        RateLimitSnapshot::new(
            shared.config(),
            shared.bucket(self.inner.tat.0.load(Relaxed)),
            shared.rejected.load(Relaxed),
        )
    }
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("name", &self.inner.shared.name)
            .field("config", &self.inner.shared.config())
            .finish_non_exhaustive()
    }
}
