//! rampart: its circuit breaker on the success path, in each trip mode, and shared by two
//! threads.
//!
//! The breaker is synchronous: a call is `try_acquire` for a permit, then `record` of
//! the outcome with that permit, so these cases use the sync loop.

use crate::harness::{contended_loop_2t, sync_loop, Case};
use rampart::circuit::{BreakerConfig, CircuitBreaker};
use rampart::classify::OutcomeClass;
use rampart::clock::{Clock, CoarseClock, TokioClock};
use std::sync::Arc;
use std::time::Duration;

/// The rampart circuit-breaker cases.
pub const CASES: &[Case] = &[
    Case::new("rampart_breaker_consecutive_call_ok", consecutive_call_ok),
    Case::new("rampart_breaker_count_window_call_ok", count_window_call_ok),
    Case::new("rampart_breaker_time_window_call_ok", time_window_call_ok),
    Case::new(
        "rampart_breaker_time_window_coarse_clock_call_ok",
        time_window_coarse_clock_call_ok,
    ),
    Case::new(
        "rampart_breaker_time_window_tokio_clock_call_ok",
        time_window_tokio_clock_call_ok,
    ),
    Case::new(
        "contended_rampart_breaker_count_window_call_ok_2t",
        contended_count_window_call_ok_2t,
    ),
];

/// A breaker named `bench` with `config`.
fn breaker(config: BreakerConfig) -> CircuitBreaker {
    CircuitBreaker::new("bench", config).expect("the bench breaker config is valid")
}

/// The count window of the count-window cases: the last 100 calls, tripping at 50 %.
fn count_window() -> BreakerConfig {
    BreakerConfig::count_window(100, 0.5)
}

/// One successful call through `breaker`: acquire a permit, record a success with it.
fn call_ok(breaker: &CircuitBreaker, x: u64) -> u64 {
    let permit = breaker
        .try_acquire()
        .expect("a closed breaker that only sees successes admits every call");
    breaker.record(permit, OutcomeClass::Success);
    x
}

/// Trips on 5 consecutive failures.
fn consecutive_call_ok(iterations: u64) -> Duration {
    let breaker = breaker(BreakerConfig::consecutive(5));
    sync_loop(iterations, |x| call_ok(&breaker, x))
}

/// Failure rate over the last 100 calls, 50 % threshold.
fn count_window_call_ok(iterations: u64) -> Duration {
    let breaker = breaker(count_window());
    sync_loop(iterations, |x| call_ok(&breaker, x))
}

/// Failure rate over the last 10 s in 10 buckets, 50 % threshold, on the default clock.
fn time_window_call_ok(iterations: u64) -> Duration {
    let breaker = breaker(BreakerConfig::time_window(Duration::from_secs(10), 10, 0.5));
    sync_loop(iterations, |x| call_ok(&breaker, x))
}

/// The time window of `time_window_call_ok` on the opt-in millisecond clock.
fn time_window_coarse_clock_call_ok(iterations: u64) -> Duration {
    time_window_on(iterations, Arc::new(CoarseClock::new()))
}

/// The time window of `time_window_call_ok` on tokio's clock (what a breaker made under
/// paused time reads): the cost of `Instant::now()`.
fn time_window_tokio_clock_call_ok(iterations: u64) -> Duration {
    time_window_on(iterations, Arc::new(TokioClock::new()))
}

/// The time window of `time_window_call_ok` on `clock`.
fn time_window_on(iterations: u64, clock: Arc<dyn Clock>) -> Duration {
    let config = BreakerConfig::time_window(Duration::from_secs(10), 10, 0.5);
    let breaker = CircuitBreaker::with_clock("bench", config, clock)
        .expect("the bench breaker config is valid");
    sync_loop(iterations, |x| call_ok(&breaker, x))
}

/// The count-window breaker shared by two threads; ns per op per thread.
fn contended_count_window_call_ok_2t(iterations: u64) -> Duration {
    let breaker = breaker(count_window());
    contended_loop_2t(iterations, &breaker, call_ok)
}
