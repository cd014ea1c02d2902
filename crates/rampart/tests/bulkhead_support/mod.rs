//! Helpers for the bulkhead tests: wakers that count their wake-ups, and polling a
//! future by hand so a test decides exactly where each caller stands.
#![allow(dead_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// A waker that counts how often it was woken.
#[derive(Debug, Default)]
pub(crate) struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A future pinned on the heap with its own counting waker.
pub(crate) struct Caller<F: Future> {
    fut: Pin<Box<F>>,
    counter: Arc<CountingWaker>,
    waker: Waker,
}

impl<F: Future> Caller<F> {
    pub(crate) fn new(fut: F) -> Self {
        let counter = Arc::new(CountingWaker::default());
        let waker = Waker::from(Arc::clone(&counter));
        Caller {
            fut: Box::pin(fut),
            counter,
            waker,
        }
    }

    /// Polls the future once with its own waker.
    pub(crate) fn poll(&mut self) -> Poll<F::Output> {
        let mut cx = Context::from_waker(&self.waker);
        self.fut.as_mut().poll(&mut cx)
    }

    /// Polls once and expects it to be pending.
    pub(crate) fn pending(&mut self) {
        assert!(self.poll().is_pending(), "expected the caller to wait");
    }

    /// Polls once and expects an output.
    pub(crate) fn ready(&mut self) -> F::Output {
        match self.poll() {
            Poll::Ready(out) => out,
            Poll::Pending => panic!("expected the caller to be done"),
        }
    }

    /// How often its waker was woken so far.
    pub(crate) fn wakes(&self) -> usize {
        self.counter.0.load(Ordering::SeqCst)
    }
}
