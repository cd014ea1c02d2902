//! The listener installed on every pipeline of a run: it keeps what the policies did,
//! stamped with the virtual time, for the timeline and the breaker's open time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rampart::event::{Event, EventKind, GiveUpReason, Listener};
use tokio::time::Instant;

/// Something that happened during a run, worth a line on the timeline.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Happening {
    /// A timeout cut an attempt.
    Timeout { after: Duration },
    /// A retry was scheduled after attempt `attempt` failed.
    Retry { attempt: u32, delay: Duration },
    /// A request's retries stopped.
    GaveUp { attempts: u32, reason: &'static str },
    /// A breaker changed state.
    Circuit {
        from: &'static str,
        to: &'static str,
    },
    /// A breaker refused a call.
    CircuitRejected,
    /// A bulkhead refused a call.
    BulkheadRejected { max: u32 },
    /// A fallback answered.
    Fallback { label: String },
    /// A dependency's behaviour changed, as the scenario says.
    Change { summary: String },
    /// Every worker busy and requests waiting.
    PoolSaturated { waiting: u32 },
    /// Far more calls than usual reached a dependency in one 100 ms.
    Surge { calls: u32, retries: u32 },
    /// A request failed or was refused (the source is its kind).
    RequestFailed { reason: &'static str },
    /// The pool has free workers again.
    PoolRecovered,
    /// The first queued item was processed.
    BacklogStarted { pending: u64 },
    /// The queue is empty again after `processed` items.
    BacklogDrained { processed: u64 },
}

/// A happening at a time, from a source (a pipeline's name, or `service`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Stamped {
    pub(crate) at: Duration,
    pub(crate) source: String,
    pub(crate) what: Happening,
}

/// The shared log of a run's happenings.
#[derive(Debug, Clone)]
pub(crate) struct Log {
    start: Instant,
    entries: Arc<Mutex<Vec<Stamped>>>,
}

impl Log {
    /// An empty log whose time 0 is now.
    pub(crate) fn new() -> Log {
        Log {
            start: Instant::now(),
            entries: Arc::default(),
        }
    }

    /// Virtual time since the start.
    pub(crate) fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Adds `what` from `source`, now.
    pub(crate) fn push(&self, source: &str, what: Happening) {
        self.push_at(self.elapsed(), source, what);
    }

    /// Adds `what` from `source` at `at`.
    pub(crate) fn push_at(&self, at: Duration, source: &str, what: Happening) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.push(Stamped {
                at,
                source: source.to_owned(),
                what,
            });
        }
    }

    /// Everything logged, in time order (stable for equal times).
    pub(crate) fn take(&self) -> Vec<Stamped> {
        let mut entries = self
            .entries
            .lock()
            .map(|mut e| std::mem::take(&mut *e))
            .unwrap_or_default();
        entries.sort_by_key(|e| e.at);
        entries
    }
}

fn state_name(state: &str) -> &'static str {
    match state {
        "closed" => "closed",
        "open" => "open",
        "half_open" => "half_open",
        "forced_open" => "forced_open",
        "forced_closed" => "forced_closed",
        "disabled" => "disabled",
        _ => "other",
    }
}

fn reason_name(reason: GiveUpReason) -> &'static str {
    match reason {
        GiveUpReason::MaxAttempts => "max attempts",
        GiveUpReason::MaxElapsed => "max elapsed",
        GiveUpReason::Deadline => "deadline",
        GiveUpReason::BudgetExhausted => "retry budget spent",
        GiveUpReason::NotRetryable => "not retryable",
        _ => "other",
    }
}

impl Listener for Log {
    fn on_event(&self, event: &Event<'_>) {
        let what = match event.kind {
            EventKind::TimeoutElapsed { after, .. } => Happening::Timeout { after },
            EventKind::RetryScheduled { attempt, delay, .. } => Happening::Retry { attempt, delay },
            EventKind::RetryGaveUp {
                attempts, reason, ..
            } if attempts > 1 => Happening::GaveUp {
                attempts,
                reason: reason_name(reason),
            },
            EventKind::CircuitStateChanged { from, to, .. } => Happening::Circuit {
                from: state_name(from),
                to: state_name(to),
            },
            EventKind::CircuitRejected { .. } => Happening::CircuitRejected,
            EventKind::BulkheadRejected { max_concurrent, .. } => Happening::BulkheadRejected {
                max: max_concurrent,
            },
            EventKind::FallbackUsed { fallback_type, .. } => Happening::Fallback {
                label: fallback_type.to_owned(),
            },
            _ => return,
        };
        self.push(event.pipeline, what);
    }
}
