//! The async bulkhead: limits, rejections, counters, events, the FIFO queue, its
//! maximum wait in virtual time, close, and permits shared across tasks and threads.

mod bulkhead_support;
mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bulkhead_support::Caller;
use rampart::bulkhead::{Bulkhead, BulkheadConfig, BulkheadPermit};
use rampart::event::Recorder;
use rampart::{Error, RejectionKind};
use support::{kind, ms};

fn bulkhead(max: u32) -> Bulkhead {
    Bulkhead::new("payment", BulkheadConfig::new().with_max_concurrent(max)).unwrap()
}

fn queued(max: u32, queue: u32) -> Bulkhead {
    let config = BulkheadConfig::new()
        .with_max_concurrent(max)
        .with_max_queue(queue);
    Bulkhead::new("payment", config).unwrap()
}

#[test]
fn admits_up_to_the_limit_then_rejects_at_once() {
    let b = bulkhead(3);
    let permits: Vec<BulkheadPermit> = (0..3).map(|_| b.try_acquire().unwrap()).collect();
    let r = b.try_acquire().unwrap_err();
    assert_eq!(r.kind(), RejectionKind::BulkheadFull);
    assert_eq!((r.name(), r.policy()), ("payment", "bulkhead"));
    assert_eq!(r.retry_after(), None);
    assert!(b.try_acquire_ref().is_err());
    let s = b.snapshot();
    assert_eq!(
        (s.active, s.queued, s.rejected, s.max_concurrent),
        (3, 0, 2, 3)
    );
    assert_eq!(s.available(), 0);
    drop(permits);
    assert_eq!(b.snapshot().active, 0);
    let again = b.try_acquire_ref().unwrap();
    assert_eq!(b.snapshot().active, 1);
    drop(again);
    assert_eq!(b.snapshot().available(), 3);
}

#[tokio::test(start_paused = true)]
async fn without_a_queue_acquire_and_call_reject_at_once() {
    let b = bulkhead(1);
    let held = b.acquire().await.unwrap();
    assert!(b.acquire().await.is_err());
    assert!(b.acquire_ref().await.is_err());
    let ran = AtomicU32::new(0);
    let res = b
        .call(|| async {
            ran.fetch_add(1, Ordering::SeqCst);
            Ok::<(), ()>(())
        })
        .await;
    assert_eq!(kind(&res), Some(RejectionKind::BulkheadFull));
    assert_eq!(ran.load(Ordering::SeqCst), 0, "a rejected call never runs");
    assert_eq!(b.snapshot().rejected, 3);
    drop(held);
    assert_eq!(b.call(|| async { Ok::<u32, ()>(7) }).await, Ok(7));
}

#[tokio::test(start_paused = true)]
async fn the_operations_error_passes_through_and_the_permit_comes_back() {
    let b = bulkhead(1);
    let res: Result<u32, Error<&str>> = b.call(|| async { Err("declined") }).await;
    assert_eq!(res, Err(Error::Operation("declined")));
    assert_eq!(b.snapshot().active, 0);
}

#[test]
fn clones_share_permits_and_counters() {
    let a = bulkhead(2);
    let b = a.clone();
    let _p = a.try_acquire().unwrap();
    let _q = b.try_acquire().unwrap();
    assert!(a.try_acquire().is_err());
    assert_eq!((b.snapshot().active, b.snapshot().rejected), (2, 1));
    assert_eq!(b.name(), "payment");
    assert_eq!(b.config().max_concurrent, 2);
    assert!(format!("{a:?}").contains("payment"));
}

#[test]
fn an_owned_permit_outlives_its_handle_and_moves_to_another_thread() {
    let b = bulkhead(1);
    let p = b.try_acquire().unwrap();
    let observer = b.clone();
    drop(b);
    std::thread::spawn(move || drop(p)).join().unwrap();
    assert_eq!(observer.snapshot().active, 0);
}

#[test]
fn rejections_are_reported_with_the_figures() {
    let rec = Recorder::new();
    let b = bulkhead(1).with_listener(Arc::new(rec.clone()));
    let _p = b.try_acquire().unwrap();
    assert!(b.try_acquire().is_err());
    let lines = rec.lines();
    assert_eq!(lines.len(), 1);
    assert!(
        lines[0]
            .contains("BulkheadRejected { max_concurrent: 1, active: 1, queued: 0, waited: None }"),
        "{lines:?}"
    );
}

#[test]
fn waiters_get_permits_in_arrival_order_and_newcomers_do_not_overtake() {
    let b = queued(1, 5);
    let holder = b.try_acquire().unwrap();
    let mut waiters: Vec<_> = (0..4).map(|_| Caller::new(b.acquire())).collect();
    for w in &mut waiters {
        w.pending();
    }
    assert_eq!(b.snapshot().queued, 4);
    drop(holder);
    // The permit went to the first waiter: it is woken, nobody else is, and a newcomer
    // is refused although the first waiter has not yet picked its permit up.
    assert_eq!(
        waiters.iter().map(Caller::wakes).collect::<Vec<_>>(),
        [1, 0, 0, 0]
    );
    assert!(b.try_acquire().is_err());
    assert_eq!((b.snapshot().active, b.snapshot().queued), (1, 3));
    for i in 0..4 {
        for (j, w) in waiters.iter_mut().enumerate().skip(i + 1) {
            assert_eq!(w.wakes(), 0, "waiter {j} woken before waiter {i} was done");
            w.pending();
        }
        let permit = waiters[i].ready().unwrap();
        drop(permit);
    }
    let s = b.snapshot();
    assert_eq!((s.active, s.queued), (0, 0));
    assert!(b.try_acquire().is_ok(), "the flag of waiters is down again");
}

