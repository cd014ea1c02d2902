//! Deciding what an outcome means: success, failure or ignored, and whether to retry.
//!
//! One [`Classify`] implementation serves every policy: retry asks
//! [`Verdict::retryable`], breakers and telemetry ask [`Verdict::class`]. The default,
//! [`DefaultClassifier`], treats every `Err` as a retryable failure and every `Ok` as a
//! success. A [`Classifier`] adds predicates on errors and on `Ok` results (an
//! `Ok(response)` with status 503 is a failure) and a retry-after hint read from either.
//!
//! # Examples
//!
//! ```
//! use rampart::classify::{Classifier, Classify, OutcomeClass};
//!
//! #[derive(Debug)]
//! enum ApiError { BadRequest, Unavailable }
//!
//! let c: Classifier<u16, ApiError> = Classifier::new()
//!     .retry_err_if(|e| matches!(e, ApiError::Unavailable))
//!     .failure_ok_if(|status| *status >= 500);
//! assert!(!c.classify(Err(&ApiError::BadRequest)).retryable);
//! assert!(c.classify(Err(&ApiError::Unavailable)).retryable);
//! assert_eq!(c.classify(Ok(&503)).class, OutcomeClass::Failure);
//! assert_eq!(c.classify(Ok(&200)).class, OutcomeClass::Success);
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// What an outcome counts as for breakers and telemetry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutcomeClass {
    /// The dependency did its job.
    Success,
    /// The dependency failed.
    Failure,
    /// Counts for nothing (e.g. a client error that says nothing about the dependency).
    Ignored,
}

/// The classification of one outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// Success, failure or ignored.
    pub class: OutcomeClass,
    /// Whether a retry policy may try again after this outcome.
    pub retryable: bool,
    /// A hint from the outcome (e.g. a `Retry-After` header) that wins over computed
    /// backoff, clamped by the retry policy's maximum delay.
    pub retry_after: Option<Duration>,
}

impl Verdict {
    /// A success: not retried.
    pub const SUCCESS: Verdict = Verdict {
        class: OutcomeClass::Success,
        retryable: false,
        retry_after: None,
    };
    /// A failure that may be retried.
    pub const RETRYABLE_FAILURE: Verdict = Verdict {
        class: OutcomeClass::Failure,
        retryable: true,
        retry_after: None,
    };
}

/// Classifies the outcome of one attempt of an operation.
pub trait Classify<T, E> {
    /// The verdict on `outcome` (by reference, so that classifying moves nothing).
    fn classify(&self, outcome: Result<&T, &E>) -> Verdict;
}

impl<T, E, C: Classify<T, E> + ?Sized> Classify<T, E> for &C {
    fn classify(&self, outcome: Result<&T, &E>) -> Verdict {
        (**self).classify(outcome)
    }
}

/// `Ok` is a success; `Err` is a retryable failure.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultClassifier;

impl<T, E> Classify<T, E> for DefaultClassifier {
    #[inline]
    fn classify(&self, outcome: Result<&T, &E>) -> Verdict {
        match outcome {
            Ok(_) => Verdict::SUCCESS,
            Err(_) => Verdict::RETRYABLE_FAILURE,
        }
    }
}

type Pred<X> = Arc<dyn Fn(&X) -> bool + Send + Sync>;
type Hint<X> = Arc<dyn Fn(&X) -> Option<Duration> + Send + Sync>;

/// A classifier built from predicates on errors and on `Ok` results.
///
/// Without predicates it behaves like [`DefaultClassifier`]. Clones are cheap and share
/// the predicates.
///
/// # Defaults
///
/// | question | default |
/// |---|---|
/// | is an `Err` a failure? | yes |
/// | is an `Err` retryable? | yes |
/// | is an `Err` ignored? | no |
/// | is an `Ok` a failure? | no |
/// | is an `Ok` that is a failure retryable? | yes |
/// | retry-after hint | none |
pub struct Classifier<T, E> {
    err_retryable: Option<Pred<E>>,
    err_ignored: Option<Pred<E>>,
    ok_failure: Option<Pred<T>>,
    ok_retryable: Option<Pred<T>>,
    err_hint: Option<Hint<E>>,
    ok_hint: Option<Hint<T>>,
}

impl<T, E> Clone for Classifier<T, E> {
    fn clone(&self) -> Self {
        Classifier {
            err_retryable: self.err_retryable.clone(),
            err_ignored: self.err_ignored.clone(),
            ok_failure: self.ok_failure.clone(),
            ok_retryable: self.ok_retryable.clone(),
            err_hint: self.err_hint.clone(),
            ok_hint: self.ok_hint.clone(),
        }
    }
}

