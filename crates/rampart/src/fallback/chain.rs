//! Runs a primary and then its fallbacks in order, returning the first success marked as degraded.
//!
//! A [`FallbackChain`] holds the fallbacks and the caches that its fresh successes feed;
//! it is built once and shared by every call.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use super::cached::{same_slot, CachedFallback, Slot};
use super::degraded::{Degradation, Degraded, DegradedReason};
use super::single::{Fallback, Source};
use crate::error::Error;
use crate::event::{EventKind, Events};

/// The fallbacks of a chain and the caches its successes feed.
struct Chain<T, E> {
    fallbacks: Vec<Fallback<T, E>>,
    caches: Vec<Arc<dyn Slot<T>>>,
}

impl<T, E> Clone for Chain<T, E> {
    fn clone(&self) -> Self {
        Chain {
            fallbacks: self.fallbacks.clone(),
            caches: self.caches.clone(),
        }
    }
}

/// A primary followed by fallbacks tried in order; the first success wins.
///
/// Built once and shared: clones are cheap (an `Arc` inside) and see the same fallbacks
/// and caches. A fallback is tried only when its trigger matches the primary's error;
/// a fallback that fails (an `Err` from its handler, a cache that is empty or too stale)
/// passes to the next. When none answers, [`call`](Self::call) returns the primary's
/// own error, not a fallback's.
///
/// # Examples
///
/// ```
/// use rampart::fallback::{Fallback, FallbackChain};
/// use rampart::{Error, Rejection, RejectionKind};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let chain: FallbackChain<&str, &str> = FallbackChain::new()
///     .fallback(Fallback::value("queued", "payment pending").on_rejection(&[RejectionKind::CircuitOpen]))
///     .with("backup", || async { Err("backup down") });
///
/// let open = Rejection::new("payment".into(), "circuit_breaker", RejectionKind::CircuitOpen);
/// let answer = chain.call("payment", async { Err(Error::Rejected(open)) }).await.unwrap();
/// assert_eq!(answer.value(), &"payment pending");
/// assert_eq!(answer.degradation().unwrap().to_string(), "served by queued because circuit open");
///
/// // No fallback answers an operation error here: the primary's error comes back.
/// let failed = chain.call("payment", async { Err(Error::Operation("declined")) }).await;
/// assert_eq!(failed, Err(Error::Operation("declined")));
/// # }
/// ```
pub struct FallbackChain<T, E> {
    inner: Arc<Chain<T, E>>,
}

impl<T, E> FallbackChain<T, E> {
    /// A chain with no fallbacks: every call returns the primary's outcome.
    pub fn new() -> Self {
        FallbackChain {
            inner: Arc::new(Chain {
                fallbacks: Vec::new(),
                caches: Vec::new(),
            }),
        }
    }

    /// Appends `fallback` (or a [`CachedFallback`]) after the ones already in the chain.
    ///
    /// A cached fallback is also fed every fresh success of the chain.
    pub fn fallback(mut self, fallback: impl Into<Fallback<T, E>>) -> Self {
        let fallback = fallback.into();
        let chain = Arc::make_mut(&mut self.inner);
        if let Source::Cache(slot) = &fallback.source {
            let known = chain.caches.iter().any(|c| same_slot(c, slot));
            if !known {
                chain.caches.push(Arc::clone(slot));
            }
        }
        chain.fallbacks.push(fallback);
        self
    }

    /// Appends a fallback labelled `label`, for any error, that runs `handler`.
    pub fn with<F, Fut>(self, label: impl Into<Arc<str>>, handler: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        self.fallback(Fallback::with(label, handler))
    }

    /// Appends a fallback labelled `label`, for any error, that runs `handler` with it.
    pub fn handle<F, Fut>(self, label: impl Into<Arc<str>>, handler: F) -> Self
    where
        F: Fn(&Error<E>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        self.fallback(Fallback::handle(label, handler))
    }

    /// Appends a fallback labelled `label`, for any error, that answers a clone of `value`.
    pub fn value(self, label: impl Into<Arc<str>>, value: T) -> Self
    where
        T: Clone + Send + Sync + 'static,
    {
        self.fallback(Fallback::value(label, value))
    }

    /// Appends `cache` as a fallback for any error and feeds it every fresh success.
    pub fn cached(self, cache: CachedFallback<T>) -> Self
    where
        T: Clone + Send + 'static,
    {
        self.fallback(Fallback::cached(cache))
    }

    /// The number of fallbacks after the primary.
    pub fn len(&self) -> usize {
        self.inner.fallbacks.len()
    }

    /// True when the chain has no fallbacks.
    pub fn is_empty(&self) -> bool {
        self.inner.fallbacks.is_empty()
    }

