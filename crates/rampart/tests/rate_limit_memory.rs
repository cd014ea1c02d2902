//! A keyed rate limiter's resident memory stays bounded over 1,000,000 distinct keys:
//! alone in its test binary, so that no other test's allocations are counted.

use std::sync::Arc;
use std::time::Instant;

use rampart::clock::ManualClock;
use rampart::keyed::KeyedConfig;
use rampart::rate_limit::{KeyedRateLimiter, RateLimitConfig};

/// Resident set size in bytes, if /proc is readable.
fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

#[test]
fn a_million_distinct_keys_leave_resident_memory_bounded() {
    const KEYS: u64 = 1_000_000;
    const MAX_KEYS: usize = 10_000;
    // Holding every key would take at least 24 MB (key, bucket and time of use, 8 bytes
    // each); the cap's 10,000 keys take well under 1 MB. The bound leaves room for the
    // allocator and the test harness, and still fails if keys pile up.
    const BOUND: u64 = 12 << 20;
    let before = rss_bytes();
    let l: KeyedRateLimiter<u64> = KeyedRateLimiter::with_clock(
        "clients",
        RateLimitConfig::per_minute(1000),
        KeyedConfig::new().with_max_keys(MAX_KEYS),
        Arc::new(ManualClock::new()),
    )
    .expect("valid");
    let start = Instant::now();
    for k in 0..KEYS {
        assert!(l.check(&k).is_ok(), "key {k} is new and has a full bucket");
    }
    let took = start.elapsed();
    assert_eq!(l.len(), MAX_KEYS);
    assert_eq!(l.evicted(), KEYS - MAX_KEYS as u64);
    // The most recent keys are still there, with the token they used.
    assert_eq!(l.key_snapshot(&(KEYS - 1)).expect("live").available, 999);
    let Some(before) = before else {
        eprintln!("note: /proc/self/statm is not readable; memory not measured ({took:?})");
        return;
    };
    let after = rss_bytes().unwrap_or(before);
    let growth = after.saturating_sub(before);
    eprintln!(
        "{KEYS} keys in {took:?}, {} live: resident +{:.2} MiB",
        l.len(),
        growth as f64 / 1048576.0
    );
    assert!(growth < BOUND, "resident memory grew by {growth} bytes");
}
