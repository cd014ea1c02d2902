//! The attempts of one request in flight: a request that is unsafe to send twice (not
//! idempotent and without a key, or a body that cannot be sent again) never has two
//! attempts in flight at once, so its hedge waits for the first attempt to end instead
//! of running beside it. Shared by the reqwest middleware and the tower layer.

use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::Notify;

/// The attempts of one request in flight, and a signal when one ends.
#[derive(Default)]
pub(crate) struct InFlight {
    count: AtomicUsize,
    ended: Notify,
}

impl InFlight {
    /// Counts one more attempt in flight. An `exclusive` one waits until no other is
    /// in flight (then it is a retry, not a hedge running beside another attempt).
    pub(crate) async fn start(&self, exclusive: bool) -> Running<'_> {
        if !exclusive {
            self.count.fetch_add(1, Ordering::AcqRel);
            return Running(self);
        }
        loop {
            let ended = self.ended.notified();
            let mut ended = std::pin::pin!(ended);
            // Registered before the check, so an end in between is not missed.
            ended.as_mut().enable();
            if self
                .count
                .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return Running(self);
            }
            ended.await;
        }
    }
}

/// One attempt in flight, until dropped.
pub(crate) struct Running<'a>(&'a InFlight);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.count.fetch_sub(1, Ordering::AcqRel);
        self.0.ended.notify_waiters();
    }
}
