//! Each policy's figures as the dependencies report shows them.

use serde::{Deserialize, Serialize};

use super::report::millis;
use super::Status;
use crate::adaptive::AdaptiveSnapshot;
use crate::bulkhead::{BlockingSnapshot, BulkheadSnapshot};
use crate::circuit::{BreakerSnapshot, BreakerState};
use crate::rate_limit::{KeyedRateLimitSnapshot, RateLimitSnapshot, SlidingWindowSnapshot};
use crate::shed::{Priority, ShedLevel, ShedSnapshot, WorkQueueSnapshot};

/// One policy's figures, tagged by its kind: `"kind": "circuit_breaker"`, ...
///
/// Durations are whole milliseconds (`_ms`); rates and utilisations are fractions, 0 to
/// 1 (a load shedder's load may exceed 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum PolicyState {
    /// A [`CircuitBreaker`](crate::circuit::CircuitBreaker).
    CircuitBreaker(BreakerReport),
    /// [`KeyedBreakers`](crate::circuit::keyed::KeyedBreakers): a breaker per key.
    KeyedCircuitBreakers(KeyedBreakersReport),
    /// A [`Bulkhead`](crate::bulkhead::Bulkhead).
    Bulkhead(BulkheadReport),
    /// A [`BlockingBulkhead`](crate::bulkhead::BlockingBulkhead).
    BlockingBulkhead(BlockingBulkheadReport),
    /// A token-bucket [`RateLimiter`](crate::rate_limit::RateLimiter).
    RateLimiter(RateLimiterReport),
    /// A [`KeyedRateLimiter`](crate::rate_limit::KeyedRateLimiter).
    KeyedRateLimiter(KeyedRateLimiterReport),
    /// A [`SlidingWindowLimiter`](crate::rate_limit::SlidingWindowLimiter).
    SlidingWindowLimiter(SlidingWindowReport),
    /// A [`LoadShedder`](crate::shed::LoadShedder).
    LoadShedder(LoadShedderReport),
    /// A [`WorkQueue`](crate::shed::WorkQueue).
    WorkQueue(WorkQueueReport),
    /// An [`AdaptiveLimiter`](crate::adaptive::AdaptiveLimiter).
    AdaptiveLimiter(AdaptiveReport),
}

impl PolicyState {
    /// How the policy stands: down when it refuses everything (a breaker open, a
    /// bulkhead closed), degraded when it is refusing some (half-open, full, shedding),
    /// else up.
    pub fn status(&self) -> Status {
        match self {
            PolicyState::CircuitBreaker(b) => b.status(),
            PolicyState::KeyedCircuitBreakers(k) => k
                .breakers
                .iter()
                .map(|b| b.breaker.status())
                .max()
                .map_or(Status::Up, |s| s.min(Status::Degraded)),
            PolicyState::Bulkhead(b) if b.closed => Status::Down,
            PolicyState::Bulkhead(b) => full(b.active >= b.max_concurrent),
            PolicyState::BlockingBulkhead(b) => {
                full(b.busy >= b.max_threads && b.queued >= b.queue_capacity)
            }
            PolicyState::WorkQueue(q) if q.closed => Status::Down,
            PolicyState::WorkQueue(q) => full(q.queued >= q.capacity as usize),
            PolicyState::LoadShedder(s) => full(s.level != ShedLevel::AcceptAll.as_str()),
            PolicyState::AdaptiveLimiter(a) => full(a.in_flight >= u64::from(a.limit)),
            PolicyState::RateLimiter(_)
            | PolicyState::KeyedRateLimiter(_)
            | PolicyState::SlidingWindowLimiter(_) => Status::Up,
        }
    }

