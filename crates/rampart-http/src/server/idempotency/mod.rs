//! Idempotency keys on the server: a request that carries an `Idempotency-Key` runs
//! once, and a retry of it gets the first response back instead of running again.
//!
//! Use it on routes that are not safe to repeat (creating a charge, placing an order),
//! so that clients may retry them after a timeout or a dropped connection. It is a tower
//! [`IdempotencyLayer`] over `http::Request` and `http::Response`, usable with axum's
//! `Router::layer`. It answers every refusal itself, as a response, and never fails the
//! service with an error of its own.
//!
//! On a route that needs a key (by default POST and PATCH), the service:
//!
//! | request | answer |
//! |---|---|
//! | no `Idempotency-Key`, or a malformed one (empty, over 255 bytes, not visible ASCII, repeated) | 400, JSON body naming the header |
//! | body over `max_request_bytes` | 413 |
//! | a key never seen (or expired) | runs the handler; stores its response |
//! | the same key and payload while the first request runs | 409 with `Retry-After: 1` |
//! | the same key and payload after it completed | the stored status, headers and body, with `Idempotent-Replayed: true` |
//! | the same key with another payload (method, path and query, body) | 422 |
//! | the store fails | 503 with `Retry-After: 1`; the handler is not run |
//!
//! Keys are scoped per caller: the store key is the pair (caller, key), where the
//! caller is [`default_scope`] (the `Authorization` header, else `X-Api-Key`, else one
//! shared anonymous scope) or what [`IdempotencyLayer::scope_with`] says. A key reused
//! on another route of the same caller is another payload, so it gets 422. The payload
//! is compared by its SHA-256 [`Fingerprint`], so the request body is read whole first
//! (up to `max_request_bytes`) and handed to the handler from memory (request
//! trailers are dropped). Requests that need no key pass through untouched.
//!
//! # What is stored, and when a key is released
//!
//! A response whose status passes [`IdempotencyLayer::store_when`] (by default all but
//! 5xx: [`not_server_error`]) is read whole and stored for `ttl`. The key is released,
//! so that the client may try again and the handler runs again, when:
//!
//! - the handler answers 5xx (a server error is worth retrying), or fails with an error;
//! - the response future is dropped while the handler runs (the client went away, a
//!   timeout fired) or the handler panics: a guard releases the key, so it never stays
//!   stuck until its time to live (at once with [`MemoryStore`]; a store that answers
//!   later is released on a task spawned on the current tokio runtime);
//! - the response body is over `max_response_bytes` or has trailers: it is passed
//!   through unstored.
//!
//! Once the handler produced a response worth keeping, the key is never released: if
//! the store then fails to keep the response, the response is still returned (with a
//! [`StoreFailure`] in its extensions for logging) and the key stays in progress until
//! `ttl`, so retries get 409 rather than a second run. Buffering the response means a
//! streamed response on a keyed route reaches the client only once it ended or passed
//! `max_response_bytes`.
//!
//! # Defaults
//!
//! | setting | default | where |
//! |---|---|---|
//! | routes that need a key | POST and PATCH, every path | [`IdempotencyLayer::require_key_for`], [`only_under`](IdempotencyLayer::only_under), [`require_key_when`](IdempotencyLayer::require_key_when) |
//! | caller scope | `Authorization`, else `X-Api-Key`, else anonymous | [`IdempotencyLayer::scope_with`] |
//! | time to live | 24 h | [`IdempotencyConfig::ttl`] |
//! | request body cap | 1 MiB (413 above) | [`IdempotencyConfig::max_request_bytes`] |
//! | response body cap | 1 MiB (passed through, not stored, above) | [`IdempotencyConfig::max_response_bytes`] |
//! | stored statuses | all but 5xx | [`IdempotencyLayer::store_when`] |
//! | in-memory store capacity | 10,000 keys (503 when full of live keys) | [`MemoryStore::with_capacity`] |
//!
//! # Stores
//!
//! [`IdempotencyStore`] is an object-safe async trait (`begin`, `complete`, `release`)
//! held as an `Arc<dyn IdempotencyStore>`; [`MemoryStore`] keeps keys in this process.
//! A fleet of instances needs a shared store (Redis, later).
//!
//! # Quick start
//!
//! ```
//! use axum::{routing::post, Router};
//! use http::{Request, StatusCode};
//! use rampart_http::server::idempotency::{IdempotencyConfig, IdempotencyLayer, MemoryStore};
//! use std::sync::Arc;
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), rampart::ConfigError> {
//! let layer = IdempotencyLayer::new(IdempotencyConfig::new(), Arc::new(MemoryStore::new()))?;
//! let app = Router::new()
//!     .route("/charges", post(|| async { (StatusCode::CREATED, "charge 7") }))
//!     .layer(layer);
//!
//! let charge = || {
//!     Request::post("/charges")
//!         .header("idempotency-key", "order-7-charge")
//!         .body(axum::body::Body::from("amount=7"))
//!         .unwrap()
//! };
//! let first = app.clone().oneshot(charge()).await.unwrap();
//! assert_eq!(first.status(), StatusCode::CREATED);
//! let again = app.clone().oneshot(charge()).await.unwrap();
//! assert_eq!(again.status(), StatusCode::CREATED);
//! assert_eq!(again.headers()["idempotent-replayed"], "true");
//!
//! let no_key = Request::post("/charges").body(axum::body::Body::empty()).unwrap();
//! assert_eq!(app.oneshot(no_key).await.unwrap().status(), StatusCode::BAD_REQUEST);
//! # Ok(())
//! # }
//! ```

mod body;
mod config;
mod fingerprint;
mod guard;
mod key;
mod layer;
mod memory;
mod reply;
mod service;
mod store;

pub use body::{RequestBody, ResponseBody};
pub use config::IdempotencyConfig;
pub use fingerprint::Fingerprint;
pub use key::{
    default_scope, key_from_headers, validate_key, KeyError, ScopedKey, MAX_KEY_LEN, X_API_KEY,
};
pub use layer::{not_server_error, IdempotencyLayer};
pub use memory::MemoryStore;
pub use reply::IDEMPOTENT_REPLAYED;
pub use service::{IdempotencyFuture, IdempotencyResponse, IdempotencyService, StoreFailure};
pub use store::{
    Begin, IdempotencyStore, Lease, StoreError, StoreErrorKind, StoreFuture, StoredResponse,
};
