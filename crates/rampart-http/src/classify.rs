//! Classifying HTTP outcomes: which statuses and errors are failures, which are retried,
//! and which requests may be retried at all.
//!
//! [`HttpClassifier`] implements rampart's [`Classify`] for `http::Response<B>` results,
//! so one pipeline's retry and circuit breaker read the same verdicts:
//!
//! | outcome | class | retried | hint |
//! |---|---|---|---|
//! | 1xx, 2xx, 3xx | success | no | |
//! | 408, 429 | failure | yes | 429: `Retry-After`, else the reset of an exhausted rate limit |
//! | 500, 502, 504 | failure | yes | |
//! | 503 | failure | yes | `Retry-After` |
//! | other 5xx (501, 505, 507...) and 600-999 | failure | no | |
//! | other 4xx (400, 401, 403, 404, 409, 422...) | ignored | no | |
//! | `Err`: [`TransportFailure::Connect`] | failure | yes, whatever the method | |
//! | `Err`: [`TransportFailure::Connection`] | failure | yes | |
//! | `Err`: [`TransportFailure::Other`] | failure | no | |
//!
//! **Why 4xx are ignored.** A 400, 404 or 422 says the *request* was wrong, not that the
//! dependency is unwell; counting them would let one caller's bad input open the breaker
//! for everyone. Retrying them gives the same answer. 408 and 429 are the exceptions:
//! the server was too slow or too busy, which is the dependency's condition, so they
//! count as failures (the pipeline only retries failures).
//!
//! **Method rules.** Only requests that are safe to send twice are retried: idempotent
//! methods ([`is_idempotent`]: GET, HEAD, OPTIONS, TRACE, PUT, DELETE, as RFC 9110
//! section 9.2.2 lists) or requests that carry an [`IDEMPOTENCY_KEY`] header
//! ([`may_retry`]). A classifier made for a request with
//! [`for_request`](HttpClassifier::for_request) marks nothing retryable when the request
//! may not be retried, except a [`TransportFailure::Connect`] error: a connection that
//! never opened never carried the request.
//!
//! **Connection errors.** The classifier learns what an error `E` means from a function
//! you give it that returns a [`TransportFailure`]; errors that implement
//! [`TransportError`] (`std::io::Error`, boxed errors) need none. For reqwest, something
//! like `|e: &reqwest::Error| if e.is_connect() { Connect } else if e.is_timeout() {
//! Connection } else { transport_failure_of(e) }`; for hyper-util's client,
//! `Error::is_connect`; [`transport_failure_of`] walks any error's source chain for an
//! `io::Error` and serves as the fallback.
//!
//! # Defaults
//!
//! | setting | default |
//! |---|---|
//! | retry-after policy | [`RetryAfterPolicy::default`] (clamped to 5 minutes) |
//! | `X-RateLimit-Reset` format | [`ResetFormat::Auto`] |
//! | wall clock for HTTP dates | `SystemTime::now` |
//! | request may be retried | yes (until [`for_request`](HttpClassifier::for_request)) |
//!
//! # Examples
//!
//! ```
//! use http::{Method, Request, Response, StatusCode};
//! use rampart::classify::{Classify, OutcomeClass};
//! use rampart_http::classify::HttpClassifier;
//! use std::time::Duration;
//!
//! let classifier: HttpClassifier<std::io::Error> = HttpClassifier::default();
//! let busy = Response::builder().status(503).header("retry-after", "2").body(()).unwrap();
//! let verdict = classifier.classify(Ok(&busy));
//! assert_eq!(verdict.class, OutcomeClass::Failure);
//! assert!(verdict.retryable);
//! assert_eq!(verdict.retry_after, Some(Duration::from_secs(2)));
//!
//! let missing = Response::builder().status(StatusCode::NOT_FOUND).body(()).unwrap();
//! assert_eq!(classifier.classify(Ok(&missing)).class, OutcomeClass::Ignored);
//!
//! // A POST without an Idempotency-Key is never retried.
//! let (post, ()) = Request::post("/pay").body(()).unwrap().into_parts();
//! assert!(!classifier.for_request(&post).classify(Ok(&busy)).retryable);
//! ```

use crate::rate_limit_headers::{retry_hint, ResetFormat};
use crate::retry_after::RetryAfterPolicy;
use http::header::HeaderName;
use http::{request, HeaderMap, Method, Response, StatusCode};
use rampart::classify::{Classify, OutcomeClass, Verdict};
use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::SystemTime;