impl<T, E> Default for Classifier<T, E> {
    fn default() -> Self {
        Classifier {
            err_retryable: None,
            err_ignored: None,
            ok_failure: None,
            ok_retryable: None,
            err_hint: None,
            ok_hint: None,
        }
    }
}

impl<T, E> fmt::Debug for Classifier<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Classifier")
            .field("err_retryable", &self.err_retryable.is_some())
            .field("err_ignored", &self.err_ignored.is_some())
            .field("ok_failure", &self.ok_failure.is_some())
            .field("ok_retryable", &self.ok_retryable.is_some())
            .finish()
    }
}

impl<T, E> Classifier<T, E> {
    /// A classifier with the defaults in the table above.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only errors for which `pred` is true are retried; the others are failures that
    /// end the call at once.
    pub fn retry_err_if(mut self, pred: impl Fn(&E) -> bool + Send + Sync + 'static) -> Self {
        self.err_retryable = Some(Arc::new(pred));
        self
    }

    /// Errors for which `pred` is true count for nothing and are not retried.
    pub fn ignore_err_if(mut self, pred: impl Fn(&E) -> bool + Send + Sync + 'static) -> Self {
        self.err_ignored = Some(Arc::new(pred));
        self
    }

    /// `Ok` results for which `pred` is true are failures (retryable unless
    /// [`retry_ok_if`](Self::retry_ok_if) says otherwise).
    pub fn failure_ok_if(mut self, pred: impl Fn(&T) -> bool + Send + Sync + 'static) -> Self {
        self.ok_failure = Some(Arc::new(pred));
        self
    }

    /// Among `Ok` results that are failures, only those for which `pred` is true are
    /// retried.
    pub fn retry_ok_if(mut self, pred: impl Fn(&T) -> bool + Send + Sync + 'static) -> Self {
        self.ok_retryable = Some(Arc::new(pred));
        self
    }

    /// Reads a retry-after hint from an error (e.g. a rate-limit error's reset time).
    pub fn retry_after_err(
        mut self,
        hint: impl Fn(&E) -> Option<Duration> + Send + Sync + 'static,
    ) -> Self {
        self.err_hint = Some(Arc::new(hint));
        self
    }

    /// Reads a retry-after hint from an `Ok` result (e.g. a 429 response's header).
    pub fn retry_after_ok(
        mut self,
        hint: impl Fn(&T) -> Option<Duration> + Send + Sync + 'static,
    ) -> Self {
        self.ok_hint = Some(Arc::new(hint));
        self
    }
}

impl<T, E> Classify<T, E> for Classifier<T, E> {
    fn classify(&self, outcome: Result<&T, &E>) -> Verdict {
        match outcome {
            Ok(t) => {
                let failed = self.ok_failure.as_ref().is_some_and(|p| p(t));
                if !failed {
                    return Verdict::SUCCESS;
                }
                Verdict {
                    class: OutcomeClass::Failure,
                    retryable: self.ok_retryable.as_ref().is_none_or(|p| p(t)),
                    retry_after: self.ok_hint.as_ref().and_then(|h| h(t)),
                }
            }
            Err(e) => {
                if self.err_ignored.as_ref().is_some_and(|p| p(e)) {
                    return Verdict {
                        class: OutcomeClass::Ignored,
                        retryable: false,
                        retry_after: None,
                    };
                }
                Verdict {
                    class: OutcomeClass::Failure,
                    retryable: self.err_retryable.as_ref().is_none_or(|p| p(e)),
                    retry_after: self.err_hint.as_ref().and_then(|h| h(e)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_err_retryable() {
        let c = DefaultClassifier;
        assert_eq!(Classify::<(), ()>::classify(&c, Ok(&())), Verdict::SUCCESS);
        assert_eq!(
            Classify::<(), ()>::classify(&c, Err(&())),
            Verdict::RETRYABLE_FAILURE
        );
    }

    #[test]
    fn predicates_and_hints() {
        let c: Classifier<u16, u16> = Classifier::new()
            .ignore_err_if(|e| *e == 404)
            .retry_err_if(|e| *e >= 500)
            .failure_ok_if(|s| *s >= 500)
            .retry_ok_if(|s| *s != 501)
            .retry_after_ok(|s| (*s == 503).then(|| Duration::from_secs(7)));
        assert_eq!(c.classify(Err(&404)).class, OutcomeClass::Ignored);
        assert!(!c.classify(Err(&400)).retryable);
        assert!(c.classify(Err(&502)).retryable);
        let v = c.classify(Ok(&503));
        assert_eq!(v.class, OutcomeClass::Failure);
        assert!(v.retryable);
        assert_eq!(v.retry_after, Some(Duration::from_secs(7)));
        assert!(!c.classify(Ok(&501)).retryable);
        assert_eq!(c.classify(Ok(&200)), Verdict::SUCCESS);
    }
}
