//! Tower layers: a whole [`Pipeline`](crate::Pipeline), or one policy, around any
//! [`Service`](tower::Service) (feature `tower`).
//!
//! Most servers and HTTP clients in Rust are tower services; these layers put rampart's
//! policies around them with tower's conventions:
//!
//! - **Refusals come from `call`.** Every service here is always ready: `poll_ready`
//!   returns `Ready(Ok(()))` and takes nothing, so a connection that has sent no request
//!   holds no permit, slot or token. A refused request's response future resolves to
//!   [`Error::Rejected`](crate::Error::Rejected), which says which policy refused, why,
//!   and when to come back. The inner service is made ready inside the response future,
//!   on the instance taken with tower's `mem::replace` idiom (a clone stays behind).
//! - **What a request holds, its response future holds.** A bulkhead permit, a load
//!   shedder's in-flight count or a breaker's probe slot is taken in `call` and given
//!   back when the response future completes, fails, panics or is dropped.
//! - **Errors stay typed.** Every service's error is [`Error<E>`](crate::Error) over the
//!   inner service's error `E`, never a boxed error.
//! - **Clones share state.** A service is cheap to clone and its clones share the
//!   policy (a breaker opened through one clone refuses on all), as tower requires of
//!   services that are cloned per connection.
//!
//! | Layer | Policy | Refusal |
//! |---|---|---|
//! | [`PipelineLayer`] | a whole [`Pipeline`](crate::Pipeline): retries resend a clone of the request | any of the pipeline's |
//! | [`BulkheadLayer`] | [`Bulkhead`](crate::bulkhead::Bulkhead), waiting in its queue if it has one | `BulkheadFull` |
//! | [`RateLimitLayer`] | [`RateLimiter`](crate::rate_limit::RateLimiter), one token per request, never waits | `RateLimited` with `retry_after` |
//! | [`CircuitBreakerLayer`] | [`CircuitBreaker`](crate::circuit::CircuitBreaker), outcomes through a [`Classify`](crate::classify::Classify) | `CircuitOpen` |
//! | [`LoadShedLayer`] | [`LoadShedder`](crate::shed::LoadShedder), priority from the task's scope or the request | `Shed` |
//!
//! # Defaults
//!
//! | Setting | Default |
//! |---|---|
//! | classifier of [`PipelineLayer`] and [`CircuitBreakerLayer`] | [`DefaultClassifier`](crate::classify::DefaultClassifier): every `Err` is a (retryable) failure |
//! | priority of [`LoadShedLayer`] | [`ScopedPriority`]: the task's [`shed::scope`](crate::shed::scope), else `Normal` |
//!
//! The pipeline layer needs `Req: Clone`, since each attempt (retry or hedge) sends its
//! own copy; its response future is boxed once per request. The per-policy layers need
//! only `S: Clone` and allocate nothing when they admit at once (a bulkhead boxes the
//! wait when a request has to queue).
//!
//! # Examples
//!
//! ```
//! use rampart::bulkhead::{Bulkhead, BulkheadConfig};
//! use rampart::retry::{Jitter, RetryConfig};
//! use rampart::tower::RampartServiceBuilderExt;
//! use rampart::{Error, Pipeline, RejectionKind};
//! use std::time::Duration;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), rampart::ConfigError> {
//! let payment = Pipeline::builder("payment")
//!     .retry(RetryConfig::exponential(Duration::from_millis(100)).with_max_attempts(3).with_jitter(Jitter::None))
//!     .timeout(Duration::from_secs(1))
//!     .build()?;
//! let bulkhead = Bulkhead::new("payment", BulkheadConfig::new().with_max_concurrent(10))?;
//!
//! let svc = ServiceBuilder::new()
//!     .bulkhead(bulkhead)
//!     .pipeline(payment)
//!     .service(service_fn(|amount: u32| async move {
//!         if amount > 0 { Ok(amount) } else { Err("declined") }
//!     }));
//!
//! assert_eq!(svc.clone().oneshot(42).await, Ok(42));
//! // Three attempts, then the operation's own error, typed; the bulkhead layer adds
//! // its own `Error` level around the pipeline's.
//! let declined = svc.oneshot(0).await;
//! assert!(matches!(declined, Err(Error::Operation(Error::Operation("declined")))));
//! # Ok(())
//! # }
//! ```
//!
//! Refusals come from the response future:
//!
//! ```
//! use rampart::rate_limit::{RateLimitConfig, RateLimiter};
//! use rampart::tower::RateLimitLayer;
//! use rampart::{Error, RejectionKind};
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), rampart::ConfigError> {
//! let limiter = RateLimiter::new("search", RateLimitConfig::per_second(1))?;
//! let svc = RateLimitLayer::new(limiter)
//!     .layer(service_fn(|q: &'static str| async move { Ok::<_, ()>(q.len()) }));
//!
//! assert_eq!(svc.clone().oneshot("rust").await, Ok(4));
//! let refused = svc.clone().ready().await.expect("always ready").call("tower").await;
//! let Err(Error::Rejected(r)) = refused else { panic!("expected a refusal") };
//! assert_eq!(r.kind(), RejectionKind::RateLimited);
//! assert!(r.retry_after().is_some());
//! # Ok(())
//! # }
//! ```

mod admit;
mod builder;
mod bulkhead;
mod circuit;
mod pipeline;
mod rate_limit;
mod shed;

pub use self::builder::RampartServiceBuilderExt;
pub use self::bulkhead::{BulkheadFuture, BulkheadLayer, BulkheadService};
pub use self::circuit::{CircuitBreakerFuture, CircuitBreakerLayer, CircuitBreakerService};
pub use self::pipeline::{PipelineFuture, PipelineLayer, PipelineService};
pub use self::rate_limit::{RateLimitFuture, RateLimitLayer, RateLimitService};
pub use self::shed::{LoadShedFuture, LoadShedLayer, LoadShedService, PriorityOf, ScopedPriority};
