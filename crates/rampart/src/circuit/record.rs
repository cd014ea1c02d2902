//! Recording outcomes: lock-free into the window while closed, by CAS on the state word
//! for probes; transitions (in `transition`) only when the rules say so.

use super::breaker::{CircuitBreaker, Inner};
use super::logic::{Verdict, Word};
use super::permit::{BreakerPermit, CountedPermit};
use super::state::BreakerState;
use super::window::Tracker;
use crate::classify::OutcomeClass;
use crate::error::RejectionKind;
use crate::sync::Ordering::SeqCst;
use std::fmt;

/// The error of the outcome being recorded, for the event of a change it causes.
pub(super) type Cause<'a> = Option<&'a dyn fmt::Debug>;

impl CircuitBreaker {
    /// Records the outcome of the call `permit` was issued for.
    ///
    /// `Ignored` counts for nothing (a probe's slot is given back). With slow-call
    /// tracking, the call's duration is measured from the permit.
    #[inline(always)]
    pub fn record(&self, permit: BreakerPermit, class: OutcomeClass) {
        self.record_caused(permit, class, None);
    }

    /// Like [`record`](Self::record), and when this outcome trips or re-opens the
    /// breaker, the [`CircuitStateChanged`](crate::event::EventKind::CircuitStateChanged)
    /// event carries `error` as its `last_error`.
    #[inline(always)]
    pub fn record_with_error(
        &self,
        permit: BreakerPermit,
        class: OutcomeClass,
        error: &dyn fmt::Debug,
    ) {
        self.record_caused(permit, class, Some(error));
    }

    #[inline(always)]
    fn record_caused(&self, mut permit: BreakerPermit, class: OutcomeClass, cause: Cause<'_>) {
        if let Some(counted) = permit.counted() {
            // Such a permit gives nothing back when dropped; forgetting it spares
            // every recorded call a call to its drop glue (13 instructions).
            std::mem::forget(permit);
            self.record_counted(counted, class, cause);
            return;
        }
        if permit.word.state() == BreakerState::HalfOpen {
            if let Some(inner) = permit.probe.take() {
                inner.record_probe(permit.word.epoch(), permit.start, class, cause);
            }
        }
    }

    /// Records the outcome of a closed (or metrics-only) breaker's call by the copy
    /// of its permit, [`BreakerPermit::counted`]; the permit itself may be forgotten.
    #[inline(always)]
    pub(crate) fn record_counted(
        &self,
        permit: CountedPermit,
        class: OutcomeClass,
        cause: Cause<'_>,
    ) {
        let w = permit.word;
        let trips = w.state() == BreakerState::Closed;
        self.inner
            .record_closed(w, permit.start, class, trips, cause);
    }

    /// Records that a policy inside the breaker refused or cut the call: a `Timeout` or
    /// `DeadlineExceeded` is a failure (the dependency was too slow), and so is an
    /// `Injected` fault (it stands for the dependency failing); any other kind is
    /// ignored (not the dependency's fault).
    pub fn record_rejection(&self, permit: BreakerPermit, kind: RejectionKind) {
        let class = match kind {
            // An injected fault stands for a failure of the dependency.
            RejectionKind::Timeout | RejectionKind::DeadlineExceeded | RejectionKind::Injected => {
                OutcomeClass::Failure
            }
            _ => OutcomeClass::Ignored,
        };
        self.record_with_error(permit, class, &kind);
    }
}

impl Inner {
    /// Records a closed (or metrics-only) outcome; `trips` is false in metrics-only.
    ///
    /// A success that a count window full of successes would only trade for another
    /// changes nothing, and is answered here, inlined, with three loads: the steady
    /// state of a healthy dependency, 40 instructions fewer per call than going
    /// through [`record_window`](Self::record_window). A success in consecutive mode is
    /// answered here too.
    #[inline(always)]
    pub(super) fn record_closed(
        &self,
        w: Word,
        start: u64,
        class: OutcomeClass,
        trips: bool,
        cause: Cause<'_>,
    ) {
        if class == OutcomeClass::Success && self.plan.slow_ns.is_none() {
            match &self.tracker {
                Tracker::Count(r) if r.full_of_successes() => return,
                // A success never trips a consecutive count (it only ends a run of
                // failures), and most often finds no run to end: one load, inlined.
                Tracker::Consecutive(c) => {
                    c.record(w.epoch(), false);
                    return;
                }
                _ => {}
            }
        }
        self.record_window(w, start, class, trips, cause);
    }

    /// [`record_closed`](Self::record_closed) for an outcome the window keeps.
    #[inline(never)]
    fn record_window(
        &self,
        w: Word,
        start: u64,
        class: OutcomeClass,
        trips: bool,
        cause: Cause<'_>,
    ) {
        let failed = match class {
            OutcomeClass::Success => false,
            OutcomeClass::Failure => true,
            OutcomeClass::Ignored => return,
        };
        if let Tracker::Consecutive(c) = &self.tracker {
            if c.record(w.epoch(), failed) && trips {
                self.trip(w.epoch(), cause);
            }
            return;
        }
        // A record whose epoch has passed (the breaker moved on) is dropped.
        if Word(self.word.load(SeqCst)).epoch() != w.epoch() {
            return;
        }
        let timed = self.plan.slow_ns.is_some() || matches!(self.tracker, Tracker::Time(_));
        let now = if timed { self.clock.now_nanos() } else { 0 };
        let slow = self
            .plan
            .slow_ns
            .is_some_and(|s| now.saturating_sub(start) > s);
        let look = match &self.tracker {
            Tracker::Count(r) => r.record(failed, slow),
            Tracker::Time(b) => b.record(now, failed, slow),
            Tracker::Consecutive(_) => false,
        };
        if look && trips {
            self.evaluate(w.epoch(), now, cause);
        }
    }

    /// Applies the rule to the window after a record that may have changed the verdict.
    #[cold]
    #[inline(never)]
    fn evaluate(&self, epoch: u32, now: u64, cause: Cause<'_>) {
        match self.plan.rule.verdict(self.tracker.counts(now)) {
            Verdict::Trip => self.trip(epoch, cause),
            v => self.tracker.set_armed(v == Verdict::Armed),
        }
    }

    /// Records a probe's outcome: a success counts towards closing, a failure (or a slow
    /// success) re-opens, an ignored outcome gives the slot back.
    pub(super) fn record_probe(
        &self,
        epoch: u32,
        start: u64,
        class: OutcomeClass,
        cause: Cause<'_>,
    ) {
        let slow = self
            .plan
            .slow_ns
            .is_some_and(|s| self.clock.now_nanos().saturating_sub(start) > s);
        match class {
            OutcomeClass::Ignored => self.release_probe(epoch),
            OutcomeClass::Failure => self.reopen(epoch, cause),
            OutcomeClass::Success if slow => self.reopen(epoch, cause),
            OutcomeClass::Success => self.probe_succeeded(epoch),
        }
    }

    /// Gives a probe slot of `epoch` back, if that half-open period is still on.
    pub(super) fn release_probe(&self, epoch: u32) {
        let mut w = Word(self.word.load(SeqCst));
        while w.state() == BreakerState::HalfOpen && w.epoch() == epoch {
            match self
                .word
                .compare_exchange(w.0, w.release().0, SeqCst, SeqCst)
            {
                Ok(_) => return,
                Err(actual) => w = Word(actual),
            }
        }
    }
}
