//! Helpers shared by the integration tests (each test file uses a subset).
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rampart::{Error, Rejection, RejectionKind};

pub(crate) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub(crate) fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// The rejection in `res`, if a policy refused or cut the call.
pub(crate) fn rejection<T, E>(res: &Result<T, Error<E>>) -> Option<&Rejection> {
    res.as_ref().err().and_then(Error::rejection)
}

/// The kind of the rejection in `res`, if any.
pub(crate) fn kind<T, E>(res: &Result<T, Error<E>>) -> Option<RejectionKind> {
    rejection(res).map(Rejection::kind)
}

/// Counts live values: `guard()` makes one, dropping it counts it out.
#[derive(Debug, Clone, Default)]
pub(crate) struct LiveCounter(Arc<AtomicU32>);

impl LiveCounter {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// A guard that is counted as live until dropped.
    pub(crate) fn guard(&self) -> Live {
        self.0.fetch_add(1, Ordering::SeqCst);
        Live(Arc::clone(&self.0))
    }

    /// Guards made and not yet dropped.
    pub(crate) fn live(&self) -> u32 {
        self.0.load(Ordering::SeqCst)
    }
}

/// One live value of a [`LiveCounter`].
#[derive(Debug)]
pub(crate) struct Live(Arc<AtomicU32>);

impl Drop for Live {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
