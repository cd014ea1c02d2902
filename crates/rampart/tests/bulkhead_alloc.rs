//! A call through a bulkhead with a free permit allocates nothing, with or without a
//! configured queue, and neither does taking and dropping a permit.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use rampart::bulkhead::{Bulkhead, BulkheadConfig};
use rampart::Error;

fn poll_once<F: Future>(f: F) -> Poll<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    pin!(f).poll(&mut cx)
}

fn allocations_per_calls(b: &Bulkhead, calls: u64) -> u64 {
    let warm: Poll<Result<u64, Error<&str>>> = poll_once(b.call(|| async { Ok(1) }));
    assert!(matches!(warm, Poll::Ready(Ok(1))));
    allocation_counter::measure(|| {
        for i in 0..calls {
            let out: Poll<Result<u64, Error<&str>>> =
                poll_once(b.call(move || async move { Ok(i) }));
            assert!(matches!(out, Poll::Ready(Ok(_))));
            drop(b.try_acquire().expect("free"));
            drop(b.try_acquire_ref().expect("free"));
        }
    })
    .count_total
}

#[test]
fn the_success_path_allocates_nothing() {
    let plain = Bulkhead::new("payment", BulkheadConfig::new()).unwrap();
    assert_eq!(allocations_per_calls(&plain, 100), 0);
    let queued = BulkheadConfig::new()
        .with_max_queue(10)
        .with_max_wait(Duration::from_secs(1));
    let queued = Bulkhead::new("payment", queued).unwrap();
    assert_eq!(allocations_per_calls(&queued, 100), 0);
}

#[test]
fn the_counter_sees_the_rejection_path_allocate() {
    // A rejection carries its details behind an `Arc`: proof the counter is live.
    let b = Bulkhead::new("payment", BulkheadConfig::new().with_max_concurrent(1)).unwrap();
    let _held = b.try_acquire().unwrap();
    let info = allocation_counter::measure(|| assert!(b.try_acquire().is_err()));
    assert!(info.count_total > 0);
}
