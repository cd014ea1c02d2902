//! The synchronisation primitives that shared state is built from: the standard
//! library's normally, loom's under `RUSTFLAGS="--cfg rampart_loom"`, so that loom
//! models (the `loom_tests` modules beside the code) explore every interleaving of the
//! real code.
//!
//! The cfg is our own rather than `loom`, because `--cfg loom` also switches tokio into
//! its loom mode. Only what is built from these names is modelled: code that takes its
//! primitives from `std::sync` directly stays as it is under the cfg.
//!
//! Normal builds get exactly the standard types; [`lock`] is the one addition, an
//! inlined `lock()` that recovers the guard from a poisoned mutex.

#[cfg(not(rampart_loom))]
pub(crate) use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc, Mutex, MutexGuard, PoisonError,
};

#[cfg(rampart_loom)]
pub(crate) use loom::sync::{
    atomic::{AtomicU64, Ordering},
    Arc, Mutex, MutexGuard,
};
// loom's `Mutex::lock` returns the standard `LockResult`, so the error is std's.
#[cfg(rampart_loom)]
pub(crate) use std::sync::PoisonError;

/// Locks `mutex`, taking the guard even when a panic elsewhere poisoned it: callers use
/// this only for state that every update leaves consistent.
#[inline]
pub(crate) fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Explores the interleavings of `model` with at most two preemptions per execution:
/// the bound every loom model of the crate runs at.
#[cfg(all(test, rampart_loom))]
pub(crate) fn check_model(model: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(2);
    builder.check(model);
}
