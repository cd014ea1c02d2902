//! The pure core: the state word's layout and every decision, over integer nanoseconds
//! and counts. Nothing here touches an atomic or a clock.

use super::state::BreakerState;

const STATE_MASK: u64 = 0b111;
const COUNT_BITS: u32 = 16;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;
const ISSUED_SHIFT: u32 = 3;
const SUCCESS_SHIFT: u32 = ISSUED_SHIFT + COUNT_BITS;
const EPOCH_SHIFT: u32 = SUCCESS_SHIFT + COUNT_BITS;
/// Epochs wrap after 2^29 transitions.
const EPOCH_MASK: u64 = (1 << (64 - EPOCH_SHIFT)) - 1;

/// The state word: `epoch:29 | probe successes:16 | probes issued:16 | state:3`.
///
/// The epoch changes with every transition (only under the breaker's mutex); the probe
/// counters change by CAS while half-open. A permit remembers the epoch it was issued
/// in, so a record from an older epoch is recognised as stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Word(pub(crate) u64);

impl Word {
    /// `state` in `epoch`, with no probes.
    pub(crate) const fn new(state: BreakerState, epoch: u32) -> Word {
        Word(((epoch as u64 & EPOCH_MASK) << EPOCH_SHIFT) | state.code())
    }

    pub(crate) const fn state(self) -> BreakerState {
        BreakerState::from_code(self.0 & STATE_MASK)
    }

    /// The epoch (29 bits; fits a `u32`).
    pub(crate) const fn epoch(self) -> u32 {
        (self.0 >> EPOCH_SHIFT) as u32
    }

    /// Probe permits handed out in this half-open period and not given back.
    pub(crate) const fn issued(self) -> u32 {
        ((self.0 >> ISSUED_SHIFT) & COUNT_MASK) as u32
    }

    /// Probes that succeeded in this half-open period.
    pub(crate) const fn successes(self) -> u32 {
        ((self.0 >> SUCCESS_SHIFT) & COUNT_MASK) as u32
    }

    const fn with_field(self, shift: u32, n: u32) -> Word {
        let n = if n as u64 > COUNT_MASK {
            COUNT_MASK
        } else {
            n as u64
        };
        Word((self.0 & !(COUNT_MASK << shift)) | (n << shift))
    }

    /// The next epoch in `state`, with no probes.
    pub(crate) const fn successor(self, state: BreakerState) -> Word {
        Word::new(state, self.epoch().wrapping_add(1))
    }

    /// Reserves a probe if fewer than `permitted` are out.
    pub(crate) const fn reserve(self, permitted: u32) -> Option<Word> {
        if self.issued() < permitted {
            Some(self.with_field(ISSUED_SHIFT, self.issued() + 1))
        } else {
            None
        }
    }

    /// Gives a probe slot back (a probe that was dropped or ignored).
    pub(crate) const fn release(self) -> Word {
        self.with_field(ISSUED_SHIFT, self.issued().saturating_sub(1))
    }
}

/// What a probe's success does to a half-open breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProbeStep {
    /// Count it: the word to CAS in.
    Count(Word),
    /// The success threshold is reached: close.
    Close,
}

pub(crate) const fn probe_success(w: Word, threshold: u32) -> ProbeStep {
    let s = w.successes().saturating_add(1);
    if s >= threshold {
        ProbeStep::Close
    } else {
        ProbeStep::Count(w.with_field(SUCCESS_SHIFT, s))
    }
}

/// Outcomes counted in a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Counts {
    pub(crate) calls: u64,
    pub(crate) failures: u64,
    pub(crate) slow: u64,
}

impl Counts {
    pub(crate) fn failure_rate(self) -> f64 {
        rate(self.failures, self.calls)
    }

    pub(crate) fn slow_rate(self) -> f64 {
        rate(self.slow, self.calls)
    }
}

#[allow(clippy::cast_precision_loss)] // counts far below 2^52 in practice; a rate is a display figure
fn rate(part: u64, calls: u64) -> f64 {
    if calls == 0 {
        0.0
    } else {
        part as f64 / calls as f64
    }
}

/// A rate in millionths, for integer comparisons.
pub(crate) fn ppm(rate: f64) -> u64 {
    // `as` saturates and maps NaN to 0; validation keeps rates in [0, 1].
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let p = (rate * 1e6).round() as u64;
    p.min(1_000_000)
}

