//! Where closed-state outcomes are kept, lock-free: a run counter for consecutive mode,
//! a ring of outcome bits for count windows, and (in `buckets`) counters per time slice.

use super::buckets::TimeBuckets;
use super::logic::{ones_in_ring, Counts};
use super::plan::{Mode, Plan};
use crate::sync::{AtomicU64, Ordering::SeqCst};

const LOW: u64 = u32::MAX as u64;

/// Keeps a value on cache lines of its own (128 bytes: two lines, as adjacent-line
/// prefetchers pair them), so that writes to one hot atomic do not evict its neighbours
/// from other cores' caches.
#[repr(align(128))]
pub(super) struct Line<T>(pub(super) T);

impl<T> std::ops::Deref for Line<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// The outcome store of one breaker.
pub(super) enum Tracker {
    Consecutive(Consecutive),
    Count(CountRing),
    Time(TimeBuckets),
}

impl Tracker {
    pub(super) fn new(plan: &Plan, epoch: u32) -> Self {
        let slow = plan.slow_ns.is_some();
        match plan.mode {
            Mode::Consecutive { failures } => Tracker::Consecutive(Consecutive {
                word: Line(AtomicU64::new(tagged(epoch, 0))),
                threshold: failures,
            }),
            Mode::Count { size } => Tracker::Count(CountRing::new(size, slow, plan.rule.min_calls)),
            Mode::Time { width, buckets } => Tracker::Time(TimeBuckets::new(width, buckets)),
        }
    }

    /// The outcomes in the window at `now` (only time windows look at `now`).
    pub(super) fn counts(&self, now: u64) -> Counts {
        match self {
            Tracker::Consecutive(c) => {
                let run = c.word.load(SeqCst) & LOW;
                Counts {
                    calls: run,
                    failures: run,
                    slow: 0,
                }
            }
            Tracker::Count(r) => r.counts(),
            Tracker::Time(b) => b.counts(now),
        }
    }

    /// Empties the window for a new epoch. Called under the breaker's mutex, before the
    /// epoch is published.
    pub(super) fn reset(&self, epoch: u32) {
        match self {
            Tracker::Consecutive(c) => c.word.store(tagged(epoch, 0), SeqCst),
            Tracker::Count(r) => r.reset(),
            Tracker::Time(b) => b.reset(),
        }
    }

    /// Remembers whether the rule is over a threshold but short of the minimum calls.
    pub(super) fn set_armed(&self, armed: bool) {
        if let Tracker::Time(b) = self {
            b.set_armed(armed);
        }
    }
}

const fn tagged(epoch: u32, run: u32) -> u64 {
    ((epoch as u64) << 32) | run as u64
}

/// Consecutive failures: one word, `epoch:32 | run:32`, changed by CAS only while its
/// epoch tag matches the recorder's, so a stale record can never touch a new epoch's run.
pub(super) struct Consecutive {
    word: Line<AtomicU64>,
    threshold: u32,
}

impl Consecutive {
    /// Records an outcome of `epoch`; true when this failure made the run reach the
    /// threshold. A success costs one load when there is no run to end.
    #[inline]
    pub(super) fn record(&self, epoch: u32, failed: bool) -> bool {
        let tag = tagged(epoch, 0);
        let mut cur = self.word.load(SeqCst);
        loop {
            if cur & !LOW != tag {
                return false; // a stale permit
            }
            let run = u32::try_from(cur & LOW).unwrap_or(u32::MAX);
            let next = if failed {
                tag | u64::from(run.saturating_add(1))
            } else if run == 0 {
                return false;
            } else {
                tag
            };
            match self.word.compare_exchange(cur, next, SeqCst, SeqCst) {
                Ok(_) => return failed && run.saturating_add(1) >= self.threshold,
                Err(actual) => cur = actual,
            }
        }
    }
}