    /// The kind's name, as in the JSON (`"circuit_breaker"`, `"bulkhead"`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            PolicyState::CircuitBreaker(_) => "circuit_breaker",
            PolicyState::KeyedCircuitBreakers(_) => "keyed_circuit_breakers",
            PolicyState::Bulkhead(_) => "bulkhead",
            PolicyState::BlockingBulkhead(_) => "blocking_bulkhead",
            PolicyState::RateLimiter(_) => "rate_limiter",
            PolicyState::KeyedRateLimiter(_) => "keyed_rate_limiter",
            PolicyState::SlidingWindowLimiter(_) => "sliding_window_limiter",
            PolicyState::LoadShedder(_) => "load_shedder",
            PolicyState::WorkQueue(_) => "work_queue",
            PolicyState::AdaptiveLimiter(_) => "adaptive_limiter",
        }
    }
}

fn full(full: bool) -> Status {
    if full {
        Status::Degraded
    } else {
        Status::Up
    }
}

fn ratio(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        part / whole
    } else {
        0.0
    }
}

/// A circuit breaker's figures (from [`BreakerSnapshot`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BreakerReport {
    /// "closed", "open", "half_open", "forced_open", "forced_closed", "disabled" or
    /// "metrics_only".
    pub state: String,
    /// Failures per counted call in the window.
    pub failure_rate: f64,
    /// Slow calls per counted call in the window.
    pub slow_call_rate: f64,
    /// Calls counted in the window.
    pub calls_in_window: u64,
    /// Failures among them.
    pub failures_in_window: u64,
    /// Slow calls among them.
    pub slow_calls_in_window: u64,
    /// While open: milliseconds until a probe may go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_until_half_open_ms: Option<u64>,
    /// Opens since the breaker last closed.
    pub consecutive_opens: u32,
}

impl BreakerReport {
    /// Down when open (or forced open), degraded when half-open, else up.
    pub fn status(&self) -> Status {
        match self.state.as_str() {
            "open" | "forced_open" => Status::Down,
            "half_open" => Status::Degraded,
            _ => Status::Up,
        }
    }
}

impl From<BreakerSnapshot> for BreakerReport {
    fn from(s: BreakerSnapshot) -> Self {
        BreakerReport {
            state: BreakerState::as_str(s.state).to_owned(),
            failure_rate: s.failure_rate,
            slow_call_rate: s.slow_call_rate,
            calls_in_window: s.calls_in_window,
            failures_in_window: s.failures_in_window,
            slow_calls_in_window: s.slow_calls_in_window,
            time_until_half_open_ms: s.time_until_half_open.map(|d| millis(d.as_nanos())),
            consecutive_opens: s.consecutive_opens,
        }
    }
}

/// Keyed breakers: how many keys, and each key's breaker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct KeyedBreakersReport {
    /// Keys stored now.
    pub keys: usize,
    /// Keys evicted since creation.
    pub evicted: u64,
    /// Each key's breaker, in key order.
    pub breakers: Vec<KeyedBreakerReport>,
}

/// One key's breaker in a [`KeyedBreakersReport`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct KeyedBreakerReport {
    /// The key, as displayed.
    pub key: String,
    /// Its breaker's figures.
    #[serde(flatten)]
    pub breaker: BreakerReport,
}

impl KeyedBreakersReport {
    pub(super) fn new(mut breakers: Vec<(String, BreakerSnapshot)>, evicted: u64) -> Self {
        breakers.sort_by(|a, b| a.0.cmp(&b.0));
        KeyedBreakersReport {
            keys: breakers.len(),
            evicted,
            breakers: breakers
                .into_iter()
                .map(|(key, s)| KeyedBreakerReport {
                    key,
                    breaker: s.into(),
                })
                .collect(),
        }
    }
}

/// An async bulkhead's figures (from [`BulkheadSnapshot`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BulkheadReport {
    /// Calls admitted at once.
    pub max_concurrent: u32,
    /// Permits held now.
    pub active: u32,
    /// Calls waiting now.
    pub queued: u32,
    /// Calls that may wait.
    pub max_queue: u32,
    /// Calls rejected since creation.
    pub rejected: u64,
    /// Whether it was closed.
    pub closed: bool,
    /// `active / max_concurrent`.
    pub utilisation: f64,
}