#[test]
fn a_full_queue_rejects_at_once() {
    let rec = Recorder::new();
    let b = queued(1, 2).with_listener(Arc::new(rec.clone()));
    let _holder = b.try_acquire().unwrap();
    let mut first = Caller::new(b.acquire());
    let mut second = Caller::new(b.acquire());
    first.pending();
    second.pending();
    let mut third = Caller::new(b.acquire());
    let r = third.ready().unwrap_err();
    assert_eq!(r.kind(), RejectionKind::BulkheadFull);
    assert_eq!((b.snapshot().queued, b.snapshot().rejected), (2, 1));
    assert!(rec.lines()[0].contains("active: 1, queued: 2, waited: None"));
    // try_acquire never queues.
    assert!(b.try_acquire().is_err());
}

#[tokio::test(start_paused = true)]
async fn the_maximum_wait_elapses_to_a_rejection_in_virtual_time() {
    let rec = Recorder::new();
    let config = BulkheadConfig::new()
        .with_max_concurrent(1)
        .with_max_queue(1)
        .with_max_wait(ms(500));
    let b = Bulkhead::new("inventory", config)
        .unwrap()
        .with_listener(Arc::new(rec.clone()));
    let _holder = b.try_acquire().unwrap();
    let start = tokio::time::Instant::now();
    let r = b.acquire().await.unwrap_err();
    assert_eq!(start.elapsed(), ms(500));
    assert_eq!(r.kind(), RejectionKind::BulkheadFull);
    let s = b.snapshot();
    assert_eq!((s.active, s.queued, s.rejected), (1, 0, 1));
    assert!(
        rec.lines()[0].contains("waited: Some(500ms)"),
        "{:?}",
        rec.lines()
    );
}

#[tokio::test(start_paused = true)]
async fn a_permit_freed_before_the_maximum_wait_is_taken() {
    let config = BulkheadConfig::new()
        .with_max_concurrent(1)
        .with_max_queue(1)
        .with_max_wait(ms(500));
    let b = Bulkhead::new("inventory", config).unwrap();
    let holder = b.try_acquire().unwrap();
    tokio::spawn(async move {
        tokio::time::sleep(ms(499)).await;
        drop(holder);
    });
    let start = tokio::time::Instant::now();
    let res = b.call(|| async { Ok::<u32, ()>(1) }).await;
    assert_eq!(res, Ok(1));
    assert_eq!(start.elapsed(), ms(499));
    assert_eq!(b.snapshot().rejected, 0);
}

#[tokio::test(start_paused = true)]
async fn without_a_maximum_wait_a_queued_call_waits_as_long_as_it_takes() {
    let b = queued(1, 1);
    let holder = b.try_acquire().unwrap();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        drop(holder);
    });
    let start = tokio::time::Instant::now();
    let _p = b.acquire().await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(3600));
}

#[test]
fn close_turns_waiters_away_and_refuses_newcomers_while_permits_out_stay_valid() {
    let b = queued(2, 4);
    let p1 = b.try_acquire().unwrap();
    let p2 = b.try_acquire().unwrap();
    let mut w1 = Caller::new(b.acquire());
    let mut w2 = Caller::new(b.acquire());
    w1.pending();
    w2.pending();
    b.close();
    assert_eq!((w1.wakes(), w2.wakes()), (1, 1));
    assert!(w1.ready().is_err());
    assert!(w2.ready().is_err());
    assert!(b.try_acquire().is_err());
    assert!(Caller::new(b.acquire()).ready().is_err());
    let s = b.snapshot();
    assert!(s.closed);
    assert_eq!((s.active, s.queued), (2, 0));
    drop((p1, p2));
    assert_eq!(b.snapshot().active, 0);
    assert!(b.try_acquire().is_err(), "closed stays closed");
}

#[test]
fn close_after_a_grant_leaves_the_granted_waiter_its_permit() {
    let b = queued(1, 4);
    let holder = b.try_acquire().unwrap();
    let mut w = Caller::new(b.acquire());
    w.pending();
    drop(holder);
    b.close();
    let p = w.ready().expect("granted before the close");
    assert_eq!(b.snapshot().active, 1);
    drop(p);
    assert_eq!(b.snapshot().active, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_contention_never_more_than_the_limit_run_and_every_permit_comes_back() {
    const MAX: u32 = 3;
    let b = queued(MAX, 64);
    let running = Arc::new(AtomicU32::new(0));
    let peak = Arc::new(AtomicU32::new(0));
    let done = Arc::new(Mutex::new(0u32));
    let tasks: Vec<_> = (0..48)
        .map(|_| {
            let (b, running, peak, done) = (b.clone(), running.clone(), peak.clone(), done.clone());
            tokio::spawn(async move {
                for _ in 0..20 {
                    let res = b
                        .call(|| async {
                            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                            peak.fetch_max(now, Ordering::SeqCst);
                            tokio::task::yield_now().await;
                            running.fetch_sub(1, Ordering::SeqCst);
                            Ok::<(), ()>(())
                        })
                        .await;
                    if res.is_ok() {
                        *done.lock().unwrap() += 1;
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert!(peak.load(Ordering::SeqCst) <= MAX);
    let s = b.snapshot();
    assert_eq!((s.active, s.queued), (0, 0));
    assert_eq!(u64::from(*done.lock().unwrap()) + s.rejected, 48 * 20);
}