/// The last `size` outcomes as bits: a position counter claimed with one `fetch_add`, a
/// failure bit and (with slow-call tracking) a slow bit per slot, each written only
/// when it changes. The window is the positions `[base, pos)`, the last `size` of them.
pub(super) struct CountRing {
    /// Calls in the window.
    size: u64,
    /// Slots minus one: the ring has a power-of-two number of slots, at least `size`,
    /// so that a position's slot is a mask, not a division. The window's positions are
    /// still distinct slots; the spare slots are never counted.
    mask: u64,
    min_calls: u64,
    /// The next position, and where the window began; on a line of their own: `pos`
    /// takes every record's `fetch_add`.
    at: Line<Positions>,
    failed: Box<[AtomicU64]>,
    slow: Box<[AtomicU64]>,
}

struct Positions {
    pos: AtomicU64,
    base: AtomicU64,
    /// Failure and slow bits set in the ring. While it is zero and the window is full,
    /// a success changes no count (it would evict a success), so it writes nothing:
    /// threads sharing a healthy breaker only read.
    ones: AtomicU64,
}

fn bits(size: u64) -> Box<[AtomicU64]> {
    (0..size.div_ceil(64)).map(|_| AtomicU64::new(0)).collect()
}

/// Sets slot `index` to `on`, touching the word only when the bit differs, and keeps
/// `ones` (the set bits of every ring) exact: a bit's change is counted by the one
/// read-modify-write that made it.
#[inline]
fn put(bits: &[AtomicU64], ones: &AtomicU64, index: u64, on: bool) {
    let word = usize::try_from(index / 64).unwrap_or(usize::MAX);
    let Some(word) = bits.get(word) else {
        return;
    };
    let mask = 1u64 << (index % 64);
    if (word.load(SeqCst) & mask != 0) != on {
        if on {
            if word.fetch_or(mask, SeqCst) & mask == 0 {
                ones.fetch_add(1, SeqCst);
            }
        } else if word.fetch_and(!mask, SeqCst) & mask != 0 {
            // Wraps below zero for a moment when a reset counted the bit first.
            ones.fetch_sub(1, SeqCst);
        }
    }
}

impl CountRing {
    fn new(size: u32, slow: bool, min_calls: u64) -> Self {
        let size = u64::from(size).max(1);
        let slots = size.next_power_of_two();
        CountRing {
            size,
            mask: slots - 1,
            min_calls,
            at: Line(Positions {
                pos: AtomicU64::new(0),
                base: AtomicU64::new(0),
                ones: AtomicU64::new(0),
            }),
            failed: bits(slots),
            slow: if slow { bits(slots) } else { bits(0) },
        }
    }

    /// True when the window holds `size` outcomes and none failed or was slow: a
    /// success recorded now would evict a success and change nothing. A failure
    /// racing with it may already hold a position without its bit counted yet; the
    /// success then counts as the one just before it.
    #[inline(always)]
    pub(super) fn full_of_successes(&self) -> bool {
        let at = &*self.at;
        if at.ones.load(SeqCst) != 0 {
            return false;
        }
        let base = at.base.load(SeqCst);
        at.pos.load(SeqCst).wrapping_sub(base) >= self.size
    }

    /// Records one outcome; true when the rule must look (a failure, a slow call, or the
    /// call that brings the window up to the minimum).
    #[inline]
    pub(super) fn record(&self, failed: bool, slow: bool) -> bool {
        if !failed && !slow && self.full_of_successes() {
            return false;
        }
        let at = &*self.at;
        let p = at.pos.fetch_add(1, SeqCst);
        let index = p & self.mask;
        put(&self.failed, &at.ones, index, failed);
        if !self.slow.is_empty() {
            put(&self.slow, &at.ones, index, slow);
        }
        let base = at.base.load(SeqCst);
        failed || slow || (p >= base && p - base + 1 == self.min_calls)
    }

    fn counts(&self) -> Counts {
        // Base first: it only moves to a position already taken, so `pos >= base`.
        let base = self.at.base.load(SeqCst);
        let pos = self.at.pos.load(SeqCst);
        let calls = pos.wrapping_sub(base).min(self.size);
        let start = pos.wrapping_sub(calls) & self.mask;
        let ones = |bits: &[AtomicU64]| {
            if bits.is_empty() {
                return 0;
            }
            let word = |i: usize| bits.get(i).map_or(0, |w| w.load(SeqCst));
            ones_in_ring(word, self.mask + 1, start, calls)
        };
        Counts {
            calls,
            failures: ones(&self.failed),
            slow: ones(&self.slow),
        }
    }