/// True when `count` of `calls` is at least `ppm` millionths (and there is one).
const fn over(count: u64, calls: u64, ppm: u64) -> bool {
    count > 0 && (count as u128) * 1_000_000 >= (ppm as u128) * (calls as u128)
}

/// The trip rule of a rate window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rule {
    pub(crate) failure_ppm: u64,
    pub(crate) slow_ppm: Option<u64>,
    pub(crate) min_calls: u64,
}

/// What the rule says about a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Under the thresholds.
    Quiet,
    /// Over a threshold, but with fewer than the minimum calls: the next success that
    /// brings the calls up to it must look again.
    Armed,
    /// Trip.
    Trip,
}

impl Rule {
    pub(crate) fn verdict(&self, c: Counts) -> Verdict {
        let hit = over(c.failures, c.calls, self.failure_ppm)
            || self.slow_ppm.is_some_and(|p| over(c.slow, c.calls, p));
        if !hit {
            Verdict::Quiet
        } else if c.calls >= self.min_calls {
            Verdict::Trip
        } else {
            Verdict::Armed
        }
    }
}

/// The open period after `opens` consecutive opens (1 for a trip from closed).
pub(crate) fn open_duration(base: u64, backoff: Option<(f64, u64)>, opens: u32) -> u64 {
    let Some((factor, max)) = backoff else {
        return base;
    };
    let exp = i32::try_from(opens.saturating_sub(1)).unwrap_or(i32::MAX);
    #[allow(clippy::cast_precision_loss)]
    let grown = base as f64 * factor.powi(exp);
    #[allow(clippy::cast_precision_loss)]
    if grown.is_nan() || grown >= max as f64 {
        max
    } else {
        // In range and not NaN: the cast is exact up to f64 precision.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let g = grown as u64;
        g.max(base)
    }
}

/// What an open breaker does with a call at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpenStep {
    /// Reject: nanoseconds until a probe may go.
    Wait(u64),
    /// The open period is over: go half-open.
    HalfOpen,
}

pub(crate) const fn open_step(until: u64, now: u64) -> OpenStep {
    if now >= until {
        OpenStep::HalfOpen
    } else {
        OpenStep::Wait(until - now)
    }
}

/// The time-window bucket index of `now` (0 is reserved for "never used").
pub(crate) const fn bucket_index(now: u64, width: u64) -> u64 {
    (now / width).saturating_add(1)
}

/// Whether a bucket tagged `tag` is in a window of `buckets` at index `t`. Tags above
/// `t` (a clock that went backwards) count: they are newer than `t`.
pub(crate) const fn in_window(tag: u64, t: u64, buckets: u64) -> bool {
    tag != 0 && (tag >= t || t - tag < buckets)
}

/// The ones among `len` bits starting at bit `start` of a ring of `size` bits stored in
/// 64-bit words, read through `word`. `len` is at most `size`.
pub(crate) fn ones_in_ring(word: impl Fn(usize) -> u64, size: u64, start: u64, len: u64) -> u64 {
    let len = len.min(size);
    let start = start % size.max(1);
    let first = len.min(size - start);
    ones_linear(&word, start, first) + ones_linear(&word, 0, len - first)
}

