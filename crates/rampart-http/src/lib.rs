//! HTTP semantics for rampart: what a status means, when a request may be retried, and
//! what the server's `Retry-After` and rate-limit headers say.
//!
//! This crate holds pure functions and types with no client or server attached, so they
//! are tested with plain values:
//!
//! | module | what |
//! |---|---|
//! | [`classify`] | [`HttpClassifier`]: retry 408, 429, 500, 502, 503, 504 and connection errors; ignore other 4xx; idempotent methods or an `Idempotency-Key` |
//! | [`retry_after`] | [`RetryAfter`]: parse and write `Retry-After` (seconds and the three HTTP-date forms), clamped by a [`RetryAfterPolicy`] |
//! | [`rate_limit_headers`] | [`RateLimitInfo`]: parse and write `X-RateLimit-*` and the IETF `RateLimit` / `RateLimit-Policy` fields; [`retry_hint`] |
//! | `client` (feature `reqwest`) | `RampartMiddleware`: a reqwest-middleware middleware that runs requests through pipelines; `client_builder` and `ClientTimeouts`: per-dependency timeouts and pool from the registry |
//! | `server` (feature `server`) | tower middleware for servers: idempotency keys (`Idempotency-Key` runs a request once, replays its response), rate limits by caller (429), load shedding by route (503); health and metrics routes (feature `axum`) |
//! | [`attempt`] | [`RAMPART_ATTEMPT`](attempt::RAMPART_ATTEMPT), the attempt-number header every client integration sends, and [`NotReplayable`](attempt::NotReplayable) |
//! | [`replay`] | [`ReplayableBody`]: records a request body up to a cap (64 KiB) so retries and hedges resend it |
//! | `tower` (feature `tower`) | `HttpPipelineLayer`: `http::Request`s through a pipeline, replayable bodies, attempt header |
//!
//! # Quick start
//!
//! A pipeline whose retries and breaker judge HTTP responses by their status, wait as
//! long as a 503's `Retry-After` says, and never repeat a request that is unsafe to send
//! twice:
//!
//! ```
//! use http::{Request, Response};
//! use rampart::Pipeline;
//! use rampart::retry::RetryConfig;
//! use rampart_http::classify::HttpClassifier;
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), rampart::ConfigError> {
//! let orders = Pipeline::builder("orders")
//!     .retry(RetryConfig::exponential(Duration::from_millis(100)).with_max_attempts(3))
//!     .build()?;
//! let classifier: HttpClassifier<std::io::Error> = HttpClassifier::default();
//!
//! // A server that is busy once, then answers.
//! let calls = AtomicU32::new(0);
//! let server = || async {
//!     let response = match calls.fetch_add(1, Ordering::Relaxed) {
//!         0 => Response::builder().status(503).header("retry-after", "2").body("busy"),
//!         _ => Response::builder().status(200).body("order 7"),
//!     };
//!     Ok::<_, std::io::Error>(response.unwrap())
//! };
//!
//! // GET is idempotent: retried after the 2 s the server asked for.
//! let (get, ()) = Request::get("/orders/7").body(()).unwrap().into_parts();
//! let started = tokio::time::Instant::now();
//! let response = orders.call_classified(classifier.for_request(&get), server).await.unwrap();
//! assert_eq!(response.into_body(), "order 7");
//! assert_eq!(started.elapsed(), Duration::from_secs(2));
//!
//! // POST without an Idempotency-Key: the 503 is returned, not retried.
//! calls.store(0, Ordering::Relaxed);
//! let (post, ()) = Request::post("/orders").body(()).unwrap().into_parts();
//! let response = orders.call_classified(classifier.for_request(&post), server).await.unwrap();
//! assert_eq!(response.status(), 503);
//! # Ok(())
//! # }
//! ```
//!
//! # HTTP client
//!
//! With the feature `reqwest`, the `client` module's `RampartMiddleware` applies the
//! above to a reqwest client: one pipeline per host or per named dependency, retries
//! judged by status and `Retry-After`, no retry of a request that is unsafe to send twice
//! (optionally with a minted `Idempotency-Key` reused on every attempt), and a
//! `Rampart-Attempt` header on each attempt. Its module docs have a quick start:
//!
//! ```toml
//! rampart-http = { version = "0.1", features = ["reqwest"] }
//! ```
//!
//! [`HttpClassifier`]: classify::HttpClassifier
//! [`RetryAfter`]: retry_after::RetryAfter
//! [`RetryAfterPolicy`]: retry_after::RetryAfterPolicy
//! [`RateLimitInfo`]: rate_limit_headers::RateLimitInfo
//! [`retry_hint`]: rate_limit_headers::retry_hint
//! [`ReplayableBody`]: replay::ReplayableBody

pub mod attempt;
pub mod classify;
#[cfg(feature = "reqwest")]
pub mod client;
#[cfg(any(feature = "reqwest", feature = "tower"))]
mod in_flight;
pub mod rate_limit_headers;
pub mod replay;
pub mod retry_after;
#[cfg(feature = "server")]
pub mod server;
mod sf;
#[cfg(feature = "tower")]
pub mod tower;
