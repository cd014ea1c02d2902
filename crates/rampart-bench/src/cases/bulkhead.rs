//! Bulkheads on the success path: a call through a bulkhead with free permits, around an
//! operation that answers at once. Peers: tower's `ConcurrencyLimit` (tokio's semaphore)
//! and tower-resilience's bulkhead, both as tower services called with `ready().await`
//! then `call`.

use crate::harness::{async_loop, async_loop_mut, Case};
use rampart::bulkhead::{Bulkhead, BulkheadConfig};
use std::convert::Infallible;
use std::future::ready;
use std::time::Duration;
use tower::limit::ConcurrencyLimit;
use tower::{service_fn, Layer, Service, ServiceExt};
use tower_resilience::bulkhead::BulkheadLayer;

/// The bulkhead cases.
pub const CASES: &[Case] = &[
    Case::new("tower_concurrency_limit", tower_concurrency_limit),
    Case::new("towerres_bulkhead_call", towerres_bulkhead_call),
    Case::new("rampart_bulkhead_call", rampart_bulkhead_call),
];

/// Calls admitted at once by every bulkhead here (the design's example).
const MAX_CONCURRENT: u32 = 20;

/// `ConcurrencyLimit` of 20 around `service_fn` answering at once: `poll_ready` takes a
/// semaphore permit, `call` moves it into the response future, which gives it back.
fn tower_concurrency_limit(iterations: u64) -> Duration {
    let mut service = ConcurrencyLimit::new(
        service_fn(|x: u64| ready(Ok::<u64, Infallible>(x))),
        MAX_CONCURRENT as usize,
    );
    async_loop_mut(iterations, async move |x| {
        let ready = service
            .ready()
            .await
            .expect("a limit with free permits is ready");
        ready.call(x).await
    })
}

/// tower-resilience's bulkhead of 20 calls, rejecting when full (rampart's default),
/// around `service_fn` answering at once.
fn towerres_bulkhead_call(iterations: u64) -> Duration {
    let layer = BulkheadLayer::builder()
        .max_concurrent_calls(MAX_CONCURRENT as usize)
        .reject_when_full()
        .build()
        .expect("the bench bulkhead config is valid");
    let mut service = layer.layer(service_fn(|x: u64| ready(Ok::<u64, Infallible>(x))));
    async_loop_mut(iterations, async move |x| {
        let ready = service
            .ready()
            .await
            .expect("a bulkhead with free permits is ready");
        ready.call(x).await
    })
}

/// rampart's bulkhead of 20 calls (no queue, the default) around a ready future.
fn rampart_bulkhead_call(iterations: u64) -> Duration {
    let bulkhead = Bulkhead::new(
        "bench",
        BulkheadConfig::new().with_max_concurrent(MAX_CONCURRENT),
    )
    .expect("the bench bulkhead config is valid");
    async_loop(iterations, |x| {
        bulkhead.call(move || ready(Ok::<u64, Infallible>(x)))
    })
}
