//! A reqwest client that runs every request through a rampart pipeline (feature
//! `reqwest`).
//!
//! [`RampartMiddleware`] is a [`reqwest_middleware::Middleware`]: put it on a
//! [`ClientWithMiddleware`](reqwest_middleware::ClientWithMiddleware) and each request
//! goes through the [`Pipeline`] of the dependency it calls. Responses are judged by
//! HTTP semantics ([`HttpClassifier`]): 408, 429, 500, 502, 503, 504 and connection
//! errors are retried, a 503's or 429's `Retry-After` wins over the backoff, and 4xx are
//! neither retried nor counted against the dependency.
//!
//! **Which pipeline.** [`RampartMiddleware::new`] uses one pipeline for every request;
//! [`from_registry`](RampartMiddleware::from_registry) picks the registry's pipeline
//! named by the request's [`Dependency`] extension, else the one named like the URL's
//! host; [`routed`](RampartMiddleware::routed) takes your own function. A request for
//! which no pipeline is found is passed on untouched (a [`Dependency`] that names no
//! pipeline is an error instead: it is a mistake in the program, not a host nobody
//! configured).
//!
//! **Never twice what is unsafe twice.** A request is retried only when its method is
//! idempotent or it carries an `Idempotency-Key` ([`may_retry`](crate::classify::may_retry));
//! a POST without a key is sent once whatever the answer. With
//! [`with_idempotency_keys(true)`](RampartMiddleware::with_idempotency_keys) the
//! middleware mints a key (a random UUID v4) for each such request, once per logical
//! request, so every attempt and hedge carries the same key and the server can
//! deduplicate them.
//!
//! **Attempts.** Each attempt sends a copy of the request ([`reqwest::Request::try_clone`])
//! with a [`RAMPART_ATTEMPT`] header: `1` on the first, `2` on the first retry (or
//! hedge), and so on. A request that is unsafe to send twice (not idempotent and
//! without a key) is never sent beside another attempt: a hedge of it waits until the
//! attempt in flight ends, which ends the call. A request whose body cannot be copied
//! (a stream) is sent once and never retried nor hedged; an attempt after it fails with
//! [`NotReplayable`]. (For `http::Request` bodies, [`crate::replay`] records a stream so
//! that it can be sent again.)
//!
//! **Results.** The middleware returns what reqwest would: the last attempt's
//! `Response` whatever its status (a final 503 or 404 is a response, not an error: read
//! its status as usual, or call `error_for_status`), the last attempt's
//! [`reqwest_middleware::Error`] as it came, and a rampart [`Rejection`] (breaker open,
//! bulkhead full, timeout, retry budget spent...) as
//! [`Error::Middleware`] wrapping the
//! [`Rejection`]: [`rejection`] finds it.
//!
//! **Extensions.** Each attempt gets a copy of the request's extensions (a copy of an
//! empty map costs nothing); what the attempt that finished last wrote to its copy is
//! handed back to the caller.
//!
//! **Timeouts per dependency.** [`client_builder`] applies a dependency's `client`
//! table (connect, read, total, pool size) to a reqwest client, and [`ClientTimeouts`]
//! adds what reqwest lacks (waiting for a pool slot, the write timeout);
//! [`clients_from_registry`] builds one client per dependency with both. The
//! [`timeouts`] module says what each bounds.
//!
//! # Defaults
//!
//! | setting | default |
//! |---|---|
//! | pipeline | per host ([`from_registry`](RampartMiddleware::from_registry)), or the one given |
//! | classifier | [`HttpClassifier`] with [`reqwest_failure`] for errors |
//! | minting `Idempotency-Key` | off |
//! | attempt header | [`RAMPART_ATTEMPT`] on every attempt |
//!
//! # Quick start
//!
//! ```no_run
//! use rampart::retry::RetryConfig;
//! use rampart::Pipeline;
//! use rampart_http::client::RampartMiddleware;
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let payments = Pipeline::builder("payments")
//!     .retry(RetryConfig::exponential(Duration::from_millis(200)).with_max_attempts(3))
//!     .build()?;
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(RampartMiddleware::new(payments).with_idempotency_keys(true))
//!     .build();
//!
//! // Retried on 503 (after its Retry-After), with the same Idempotency-Key each time.
//! let response = client
//!     .post("http://127.0.0.1:8080/charges")
//!     .body("amount=700")
//!     .send()
//!     .await?;
//! println!("{}", response.status());
//! # Ok(())
//! # }
//! ```
//!
//! With a [`Registry`], name the dependency per request (or let the host name it):
//!
//! ```no_run
//! use rampart::registry::Registry;
//! use rampart_http::client::{Dependency, RampartMiddleware};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let registry = Registry::from_file("config/shop.toml")?;
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(RampartMiddleware::from_registry(registry))
//!     .build();
//! let stock = client
//!     .get("http://10.0.0.7/stock/42")
//!     .with_extension(Dependency::new("inventory"))
//!     .send()
//!     .await?;
//! # drop(stock);
//! # Ok(())
//! # }
//! ```

