//! Baselines: the cheapest operations a policy could cost, to read the others against.

use crate::harness::{sync_loop, Case};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The baseline cases.
pub const CASES: &[Case] = &[Case::new("baseline_atomic_fetch_add", atomic_fetch_add)];

/// `AtomicU64::fetch_add(1, Relaxed)` on one uncontended counter.
fn atomic_fetch_add(iterations: u64) -> Duration {
    let counter = AtomicU64::new(0);
    sync_loop(iterations, |_| counter.fetch_add(1, Ordering::Relaxed))
}
