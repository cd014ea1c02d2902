//! The one error a caller matches: the operation's own error, or a rejection by a policy.
//!
//! Policies compose inside one pipeline, so there is never an `Error<Error<E>>`: a
//! rejection says which pipeline refused, why ([`RejectionKind`]) and, where the policy
//! knows it, when to come back ([`Rejection::retry_after`]).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The outcome of a call through a pipeline that did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error<E> {
    /// The operation ran and returned its own error (after the last attempt, if retried).
    Operation(E),
    /// A policy refused or cut short the call.
    Rejected(Rejection),
}

impl<E> Error<E> {
    /// The rejection, if a policy refused the call.
    pub fn rejection(&self) -> Option<&Rejection> {
        match self {
            Error::Rejected(r) => Some(r),
            Error::Operation(_) => None,
        }
    }

    /// The operation's own error, if the operation produced it.
    pub fn operation(&self) -> Option<&E> {
        match self {
            Error::Operation(e) => Some(e),
            Error::Rejected(_) => None,
        }
    }

    /// Consumes the error and returns the operation's error, if any.
    pub fn into_operation(self) -> Option<E> {
        match self {
            Error::Operation(e) => Some(e),
            Error::Rejected(_) => None,
        }
    }

    /// True when a policy refused the call.
    pub fn is_rejected(&self) -> bool {
        matches!(self, Error::Rejected(_))
    }

    /// Maps the operation's error, keeping rejections as they are.
    pub fn map_operation<F, E2>(self, f: F) -> Error<E2>
    where
        F: FnOnce(E) -> E2,
    {
        match self {
            Error::Operation(e) => Error::Operation(f(e)),
            Error::Rejected(r) => Error::Rejected(r),
        }
    }
}

impl<E> From<Rejection> for Error<E> {
    fn from(r: Rejection) -> Self {
        Error::Rejected(r)
    }
}

impl<E: fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Operation(e) => e.fmt(f),
            Error::Rejected(r) => r.fmt(f),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for Error<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Operation(e) => Some(e),
            Error::Rejected(r) => Some(r),
        }
    }
}

impl<E> Error<Error<E>> {
    /// Merges the error of one rampart layer (or pipeline) stacked on another into one level: the
    /// outer layer's rejection or the inner layer's error as it was.
    ///
    /// Policies inside one [`Pipeline`](crate::Pipeline) never nest their errors; a
    /// per-policy layer stacked on another (or on a pipeline layer) does, and
    /// `ServiceBuilder::map_err(Error::flatten)` on top gives the one `Error<E>` back.
    ///
    /// ```
    /// use rampart::{Error, Rejection, RejectionKind};
    ///
    /// let inner: Error<Error<&str>> = Error::Operation(Error::Operation("503"));
    /// assert_eq!(inner.flatten(), Error::Operation("503"));
    /// let full = Rejection::new("svc".into(), "bulkhead", RejectionKind::BulkheadFull);
    /// let outer: Error<Error<&str>> = Error::Rejected(full.clone());
    /// assert_eq!(outer.flatten(), Error::Rejected(full));
    /// ```
    pub fn flatten(self) -> Error<E> {
        match self {
            Error::Operation(inner) => inner,
            Error::Rejected(r) => Error::Rejected(r),
        }
    }
}

/// Why a policy refused a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RejectionKind {
    /// A timeout elapsed; the inner work was dropped.
    Timeout,
    /// The request-wide deadline has passed or leaves too little time to start.
    DeadlineExceeded,
    /// A circuit breaker is open.
    CircuitOpen,
    /// A bulkhead has no free slot.
    BulkheadFull,
    /// A rate limiter has no token.
    RateLimited,
    /// A load shedder dropped the call.
    Shed,
    /// The retry budget is spent.
    RetryBudgetExhausted,
    /// Fault injection produced this rejection.
    Injected,
    /// The feature flag the pipeline depends on is off (a kill switch).
    FeatureDisabled,
}

impl RejectionKind {
    /// A short lowercase name, stable for logs and metric labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            RejectionKind::Timeout => "timeout",
            RejectionKind::DeadlineExceeded => "deadline exceeded",
            RejectionKind::CircuitOpen => "circuit open",
            RejectionKind::BulkheadFull => "bulkhead full",
            RejectionKind::RateLimited => "rate limited",
            RejectionKind::Shed => "shed",
            RejectionKind::RetryBudgetExhausted => "retry budget exhausted",
            RejectionKind::Injected => "injected",
            RejectionKind::FeatureDisabled => "feature disabled",
        }
    }
}

