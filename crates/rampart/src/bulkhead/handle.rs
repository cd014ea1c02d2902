//! The async bulkhead's handle: the method grid (`try_acquire`, `acquire`, `call`) over
//! the shared core.

use std::fmt;
use std::future::Future;

use super::config::BulkheadConfig;
use super::core::Inner;
use super::permit::{BulkheadPermit, BulkheadPermitRef};
use super::snapshot::BulkheadSnapshot;
use super::wait::Wait;
use crate::config::ConfigError;
use crate::error::{Error, Rejection};
use crate::event::Listener;
use crate::sync::Arc;

/// Limits how many calls to a dependency run at once.
///
/// Cheap to clone; clones share the permits. `Send + Sync`. See the [module
/// docs](super) for the semantics and an example.
#[derive(Clone)]
pub struct Bulkhead {
    inner: Arc<Inner>,
}

impl Bulkhead {
    /// A bulkhead named `name` (the pipeline's name, used in rejections and events).
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] of [`BulkheadConfig::validate`].
    pub fn new(name: &str, config: BulkheadConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Bulkhead {
            inner: Arc::new(Inner::new(name, config)),
        })
    }

    /// Reports rejections to `listener` as
    /// [`EventKind::BulkheadRejected`](crate::event::EventKind::BulkheadRejected).
    ///
    /// Call it right after construction. On a bulkhead that already has clones (or
    /// permits out) it still takes effect for all of them, but only if no listener was
    /// set before.
    pub fn with_listener(self, listener: std::sync::Arc<dyn Listener>) -> Self {
        let _ = self.inner.listener.set(listener);
        self
    }

    /// The name given at construction.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The settings it was built with.
    pub fn config(&self) -> &BulkheadConfig {
        &self.inner.config
    }

    /// Takes a permit if one is free now; never waits, never locks.
    ///
    /// While calls wait in the queue, it rejects even if a permit is being handed over:
    /// a newcomer never overtakes a queued call.
    ///
    /// # Errors
    ///
    /// A [`Rejection`] of kind [`BulkheadFull`](crate::RejectionKind::BulkheadFull) by
    /// policy `"bulkhead"` when all permits are taken or the bulkhead is closed.
    #[inline]
    pub fn try_acquire(&self) -> Result<BulkheadPermit, Rejection> {
        self.try_take_permit().ok_or_else(|| self.rejection())
    }

    /// Takes a permit, waiting in the queue when one is configured and all permits are
    /// taken.
    ///
    /// # Errors
    ///
    /// A [`Rejection`] of kind [`BulkheadFull`](crate::RejectionKind::BulkheadFull): at
    /// once when the bulkhead is full and has no queue, when the queue is full, or when
    /// the bulkhead is closed; after [`max_wait`](BulkheadConfig::with_max_wait) when no
    /// permit came in time.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future gives up its place in the queue; a permit handed to it in
    /// the meantime goes on to the next waiter. Nothing leaks.
    pub async fn acquire(&self) -> Result<BulkheadPermit, Rejection> {
        self.admit().await?;
        Ok(BulkheadPermit::new(Arc::clone(&self.inner)))
    }

    /// Like [`try_acquire`](Self::try_acquire), with a permit that borrows the bulkhead
    /// (no reference count).
    ///
    /// # Errors
    ///
    /// As [`try_acquire`](Self::try_acquire).
    #[inline]
    pub fn try_acquire_ref(&self) -> Result<BulkheadPermitRef<'_>, Rejection> {
        if self.inner.try_take() {
            Ok(BulkheadPermitRef::new(&self.inner))
        } else {
            Err(self.inner.reject(None))
        }
    }

    /// Like [`acquire`](Self::acquire), with a permit that borrows the bulkhead.
    ///
    /// # Errors
    ///
    /// As [`acquire`](Self::acquire).
    ///
    /// # Cancel safety
    ///
    /// As [`acquire`](Self::acquire).
    pub async fn acquire_ref(&self) -> Result<BulkheadPermitRef<'_>, Rejection> {
        self.admit().await?;
        Ok(BulkheadPermitRef::new(&self.inner))
    }

    /// Runs `op` holding a permit, which is given back when it finishes, fails, panics
    /// or is dropped.
    ///
    /// # Errors
    ///
    /// [`Error::Rejected`] as [`acquire`](Self::acquire), without running `op`;
    /// [`Error::Operation`] with the operation's own error.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future while it waits leaves the queue; dropping it while `op` runs
    /// drops `op`'s future and gives the permit back (to the first waiter, if any).
    pub async fn call<F, Fut, T, E>(&self, op: F) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let _permit = self.acquire_ref().await?;
        op().await.map_err(Error::Operation)
    }

    /// Refuses every call from now on and turns away the calls in the queue. Permits
    /// already out stay valid and are given back as usual. A closed bulkhead stays
    /// closed.
    pub fn close(&self) {
        self.inner.close();
    }

    /// The bulkhead's figures now; changes nothing.
    pub fn snapshot(&self) -> BulkheadSnapshot {
        self.inner.snapshot()
    }

    /// A permit if one is free now, counting no rejection: the pipeline then waits in
    /// the queue or rejects through [`rejection`](Self::rejection).
    #[inline]
    pub(crate) fn try_take_permit(&self) -> Option<BulkheadPermit> {
        self.inner
            .try_take()
            .then(|| BulkheadPermit::new(Arc::clone(&self.inner)))
    }

    /// A slot borrowing this bulkhead if one is free now, or `None` (no event, no
    /// count: the caller decides whether to queue or reject). No reference count is
    /// touched, unlike [`try_take_permit`](Self::try_take_permit).
    #[inline]
    pub(crate) fn try_take_ref(&self) -> Option<BulkheadPermitRef<'_>> {
        self.inner
            .try_take()
            .then(|| BulkheadPermitRef::new(&self.inner))
    }

    /// Whether calls may wait for a permit.
    #[inline]
    pub(crate) fn queues(&self) -> bool {
        self.inner.config.max_queue > 0
    }

    /// Counts and reports a rejection of a call that found the bulkhead full.
    #[cold]
    pub(crate) fn rejection(&self) -> Rejection {
        self.inner.reject(None)
    }

    /// A permit counted as active, or the rejection: the lock-free fast path inline, the
    /// queue only when it fails.
    #[inline]
    async fn admit(&self) -> Result<(), Rejection> {
        if self.inner.try_take() {
            return Ok(());
        }
        Wait::new(&self.inner).await
    }
}

impl fmt::Debug for Bulkhead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}
