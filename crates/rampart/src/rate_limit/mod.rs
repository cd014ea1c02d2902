//! Rate limiters cap how often a caller may go: a token bucket with exact GCRA
//! arithmetic ([`RateLimiter`]), the same per key with bounded memory
//! ([`KeyedRateLimiter`]), and a sliding-window counter ([`SlidingWindowLimiter`]).
//!
//! # When to use which
//!
//! - **[`RateLimiter`]**, the token bucket: `burst` calls at once after an idle spell,
//!   then `rate` per `period` on average. Use it to protect a dependency's quota (an
//!   API that allows 100 calls a second) or your own service. Lock-free: a check is one
//!   clock read and one CAS.
//! - **[`KeyedRateLimiter`]**: one bucket per tenant, API key or client, as in the
//!   seeds' "tenant-a: 1000 requests/minute", with a cap on live keys and idle keys
//!   evicted, so memory stays bounded however many keys come and go.
//! - **[`SlidingWindowLimiter`]**: "at most N calls in any window of length W",
//!   estimated from two fixed windows (the previous one weighted by how much of it the
//!   sliding window still covers), for limits stated that way.
//!
//! # Exactness
//!
//! The token bucket keeps one number, its theoretical arrival time (TAT), in integer
//! ticks of its clock: nanoseconds on every clock but the default time-stamp counter,
//! whose raw ticks it keeps so that a check never scales a reading. After any idle
//! time it admits exactly `burst` calls at one instant, never one more; a refused
//! call's [`retry_after`](crate::Rejection::retry_after) is exactly the time after
//! which it would pass (on the counter, rounded up to the next whole nanosecond), and
//! it is refused at every instant before that. A clock that goes backwards never panics
//! and only ever refuses more: from one admitted call to a later one, the calls
//! admitted number at most `burst` plus the clock's advance between the two (if any)
//! divided by the emission interval (`period / rate`, rounded down to whole
//! nanoseconds, then on the counter up to a whole tick, a fraction of a nanosecond, so
//! the rate never goes above the quota).
//!
//! # Time and cost
//!
//! The limiters take their time from a [`Clock`](crate::clock::Clock):
//! the [default clock](crate::clock::default_clock) reads the CPU's time-stamp counter,
//! as governor does, for about half the cost of `Instant::now()` (which would be more
//! than the rest of a check). A limiter made under `#[tokio::test(start_paused = true)]`
//! takes tokio's clock instead, so paused time drives both the limiter and
//! [`acquire`](RateLimiter::acquire)'s sleeps. A successful check allocates nothing.
//!
//! # How it composes
//!
//! A rejection is a [`Rejection`](crate::Rejection) of kind
//! [`RateLimited`](crate::RejectionKind::RateLimited) by policy `"rate_limit"`, which
//! a retry can honour through its `retry_after` and a server can turn into
//! `429 Too Many Requests` with a `Retry-After` header. Put a limiter outermost in a
//! pipeline, so that refused calls cost nothing further. Rejections are reported to a
//! listener as [`EventKind::RateLimited`](crate::event::EventKind::RateLimited).
//!
//! # Defaults
//!
//! | setting | default |
//! |---|---|
//! | [`RateLimitConfig::period`] | 1 s |
//! | [`RateLimitConfig::burst`] | the rate (a full period's worth) |
//! | [`SlidingWindowConfig::window`] | 1 s |
//! | keyed limits | those of [`KeyedConfig`](crate::keyed::KeyedConfig): 10,000 keys, 10 min idle |
//! | clock | [`default_clock`](crate::clock::default_clock): the time-stamp counter, or tokio's clock where time is paused |
//!
//! # Examples
//!
//! ```
//! use rampart::clock::ManualClock;
//! use rampart::rate_limit::{RateLimitConfig, RateLimiter};
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! let clock = ManualClock::new();
//! let limiter = RateLimiter::with_clock(
//!     "payment-api",
//!     RateLimitConfig::per_second(100).with_burst(20),
//!     Arc::new(clock.clone()),
//! )?;
//!
//! // After an idle spell: exactly the burst, then one every 10 ms.
//! for _ in 0..20 {
//!     limiter.check()?;
//! }
//! let refused = limiter.check().unwrap_err();
//! assert_eq!(refused.retry_after(), Some(Duration::from_millis(10)));
//!
//! clock.advance(Duration::from_millis(10));
//! assert!(limiter.check().is_ok());
//! assert_eq!(limiter.snapshot().rejected, 1);
//!
//! // The quota can change at run time.
//! limiter.set_quota(RateLimitConfig::per_second(1000).with_burst(20))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Waiting for a token instead of being refused:
//!
//! ```
//! use rampart::rate_limit::{RateLimitConfig, RateLimiter};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), rampart::ConfigError> {
//! let limiter = RateLimiter::new("email", RateLimitConfig::per_second(1000))?;
//! limiter.acquire().await;
//! # Ok(())
//! # }
//! ```

mod config;
mod gcra;
pub mod keyed;
mod limiter;
mod quota;
mod shared;
mod window;

#[cfg(all(test, rampart_loom))]
mod loom_tests;
#[cfg(test)]
mod tick_tests;

pub use config::{RateLimitConfig, SlidingWindowConfig};
pub use keyed::{KeyedRateLimitSnapshot, KeyedRateLimiter};
pub use limiter::{RateLimitSnapshot, RateLimiter};
pub use window::{SlidingWindowLimiter, SlidingWindowSnapshot};
