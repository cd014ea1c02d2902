//! Every event as one structured `tracing` event (feature `tracing`).

use ::tracing::{debug, info, trace, warn};

use super::names::{give_up, is_open, millis, outcome, rejection};
use crate::event::{CallOutcome, Event, EventKind, Listener};

/// The target of every event, so a filter such as `rampart=info` selects them.
const TARGET: &str = "rampart";

/// A [`Listener`] that reports each event as a `tracing` event with target `rampart`,
/// a lowercase message in the style of the seeds' log lines, and the fields listed in
/// the [module docs](super) (`service`, `event`, then the event's own figures).
///
/// A span around a call (say with an `endpoint` field) is the parent of the events the
/// call reports, since listeners run on the caller's task.
///
/// # Examples
///
/// ```
/// use rampart::telemetry::TracingListener;
/// use rampart::Pipeline;
///
/// let payment = Pipeline::builder("payment")
///     .listener(TracingListener::new())
///     .build()
///     .unwrap();
/// # drop(payment);
/// ```
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct TracingListener;

impl TracingListener {
    /// A listener that writes to the current `tracing` subscriber.
    pub const fn new() -> Self {
        TracingListener
    }
}

impl Listener for TracingListener {
    fn on_event(&self, event: &Event<'_>) {
        let service = event.pipeline;
        match event.kind {
            EventKind::RetryScheduled {
                attempt,
                max_attempts,
                delay,
                error,
            } => info!(
                target: TARGET,
                service,
                event = "retry_scheduled",
                attempt,
                max_attempts,
                delay_ms = millis(delay),
                error = ?error,
                "attempt {attempt}/{max_attempts} failed, retrying in {delay:?}"
            ),
            EventKind::RetrySucceeded {
                attempt,
                max_attempts,
            } => info!(
                target: TARGET,
                service,
                event = "retry_succeeded",
                attempt,
                max_attempts,
                "attempt {attempt}/{max_attempts} succeeded"
            ),
            EventKind::RetryGaveUp {
                attempts,
                reason,
                error,
            } => warn!(
                target: TARGET,
                service,
                event = "retry_gave_up",
                attempts,
                reason = give_up(reason),
                error = ?error,
                "giving up after {attempts} attempts ({})",
                give_up(reason)
            ),
            EventKind::TimeoutElapsed { after, kind } => warn!(
                target: TARGET,
                service,
                event = "timeout",
                timeout_ms = millis(after),
                kind = rejection(kind),
                "{} after {after:?}",
                kind.as_str()
            ),
            EventKind::HedgeStarted { attempt, after } => debug!(
                target: TARGET,
                service,
                event = "hedge_started",
                attempt,
                after_ms = millis(after),
                "hedged attempt {attempt} started after {after:?}"
            ),
            EventKind::FallbackUsed {
                fallback_type,
                reason,
                age,
            } => warn!(
                target: TARGET,
                service,
                event = "fallback_used",
                fallback_type,
                reason = ?reason,
                cache_age_ms = age.map(millis),
                "using fallback {fallback_type} ({reason:?}){}",
                age.map(|a| format!(", cached {a:?} ago")).unwrap_or_default()
            ),
            EventKind::CircuitStateChanged {
                from,
                to,
                failure_rate,
                slow_call_rate,
                calls,
                failures,
                threshold,
                last_error,
            } => {
                let error = last_error.map(::tracing::field::debug);
                let what = match to {
                    _ if is_open(to) && from == "half_open" => "reopened",
                    _ if is_open(to) => "opened",
                    "half_open" => "half-open, testing",
                    "closed" => "closed (recovered)",
                    other => other,
                };
                // Opening is rare and means a dependency is down: WARN; the rest INFO.
                macro_rules! state_changed {
                    ($level:ident, $($message:tt)+) => {
                        $level!(
                            target: TARGET,
                            service,
                            event = "circuit_state_changed",
                            from,
                            state = to,
                            failures,
                            calls,
                            failure_rate,
                            slow_call_rate,
                            threshold,
                            error,
                            $($message)+
                        )
                    };
                }
                if is_open(to) {
                    state_changed!(
                        warn,
                        "circuit {what} ({from} -> {to}) after {failures} failures in {calls} calls \
                         (threshold {threshold})"
                    )
                } else {
                    state_changed!(info, "circuit {what}")
                }
            }
            EventKind::CircuitRejected { retry_after } => debug!(
                target: TARGET,
                service,
                event = "circuit_rejected",
                retry_after_ms = retry_after.map(millis),
                "circuit open, rejecting call"
            ),
            EventKind::BulkheadRejected {
                max_concurrent,
                active,
                queued,
                waited,
            } => warn!(
                target: TARGET,
                service,
                event = "bulkhead_rejected",
                pool_size = max_concurrent,
                active,
                queued,
                waited_ms = waited.map(millis),
                "bulkhead full, rejecting request: pool_size={max_concurrent} active={active} queued={queued}"
            ),
            EventKind::RateLimited { retry_after } => info!(
                target: TARGET,
                service,
                event = "rate_limited",
                retry_after_ms = retry_after.map(millis),
                "rate limited, rejecting request"
            ),
            EventKind::LoadShed { priority, load } => info!(
                target: TARGET,
                service,
                event = "load_shed",
                priority = priority.as_str(),
                load,
                "shedding {priority} request at load {load:.2}"
            ),
            EventKind::WorkDropped { priority, reason } => info!(
                target: TARGET,
                service,
                event = "work_dropped",
                priority = priority.as_str(),
                reason = reason.as_str(),
                "dropped {priority} job: {}",
                reason.as_str()
            ),
            EventKind::FaultInjected { call, fault } => info!(
                target: TARGET,
                service,
                event = "fault_injected",
                call,
                action = fault.action.as_str(),
                latency_ms = fault.latency.map(millis),
                behavior = fault.behavior,
                "chaos: call {call}: {} after {:?}",
                fault.action.as_str(),
                fault.latency.unwrap_or_default()
            ),
            EventKind::FlagChanged { flag, enabled } => warn!(
                target: TARGET,
                service,
                event = "flag_changed",
                flag,
                enabled,
                "feature flag {flag} turned {}",
                if enabled { "on" } else { "off" }
            ),
            EventKind::ConcurrencyLimitChanged { from, to } => debug!(
                target: TARGET,
                service,
                event = "concurrency_limit_changed",
                previous_limit = from,
                limit = to,
                "concurrency limit {from} -> {to}"
            ),
            EventKind::CallFinished {
                duration,
                outcome: o,
            } => {
                // A success is routine (TRACE); anything else is worth a DEBUG line.
                macro_rules! finished {
                    ($level:ident) => {
                        $level!(
                            target: TARGET,
                            service,
                            event = "call_finished",
                            duration_ms = millis(duration),
                            outcome = outcome(o),
                            "call finished: {} in {duration:?}",
                            outcome(o)
                        )
                    };
                }
                match o {
                    CallOutcome::Success | CallOutcome::Ignored => finished!(trace),
                    _ => finished!(debug),
                }
            }
        }
    }
}
