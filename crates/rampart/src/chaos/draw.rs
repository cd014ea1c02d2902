//! The injector's random draws: a pure function of the seed, the call's number and the
//! kind of fault, so a seed replays the same faults for the same calls on any thread.
//!
//! The draw for call `n` and stream `s` is output number `4n + s` of the splitmix64
//! generator started at the seed: an addition and a mixing function, no state to share,
//! so concurrent calls draw without a lock and without contending on anything but the
//! call counter.

/// splitmix64's increment, the odd number nearest 2^64 divided by the golden ratio.
const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// The streams of draws, one per kind of fault, so that one kind's rate does not
/// change which calls another kind hits.
#[derive(Debug, Clone, Copy)]
#[repr(u64)]
pub(super) enum Stream {
    /// Whether the call fails.
    Fail = 0,
    /// Whether the call is delayed.
    Latency = 1,
    /// Whether the call's outcome is substituted.
    Substitute = 2,
    /// Whether the behavior runs before the call.
    Behavior = 3,
}

/// One of 2^53 equally likely values, a fraction's numerator over [`ONE`].
pub(super) const ONE: u64 = 1 << 53;

/// splitmix64's output mixing function.
#[inline]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The draw for `call` (numbered from 1) in `stream`, uniform in `0..ONE`.
#[inline]
pub(super) fn draw(seed: u64, call: u64, stream: Stream) -> u64 {
    let index = call.wrapping_mul(4).wrapping_add(stream as u64);
    mix(seed.wrapping_add(index.wrapping_add(1).wrapping_mul(GAMMA))) >> 11
}

/// The threshold a draw must be below to hit at probability `rate` (in `[0, 1]`):
/// 0 never hits, [`ONE`] always does.
#[inline]
pub(super) fn threshold(rate: f64) -> u64 {
    // Exact for 0 and 1; in between, within 2^-53 of the rate. `as` saturates.
    (rate.clamp(0.0, 1.0) * ONE as f64) as u64
}

/// The rate a threshold stands for.
#[inline]
pub(super) fn rate(threshold: u64) -> f64 {
    threshold as f64 / ONE as f64
}

/// A 64-bit seed from the operating system's random source.
pub(super) fn random_seed() -> u64 {
    rand::random()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_splitmix64_reference_outputs() {
        // The first outputs of splitmix64 seeded with 1234567 (published test vector).
        let expected = [
            6_457_827_717_110_365_317_u64,
            3_203_168_211_198_807_973,
            9_817_491_932_198_370_423,
        ];
        for (i, e) in expected.iter().enumerate() {
            let index = i as u64;
            let got = mix(1_234_567_u64.wrapping_add((index + 1).wrapping_mul(GAMMA)));
            assert_eq!(got, *e, "output {i}");
        }
    }

    #[test]
    fn thresholds_are_exact_at_the_ends() {
        assert_eq!(threshold(0.0), 0);
        assert_eq!(threshold(1.0), ONE);
        assert!(draw(7, 1, Stream::Fail) < ONE);
        assert_eq!(rate(threshold(0.25)), 0.25);
    }

    #[test]
    fn streams_and_calls_differ() {
        let a = draw(1, 1, Stream::Fail);
        assert_ne!(a, draw(1, 1, Stream::Latency));
        assert_ne!(a, draw(1, 2, Stream::Fail));
        assert_ne!(a, draw(2, 1, Stream::Fail));
        assert_eq!(a, draw(1, 1, Stream::Fail));
    }
}
