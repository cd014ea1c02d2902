//! Server middleware (feature `server`): tower layers that protect an HTTP service
//! from its callers, shown with axum.
//!
//! | module | what |
//! |---|---|
//! | [`rate_limit`] | [`RateLimitLayer`](rate_limit::RateLimitLayer): a token bucket per caller; `429` with `Retry-After`, `RateLimit` / `RateLimit-Policy` and `X-RateLimit-*` |
//! | [`load_shed`] | [`LoadShedLayer`](load_shed::LoadShedLayer): priority by route; `503` with `Retry-After` near capacity |
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

pub mod caller;
mod early_response;
pub mod load_shed;
pub mod rate_limit;
#[cfg(feature = "axum")]
pub mod routes;

pub use self::early_response::ResponseFuture;
