//! A circuit breaker stops calling a dependency that keeps failing, fails fast while it
//! is down, and lets a few probe calls through to find out when it is back.
//!
//! # When to use it
//!
//! Around every call to a dependency that can go down for longer than a retry can
//! bridge (a payment API, an inventory service). Without one, retries against a dead
//! service pile on load and hold threads for their full timeout; with one, after a few
//! failures calls are refused in nanoseconds with a [`Rejection`](crate::Rejection) of
//! kind [`CircuitOpen`](crate::RejectionKind::CircuitOpen) whose
//! [`retry_after`](crate::Rejection::retry_after) says when the next probe may go.
//!
//! # How it works
//!
//! Closed, it counts outcomes in a [`Window`]: failures in a row (the seeds' "5
//! failures"), or the failure rate (and, optionally, the slow-call rate) over the last
//! N calls or the last T seconds, once a minimum number of calls is in the window. When
//! the rule trips, it opens for [`open_for`](BreakerConfig::with_open_for) (optionally
//! longer after each consecutive re-open), then goes half-open: the permitted number of
//! probes go through (1 by default, as the seeds advise), the rest are refused; enough
//! successful probes close it, any failed probe re-opens it. An operator can force it
//! open or closed, disable it, run it in metrics-only mode (counts, never refuses), or
//! reset it. What counts as a failure comes from a [`Classify`](crate::classify::Classify)
//! implementation; ignored outcomes count for nothing, and rejections by policies inside
//! the breaker count only when they say the dependency was slow (or stand for it
//! failing: an injected fault)
//! ([`record_rejection`](CircuitBreaker::record_rejection)).
//!
//! # How it composes
//!
//! Use it alone through [`CircuitBreaker::call`] (or [`call_blocking`](CircuitBreaker::call_blocking)),
//! or through [`try_acquire`](CircuitBreaker::try_acquire) and
//! [`record`](CircuitBreaker::record), which is how a pipeline drives it. In a pipeline,
//! put it outside the retry (the default order is bulkhead, circuit breaker, retry,
//! timeout per attempt) so that it counts one failure per request; inside the retry it
//! counts every attempt, and 2 requests of 3 attempts reach a threshold of 5.
//!
//! # Cost
//!
//! The closed-state success path takes no lock: one atomic load of the state word to
//! admit, then for consecutive mode one load (and a store only when ending a run of
//! failures); for a count window, three loads while the window is full of successes
//! (threads sharing a healthy breaker only read), else one `fetch_add` and bit updates
//! only when a bit changes; for a time window one clock read and one `fetch_add`. Only
//! transitions take a mutex; each one starts a new epoch, and records from an older
//! epoch are dropped. A permit from a closed breaker allocates nothing and holds no
//! reference count.
//!
//! The clock read is most of a time window's cost. The [default
//! clock](crate::clock::default_clock) reads the CPU's time-stamp counter (5-15 ns;
//! the system clock costs 20-40 ns on virtual machines), or tokio's clock for a breaker
//! made where time is paused, so that paused-time tests drive it.
//!
//! # Examples
//!
//! ```
//! use rampart::circuit::{BreakerConfig, BreakerState, CircuitBreaker};
//! use rampart::clock::ManualClock;
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! let clock = ManualClock::new();
//! let config = BreakerConfig::consecutive(5).with_open_for(Duration::from_secs(30));
//! let breaker = CircuitBreaker::with_clock("payment", config, Arc::new(clock.clone()))?;
//!
//! for _ in 0..5 {
//!     let _ = breaker.call_blocking(|| Err::<u32, _>("unavailable"));
//! }
//! assert_eq!(breaker.state(), BreakerState::Open);
//!
//! // Refused at once, without running the operation.
//! let err = breaker.call_blocking(|| Ok::<u32, &str>(1)).unwrap_err();
//! let rejection = err.rejection().expect("refused by the breaker");
//! assert!(rejection.is_circuit_open());
//! assert_eq!(rejection.retry_after(), Some(Duration::from_secs(30)));
//!
//! // After the open period one probe goes through; its success closes the breaker.
//! clock.advance(Duration::from_secs(30));
//! assert_eq!(breaker.call_blocking(|| Ok::<u32, &str>(42)), Ok(42));
//! assert_eq!(breaker.state(), BreakerState::Closed);
//! # Ok::<(), rampart::ConfigError>(())
//! ```

mod breaker;
mod buckets;
mod call;
mod config;
pub mod keyed;
mod logic;
mod permit;
mod plan;
mod record;
mod state;
mod transition;
mod window;

#[cfg(all(test, rampart_loom))]
mod loom_tests;

pub use self::breaker::CircuitBreaker;
pub use self::config::{
    BreakerConfig, OpenBackoff, SlowCalls, Window, MAX_BUCKETS, MAX_PROBES, MAX_WINDOW_SIZE,
};
pub use self::permit::BreakerPermit;
pub use self::state::{BreakerSnapshot, BreakerState};
