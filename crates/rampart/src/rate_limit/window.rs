//! The sliding-window counter: at most `limit` calls per `window`, where the count is
//! the current fixed window's calls plus the previous window's, weighted by how much of
//! the previous window the sliding window still covers.
//!
//! Windows are aligned on the clock's origin. At `e` nanoseconds into the current
//! window, the estimate is `previous x (window - e) / window + current`; a call of
//! weight `n` passes when the estimate plus `n` is at most `limit`. The comparison is
//! exact (integer products in 128 bits), and so is the time a refused call is told to
//! wait. Two counters per limiter, under a short mutex: this variant trades the token
//! bucket's lock-free check for the familiar "N per window" semantics.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use super::config::SlidingWindowConfig;
use super::gcra::Verdict;
use crate::clock::{default_clock, duration_to_nanos, Clock};
use crate::config::ConfigError;
use crate::error::{Rejection, RejectionKind};
use crate::event::{Event, EventKind, Listener};

/// The counts of the current and previous fixed windows: the pure core.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    /// The current window's number (`now / window`).
    index: u64,
    current: u64,
    previous: u64,
}

impl Counts {
    /// Moves to the window holding `now` and returns `now`, brought up to the current
    /// window's start if the clock went back before it.
    fn roll(&mut self, now: u64, w: u64) -> u64 {
        let start = self.index.saturating_mul(w);
        if now < start {
            return start;
        }
        let index = now / w;
        if index > self.index {
            self.previous = if index == self.index + 1 {
                self.current
            } else {
                0
            };
            self.current = 0;
            self.index = index;
        }
        now
    }

    /// Counts `n` calls at `now` if they fit under `limit` per `w` nanoseconds.
    fn decide(&mut self, now: u64, n: u32, limit: u32, w: u64) -> Verdict {
        let (n, limit) = (u64::from(n), u64::from(limit));
        if n > limit {
            return Verdict::Never;
        }
        let at = self.roll(now, w);
        let e = at - self.index * w;
        let (w128, prev) = (u128::from(w), u128::from(self.previous));
        let weighted = prev * u128::from(w - e) + u128::from(self.current + n) * w128;
        if weighted <= u128::from(limit) * w128 {
            self.current += n;
            return Verdict::Admit(0);
        }
        // The first offset into a window at which `count x (w - offset) <= room x w`.
        let offset = |count: u64, room: u64| -> u64 {
            if count == 0 {
                return 0;
            }
            let fits = u128::from(room) * w128 / u128::from(count);
            w - u64::try_from(fits).unwrap_or(u64::MAX).min(w)
        };
        let lag = at - now;
        let wait = if self.current + n > limit {
            // Only once this window is the previous one: its count then weighs in.
            (w - e) + offset(self.current, limit - n)
        } else {
            offset(self.previous, limit - self.current - n) - e
        };
        Verdict::Wait(wait + lag)
    }

    /// The estimated calls in the sliding window ending at `now`.
    fn estimate(mut self, now: u64, w: u64) -> f64 {
        let at = self.roll(now, w);
        let e = at - self.index * w;
        self.previous as f64 * ((w - e) as f64 / w as f64) + self.current as f64
    }
}

struct State {
    counts: Counts,
    config: SlidingWindowConfig,
    window: u64,
}

struct Inner {
    name: Arc<str>,
    state: Mutex<State>,
    rejected: std::sync::atomic::AtomicU64,
    clock: Arc<dyn Clock>,
    listener: OnceLock<Arc<dyn Listener>>,
}