use crate::attempt::attempt_value;
mod pool;
pub mod timeouts;
mod write;

pub use self::timeouts::{
    client_builder, clients_from_registry, write_timeout, ClientTimeouts, WriteTimeout, CLIENT_POOL,
};
pub use crate::attempt::{NotReplayable, RAMPART_ATTEMPT};
use crate::classify::{
    may_retry_request, transport_failure_of, HttpClassifier, TransportFailure, IDEMPOTENCY_KEY,
};
use crate::in_flight::InFlight;
use http::header::HeaderValue;
use http::Extensions;
use rampart::classify::{Classify, OutcomeClass, Verdict};
use rampart::registry::Registry;
use rampart::{Pipeline, Rejection};
use reqwest::{Request, Response};
use reqwest_middleware::{Error, Middleware, Next};
use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// The classifier for reqwest results: HTTP semantics for responses, [`reqwest_failure`]
/// for errors.
pub type ReqwestClassifier = HttpClassifier<Error>;

/// What a reqwest-middleware error means for retrying: a connect error is
/// [`TransportFailure::Connect`], a timeout [`TransportFailure::Connection`], otherwise
/// the socket error found in the source chain ([`transport_failure_of`]).
pub fn reqwest_failure(err: &Error) -> TransportFailure {
    match err {
        Error::Reqwest(e) if e.is_connect() => TransportFailure::Connect,
        Error::Reqwest(e) if e.is_timeout() => TransportFailure::Connection,
        Error::Reqwest(e) => transport_failure_of(e),
        Error::Middleware(e) => transport_failure_of(e.as_ref()),
    }
}

/// The rampart rejection inside a middleware error, if a policy refused or cut the
/// request.
///
/// # Examples
///
/// ```
/// use rampart::{Rejection, RejectionKind};
/// use rampart_http::client::rejection;
///
/// let err = reqwest_middleware::Error::middleware(Rejection::new(
///     "payments".into(),
///     "bulkhead",
///     RejectionKind::BulkheadFull,
/// ));
/// assert_eq!(rejection(&err).map(Rejection::kind), Some(RejectionKind::BulkheadFull));
/// ```
pub fn rejection(err: &Error) -> Option<&Rejection> {
    match err {
        Error::Middleware(e) => e.downcast_ref::<Rejection>(),
        Error::Reqwest(_) => None,
    }
}

/// A request extension naming the dependency (the registry's pipeline) a request goes
/// to; see [`RampartMiddleware::from_registry`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Dependency(Arc<str>);

impl Dependency {
    /// Names the dependency `name`.
    pub fn new(name: &str) -> Self {
        Dependency(name.into())
    }

    /// The dependency's name.
    pub fn name(&self) -> &str {
        &self.0
    }
}

type RouteFn = dyn Fn(&Request, &Extensions) -> Option<Pipeline> + Send + Sync;

enum Route {
    One(Pipeline),
    Registry(Registry),
    Custom(Box<RouteFn>),
}

