//! The permits a bulkhead hands out: RAII guards released on drop, whatever ends the
//! call (success, error, panic or cancellation).

use std::fmt;

use super::core::Inner;
use crate::sync::Arc;

/// Permission to run one call in a [`Bulkhead`](super::Bulkhead), given back when
/// dropped.
///
/// Owned and `'static`: it can move to another task or thread and outlive the handle
/// it came from. Dropping it hands the permit to the first queued call, if any.
#[must_use = "the permit is given back as soon as it is dropped"]
pub struct BulkheadPermit {
    inner: Arc<Inner>,
}

impl BulkheadPermit {
    /// Wraps a permit already counted as active.
    pub(super) fn new(inner: Arc<Inner>) -> Self {
        BulkheadPermit { inner }
    }
}

impl Drop for BulkheadPermit {
    #[inline]
    fn drop(&mut self) {
        self.inner.release();
    }
}

impl fmt::Debug for BulkheadPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkheadPermit")
            .field("bulkhead", &self.inner.name)
            .finish()
    }
}

/// A permit that borrows its [`Bulkhead`](super::Bulkhead): the same guarantees as
/// [`BulkheadPermit`] without a reference count, for a call that ends before the
/// handle is dropped (what [`Bulkhead::call`](super::Bulkhead::call) uses).
#[must_use = "the permit is given back as soon as it is dropped"]
pub struct BulkheadPermitRef<'a> {
    inner: &'a Inner,
}

impl<'a> BulkheadPermitRef<'a> {
    /// Wraps a permit already counted as active.
    pub(super) fn new(inner: &'a Inner) -> Self {
        BulkheadPermitRef { inner }
    }

    /// What gives this permit's slot back, for a holder that forgets the permit where it
    /// lies instead of moving it out to drop it (moved, it is copied on the way).
    pub(crate) fn giver(&self) -> SlotGiver<'a> {
        SlotGiver { inner: self.inner }
    }
}

/// Gives back the slot of a [`BulkheadPermitRef`] that was forgotten: see
/// [`BulkheadPermitRef::giver`].
#[must_use = "the slot is given back only by `give_back`"]
pub(crate) struct SlotGiver<'a> {
    inner: &'a Inner,
}

impl SlotGiver<'_> {
    /// Gives the slot back, to the first queued call if any. Call it once, after the
    /// permit it came from was forgotten.
    #[inline(always)]
    pub(crate) fn give_back(self) {
        self.inner.release();
    }
}

impl Drop for BulkheadPermitRef<'_> {
    #[inline]
    fn drop(&mut self) {
        self.inner.release();
    }
}

impl fmt::Debug for BulkheadPermitRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkheadPermitRef")
            .field("bulkhead", &self.inner.name)
            .finish()
    }
}
