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

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::{duration_to_nanos, Clock, TokioClock};
use crate::config::ConfigError;
use crate::error::{Error, RejectionKind};
use crate::event::{EventKind, Events};

/// The label a [`CachedFallback`] reports unless given another.
const CACHE_LABEL: &str = "cache";

/// A value returned by a call with fallbacks, marked when a fallback produced it.
///
/// There is no `Deref` to `T`: reading the value is an explicit [`value`](Self::value)
/// or [`into_inner`](Self::into_inner), next to [`is_degraded`](Self::is_degraded).
///
/// # Examples
///
/// ```
/// use rampart::fallback::{Degradation, Degraded, DegradedReason};
/// use rampart::RejectionKind;
/// use std::time::Duration;
///
/// let fresh = Degraded::fresh(42);
/// assert!(!fresh.is_degraded());
/// assert_eq!(fresh.degradation(), None);
///
/// let stale = Degraded::from_fallback(
///     41,
///     Degradation::new("cache", DegradedReason::Rejected(RejectionKind::CircuitOpen))
///         .with_age(Duration::from_secs(7200)),
/// );
/// assert!(stale.is_degraded());
/// assert_eq!(stale.degradation().unwrap().to_string(), "served by cache because circuit open, 2h old");
/// assert_eq!(stale.map(|v| v + 1).into_inner(), 42);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a Degraded value may be stale; check is_degraded() before using it"]
pub struct Degraded<T> {
    value: T,
    degradation: Option<Degradation>,
}

impl<T> Degraded<T> {
    /// A value that the primary produced: not degraded.
    pub const fn fresh(value: T) -> Self {
        Degraded {
            value,
            degradation: None,
        }
    }

    /// A value that a fallback produced, with what is known about it.
    pub const fn from_fallback(value: T, degradation: Degradation) -> Self {
        Degraded {
            value,
            degradation: Some(degradation),
        }
    }

    /// True when a fallback produced the value instead of the primary.
    pub const fn is_degraded(&self) -> bool {
        self.degradation.is_some()
    }

    /// The value, fresh or not.
    pub const fn value(&self) -> &T {
        &self.value
    }

    /// Consumes the wrapper and returns the value, dropping the degraded marker.
    pub fn into_inner(self) -> T {
        self.value
    }

    /// Which fallback answered, why, and how old its data is; `None` when fresh.
    pub const fn degradation(&self) -> Option<&Degradation> {
        self.degradation.as_ref()
    }

    /// Splits into the value and the degraded marker.
    pub fn into_parts(self) -> (T, Option<Degradation>) {
        (self.value, self.degradation)
    }

    /// Maps the value and keeps the degraded marker.
    pub fn map<U, F>(self, f: F) -> Degraded<U>
    where
        F: FnOnce(T) -> U,
    {
        Degraded {
            value: f(self.value),
            degradation: self.degradation,
        }
    }
}

/// What a caller is told when a fallback answered: which one, why, and how old its data is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Degradation {
    fallback: Arc<str>,
    reason: DegradedReason,
    age: Option<Duration>,
}

impl Degradation {
    /// A degradation by the fallback labelled `fallback` (e.g. "cache", "static").
    pub fn new(fallback: impl Into<Arc<str>>, reason: DegradedReason) -> Self {
        Degradation {
            fallback: fallback.into(),
            reason,
            age: None,
        }
    }

    /// Sets how old the served data is.
    pub fn with_age(mut self, age: Duration) -> Self {
        self.age = Some(age);
        self
    }

    /// The label of the fallback that answered.
    pub fn fallback(&self) -> &str {
        &self.fallback
    }

    /// Why the primary did not answer.
    pub const fn reason(&self) -> DegradedReason {
        self.reason
    }

    /// How old the served data is, when the fallback knows (cached data).
    pub const fn age(&self) -> Option<Duration> {
        self.age
    }
}

impl fmt::Display for Degradation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "served by {} because {}", self.fallback, self.reason)?;
        if let Some(age) = self.age {
            write!(
                f,
                ", {} old",
                humantime_serde::re::humantime::format_duration(age)
            )?;
        }
        Ok(())
    }
}

/// Why the primary did not answer and a fallback was used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DegradedReason {
    /// A policy refused or cut short the primary (circuit open, timeout, ...).
    Rejected(RejectionKind),
    /// The operation ran and returned its own error.
    Failed,
}

impl DegradedReason {
    /// The reason matching `error`.
    pub fn of<E>(error: &Error<E>) -> Self {
        match error {
            Error::Rejected(r) => DegradedReason::Rejected(r.kind()),
            Error::Operation(_) => DegradedReason::Failed,
        }
    }
}

impl fmt::Display for DegradedReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DegradedReason::Rejected(kind) => f.write_str(kind.as_str()),
            DegradedReason::Failed => f.write_str("operation failed"),
        }
    }
}

/// A future a fallback handler returns, boxed on the fallback path only.
type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

/// An async fallback handler, type-erased.
type Handler<T, E> = Arc<dyn Fn(&Error<E>) -> BoxFuture<T, E> + Send + Sync>;

