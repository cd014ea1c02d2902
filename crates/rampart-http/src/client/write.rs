//! The write timeout: a streamed request body must be taken by the connection within
//! the limit, counted from the connection's first read of it.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// The error of a request whose body was not sent within the dependency's `write`
/// timeout; it reaches the caller as an `io::Error` of kind `TimedOut` wrapping this
/// (so the HTTP classifier reads it as a connection failure), in
/// `reqwest_middleware::Error::Middleware`. [`write_timeout`] finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteTimeout {
    limit: Duration,
}

impl WriteTimeout {
    /// The limit that passed.
    pub fn limit(&self) -> Duration {
        self.limit
    }
}

impl fmt::Display for WriteTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "request body not sent within {:?}", self.limit)
    }
}

impl std::error::Error for WriteTimeout {}

/// The [`WriteTimeout`] inside a middleware error, if the write timeout cut the request.
pub fn write_timeout(err: &reqwest_middleware::Error) -> Option<&WriteTimeout> {
    match err {
        reqwest_middleware::Error::Middleware(e) => e
            .downcast_ref::<io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<WriteTimeout>()),
        reqwest_middleware::Error::Reqwest(_) => None,
    }
}

/// Where the body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sending {
    /// Not read yet (the connection is not open, or the headers are not written).
    NotStarted,
    /// Read for the first time at this instant.
    Since(Instant),
    /// Read to its end.
    Sent,
}

/// Wraps `body`; the returned watch resolves when the limit passes while the body is
/// being sent.
pub(super) fn watch_body(body: reqwest::Body, limit: Duration) -> (reqwest::Body, WriteWatch) {
    let (tx, rx) = watch::channel(Sending::NotStarted);
    let body = WatchedBody { inner: body, tx };
    (reqwest::Body::wrap(body), WriteWatch { rx, limit })
}

/// The timer side of a watched body.
pub(super) struct WriteWatch {
    rx: watch::Receiver<Sending>,
    limit: Duration,
}

impl WriteWatch {
    /// Resolves to the error when the body has been read for longer than the limit
    /// without reaching its end; never resolves otherwise (the body was sent, or
    /// dropped: then there is nothing left to bound).
    pub(super) async fn expired(mut self) -> io::Error {
        loop {
            let state = *self.rx.borrow_and_update();
            match state {
                Sending::Sent => std::future::pending::<()>().await,
                Sending::NotStarted => {
                    if self.rx.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
                Sending::Since(start) => {
                    let deadline = start + self.limit;
                    match tokio::time::timeout_at(deadline, self.rx.changed()).await {
                        Err(_) if *self.rx.borrow() != Sending::Sent => {
                            let timeout = WriteTimeout { limit: self.limit };
                            return io::Error::new(io::ErrorKind::TimedOut, timeout);
                        }
                        Ok(Err(_)) => std::future::pending::<()>().await,
                        Err(_) | Ok(Ok(())) => {}
                    }
                }
            }
        }
    }
}

/// A request body that reports when the connection first reads it and when it ends.
struct WatchedBody {
    inner: reqwest::Body,
    tx: watch::Sender<Sending>,
}

impl Body for WatchedBody {
    type Data = Bytes;
    type Error = reqwest::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, reqwest::Error>>> {
        if *self.tx.borrow() == Sending::NotStarted {
            self.tx.send_replace(Sending::Since(Instant::now()));
        }
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        let ended = match &polled {
            Poll::Ready(None) => true,
            Poll::Ready(Some(Ok(frame))) => frame.is_trailers() || self.inner.is_end_stream(),
            Poll::Ready(Some(Err(_))) | Poll::Pending => false,
        };
        if ended {
            self.tx.send_replace(Sending::Sent);
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
