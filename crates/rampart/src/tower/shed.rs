//! [`LoadShedLayer`]: admits a request by its priority and the load, counting it in
//! flight until its response future completes or is dropped.

use std::task::{Context, Poll};

use tower::{Layer, Service};

use super::admit::{response_future, take_inner, Admitted, Guard};
use crate::error::Error;
use crate::shed::{current_priority, LoadShedder, Priority, ShedPermit};

impl<T, E> Guard<T, E> for ShedPermit<'static> {
    fn finish(self, _: Result<&T, &E>) {}
}

/// How a [`LoadShedService`] finds a request's [`Priority`].
pub trait PriorityOf<Req> {
    /// The priority of `req`.
    fn priority_of(&self, req: &Req) -> Priority;
}

/// The priority of the task's [`shed::scope`](crate::shed::scope) or
/// [`with_priority`](crate::shed::with_priority) when the request is called, else
/// [`Priority::Normal`]: the default of [`LoadShedLayer`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ScopedPriority;

impl<Req> PriorityOf<Req> for ScopedPriority {
    #[inline]
    fn priority_of(&self, _: &Req) -> Priority {
        current_priority().unwrap_or_default()
    }
}

impl<Req, F> PriorityOf<Req> for F
where
    F: Fn(&Req) -> Priority,
{
    #[inline]
    fn priority_of(&self, req: &Req) -> Priority {
        self(req)
    }
}

/// Wraps a service in a [`LoadShedder`]; see the [module docs](super).
#[derive(Debug, Clone)]
pub struct LoadShedLayer<P = ScopedPriority> {
    shedder: LoadShedder,
    priority: P,
}

impl LoadShedLayer {
    /// A layer whose services share `shedder`, reading each request's priority from
    /// the task's scope ([`ScopedPriority`]).
    pub fn new(shedder: LoadShedder) -> Self {
        LoadShedLayer {
            shedder,
            priority: ScopedPriority,
        }
    }
}

impl<P> LoadShedLayer<P> {
    /// Reads each request's priority with `priority` instead (a closure
    /// `Fn(&Req) -> Priority`, e.g. from the route).
    pub fn with_priority<Q>(self, priority: Q) -> LoadShedLayer<Q> {
        LoadShedLayer {
            shedder: self.shedder,
            priority,
        }
    }
}

impl<S, P: Clone> Layer<S> for LoadShedLayer<P> {
    type Service = LoadShedService<S, P>;

    fn layer(&self, inner: S) -> Self::Service {
        LoadShedService {
            inner,
            shedder: self.shedder.clone(),
            priority: self.priority.clone(),
        }
    }
}

/// A service that asks a [`LoadShedder`] in `call` and, when it sheds, resolves the
/// response future to a [`Shed`](crate::RejectionKind::Shed) rejection without calling
/// the inner service.
///
/// `poll_ready` is always ready. An admitted request counts in flight until its
/// response future completes or is dropped. Clones share the shedder.
#[derive(Debug, Clone)]
pub struct LoadShedService<S, P = ScopedPriority> {
    inner: S,
    shedder: LoadShedder,
    priority: P,
}

impl<S> LoadShedService<S> {
    /// Wraps `inner` in `shedder`, with priorities from the task's scope.
    pub fn new(inner: S, shedder: LoadShedder) -> Self {
        LoadShedService {
            inner,
            shedder,
            priority: ScopedPriority,
        }
    }
}

impl<S, P> LoadShedService<S, P> {
    /// The shedder, for its snapshot.
    pub fn shedder(&self) -> &LoadShedder {
        &self.shedder
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

response_future! {
    /// The response future of [`LoadShedService`]: it counts the request in flight.
    LoadShedFuture, ShedPermit<'static>
}

impl<S, P, Req> Service<Req> for LoadShedService<S, P>
where
    S: Service<Req> + Clone,
    P: PriorityOf<Req>,
{
    type Response = S::Response;
    type Error = Error<S::Error>;
    type Future = LoadShedFuture<S, Req>;

    #[inline]
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let priority = self.priority.priority_of(&req);
        let inner = match self.shedder.try_acquire_owned(priority) {
            Ok(permit) => Admitted::holding(permit, take_inner(&mut self.inner), req),
            Err(r) => Admitted::refused(r),
        };
        LoadShedFuture { inner }
    }
}