/// A predicate on the primary's error.
type Predicate<E> = Arc<dyn Fn(&Error<E>) -> bool + Send + Sync>;

/// Decides whether a fallback applies to the primary's error.
enum Trigger<E> {
    /// Any error.
    Any,
    /// Rejections of these kinds only.
    Rejections(Arc<[RejectionKind]>),
    /// The operation's own errors only.
    OperationError,
    /// Errors the predicate accepts.
    Predicate(Predicate<E>),
}

impl<E> Trigger<E> {
    fn applies(&self, error: &Error<E>) -> bool {
        match self {
            Trigger::Any => true,
            Trigger::Rejections(kinds) => {
                error.rejection().is_some_and(|r| kinds.contains(&r.kind()))
            }
            Trigger::OperationError => !error.is_rejected(),
            Trigger::Predicate(p) => p(error),
        }
    }
}

impl<E> Clone for Trigger<E> {
    fn clone(&self) -> Self {
        match self {
            Trigger::Any => Trigger::Any,
            Trigger::Rejections(k) => Trigger::Rejections(Arc::clone(k)),
            Trigger::OperationError => Trigger::OperationError,
            Trigger::Predicate(p) => Trigger::Predicate(Arc::clone(p)),
        }
    }
}

impl<E> fmt::Debug for Trigger<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trigger::Any => f.write_str("any error"),
            Trigger::Rejections(k) => f.debug_tuple("Rejections").field(k).finish(),
            Trigger::OperationError => f.write_str("operation error"),
            Trigger::Predicate(_) => f.write_str("predicate"),
        }
    }
}

/// Where a fallback's value comes from.
enum Source<T, E> {
    /// An async handler that may fail.
    Handler(Handler<T, E>),
    /// A static value, cloned on each use.
    Value(Arc<dyn Fn() -> T + Send + Sync>),
    /// The last good value, while fresh enough.
    Cache(Arc<dyn Slot<T>>),
}

impl<T, E> Clone for Source<T, E> {
    fn clone(&self) -> Self {
        match self {
            Source::Handler(h) => Source::Handler(Arc::clone(h)),
            Source::Value(v) => Source::Value(Arc::clone(v)),
            Source::Cache(c) => Source::Cache(Arc::clone(c)),
        }
    }
}

/// One fallback of a [`FallbackChain`]: a label, a trigger and where its value comes from.
///
/// By default a fallback applies to any error; [`on_rejection`](Self::on_rejection),
/// [`on_operation_error`](Self::on_operation_error) and [`when`](Self::when) narrow it
/// (the last one called wins).
///
/// # Examples
///
/// ```
/// use rampart::fallback::{Fallback, FallbackChain};
/// use rampart::{Error, RejectionKind};
///
/// let circuit: Fallback<u32, String> =
///     Fallback::with("queued", || async { Ok(0) }).on_rejection(&[RejectionKind::CircuitOpen]);
/// let not_found: Fallback<u32, String> =
///     Fallback::value("default", 7).when(|e: &Error<String>| e.operation().is_some_and(|m| m == "404"));
/// assert!(!not_found.applies_to(&Error::Operation("500".to_owned())));
///
/// let chain = FallbackChain::new().fallback(circuit).fallback(not_found);
/// assert_eq!(chain.len(), 2);
/// ```
pub struct Fallback<T, E> {
    label: Arc<str>,
    trigger: Trigger<E>,
    source: Source<T, E>,
}

impl<T, E> Fallback<T, E> {
    /// A fallback labelled `label` that runs `handler` with the primary's error.
    ///
    /// The handler's future may fail; the chain then tries the next fallback.
    pub fn handle<F, Fut>(label: impl Into<Arc<str>>, handler: F) -> Self
    where
        F: Fn(&Error<E>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        let handler: Handler<T, E> =
            Arc::new(move |e: &Error<E>| -> BoxFuture<T, E> { Box::pin(handler(e)) });
        Fallback {
            label: label.into(),
            trigger: Trigger::Any,
            source: Source::Handler(handler),
        }
    }

    /// A fallback labelled `label` that runs `handler`, which does not look at the error.
    pub fn with<F, Fut>(label: impl Into<Arc<str>>, handler: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        Self::handle(label, move |_: &Error<E>| handler())
    }

    /// A fallback labelled `label` that always answers with a clone of `value`.
    pub fn value(label: impl Into<Arc<str>>, value: T) -> Self
    where
        T: Clone + Send + Sync + 'static,
    {
        Fallback {
            label: label.into(),
            trigger: Trigger::Any,
            source: Source::Value(Arc::new(move || value.clone())),
        }
    }

    /// A fallback that serves `cache`'s last good value while it is fresh enough.
    ///
    /// A chain that holds it feeds it every fresh success.
    pub fn cached(cache: CachedFallback<T>) -> Self
    where
        T: Clone + Send + 'static,
    {
        Fallback {
            label: cache.label,
            trigger: Trigger::Any,
            source: Source::Cache(cache.inner),
        }
    }

    /// Applies only to rejections of one of `kinds` (an empty slice matches nothing).
    pub fn on_rejection(mut self, kinds: &[RejectionKind]) -> Self {
        self.trigger = Trigger::Rejections(Arc::from(kinds));
        self
    }

