//! The error of one attempt, and how the layer classifies attempts.

use crate::classify::HttpClassifier;
use crate::replay::{NotReplayable, ReplayableBody};
use http::Response;
use http_body::Body;
use rampart::classify::{Classify, OutcomeClass, Verdict};
use std::fmt;

/// The error of one attempt of [`HttpPipelineService`](super::HttpPipelineService).
#[derive(Debug)]
pub enum AttemptError<E> {
    /// The inner service failed.
    Service(E),
    /// The attempt was not sent: the body cannot be sent again (it outgrew its cap), or
    /// it was a hedge of a request that may not be sent twice.
    NotSent(NotReplayable),
}

impl<E> AttemptError<E> {
    /// The inner service's error, if that is what this is.
    pub fn into_service(self) -> Option<E> {
        match self {
            AttemptError::Service(e) => Some(e),
            AttemptError::NotSent(_) => None,
        }
    }
}

impl<E: fmt::Display> fmt::Display for AttemptError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttemptError::Service(e) => e.fmt(f),
            AttemptError::NotSent(e) => e.fmt(f),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for AttemptError<E> {}

/// HTTP semantics for the inner service's outcome; an attempt that was not sent counts
/// for nothing; nothing is retried once the body cannot be sent again.
pub(super) struct AttemptClassifier<'a, E, B> {
    pub(super) http: HttpClassifier<E>,
    pub(super) body: &'a ReplayableBody<B>,
}

impl<E, B: Body, RB> Classify<Response<RB>, AttemptError<E>> for AttemptClassifier<'_, E, B> {
    fn classify(&self, outcome: Result<&Response<RB>, &AttemptError<E>>) -> Verdict {
        let mut verdict = match outcome {
            Ok(response) => self.http.classify(Ok(response)),
            Err(AttemptError::Service(e)) => {
                Classify::<Response<RB>, E>::classify(&self.http, Err(e))
            }
            Err(AttemptError::NotSent(_)) => Verdict {
                class: OutcomeClass::Ignored,
                retryable: false,
                retry_after: None,
            },
        };
        verdict.retryable &= self.body.is_replayable();
        verdict
    }
}
