//! [`TimeoutLayer`]: a request that takes longer than the limit (waiting for the inner
//! service to be ready included) is dropped and refused.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tower::{Layer, Service};

use super::admit::{take_inner, Admitted};
use crate::config::ConfigError;
use crate::error::{Error, Rejection};
use crate::timeout::{timeout, Timeout, TimeoutConfig};

/// Limits each request of a service in time; see the [module docs](super).
#[derive(Debug, Clone)]
pub struct TimeoutLayer {
    name: Arc<str>,
    duration: Duration,
}

impl TimeoutLayer {
    /// A layer that limits each request to `config.duration`; `name` names the
    /// dependency in rejections.
    ///
    /// # Errors
    ///
    /// The [`ConfigError`] of [`TimeoutConfig::validate`] (a zero duration).
    pub fn new(name: &str, config: TimeoutConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(TimeoutLayer {
            name: name.into(),
            duration: config.duration,
        })
    }
}

impl<S> Layer<S> for TimeoutLayer {
    type Service = TimeoutService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TimeoutService {
            inner,
            name: Arc::clone(&self.name),
            duration: self.duration,
        }
    }
}

/// A service whose requests each run for at most a duration (and no longer than the
/// deadline in force, see [`timeout`](crate::timeout::timeout)); a request over time is
/// dropped and its response future resolves to a
/// [`Timeout`](crate::RejectionKind::Timeout) (or
/// [`DeadlineExceeded`](crate::RejectionKind::DeadlineExceeded)) rejection with the
/// time it ran.
///
/// `poll_ready` is always ready: waiting for the inner service to be ready happens in
/// the response future, within the limit.
#[derive(Debug, Clone)]
pub struct TimeoutService<S> {
    inner: S,
    name: Arc<str>,
    duration: Duration,
}

impl<S> TimeoutService<S> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`TimeoutService`].
    ///
    /// Resolves to the inner service's response, [`Error::Operation`] with its error,
    /// or [`Error::Rejected`] when the time was up. Dropping it drops the inner future.
    #[must_use = "futures do nothing unless polled"]
    pub struct TimeoutFuture<S, Req>
    where
        S: Service<Req>,
    {
        #[pin]
        inner: Timeout<Admitted<S, Req, (), S::Future>>,
        name: Arc<str>,
    }
}

impl<S, Req> Future for TimeoutFuture<S, Req>
where
    S: Service<Req>,
{
    type Output = Result<S::Response, Error<S::Error>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        Poll::Ready(match ready!(this.inner.poll(cx)) {
            Ok(out) => out,
            Err(elapsed) => Err(Error::Rejected(
                Rejection::new(Arc::clone(this.name), "timeout", elapsed.kind())
                    .with_elapsed(elapsed.after()),
            )),
        })
    }
}

impl<S: Service<Req>, Req> std::fmt::Debug for TimeoutFuture<S, Req> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimeoutFuture")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<S, Req> Service<Req> for TimeoutService<S>
where
    S: Service<Req> + Clone,
{
    type Response = S::Response;
    type Error = Error<S::Error>;
    type Future = TimeoutFuture<S, Req>;

    #[inline]
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let svc = take_inner(&mut self.inner);
        TimeoutFuture {
            inner: timeout(self.duration, Admitted::holding((), svc, req)),
            name: Arc::clone(&self.name),
        }
    }
}
