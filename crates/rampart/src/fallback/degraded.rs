//! Marks a value that a fallback produced, with which fallback answered, why and how old it is.
//!
//! A [`Degraded<T>`] wraps every result of a fallback chain; its [`Degradation`] is
//! present only when a fallback answered, and names the [`DegradedReason`] the primary
//! did not.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, RejectionKind};

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
    pub(super) fallback: Arc<str>,
    pub(super) reason: DegradedReason,
    pub(super) age: Option<Duration>,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Rejection;

    fn rejected(kind: RejectionKind) -> Error<&'static str> {
        Error::Rejected(Rejection::new("p".into(), "test", kind))
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
}
