//! Server-side rate limiting: one token bucket per caller, `429 Too Many Requests` with
//! `Retry-After` and the rate-limit headers when a caller is over its quota.
//!
//! [`RateLimitLayer`] is a tower layer over `http::Request<B>` ->
//! `http::Response<ResBody>` (an axum `Router` is one: `router.layer(layer)`). Each
//! request is counted in a [`KeyedRateLimiter`] under its caller's [`CallerId`]: an
//! API key, another header or the client's IP address
//! ([`CallerKey`](crate::server::caller::CallerKey), with trusted proxies for
//! `X-Forwarded-For`). Buckets are bounded in number and idle ones are evicted, as
//! the core limiter does.
//!
//! # What the client sees
//!
//! | case | response |
//! |---|---|
//! | exempt path (`/health/*`, `/metrics` by default) | the service's, untouched and not counted |
//! | admitted | the service's, plus the rate-limit headers (unless turned off; headers the service set itself are kept) |
//! | over the limit | `429`, empty body, `Retry-After` (whole seconds, rounded up) and the rate-limit headers |
//! | no key, [`MissingKey::Reject`] | `400`, empty body |
//!
//! The rate-limit headers are written with
//! [`rate_limit_headers`](crate::rate_limit_headers), so its parsers read them back:
//! `RateLimit: "<limiter name>";r=<remaining>;t=<reset>`,
//! `RateLimit-Policy: "<name>";q=<burst>;w=<refill time>`, and `X-RateLimit-Limit`
//! (the burst), `-Remaining` and `-Reset`. For a token bucket, "reset" is the time
//! until the caller's bucket is full again (the limiter's
//! [`full_in`](rampart::rate_limit::RateLimitSnapshot::full_in)), rounded up to whole
//! seconds in the headers. The window `w` is the time a bucket takes to refill from empty
//! (`burst x period / rate`: the period itself when the burst is the rate).
//!
//! The middleware's own responses have an empty body, `ResBody::default()`: axum's
//! `Body`, `http_body_util`'s `Full`, `Empty` and boxed bodies all qualify. The
//! service's error type is the inner service's (`Infallible` under axum). Like the
//! core tower layers, it is always ready and refuses in `call`; the inner service is
//! driven ready in the response future (tower's clone-and-replace idiom).
//!
//! # Examples
//!
//! ```
//! use axum::{routing::get, Router};
//! use rampart::keyed::KeyedConfig;
//! use rampart::rate_limit::{KeyedRateLimiter, RateLimitConfig};
//! use rampart_http::server::caller::CallerKey;
//! use rampart_http::server::rate_limit::{MissingKey, RateLimitLayer};
//!
//! # fn main() -> Result<(), rampart::ConfigError> {
//! let limiter = KeyedRateLimiter::new("api", RateLimitConfig::per_minute(100), KeyedConfig::new())?;
//! let limits = RateLimitLayer::builder(limiter)
//!     .with_caller(CallerKey::ApiKey)
//!     .with_missing_key(MissingKey::ClientIp)
//!     .with_trusted_proxies(["10.0.0.0/8"])
//!     .build()?;
//! let app: Router = Router::new().route("/orders", get(|| async { "orders" })).layer(limits);
//! // axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
//! # let _ = app;
//! # Ok(())
//! # }
//! ```

mod builder;
mod paths;

pub use self::builder::{MissingKey, RateLimitBuilder};
pub use self::paths::{ExemptPaths, DEFAULT_EXEMPT_PATHS};

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use http::header::HeaderMap;
use http::{Request, Response, StatusCode};
use rampart::rate_limit::KeyedRateLimiter;
use rampart::Rejection;
use tower::{Layer, Service};

use super::caller::{CallerExtractor, CallerId};
use super::early_response::{take_inner, ResponseFuture};
use crate::rate_limit_headers::{write_ietf, write_x_rate_limit, RateLimitInfo, ResetFormat};
use crate::retry_after::write_retry_after;

pub(super) struct Shared {
    limiter: KeyedRateLimiter<CallerId>,
    caller: CallerExtractor,
    missing: MissingKey,
    exempt: ExemptPaths,
    on_admitted: bool,
    ietf: bool,
    x_rate_limit: bool,
    reset_format: ResetFormat,
}

/// What the limiter decided for one request.
enum Decision {
    /// Call the service, adding these headers to its response.
    Admit(Option<HeaderMap>),
    /// Answer with this status and these headers.
    Refuse(StatusCode, HeaderMap),
}

