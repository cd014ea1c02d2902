//! Typed events that policies report, and the listener that receives them.
//!
//! A pipeline holds an optional [`Listener`]; when there is none, no event is even
//! built, so the cost is one branch on a field that is `None`. Adapters for `tracing`
//! and `metrics` (a later issue) are listeners; so is a test that records events.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::chaos::Fault;
use crate::error::RejectionKind;
use crate::shed::{DropReason, Priority};

/// Something a policy did, with the pipeline it belongs to.
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    /// The pipeline's name (e.g. "payment").
    pub pipeline: &'a str,
    /// What happened.
    pub kind: EventKind<'a>,
}

/// Why a retry policy stopped trying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GiveUpReason {
    /// The maximum number of attempts ran.
    MaxAttempts,
    /// The maximum elapsed time would be passed.
    MaxElapsed,
    /// The request-wide deadline leaves no room for another attempt, or cut the last
    /// one short.
    Deadline,
    /// The shared retry budget is spent.
    BudgetExhausted,
    /// The outcome is not retryable.
    NotRetryable,
}

/// The events policies report.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum EventKind<'a> {
    /// A retry is scheduled after `delay`; `attempt` is the attempt that just failed
    /// (1-based) out of `max_attempts`.
    RetryScheduled {
        /// The attempt that failed, counting from 1.
        attempt: u32,
        /// The configured maximum number of attempts.
        max_attempts: u32,
        /// How long the retry waits before the next attempt.
        delay: Duration,
        /// The outcome that caused the retry, for logs.
        error: &'a dyn fmt::Debug,
    },
    /// The retry policy stopped and returns the last outcome.
    RetryGaveUp {
        /// Attempts made in all.
        attempts: u32,
        /// Why it stopped.
        reason: GiveUpReason,
        /// The last outcome, for logs.
        error: &'a dyn fmt::Debug,
    },
    /// A timeout elapsed and the inner work was dropped.
    TimeoutElapsed {
        /// The time after which it was cut.
        after: Duration,
        /// `Timeout` for the policy's own limit, `DeadlineExceeded` when the outer
        /// deadline was the tighter one.
        kind: RejectionKind,
    },
    /// A hedged attempt was started because the earlier ones were slow.
    HedgeStarted {
        /// The attempt being started, counting from 2.
        attempt: u32,
        /// How long after the first attempt it starts.
        after: Duration,
    },
    /// A fallback answered instead of the primary.
    FallbackUsed {
        /// The fallback's label (e.g. "cache", "static").
        fallback_type: &'a str,
        /// Why the primary did not answer.
        reason: &'a dyn fmt::Debug,
        /// How old the value is, when a cache served it.
        age: Option<Duration>,
    },
    /// A circuit breaker changed state, with the figures that caused it: the window's
    /// (or, leaving half-open, the probes') counts at the moment of the change.
    CircuitStateChanged {
        /// The state it left ([`BreakerState::as_str`](crate::circuit::BreakerState::as_str)).
        from: &'a str,
        /// The state it entered.
        to: &'a str,
        /// Failures per recorded call, 0 to 1.
        failure_rate: f64,
        /// Slow calls per recorded call, 0 to 1.
        slow_call_rate: f64,
        /// Calls that counted (ignored outcomes do not).
        calls: u64,
        /// Of which failures.
        failures: u64,
        /// What trips the breaker: the failures in a row of a consecutive breaker, or
        /// the failure rate (0 to 1) of a window.
        threshold: f64,
        /// The error of the call whose outcome caused the change, when it was recorded
        /// with one ([`record_with_error`](crate::circuit::CircuitBreaker::record_with_error),
        /// as pipelines and `call` do). `None` for changes made by time or an operator,
        /// and for closing.
        last_error: Option<&'a dyn fmt::Debug>,
    },
    /// A circuit breaker refused a call.
    CircuitRejected {
        /// When a probe may go, if the breaker knows (open, not forced open).
        retry_after: Option<Duration>,
    },
    /// A bulkhead refused a call (the seeds' "pool exhausted, rejecting request"). For a
    /// [`BlockingBulkhead`](crate::bulkhead::BlockingBulkhead), the figures are threads
    /// and jobs: its maximum threads, its busy threads and its queued jobs.
    BulkheadRejected {
        /// Calls admitted at once (the pool size).
        max_concurrent: u32,
        /// Calls holding a permit when it refused.
        active: u32,
        /// Calls waiting in its queue when it refused.
        queued: u32,
        /// How long the call waited in the queue, when it was refused because its
        /// maximum wait elapsed; `None` when it was refused at once (full, queue full or
        /// closed).
        waited: Option<Duration>,
    },
    /// A rate limiter refused a call.
    RateLimited {
        /// When the same call would pass if nothing else took the quota meanwhile;
        /// `None` for a weighted call above the burst or limit, which never passes.
        retry_after: Option<Duration>,
    },
    /// A load shedder turned a request away.
    LoadShed {
        /// The request's priority (the `priority` label of `load_shed_rejected_total`).
        priority: Priority,
        /// The load it was decided at: in-flight / capacity, or the caller's figure.
        load: f64,
    },
    /// A work queue gave up a job: refused it, evicted it, or found it expired.
    WorkDropped {
        /// The job's priority.
        priority: Priority,
        /// Why it was given up.
        reason: DropReason,
    },
    /// An adaptive concurrency limiter moved its limit.
    ConcurrencyLimitChanged {
        /// The limit before.
        from: u32,
        /// The limit now.
        to: u32,
    },
    /// A fault injector injected a fault into a call: a latency, a failure, a
    /// substitute outcome or a behavior (never [`Fault::NONE`](crate::chaos::Fault::NONE)).
    FaultInjected {
        /// The call's number since injection was switched on (or the injector
        /// restarted), counting from 1.
        call: u64,
        /// What was injected.
        fault: Fault,
    },
    /// A feature flag was flipped (by [`Flags::set`](crate::flags::Flags::set), or by
    /// [`Flags::refresh`](crate::flags::Flags::refresh) finding a new value in the
    /// store). The event's `pipeline` is the flag registry's name ("flags" by default).
    FlagChanged {
        /// The flag's name (e.g. "recommendations").
        flag: &'a str,
        /// Its value now.
        enabled: bool,
    },
    /// A call through a pipeline finished: all its attempts, waits and inner policies
    /// included, fallbacks not. It feeds `http_client_request_duration_seconds`.
    CallFinished {
        /// From the call's start to its outcome.
        duration: Duration,
        /// How it ended.
        outcome: CallOutcome,
    },
    /// A retry attempt (the second or a later one) succeeded, which ends the retries.
    /// With [`RetryScheduled`](Self::RetryScheduled) and
    /// [`RetryGaveUp`](Self::RetryGaveUp) it gives every retry attempt's result (the
    /// `result` label of `http_client_retries_total`).
    RetrySucceeded {
        /// The attempt that succeeded, counting from 1 (so at least 2).
        attempt: u32,
        /// The configured maximum number of attempts.
        max_attempts: u32,
    },
}

