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
//! | [`TimeoutLayer`] | [`timeout`](crate::timeout::timeout), readiness included, clamped to the deadline in force | `Timeout` / `DeadlineExceeded` |
//!
//! # Defaults
//!
//! | Setting | Default |
//! |---|---|
//! | classifier of [`PipelineLayer`] and [`CircuitBreakerLayer`] | [`DefaultClassifier`](crate::classify::DefaultClassifier): every `Err` is a (retryable) failure |
//! | priority of [`LoadShedLayer`] | [`ScopedPriority`]: the task's [`shed::scope`](crate::shed::scope), else `Normal` |
//!
//! The pipeline layer needs `Req: Clone`, since each attempt (retry or hedge) sends its
//! own copy (an `http::Request` whose body is not `Clone` gets a replayable body from
//! the HTTP integration); its response future is boxed once per request. An error of
//! the inner service's `poll_ready` is that attempt's error, and a breaker counts it as
//! the classifier says. The per-policy layers need
//! only `S: Clone` and allocate nothing when they admit at once (a bulkhead boxes the
//! wait when a request has to queue).
//!
//! [`RampartServiceBuilderExt`] adds the layers to a `ServiceBuilder` as `.pipeline(p)`,
//! `.bulkhead(b)`, `.rate_limiter(l)`, `.circuit_breaker(b)`, `.load_shedder(s)` and
//! `.time_limit(t)` (named so that tower's own `rate_limit`, `load_shed` and `timeout`
//! cannot shadow them).
//!
//! Errors of stacked layers nest, one [`Error`](crate::Error) level per rampart layer;
//! `ServiceBuilder::map_err(Error::flatten)` on top merges them into one
//! ([`Error::flatten`](crate::Error::flatten)). Policies inside one pipeline never nest.
//!
//! # Examples
//!
//! A client-side stack: a rate limit around a pipeline (bulkhead, retries, a timeout
//! per attempt), with one error level.
//!
//! ```
//! use rampart::rate_limit::{RateLimitConfig, RateLimiter};
//! use rampart::bulkhead::BulkheadConfig;
//! use rampart::retry::{Jitter, RetryConfig};
//! use rampart::tower::RampartServiceBuilderExt;
//! use rampart::{Error, Pipeline, RejectionKind};
//! use std::time::Duration;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), rampart::ConfigError> {
//! let payment = Pipeline::builder("payment")
//!     .bulkhead(BulkheadConfig::new().with_max_concurrent(10))
//!     .retry(RetryConfig::exponential(Duration::from_millis(100)).with_max_attempts(3).with_jitter(Jitter::None))
//!     .timeout(Duration::from_secs(1))
//!     .build()?;
//! let limiter = RateLimiter::new("payment", RateLimitConfig::per_second(2))?;
//!
//! let svc = ServiceBuilder::new()
//!     .map_err(Error::flatten)
//!     .rate_limiter(limiter)
//!     .pipeline(payment)
//!     .service(service_fn(|amount: u32| async move {
//!         if amount > 0 { Ok(amount) } else { Err("declined") }
//!     }));
//!
//! assert_eq!(svc.clone().oneshot(42).await, Ok(42));
//! // Three attempts 100 and 200 ms apart (one token: the limit counts requests, not
//! // attempts), then the operation's own error, typed.
//! assert_eq!(svc.clone().oneshot(0).await, Err(Error::Operation("declined")));
//! // The bucket is empty: the response future says so, and when to come back (a
//! // token every 500 ms, 300 ms of which the retries spent waiting).
//! let Err(Error::Rejected(r)) = svc.oneshot(1).await else { panic!("expected a refusal") };
//! assert_eq!(r.kind(), RejectionKind::RateLimited);
//! assert_eq!(r.retry_after(), Some(Duration::from_millis(200)));
//! # Ok(())
//! # }
//! ```
//!
//! Refusals come from the response future, never from `poll_ready`:
//!
//! ```
//! use rampart::circuit::{BreakerConfig, CircuitBreaker};
//! use rampart::tower::CircuitBreakerLayer;
//! use rampart::{Error, RejectionKind};
//! use tower::{service_fn, Layer, Service, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), rampart::ConfigError> {
//! let breaker = CircuitBreaker::new("search", BreakerConfig::consecutive(1))?;
//! let mut svc = CircuitBreakerLayer::new(breaker)
//!     .layer(service_fn(|q: &'static str| async move { Err::<usize, _>(q) }));
//!
//! assert_eq!(svc.ready().await.expect("always ready").call("down").await, Err(Error::Operation("down")));
//! // Open now, and still ready: the refusal is the response.
//! let refused = svc.ready().await.expect("always ready").call("again").await;
//! let Err(Error::Rejected(r)) = refused else { panic!("expected a refusal") };
//! assert_eq!(r.kind(), RejectionKind::CircuitOpen);
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
mod timeout;

pub use self::builder::RampartServiceBuilderExt;
pub use self::bulkhead::{BulkheadFuture, BulkheadLayer, BulkheadService};
pub use self::circuit::{CircuitBreakerFuture, CircuitBreakerLayer, CircuitBreakerService};
pub use self::pipeline::{PipelineFuture, PipelineLayer, PipelineService};
pub use self::rate_limit::{RateLimitFuture, RateLimitLayer, RateLimitService};
pub use self::shed::{LoadShedFuture, LoadShedLayer, LoadShedService, PriorityOf, ScopedPriority};
pub use self::timeout::{TimeoutFuture, TimeoutLayer, TimeoutService};
