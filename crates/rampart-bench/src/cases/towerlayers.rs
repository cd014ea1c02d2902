//! rampart's tower layers on the success path, called like the tower peers in
//! `bulkhead.rs` and `towerres.rs`: `ready().await`, then `call(x).await`, on one
//! service around `service_fn` answering `Ok` at once.

use crate::harness::{async_loop_mut, Case};
use rampart::bulkhead::{Bulkhead, BulkheadConfig};
use rampart::circuit::{BreakerConfig, CircuitBreaker};
use rampart::retry::{Jitter, RetryConfig};
use rampart::tower::{BulkheadLayer, CircuitBreakerLayer, PipelineLayer};
use rampart::Pipeline;
use std::convert::Infallible;
use std::future::ready;
use std::time::Duration;
use tower::{service_fn, Layer, Service, ServiceExt};

/// The tower layer cases.
pub const CASES: &[Case] = &[
    Case::new("rampart_tower_bulkhead_call", tower_bulkhead_call),
    Case::new("rampart_tower_breaker_call_ok", tower_breaker_call_ok),
    Case::new("rampart_tower_pipeline_full_ok", tower_pipeline_full_ok),
];

/// Drives `service` with `ready().await` then `call(x).await`, the peers' loop.
fn ready_call_loop<S>(iterations: u64, mut service: S) -> Duration
where
    S: Service<u64>,
    S::Error: std::fmt::Debug,
{
    async_loop_mut(iterations, async move |x| {
        let ready = service
            .ready()
            .await
            .expect("rampart's services are always ready");
        ready.call(x).await
    })
}

/// `BulkheadLayer` over a bulkhead of 20 calls (no queue): a permit taken in `call`
/// and held by the response future. Peer: `tower_concurrency_limit`.
fn tower_bulkhead_call(iterations: u64) -> Duration {
    let bulkhead = Bulkhead::new("bench", BulkheadConfig::new().with_max_concurrent(20))
        .expect("the bench bulkhead config is valid");
    let service =
        BulkheadLayer::new(bulkhead).layer(service_fn(|x: u64| ready(Ok::<u64, Infallible>(x))));
    ready_call_loop(iterations, service)
}

/// `CircuitBreakerLayer` over a count-window breaker (100 calls, 50 %). Peer:
/// `towerres_circuitbreaker_call_ok`.
fn tower_breaker_call_ok(iterations: u64) -> Duration {
    let breaker = CircuitBreaker::new("bench", BreakerConfig::count_window(100, 0.5))
        .expect("the bench breaker config is valid");
    let service = CircuitBreakerLayer::new(breaker)
        .layer(service_fn(|x: u64| ready(Ok::<u64, Infallible>(x))));
    ready_call_loop(iterations, service)
}

/// `PipelineLayer` over the default stack of `rampart_pipeline_full_ok` (bulkhead of
/// 20, count-window breaker, 3 attempts, 1 s per attempt): one boxed call per request.
/// Peer: `towerres_stack_call_ok`.
fn tower_pipeline_full_ok(iterations: u64) -> Duration {
    let retry = RetryConfig::exponential(Duration::from_millis(100))
        .with_max_attempts(3)
        .with_jitter(Jitter::None);
    let pipeline = Pipeline::builder("bench")
        .bulkhead(BulkheadConfig::new().with_max_concurrent(20))
        .circuit_breaker(BreakerConfig::count_window(100, 0.5))
        .retry(retry)
        .timeout(Duration::from_secs(1))
        .build()
        .expect("the bench default pipeline is valid");
    let service =
        PipelineLayer::new(pipeline).layer(service_fn(|x: u64| ready(Ok::<u64, Infallible>(x))));
    ready_call_loop(iterations, service)
}