/// The ones in bits `[start, start + len)` (no wrap).
fn ones_linear(word: &impl Fn(usize) -> u64, start: u64, len: u64) -> u64 {
    let mut total = 0;
    let mut bit = start;
    let end = start + len;
    while bit < end {
        let offset = bit % 64;
        let take = (64 - offset).min(end - bit);
        let mask = if take == 64 {
            u64::MAX
        } else {
            ((1u64 << take) - 1) << offset
        };
        let index = usize::try_from(bit / 64).unwrap_or(usize::MAX);
        total += u64::from((word(index) & mask).count_ones());
        bit += take;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_fields_round_trip_and_saturate() {
        let w = Word::new(BreakerState::HalfOpen, 7);
        assert_eq!(w.state(), BreakerState::HalfOpen);
        assert_eq!(w.epoch(), 7);
        let w = w.reserve(2).unwrap().reserve(2).unwrap();
        assert_eq!(w.issued(), 2);
        assert_eq!(w.reserve(2), None);
        assert_eq!(w.release().issued(), 1);
        assert_eq!(Word::new(BreakerState::Open, 0).release().issued(), 0);
        let ProbeStep::Count(s) = probe_success(w, 2) else {
            panic!("one success of two")
        };
        assert_eq!((s.successes(), s.issued(), s.epoch()), (1, 2, 7));
        assert_eq!(probe_success(s, 2), ProbeStep::Close);
        let next = s.successor(BreakerState::Closed);
        assert_eq!((next.epoch(), next.issued(), next.successes()), (8, 0, 0));
        // The epoch wraps within its 29 bits; counters saturate within theirs.
        let last = Word::new(BreakerState::Open, (1 << 29) - 1);
        assert_eq!(last.successor(BreakerState::Closed).epoch(), 0);
        assert_eq!(w.with_field(ISSUED_SHIFT, u32::MAX).issued(), 0xFFFF);
        assert_eq!(Word(7).state(), BreakerState::ForcedOpen);
    }

    #[test]
    fn rule_thresholds_in_millionths() {
        let rule = Rule {
            failure_ppm: ppm(0.5),
            slow_ppm: Some(ppm(0.8)),
            min_calls: 4,
        };
        let c = |calls, failures, slow| Counts {
            calls,
            failures,
            slow,
        };
        assert_eq!(rule.verdict(c(0, 0, 0)), Verdict::Quiet);
        assert_eq!(rule.verdict(c(3, 2, 0)), Verdict::Armed);
        assert_eq!(rule.verdict(c(4, 2, 0)), Verdict::Trip);
        assert_eq!(rule.verdict(c(5, 2, 3)), Verdict::Quiet);
        assert_eq!(rule.verdict(c(5, 2, 4)), Verdict::Trip);
        let zero = Rule {
            failure_ppm: 0,
            slow_ppm: None,
            min_calls: 1,
        };
        assert_eq!(zero.verdict(c(9, 0, 9)), Verdict::Quiet);
        assert_eq!(zero.verdict(c(9, 1, 0)), Verdict::Trip);
        assert_eq!(ppm(f64::NAN), 0);
        assert_eq!(ppm(7.0), 1_000_000);
        assert!(over(u64::MAX, u64::MAX, 1_000_000));
    }

    #[test]
    fn open_duration_grows_and_caps() {
        let s = 1_000_000_000;
        assert_eq!(open_duration(s, None, 9), s);
        let b = Some((2.0, 5 * s));
        assert_eq!(open_duration(s, b, 0), s);
        assert_eq!(open_duration(s, b, 1), s);
        assert_eq!(open_duration(s, b, 2), 2 * s);
        assert_eq!(open_duration(s, b, 3), 4 * s);
        assert_eq!(open_duration(s, b, 4), 5 * s);
        assert_eq!(open_duration(s, b, u32::MAX), 5 * s);
        assert_eq!(open_duration(u64::MAX, Some((1.0, u64::MAX)), 3), u64::MAX);
    }

    #[test]
    fn open_and_bucket_steps() {
        assert_eq!(open_step(10, 4), OpenStep::Wait(6));
        assert_eq!(open_step(10, 10), OpenStep::HalfOpen);
        assert_eq!(open_step(10, 0), OpenStep::Wait(10));
        assert_eq!(bucket_index(0, 5), 1);
        assert_eq!(bucket_index(u64::MAX, 1), u64::MAX);
        assert!(!in_window(0, 1, 10));
        assert!(in_window(5, 14, 10));
        assert!(!in_window(4, 14, 10));
        assert!(in_window(20, 14, 10));
        assert!(in_window(u64::MAX, u64::MAX, 1));
    }

    #[test]
    fn ones_in_a_ring_with_wrap() {
        let words = [u64::MAX, 0b1011];
        let w = |i: usize| words[i];
        // A ring of 68 bits: 64 ones, then 1, 1, 0, 1.
        assert_eq!(ones_in_ring(w, 68, 0, 68), 67);
        assert_eq!(ones_in_ring(w, 68, 64, 4), 3);
        assert_eq!(ones_in_ring(w, 68, 66, 4), 3); // bits 66, 67, 0, 1
        assert_eq!(ones_in_ring(w, 68, 60, 0), 0);
        assert_eq!(ones_in_ring(w, 68, 3, 500), 67);
        assert_eq!(ones_in_ring(|_| 1, 1, 5, 1), 1);
    }
}
