//! [`PipelineLayer`]: every request through a whole [`Pipeline`], retries and hedges
//! included.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tower::{Layer, Service, ServiceExt};

use super::admit::take_inner;
use crate::classify::{Classify, DefaultClassifier};
use crate::error::Error;
use crate::pipeline::Pipeline;

/// Wraps a service in a [`Pipeline`]; see the [module docs](super).
#[derive(Debug, Clone)]
pub struct PipelineLayer<C = DefaultClassifier> {
    pipeline: Pipeline,
    classifier: C,
}

impl PipelineLayer {
    /// A layer whose services share `pipeline` (its breakers, bulkheads, budgets...);
    /// every `Err` of the inner service is a retryable failure ([`DefaultClassifier`]).
    pub fn new(pipeline: Pipeline) -> Self {
        PipelineLayer {
            pipeline,
            classifier: DefaultClassifier,
        }
    }
}

impl<C> PipelineLayer<C> {
    /// Decides what each response and error counts as, and what is retried, with
    /// `classifier` (e.g. a [`Classifier`](crate::classify::Classifier) that retries a
    /// 503 response and reads its `Retry-After`).
    pub fn with_classifier<C2>(self, classifier: C2) -> PipelineLayer<C2> {
        PipelineLayer {
            pipeline: self.pipeline,
            classifier,
        }
    }
}

impl<S, C: Clone> Layer<S> for PipelineLayer<C> {
    type Service = PipelineService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        PipelineService {
            inner,
            pipeline: self.pipeline.clone(),
            classifier: self.classifier.clone(),
        }
    }
}

/// A service that runs each request through a [`Pipeline`]: one call of the pipeline
/// per request, one call of the inner service per attempt.
///
/// Every attempt sends its own clone of the request to its own clone of the inner
/// service, driven ready inside the attempt: requests must be `Clone` (for
/// `http::Request` with a body that is not, the HTTP integration wraps the body in a
/// replayable one). `poll_ready` is always ready and takes nothing; refusals (open
/// breaker, full bulkhead, no token...) resolve the response future to
/// [`Error::Rejected`]. The error stays typed: [`Error<S::Error>`](Error). Clones share
/// the pipeline's state.
#[derive(Debug, Clone)]
pub struct PipelineService<S, C = DefaultClassifier> {
    inner: S,
    pipeline: Pipeline,
    classifier: C,
}

impl<S> PipelineService<S> {
    /// Wraps `inner` in `pipeline`, with the [`DefaultClassifier`].
    pub fn new(inner: S, pipeline: Pipeline) -> Self {
        PipelineService {
            inner,
            pipeline,
            classifier: DefaultClassifier,
        }
    }
}

impl<S, C> PipelineService<S, C> {
    /// The pipeline, for its policies' snapshots.
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

/// The response future of [`PipelineService`].
///
/// It owns the pipeline call, boxed once per request (the call borrows the pipeline it
/// runs in). Dropping it drops every attempt in flight and gives back what the
/// policies handed out.
#[must_use = "futures do nothing unless polled"]
pub struct PipelineFuture<T, E> {
    call: Pin<Box<dyn Future<Output = Result<T, Error<E>>> + Send>>,
}

impl<T, E> Future for PipelineFuture<T, E> {
    type Output = Result<T, Error<E>>;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.call.as_mut().poll(cx)
    }
}

impl<T, E> fmt::Debug for PipelineFuture<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipelineFuture").finish_non_exhaustive()
    }
}

impl<S, C, Req> Service<Req> for PipelineService<S, C>
where
    S: Service<Req> + Clone + Send + 'static,
    S::Future: Send,
    S::Response: Send + 'static,
    S::Error: fmt::Debug + Send + 'static,
    Req: Clone + Send + 'static,
    C: Classify<S::Response, S::Error> + Clone + Send + Sync + 'static,
{
    type Response = S::Response;
    type Error = Error<S::Error>;
    type Future = PipelineFuture<S::Response, S::Error>;

    #[inline]
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> Self::Future {
        // Tower's `mem::replace` idiom: the request takes the instance `self` held and
        // leaves a fresh clone behind for the next request, so that a service made ready
        // is the one called. Each attempt (a retry or a hedge runs beside another) then
        // calls its own clone of that instance, made ready inside the attempt.
        let svc = take_inner(&mut self.inner);
        let pipeline = self.pipeline.clone();
        let classifier = self.classifier.clone();
        PipelineFuture {
            call: Box::pin(async move {
                pipeline
                    .call_classified(classifier, move || {
                        let svc = svc.clone();
                        let req = req.clone();
                        async move { svc.oneshot(req).await }
                    })
                    .await
            }),
        }
    }
}
