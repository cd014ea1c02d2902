//! The guard that counts an admitted request in flight until it is dropped.

use std::fmt;
use std::sync::Arc;

use super::shedder::Inner;
use crate::sync::Ordering;

/// An admitted request, counted in flight by its [`LoadShedder`](super::LoadShedder)
/// until this permit is dropped: on success, error, panic and cancellation alike.
#[must_use = "the request counts in flight only while the permit is held"]
pub struct ShedPermit<'a> {
    pub(super) holder: Holder<'a>,
}

/// A permit borrows its shedder, or (from `try_acquire_owned`) holds a reference.
pub(super) enum Holder<'a> {
    Borrowed(&'a Inner),
    Owned(Arc<Inner>),
}

impl ShedPermit<'_> {
    fn inner(&self) -> &Inner {
        match &self.holder {
            Holder::Borrowed(i) => i,
            Holder::Owned(i) => i,
        }
    }
}

impl Drop for ShedPermit<'_> {
    #[inline]
    fn drop(&mut self) {
        self.inner().in_flight.fetch_sub(1, Ordering::Release);
    }
}

impl fmt::Debug for ShedPermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShedPermit")
            .field("owned", &matches!(self.holder, Holder::Owned(_)))
            .finish()
    }
}