/// A sliding-window counter limiter: at most `limit` calls per `window`, with the
/// previous window's calls weighted in.
///
/// Cheap to clone; clones share the counts. See the [module docs](super) for when to
/// prefer it to the token bucket.
///
/// # Examples
///
/// ```
/// use rampart::clock::ManualClock;
/// use rampart::rate_limit::{SlidingWindowConfig, SlidingWindowLimiter};
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// let clock = ManualClock::new();
/// let limiter = SlidingWindowLimiter::with_clock(
///     "search",
///     SlidingWindowConfig::per_second(10),
///     Arc::new(clock.clone()),
/// )?;
/// for _ in 0..8 {
///     limiter.check()?;
/// }
/// // A quarter into the next second, 8 x 0.75 = 6 calls of the last one still count.
/// clock.advance(Duration::from_millis(1250));
/// for _ in 0..4 {
///     limiter.check()?;
/// }
/// let refused = limiter.check().unwrap_err();
/// // One more fits once 8 x (1 - e) + 4 + 1 <= 10, at e = 0.375 s into the window.
/// assert_eq!(refused.retry_after(), Some(Duration::from_millis(125)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct SlidingWindowLimiter {
    inner: Arc<Inner>,
}

/// A sliding-window limiter's figures at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct SlidingWindowSnapshot {
    /// Calls allowed per window.
    pub limit: u32,
    /// The window's length.
    pub window: Duration,
    /// The estimated calls in the window ending now: the previous window's count
    /// weighted by its share of the sliding window, plus the current one's.
    pub estimate: f64,
    /// Calls refused since creation.
    pub rejected: u64,
}

impl SlidingWindowLimiter {
    /// A limiter named `name` with `config`, on the [default clock](crate::clock::default_clock).
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] of [`SlidingWindowConfig::validate`].
    pub fn new(name: &str, config: SlidingWindowConfig) -> Result<Self, ConfigError> {
        Self::with_clock(name, config, default_clock())
    }

    /// A limiter that takes its time from `clock`.
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] of [`SlidingWindowConfig::validate`].
    pub fn with_clock(
        name: &str,
        config: SlidingWindowConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        let window = duration_to_nanos(config.window);
        let counts = Counts {
            index: clock.now_nanos() / window,
            ..Counts::default()
        };
        Ok(SlidingWindowLimiter {
            inner: Arc::new(Inner {
                name: name.into(),
                state: Mutex::new(State {
                    counts,
                    config,
                    window,
                }),
                rejected: std::sync::atomic::AtomicU64::new(0),
                clock,
                listener: OnceLock::new(),
            }),
        })
    }

    /// Reports rejections to `listener`.
    ///
    /// Call it right after construction. On a limiter that already has clones it still
    /// takes effect for all of them, but only if no listener was set before.
    pub fn with_listener(self, listener: Arc<dyn Listener>) -> Self {
        let _ = self.inner.listener.set(listener);
        self
    }

    /// The name given at construction.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Counts one call now if it fits, or says when to come back; never waits.
    ///
    /// # Errors
    ///
    /// A [`Rejection`] of kind [`RateLimited`](crate::RejectionKind::RateLimited) by
    /// policy `"rate_limit"`, whose `retry_after` is exactly the time after which the
    /// same call would fit if no other call came.
    pub fn check(&self) -> Result<(), Rejection> {
        self.check_n(1)
    }

    /// Counts `n` calls at once if they all fit, or none.
    ///
    /// # Errors
    ///
    /// As [`check`](Self::check); when `n` is above the limit the call can never pass,
    /// and the rejection has no `retry_after`.
    pub fn check_n(&self, n: u32) -> Result<(), Rejection> {
        match self.decide(n) {
            Verdict::Admit(_) => Ok(()),
            refused => Err(self.refuse(refused)),
        }
    }

    /// Waits until one call fits, then counts it.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it completes counts nothing.
    pub async fn acquire(&self) {
        loop {
            match self.decide(1) {
                Verdict::Wait(ns) => tokio::time::sleep(Duration::from_nanos(ns)).await,
                _ => return,
            }
        }
    }

    /// Replaces the limit and window at run time. With a new window length the counts
    /// start afresh; with the same length they are kept.
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] of [`SlidingWindowConfig::validate`]; nothing changes then.
    pub fn set_config(&self, config: SlidingWindowConfig) -> Result<(), ConfigError> {
        config.validate()?;
        let now = self.inner.clock.now_nanos();
        let mut state = self.lock();
        let window = duration_to_nanos(config.window);
        if window != state.window {
            state.counts = Counts {
                index: now / window,
                ..Counts::default()
            };
            state.window = window;
        }
        state.config = config;
        Ok(())
    }

    /// The configuration in force.
    pub fn config(&self) -> SlidingWindowConfig {
        self.lock().config
    }

    /// The limiter's figures now; changes nothing.
    pub fn snapshot(&self) -> SlidingWindowSnapshot {
        let now = self.inner.clock.now_nanos();
        let state = self.lock();
        SlidingWindowSnapshot {
            limit: state.config.limit,
            window: state.config.window,
            estimate: state.counts.estimate(now, state.window),
            rejected: self
                .inner
                .rejected
                .load(std::sync::atomic::Ordering::Relaxed),
        }
    }

    fn decide(&self, n: u32) -> Verdict {
        let now = self.inner.clock.now_nanos();
        let mut state = self.lock();
        let (limit, window) = (state.config.limit, state.window);
        state.counts.decide(now, n, limit, window)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    #[cold]
    fn refuse(&self, verdict: Verdict) -> Rejection {
        let inner = &*self.inner;
        inner
            .rejected
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let retry_after = match verdict {
            Verdict::Wait(ns) => Some(Duration::from_nanos(ns)),
            _ => None,
        };
        if let Some(l) = inner.listener.get() {
            l.on_event(&Event {
                pipeline: &inner.name,
                kind: EventKind::RateLimited { retry_after },
            });
        }
        let r = Rejection::new(
            Arc::clone(&inner.name),
            "rate_limit",
            RejectionKind::RateLimited,
        );
        match retry_after {
            Some(d) => r.with_retry_after(d),
            None => r,
        }
    }
}

