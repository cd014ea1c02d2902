//! A copy of a whole request around a replayable body.

use super::ReplayableBody;
use http::Request;
use http_body::Body;

/// A copy of `req` for another attempt: its method, URI, version, headers and
/// extensions (http 1 requires every extension to be `Clone`, so all of them are
/// copied), with a [replay](ReplayableBody::replay) of its body from the start.
///
/// `None` when the body cannot be sent again (it outgrew its cap, or its source
/// failed): the request must then not be retried.
///
/// # Examples
///
/// ```
/// use http::Request;
/// use http_body_util::{BodyExt, Full};
/// use rampart_http::replay::{replay_request, ReplayableBody};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let req = Request::post("http://payments/charges")
///     .header("idempotency-key", "k-7")
///     .body(ReplayableBody::new(Full::new(bytes::Bytes::from_static(b"700"))))
///     .unwrap();
/// let copy = replay_request(&req).unwrap();
/// assert_eq!(copy.headers()["idempotency-key"], "k-7");
/// assert_eq!(copy.into_body().collect().await.unwrap().to_bytes(), "700");
/// # }
/// ```
pub fn replay_request<B: Body>(
    req: &Request<ReplayableBody<B>>,
) -> Option<Request<ReplayableBody<B>>> {
    let body = req.body().replay()?;
    let mut copy = Request::new(body);
    *copy.method_mut() = req.method().clone();
    *copy.uri_mut() = req.uri().clone();
    *copy.version_mut() = req.version();
    *copy.headers_mut() = req.headers().clone();
    *copy.extensions_mut() = req.extensions().clone();
    Some(copy)
}
