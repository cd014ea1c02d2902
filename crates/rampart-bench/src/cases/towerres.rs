//! tower-resilience: its circuit breaker layer, and its whole resilience stack, around a
//! tower service that answers at once.

use crate::harness::{async_loop_mut, Case};
use std::convert::Infallible;
use std::future::ready;
use std::time::Duration;
use tower::{service_fn, Layer, Service, ServiceBuilder, ServiceExt};
use tower_resilience::bulkhead::BulkheadLayer;
use tower_resilience::circuitbreaker::CircuitBreakerLayer;
use tower_resilience::retry::RetryLayer;
use tower_resilience::timelimiter::{TimeLimiterError, TimeLimiterLayer};

/// The tower-resilience cases.
pub const CASES: &[Case] = &[
    Case::new("towerres_circuitbreaker_call_ok", circuitbreaker_call_ok),
    Case::new("towerres_stack_call_ok", stack_call_ok),
];

/// The circuit breaker with a count-based sliding window of 100 calls (50 % failure
/// rate, the crate's defaults made explicit) around `service_fn` answering `Ok` at once.
///
/// Each call is `ready().await` then `call(x).await` on the one service. That is the
/// fast path: `oneshot` would need a clone of the service per call (three `Arc` clones
/// and a clone of the inner service) on top of the same `poll_ready` and `call`.
fn circuitbreaker_call_ok(iterations: u64) -> Duration {
    let layer = CircuitBreakerLayer::builder()
        .failure_rate_threshold(0.5)
        .sliding_window_size(100)
        .build()
        .expect("the bench circuit breaker config is valid");
    let mut service = layer.layer(service_fn(|x: u64| ready(Ok::<u64, Infallible>(x))));
    async_loop_mut(iterations, async move |x| {
        let ready = service
            .ready()
            .await
            .expect("a closed breaker around service_fn is ready");
        ready.call(x).await
    })
}

/// The stack the full-pipeline target compares against, outermost first with
/// `ServiceBuilder`: tower-resilience's bulkhead (20 calls, rejecting when full), its
/// count-window circuit breaker (100 calls, 50 %), its retry (3 attempts, exponential
/// from 100 ms) and its time limiter (1 s per attempt), around `service_fn` answering
/// `Ok` at once.
fn stack_call_ok(iterations: u64) -> Duration {
    let limiter = TimeLimiterLayer::builder()
        .timeout_duration(Duration::from_secs(1))
        .build();
    let retry = RetryLayer::<u64, u64, TimeLimiterError<Infallible>>::builder()
        .max_attempts(3)
        .exponential_backoff(Duration::from_millis(100))
        .build();
    let breaker = CircuitBreakerLayer::builder()
        .failure_rate_threshold(0.5)
        .sliding_window_size(100)
        .build()
        .expect("the bench circuit breaker config is valid");
    let bulkhead = BulkheadLayer::builder()
        .max_concurrent_calls(20)
        .reject_when_full()
        .build()
        .expect("the bench bulkhead config is valid");
    let mut service = ServiceBuilder::new()
        .layer(bulkhead)
        .layer(breaker)
        .layer(retry)
        .layer(limiter)
        .service(service_fn(|x: u64| ready(Ok::<u64, Infallible>(x))));
    async_loop_mut(iterations, async move |x| {
        let ready = service
            .ready()
            .await
            .expect("the stack around service_fn is ready");
        ready.call(x).await
    })
}
