//! rampart keeps a service alive when what it depends on fails or slows down.
//!
//! A [`Pipeline`] wraps calls to one dependency in policies composed outermost first:
//! timeouts that honour a request-wide [`Deadline`](deadline::Deadline), retries with
//! backoff, jitter and a shared budget, hedged attempts, circuit breakers, bulkheads,
//! rate limits, load shedding by priority and adaptive concurrency limits, and fallbacks
//! that say they are degraded. It is built once, cloned freely and called many times; the success path
//! of a pipeline of up to four policies allocates nothing, and no pipeline boxes a future
//! per policy.
//!
//! ```
//! use rampart::{Error, Pipeline};
//! use rampart::retry::{Jitter, RetryConfig};
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), rampart::ConfigError> {
//! let payment = Pipeline::builder("payment")
//!     .retry(RetryConfig::exponential(Duration::from_millis(100)).with_max_attempts(3).with_jitter(Jitter::Full))
//!     .timeout(Duration::from_secs(2))
//!     .build()?;
//!
//! let receipt: Result<u32, Error<&str>> = payment.call(|| async { Ok(42) }).await;
//! assert_eq!(receipt, Ok(42));
//! # Ok(())
//! # }
//! ```

pub mod adaptive;
pub mod bulkhead;
pub mod chaos;
pub mod circuit;
pub mod classify;
pub mod clock;
pub mod config;
pub mod deadline;
pub mod error;
pub mod event;
pub mod fallback;
pub mod flags;
pub mod health;
pub mod hedge;
pub mod keyed;
pub mod pipeline;
pub mod rate_limit;
pub mod registry;
pub mod retry;
pub mod shed;
pub(crate) mod sync;
pub mod telemetry;
pub mod timeout;
#[cfg(feature = "tower")]
pub mod tower;

pub use config::ConfigError;
pub use error::{Error, Rejection, RejectionKind};
pub use pipeline::{Pipeline, PipelineBuilder};
