//! Transitions: the slow path. Each one takes the breaker's mutex, checks that the
//! state word still holds the epoch its caller saw (so a stale record cannot trip,
//! close or re-open a newer epoch), empties the window, publishes the next epoch, and
//! reports the change after the mutex is released.

use super::breaker::{CircuitBreaker, Inner};
use super::logic::{open_duration, probe_success, Counts, ProbeStep, Verdict, Word};
use super::record::Cause;
use super::state::BreakerState;
use super::window::Tracker;
use crate::event::EventKind;
use crate::sync::{self, Ordering::SeqCst};

/// A change to report once the mutex is released.
struct Change {
    from: BreakerState,
    to: BreakerState,
    counts: Counts,
}

impl Inner {
    fn load(&self) -> Word {
        Word(self.word.load(SeqCst))
    }

    /// Moves from `old` to `to` in the next epoch, with an empty window. Under the lock.
    fn publish(&self, old: Word, to: BreakerState, counts: Counts) -> Change {
        let next = old.successor(to);
        self.tracker.reset(next.epoch());
        // Only probe counters can have changed since `old` was read (they change by CAS
        // without the lock); the new epoch drops them, and any CAS still in flight fails.
        let from = Word(self.word.swap(next.0, SeqCst)).state();
        Change { from, to, counts }
    }

    /// Opens after `opens` consecutive opens. Under the lock.
    fn open(&self, old: Word, now: u64, opens: u32, counts: Counts) -> Change {
        let p = &self.plan;
        let until = now.saturating_add(open_duration(p.open_ns, p.backoff, opens));
        self.opens.store(u64::from(opens), SeqCst);
        self.deadline.store(until, SeqCst);
        self.publish(old, BreakerState::Open, counts)
    }

    fn opens(&self) -> u32 {
        u32::try_from(self.opens.load(SeqCst)).unwrap_or(u32::MAX)
    }

    fn announce(&self, c: Change, cause: Cause<'_>) {
        if c.from != c.to {
            self.emit(|| EventKind::CircuitStateChanged {
                from: c.from.as_str(),
                to: c.to.as_str(),
                failure_rate: c.counts.failure_rate(),
                slow_call_rate: c.counts.slow_rate(),
                calls: c.counts.calls,
                failures: c.counts.failures,
                threshold: self.plan.failure_threshold(),
                last_error: cause,
            });
        }
    }

    /// Trips a closed breaker of `epoch` if its rule (looked at again under the lock)
    /// says so. A consecutive run that reached the threshold trips as it stands.
    #[cold]
    pub(super) fn trip(&self, epoch: u32, cause: Cause<'_>) {
        let change = {
            let _guard = sync::lock(&self.lock);
            let w = self.load();
            if w.state() != BreakerState::Closed || w.epoch() != epoch {
                return;
            }
            let now = self.clock.now_nanos();
            let counts = self.tracker.counts(now);
            if !matches!(self.tracker, Tracker::Consecutive(_)) {
                let verdict = self.plan.rule.verdict(counts);
                if verdict != Verdict::Trip {
                    self.tracker.set_armed(verdict == Verdict::Armed);
                    return;
                }
            }
            self.open(w, now, 1, counts)
        };
        self.announce(change, cause);
    }

    /// Goes half-open if the breaker is still in the open epoch of `seen` and its open
    /// period is over at `now`.
    pub(super) fn to_half_open(&self, seen: Word, now: u64) {
        let change = {
            let _guard = sync::lock(&self.lock);
            let w = self.load();
            if w.state() != BreakerState::Open
                || w.epoch() != seen.epoch()
                || now < self.deadline.load(SeqCst)
            {
                return;
            }
            // `u64::MAX` is "never": a limit past the end of time does not fire.
            let give_up = self
                .plan
                .max_half_open_ns
                .and_then(|d| now.checked_add(d))
                .unwrap_or(u64::MAX);
            // Publish first, then the half-open limit: a caller that still holds the
            // open word must not read "never" as the end of the open period (it would
            // be rejected with an absurd retry-after while probes are free). A caller
            // that reads the old open deadline as the half-open limit can only call
            // `expire_half_open`, which waits for this lock and then sees the new one.
            let change = self.publish(w, BreakerState::HalfOpen, Counts::default());
            self.deadline.store(give_up, SeqCst);
            change
        };
        self.announce(change, None);
    }

