//! What a breaker reports about itself: its state and a snapshot of its figures.

use std::fmt;
use std::time::Duration;

/// The state of a circuit breaker.
///
/// `Closed`, `Open` and `HalfOpen` are the automatic cycle; the others are set by an
/// operator ([`CircuitBreaker::force_open`](super::CircuitBreaker::force_open) and
/// friends) and last until [`reset`](super::CircuitBreaker::reset) or another manual
/// change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BreakerState {
    /// Calls go through and their outcomes are counted.
    Closed,
    /// Calls are rejected until the open period ends.
    Open,
    /// A permitted number of probe calls go through; the rest are rejected.
    HalfOpen,
    /// Every call is rejected; outcomes are not counted.
    ForcedOpen,
    /// Every call goes through; outcomes are not counted (an operator's override).
    ForcedClosed,
    /// The breaker is off: every call goes through, nothing is counted.
    Disabled,
    /// Every call goes through and outcomes are counted (the snapshot shows the rates),
    /// but the breaker never trips: for tuning thresholds on live traffic.
    MetricsOnly,
}

impl BreakerState {
    /// A short lowercase name, stable for logs and metric labels ("closed", "open",
    /// "half_open", "forced_open", "forced_closed", "disabled", "metrics_only").
    pub const fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
            BreakerState::ForcedOpen => "forced_open",
            BreakerState::ForcedClosed => "forced_closed",
            BreakerState::Disabled => "disabled",
            BreakerState::MetricsOnly => "metrics_only",
        }
    }

    /// The value of the `circuit_breaker_state` gauge: 0 closed, 1 open, 2 half-open.
    /// Forced open reports 1; forced closed, disabled and metrics-only report 0 (calls go
    /// through).
    pub const fn gauge(self) -> u8 {
        match self {
            BreakerState::Open | BreakerState::ForcedOpen => 1,
            BreakerState::HalfOpen => 2,
            BreakerState::Closed
            | BreakerState::ForcedClosed
            | BreakerState::Disabled
            | BreakerState::MetricsOnly => 0,
        }
    }

    /// True when calls go through without limit in this state.
    pub const fn admits_all(self) -> bool {
        matches!(
            self,
            BreakerState::Closed
                | BreakerState::ForcedClosed
                | BreakerState::Disabled
                | BreakerState::MetricsOnly
        )
    }

    /// Its code in the state word (three bits).
    pub(super) const fn code(self) -> u64 {
        match self {
            BreakerState::Closed => 0,
            BreakerState::Open => 1,
            BreakerState::HalfOpen => 2,
            BreakerState::ForcedOpen => 3,
            BreakerState::ForcedClosed => 4,
            BreakerState::Disabled => 5,
            BreakerState::MetricsOnly => 6,
        }
    }

    /// The state of a code; the unused code 7 reads as forced open, the safe side.
    pub(super) const fn from_code(code: u64) -> Self {
        match code {
            0 => BreakerState::Closed,
            1 => BreakerState::Open,
            2 => BreakerState::HalfOpen,
            4 => BreakerState::ForcedClosed,
            5 => BreakerState::Disabled,
            6 => BreakerState::MetricsOnly,
            _ => BreakerState::ForcedOpen,
        }
    }
}

impl fmt::Display for BreakerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A breaker's figures at one moment, for health checks and dashboards.
///
/// Taking one changes nothing: no transition, no window rotation. The figures are read
/// one by one without a lock, so under concurrent calls they may be a call apart.
///
/// What "window" means depends on the [`Window`](super::Window): for a consecutive
/// breaker it is the current run of failures (so `calls_in_window` equals
/// `failures_in_window` and the rate is 1 when there is a run); for a count window the
/// last `size` calls; for a time window the calls in its live buckets. Every transition
/// starts a new, empty window, so an open breaker shows zeros; the event that reported
/// the trip carries the figures that caused it.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct BreakerSnapshot {
    /// The state now (open stays open until a call asks after the open period).
    pub state: BreakerState,
    /// Failures per counted call in the window, 0 to 1 (0 without calls).
    pub failure_rate: f64,
    /// Slow calls per counted call in the window, 0 to 1 (0 without slow-call tracking).
    pub slow_call_rate: f64,
    /// Calls counted in the window (ignored outcomes are not).
    pub calls_in_window: u64,
    /// Failures among them.
    pub failures_in_window: u64,
    /// Slow calls among them.
    pub slow_calls_in_window: u64,
    /// While open: how long until a probe may go (zero once it may). `None` otherwise.
    pub time_until_half_open: Option<Duration>,
    /// Opens since the breaker last closed: 1 after a trip, 2 after a failed half-open,
    /// ...; 0 when closed. Drives the open backoff.
    pub consecutive_opens: u32,
}
