//! [`RateLimitLayer`]: one token per request, refused at once when the bucket is empty.

use std::task::{Context, Poll};

use tower::{Layer, Service};

use super::admit::{response_future, take_inner, Admitted};
use crate::error::Error;
use crate::rate_limit::RateLimiter;

/// Wraps a service in a [`RateLimiter`]; see the [module docs](super).
#[derive(Debug, Clone)]
pub struct RateLimitLayer {
    limiter: RateLimiter,
}

impl RateLimitLayer {
    /// A layer whose services all draw from `limiter`'s bucket.
    pub fn new(limiter: RateLimiter) -> Self {
        RateLimitLayer { limiter }
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimitService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimitService::new(inner, self.limiter.clone())
    }
}

/// A service that takes one token per request in `call`, and refuses the request
/// (the response future resolves to a
/// [`RateLimited`](crate::RejectionKind::RateLimited) rejection whose `retry_after`
/// says when a token will be back) when there is none.
///
/// `poll_ready` is always ready and takes no token: tower's own rate limit waits in
/// `poll_ready`, which stalls a whole connection; this one answers each request.
/// Clones share the bucket.
#[derive(Debug, Clone)]
pub struct RateLimitService<S> {
    inner: S,
    limiter: RateLimiter,
}

impl<S> RateLimitService<S> {
    /// Wraps `inner` in `limiter`.
    pub fn new(inner: S, limiter: RateLimiter) -> Self {
        RateLimitService { inner, limiter }
    }

    /// The rate limiter, for its snapshot and to change its quota.
    pub fn limiter(&self) -> &RateLimiter {
        &self.limiter
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

response_future! {
    /// The response future of [`RateLimitService`].
    RateLimitFuture, ()
}

impl<S, Req> Service<Req> for RateLimitService<S>
where
    S: Service<Req> + Clone,
{
    type Response = S::Response;
    type Error = Error<S::Error>;
    type Future = RateLimitFuture<S, Req>;

    #[inline]
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let inner = match self.limiter.try_acquire() {
            Ok(()) => Admitted::holding((), take_inner(&mut self.inner), req),
            Err(r) => Admitted::refused(r),
        };
        RateLimitFuture { inner }
    }
}
