//! What every client integration puts on an attempt: the attempt header, and the error
//! of an attempt that could not be sent because its body cannot be sent again.

use http::header::{HeaderName, HeaderValue};
use std::fmt;

/// `Rampart-Attempt`: the attempt number (1 on the first), so the callee knows a
/// request is a retry or a hedge.
pub const RAMPART_ATTEMPT: HeaderName = HeaderName::from_static("rampart-attempt");

/// The value of [`RAMPART_ATTEMPT`] for attempt `n` (1 on the first).
pub fn attempt_value(n: u32) -> HeaderValue {
    HeaderValue::from(n)
}

/// The error of a second attempt at a request whose body cannot be sent again (a stream
/// that cannot be copied, or a replayable body that outgrew its cap): such a request is
/// sent once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotReplayable;

impl fmt::Display for NotReplayable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the request body cannot be sent twice")
    }
}

impl std::error::Error for NotReplayable {}
