//! Running an operation through a breaker: acquire, run, classify, record.

use std::fmt;
use std::future::Future;

use super::breaker::CircuitBreaker;
use super::permit::BreakerPermit;
use crate::classify::{Classify, DefaultClassifier};
use crate::error::Error;

impl CircuitBreaker {
    /// Runs `op` if the breaker admits it, and records its outcome (`Err` is a failure).
    ///
    /// # Errors
    ///
    /// [`Error::Rejected`] with [`RejectionKind::CircuitOpen`](crate::RejectionKind)
    /// when the breaker refuses, without running `op`; [`Error::Operation`] with the
    /// operation's own error.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before the operation finishes counts the call for nothing
    /// (a probe gives its slot back).
    pub async fn call<F, Fut, T, E>(&self, op: F) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: fmt::Debug,
    {
        self.call_classified(&DefaultClassifier, op).await
    }

    /// Like [`call`](Self::call), with `classifier` deciding what is a success, a
    /// failure or ignored (e.g. an `Ok` response with status 503 is a failure).
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call).
    ///
    /// # Cancel safety
    ///
    /// As [`call`](Self::call).
    pub async fn call_classified<C, F, Fut, T, E>(
        &self,
        classifier: &C,
        op: F,
    ) -> Result<T, Error<E>>
    where
        C: Classify<T, E> + ?Sized,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: fmt::Debug,
    {
        let permit = self.try_acquire()?;
        let out = op().await;
        self.record_out(permit, classifier, &out);
        out.map_err(Error::Operation)
    }

    /// The blocking form of [`call`](Self::call). A panic in `op` counts the call for
    /// nothing (a probe gives its slot back) and goes on unwinding.
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call).
    pub fn call_blocking<F, T, E>(&self, op: F) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Result<T, E>,
        E: fmt::Debug,
    {
        self.call_blocking_classified(&DefaultClassifier, op)
    }

    /// The blocking form of [`call_classified`](Self::call_classified).
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call).
    pub fn call_blocking_classified<C, F, T, E>(&self, classifier: &C, op: F) -> Result<T, Error<E>>
    where
        C: Classify<T, E> + ?Sized,
        F: FnOnce() -> Result<T, E>,
        E: fmt::Debug,
    {
        let permit = self.try_acquire()?;
        let out = op();
        self.record_out(permit, classifier, &out);
        out.map_err(Error::Operation)
    }

    /// Records `out` as `classifier` classes it, an error with its value.
    fn record_out<C, T, E>(&self, permit: BreakerPermit, classifier: &C, out: &Result<T, E>)
    where
        C: Classify<T, E> + ?Sized,
        E: fmt::Debug,
    {
        let class = classifier.classify(out.as_ref()).class;
        match out {
            Ok(_) => self.record(permit, class),
            Err(e) => self.record_with_error(permit, class, e),
        }
    }
}