/// `Idempotency-Key`: a request carrying it may be retried whatever its method.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// What an error below HTTP means for retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportFailure {
    /// The connection could not be opened (refused, unreachable, DNS, TLS handshake): the
    /// request never left, so a retry is safe for every method.
    Connect,
    /// The connection broke or timed out after the request may have been sent (reset,
    /// aborted, broken pipe, early end of stream, timeout): retried when the request may
    /// be retried.
    Connection,
    /// Anything else (a malformed request, a body or decoding error): a failure that a
    /// retry would repeat, so not retried.
    Other,
}

/// Errors that can say what they mean for retrying; implement it for your own error
/// type to use [`HttpClassifier::default`], or pass a function to
/// [`HttpClassifier::new`] for a type you do not own (such as `reqwest::Error`).
pub trait TransportError {
    /// What this error means for retrying.
    fn transport_failure(&self) -> TransportFailure;
}

impl TransportError for io::Error {
    fn transport_failure(&self) -> TransportFailure {
        io_kind_failure(self.kind())
    }
}

impl TransportError for Box<dyn StdError + Send + Sync> {
    fn transport_failure(&self) -> TransportFailure {
        transport_failure_of(self.as_ref())
    }
}

/// What an `io::ErrorKind` means for retrying.
fn io_kind_failure(kind: io::ErrorKind) -> TransportFailure {
    use io::ErrorKind as K;
    match kind {
        K::ConnectionRefused | K::AddrNotAvailable | K::HostUnreachable | K::NetworkUnreachable => {
            TransportFailure::Connect
        }
        K::ConnectionReset
        | K::ConnectionAborted
        | K::NotConnected
        | K::BrokenPipe
        | K::UnexpectedEof
        | K::TimedOut
        | K::NetworkDown => TransportFailure::Connection,
        _ => TransportFailure::Other,
    }
}

/// Walks `err` and its sources for an `io::Error` and reads its kind;
/// [`TransportFailure::Other`] when there is none.
///
/// Client errors (hyper, reqwest) keep the socket's `io::Error` as a source, so this is
/// a sound fallback for error types that cannot say more themselves.
///
/// # Examples
///
/// ```
/// use rampart_http::classify::{transport_failure_of, TransportFailure};
/// use std::io;
///
/// let reset = io::Error::new(io::ErrorKind::ConnectionReset, "peer reset");
/// assert_eq!(transport_failure_of(&reset), TransportFailure::Connection);
/// ```
pub fn transport_failure_of(err: &(dyn StdError + 'static)) -> TransportFailure {
    let mut next: Option<&(dyn StdError + 'static)> = Some(err);
    // Bounded, in case a source chain loops.
    for _ in 0..32 {
        let Some(e) = next else { break };
        if let Some(io) = e.downcast_ref::<io::Error>() {
            match io_kind_failure(io.kind()) {
                TransportFailure::Other => {}
                found => return found,
            }
        }
        next = e.source();
    }
    TransportFailure::Other
}

/// Whether `method` is idempotent (RFC 9110 section 9.2.2): GET, HEAD, OPTIONS, TRACE,
/// PUT and DELETE. Extension methods are not.
pub fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

/// Whether a request may be sent again automatically: its method is idempotent, or it
/// carries a non-empty [`IDEMPOTENCY_KEY`] header.
pub fn may_retry(parts: &request::Parts) -> bool {
    may_retry_request(&parts.method, &parts.headers)
}

/// [`may_retry`] for a request known by its method and headers (a client's own request
/// type, without building `http::request::Parts`).
pub fn may_retry_request(method: &Method, headers: &HeaderMap) -> bool {
    is_idempotent(method)
        || headers
            .get(IDEMPOTENCY_KEY)
            .is_some_and(|k| !k.as_bytes().iter().all(|b| *b == b' ' || *b == b'\t'))
}

/// The verdict for a status alone (no retry-after hint), as the module table says.
pub fn status_verdict(status: StatusCode) -> Verdict {
    let (class, retryable) = match status.as_u16() {
        100..=399 => (OutcomeClass::Success, false),
        408 | 429 | 500 | 502 | 503 | 504 => (OutcomeClass::Failure, true),
        400..=499 => (OutcomeClass::Ignored, false),
        _ => (OutcomeClass::Failure, false),
    };
    Verdict {
        class,
        retryable,
        retry_after: None,
    }
}

type TransportFn<E> = Arc<dyn Fn(&E) -> TransportFailure + Send + Sync>;
type WallClock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// The HTTP classifier described in the [module docs](self).
///
/// Clones are cheap and share the error function and the clock.
pub struct HttpClassifier<E> {
    transport: TransportFn<E>,
    retry_after: RetryAfterPolicy,
    reset_format: ResetFormat,
    wall_clock: WallClock,
    request_may_retry: bool,
}

impl<E> Clone for HttpClassifier<E> {
    fn clone(&self) -> Self {
        HttpClassifier {
            transport: self.transport.clone(),
            retry_after: self.retry_after,
            reset_format: self.reset_format,
            wall_clock: self.wall_clock.clone(),
            request_may_retry: self.request_may_retry,
        }
    }
}

impl<E> fmt::Debug for HttpClassifier<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClassifier")
            .field("retry_after", &self.retry_after)
            .field("reset_format", &self.reset_format)
            .field("request_may_retry", &self.request_may_retry)
            .finish_non_exhaustive()
    }
}

