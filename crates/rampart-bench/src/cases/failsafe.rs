//! failsafe: its default breaker, called synchronously, alone and shared by two threads.
//!
//! `failsafe::Config::new().build()` is a success rate over a time window or-else
//! consecutive failures; each call takes the breaker's mutex and reads the clock.

use crate::harness::{contended_loop_2t, sync_loop, Case};
use failsafe::CircuitBreaker;
use std::convert::Infallible;
use std::time::Duration;

/// The failsafe cases.
pub const CASES: &[Case] = &[
    Case::new("failsafe_call_ok", call_ok),
    Case::new("contended_failsafe_call_ok_2t", contended_call_ok_2t),
];

/// `CircuitBreaker::call` with a function that succeeds at once, one thread.
fn call_ok(iterations: u64) -> Duration {
    let breaker = failsafe::Config::new().build();
    sync_loop(iterations, |x| breaker.call(|| Ok::<u64, Infallible>(x)))
}

/// The same call on one breaker shared by two threads; ns per op per thread.
fn contended_call_ok_2t(iterations: u64) -> Duration {
    let breaker = failsafe::Config::new().build();
    contended_loop_2t(iterations, &breaker, |breaker, x| {
        breaker.call(|| Ok::<u64, Infallible>(x))
    })
}
