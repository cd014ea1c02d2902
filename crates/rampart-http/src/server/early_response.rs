//! The response future of the rate-limit and load-shed services: either a response
//! the middleware made itself (429, 503, 400), or the inner service's response with
//! headers added, holding a load shedder's permit until it resolves or is dropped.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::header::HeaderMap;
use http::Response;
use rampart::shed::{Priority, ShedPermit};
use tower::Service;

/// The service to send one request to: the instance driven ready stays with this
/// request, and a fresh clone takes its place for the next `call` (tower's
/// `mem::replace` idiom).
pub(super) fn take_inner<S: Clone>(inner: &mut S) -> S {
    let clone = inner.clone();
    std::mem::replace(inner, clone)
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<S, Req, F, R> {
        Answered { response: Option<R> },
        Readying { svc: S, req: Option<Req> },
        Calling { #[pin] fut: F },
        Done,
    }
}

pin_project_lite::pin_project! {
    /// The response future of the server middleware
    /// ([`RateLimitService`](super::rate_limit::RateLimitService),
    /// [`LoadShedService`](super::load_shed::LoadShedService)).
    ///
    /// Resolves to the middleware's own response when it refused the request, else to
    /// the inner service's response (with the rate-limit headers, when configured) or
    /// its error. A load shedder's permit is held until this resolves or is dropped.
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<S, Req>
    where
        S: Service<Req>,
    {
        #[pin]
        state: State<S, Req, S::Future, S::Response>,
        headers: Option<HeaderMap>,
        permit: Option<ShedPermit<'static>>,
        priority: Option<Priority>,
    }
}

impl<S: Service<Req>, Req> ResponseFuture<S, Req> {
    /// Resolves to `response` at once, without calling the inner service.
    pub(super) fn answered(response: S::Response) -> Self {
        ResponseFuture {
            state: State::Answered {
                response: Some(response),
            },
            headers: None,
            permit: None,
            priority: None,
        }
    }

    /// Calls `svc` once it is ready; adds `headers` to its response (where the response
    /// does not set them itself).
    pub(super) fn call(svc: S, req: Req, headers: Option<HeaderMap>) -> Self {
        ResponseFuture {
            state: State::Readying {
                svc,
                req: Some(req),
            },
            headers,
            permit: None,
            priority: None,
        }
    }

    /// Calls `svc` once it is ready, holding `permit` until its response, and polls it
    /// with `priority` as the task's [shed priority](rampart::shed::current_priority).
    pub(super) fn call_admitted(
        svc: S,
        req: Req,
        permit: ShedPermit<'static>,
        priority: Priority,
    ) -> Self {
        ResponseFuture {
            permit: Some(permit),
            priority: Some(priority),
            ..Self::call(svc, req, None)
        }
    }
}

impl<S, Req, B> Future for ResponseFuture<S, Req>
where
    S: Service<Req, Response = Response<B>>,
{
    type Output = Result<Response<B>, S::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let mut this = self.as_mut().project();
            match this.state.as_mut().project() {
                StateProj::Answered { response } => {
                    let response = response.take().expect("polled after completion");
                    this.state.set(State::Done);
                    return Poll::Ready(Ok(response));
                }
                StateProj::Readying { svc, req } => {
                    let ready = match *this.priority {
                        Some(p) => rampart::shed::scope(p, || svc.poll_ready(cx)),
                        None => svc.poll_ready(cx),
                    };
                    if let Err(e) = ready!(ready) {
                        this.state.set(State::Done);
                        *this.permit = None;
                        return Poll::Ready(Err(e));
                    }
                    let req = req.take().expect("polled after completion");
                    let fut = match *this.priority {
                        Some(p) => rampart::shed::scope(p, || svc.call(req)),
                        None => svc.call(req),
                    };
                    this.state.set(State::Calling { fut });
                }
                StateProj::Calling { fut } => {
                    let mut out = match *this.priority {
                        Some(p) => ready!(rampart::shed::scope(p, || fut.poll(cx))),
                        None => ready!(fut.poll(cx)),
                    };
                    this.state.set(State::Done);
                    *this.permit = None;
                    if let (Ok(response), Some(extra)) = (&mut out, this.headers.take()) {
                        add_missing(response.headers_mut(), extra);
                    }
                    return Poll::Ready(out);
                }
                StateProj::Done => panic!("polled after completion"),
            }
        }
    }
}

/// Adds every header of `extra` that `headers` does not have yet.
fn add_missing(headers: &mut HeaderMap, extra: HeaderMap) {
    for (name, value) in extra {
        if let Some(name) = name {
            headers.entry(name).or_insert(value);
        }
    }
}

impl<S: Service<Req>, Req> fmt::Debug for ResponseFuture<S, Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Answered { .. } => "answered",
            State::Readying { .. } => "readying",
            State::Calling { .. } => "calling",
            State::Done => "done",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .field("holds_permit", &self.permit.is_some())
            .finish()
    }
}