impl fmt::Display for RejectionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A policy's refusal: which pipeline, what kind, and when to come back.
///
/// One pointer wide (the details are shared behind an `Arc`), so that a
/// `Result<T, Error<E>>` stays small and a successful call's result moves in registers.
/// Clones share the details.
#[derive(Clone, PartialEq, Eq)]
pub struct Rejection {
    inner: Arc<Details>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Details {
    policy: &'static str,
    name: Arc<str>,
    kind: RejectionKind,
    retry_after: Option<Duration>,
    elapsed: Option<Duration>,
}

impl fmt::Debug for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rejection")
            .field("name", &self.inner.name)
            .field("policy", &self.inner.policy)
            .field("kind", &self.inner.kind)
            .field("retry_after", &self.inner.retry_after)
            .field("elapsed", &self.inner.elapsed)
            .finish()
    }
}

impl Rejection {
    /// A rejection of `kind` by the policy `policy` (e.g. "retry") of the pipeline `name`.
    pub fn new(name: Arc<str>, policy: &'static str, kind: RejectionKind) -> Self {
        Rejection {
            inner: Arc::new(Details {
                policy,
                name,
                kind,
                retry_after: None,
                elapsed: None,
            }),
        }
    }

    /// Sets when the caller may come back.
    pub fn with_retry_after(mut self, after: Duration) -> Self {
        Arc::make_mut(&mut self.inner).retry_after = Some(after);
        self
    }

    /// Sets how long the call ran before it was cut (timeouts).
    pub fn with_elapsed(mut self, elapsed: Duration) -> Self {
        Arc::make_mut(&mut self.inner).elapsed = Some(elapsed);
        self
    }

    /// The name of the pipeline that refused (e.g. "payment").
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The kind of policy that refused ("timeout", "retry", "circuit_breaker", ...).
    pub fn policy(&self) -> &'static str {
        self.inner.policy
    }

    /// Why the call was refused.
    pub fn kind(&self) -> RejectionKind {
        self.inner.kind
    }

    /// When the caller may try again, if the policy knows.
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.retry_after
    }

    /// For timeouts: the time after which the call was cut.
    pub fn elapsed(&self) -> Option<Duration> {
        self.inner.elapsed
    }

    /// True for [`RejectionKind::Timeout`].
    pub fn is_timeout(&self) -> bool {
        self.kind() == RejectionKind::Timeout
    }

    /// True for [`RejectionKind::DeadlineExceeded`].
    pub fn is_deadline_exceeded(&self) -> bool {
        self.kind() == RejectionKind::DeadlineExceeded
    }

    /// True for [`RejectionKind::CircuitOpen`].
    pub fn is_circuit_open(&self) -> bool {
        self.kind() == RejectionKind::CircuitOpen
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name(), self.kind())?;
        if let Some(e) = self.elapsed() {
            write!(
                f,
                " after {}",
                humantime_serde::re::humantime::format_duration(e)
            )?;
        }
        if let Some(r) = self.retry_after() {
            write!(
                f,
                ", retry after {}",
                humantime_serde::re::humantime::format_duration(r)
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for Rejection {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors_and_display() {
        for k in [
            RejectionKind::Timeout,
            RejectionKind::DeadlineExceeded,
            RejectionKind::CircuitOpen,
            RejectionKind::BulkheadFull,
            RejectionKind::RateLimited,
            RejectionKind::Shed,
            RejectionKind::RetryBudgetExhausted,
            RejectionKind::Injected,
        ] {
            let r = Rejection::new("p".into(), "test", k);
            assert_eq!(r.kind(), k);
        }
        let r = Rejection::new("p".into(), "timeout", RejectionKind::Timeout)
            .with_elapsed(Duration::from_secs(2))
            .with_retry_after(Duration::from_secs(90));
        assert_eq!(r.elapsed(), Some(Duration::from_secs(2)));
        assert!(r.retry_after().is_some());
        assert_eq!(r.to_string(), "p: timeout after 2s, retry after 1m 30s");
    }
}
