//! backon: `Retryable::retry` with an exponential backoff.

use crate::harness::{async_loop, Case};
use backon::{ExponentialBuilder, Retryable};
use std::convert::Infallible;
use std::future::ready;
use std::time::Duration;

/// The backon cases.
pub const CASES: &[Case] = &[Case::new("backon_retry_ok", retry_ok)];

/// An operation that succeeds at once, retried with backon's exponential backoff set up
/// like rampart's case: 100 ms base delay, 3 attempts (backon counts 2 retries).
fn retry_ok(iterations: u64) -> Duration {
    let backoff = ExponentialBuilder::new()
        .with_min_delay(Duration::from_millis(100))
        .with_max_times(2);
    async_loop(iterations, move |x| {
        (move || ready(Ok::<u64, Infallible>(x))).retry(backoff)
    })
}
