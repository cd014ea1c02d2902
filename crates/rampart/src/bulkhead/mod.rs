//! Bulkheads cap how many calls to one dependency run at once, so that a slow
//! dependency can hold only its own share of tasks or threads, never everyone's.
//!
//! # When to use them
//!
//! One bulkhead per dependency, sized from its normal traffic (the seeds: payment 40,
//! email 20, search 40 out of 100). When the email service hangs, only email's 20 calls
//! hang; payment and search keep their capacity. A full bulkhead fails fast with a
//! [`Rejection`](crate::Rejection) of kind
//! [`BulkheadFull`](crate::RejectionKind::BulkheadFull), which a fallback can answer
//! ("queue for later").
//!
//! - [`Bulkhead`] limits concurrent async calls with permits. By default a full
//!   bulkhead rejects at once (the seeds: "reject, don't queue"); optionally calls wait
//!   in a bounded first-in, first-out queue for at most a maximum wait.
//! - [`BlockingBulkhead`] runs blocking work on a thread pool of its own (core and
//!   maximum size, bounded queue, idle threads above the core retire), so a hung
//!   blocking dependency takes its own threads and nothing else: not the async runtime,
//!   not the other pools.
//!
//! # How it composes
//!
//! The bulkhead is the outermost policy of a dependency's pipeline (bulkhead, circuit
//! breaker, retry, timeout per attempt), so that a request holds one permit across all
//! its attempts, and a rejected request costs nothing downstream. Use it alone through
//! [`Bulkhead::call`], or hold a permit yourself: [`try_acquire`](Bulkhead::try_acquire)
//! never waits, [`acquire`](Bulkhead::acquire) waits in the queue when there is one.
//! Permits are guards: success, error, panic and cancellation all give them back.
//!
//! # Cost
//!
//! Without waiters, taking a permit is one compare-and-swap on an atomic word and giving
//! it back one `fetch_sub`: no lock, no allocation, and no reference count for
//! [`call`](Bulkhead::call) and the borrowing permits. The queue is a mutex-guarded list
//! touched only when calls wait, and then a release hands its permit straight to the
//! first waiter, so no newcomer overtakes the queue.
//!
//! # Defaults
//!
//! | setting | default |
//! |---|---|
//! | [`BulkheadConfig::max_concurrent`] | 10 |
//! | [`BulkheadConfig::max_queue`] | 0 (reject at once) |
//! | [`BulkheadConfig::max_wait`] | none (with a queue: wait until a permit frees) |
//! | [`BlockingBulkheadConfig::max_threads`] | 10 |
//! | [`BlockingBulkheadConfig::core_threads`] | the maximum (a fixed pool, started on demand) |
//! | [`BlockingBulkheadConfig::queue_capacity`] | 0 (reject when every thread is busy) |
//! | [`BlockingBulkheadConfig::keep_alive`] | 60 s |
//!
//! # Examples
//!
//! ```
//! use rampart::bulkhead::{Bulkhead, BulkheadConfig};
//! use rampart::{Error, RejectionKind};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), rampart::ConfigError> {
//! let payment = Bulkhead::new("payment", BulkheadConfig::new().with_max_concurrent(2))?;
//!
//! let receipt: Result<u32, Error<&str>> = payment.call(|| async { Ok(42) }).await;
//! assert_eq!(receipt, Ok(42));
//!
//! // Two calls in flight fill it; a third is refused at once.
//! let a = payment.try_acquire().expect("free");
//! let b = payment.try_acquire().expect("free");
//! let refused = payment.call(|| async { Ok::<u32, &str>(1) }).await.unwrap_err();
//! assert_eq!(refused.rejection().map(|r| r.kind()), Some(RejectionKind::BulkheadFull));
//! assert_eq!((payment.snapshot().active, payment.snapshot().rejected), (2, 1));
//!
//! drop((a, b));
//! assert_eq!(payment.snapshot().active, 0);
//! # Ok(())
//! # }
//! ```

mod blocking;
mod config;
mod core;
mod handle;
mod permit;
mod queue;
mod snapshot;
mod wait;

#[cfg(all(test, rampart_loom))]
mod loom_tests;

pub use self::blocking::{
    BlockingBulkhead, BlockingBulkheadConfig, JobHandle, JobPanicked, MAX_THREADS,
};
pub use self::config::{BulkheadConfig, MAX_CONCURRENT};
pub use self::handle::Bulkhead;
pub use self::permit::{BulkheadPermit, BulkheadPermitRef};
pub use self::snapshot::{BlockingSnapshot, BulkheadSnapshot};
