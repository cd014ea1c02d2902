//! [`IdempotencyService`]: check the key, claim it in the store, run the request once,
//! store and replay its response.

use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http::header::CONTENT_LENGTH;
use http::{HeaderMap, Request, Response};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use tower::Service;

use super::body::{RequestBody, ResponseBody};
use super::fingerprint::Fingerprint;
use super::guard::LeaseGuard;
use super::key::{key_from_headers, ScopedKey};
use super::layer::Settings;
use super::reply::{replay, Refusal};
use super::store::{Begin, StoreError, StoredResponse};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The response the service answers with.
pub type IdempotencyResponse<B> = Response<ResponseBody<B, <B as Body>::Error>>;

/// The response future of [`IdempotencyService`] (boxed: it awaits the store).
pub type IdempotencyFuture<B, E> =
    Pin<Box<dyn Future<Output = Result<IdempotencyResponse<B>, E>> + Send>>;

/// Put in a response's extensions when the handler ran and its response is returned,
/// but the store failed to keep it: the key stays in progress until its time to live
/// runs out (so the request is never run twice), and retries get 409.
#[derive(Debug, Clone)]
pub struct StoreFailure(pub Arc<StoreError>);

/// The service made by [`IdempotencyLayer`](super::IdempotencyLayer); see the
/// [module docs](super).
///
/// `poll_ready` is always ready: the inner service is driven ready inside the response
/// future, after the key was checked, so a request that is refused holds nothing.
/// Clones share the store.
#[derive(Clone)]
pub struct IdempotencyService<S> {
    inner: S,
    settings: Arc<Settings>,
}

impl<S> IdempotencyService<S> {
    pub(crate) fn new(inner: S, settings: Arc<Settings>) -> Self {
        IdempotencyService { inner, settings }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: std::fmt::Debug> std::fmt::Debug for IdempotencyService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdempotencyService")
            .field("inner", &self.inner)
            .field("config", &self.settings.config)
            .finish_non_exhaustive()
    }
}

impl<S, B, ResB> Service<Request<B>> for IdempotencyService<S>
where
    S: Service<Request<RequestBody<B>>, Response = Response<ResB>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Send,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
    ResB: Body<Data = Bytes> + Send + 'static,
    ResB::Error: Send,
{
    type Response = IdempotencyResponse<ResB>;
    type Error = S::Error;
    type Future = IdempotencyFuture<ResB, S::Error>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        Box::pin(handle(self.settings.clone(), self.inner.clone(), req))
    }
}

/// Drives `svc` ready and sends it `req`.
async fn run<S, B>(svc: &mut S, req: Request<B>) -> Result<S::Response, S::Error>
where
    S: Service<Request<B>>,
{
    poll_fn(|cx| svc.poll_ready(cx)).await?;
    svc.call(req).await
}

async fn handle<S, B, ResB>(
    settings: Arc<Settings>,
    mut svc: S,
    req: Request<B>,
) -> Result<IdempotencyResponse<ResB>, S::Error>
where
    S: Service<Request<RequestBody<B>>, Response = Response<ResB>>,
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
    ResB: Body<Data = Bytes>,
{
    let (parts, body) = req.into_parts();
    if !settings.requires_key(&parts) {
        let req = Request::from_parts(parts, RequestBody::streaming(body));
        return Ok(run(&mut svc, req).await?.map(ResponseBody::streaming));
    }
    let key = match key_from_headers(&parts.headers) {
        Ok(key) => ScopedKey::new(&settings.scope(&parts), key),
        Err(error) => return Ok(Refusal::Key(error).response()),
    };
    let body = match read_request(body, &parts.headers, settings.config.max_request_bytes).await {
        Ok(body) => body,
        Err(refusal) => return Ok(refusal.response()),
    };
    let fingerprint = Fingerprint::of(&parts.method, &parts.uri, &body);
    let ttl = settings.config.ttl;
    let lease = match settings.store.begin(&key, &fingerprint, ttl).await {
        Ok(Begin::Started(lease)) => lease,
        Ok(Begin::InProgress) => return Ok(Refusal::InProgress.response()),
        Ok(Begin::Completed(stored)) => return Ok(replay(stored)),
        Ok(Begin::Mismatch) => return Ok(Refusal::Mismatch.response()),
        Err(_) => return Ok(Refusal::StoreFailed.response()),
    };
    // From here until the response is stored, dropping this future releases the key.
    let guard = LeaseGuard::new(settings.store.clone(), key, lease);
    let req = Request::from_parts(parts, RequestBody::buffered(body));
    let response = match run(&mut svc, req).await {
        Ok(response) => response,
        Err(error) => {
            let _ = guard.release().await;
            return Err(error);
        }
    };
    if !settings.keeps(response.status()) {
        let _ = guard.release().await;
        return Ok(response.map(ResponseBody::streaming));
    }
    let (parts, body) = response.into_parts();
    let body = match read_response(body, settings.config.max_response_bytes).await {
        Ok(body) => body,
        Err(partial) => {
            let _ = guard.release().await;
            return Ok(Response::from_parts(parts, partial));
        }
    };
    let stored = StoredResponse {
        status: parts.status,
        headers: parts.headers.clone(),
        body: body.clone(),
    };
    // The handler ran and its response is worth keeping: the key is not released any
    // more, even when storing fails, so that the request cannot run twice.
    let (store, key, lease) = guard.keep();
    let mut response = Response::from_parts(parts, ResponseBody::full(body));
    if let Err(error) = store.complete(&key, lease, stored, ttl).await {
        response
            .extensions_mut()
            .insert(StoreFailure(Arc::new(error)));
    }
    Ok(response)
}

/// The whole request body, up to `max` bytes.
async fn read_request<B>(body: B, headers: &HeaderMap, max: usize) -> Result<Bytes, Refusal>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max as u64) || body.size_hint().lower() > max as u64 {
        return Err(Refusal::BodyTooLarge);
    }
    match Limited::new(body, max).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<LengthLimitError>() => Err(Refusal::BodyTooLarge),
        Err(_) => Err(Refusal::UnreadableBody),
    }
}

/// The whole response body when it has at most `max` bytes and no trailers; else a
/// body that gives back what was read, then the rest (or the error that stopped it).
async fn read_response<B>(body: B, max: usize) -> Result<Bytes, ResponseBody<B, B::Error>>
where
    B: Body<Data = Bytes>,
{
    let mut body = Box::pin(body);
    let mut held: VecDeque<Frame<Bytes>> = VecDeque::new();
    if body.size_hint().lower() > max as u64 {
        return Err(ResponseBody::resumed(held, Some(body), None));
    }
    let mut size = 0usize;
    loop {
        match body.frame().await {
            None => return Ok(concat(held)),
            Some(Ok(frame)) => {
                let is_data = frame.is_data();
                size = size.saturating_add(frame.data_ref().map_or(0, Bytes::len));
                held.push_back(frame);
                if !is_data || size > max {
                    return Err(ResponseBody::resumed(held, Some(body), None));
                }
            }
            Some(Err(error)) => return Err(ResponseBody::resumed(held, None, Some(error))),
        }
    }
}

/// The data of `frames` as one `Bytes` (without copying when there is one).
fn concat(mut frames: VecDeque<Frame<Bytes>>) -> Bytes {
    if frames.len() <= 1 {
        return frames
            .pop_front()
            .and_then(|f| f.into_data().ok())
            .unwrap_or_default();
    }
    let mut all = BytesMut::new();
    for frame in frames {
        if let Some(data) = frame.data_ref() {
            all.extend_from_slice(data);
        }
    }
    all.freeze()
}
