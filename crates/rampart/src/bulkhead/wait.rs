//! The future of a call waiting in a bulkhead's queue, with its maximum wait.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};

use super::core::{Enqueued, Inner, Outcome};
use crate::clock::poll_sleep_until;
use crate::error::Rejection;

pin_project! {
    /// Waits for a permit once the fast path found none: rejects at once without a
    /// queue, else queues and resolves when a release hands it a permit, when the
    /// bulkhead closes, or when the maximum wait elapses (a tokio timer, made only if the
    /// call really queues).
    ///
    /// Dropped while queued, it leaves the queue; a permit handed to it meanwhile goes on
    /// to the next waiter.
    pub(super) struct Wait<'a> {
        inner: &'a Inner,
        id: Option<u64>,
        deadline: Option<Instant>,
        #[pin]
        sleep: Option<Sleep>,
    }

    impl<'a> PinnedDrop for Wait<'a> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(id) = this.id.take() {
                this.inner.leave(id);
            }
        }
    }
}

impl<'a> Wait<'a> {
    pub(super) fn new(inner: &'a Inner) -> Self {
        Wait {
            inner,
            id: None,
            deadline: None,
            sleep: None,
        }
    }
}

impl Future for Wait<'_> {
    /// `Ok` when the caller holds a permit (counted as active) that it must release.
    type Output = Result<(), Rejection>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let inner: &Inner = this.inner;
        let id = match *this.id {
            Some(id) => id,
            None => {
                if inner.config.max_queue == 0 {
                    return Poll::Ready(Err(inner.reject(None)));
                }
                match inner.enqueue(cx.waker()) {
                    Enqueued::Admitted => return Poll::Ready(Ok(())),
                    Enqueued::Rejected => return Poll::Ready(Err(inner.reject(None))),
                    Enqueued::Queued(id) => {
                        *this.id = Some(id);
                        *this.deadline = inner
                            .config
                            .max_wait
                            .and_then(|d| Instant::now().checked_add(d));
                        id
                    }
                }
            }
        };
        let give_up = match *this.deadline {
            Some(at) => poll_sleep_until(this.sleep.as_mut(), at, cx).is_ready(),
            None => false,
        };
        match inner.poll_queued(id, cx.waker(), give_up) {
            Outcome::Waiting => Poll::Pending,
            Outcome::Admitted => {
                *this.id = None;
                Poll::Ready(Ok(()))
            }
            Outcome::Rejected => {
                *this.id = None;
                let waited = if give_up { inner.config.max_wait } else { None };
                Poll::Ready(Err(inner.reject(waited)))
            }
        }
    }
}
