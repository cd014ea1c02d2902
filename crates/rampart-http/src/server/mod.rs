//! Server middleware (feature `server`): tower layers that protect an HTTP service
//! from its callers, shown with axum.
//!
//! | module | what |
//! |---|---|
//! | [`rate_limit`] | [`RateLimitLayer`](rate_limit::RateLimitLayer): a token bucket per caller; `429` with `Retry-After`, `RateLimit` / `RateLimit-Policy` and `X-RateLimit-*` |
//! | [`load_shed`] | [`LoadShedLayer`](load_shed::LoadShedLayer): priority by route; `503` with `Retry-After` near capacity |
//! | [`idempotency`] | [`IdempotencyLayer`](idempotency::IdempotencyLayer): an `Idempotency-Key` runs a request once and replays its response; 400, 409, 422, 503 |
//! | [`caller`] | [`CallerKey`](caller::CallerKey): API key, header or client IP (trusted proxies for `X-Forwarded-For`) |
//! | `routes` (feature `axum`) | `HealthRoutes`: `/health/live`, `/ready`, `/startup`, `/dependencies` and `/metrics` as an axum `Router` |
//!
//! The layers work on `http::Request<B>` -> `http::Response<ResBody>` for any body
//! types whose response body has a `Default` (the empty body of the responses they
//! make themselves), so an axum `Router` takes them with `.layer(..)`. They keep the
//! inner service's error type, are always ready, and refuse in `call`. Put the rate
//! limit outermost, so that a caller over its quota is turned away before it takes a
//! load shedder's slot: `router.layer(load_shed).layer(rate_limit)` (axum's last
//! `layer` is the outermost).
//!
//! # Quick start
//!
//! An axum service with a rate limit of 100 requests a minute per API key, the seeds'
//! load-shedding priorities, and the health and metrics routes (which neither layer
//! counts):
//!
//! ```
//! use axum::{routing::post, Router};
//! use rampart::health::HealthRegistry;
//! use rampart::keyed::KeyedConfig;
//! use rampart::rate_limit::{KeyedRateLimiter, RateLimitConfig};
//! use rampart::shed::{LoadShedder, ShedConfig};
//! use rampart_http::server::load_shed::{LoadShedLayer, PriorityRoutes};
//! use rampart_http::server::rate_limit::RateLimitLayer;
//! use rampart_http::server::routes::HealthRoutes;
//!
//! # fn main() -> Result<(), rampart::ConfigError> {
//! let per_key = KeyedRateLimiter::new("api", RateLimitConfig::per_minute(100), KeyedConfig::new())?;
//! let shedder = LoadShedder::new("api", ShedConfig::new(1000))?;
//! let health = HealthRegistry::new();
//!
//! let app: Router = Router::new()
//!     .route("/auth/login", post(|| async { "welcome" }))
//!     .route("/checkout", post(|| async { "paid" }))
//!     .route("/analytics/events", post(|| async { "noted" }))
//!     .merge(HealthRoutes::new(health).router())
//!     .layer(LoadShedLayer::builder(shedder).with_routes(PriorityRoutes::seeds()).build()?)
//!     .layer(RateLimitLayer::builder(per_key).build()?);
//! // let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
//! // axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await?;
//! # let _ = app;
//! # Ok(())
//! # }
//! ```

pub mod caller;
mod early_response;
pub mod idempotency;
pub mod load_shed;
pub mod rate_limit;
#[cfg(feature = "axum")]
pub mod routes;

pub use self::early_response::ResponseFuture;
