//! Loom models of the async bulkhead's permit accounting: the atomic word, the waiter
//! queue under its (loom) mutex, the hand-over from a release to a waiter, a waiter
//! polled once then dropped, and close. Each model checks that no more than the maximum
//! hold a permit at once and that every permit is back at the end (loom also fails a
//! model on a deadlock, i.e. a waiter that is never woken, and on a leaked `Arc`).
//!
//! Not modelled: the maximum wait (a tokio timer, which loom cannot drive; its give-up
//! path is the same `poll_queued` as a close's, tested in virtual time instead).
//!
//! Run with `RUSTFLAGS="--cfg rampart_loom" cargo test -p rampart --lib --release loom_`.

use std::future::Future;
use std::task::{Context, Poll, Waker};

use loom::future::block_on;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;

use super::{Bulkhead, BulkheadConfig};

use crate::sync::check_model as check;

fn bulkhead(max: u32, queue: u32) -> Bulkhead {
    let config = BulkheadConfig::new()
        .with_max_concurrent(max)
        .with_max_queue(queue);
    Bulkhead::new("loom", config).expect("valid")
}

/// Every permit back: none active, none queued, and a full set can be taken again.
fn all_back(b: &Bulkhead, max: u32) {
    let s = b.snapshot();
    assert_eq!((s.active, s.queued), (0, 0));
    let permits: Vec<_> = (0..max).map(|_| b.try_acquire().expect("free")).collect();
    assert!(b.try_acquire().is_err());
    drop(permits);
}

/// Counts the callers inside their critical section and fails if more than `max` are.
#[derive(Clone)]
struct Inside(Arc<AtomicUsize>, usize);

impl Inside {
    fn new(max: u32) -> Self {
        Inside(Arc::new(AtomicUsize::new(0)), max as usize)
    }

    fn enter(&self) {
        let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
        assert!(n <= self.1, "{n} callers hold permits of {}", self.1);
    }

    fn leave(&self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[test]
fn loom_racing_try_acquires_never_exceed_the_limit() {
    check(|| {
        let b = bulkhead(1, 0);
        let inside = Inside::new(1);
        let racers: Vec<_> = (0..2)
            .map(|_| {
                let (b, inside) = (b.clone(), inside.clone());
                thread::spawn(move || {
                    if let Ok(p) = b.try_acquire() {
                        inside.enter();
                        inside.leave();
                        drop(p);
                    }
                })
            })
            .collect();
        for r in racers {
            r.join().expect("no panic");
        }
        all_back(&b, 1);
    });
}

#[test]
fn loom_a_release_racing_a_caller_that_queues_hands_it_the_permit() {
    check(|| {
        let b = bulkhead(1, 1);
        let inside = Inside::new(1);
        let holder = b.try_acquire().expect("free");
        inside.enter();
        let waiter = {
            let (b, inside) = (b.clone(), inside.clone());
            thread::spawn(move || {
                let p = block_on(b.acquire()).expect("the holder's permit");
                inside.enter();
                inside.leave();
                drop(p);
            })
        };
        inside.leave();
        drop(holder);
        waiter.join().expect("no panic");
        all_back(&b, 1);
    });
}

#[test]
fn loom_a_waiter_polled_once_then_dropped_racing_a_release_loses_no_permit() {
    check(|| {
        let b = bulkhead(1, 1);
        let inside = Inside::new(1);
        let holder = b.try_acquire().expect("free");
        inside.enter();
        let waiter = {
            let (b, inside) = (b.clone(), inside.clone());
            thread::spawn(move || {
                let mut fut = Box::pin(b.acquire());
                let mut cx = Context::from_waker(Waker::noop());
                // Admitted, queued, or granted while queued: dropping gives it all back.
                if let Poll::Ready(r) = fut.as_mut().poll(&mut cx) {
                    let p = r.expect("a queue of one has room");
                    inside.enter();
                    inside.leave();
                    drop(p);
                }
                drop(fut);
            })
        };
        inside.leave();
        drop(holder);
        waiter.join().expect("no panic");
        all_back(&b, 1);
    });
}

#[test]
fn loom_two_waiters_behind_a_holder_both_get_a_permit_in_turn() {
    check(|| {
        let b = bulkhead(1, 2);
        let inside = Inside::new(1);
        let holder = b.try_acquire().expect("free");
        inside.enter();
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let (b, inside) = (b.clone(), inside.clone());
                thread::spawn(move || {
                    let p = block_on(b.acquire()).expect("a permit in turn");
                    inside.enter();
                    inside.leave();
                    drop(p);
                })
            })
            .collect();
        inside.leave();
        drop(holder);
        for w in waiters {
            w.join().expect("no panic");
        }
        all_back(&b, 1);
    });
}

#[test]
fn loom_close_racing_a_waiter_and_a_release_leaves_nothing_behind() {
    check(|| {
        let b = bulkhead(1, 1);
        let inside = Inside::new(1);
        let holder = b.try_acquire().expect("free");
        inside.enter();
        let waiter = {
            let (b, inside) = (b.clone(), inside.clone());
            thread::spawn(move || {
                // Granted before the close, or turned away by it: never stuck.
                if let Ok(p) = block_on(b.acquire()) {
                    inside.enter();
                    inside.leave();
                    drop(p);
                }
            })
        };
        let releaser = {
            let inside = inside.clone();
            thread::spawn(move || {
                inside.leave();
                drop(holder);
            })
        };
        b.close();
        waiter.join().expect("no panic");
        releaser.join().expect("no panic");
        let s = b.snapshot();
        assert_eq!((s.active, s.queued, s.closed), (0, 0, true));
        assert!(b.try_acquire().is_err());
    });
}
