//! Pool slots: at most `pool_size` requests in flight to one dependency, each holding
//! its slot until its response body is read to the end or dropped.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use rampart::{Rejection, RejectionKind};
use reqwest::{Response, ResponseBuilderExt};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The policy name of a [`Rejection`] for a pool wait that timed out.
pub const CLIENT_POOL: &str = "client pool";

/// The slots of one dependency's pool.
#[derive(Debug, Clone)]
pub(super) struct PoolSlots {
    name: Arc<str>,
    slots: Arc<Semaphore>,
    wait: Option<Duration>,
}

impl PoolSlots {
    pub(super) fn new(name: &str, size: u32, wait: Option<Duration>) -> Self {
        PoolSlots {
            name: name.into(),
            slots: Arc::new(Semaphore::new(size as usize)),
            wait,
        }
    }

    /// A slot, waiting at most the pool timeout for one.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future gives up the place in the queue; nothing is taken.
    pub(super) async fn acquire(&self) -> Result<OwnedSemaphorePermit, Rejection> {
        let acquire = self.slots.clone().acquire_owned();
        let permit = match self.wait {
            Some(wait) => tokio::time::timeout(wait, acquire)
                .await
                .map_err(|_| self.timed_out(wait))?,
            None => acquire.await,
        };
        // The semaphore is never closed.
        permit.map_err(|_| self.timed_out(Duration::ZERO))
    }

    fn timed_out(&self, waited: Duration) -> Rejection {
        Rejection::new(self.name.clone(), CLIENT_POOL, RejectionKind::BulkheadFull)
            .with_elapsed(waited)
    }
}

/// `response` with its body holding `permit` until the body ends or is dropped.
pub(super) fn hold_until_read(response: Response, permit: OwnedSemaphorePermit) -> Response {
    let url = response.url().clone();
    let (mut parts, body) = http::Response::<reqwest::Body>::from(response).into_parts();
    // The URL travels in an extension that only reqwest's response builder can write.
    if let Ok(with_url) = http::Response::builder().url(url).body(()) {
        parts.extensions.extend(with_url.into_parts().0.extensions);
    }
    let body = SlotBody {
        inner: body,
        permit: Some(permit),
    };
    Response::from(http::Response::from_parts(parts, reqwest::Body::wrap(body)))
}

/// A response body that gives its pool slot back at its end.
struct SlotBody {
    inner: reqwest::Body,
    permit: Option<OwnedSemaphorePermit>,
}

impl Body for SlotBody {
    type Data = Bytes;
    type Error = reqwest::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, reqwest::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        let ended = match &polled {
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => true,
            Poll::Ready(Some(Ok(_))) => self.inner.is_end_stream(),
            Poll::Pending => false,
        };
        if ended {
            self.permit = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
