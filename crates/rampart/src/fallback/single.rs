//! Defines one fallback: its label, the errors it applies to and where its value comes from.
//!
//! A [`Fallback`] answers with an async handler, a static value or a cache's last good
//! value, and only for the errors its trigger matches; a chain tries its fallbacks in
//! order.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::cached::{CachedFallback, Slot};
use crate::error::{Error, RejectionKind};
use crate::flags::Flag;

/// A future a fallback handler returns, boxed on the fallback path only.
type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

/// An async fallback handler, type-erased.
type Handler<T, E> = Arc<dyn Fn(&Error<E>) -> BoxFuture<T, E> + Send + Sync>;

/// A predicate on the primary's error.
type Predicate<E> = Arc<dyn Fn(&Error<E>) -> bool + Send + Sync>;

/// Decides whether a fallback applies to the primary's error.
pub(super) enum Trigger<E> {
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
    pub(super) fn applies(&self, error: &Error<E>) -> bool {
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
pub(super) enum Source<T, E> {
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

/// One fallback of a [`FallbackChain`](super::FallbackChain): a label, a trigger and where its value comes from.
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
    pub(super) label: Arc<str>,
    pub(super) trigger: Trigger<E>,
    pub(super) source: Source<T, E>,
    /// A flag that must be on for this fallback to be tried.
    pub(super) flag: Option<Flag>,
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
            flag: None,
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
            flag: None,
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
            flag: None,
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

    /// Tries this fallback only while `flag` is on: switching the flag off withdraws it
    /// at run time (the next fallback in the chain, if any, is tried instead).
    pub fn when_enabled(mut self, flag: Flag) -> Self {
        self.flag = Some(flag);
        self
    }

    /// The label reported in [`Degradation::fallback`](super::Degradation::fallback) and in events.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// True when this fallback would be tried for `error`.
    pub fn applies_to(&self, error: &Error<E>) -> bool {
        self.flag.as_ref().is_none_or(Flag::is_enabled) && self.trigger.applies(error)
    }
}

impl<T, E> Clone for Fallback<T, E> {
    fn clone(&self) -> Self {
        Fallback {
            label: Arc::clone(&self.label),
            trigger: self.trigger.clone(),
            source: self.source.clone(),
            flag: self.flag.clone(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Rejection;

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
}