impl From<BulkheadSnapshot> for BulkheadReport {
    fn from(s: BulkheadSnapshot) -> Self {
        BulkheadReport {
            max_concurrent: s.max_concurrent,
            active: s.active,
            queued: s.queued,
            max_queue: s.max_queue,
            rejected: s.rejected,
            closed: s.closed,
            utilisation: ratio(f64::from(s.active), f64::from(s.max_concurrent)),
        }
    }
}

/// A blocking bulkhead's figures (from [`BlockingSnapshot`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BlockingBulkheadReport {
    /// The most threads the pool runs.
    pub max_threads: u32,
    /// Threads alive now.
    pub threads: u32,
    /// Threads running a job now.
    pub busy: u32,
    /// Jobs waiting for a thread.
    pub queued: u32,
    /// Jobs that may wait.
    pub queue_capacity: u32,
    /// Jobs rejected since creation.
    pub rejected: u64,
    /// `busy / max_threads`.
    pub utilisation: f64,
}

impl From<BlockingSnapshot> for BlockingBulkheadReport {
    fn from(s: BlockingSnapshot) -> Self {
        BlockingBulkheadReport {
            max_threads: s.max_threads,
            threads: s.threads,
            busy: s.busy,
            queued: s.queued,
            queue_capacity: s.queue_capacity,
            rejected: s.rejected,
            utilisation: ratio(f64::from(s.busy), f64::from(s.max_threads)),
        }
    }
}

/// A token bucket's figures (from [`RateLimitSnapshot`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RateLimiterReport {
    /// Calls allowed per period.
    pub rate: u32,
    /// The period, in milliseconds.
    pub period_ms: u64,
    /// The most calls at one instant.
    pub burst: u32,
    /// Calls that would pass at once now.
    pub available: u32,
    /// Calls refused since creation.
    pub rejected: u64,
    /// The share of the burst in use: `1 - available / burst`.
    pub utilisation: f64,
}

impl From<RateLimitSnapshot> for RateLimiterReport {
    fn from(s: RateLimitSnapshot) -> Self {
        RateLimiterReport {
            rate: s.rate,
            period_ms: millis(s.period.as_nanos()),
            burst: s.burst,
            available: s.available,
            rejected: s.rejected,
            utilisation: 1.0 - ratio(f64::from(s.available), f64::from(s.burst)).min(1.0),
        }
    }
}

/// A keyed limiter's figures (from [`KeyedRateLimitSnapshot`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct KeyedRateLimiterReport {
    /// Calls allowed per period, per key.
    pub rate: u32,
    /// The period, in milliseconds.
    pub period_ms: u64,
    /// The most calls at one instant, per key.
    pub burst: u32,
    /// Keys stored now.
    pub keys: usize,
    /// Keys evicted since creation.
    pub evicted: u64,
    /// Calls refused since creation, over all keys.
    pub rejected: u64,
}

impl From<KeyedRateLimitSnapshot> for KeyedRateLimiterReport {
    fn from(s: KeyedRateLimitSnapshot) -> Self {
        KeyedRateLimiterReport {
            rate: s.rate,
            period_ms: millis(s.period.as_nanos()),
            burst: s.burst,
            keys: s.keys,
            evicted: s.evicted,
            rejected: s.rejected,
        }
    }
}

/// A sliding-window limiter's figures (from [`SlidingWindowSnapshot`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SlidingWindowReport {
    /// Calls allowed per window.
    pub limit: u32,
    /// The window, in milliseconds.
    pub window_ms: u64,
    /// The estimated calls in the window ending now.
    pub estimate: f64,
    /// Calls refused since creation.
    pub rejected: u64,
    /// `estimate / limit`.
    pub utilisation: f64,
}

impl From<SlidingWindowSnapshot> for SlidingWindowReport {
    fn from(s: SlidingWindowSnapshot) -> Self {
        SlidingWindowReport {
            limit: s.limit,
            window_ms: millis(s.window.as_nanos()),
            estimate: s.estimate,
            rejected: s.rejected,
            utilisation: ratio(s.estimate, f64::from(s.limit)),
        }
    }
}