impl Shared {
    fn decide(&self, path: &str, headers: &HeaderMap, ext: &http::Extensions) -> Decision {
        if self.exempt.matches(path) {
            return Decision::Admit(None);
        }
        let id = match self.caller.identify_parts(headers, ext) {
            Some(id) => id,
            None => match self.missing {
                MissingKey::Anonymous => CallerId::Anonymous,
                MissingKey::ClientIp => self
                    .caller
                    .client_ip(headers, ext)
                    .unwrap_or(CallerId::Anonymous),
                MissingKey::Reject => {
                    return Decision::Refuse(StatusCode::BAD_REQUEST, HeaderMap::new())
                }
            },
        };
        match self.limiter.check(&id) {
            Ok(()) => Decision::Admit(self.on_admitted.then(|| self.admitted_headers(&id))),
            Err(rejection) => Decision::Refuse(
                StatusCode::TOO_MANY_REQUESTS,
                self.refused_headers(&rejection),
            ),
        }
    }

    /// The quota's figures: (burst, one token's time).
    fn quota(&self) -> (u32, Duration) {
        let config = self.limiter.config();
        (config.effective_burst(), config.emission_interval())
    }

    fn info(&self, remaining: u32, reset: Duration) -> RateLimitInfo {
        let (burst, interval) = self.quota();
        RateLimitInfo::new(u64::from(burst), u64::from(remaining))
            .with_reset(reset)
            .with_window(interval.saturating_mul(burst))
            .with_policy(self.limiter.name())
    }

    fn admitted_headers(&self, id: &CallerId) -> HeaderMap {
        let (burst, _) = self.quota();
        let (available, full_in) = self
            .limiter
            .key_snapshot(id)
            .map_or((0, Duration::ZERO), |s| (s.available.min(burst), s.full_in));
        let info = self.info(available, full_in);
        self.write(&info)
    }

    fn refused_headers(&self, rejection: &Rejection) -> HeaderMap {
        let (burst, interval) = self.quota();
        let retry = rejection.retry_after().unwrap_or(Duration::ZERO);
        let full = retry.saturating_add(interval.saturating_mul(burst.saturating_sub(1)));
        let mut headers = self.write(&self.info(0, full));
        write_retry_after(&mut headers, retry);
        headers
    }

    fn write(&self, info: &RateLimitInfo) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if self.ietf {
            write_ietf(&mut headers, info);
        }
        if self.x_rate_limit {
            write_x_rate_limit(&mut headers, info, SystemTime::now(), self.reset_format);
        }
        headers
    }
}

/// Rate-limits every request by caller; see the [module docs](self).
///
/// Cheap to clone; clones (and the services they make) share the limiter.
#[derive(Clone)]
pub struct RateLimitLayer {
    shared: Arc<Shared>,
}

impl RateLimitLayer {
    /// Starts building a layer that counts requests in `limiter`, whose name is the
    /// policy name in the `RateLimit` headers.
    pub fn builder(limiter: KeyedRateLimiter<CallerId>) -> RateLimitBuilder {
        RateLimitBuilder::new(limiter)
    }

    /// The limiter, for its snapshots and to change its quota at run time.
    pub fn limiter(&self) -> &KeyedRateLimiter<CallerId> {
        &self.shared.limiter
    }
}

impl std::fmt::Debug for RateLimitLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimitLayer")
            .field("limiter", &self.shared.limiter)
            .field("caller", &self.shared.caller)
            .field("missing", &self.shared.missing)
            .field("exempt", &self.shared.exempt)
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimitService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimitService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`RateLimitLayer`]: answers 429 (or 400) itself, or calls the inner
/// service and adds the rate-limit headers to its response.
#[derive(Clone, Debug)]
pub struct RateLimitService<S> {
    inner: S,
    layer: RateLimitLayer,
}

impl<S> RateLimitService<S> {
    /// The limiter.
    pub fn limiter(&self) -> &KeyedRateLimiter<CallerId> {
        self.layer.limiter()
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RateLimitService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, Request<ReqBody>>;

    #[inline]
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let shared = &self.layer.shared;
        match shared.decide(req.uri().path(), req.headers(), req.extensions()) {
            Decision::Admit(headers) => {
                ResponseFuture::call(take_inner(&mut self.inner), req, headers)
            }
            Decision::Refuse(status, headers) => {
                let mut response = Response::new(ResBody::default());
                *response.status_mut() = status;
                *response.headers_mut() = headers;
                ResponseFuture::answered(response)
            }
        }
    }
}
