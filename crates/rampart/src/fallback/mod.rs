//! Fallbacks answer for a failed call with other data, and the answer says it is degraded.
//!
//! Use a [`FallbackChain`] when a degraded answer (a cached value, a static default, a
//! simpler source) is better than an error: the primary runs first, then each
//! [`Fallback`] whose trigger matches the error is tried in turn, and the first success
//! wins. If every fallback fails, the primary's own error is returned.
//!
//! The result is a [`Degraded<T>`], never a bare `T`: it carries a [`Degradation`]
//! (which fallback answered, why the primary did not, and for cached data how old it is)
//! whenever a fallback answered, so stale data cannot pass for fresh. A
//! [`CachedFallback`] remembers the last good value and refuses to serve it once it is
//! older than its staleness limit.
//!
//! In a pipeline the fallback sits outside every other policy, so it sees the final
//! outcome: the operation's error after the last retry, or the rejection of a breaker,
//! bulkhead or timeout. The success path allocates nothing unless a cache is registered
//! (then it clones the value into the cache); only the fallback path boxes futures.
//!
//! # Examples
//!
//! ```
//! use rampart::fallback::{CachedFallback, Fallback, FallbackChain};
//! use rampart::{Error, RejectionKind};
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), rampart::ConfigError> {
//! let cache = CachedFallback::new(Duration::from_secs(300))?;
//! let recommendations: FallbackChain<Vec<&str>, &str> = FallbackChain::new()
//!     .cached(cache)
//!     .fallback(Fallback::value("popular", vec!["socks"]).on_rejection(&[RejectionKind::CircuitOpen]));
//!
//! // A fresh answer feeds the cache and is not degraded.
//! let fresh = recommendations.call("recs", async { Ok(vec!["boots"]) }).await;
//! assert!(!fresh.unwrap().is_degraded());
//!
//! // The primary fails: the cache answers, and says so.
//! let recs = recommendations.call("recs", async { Err(Error::Operation("ml down")) }).await.unwrap();
//! assert!(recs.is_degraded());
//! assert_eq!(recs.value(), &vec!["boots"]);
//! assert_eq!(recs.degradation().map(|d| d.fallback()), Some("cache"));
//! # Ok(())
//! # }
//! ```

mod cached;
mod chain;
mod degraded;
mod single;

pub use self::cached::{CacheConfig, CachedFallback};
pub use self::chain::FallbackChain;
pub use self::degraded::{Degradation, Degraded, DegradedReason};
pub use self::single::Fallback;

/// Builds a [`FallbackChain`] from fallbacks (anything that converts into a [`Fallback`]).
///
/// # Examples
///
/// ```
/// use rampart::fallback::{Fallback, FallbackChain};
///
/// let chain: FallbackChain<u32, ()> = rampart::fallbacks![Fallback::value("zero", 0), Fallback::value("one", 1)];
/// assert_eq!(chain.labels().collect::<Vec<_>>(), ["zero", "one"]);
/// ```
#[macro_export]
macro_rules! fallbacks {
    ($($fallback:expr),* $(,)?) => {
        $crate::fallback::FallbackChain::new()$(.fallback($fallback))*
    };
}