    /// The fallbacks' labels, in the order they are tried.
    pub fn labels(&self) -> impl Iterator<Item = &str> + '_ {
        self.inner.fallbacks.iter().map(Fallback::label)
    }

    /// Runs `primary`, then the fallbacks in turn if it fails; `name` is the pipeline's name.
    ///
    /// A fresh success is returned as [`Degraded::fresh`] (and fed to the registered
    /// caches); a fallback's success is returned degraded, with the fallback's label,
    /// the reason and, for a cache, the data's age.
    ///
    /// # Errors
    ///
    /// The primary's error when no fallback applies or every applicable one fails.
    ///
    /// # Cancel safety
    ///
    /// Dropping the returned future drops the primary or the running fallback; nothing
    /// is recorded in a cache unless the primary had already succeeded.
    pub async fn call<F>(&self, name: &str, primary: F) -> Result<Degraded<T>, Error<E>>
    where
        F: Future<Output = Result<T, Error<E>>>,
    {
        self.run(&Events::default(), name, primary).await
    }

    /// [`call`](Self::call), reporting [`EventKind::FallbackUsed`] to `events`.
    pub(crate) async fn run<F>(
        &self,
        events: &Events,
        name: &str,
        primary: F,
    ) -> Result<Degraded<T>, Error<E>>
    where
        F: Future<Output = Result<T, Error<E>>>,
    {
        match primary.await {
            Ok(value) => Ok(self.fresh(value)),
            Err(error) => self.rescue(events, name, error).await,
        }
    }

    /// A fresh success of the primary, fed to the registered caches.
    #[inline]
    pub(crate) fn fresh(&self, value: T) -> Degraded<T> {
        for cache in &self.inner.caches {
            cache.record(&value);
        }
        Degraded::fresh(value)
    }

    /// The fallbacks in turn for a primary that failed with `error`.
    pub(crate) async fn rescue(
        &self,
        events: &Events,
        name: &str,
        error: Error<E>,
    ) -> Result<Degraded<T>, Error<E>> {
        let reason = DegradedReason::of(&error);
        for fallback in &self.inner.fallbacks {
            if !fallback.applies_to(&error) {
                continue;
            }
            let served = match &fallback.source {
                Source::Handler(handler) => handler(&error).await.ok().map(|v| (v, None)),
                Source::Value(value) => Some((value(), None)),
                Source::Cache(cache) => cache.serve().map(|(v, age)| (v, Some(age))),
            };
            if let Some((value, age)) = served {
                events.emit(name, || EventKind::FallbackUsed {
                    fallback_type: &fallback.label,
                    reason: &reason,
                    age,
                });
                let degradation = Degradation {
                    fallback: Arc::clone(&fallback.label),
                    reason,
                    age,
                };
                return Ok(Degraded::from_fallback(value, degradation));
            }
        }
        Err(error)
    }
}

impl<T, E> Clone for FallbackChain<T, E> {
    fn clone(&self) -> Self {
        FallbackChain {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T, E> Default for FallbackChain<T, E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, E> fmt::Debug for FallbackChain<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FallbackChain")
            .field("fallbacks", &self.inner.fallbacks)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Event, Listener};
    use crate::{Rejection, RejectionKind};
    use std::sync::Mutex;
    use std::time::Duration;

    fn rejected(kind: RejectionKind) -> Error<&'static str> {
        Error::Rejected(Rejection::new("p".into(), "test", kind))
    }

    #[test]
    fn the_same_cache_is_fed_once() {
        let cache = CachedFallback::<u8>::new(Duration::from_secs(1)).unwrap();
        let chain: FallbackChain<u8, ()> = FallbackChain::new().cached(cache.clone()).cached(cache);
        assert_eq!(chain.len(), 2);
        assert_eq!(chain.inner.caches.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn reports_fallback_used() {
        let seen = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = Arc::clone(&seen);
        let listener = move |e: &Event<'_>| {
            if let Ok(mut s) = sink.lock() {
                s.push(format!("{}: {:?}", e.pipeline, e.kind));
            }
        };
        let events = Events::new(Some(Arc::new(listener) as Arc<dyn Listener>));
        let chain: FallbackChain<u8, &str> = FallbackChain::new().value("static", 9);

        let ok = chain.run(&events, "recs", async { Ok(1) }).await;
        assert_eq!(ok.map(Degraded::into_inner), Ok(1));
        assert!(seen.lock().map(|s| s.is_empty()).unwrap_or(false));

        let circuit = async { Err(rejected(RejectionKind::CircuitOpen)) };
        let degraded = chain.run(&events, "recs", circuit).await;
        assert_eq!(degraded.map(Degraded::into_inner), Ok(9));
        let lines = seen.lock().map(|s| s.clone()).unwrap_or_default();
        assert_eq!(lines.len(), 1);
        assert!(lines[0].starts_with("recs: FallbackUsed"), "{lines:?}");
        assert!(lines[0].contains("\"static\""), "{lines:?}");
        assert!(lines[0].contains("CircuitOpen"), "{lines:?}");
    }

    fn assert_send_sync<X: Send + Sync>(_: &X) {}

    #[test]
    fn chain_and_call_are_send() {
        let chain: FallbackChain<String, std::io::Error> = FallbackChain::new();
        assert_send_sync(&chain);
        let fut = chain.call("x", async { Ok(String::new()) });
        fn assert_send<X: Send>(_: &X) {}
        assert_send(&fut);
    }
}