/// Runs reqwest requests through rampart pipelines; see the [module docs](self).
///
/// Cloning is cheap and clones share the pipelines' state.
#[derive(Clone)]
pub struct RampartMiddleware {
    route: Arc<Route>,
    classifier: ReqwestClassifier,
    mint_keys: bool,
}

impl fmt::Debug for RampartMiddleware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let route = match &*self.route {
            Route::One(p) => format!("pipeline {}", p.name()),
            Route::Registry(_) => "registry".to_owned(),
            Route::Custom(_) => "custom".to_owned(),
        };
        f.debug_struct("RampartMiddleware")
            .field("route", &route)
            .field("classifier", &self.classifier)
            .field("mint_keys", &self.mint_keys)
            .finish()
    }
}

impl RampartMiddleware {
    /// Every request goes through `pipeline`.
    pub fn new(pipeline: Pipeline) -> Self {
        RampartMiddleware::with_route(Route::One(pipeline))
    }

    /// Each request goes through the registry's pipeline named by its [`Dependency`]
    /// extension, or else the one named like its URL's host (`payments.internal`); a
    /// request to a host without a pipeline is passed on untouched.
    ///
    /// # Errors
    ///
    /// A request whose [`Dependency`] names no pipeline fails with
    /// [`Error::Middleware`] wrapping rampart's
    /// [`UnknownDependency`](rampart::registry::UnknownDependency), and is not sent.
    pub fn from_registry(registry: Registry) -> Self {
        RampartMiddleware::with_route(Route::Registry(registry))
    }

    /// Each request goes through the pipeline `route` returns for it, or is passed on
    /// untouched when it returns `None`. Cloning a [`Pipeline`] is one `Arc` clone.
    pub fn routed(
        route: impl Fn(&Request, &Extensions) -> Option<Pipeline> + Send + Sync + 'static,
    ) -> Self {
        RampartMiddleware::with_route(Route::Custom(Box::new(route)))
    }

    fn with_route(route: Route) -> Self {
        RampartMiddleware {
            route: Arc::new(route),
            classifier: HttpClassifier::new(reqwest_failure),
            mint_keys: false,
        }
    }

    /// Sets the classifier (to change its `Retry-After` policy or how errors are read);
    /// the middleware still applies the method rules to it for each request.
    pub fn with_classifier(mut self, classifier: ReqwestClassifier) -> Self {
        self.classifier = classifier;
        self
    }

    /// When `mint` is true, a request that may not be retried as it is (a method that
    /// is not idempotent, without an `Idempotency-Key`) gets a fresh random key, the
    /// same on every attempt of that request; it may then be retried. Off by default:
    /// only turn it on for servers that deduplicate by key.
    pub fn with_idempotency_keys(mut self, mint: bool) -> Self {
        self.mint_keys = mint;
        self
    }

    /// The pipeline for `req`: `Ok(None)` to pass it on untouched.
    fn pipeline_for(
        &self,
        req: &Request,
        ext: &Extensions,
    ) -> Result<Option<Cow<'_, Pipeline>>, Error> {
        match &*self.route {
            Route::One(p) => Ok(Some(Cow::Borrowed(p))),
            Route::Registry(registry) => match ext.get::<Dependency>() {
                Some(dep) => registry
                    .pipeline(dep.name())
                    .map(|p| Some(Cow::Borrowed(p)))
                    .map_err(Error::middleware),
                None => Ok(req
                    .url()
                    .host_str()
                    .and_then(|host| registry.pipeline(host).ok())
                    .map(Cow::Borrowed)),
            },
            Route::Custom(route) => Ok(route(req, ext).map(Cow::Owned)),
        }
    }
}

/// A fresh random `Idempotency-Key`: a UUID v4 in its usual text form.
fn mint_key() -> Option<HeaderValue> {
    let bits: u128 = rand::random();
    // Version 4 and the RFC 9562 variant.
    let bits = (bits & !(0xf << 76) & !(0x3 << 62)) | (0x4 << 76) | (0x2 << 62);
    let key = format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        bits >> 96,
        (bits >> 80) & 0xffff,
        (bits >> 64) & 0xffff,
        (bits >> 48) & 0xffff,
        bits & 0xffff_ffff_ffff
    );
    HeaderValue::from_str(&key).ok()
}

