//! Adaptive concurrency: a bulkhead whose size follows the latency it measures, so that
//! it admits as many calls at once as the dependency can serve without queueing, and
//! fewer when the dependency slows down.
//!
//! # When to use it
//!
//! Where a fixed bulkhead size would be a guess: a dependency whose capacity changes
//! with deployments, autoscaling or the mix of requests. An [`AdaptiveLimiter`] admits
//! calls while fewer than its limit are in flight ([`try_acquire`](AdaptiveLimiter::try_acquire),
//! lock-free) and refuses the rest with a [`Rejection`](crate::Rejection) of kind
//! [`BulkheadFull`](crate::RejectionKind::BulkheadFull) by policy
//! `"adaptive_concurrency"`. Each call reports through its permit: a
//! [success](AdaptivePermit::success) with its latency, or a
//! [drop](AdaptivePermit::dropped) (timeout, overload refusal); the algorithm moves the
//! limit, within `min_limit` and `max_limit`, and a listener hears of each move as
//! [`ConcurrencyLimitChanged`](crate::event::EventKind::ConcurrencyLimitChanged).
//!
//! # AIMD
//!
//! Additive increase, multiplicative decrease, as TCP does:
//!
//! ```text
//! on a drop, or a call slower than latency_threshold:
//!     limit = max(min_limit, limit * backoff_ratio)     once per round
//! on a call within latency_threshold, if in_flight * 2 >= limit:
//!     limit = min(max_limit, limit + increase / limit)
//! ```
//!
//! "Once per round": a call issued before the last decrease does not decrease again,
//! as it reports on the old limit. The increase adds `increase` (1) per limit's worth of
//! calls, and only while the limit is at least half used, so an idle limiter does not
//! drift to its maximum. Choose `latency_threshold` a little above the dependency's
//! latency at its best (1.1 to 1.5 times): AIMD does not learn it.
//!
//! # Gradient
//!
//! A Vegas-style algorithm in the manner of Netflix's gradient limiter and Envoy's
//! adaptive concurrency filter. It learns the no-load latency and compares each
//! window's mean latency with it:
//!
//! ```text
//! gradient = clamp(tolerance * no_load_rtt / window_rtt, 0.5, 1.0)
//! target   = limit * gradient + sqrt(limit)
//! limit    = clamp(limit + smoothing * (target - limit), min_limit, max_limit)
//! ```
//!
//! Past the dependency's capacity `C`, latency grows in proportion to the calls queued,
//! `window_rtt = no_load_rtt * limit / C`, so `limit * gradient` is `C`: the limit
//! settles at `C + sqrt(C)`, a little queueing to keep the dependency busy. Below
//! capacity the gradient is 1 and the limit grows by `smoothing * sqrt(limit)` per
//! window, but only while at least half of it is used. A window with a dropped call
//! multiplies the limit by `backoff_ratio` instead.
//!
//! A window closes at the first call completed at least `window` (100 ms) after it
//! began, once it holds `min_window_samples` calls; calls issued before it began do
//! not count. The no-load latency is the mean of `min_rtt_samples` calls issued while
//! the limit is held at `min_limit`: at the start and then every `min_rtt_every`
//! (60 s), the limit drops to `min_limit` until those calls have completed, then comes
//! back. In between, a window faster than the no-load latency lowers it. This brief
//! throttle (Envoy does the same) is what lets the limiter notice that the dependency's
//! latency at rest has changed; choose `min_limit` with it in mind.
//!
//! # Defaults
//!
//! | setting | default |
//! |---|---|
//! | algorithm | gradient |
//! | limits | initial 20, min 3, max 1000 |
//! | AIMD | threshold 1 s, backoff 0.9, increase 1 |
//! | gradient | window 100 ms and 10 calls, tolerance 1.0, smoothing 0.2, backoff 0.9, no-load measured every 60 s over 25 calls |
//!
//! # Examples
//!
//! ```
//! use rampart::adaptive::{AdaptiveConfig, AdaptiveLimiter, AimdConfig};
//! use rampart::clock::ManualClock;
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! let clock = ManualClock::new();
//! let config = AdaptiveConfig::aimd(AimdConfig::new().with_latency_threshold(Duration::from_millis(100)))
//!     .with_limits(1, 100)
//!     .with_initial_limit(10);
//! let limiter = AdaptiveLimiter::with_clock("search", config, Arc::new(clock.clone()))?;
//!
//! let permit = limiter.try_acquire()?;
//! clock.advance(Duration::from_millis(500));
//! permit.success(); // slower than the threshold: the limit backs off
//! assert_eq!(limiter.limit(), 9);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod aimd;
mod config;
mod core;
mod gradient;
mod limiter;
mod permit;

#[cfg(all(test, rampart_loom))]
mod loom_tests;

pub use self::config::{AdaptiveConfig, AimdConfig, Algorithm, GradientConfig, MAX_LIMIT};
pub use self::limiter::{AdaptiveLimiter, AdaptiveSnapshot};
pub use self::permit::AdaptivePermit;