    fn reset(&self) {
        for w in self.failed.iter().chain(self.slow.iter()) {
            let cleared = u64::from(w.swap(0, SeqCst).count_ones());
            self.at.ones.fetch_sub(cleared, SeqCst);
        }
        self.at.base.store(self.at.pos.load(SeqCst), SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::circuit::BreakerConfig;

    fn ring(size: u32, min_calls: u32) -> Tracker {
        let plan = BreakerConfig::count_window(size, 0.5)
            .with_min_calls(min_calls)
            .with_slow_calls(std::time::Duration::from_secs(1), 0.5)
            .plan()
            .unwrap();
        Tracker::new(&plan, 0)
    }

    #[test]
    fn ring_keeps_the_last_size_outcomes() {
        let t = ring(3, 2);
        let Tracker::Count(r) = &t else {
            panic!("a count window")
        };
        assert!(!r.record(false, false));
        assert!(r.record(false, false), "the second call reaches min_calls");
        assert!(r.record(true, false));
        assert_eq!(
            t.counts(0),
            Counts {
                calls: 3,
                failures: 1,
                slow: 0
            }
        );
        assert!(r.record(false, true)); // evicts the first success
        assert!(!r.record(false, false)); // evicts the second success
        assert_eq!(
            t.counts(0),
            Counts {
                calls: 3,
                failures: 1,
                slow: 1
            }
        );
        assert!(!r.record(false, false)); // evicts the failure
        assert_eq!(
            t.counts(0),
            Counts {
                calls: 3,
                failures: 0,
                slow: 1
            }
        );
        t.reset(1);
        assert_eq!(t.counts(0), Counts::default());
        assert!(r.record(true, false));
        assert_eq!(
            t.counts(0),
            Counts {
                calls: 1,
                failures: 1,
                slow: 0
            }
        );
    }

    #[test]
    fn successes_in_a_clean_full_window_write_nothing_and_failures_still_age_out() {
        let t = ring(4, 1);
        let Tracker::Count(r) = &t else {
            panic!("a count window")
        };
        for _ in 0..4 {
            r.record(false, false);
        }
        let pos = r.at.pos.load(SeqCst);
        for _ in 0..1000 {
            assert!(!r.record(false, false));
        }
        assert_eq!(r.at.pos.load(SeqCst), pos, "the successes took no position");
        assert!(r.record(true, false));
        assert!(r.record(false, true));
        assert_eq!(t.counts(0).failures, 1);
        assert_eq!(t.counts(0).slow, 1);
        for expected in [(1, 1), (1, 1), (0, 1), (0, 0)] {
            r.record(false, false);
            let c = t.counts(0);
            assert_eq!((c.failures, c.slow, c.calls), (expected.0, expected.1, 4));
        }
        // The spare slots of the ring (8 for a window of 4) still hold the old bits
        // until they are overwritten; then the fast path is back.
        for _ in 0..4 {
            r.record(false, false);
        }
        assert_eq!(r.at.ones.load(SeqCst), 0);
        let pos = r.at.pos.load(SeqCst);
        r.record(false, false);
        assert_eq!(r.at.pos.load(SeqCst), pos);
        r.record(true, false);
        t.reset(1);
        assert_eq!(
            r.at.ones.load(SeqCst),
            0,
            "a reset counts the bits it clears"
        );
    }

    #[test]
    fn consecutive_run_is_tagged_by_epoch() {
        let plan = BreakerConfig::consecutive(2).plan().unwrap();
        let t = Tracker::new(&plan, 4);
        let Tracker::Consecutive(c) = &t else {
            panic!("consecutive")
        };
        assert!(!c.record(4, true));
        assert!(!c.record(3, true), "stale");
        assert!(!c.record(4, false));
        assert!(!c.record(4, true));
        assert!(c.record(4, true));
        assert_eq!(t.counts(0).failures, 2);
        t.reset(5);
        assert!(!c.record(4, true), "stale after the reset");
        assert_eq!(t.counts(0).failures, 0);
    }
}
