//! A tower layer for HTTP clients (feature `tower`): each `http::Request` runs through a
//! rampart [`Pipeline`], judged by HTTP semantics, with a replayable body.
//!
//! [`HttpPipelineLayer`] wraps any tower service that sends
//! `http::Request<ReplayableBody<B>>` and answers `http::Response<_>` (hyper-util's
//! legacy client, a tower-http stack, a fake in tests). For each request:
//!
//! - the body is wrapped in a [`ReplayableBody`]: the first attempt streams it and
//!   records it up to the cap, and every attempt sends a replay from the start
//!   ([`replay_request`]: method, URI, version, headers and extensions are copied);
//! - each attempt carries [`RAMPART_ATTEMPT`] (`1`, then `2` on the first retry or
//!   hedge...);
//! - responses are judged by an [`HttpClassifier`]: 408, 429, 500, 502, 503, 504 and
//!   connection errors are retried, `Retry-After` wins over the backoff;
//! - a request that may not be sent twice ([`may_retry`]:
//!   not idempotent and without `Idempotency-Key`) is not retried (unless its
//!   connection was never opened) and never sent beside another attempt: a hedge of
//!   it waits until the attempts in flight end, which usually ends the call;
//! - a body that outgrew the cap is sent once: no retry, a hedge waits like the
//!   above, and an attempt that would need the body anyway fails with
//!   [`AttemptError::NotSent`] (classified as ignored, not retried).
//!
//! The service's error is [`rampart::Error<AttemptError<E>>`](rampart::Error): a
//! rejection from a policy, or the last attempt's error. The last attempt's response is
//! returned whatever its status.
//!
//! # Defaults
//!
//! | setting | default |
//! |---|---|
//! | classifier | [`HttpClassifier::default`] ([`HttpPipelineLayer::new`]) |
//! | replay cap | [`DEFAULT_REPLAY_CAP`]: 64 KiB |
//!
//! # Examples
//!
//! ```
//! use bytes::Bytes;
//! use http::{Request, Response};
//! use http_body_util::{BodyExt, Full};
//! use rampart::retry::RetryConfig;
//! use rampart::Pipeline;
//! use rampart_http::replay::ReplayableBody;
//! use rampart_http::tower::HttpPipelineLayer;
//! use std::time::Duration;
//! use tower::{Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let pipeline = Pipeline::builder("payments")
//!     .retry(RetryConfig::exponential(Duration::from_millis(100)).with_max_attempts(3))
//!     .build()?;
//! // A fake server: busy on the first attempt.
//! let server = tower::service_fn(|req: Request<ReplayableBody<Full<Bytes>>>| async move {
//!     let attempt = req.headers()["rampart-attempt"].to_str().unwrap().to_owned();
//!     let body = req.into_body().collect().await.unwrap().to_bytes();
//!     assert_eq!(body, "amount=700");
//!     let status = if attempt == "1" { 503 } else { 200 };
//!     Ok::<_, std::io::Error>(Response::builder().status(status).body(()).unwrap())
//! });
//! let client = HttpPipelineLayer::new(pipeline).layer(server);
//! let request = Request::put("http://payments/charges/7")
//!     .body(Full::new(Bytes::from_static(b"amount=700")))?;
//! let response = client.oneshot(request).await?;
//! assert_eq!(response.status(), 200);
//! # Ok(())
//! # }
//! ```

mod error;

pub use self::error::AttemptError;
pub use crate::attempt::RAMPART_ATTEMPT;

use self::error::AttemptClassifier;
use crate::attempt::{attempt_value, NotReplayable};
use crate::classify::{may_retry, HttpClassifier, TransportError};
use crate::in_flight::InFlight;
use crate::replay::{replay_request, ReplayableBody, DEFAULT_REPLAY_CAP};
use ::tower::{Layer, Service, ServiceExt};
use http::{Request, Response};
use http_body::Body;
use rampart::Pipeline;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll};

/// Runs HTTP requests through a [`Pipeline`]; see the [module docs](self).
pub struct HttpPipelineLayer<E> {
    pipeline: Pipeline,
    classifier: HttpClassifier<E>,
    cap: usize,
}

impl<E> Clone for HttpPipelineLayer<E> {
    fn clone(&self) -> Self {
        HttpPipelineLayer {
            pipeline: self.pipeline.clone(),
            classifier: self.classifier.clone(),
            cap: self.cap,
        }
    }
}

impl<E> fmt::Debug for HttpPipelineLayer<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpPipelineLayer")
            .field("pipeline", &self.pipeline.name())
            .field("classifier", &self.classifier)
            .field("cap", &self.cap)
            .finish()
    }
}

impl<E: TransportError + 'static> HttpPipelineLayer<E> {
    /// Requests go through `pipeline`, judged by [`HttpClassifier::default`] (the
    /// inner service's error says what it means through [`TransportError`]).
    pub fn new(pipeline: Pipeline) -> Self {
        HttpPipelineLayer::with_classifier(pipeline, HttpClassifier::default())
    }
}

