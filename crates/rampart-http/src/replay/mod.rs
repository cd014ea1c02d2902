//! Request bodies that can be sent again: [`ReplayableBody`] records a body while it is
//! sent, up to a cap, so that a retry or a hedge sends the same bytes.
//!
//! An `http::Request`'s body is usually a stream that can be read once, so a pipeline
//! that retries or hedges needs a copy of it. Buffering every body up front costs memory
//! and latency; [`ReplayableBody`] buffers lazily instead: the first attempt streams the
//! original body and records each frame as it passes, and [`replay`](ReplayableBody::replay)
//! hands a later attempt a body that yields the recorded frames, then goes on reading
//! the original where the recording stops. All handles share one source behind a lock,
//! so a hedge started while the first attempt is still sending gets the whole body too,
//! whichever of them reads the rest first.
//!
//! **The cap.** Once more than the cap (64 KiB by default) has been read, the recording
//! is dropped: the handle that read past the cap keeps the source and streams on, every
//! other handle fails with [`NotReplayable`], and [`replay`](ReplayableBody::replay)
//! returns `None`. A body above the cap is therefore sent once and never retried, and
//! memory stays bounded by the cap (data bytes; trailers are kept besides). Recording is
//! cheap: `Bytes` frames are kept by reference count, other buffers are copied once.
//!
//! **Trailers** are recorded and replayed. A source error fails the handle that read it
//! with [`ReplayError::Body`] and every other handle with
//! [`ReplayError::NotReplayable`]: a broken body is never replayed.
//!
//! [`replay_request`] copies a whole `http::Request` around a replayable body; the
//! tower layer in `crate::tower` (feature `tower`) uses it for each attempt.
//!
//! # Defaults
//!
//! | setting | default |
//! |---|---|
//! | cap ([`ReplayableBody::with_cap`]) | [`DEFAULT_REPLAY_CAP`]: 64 KiB |
//!
//! # Examples
//!
//! ```
//! use bytes::Bytes;
//! use http_body_util::{BodyExt, Full};
//! use rampart_http::replay::ReplayableBody;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let first = ReplayableBody::new(Full::new(Bytes::from_static(b"amount=700")));
//! let second = first.replay().expect("under the cap");
//! assert_eq!(first.collect().await.unwrap().to_bytes(), "amount=700");
//! assert_eq!(second.collect().await.unwrap().to_bytes(), "amount=700");
//!
//! // Above the cap: sent once, not replayable.
//! let big = ReplayableBody::with_cap(Full::new(Bytes::from(vec![0u8; 100])), 64);
//! let sent = big.replay().unwrap();
//! assert_eq!(sent.collect().await.unwrap().to_bytes().len(), 100);
//! assert!(big.replay().is_none());
//! # }
//! ```

mod request;
mod shared;

pub use self::request::replay_request;
pub use crate::attempt::NotReplayable;

use self::shared::{Cursor, Shared, Step, Waiters};
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

/// The cap of a [`ReplayableBody`] unless set: 64 KiB.
pub const DEFAULT_REPLAY_CAP: usize = 64 * 1024;

/// A request body that records itself so that it can be sent again; see the
/// [module docs](self).
///
/// Each value is one reading of the body; [`replay`](Self::replay) makes another one,
/// from the start. Dropping a handle at any point (a cancelled attempt) releases
/// nothing that others wait for: whatever it read is recorded, and the source stays
/// for the next reader.
pub struct ReplayableBody<B> {
    shared: Arc<Mutex<Shared<B>>>,
    waiters: Arc<Waiters>,
    id: u64,
    cursor: Cursor,
    done: bool,
}

impl<B: Body> ReplayableBody<B> {
    /// Wraps `body`, recording up to [`DEFAULT_REPLAY_CAP`] bytes.
    pub fn new(body: B) -> Self {
        ReplayableBody::with_cap(body, DEFAULT_REPLAY_CAP)
    }

    /// Wraps `body`, recording up to `cap` bytes of data; a body longer than `cap` is
    /// sent once.
    pub fn with_cap(body: B, cap: usize) -> Self {
        let mut shared = Shared::new(body, cap);
        let id = shared.id();
        ReplayableBody {
            shared: Arc::new(Mutex::new(shared)),
            waiters: Arc::default(),
            id,
            cursor: Cursor::default(),
            done: false,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Shared<B>> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new reading of the body from its start, or `None` when the body outgrew its
    /// cap or its source failed (the request must not be sent again).
    ///
    /// The replay yields the recorded frames, then reads on from the source (shared
    /// with every other handle) if the recording is not complete yet.
    pub fn replay(&self) -> Option<Self> {
        let mut shared = self.lock();
        if !shared.replayable() {
            return None;
        }
        let id = shared.id();
        drop(shared);
        Some(ReplayableBody {
            shared: self.shared.clone(),
            waiters: self.waiters.clone(),
            id,
            cursor: Cursor::default(),
            done: false,
        })
    }

    /// Whether [`replay`](Self::replay) would give a body: the body has not outgrown
    /// its cap and its source has not failed. It can turn false later, when another
    /// handle reads past the cap; never back to true.
    pub fn is_replayable(&self) -> bool {
        self.lock().replayable()
    }
}

impl<B> Drop for ReplayableBody<B> {
    fn drop(&mut self) {
        // A dropped reader no longer waits; the others stay registered.
        self.waiters.remove(self.id);
    }
}

impl<B> fmt::Debug for ReplayableBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplayableBody")
            .field("id", &self.id)
            .field("read", &self.cursor.bytes)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl<B: Body> Body for ReplayableBody<B> {
    type Data = Bytes;
    type Error = ReplayError<B::Error>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.done {
            return Poll::Ready(None);
        }
        let this = &mut *self;
        let step = {
            let mut shared = this.shared.lock().unwrap_or_else(PoisonError::into_inner);
            shared.step(this.id, &mut this.cursor, &this.waiters, cx)
        };
        let frame = match step {
            Step::Pending => return Poll::Pending,
            Step::Data(bytes) => Ok(Frame::data(bytes)),
            Step::Trailers(trailers) => {
                this.done = true;
                Ok(Frame::trailers(trailers))
            }
            Step::End => {
                this.done = true;
                return Poll::Ready(None);
            }
            Step::SourceError(e) => {
                this.done = true;
                Err(ReplayError::Body(e))
            }
            Step::Refused => {
                this.done = true;
                Err(ReplayError::NotReplayable(NotReplayable))
            }
        };
        Poll::Ready(Some(frame))
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.lock().at_end(&self.cursor)
    }

    fn size_hint(&self) -> SizeHint {
        if self.done {
            return SizeHint::with_exact(0);
        }
        self.lock().size_hint(self.id, &self.cursor)
    }
}

/// The error of a [`ReplayableBody`].
#[derive(Debug)]
pub enum ReplayError<E> {
    /// The original body failed while this handle read it.
    Body(E),
    /// This handle cannot send the whole body: another handle read past the cap, or the
    /// source failed on another handle's read.
    NotReplayable(NotReplayable),
}

impl<E: fmt::Display> fmt::Display for ReplayError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplayError::Body(e) => write!(f, "request body: {e}"),
            ReplayError::NotReplayable(e) => e.fmt(f),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for ReplayError<E> {}
