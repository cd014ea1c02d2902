//! [`BulkheadLayer`]: at most `max_concurrent` requests inside the inner service, with
//! an optional queue.

use std::task::{Context, Poll};

use tower::{Layer, Service};

use super::admit::{response_future, take_inner, Admitted, Guard};
use crate::bulkhead::{Bulkhead, BulkheadPermit};
use crate::error::Error;

impl<T, E> Guard<T, E> for BulkheadPermit {
    fn finish(self, _: Result<&T, &E>) {}
}

/// Wraps a service in a [`Bulkhead`]; see the [module docs](super).
#[derive(Debug, Clone)]
pub struct BulkheadLayer {
    bulkhead: Bulkhead,
}

impl BulkheadLayer {
    /// A layer whose services all share `bulkhead`'s permits.
    pub fn new(bulkhead: Bulkhead) -> Self {
        BulkheadLayer { bulkhead }
    }
}

impl<S> Layer<S> for BulkheadLayer {
    type Service = BulkheadService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BulkheadService::new(inner, self.bulkhead.clone())
    }
}

/// A service whose requests each hold a [`Bulkhead`] permit from `call` until the
/// response future completes or is dropped.
///
/// `poll_ready` is always ready and takes nothing: the permit is taken in `call`, so an
/// idle connection holds no permit. With a queue configured, the response future waits
/// in it; a full bulkhead resolves the future to a
/// [`BulkheadFull`](crate::RejectionKind::BulkheadFull) rejection. Clones share the
/// bulkhead.
#[derive(Debug, Clone)]
pub struct BulkheadService<S> {
    inner: S,
    bulkhead: Bulkhead,
}

impl<S> BulkheadService<S> {
    /// Wraps `inner` in `bulkhead`.
    pub fn new(inner: S, bulkhead: Bulkhead) -> Self {
        BulkheadService { inner, bulkhead }
    }

    /// The bulkhead, for its snapshot.
    pub fn bulkhead(&self) -> &Bulkhead {
        &self.bulkhead
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

response_future! {
    /// The response future of [`BulkheadService`]: it holds the permit.
    BulkheadFuture, BulkheadPermit
}

impl<S, Req> Service<Req> for BulkheadService<S>
where
    S: Service<Req> + Clone,
{
    type Response = S::Response;
    type Error = Error<S::Error>;
    type Future = BulkheadFuture<S, Req>;

    #[inline]
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let svc = take_inner(&mut self.inner);
        let inner = match self.bulkhead.try_take_permit() {
            Some(permit) => Admitted::holding(permit, svc, req),
            None => {
                let bulkhead = self.bulkhead.clone();
                Admitted::waiting(Box::pin(async move { bulkhead.acquire().await }), svc, req)
            }
        };
        BulkheadFuture { inner }
    }
}
