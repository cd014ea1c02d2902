//! The success path allocates nothing: proven with a counting global allocator.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use rampart::fallback::FallbackChain;
use rampart::retry::{Jitter, RetryConfig};
use rampart::{Error, Pipeline};

fn poll_once<F: Future>(f: F) -> Poll<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    pin!(f).poll(&mut cx)
}

/// Allocations made by `calls` ready successful calls through `p`, after a warm-up call
/// (which may initialise thread-locals).
fn allocations_per_ready_calls(p: &Pipeline, calls: u64) -> u64 {
    let warm: Poll<Result<u64, Error<&str>>> = poll_once(p.call(|| async { Ok(1) }));
    assert!(matches!(warm, Poll::Ready(Ok(1))));
    let info = allocation_counter::measure(|| {
        for i in 0..calls {
            let out: Poll<Result<u64, Error<&str>>> =
                poll_once(p.call(move || async move { Ok(i) }));
            assert!(matches!(out, Poll::Ready(Ok(_))));
        }
    });
    info.count_total
}

#[test]
fn call_future_size_is_reported() {
    let p = pipeline();
    let f = p.call(|| async { Ok::<u64, ()>(1) });
    eprintln!("call future: {} bytes", std::mem::size_of_val(&f));
}

fn pipeline() -> Pipeline {
    Pipeline::builder("payment")
        .timeout(Duration::from_secs(5))
        .retry(
            RetryConfig::exponential(Duration::from_millis(100))
                .with_max_attempts(3)
                .with_jitter(Jitter::Full),
        )
        .timeout(Duration::from_secs(1))
        .build()
        .expect("valid")
}

#[test]
fn ready_success_through_retry_timeout_and_fallback_allocates_nothing() {
    let p = pipeline();
    let chain: FallbackChain<u64, &str> = FallbackChain::new().value("static", 0);
    // Warm up thread-locals and lazily initialised state outside the measurement.
    assert!(matches!(
        poll_once(p.call_with_fallback(|| async { Ok(1) }, &chain)),
        Poll::Ready(Ok(_))
    ));
    let info = allocation_counter::measure(|| {
        for i in 0..1_000u64 {
            let out = poll_once(p.call_with_fallback(move || async move { Ok(i) }, &chain));
            match out {
                Poll::Ready(Ok(v)) => assert!(!v.is_degraded()),
                _ => panic!("expected a fresh success"),
            }
            let out: Poll<Result<u64, Error<&str>>> =
                poll_once(p.call(move || async move { Ok(i) }));
            assert!(matches!(out, Poll::Ready(Ok(_))));
        }
    });
    assert_eq!(
        info.count_total, 0,
        "allocations on the success path: {info:?}"
    );
}

#[test]
fn success_after_waiting_allocates_nothing() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime");
    let p = pipeline();
    let call = || async {
        let r: Result<u64, Error<&str>> = p
            .call(|| async {
                tokio::time::sleep(Duration::from_millis(10)).await;
                Ok(7)
            })
            .await;
        r
    };
    assert_eq!(rt.block_on(call()), Ok(7));
    // Boxed before measuring: tokio's `block_on` boxes large futures in debug builds.
    let many = Box::pin(async {
        for _ in 0..100 {
            assert_eq!(call().await, Ok(7));
        }
    });
    let info = allocation_counter::measure(|| rt.block_on(many));
    assert_eq!(
        info.count_total, 0,
        "allocations on the success path: {info:?}"
    );
}

#[test]
fn a_breaker_in_front_allocates_nothing_on_success() {
    let p = Pipeline::builder("payment")
        .circuit_breaker(rampart::circuit::BreakerConfig::count_window(100, 0.5))
        .retry(RetryConfig::exponential(Duration::from_millis(100)).with_max_attempts(3))
        .timeout(Duration::from_secs(1))
        .build()
        .expect("valid");
    assert_eq!(allocations_per_ready_calls(&p, 1_000), 0);
}