/// How a call through a pipeline ended, as [`EventKind::CallFinished`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallOutcome {
    /// The classifier called the outcome a success.
    Success,
    /// The operation failed (its own error, or a result the classifier calls a failure).
    Failure,
    /// The classifier said the outcome counts for nothing (e.g. a client error).
    Ignored,
    /// A policy refused the call or cut it short.
    Rejected(RejectionKind),
}

/// Receives events. Must be cheap and must not block: it runs on the caller's task.
pub trait Listener: Send + Sync + 'static {
    /// Called for each event.
    fn on_event(&self, event: &Event<'_>);
}

impl<F> Listener for F
where
    F: Fn(&Event<'_>) + Send + Sync + 'static,
{
    fn on_event(&self, event: &Event<'_>) {
        self(event)
    }
}

/// An optional listener, shared by a pipeline and its clones.
#[derive(Clone, Default)]
pub(crate) struct Events(Option<Arc<dyn Listener>>);

impl Events {
    pub(crate) fn new(listener: Option<Arc<dyn Listener>>) -> Self {
        Events(listener)
    }

    /// True when a listener is present (so work done only for events is worth doing).
    #[inline]
    pub(crate) fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// Reports an event built by `make`, which only runs when a listener is present.
    #[inline]
    pub(crate) fn emit<'a>(&self, pipeline: &'a str, make: impl FnOnce() -> EventKind<'a>) {
        if let Some(l) = &self.0 {
            l.on_event(&Event {
                pipeline,
                kind: make(),
            });
        }
    }
}

impl fmt::Debug for Events {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Some(listener)"
        } else {
            "None"
        })
    }
}

/// A listener that keeps a one-line description of every event, for tests and demos.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    lines: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    /// An empty recorder.
    pub fn new() -> Self {
        Self::default()
    }

    /// The events so far, one `Debug` line each.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// How many recorded events contain `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.lines().iter().filter(|l| l.contains(needle)).count()
    }
}

impl Listener for Recorder {
    fn on_event(&self, event: &Event<'_>) {
        if let Ok(mut l) = self.lines.lock() {
            l.push(format!("{}: {:?}", event.pipeline, event.kind));
        }
    }
}
