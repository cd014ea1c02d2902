//! The bodies the service hands on: a request body that is either buffered (to be
//! fingerprinted) or the client's own stream, and a response body that is either
//! buffered (stored, replayed or a refusal) or the handler's stream, possibly after
//! frames already read from it.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

pin_project_lite::pin_project! {
    /// The request body the inner service receives: the whole body, read already to
    /// fingerprint it, or the client's body untouched on requests that need no key.
    #[derive(Debug)]
    pub struct RequestBody<B> {
        buffered: Option<Bytes>,
        #[pin]
        rest: Option<B>,
    }
}

impl<B> RequestBody<B> {
    /// A body already read whole.
    pub(crate) fn buffered(bytes: Bytes) -> Self {
        RequestBody {
            buffered: Some(bytes).filter(|b| !b.is_empty()),
            rest: None,
        }
    }

    /// The client's body, passed on as it comes.
    pub(crate) fn streaming(body: B) -> Self {
        RequestBody {
            buffered: None,
            rest: Some(body),
        }
    }
}

impl<B: Body<Data = Bytes>> Body for RequestBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        if let Some(bytes) = this.buffered.take() {
            return Poll::Ready(Some(Ok(Frame::data(bytes))));
        }
        match this.rest.as_pin_mut() {
            Some(rest) => rest.poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.buffered.is_none() && self.rest.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        match (&self.buffered, &self.rest) {
            (_, Some(rest)) => rest.size_hint(),
            (Some(bytes), None) => SizeHint::with_exact(bytes.len() as u64),
            (None, None) => SizeHint::with_exact(0),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response body the service answers with: frames held in memory (a stored or
    /// replayed response, a refusal, or the part of a handler's body read before it
    /// proved too large to store), then the rest of the handler's body, if any.
    #[derive(Debug)]
    pub struct ResponseBody<B, E> {
        held: VecDeque<Frame<Bytes>>,
        error: Option<E>,
        #[pin]
        rest: Option<B>,
        // The rest of a body that was read in part (boxed to be polled before).
        boxed: Option<Pin<Box<B>>>,
    }
}

impl<B, E> ResponseBody<B, E> {
    /// A whole body held in memory.
    pub(crate) fn full(bytes: Bytes) -> Self {
        let held = Some(bytes)
            .filter(|b| !b.is_empty())
            .map(Frame::data)
            .into_iter()
            .collect();
        ResponseBody {
            held,
            error: None,
            rest: None,
            boxed: None,
        }
    }

    /// The handler's body untouched.
    pub(crate) fn streaming(body: B) -> Self {
        ResponseBody {
            held: VecDeque::new(),
            error: None,
            rest: Some(body),
            boxed: None,
        }
    }

    /// Frames read already, then `rest` (or, when reading failed, `error`).
    pub(crate) fn resumed(
        held: VecDeque<Frame<Bytes>>,
        boxed: Option<Pin<Box<B>>>,
        error: Option<E>,
    ) -> Self {
        ResponseBody {
            held,
            error,
            rest: None,
            boxed,
        }
    }
}

impl<B: Body<Data = Bytes, Error = E>, E> Body for ResponseBody<B, E> {
    type Data = Bytes;
    type Error = E;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, E>>> {
        let this = self.project();
        if let Some(frame) = this.held.pop_front() {
            return Poll::Ready(Some(Ok(frame)));
        }
        if let Some(error) = this.error.take() {
            return Poll::Ready(Some(Err(error)));
        }
        if let Some(rest) = this.rest.as_pin_mut() {
            return rest.poll_frame(cx);
        }
        match this.boxed {
            Some(boxed) => boxed.as_mut().poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.held.is_empty()
            && self.error.is_none()
            && self.rest.as_ref().is_none_or(Body::is_end_stream)
            && self.boxed.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        let held: u64 = self
            .held
            .iter()
            .filter_map(Frame::data_ref)
            .map(|d| d.len() as u64)
            .sum();
        let rest = self.rest.as_ref().or(self.boxed.as_deref());
        match rest {
            None => SizeHint::with_exact(held),
            Some(rest) => {
                let inner = rest.size_hint();
                let mut hint = SizeHint::new();
                hint.set_lower(inner.lower().saturating_add(held));
                if let Some(upper) = inner.upper() {
                    hint.set_upper(upper.saturating_add(held));
                }
                hint
            }
        }
    }
}
