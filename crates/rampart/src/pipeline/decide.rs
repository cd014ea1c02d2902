//! The decisions retry and hedging make after an attempt, shared by async and blocking.

use std::fmt;
use std::time::Duration;

use super::Shared;
use crate::classify::{Classify, OutcomeClass};
use crate::error::{Error, Rejection, RejectionKind};
use crate::event::{EventKind, GiveUpReason};
use crate::retry::RetryPolicy;

/// What one attempt produced, as the caller would see it.
pub(crate) type Outcome<T, E> = Result<T, Error<E>>;

/// An outcome with the facts retry and hedging need about it.
pub(crate) struct Judged<T, E> {
    pub(crate) outcome: Outcome<T, E>,
    /// A failure that another attempt may fix.
    pub(crate) retryable: bool,
    pub(crate) hint: Option<Duration>,
    pub(crate) success: bool,
}

/// Classifies an outcome; `retries` says which rejections by inner policies to retry.
#[inline]
pub(crate) fn judge<C, T, E>(
    classifier: &C,
    retries: impl Fn(RejectionKind) -> bool,
    outcome: Outcome<T, E>,
) -> Judged<T, E>
where
    C: Classify<T, E>,
{
    let raw: Result<T, E> = match outcome {
        Ok(t) => Ok(t),
        Err(Error::Operation(e)) => Err(e),
        Err(Error::Rejected(r)) => {
            let retryable = retries(r.kind());
            let hint = r.retry_after();
            return Judged {
                outcome: Err(Error::Rejected(r)),
                retryable,
                hint,
                success: false,
            };
        }
    };
    let v = classifier.classify(&raw);
    Judged {
        outcome: raw.map_err(Error::Operation),
        retryable: v.class == OutcomeClass::Failure && v.retryable,
        hint: v.retry_after,
        success: v.class == OutcomeClass::Success,
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

/// Decides whether to retry after attempt number `attempts` produced `judged`.
pub(crate) fn decide<T, E>(
    shared: &Shared,
    policy: &RetryPolicy,
    attempts: u32,
    previous: &mut Option<Duration>,
    judged: &Judged<T, E>,
    times: impl FnOnce() -> Times,
) -> Next {
    if !judged.retryable {
        return Next::Stop(if judged.success {
            None
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

/// Reports the decision and turns it into the outcome to return, if the call ends.
pub(crate) fn conclude<T, E: fmt::Debug>(
    shared: &Shared,
    policy: &RetryPolicy,
    attempts: u32,
    next: Next,
    outcome: Outcome<T, E>,
) -> Result<Duration, Outcome<T, E>> {
    let shown = Shown(&outcome);
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
            Ok(delay)
        }
        Next::Stop(None) => Err(outcome),
        Next::Stop(Some(reason)) => {
            shared.events.emit(&shared.name, || EventKind::RetryGaveUp {
                attempts,
                reason,
                error: &shown,
            });
            Err(outcome)
        }
        Next::Deadline => {
            shared.events.emit(&shared.name, || EventKind::RetryGaveUp {
                attempts,
                reason: GiveUpReason::Deadline,
                error: &shown,
            });
            Err(Err(Error::Rejected(Rejection::new(
                shared.name.clone(),
                "retry",
                RejectionKind::DeadlineExceeded,
            ))))
        }
    }
}
