//! The response future shared by the per-policy services: take a guard from the policy,
//! drive the inner service's readiness, call it, and hold the guard until the inner
//! future completes or this future is dropped.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tower::Service;

use crate::error::{Error, Rejection};

/// What a policy hands a call and takes back when the call is over.
pub(crate) trait Guard<T, E> {
    /// The inner service answered: `outcome` is its response or error. Not called when
    /// the response future is dropped first (the guard is then simply dropped).
    fn finish(self, outcome: Result<&T, &E>);
}

impl<T, E> Guard<T, E> for () {
    fn finish(self, _: Result<&T, &E>) {}
}

/// A boxed wait for a guard (a queued bulkhead slot).
/// The service to send one request to: the one that was driven ready stays out of the
/// caller's hands, and a fresh clone takes its place for the next `call` (tower's
/// `mem::replace` idiom, so a clone that was never polled ready is never called).
pub(crate) fn take_inner<S: Clone>(inner: &mut S) -> S {
    let clone = inner.clone();
    std::mem::replace(inner, clone)
}

pub(crate) type Acquire<G> = Pin<Box<dyn Future<Output = Result<G, Rejection>> + Send>>;

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<S, Req, G, F> {
        Refused { rejection: Option<Rejection> },
        Waiting { acquire: Acquire<G>, svc: Option<S>, req: Option<Req> },
        Readying { svc: S, req: Option<Req> },
        Calling { #[pin] fut: F },
        Done,
    }
}

pin_project_lite::pin_project! {
    /// Admission, readiness and the inner call, in that order; the guard lives in
    /// `guard` from admission until the inner future resolves or this is dropped.
    pub(crate) struct Admitted<S, Req, G, F> {
        #[pin]
        state: State<S, Req, G, F>,
        guard: Option<G>,
    }
}

impl<S, Req, G, F> Admitted<S, Req, G, F> {
    /// The policy refused: resolves to the rejection at once, without calling `svc`.
    pub(crate) fn refused(rejection: Rejection) -> Self {
        Admitted {
            state: State::Refused {
                rejection: Some(rejection),
            },
            guard: None,
        }
    }

    /// Admitted now, holding `guard`.
    pub(crate) fn holding(guard: G, svc: S, req: Req) -> Self {
        Admitted {
            state: State::Readying {
                svc,
                req: Some(req),
            },
            guard: Some(guard),
        }
    }

    /// Admitted once `acquire` resolves.
    pub(crate) fn waiting(acquire: Acquire<G>, svc: S, req: Req) -> Self {
        Admitted {
            state: State::Waiting {
                acquire,
                svc: Some(svc),
                req: Some(req),
            },
            guard: None,
        }
    }
}

impl<S, Req, G> Future for Admitted<S, Req, G, S::Future>
where
    S: Service<Req>,
    G: Guard<S::Response, S::Error>,
{
    type Output = Result<S::Response, Error<S::Error>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let mut this = self.as_mut().project();
            match this.state.as_mut().project() {
                StateProj::Refused { rejection } => {
                    let r = rejection.take().expect("polled after completion");
                    this.state.set(State::Done);
                    return Poll::Ready(Err(Error::Rejected(r)));
                }
                StateProj::Waiting { acquire, svc, req } => {
                    let admitted = ready!(acquire.as_mut().poll(cx));
                    match admitted {
                        Ok(guard) => {
                            *this.guard = Some(guard);
                            let (svc, req) = (svc.take(), req.take());
                            let svc = svc.expect("polled after completion");
                            this.state.set(State::Readying { svc, req });
                        }
                        Err(r) => {
                            this.state.set(State::Done);
                            return Poll::Ready(Err(Error::Rejected(r)));
                        }
                    }
                }
                StateProj::Readying { svc, req } => {
                    if let Err(e) = ready!(svc.poll_ready(cx)) {
                        if let Some(g) = this.guard.take() {
                            g.finish(Err(&e));
                        }
                        this.state.set(State::Done);
                        return Poll::Ready(Err(Error::Operation(e)));
                    }
                    let fut = svc.call(req.take().expect("polled after completion"));
                    this.state.set(State::Calling { fut });
                }
                StateProj::Calling { fut } => {
                    let out = ready!(fut.poll(cx));
                    if let Some(g) = this.guard.take() {
                        g.finish(out.as_ref());
                    }
                    this.state.set(State::Done);
                    return Poll::Ready(out.map_err(Error::Operation));
                }
                StateProj::Done => panic!("polled after completion"),
            }
        }
    }
}

impl<S, Req, G, F> fmt::Debug for Admitted<S, Req, G, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Refused { .. } => "refused",
            State::Waiting { .. } => "waiting",
            State::Readying { .. } => "readying",
            State::Calling { .. } => "calling",
            State::Done => "done",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .field("admitted", &self.guard.is_some())
            .finish()
    }
}

/// Declares a policy's response future: a named wrapper over [`Admitted`], so that the
/// guard type stays private.
macro_rules! response_future {
    ($(#[$doc:meta])* $name:ident, $guard:ty $(, $extra:ident)? $(; $($bounds:tt)*)?) => {
        pin_project_lite::pin_project! {
            $(#[$doc])*
            ///
            /// Resolves to the inner service's response, [`Error::Operation`](crate::Error::Operation)
            /// with its error, or [`Error::Rejected`](crate::Error::Rejected) when the
            /// policy refused. Dropping it gives back whatever the policy handed out.
            #[must_use = "futures do nothing unless polled"]
            pub struct $name<S, Req $(, $extra)?>
            where
                S: tower::Service<Req>,
            {
                #[pin]
                inner: $crate::tower::admit::Admitted<S, Req, $guard, S::Future>,
            }
        }

        impl<S, Req $(, $extra)?> std::future::Future for $name<S, Req $(, $extra)?>
        where
            S: tower::Service<Req>,
            $($($bounds)*)?
        {
            type Output = Result<S::Response, $crate::Error<S::Error>>;

            #[inline]
            fn poll(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<Self::Output> {
                self.project().inner.poll(cx)
            }
        }

        impl<S, Req $(, $extra)?> std::fmt::Debug for $name<S, Req $(, $extra)?>
        where
            S: tower::Service<Req>,
        {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.inner.fmt(f)
            }
        }
    };
}
pub(crate) use response_future;