impl fmt::Debug for SlidingWindowLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlidingWindowLimiter")
            .field("name", &self.inner.name)
            .field("config", &self.config())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;
    const MS: u64 = 1_000_000;

    fn admitted(c: &mut Counts, now: u64, n: u32) -> bool {
        matches!(c.decide(now, n, 10, S), Verdict::Admit(_))
    }

    #[test]
    fn the_previous_window_is_weighted_by_its_remaining_share() {
        let mut c = Counts::default();
        for _ in 0..8 {
            assert!(admitted(&mut c, 100 * MS, 1));
        }
        // 250 ms into the next window: 8 x 0.75 = 6 still count, so 4 more fit.
        for _ in 0..4 {
            assert!(admitted(&mut c, 1250 * MS, 1));
        }
        assert_eq!(c.estimate(1250 * MS, S), 10.0);
        // 8 x (1 s - e) + 5 s <= 10 s from e = 375 ms on.
        assert_eq!(c.decide(1250 * MS, 1, 10, S), Verdict::Wait(125 * MS));
        assert_eq!(c.decide(1375 * MS - 1, 1, 10, S), Verdict::Wait(1));
        assert!(admitted(&mut c, 1375 * MS, 1));
        assert_eq!(c.current, 5);
    }

    #[test]
    fn a_full_current_window_waits_for_the_next_one() {
        let mut c = Counts::default();
        assert!(admitted(&mut c, 0, 10));
        // Next window starts in 1 s; then 10 x (1 s - e) + 1 s <= 10 s from e = 100 ms.
        assert_eq!(c.decide(0, 1, 10, S), Verdict::Wait(1100 * MS));
        assert!(!admitted(&mut c, 1100 * MS - 1, 1));
        assert!(admitted(&mut c, 1100 * MS, 1));
        // A window skipped entirely forgets everything.
        assert!(admitted(&mut c, 3 * S, 10));
        assert_eq!(c.decide(3 * S, 11, 10, S), Verdict::Never);
    }

    #[test]
    fn a_clock_going_back_counts_at_the_current_window_start() {
        let mut c = Counts::default();
        assert!(admitted(&mut c, 5 * S + 500 * MS, 10));
        // 1 s before the window began: it waits those 1 s and then as at the start.
        assert_eq!(c.decide(4 * S, 1, 10, S), Verdict::Wait(S + S + 100 * MS));
        assert_eq!(c.index, 5);
    }
}