#[test]
fn the_full_default_pipeline_with_a_fallback_allocates_nothing_on_success() {
    // The documented default order: bulkhead, breaker, retry, timeout per attempt, with
    // a fallback outside them all.
    let p = Pipeline::builder("payment")
        .bulkhead(rampart::bulkhead::BulkheadConfig::new().with_max_concurrent(40))
        .circuit_breaker(rampart::circuit::BreakerConfig::consecutive(5))
        .retry(
            RetryConfig::exponential(Duration::from_secs(1))
                .with_max_attempts(3)
                .with_jitter(Jitter::Full),
        )
        .timeout(Duration::from_secs(2))
        .build()
        .expect("valid");
    let chain: FallbackChain<u64, &str> = FallbackChain::new().value("order pending", 0);
    assert!(matches!(
        poll_once(p.call_with_fallback(|| async { Ok(1) }, &chain)),
        Poll::Ready(Ok(_))
    ));
    let info = allocation_counter::measure(|| {
        for i in 0..1_000u64 {
            match poll_once(p.call_with_fallback(move || async move { Ok(i) }, &chain)) {
                Poll::Ready(Ok(v)) => assert!(!v.is_degraded()),
                _ => panic!("expected a fresh success"),
            }
        }
    });
    assert_eq!(
        info.count_total, 0,
        "allocations on the success path: {info:?}"
    );
    assert_eq!(allocations_per_ready_calls(&p, 1_000), 0);
}

#[test]
fn the_full_default_pipeline_with_a_fallback_allocates_nothing_when_the_call_waits() {
    // As above, with an operation that waits on a timer first: the attempt's timeout
    // is armed, and the bulkhead slot and the breaker permit are held across polls.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime");
    let p = rt.block_on(async {
        Pipeline::builder("payment")
            .bulkhead(rampart::bulkhead::BulkheadConfig::new().with_max_concurrent(40))
            .circuit_breaker(rampart::circuit::BreakerConfig::consecutive(5))
            .retry(RetryConfig::exponential(Duration::from_secs(1)).with_max_attempts(3))
            .timeout(Duration::from_secs(2))
            .build()
            .expect("valid")
    });
    let chain: FallbackChain<u64, &str> = FallbackChain::new().value("order pending", 0);
    let call = || async {
        let r = p
            .call_with_fallback(
                || async {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    Ok(7)
                },
                &chain,
            )
            .await;
        r.map(|v| (v.is_degraded(), v.into_inner()))
    };
    assert_eq!(rt.block_on(call()), Ok((false, 7)));
    // Boxed before measuring: tokio's `block_on` boxes large futures in debug builds.
    let many = Box::pin(async {
        for _ in 0..100 {
            assert_eq!(call().await, Ok((false, 7)));
        }
    });
    let info = allocation_counter::measure(|| rt.block_on(many));
    assert_eq!(
        info.count_total, 0,
        "allocations on the success path: {info:?}"
    );
}

#[test]
fn pipelines_from_the_shipped_example_allocate_as_pipelines_built_in_code() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/shop.toml");
    let registry = rampart::registry::Registry::from_file(example).expect("valid");
    for (name, p) in registry.pipelines() {
        // Up to four policies nothing; more box the call once (as built in code).
        let policies = registry.config().dependencies[name].pipeline.policies.len();
        let expected = if policies <= 4 { 0 } else { 1_000 };
        assert_eq!(allocations_per_ready_calls(p, 1_000), expected, "{name}");
    }
}

#[test]
fn more_than_four_policies_allocate_one_block_per_call() {
    let p = Pipeline::builder("payment")
        .timeout(Duration::from_secs(9))
        .timeout(Duration::from_secs(8))
        .timeout(Duration::from_secs(7))
        .timeout(Duration::from_secs(6))
        .timeout(Duration::from_secs(5))
        .build()
        .expect("valid");
    assert_eq!(allocations_per_ready_calls(&p, 100), 100);
}
