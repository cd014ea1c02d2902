//! rampart: its timeout, its retry, a pipeline of retry around a per-attempt timeout, and
//! the whole default stack.

use crate::harness::{async_loop, Case};
use rampart::bulkhead::BulkheadConfig;
use rampart::circuit::BreakerConfig;
use rampart::fallback::FallbackChain;
use rampart::registry::Registry;
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
    Case::new(
        "rampart_pipeline_full_from_config_ok",
        pipeline_full_from_config_ok,
    ),
    Case::new(
        "rampart_pipeline_full_general_stages_ok",
        pipeline_full_general_stages_ok,
    ),
];

/// The default stack of the `rampart_pipeline_full_ok` case as a configuration file
/// holds it.
pub const FULL_STACK_TOML: &str = r#"
[[dependencies.bench.policies]]
policy = "bulkhead"
max_concurrent = 20

[[dependencies.bench.policies]]
policy = "circuit_breaker"
window = { kind = "count", size = 100 }
failure_rate = 0.5

[[dependencies.bench.policies]]
policy = "retry"
max_attempts = 3
backoff = { kind = "exponential", initial = "100ms", factor = 2.0, max = "60s" }
jitter = "full"

[[dependencies.bench.policies]]
policy = "timeout"
duration = "1s"
"#;

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
    full_stack_loop(iterations, &pipeline)
}

/// [`pipeline_full_ok`]'s policies with the timeout outside the retry: an order the
/// typed stages do not cover, so the call runs on the general ones.
fn pipeline_full_general_stages_ok(iterations: u64) -> Duration {
    let pipeline = Pipeline::builder("bench")
        .bulkhead(BulkheadConfig::new().with_max_concurrent(20))
        .circuit_breaker(BreakerConfig::count_window(100, 0.5))
        .timeout(Duration::from_secs(1))
        .retry(retry_config())
        .build()
        .expect("the bench pipeline is valid");
    full_stack_loop(iterations, &pipeline)
}

/// [`pipeline_full_ok`]'s stack read from [`FULL_STACK_TOML`] by the registry.
fn pipeline_full_from_config_ok(iterations: u64) -> Duration {
    let registry = Registry::from_toml(FULL_STACK_TOML, "bench.toml")
        .expect("the bench configuration is valid");
    let pipeline = registry
        .pipeline("bench")
        .expect("it names the bench pipeline");
    full_stack_loop(iterations, pipeline)
}

/// Calls that succeed at once through `pipeline`, with a static fallback outside it.
fn full_stack_loop(iterations: u64, pipeline: &Pipeline) -> Duration {
    let fallback: FallbackChain<u64, Infallible> = FallbackChain::new().value("static", 0);
    let fallback = &fallback;
    async_loop(iterations, move |x| async move {
        pipeline
            .call_with_fallback(move || ready(Ok::<u64, Infallible>(x)), fallback)
            .await
            .map(|v| v.into_inner())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart::pipeline::PolicyConfig;
    use rampart::timeout::TimeoutConfig;

    /// The file holds exactly the stack the code case builds, so the two cases compare
    /// like with like.
    #[test]
    fn the_configured_stack_is_the_coded_stack() {
        let registry = Registry::from_toml(FULL_STACK_TOML, "bench.toml").unwrap();
        let policies = &registry.config().dependencies["bench"].pipeline.policies;
        let expected = [
            PolicyConfig::Bulkhead(BulkheadConfig::new().with_max_concurrent(20)),
            PolicyConfig::CircuitBreaker(BreakerConfig::count_window(100, 0.5)),
            PolicyConfig::Retry(retry_config()),
            PolicyConfig::Timeout(TimeoutConfig::new(Duration::from_secs(1))),
        ];
        assert_eq!(policies.as_slice(), expected.as_slice());
    }
}