/// Requests shed so far, per priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ShedCounts {
    /// Critical requests shed (always 0).
    pub critical: u64,
    /// High-priority requests shed.
    pub high: u64,
    /// Normal requests shed.
    pub normal: u64,
    /// Low-priority requests shed.
    pub low: u64,
}

/// A load shedder's figures (from [`ShedSnapshot`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LoadShedderReport {
    /// Requests in flight now.
    pub in_flight: u64,
    /// The in-flight count that is full load.
    pub capacity: u32,
    /// In flight divided by capacity (the utilisation; above 1 with critical requests).
    pub load: f64,
    /// "accept_all", "shed_low", "shed_normal" or "critical_only".
    pub level: String,
    /// The adaptive shed probability now.
    pub shed_probability: f64,
    /// Requests shed so far, per priority.
    pub shed: ShedCounts,
    /// CPU pressure of the last sample, 0 to 1.
    pub cpu_pressure: f64,
    /// Memory pressure of the last sample, 0 to 1.
    pub memory_pressure: f64,
    /// Latency pressure of the last sample.
    pub latency_pressure: f64,
}

impl From<ShedSnapshot> for LoadShedderReport {
    fn from(s: ShedSnapshot) -> Self {
        LoadShedderReport {
            in_flight: s.in_flight,
            capacity: s.capacity,
            load: s.load,
            level: s.level.as_str().to_owned(),
            shed_probability: s.shed_probability,
            shed: ShedCounts {
                critical: s.shed_count(Priority::Critical),
                high: s.shed_count(Priority::High),
                normal: s.shed_count(Priority::Normal),
                low: s.shed_count(Priority::Low),
            },
            cpu_pressure: s.pressure.cpu,
            memory_pressure: s.pressure.memory,
            latency_pressure: s.pressure.latency,
        }
    }
}

/// A work queue's figures (from [`WorkQueueSnapshot`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WorkQueueReport {
    /// Jobs waiting, all priorities.
    pub queued: usize,
    /// Jobs running now.
    pub running: u64,
    /// Jobs that may wait.
    pub capacity: u32,
    /// Workers.
    pub workers: u32,
    /// Jobs given up so far, all reasons.
    pub dropped: u64,
    /// Whether it is closed.
    pub closed: bool,
    /// `queued / capacity`.
    pub utilisation: f64,
}

impl From<WorkQueueSnapshot> for WorkQueueReport {
    fn from(s: WorkQueueSnapshot) -> Self {
        let queued = s.queued_total();
        WorkQueueReport {
            queued,
            running: s.running,
            capacity: s.capacity,
            workers: s.workers,
            dropped: s.dropped.iter().sum(),
            closed: s.closed,
            utilisation: ratio(queued as f64, f64::from(s.capacity)),
        }
    }
}

/// An adaptive limiter's figures (from [`AdaptiveSnapshot`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AdaptiveReport {
    /// The limit enforced now.
    pub limit: u32,
    /// Calls in flight now.
    pub in_flight: u64,
    /// Calls refused so far.
    pub rejected: u64,
    /// The lower bound.
    pub min_limit: u32,
    /// The upper bound.
    pub max_limit: u32,
    /// The measured no-load latency, in milliseconds (fractional), once measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_load_rtt_ms: Option<f64>,
    /// `in_flight / limit`.
    pub utilisation: f64,
}

impl From<AdaptiveSnapshot> for AdaptiveReport {
    fn from(s: AdaptiveSnapshot) -> Self {
        AdaptiveReport {
            limit: s.limit,
            in_flight: s.in_flight,
            rejected: s.rejected,
            min_limit: s.min_limit,
            max_limit: s.max_limit,
            no_load_rtt_ms: s.no_load_rtt.map(|d| d.as_secs_f64() * 1e3),
            utilisation: ratio(s.in_flight as f64, f64::from(s.limit)),
        }
    }
}