impl<E> HttpPipelineLayer<E> {
    /// Requests go through `pipeline`, judged by `classifier` (e.g.
    /// `HttpClassifier::new(|e| transport_failure_of(e))` for an error type you do not
    /// own); the method rules are applied to it for each request.
    pub fn with_classifier(pipeline: Pipeline, classifier: HttpClassifier<E>) -> Self {
        HttpPipelineLayer {
            pipeline,
            classifier,
            cap: DEFAULT_REPLAY_CAP,
        }
    }

    /// Records at most `cap` bytes of each request body; a longer body is sent once.
    pub fn with_replay_cap(mut self, cap: usize) -> Self {
        self.cap = cap;
        self
    }
}

impl<S, E> Layer<S> for HttpPipelineLayer<E> {
    type Service = HttpPipelineService<S, E>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpPipelineService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`HttpPipelineLayer`]: one pipeline call per request, one call of a
/// clone of the inner service per attempt (driven ready inside the attempt).
///
/// `poll_ready` is always ready and takes nothing. Clones share the pipeline's state.
pub struct HttpPipelineService<S, E> {
    inner: S,
    layer: HttpPipelineLayer<E>,
}

impl<S: Clone, E> Clone for HttpPipelineService<S, E> {
    fn clone(&self) -> Self {
        HttpPipelineService {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<S: fmt::Debug, E> fmt::Debug for HttpPipelineService<S, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpPipelineService")
            .field("inner", &self.inner)
            .field("layer", &self.layer)
            .finish()
    }
}

impl<S, E> HttpPipelineService<S, E> {
    /// The pipeline, for its policies' snapshots.
    pub fn pipeline(&self) -> &Pipeline {
        &self.layer.pipeline
    }
}

/// The response future of [`HttpPipelineService`]; dropping it drops every attempt in
/// flight (and their bodies).
#[must_use = "futures do nothing unless polled"]
pub struct HttpPipelineFuture<T, E> {
    call: Pin<Box<dyn Future<Output = CallResult<T, E>> + Send>>,
}

/// What a call of [`HttpPipelineService`] resolves to.
type CallResult<T, E> = Result<T, rampart::Error<AttemptError<E>>>;

impl<T, E> Future for HttpPipelineFuture<T, E> {
    type Output = CallResult<T, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.call.as_mut().poll(cx)
    }
}

impl<T, E> fmt::Debug for HttpPipelineFuture<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpPipelineFuture").finish_non_exhaustive()
    }
}

impl<S, B, RB, E> Service<Request<B>> for HttpPipelineService<S, E>
where
    S: Service<Request<ReplayableBody<B>>, Response = Response<RB>, Error = E>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
    B: Body + Send + 'static,
    RB: Send + 'static,
    E: fmt::Debug + Send + 'static,
{
    type Response = Response<RB>;
    type Error = rampart::Error<AttemptError<E>>;
    type Future = HttpPipelineFuture<Response<RB>, E>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        // Tower's `mem::replace` idiom: each attempt calls its own clone, driven ready.
        let clone = self.inner.clone();
        let svc = std::mem::replace(&mut self.inner, clone);
        let pipeline = self.layer.pipeline.clone();
        let (parts, body) = req.into_parts();
        let http = self.layer.classifier.for_request(&parts);
        let may_send_twice = may_retry(&parts);
        let template = Request::from_parts(parts, ReplayableBody::with_cap(body, self.layer.cap));
        let call = async move {
            let attempts = AtomicU32::new(0);
            let in_flight = InFlight::default();
            let classifier = AttemptClassifier {
                http,
                body: template.body(),
            };
            let (attempts, in_flight, template) = (&attempts, &in_flight, &template);
            // `move`: the closure owns the service (held by reference it would have to
            // be `Sync`).
            let op = move || {
                let attempt = attempts.fetch_add(1, Ordering::Relaxed).saturating_add(1);
                let svc = svc.clone();
                async move {
                    // A request that may not be sent twice, or whose body can no longer
                    // be replayed, is never sent beside another attempt: a hedge of it
                    // waits until the others end (the call usually ends with them).
                    let exclusive = !may_send_twice || !template.body().is_replayable();
                    let _running = in_flight.start(exclusive).await;
                    let Some(mut request) = replay_request(template) else {
                        return Err(AttemptError::NotSent(NotReplayable));
                    };
                    request
                        .headers_mut()
                        .insert(RAMPART_ATTEMPT, attempt_value(attempt));
                    svc.oneshot(request).await.map_err(AttemptError::Service)
                }
            };
            pipeline.call_classified(classifier, op).await
        };
        HttpPipelineFuture {
            call: Box::pin(call),
        }
    }
}
