//! rampart: its timeout, its retry, and a pipeline of retry around a per-attempt timeout.

use crate::harness::{async_loop, Case};
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