/// Where each attempt's request comes from.
enum Source {
    /// A request whose body can be copied: each attempt sends a copy.
    Replayable(Request),
    /// A streaming body: the first attempt takes it, later ones get nothing.
    Once(Mutex<Option<Request>>),
}

impl Source {
    fn new(req: Request) -> Source {
        // A buffered body (or none) is what `try_clone` can copy.
        if req.body().is_none_or(|b| b.as_bytes().is_some()) {
            Source::Replayable(req)
        } else {
            Source::Once(Mutex::new(Some(req)))
        }
    }

    fn replayable(&self) -> bool {
        matches!(self, Source::Replayable(_))
    }

    fn take(&self) -> Option<Request> {
        match self {
            Source::Replayable(req) => req.try_clone(),
            Source::Once(slot) => slot.lock().unwrap_or_else(PoisonError::into_inner).take(),
        }
    }
}

/// [`HttpClassifier`] for reqwest's `Response`, and no retry for a body sent once.
struct AttemptClassifier {
    http: ReqwestClassifier,
    replayable: bool,
}

impl Classify<Response, Error> for AttemptClassifier {
    fn classify(&self, outcome: Result<&Response, &Error>) -> Verdict {
        let mut verdict = match outcome {
            Ok(response) => self
                .http
                .classify_response(response.status(), response.headers()),
            // A pool slot not found in time (or another local refusal) says nothing
            // about the dependency.
            Err(e) if timeouts::is_local_refusal(e) => Verdict {
                class: OutcomeClass::Ignored,
                retryable: false,
                retry_after: None,
            },
            Err(e) => Classify::<http::Response<()>, Error>::classify(&self.http, Err(e)),
        };
        verdict.retryable &= self.replayable;
        verdict
    }
}

#[async_trait::async_trait]
impl Middleware for RampartMiddleware {
    async fn handle(
        &self,
        mut req: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        let Some(pipeline) = self.pipeline_for(&req, extensions)? else {
            return next.run(req, extensions).await;
        };
        if self.mint_keys && !may_retry_request(req.method(), req.headers()) {
            if let Some(key) = mint_key() {
                req.headers_mut().insert(IDEMPOTENCY_KEY, key);
            }
        }
        let http = self.classifier.for_method(req.method(), req.headers());
        let may_send_twice = may_retry_request(req.method(), req.headers());
        let source = Source::new(req);
        // Unsafe to send twice: a hedge waits for the attempt in flight to end.
        let exclusive = !may_send_twice || !source.replayable();
        let in_flight = InFlight::default();
        let classifier = AttemptClassifier {
            http,
            replayable: source.replayable(),
        };
        let attempts = AtomicU32::new(0);
        let last_extensions: Mutex<Option<Extensions>> = Mutex::new(None);
        let base: &Extensions = extensions;
        let (source, in_flight) = (&source, &in_flight);
        let op = || {
            let attempt = attempts.fetch_add(1, Ordering::Relaxed).saturating_add(1);
            let mut ext = base.clone();
            let next = next.clone();
            let last_extensions = &last_extensions;
            async move {
                let _running = in_flight.start(exclusive).await;
                let Some(mut request) = source.take() else {
                    return Err(Error::middleware(NotReplayable));
                };
                request
                    .headers_mut()
                    .insert(RAMPART_ATTEMPT, attempt_value(attempt));
                let result = next.run(request, &mut ext).await;
                *last_extensions
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(ext);
                result
            }
        };
        let result = pipeline.call_classified(classifier, op).await;
        if let Some(ext) = last_extensions
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
        {
            *extensions = ext;
        }
        match result {
            Ok(response) => Ok(response),
            Err(rampart::Error::Operation(e)) => Err(e),
            Err(rampart::Error::Rejected(r)) => Err(Error::middleware(r)),
        }
    }
}
