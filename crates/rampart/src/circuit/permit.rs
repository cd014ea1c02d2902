//! The permit a call holds between [`try_acquire`](super::CircuitBreaker::try_acquire)
//! and [`record`](super::CircuitBreaker::record).

use std::fmt;

use super::breaker::Inner;
use super::logic::Word;
use super::state::BreakerState;
use crate::sync::Arc;

/// Permission for one call to go through a breaker; give it back with
/// [`CircuitBreaker::record`](super::CircuitBreaker::record) (or
/// [`record_rejection`](super::CircuitBreaker::record_rejection)) once the outcome is
/// known.
///
/// A permit from a closed breaker holds only the epoch it was issued in (and a start
/// time when slow calls are tracked): it costs no allocation and no reference count, and
/// dropping it unrecorded simply counts nothing. A half-open probe permit also holds a
/// reference to the breaker, so that dropping it unrecorded (the call was cancelled or
/// panicked) gives its probe slot back, counting as ignored. Record a permit on the
/// breaker that issued it.
#[must_use = "record the outcome with CircuitBreaker::record, or the call counts for nothing"]
pub struct BreakerPermit {
    /// The state word when the permit was issued: its state says what kind of permit
    /// this is (closed, metrics-only, pass-through or probe), its epoch which period.
    pub(super) word: Word,
    /// When the call started, if slow calls are tracked.
    pub(super) start: u64,
    /// For a probe: the breaker, to give the slot back if the permit is dropped.
    pub(super) probe: Option<Arc<Inner>>,
}

impl BreakerPermit {
    /// True when this call is a half-open probe.
    pub fn is_probe(&self) -> bool {
        self.probe.is_some()
    }

    /// What a permit of a closed (or metrics-only) breaker records by, if this is one.
    /// Such a permit gives nothing back when dropped, so its holder may forget it once
    /// it has this copy.
    #[inline(always)]
    pub(crate) fn counted(&self) -> Option<CountedPermit> {
        match self.word.state() {
            BreakerState::Closed | BreakerState::MetricsOnly if self.probe.is_none() => {
                Some(CountedPermit {
                    word: self.word,
                    start: self.start,
                })
            }
            _ => None,
        }
    }
}

/// A copy of what a closed (or metrics-only) breaker's permit records by: the word it
/// was issued under and when its call started.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CountedPermit {
    pub(super) word: Word,
    pub(super) start: u64,
}

impl Drop for BreakerPermit {
    #[inline]
    fn drop(&mut self) {
        if let Some(inner) = self.probe.take() {
            inner.release_probe(self.word.epoch());
        }
    }
}

impl fmt::Debug for BreakerPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.probe.is_some() {
            "probe"
        } else {
            self.word.state().as_str()
        };
        f.debug_struct("BreakerPermit")
            .field("kind", &kind)
            .field("epoch", &self.word.epoch())
            .finish()
    }
}
