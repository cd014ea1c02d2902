//! The responses the service writes itself: refusals and replays.

use bytes::Bytes;
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderName, HeaderValue, Response, StatusCode};

use super::body::ResponseBody;
use super::key::KeyError;
use super::store::StoredResponse;

/// The header a replayed response carries: `Idempotent-Replayed: true`.
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// Why the service answered a request itself instead of running it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// 400: the key is missing or malformed.
    Key(KeyError),
    /// 400: the request body could not be read.
    UnreadableBody,
    /// 413: the request body is larger than the service buffers.
    BodyTooLarge,
    /// 409: a request with this key is running.
    InProgress,
    /// 422: the key was used with another payload.
    Mismatch,
    /// 503: the store failed; the request was not run.
    StoreFailed,
}

impl Refusal {
    fn status(self) -> StatusCode {
        match self {
            Refusal::Key(_) | Refusal::UnreadableBody => StatusCode::BAD_REQUEST,
            Refusal::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Refusal::InProgress => StatusCode::CONFLICT,
            Refusal::Mismatch => StatusCode::UNPROCESSABLE_ENTITY,
            Refusal::StoreFailed => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// A short machine-readable code and a human message.
    fn text(self) -> (&'static str, &'static str) {
        match self {
            Refusal::Key(KeyError::Missing) => (
                "idempotency_key_missing",
                "this request needs an Idempotency-Key header",
            ),
            Refusal::Key(_) => (
                "idempotency_key_invalid",
                "the Idempotency-Key header must be one value of 1 to 255 visible ASCII characters",
            ),
            Refusal::UnreadableBody => ("body_unreadable", "the request body could not be read"),
            Refusal::BodyTooLarge => (
                "body_too_large",
                "the request body is too large for a request with an Idempotency-Key",
            ),
            Refusal::InProgress => (
                "idempotency_key_in_use",
                "a request with this Idempotency-Key is still running; retry later",
            ),
            Refusal::Mismatch => (
                "idempotency_key_reused",
                "this Idempotency-Key was used with a different request",
            ),
            Refusal::StoreFailed => (
                "idempotency_store_unavailable",
                "the Idempotency-Key could not be checked; the request was not run, retry later",
            ),
        }
    }

    /// The response: the status, a small JSON body, and `Retry-After: 1` where waiting
    /// helps (409, 503).
    pub(crate) fn response<B, E>(self) -> Response<ResponseBody<B, E>> {
        let (code, message) = self.text();
        let body = format!(r#"{{"error":"{code}","message":"{message}"}}"#);
        let mut response = Response::new(ResponseBody::full(Bytes::from(body)));
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if matches!(self, Refusal::InProgress | Refusal::StoreFailed) {
            headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

/// A stored response played back, marked with [`IDEMPOTENT_REPLAYED`].
pub(crate) fn replay<B, E>(stored: StoredResponse) -> Response<ResponseBody<B, E>> {
    let mut response = Response::new(ResponseBody::full(stored.body));
    *response.status_mut() = stored.status;
    *response.headers_mut() = stored.headers;
    response
        .headers_mut()
        .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    response
}
