//! The decisions retry and hedging make after an attempt, shared by async and blocking.
//!
//! Outcomes are looked at by reference: an attempt's result stays where the operation
//! left it until the call returns it, so deciding moves nothing.

use std::fmt;
use std::time::Duration;

use super::Shared;
use crate::circuit::{BreakerPermit, CircuitBreaker};
use crate::classify::{Classify, OutcomeClass};
use crate::error::{Error, Rejection, RejectionKind};
use crate::event::{CallOutcome, EventKind, GiveUpReason};
use crate::retry::RetryPolicy;

/// What one attempt produced, as the caller would see it.
pub(crate) type Outcome<T, E> = Result<T, Error<E>>;

/// The facts retry and hedging need about an outcome.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Judged {
    /// A failure that another attempt may fix.
    pub(crate) retryable: bool,
    pub(crate) hint: Option<Duration>,
    pub(crate) success: bool,
    /// The request-wide deadline cut the attempt short.
    pub(crate) deadline: bool,
}

/// Classifies an outcome; `retries` says which rejections by inner policies to retry.
#[inline]
pub(crate) fn judge<C, T, E>(
    classifier: &C,
    retries: impl Fn(RejectionKind) -> bool,
    outcome: &Outcome<T, E>,
) -> Judged
where
    C: Classify<T, E>,
{
    let v = match outcome {
        Ok(t) => classifier.classify(Ok(t)),
        Err(Error::Operation(e)) => classifier.classify(Err(e)),
        Err(Error::Rejected(r)) => {
            return Judged {
                retryable: retries(r.kind()),
                hint: r.retry_after(),
                success: false,
                deadline: r.is_deadline_exceeded(),
            }
        }
    };
    Judged {
        retryable: v.class == OutcomeClass::Failure && v.retryable,
        hint: v.retry_after,
        success: v.class == OutcomeClass::Success,
        deadline: false,
    }
}

/// What the retry policy does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Return the outcome as it is.
    Stop(Option<GiveUpReason>),
    /// The deadline leaves no room: return `DeadlineExceeded`.
    Deadline,
    /// Wait this long, then try again.
    Retry(Duration),
}

/// The facts about time a retry decision needs, in the caller's own time base.
pub(crate) struct Times {
    /// Time since the first attempt started.
    pub(crate) elapsed: Duration,
    /// Time left before the deadline in force, if any.
    pub(crate) remaining: Option<Duration>,
}

/// Decides whether to retry after attempt number `attempts` produced an outcome judged
/// `judged`; `previous` carries the last backoff delay.
pub(crate) fn decide(
    shared: &Shared,
    policy: &RetryPolicy,
    attempts: u32,
    previous: &mut Option<Duration>,
    judged: Judged,
    times: impl FnOnce() -> Times,
) -> Next {
    if !judged.retryable {
        return Next::Stop(if judged.success {
            None
        } else if judged.deadline {
            Some(GiveUpReason::Deadline)
        } else {
            Some(GiveUpReason::NotRetryable)
        });
    }
    if attempts >= policy.config.max_attempts {
        return Next::Stop(Some(GiveUpReason::MaxAttempts));
    }
    let delay = policy.next_delay(attempts.saturating_sub(1), previous, judged.hint);
    let t = times();
    if let Some(max) = policy.config.max_elapsed {
        if t.elapsed.saturating_add(delay) >= max {
            return Next::Stop(Some(GiveUpReason::MaxElapsed));
        }
    }
    if let Some(left) = t.remaining {
        if delay >= left {
            return Next::Deadline;
        }
    }
    if policy.config.use_budget {
        if let Some(b) = &shared.budget {
            if !b.try_withdraw() {
                return Next::Stop(Some(GiveUpReason::BudgetExhausted));
            }
        }
    }
    Next::Retry(delay)
}

/// Shows an outcome in events without requiring `T: Debug`.
pub(crate) struct Shown<'a, T, E>(pub(crate) &'a Outcome<T, E>);

