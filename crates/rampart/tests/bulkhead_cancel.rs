//! Permits come back however a call ends: success, error, panic, or its caller dropped at
//! any await point (queued, granted but not yet woken, holding the permit inside
//! `call`); and each release wakes exactly one waiter.

mod bulkhead_support;

use std::time::Duration;

use bulkhead_support::Caller;
use rampart::bulkhead::{Bulkhead, BulkheadConfig};
use rampart::Error;

fn queued(max: u32, queue: u32) -> Bulkhead {
    let config = BulkheadConfig::new()
        .with_max_concurrent(max)
        .with_max_queue(queue);
    Bulkhead::new("payment", config).unwrap()
}

/// The await points of a call that queues behind a holder, in order: where the test
/// drops it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    /// Waiting in the queue.
    Queued,
    /// A release handed it the permit; it has not been polled since.
    Granted,
    /// Holding the permit, its operation waiting on a timer.
    Running,
    /// Finished: not a drop, the reference run.
    Finished,
}

/// Drops a queued call at `stage` with another waiter behind it, then checks that the
/// capacity comes back and that exactly one waiter (the one behind) is woken once.
async fn drop_at(stage: Stage) {
    let b = queued(1, 4);
    let holder = b.try_acquire().unwrap();
    let mut caller = Caller::new(b.call(|| async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        Ok::<u32, ()>(1)
    }));
    let mut behind = Caller::new(b.acquire());
    caller.pending();
    behind.pending();
    assert_eq!(b.snapshot().queued, 2);

    if stage >= Stage::Granted {
        drop(holder);
        assert_eq!((caller.wakes(), behind.wakes()), (1, 0), "one waiter woken");
        if stage >= Stage::Running {
            caller.pending();
            assert_eq!(b.snapshot().active, 1);
        }
        if stage == Stage::Finished {
            tokio::time::advance(Duration::from_secs(1)).await;
            assert_eq!(behind.wakes(), 0);
            assert_eq!(caller.ready(), Ok(1));
            assert_eq!(behind.wakes(), 1, "finishing woke exactly one waiter");
        }
    } else {
        drop(caller);
        assert_eq!(b.snapshot().queued, 1);
        drop(holder);
        assert_eq!(behind.wakes(), 1, "the release went to the waiter behind");
        let p = behind.ready().unwrap();
        assert_eq!(b.snapshot().active, 1);
        drop(p);
        assert_eq!(b.snapshot().active, 0);
        return;
    }
    if stage != Stage::Finished {
        assert_eq!(
            behind.wakes(),
            0,
            "nobody else woken before the caller is gone"
        );
    }
    drop(caller);
    assert_eq!(behind.wakes(), 1, "exactly one waiter woken");
    let s = b.snapshot();
    assert_eq!(
        (s.active, s.queued),
        (1, 0),
        "the permit passed on, not lost"
    );
    drop(behind.ready().unwrap());
    let s = b.snapshot();
    assert_eq!((s.active, s.queued), (0, 0));
    assert!(b.try_acquire().is_ok());
}

#[tokio::test(start_paused = true)]
async fn dropping_the_caller_at_every_await_point_restores_capacity_and_wakes_one_waiter() {
    for stage in [
        Stage::Queued,
        Stage::Granted,
        Stage::Running,
        Stage::Finished,
    ] {
        drop_at(stage).await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_dropped_waiter_with_a_maximum_wait_cancels_its_timer_and_place() {
    let config = BulkheadConfig::new()
        .with_max_concurrent(1)
        .with_max_queue(1)
        .with_max_wait(Duration::from_secs(5));
    let b = Bulkhead::new("payment", config).unwrap();
    let holder = b.try_acquire().unwrap();
    let res = tokio::time::timeout(Duration::from_secs(1), b.acquire()).await;
    assert!(res.is_err(), "the outer timeout dropped the waiting call");
    let s = b.snapshot();
    assert_eq!((s.queued, s.rejected), (0, 0));
    // Its place is free again: a new waiter fits in the queue of one.
    let mut next = Caller::new(b.acquire());
    next.pending();
    drop(holder);
    assert!(next.ready().is_ok());
}

#[tokio::test(start_paused = true)]
async fn an_aborted_task_gives_its_permit_back() {
    let b = queued(1, 0);
    let inner = b.clone();
    let task = tokio::spawn(async move {
        inner
            .call(|| async {
                std::future::pending::<()>().await;
                Ok::<(), ()>(())
            })
            .await
    });
    tokio::task::yield_now().await;
    assert_eq!(b.snapshot().active, 1);
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    assert_eq!(b.snapshot().active, 0);
}

#[tokio::test(start_paused = true)]
async fn a_task_that_panics_holding_a_permit_gives_it_back() {
    let b = queued(1, 1);
    let permit = b.try_acquire().unwrap();
    let task = tokio::spawn(async move {
        let _held = permit;
        panic!("the operation blew up");
    });
    assert!(task.await.unwrap_err().is_panic());
    assert_eq!(b.snapshot().active, 0);

    let inner = b.clone();
    let task = tokio::spawn(async move {
        inner
            .call(|| async {
                panic!("inside call");
                #[allow(unreachable_code)]
                Ok::<(), ()>(())
            })
            .await
    });
    assert!(task.await.unwrap_err().is_panic());
    assert_eq!(b.snapshot().active, 0);
}

#[tokio::test(start_paused = true)]
async fn a_panic_while_holding_a_permit_hands_it_to_the_next_waiter() {
    let b = queued(1, 1);
    let permit = b.try_acquire().unwrap();
    let mut waiter = Caller::new(b.acquire());
    waiter.pending();
    let task = tokio::spawn(async move {
        let _held = permit;
        panic!("the operation blew up");
    });
    assert!(task.await.unwrap_err().is_panic());
    assert_eq!(waiter.wakes(), 1);
    assert!(waiter.ready().is_ok());
}

#[tokio::test(start_paused = true)]
async fn errors_release_the_permit_to_the_next_waiter() {
    let b = queued(1, 1);
    let mut first = Caller::new(b.call(|| async {
        tokio::task::yield_now().await;
        Err::<u32, &str>("declined")
    }));
    let mut second = Caller::new(b.acquire());
    first.pending();
    second.pending();
    assert_eq!(first.ready(), Err(Error::Operation("declined")));
    assert_eq!(second.wakes(), 1);
    assert!(second.ready().is_ok());
}
