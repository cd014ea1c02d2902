//! A time window in buckets: per-bucket atomic counters tagged with the time slice they
//! hold. Recording bumps counters without a lock; only the first record in a new slice
//! takes a mutex, to empty the bucket it reuses.

use super::logic::{bucket_index, in_window, Counts};
use super::window::Line;
use crate::sync::{self, AtomicU64, Mutex, Ordering::Relaxed, Ordering::SeqCst};

const SLOT_BITS: u32 = 10;
const SLOT_MASK: u64 = (1 << SLOT_BITS) - 1;

struct Bucket {
    /// The slice index this bucket holds (0: never used).
    tag: AtomicU64,
    calls: AtomicU64,
    failures: AtomicU64,
    slow: AtomicU64,
}

pub(super) struct TimeBuckets {
    width: u64,
    buckets: Box<[Line<Bucket>]>,
    /// The last slice recorded in, `index << 10 | slot`, so that a record in the same
    /// slice needs no division (slots are fewer than 1024).
    hint: AtomicU64,
    /// 1 when the last look found a rate over its threshold with too few calls: then a
    /// success must look again, as it may bring the calls up to the minimum.
    armed: AtomicU64,
    rotate: Mutex<()>,
}

impl TimeBuckets {
    pub(super) fn new(width: u64, buckets: u32) -> Self {
        TimeBuckets {
            width: width.max(1),
            buckets: (0..buckets.max(1))
                .map(|_| {
                    Line(Bucket {
                        tag: AtomicU64::new(0),
                        calls: AtomicU64::new(0),
                        failures: AtomicU64::new(0),
                        slow: AtomicU64::new(0),
                    })
                })
                .collect(),
            armed: AtomicU64::new(0),
            hint: AtomicU64::new(1 % u64::from(buckets.max(1))),
            rotate: Mutex::new(()),
        }
    }

    /// The slice index of `now` and its bucket's slot.
    #[inline]
    fn slice(&self, now: u64) -> (u64, u64) {
        let hint = self.hint.load(Relaxed);
        let t = hint >> SLOT_BITS;
        // The hint's slice covers `[(t - 1) * width, t * width)`; `t * width` cannot
        // overflow, as `t` was computed from a clock reading.
        let start = t.saturating_sub(1).wrapping_mul(self.width);
        if t > 0 && now >= start && now - start < self.width {
            return (t, hint & SLOT_MASK);
        }
        let t = bucket_index(now, self.width);
        let slot = t % self.len();
        if t >> (64 - SLOT_BITS) == 0 {
            self.hint.store((t << SLOT_BITS) | slot, Relaxed);
        }
        (t, slot)
    }

    fn len(&self) -> u64 {
        self.buckets.len() as u64
    }

    /// Records one outcome at `now`; true when the rule must look (a failure, a slow call,
    /// a new slice, which may have let old calls go, or an armed window).
    pub(super) fn record(&self, now: u64, failed: bool, slow: bool) -> bool {
        let (t, slot) = self.slice(now);
        let Some(b) = self.buckets.get(usize::try_from(slot).unwrap_or(0)) else {
            return false;
        };
        let mut rotated = false;
        // A tag above `t` is a newer slice (this clock read is older): count it there.
        if b.tag.load(SeqCst) < t {
            let _guard = sync::lock(&self.rotate);
            if b.tag.load(SeqCst) < t {
                b.calls.store(0, Relaxed);
                b.failures.store(0, Relaxed);
                b.slow.store(0, Relaxed);
                b.tag.store(t, SeqCst);
                rotated = true;
            }
        }
        b.calls.fetch_add(1, Relaxed);
        if failed {
            b.failures.fetch_add(1, Relaxed);
        }
        if slow {
            b.slow.fetch_add(1, Relaxed);
        }
        rotated || failed || slow || self.armed.load(SeqCst) != 0
    }

    pub(super) fn counts(&self, now: u64) -> Counts {
        let t = bucket_index(now, self.width);
        let mut c = Counts::default();
        for b in self.buckets.iter() {
            if in_window(b.tag.load(SeqCst), t, self.len()) {
                c.calls = c.calls.saturating_add(b.calls.load(Relaxed));
                c.failures = c.failures.saturating_add(b.failures.load(Relaxed));
                c.slow = c.slow.saturating_add(b.slow.load(Relaxed));
            }
        }
        c
    }

    pub(super) fn reset(&self) {
        let _guard = sync::lock(&self.rotate);
        for b in self.buckets.iter() {
            b.calls.store(0, Relaxed);
            b.failures.store(0, Relaxed);
            b.slow.store(0, Relaxed);
        }
        self.armed.store(0, SeqCst);
    }

    pub(super) fn set_armed(&self, armed: bool) {
        self.armed.store(u64::from(armed), SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn slices_expire_and_backwards_time_counts_in_the_newer_slice() {
        let w = TimeBuckets::new(S, 3); // 3 s in 1 s slices
        assert!(w.record(0, false, false), "the first record opens a slice");
        assert!(!w.record(S / 2, false, false));
        assert!(w.record(S, true, false));
        assert_eq!(w.counts(S).calls, 3);
        assert_eq!(w.counts(2 * S + 1).calls, 3);
        // At 3 s the first slice has left the window.
        assert_eq!(
            w.counts(3 * S),
            Counts {
                calls: 1,
                failures: 1,
                slow: 0
            }
        );
        assert_eq!(w.counts(4 * S), Counts::default());
        // Time going backwards: counted in the newer slice that holds its bucket.
        assert!(w.record(4 * S, false, true));
        assert!(!w.record(S, false, false));
        assert_eq!(
            w.counts(4 * S),
            Counts {
                calls: 2,
                failures: 0,
                slow: 1
            }
        );
        w.set_armed(true);
        assert!(w.record(4 * S, false, false));
        w.reset();
        assert_eq!(w.counts(4 * S), Counts::default());
        assert!(!w.record(4 * S, false, false), "reset disarms");
        assert_eq!(w.counts(u64::MAX).calls, 0);
    }
}
