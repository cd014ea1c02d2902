//! tokio: a bare ready future, and `tokio::time::timeout` around one.

use crate::harness::{async_loop, Case};
use std::future::ready;
use std::time::Duration;

/// The tokio cases.
pub const CASES: &[Case] = &[
    Case::new("tokio_bare_ready_future", bare_ready_future),
    Case::new("tokio_time_timeout_ready_1s", time_timeout_ready_1s),
];

/// Awaiting `std::future::ready(x)`: the cost of the loop and an await, no policy.
fn bare_ready_future(iterations: u64) -> Duration {
    async_loop(iterations, ready)
}

/// `tokio::time::timeout(1s, ready(x)).await`: reads the clock and builds a `Sleep`
/// that is never registered, because the inner future is ready at the first poll.
fn time_timeout_ready_1s(iterations: u64) -> Duration {
    async_loop(iterations, |x| {
        ::tokio::time::timeout(Duration::from_secs(1), ready(x))
    })
}
