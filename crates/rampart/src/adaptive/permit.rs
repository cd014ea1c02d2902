//! The guard a call holds while it runs, which reports its latency and outcome.

use std::fmt;
use std::sync::Arc;

use super::limiter::Inner;

/// One call admitted by an [`AdaptiveLimiter`](super::AdaptiveLimiter).
///
/// Report how it went with [`success`](Self::success) or [`dropped`](Self::dropped):
/// the limiter measures the latency from the permit's issue to that moment and feeds
/// the algorithm. Dropped without either (an error that says nothing about load, a
/// panic, a cancelled future), it gives its slot back and counts as ignored.
#[must_use = "report the outcome with success() or dropped(), or the call counts as ignored"]
pub struct AdaptivePermit<'a> {
    holder: Holder<'a>,
    start: u64,
    in_flight: u64,
    finished: bool,
}

/// A permit borrows its limiter, or (from `try_acquire_owned`) holds a reference.
pub(super) enum Holder<'a> {
    Borrowed(&'a Inner),
    Owned(Arc<Inner>),
}

impl<'a> AdaptivePermit<'a> {
    pub(super) fn new(holder: Holder<'a>, start: u64, in_flight: u64) -> Self {
        AdaptivePermit {
            holder,
            start,
            in_flight,
            finished: false,
        }
    }

    fn finish(mut self, dropped: Option<bool>) {
        self.finished = true;
        let inner: &Inner = match &self.holder {
            Holder::Borrowed(i) => i,
            Holder::Owned(i) => i,
        };
        inner.finish(self.start, self.in_flight, dropped);
    }

    /// The call succeeded: its latency counts toward the limit.
    pub fn success(self) {
        self.finish(Some(false));
    }

    /// The call was dropped, timed out or refused downstream for overload: the limit
    /// backs off.
    pub fn dropped(self) {
        self.finish(Some(true));
    }

    /// The call's outcome says nothing about load (the same as dropping the permit).
    pub fn ignore(self) {
        self.finish(None);
    }

    /// Calls in flight when this permit was issued, itself included.
    pub fn in_flight_at_start(&self) -> u64 {
        self.in_flight
    }
}

impl Drop for AdaptivePermit<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.finished = true;
            match &self.holder {
                Holder::Borrowed(i) => i.finish(self.start, self.in_flight, None),
                Holder::Owned(i) => i.finish(self.start, self.in_flight, None),
            }
        }
    }
}

impl fmt::Debug for AdaptivePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptivePermit")
            .field("in_flight_at_start", &self.in_flight)
            .finish_non_exhaustive()
    }
}