impl<T, E: fmt::Debug> fmt::Debug for Shown<'_, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Ok(_) => f.write_str("unacceptable result"),
            Err(Error::Operation(e)) => e.fmt(f),
            Err(Error::Rejected(r)) => write!(f, "{r}"),
        }
    }
}

/// What a retry does with the outcome in hand after [`decide`].
pub(crate) enum Conclusion<T, E> {
    /// Drop it and try again after this delay.
    Retry(Duration),
    /// Return it as it is.
    Keep,
    /// Return this instead.
    Replace(Outcome<T, E>),
}

/// Reports the decision and says what becomes of the outcome.
pub(crate) fn conclude<T, E: fmt::Debug>(
    shared: &Shared,
    policy: &RetryPolicy,
    attempts: u32,
    next: Next,
    outcome: &Outcome<T, E>,
) -> Conclusion<T, E> {
    let shown = Shown(outcome);
    match next {
        Next::Retry(delay) => {
            shared
                .events
                .emit(&shared.name, || EventKind::RetryScheduled {
                    attempt: attempts,
                    max_attempts: policy.config.max_attempts,
                    delay,
                    error: &shown,
                });
            Conclusion::Retry(delay)
        }
        Next::Stop(None) => Conclusion::Keep,
        Next::Stop(Some(reason)) => {
            shared.events.emit(&shared.name, || EventKind::RetryGaveUp {
                attempts,
                reason,
                error: &shown,
            });
            Conclusion::Keep
        }
        Next::Deadline => {
            shared.events.emit(&shared.name, || EventKind::RetryGaveUp {
                attempts,
                reason: GiveUpReason::Deadline,
                error: &shown,
            });
            Conclusion::Replace(Err(Error::Rejected(Rejection::new(
                shared.name.clone(),
                "retry",
                RejectionKind::DeadlineExceeded,
            ))))
        }
    }
}

/// Tells a breaker how the call it let through went: the classifier decides for the
/// operation's own outcomes, the breaker for rejections by policies inside it.
/// Always inlined: its caller is the one place a call's breaker hears the outcome.
#[inline(always)]
pub(crate) fn record_outcome<C, T, E>(
    breaker: &CircuitBreaker,
    permit: BreakerPermit,
    classifier: &C,
    outcome: &Outcome<T, E>,
) where
    C: Classify<T, E>,
    E: fmt::Debug,
{
    match outcome {
        Ok(t) => breaker.record(permit, classifier.classify(Ok(t)).class),
        Err(Error::Operation(e)) => {
            breaker.record_with_error(permit, classifier.classify(Err(e)).class, e)
        }
        Err(Error::Rejected(r)) => breaker.record_rejection(permit, r.kind()),
    }
}

/// Reports a call's end ([`EventKind::CallFinished`]); only called with a listener.
#[cold]
#[inline(never)]
pub(crate) fn finished<C, T, E>(
    shared: &Shared,
    classifier: &C,
    outcome: &Outcome<T, E>,
    duration: Duration,
) where
    C: Classify<T, E>,
{
    let outcome = match outcome {
        Err(Error::Rejected(r)) => CallOutcome::Rejected(r.kind()),
        Ok(t) => class_outcome(classifier.classify(Ok(t)).class),
        Err(Error::Operation(e)) => class_outcome(classifier.classify(Err(e)).class),
    };
    shared
        .events
        .emit(&shared.name, || EventKind::CallFinished {
            duration,
            outcome,
        });
}

fn class_outcome(class: OutcomeClass) -> CallOutcome {
    match class {
        OutcomeClass::Success => CallOutcome::Success,
        OutcomeClass::Failure => CallOutcome::Failure,
        OutcomeClass::Ignored => CallOutcome::Ignored,
    }
}

/// Reports a retry attempt that succeeded ([`EventKind::RetrySucceeded`]).
#[cold]
#[inline(never)]
pub(crate) fn retry_succeeded(shared: &Shared, policy: &RetryPolicy, attempt: u32) {
    shared
        .events
        .emit(&shared.name, || EventKind::RetrySucceeded {
            attempt,
            max_attempts: policy.config.max_attempts,
        });
}