    /// Re-opens a half-open breaker still in the epoch of `seen` whose time is up.
    pub(super) fn expire_half_open(&self, seen: Word, now: u64) {
        let change = {
            let _guard = sync::lock(&self.lock);
            let w = self.load();
            if w.state() != BreakerState::HalfOpen
                || w.epoch() != seen.epoch()
                || now < self.deadline.load(SeqCst)
            {
                return;
            }
            let counts = probe_counts(w, false, false);
            self.open(w, now, self.opens().saturating_add(1), counts)
        };
        self.announce(change, None);
    }

    /// A probe of `epoch` failed: re-open with a longer open period.
    pub(super) fn reopen(&self, epoch: u32, cause: Cause<'_>) {
        let change = {
            let _guard = sync::lock(&self.lock);
            let w = self.load();
            if w.state() != BreakerState::HalfOpen || w.epoch() != epoch {
                return;
            }
            let now = self.clock.now_nanos();
            self.open(
                w,
                now,
                self.opens().saturating_add(1),
                probe_counts(w, false, true),
            )
        };
        self.announce(change, cause);
    }

    /// A probe of `epoch` succeeded: count it by CAS, or close once the success
    /// threshold is reached (under the lock, so that a failing probe that re-opened first
    /// wins).
    pub(super) fn probe_succeeded(&self, epoch: u32) {
        let threshold = self.plan.successes;
        let mut locked = None;
        let mut w = self.load();
        loop {
            if w.state() != BreakerState::HalfOpen || w.epoch() != epoch {
                return;
            }
            match probe_success(w, threshold) {
                ProbeStep::Count(next) => {
                    match self.word.compare_exchange(w.0, next.0, SeqCst, SeqCst) {
                        Ok(_) => return,
                        Err(actual) => w = Word(actual),
                    }
                }
                ProbeStep::Close if locked.is_none() => {
                    locked = Some(sync::lock(&self.lock));
                    w = self.load();
                }
                ProbeStep::Close => {
                    self.opens.store(0, SeqCst);
                    let change =
                        self.publish(w, BreakerState::Closed, probe_counts(w, true, false));
                    drop(locked);
                    self.announce(change, None);
                    return;
                }
            }
        }
    }

    /// An operator's transition to `to`; `always` starts a new epoch even when the
    /// state is already `to` (reset).
    fn manual(&self, to: BreakerState, always: bool) {
        let change = {
            let _guard = sync::lock(&self.lock);
            let w = self.load();
            if w.state() == to && !always {
                return;
            }
            let counts = self.tracker.counts(self.clock.now_nanos());
            self.opens.store(0, SeqCst);
            self.publish(w, to, counts)
        };
        self.announce(change, None);
    }
}

/// The probes of a half-open period as counts: its successes (plus the one that closes
/// it), and the failure that re-opens it.
fn probe_counts(w: Word, closing: bool, failed: bool) -> Counts {
    let successes = u64::from(w.successes()) + u64::from(closing);
    let failures = u64::from(failed);
    Counts {
        calls: successes + failures,
        failures,
        slow: 0,
    }
}

impl CircuitBreaker {
    /// Rejects every call until [`reset`](Self::reset) (or another manual change).
    /// Outcomes of calls already running are not counted.
    pub fn force_open(&self) {
        self.inner.manual(BreakerState::ForcedOpen, false);
    }

    /// Admits every call and counts nothing until [`reset`](Self::reset): an operator's
    /// override when the breaker must not interfere.
    pub fn force_closed(&self) {
        self.inner.manual(BreakerState::ForcedClosed, false);
    }

    /// Turns the breaker off: every call goes through, nothing is counted, until
    /// [`reset`](Self::reset).
    pub fn disable(&self) {
        self.inner.manual(BreakerState::Disabled, false);
    }

    /// Admits every call and keeps counting (the snapshot shows the rates) but never
    /// trips, until [`reset`](Self::reset). Starts an empty window.
    pub fn metrics_only(&self) {
        self.inner.manual(BreakerState::MetricsOnly, false);
    }

    /// Closes the breaker with an empty window and no open backoff, from any state.
    pub fn reset(&self) {
        self.inner.manual(BreakerState::Closed, true);
    }
}