    /// Applies only to the operation's own errors, never to rejections.
    pub fn on_operation_error(mut self) -> Self {
        self.trigger = Trigger::OperationError;
        self
    }

    /// Applies only to errors for which `predicate` returns true.
    pub fn when<P>(mut self, predicate: P) -> Self
    where
        P: Fn(&Error<E>) -> bool + Send + Sync + 'static,
    {
        self.trigger = Trigger::Predicate(Arc::new(predicate));
        self
    }

    /// Applies to any error (the default).
    pub fn on_any_error(mut self) -> Self {
        self.trigger = Trigger::Any;
        self
    }

    /// The label reported in [`Degradation::fallback`] and in events.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// True when this fallback would be tried for `error`.
    pub fn applies_to(&self, error: &Error<E>) -> bool {
        self.trigger.applies(error)
    }
}

impl<T, E> Clone for Fallback<T, E> {
    fn clone(&self) -> Self {
        Fallback {
            label: Arc::clone(&self.label),
            trigger: self.trigger.clone(),
            source: self.source.clone(),
        }
    }
}

impl<T, E> fmt::Debug for Fallback<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = match self.source {
            Source::Handler(_) => "handler",
            Source::Value(_) => "value",
            Source::Cache(_) => "cache",
        };
        f.debug_struct("Fallback")
            .field("label", &self.label)
            .field("trigger", &self.trigger)
            .field("source", &source)
            .finish()
    }
}

impl<T, E> From<CachedFallback<T>> for Fallback<T, E>
where
    T: Clone + Send + 'static,
{
    fn from(cache: CachedFallback<T>) -> Self {
        Fallback::cached(cache)
    }
}

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
        let error = match primary.await {
            Ok(value) => {
                for cache in &self.inner.caches {
                    cache.record(&value);
                }
                return Ok(Degraded::fresh(value));
            }
            Err(error) => error,
        };
        let reason = DegradedReason::of(&error);
        for fallback in &self.inner.fallbacks {
            if !fallback.trigger.applies(&error) {
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

/// A cache slot as the chain sees it, whatever `T`'s bounds.
trait Slot<T>: Send + Sync {
    /// Stores a clone of `value` as the last good value, stamped now.
    fn record(&self, value: &T);
    /// The last good value and its age, if not older than the limit.
    fn serve(&self) -> Option<(T, Duration)>;
}

/// True when `a` and `b` are the same cache.
fn same_slot<T>(a: &Arc<dyn Slot<T>>, b: &Arc<dyn Slot<T>>) -> bool {
    std::ptr::addr_eq(Arc::as_ptr(a), Arc::as_ptr(b))
}

/// The shared state of a [`CachedFallback`].
struct CacheState<T> {
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
/// A [`FallbackChain`] that holds it (see [`FallbackChain::cached`]) stores every fresh
/// success in it, stamped with the time from its [`Clock`] ([`TokioClock`] unless
/// given another). When the primary fails it serves that value with its age in
/// [`Degradation::age`], unless the value is older than `max_staleness`: then it
/// declines and the next fallback is tried. Clones share the same value.
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
    label: Arc<str>,
    inner: Arc<CacheState<T>>,
}

impl<T> CachedFallback<T> {
    /// An empty cache whose values are served up to `max_staleness` old, on tokio's clock.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for the field `fallback.max_staleness` if it is zero.
    pub fn new(max_staleness: Duration) -> Result<Self, ConfigError> {
        Self::with_clock(max_staleness, TokioClock::new())
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

    /// An empty cache with this configuration, on tokio's clock.
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
    use crate::event::{Event, Listener};
    use crate::Rejection;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn rejected(kind: RejectionKind) -> Error<&'static str> {
        Error::Rejected(Rejection::new("p".into(), "test", kind))
    }

    #[test]
    fn triggers_match() {
        let any: Fallback<u8, &str> = Fallback::value("v", 1);
        assert!(any.applies_to(&Error::Operation("x")));
        let open = any.clone().on_rejection(&[RejectionKind::CircuitOpen]);
        assert!(open.applies_to(&rejected(RejectionKind::CircuitOpen)));
        assert!(!open.applies_to(&rejected(RejectionKind::Timeout)));
        assert!(!open.applies_to(&Error::Operation("x")));
        let none = any.clone().on_rejection(&[]);
        assert!(!none.applies_to(&rejected(RejectionKind::CircuitOpen)));
        let op = any.clone().on_operation_error();
        assert!(op.applies_to(&Error::Operation("x")));
        assert!(!op.applies_to(&rejected(RejectionKind::Shed)));
        assert!(op.on_any_error().applies_to(&rejected(RejectionKind::Shed)));
    }

    #[test]
    fn reasons_display() {
        assert_eq!(DegradedReason::Failed.to_string(), "operation failed");
        assert_eq!(
            DegradedReason::of(&rejected(RejectionKind::CircuitOpen)).to_string(),
            "circuit open"
        );
        let d = Degradation::new("static", DegradedReason::Failed);
        assert_eq!(d.to_string(), "served by static because operation failed");
    }

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