impl<E: TransportError + 'static> Default for HttpClassifier<E> {
    /// A classifier that asks the error itself through [`TransportError`].
    fn default() -> Self {
        HttpClassifier::new(E::transport_failure)
    }
}

impl<E> HttpClassifier<E> {
    /// A classifier that learns what an error means from `transport`.
    pub fn new(transport: impl Fn(&E) -> TransportFailure + Send + Sync + 'static) -> Self {
        HttpClassifier {
            transport: Arc::new(transport),
            retry_after: RetryAfterPolicy::default(),
            reset_format: ResetFormat::Auto,
            wall_clock: Arc::new(SystemTime::now),
            request_may_retry: true,
        }
    }

    /// A classifier for which errors where `is_connection_error` is true are
    /// [`TransportFailure::Connection`] and the others [`TransportFailure::Other`].
    pub fn connection_errors_if(
        is_connection_error: impl Fn(&E) -> bool + Send + Sync + 'static,
    ) -> Self {
        HttpClassifier::new(move |e| {
            if is_connection_error(e) {
                TransportFailure::Connection
            } else {
                TransportFailure::Other
            }
        })
    }

    /// Sets how much of a server's `Retry-After` is accepted.
    pub fn with_retry_after(mut self, policy: RetryAfterPolicy) -> Self {
        self.retry_after = policy;
        self
    }

    /// Sets how `X-RateLimit-Reset` is read on a 429 without `Retry-After`.
    pub fn with_reset_format(mut self, format: ResetFormat) -> Self {
        self.reset_format = format;
        self
    }

    /// Sets the wall clock that HTTP-date hints are measured from (for tests).
    pub fn with_wall_clock(mut self, now: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        self.wall_clock = Arc::new(now);
        self
    }

    /// Says whether the request being classified may be sent again; see [`may_retry`].
    pub fn with_request_may_retry(mut self, may: bool) -> Self {
        self.request_may_retry = may;
        self
    }

    /// A copy of this classifier for one request: retries are allowed only when
    /// [`may_retry`] says so.
    pub fn for_request(&self, parts: &request::Parts) -> Self {
        self.for_method(&parts.method, &parts.headers)
    }

    /// [`for_request`](Self::for_request) for a request known by its method and headers
    /// (see [`may_retry_request`]).
    pub fn for_method(&self, method: &Method, headers: &HeaderMap) -> Self {
        self.clone()
            .with_request_may_retry(may_retry_request(method, headers))
    }

    /// The verdict for a response known by its status and headers, as
    /// [`classify`](Classify::classify) gives for `Ok`: for a client whose response type
    /// is not `http::Response`.
    pub fn classify_response(&self, status: StatusCode, headers: &HeaderMap) -> Verdict {
        let mut verdict = self.response_verdict(status, headers);
        if !self.request_may_retry {
            verdict.retryable = false;
        }
        verdict
    }

    /// The verdict for a response, hint included, before the method rules.
    fn response_verdict(&self, status: StatusCode, headers: &HeaderMap) -> Verdict {
        let mut verdict = status_verdict(status);
        verdict.retry_after = match status {
            StatusCode::TOO_MANY_REQUESTS => retry_hint(
                headers,
                (self.wall_clock)(),
                &self.retry_after,
                self.reset_format,
            ),
            StatusCode::SERVICE_UNAVAILABLE => {
                self.retry_after.from_headers(headers, (self.wall_clock)())
            }
            _ => None,
        };
        verdict
    }
}

impl<B, E> Classify<Response<B>, E> for HttpClassifier<E> {
    fn classify(&self, outcome: Result<&Response<B>, &E>) -> Verdict {
        let (mut verdict, never_sent) = match outcome {
            Ok(response) => (
                self.response_verdict(response.status(), response.headers()),
                false,
            ),
            Err(e) => {
                let failure = (self.transport)(e);
                let verdict = Verdict {
                    class: OutcomeClass::Failure,
                    retryable: failure != TransportFailure::Other,
                    retry_after: None,
                };
                (verdict, failure == TransportFailure::Connect)
            }
        };
        if !self.request_may_retry && !never_sent {
            verdict.retryable = false;
        }
        verdict
    }
}
