//! rampart: its timeout, its retry, a pipeline of retry around a per-attempt timeout, and
//! the whole default stack.

use crate::harness::{async_loop, Case};
use rampart::bulkhead::BulkheadConfig;
use rampart::circuit::BreakerConfig;
use rampart::fallback::FallbackChain;
use rampart::retry::RetryConfig;
use rampart::Pipeline;
use std::convert::Infallible;
use std::future::ready;
use std::time::Duration;

/// The rampart cases.
pub const CASES: &[Case] = &[
    Case::new("rampart_timeout_ready_1s", timeout_ready_1s),
    Case::new("rampart_retry_ok", retry_ok),
    Case::new(
        "rampart_pipeline_retry_timeout_ok",
        pipeline_retry_timeout_ok,
    ),
    Case::new("rampart_pipeline_timeout_ok", pipeline_timeout_ok),
    Case::new("rampart_pipeline_full_ok", pipeline_full_ok),
];

/// The retry policy of both pipeline cases: exponential from 100 ms, 3 attempts.
fn retry_config() -> RetryConfig {
    RetryConfig::exponential(Duration::from_millis(100)).with_max_attempts(3)
}

/// `rampart::timeout::timeout(1s, ready(x)).await`, the peer of tokio's timeout case.
fn timeout_ready_1s(iterations: u64) -> Duration {
    async_loop(iterations, |x| {
        rampart::timeout::timeout(Duration::from_secs(1), ready(x))
    })
}

/// A retry-only pipeline around an operation that succeeds at once.
fn retry_ok(iterations: u64) -> Duration {
    let pipeline = Pipeline::builder("bench")
        .retry(retry_config())
        .build()
        .expect("the bench retry pipeline is valid");
    let pipeline = &pipeline;
    async_loop(iterations, move |x| {
        pipeline.call(move || ready(Ok::<u64, Infallible>(x)))
    })
}

/// A pipeline of retry around a 1 s per-attempt timeout, operation ready at once.
fn pipeline_retry_timeout_ok(iterations: u64) -> Duration {
    let pipeline = Pipeline::builder("bench")
        .retry(retry_config())
        .timeout(Duration::from_secs(1))
        .build()
        .expect("the bench retry + timeout pipeline is valid");
    let pipeline = &pipeline;
    async_loop(iterations, move |x| {
        pipeline.call(move || ready(Ok::<u64, Infallible>(x)))
    })
}

/// A pipeline with only a 1 s timeout, operation ready at once: the cost of one stage.
fn pipeline_timeout_ok(iterations: u64) -> Duration {
    let pipeline = Pipeline::builder("bench")
        .timeout(Duration::from_secs(1))
        .build()
        .expect("the bench timeout pipeline is valid");
    let pipeline = &pipeline;
    async_loop(iterations, move |x| {
        pipeline.call(move || ready(Ok::<u64, Infallible>(x)))
    })
}

/// The documented default stack, as tower-resilience's stack case: a bulkhead of 20
/// calls, a count-window breaker (100 calls, 50 %), a retry of 3 attempts and a 1 s
/// timeout per attempt, with a static fallback outside them all.
fn pipeline_full_ok(iterations: u64) -> Duration {
    let pipeline = Pipeline::builder("bench")
        .bulkhead(BulkheadConfig::new().with_max_concurrent(20))
        .circuit_breaker(BreakerConfig::count_window(100, 0.5))
        .retry(retry_config())
        .timeout(Duration::from_secs(1))
        .build()
        .expect("the bench default pipeline is valid");
    let fallback: FallbackChain<u64, Infallible> = FallbackChain::new().value("static", 0);
    let (pipeline, fallback) = (&pipeline, &fallback);
    async_loop(iterations, move |x| async move {
        pipeline
            .call_with_fallback(move || ready(Ok::<u64, Infallible>(x)), fallback)
            .await
            .map(|v| v.into_inner())
    })
}
