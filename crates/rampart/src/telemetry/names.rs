//! The metric names, and the stable label values both adapters write.

/// Histogram of call durations in seconds, by `service` and `outcome`.
pub const REQUEST_DURATION: &str = "http_client_request_duration_seconds";
/// Counter of timeouts (own limit or request deadline), by `service` and `kind`.
pub const TIMEOUTS: &str = "http_client_timeouts_total";
/// Counter of retry attempts (the second attempt on), by `service`, `attempt`, `result`.
pub const RETRIES: &str = "http_client_retries_total";
/// Counter of hedged attempts started, by `service`.
pub const HEDGES: &str = "http_client_hedges_total";
/// Gauge of a breaker's state (0 closed, 1 open, 2 half-open), by `service`.
pub const CIRCUIT_STATE: &str = "circuit_breaker_state";
/// Counter of breakers tripping open, by `service`.
pub const CIRCUIT_TRIPS: &str = "circuit_breaker_trips_total";
/// Counter of calls an open breaker refused, by `service`.
pub const CIRCUIT_REJECTED: &str = "circuit_breaker_rejected_total";
/// Gauge of calls holding a bulkhead permit, by `service`.
pub const BULKHEAD_ACTIVE: &str = "bulkhead_active_count";
/// Counter of calls a bulkhead refused, by `service`.
pub const BULKHEAD_REJECTED: &str = "bulkhead_rejected_total";
/// Counter of answers served by a fallback, by `service` and `fallback_type`.
pub const FALLBACKS: &str = "fallback_invocations_total";
/// Counter of calls a rate limiter refused, by `service`.
pub const RATE_LIMITED: &str = "rate_limit_rejected_total";
/// Counter of requests a load shedder refused, by `service` and `priority`.
pub const SHED: &str = "load_shed_rejected_total";
/// Counter of jobs a work queue gave up, by `service`, `priority` and `reason`.
pub const WORK_DROPPED: &str = "work_queue_dropped_total";
/// Gauge of an adaptive concurrency limit, by `service`.
pub const CONCURRENCY_LIMIT: &str = "concurrency_limit";
/// Counter of faults a fault injector injected, by `service` and `action`.
pub const FAULTS_INJECTED: &str = "chaos_faults_injected_total";
/// Gauge of a feature flag (1 on, 0 off), by `service` (the flag registry) and `flag`.
pub const FLAG_ENABLED: &str = "feature_flag_enabled";

/// The buckets of [`REQUEST_DURATION`], in seconds (the seeds' figures).
pub const DURATION_BUCKETS: [f64; 7] = [0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0];

#[cfg(any(feature = "tracing", feature = "metrics"))]
pub(crate) use self::labels::*;

#[cfg(any(feature = "tracing", feature = "metrics"))]
#[cfg_attr(not(all(feature = "tracing", feature = "metrics")), allow(dead_code))]
mod labels {
    use crate::error::RejectionKind;
    use crate::event::{CallOutcome, GiveUpReason};

    /// A rejection kind in snake case ("circuit_open"), for labels and fields.
    pub(crate) const fn rejection(kind: RejectionKind) -> &'static str {
        match kind {
            RejectionKind::Timeout => "timeout",
            RejectionKind::DeadlineExceeded => "deadline_exceeded",
            RejectionKind::CircuitOpen => "circuit_open",
            RejectionKind::BulkheadFull => "bulkhead_full",
            RejectionKind::RateLimited => "rate_limited",
            RejectionKind::Shed => "shed",
            RejectionKind::RetryBudgetExhausted => "retry_budget_exhausted",
            RejectionKind::Injected => "injected",
            RejectionKind::FeatureDisabled => "feature_disabled",
        }
    }

    /// The `outcome` label: "success", "failure", "ignored" or the rejection's kind.
    pub(crate) const fn outcome(outcome: CallOutcome) -> &'static str {
        match outcome {
            CallOutcome::Success => "success",
            CallOutcome::Failure => "failure",
            CallOutcome::Ignored => "ignored",
            CallOutcome::Rejected(kind) => rejection(kind),
        }
    }

    /// Why a retry stopped, in snake case.
    pub(crate) const fn give_up(reason: GiveUpReason) -> &'static str {
        match reason {
            GiveUpReason::MaxAttempts => "max_attempts",
            GiveUpReason::MaxElapsed => "max_elapsed",
            GiveUpReason::Deadline => "deadline",
            GiveUpReason::BudgetExhausted => "budget_exhausted",
            GiveUpReason::NotRetryable => "not_retryable",
        }
    }

    /// The `circuit_breaker_state` value of a state name from
    /// [`BreakerState::as_str`](crate::circuit::BreakerState::as_str): 1 open (also
    /// forced open), 2 half-open, 0 for states that let calls through.
    pub(crate) fn state_gauge(state: &str) -> u8 {
        match state {
            "open" | "forced_open" => 1,
            "half_open" => 2,
            _ => 0,
        }
    }

    /// True for the states that refuse calls: a change to them is worth a warning.
    pub(crate) fn is_open(state: &str) -> bool {
        state_gauge(state) == 1
    }

    /// A duration in milliseconds, with sub-millisecond precision.
    pub(crate) fn millis(d: std::time::Duration) -> f64 {
        d.as_secs_f64() * 1e3
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::circuit::BreakerState;

        #[test]
        fn the_gauge_agrees_with_the_breakers_own() {
            for s in [
                BreakerState::Closed,
                BreakerState::Open,
                BreakerState::HalfOpen,
                BreakerState::ForcedOpen,
                BreakerState::ForcedClosed,
                BreakerState::Disabled,
                BreakerState::MetricsOnly,
            ] {
                assert_eq!(state_gauge(s.as_str()), s.gauge(), "{s:?}");
            }
        }

        #[test]
        fn labels_are_snake_case() {
            let all = [
                outcome(CallOutcome::Rejected(RejectionKind::DeadlineExceeded)),
                outcome(CallOutcome::Rejected(RejectionKind::RetryBudgetExhausted)),
                give_up(GiveUpReason::BudgetExhausted),
                outcome(CallOutcome::Ignored),
            ];
            for l in all {
                assert!(
                    l.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                    "{l}"
                );
            }
        }
    }
}
