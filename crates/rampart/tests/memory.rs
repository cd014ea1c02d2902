//! Resident memory stays bounded when 1,000,000 distinct keys pass through a keyed map,
//! keyed breakers and a keyed rate limiter, each capped at 10,000 live keys.
//!
//! Resident memory is a property of the whole process, so these measurements live alone
//! in this test binary, in one test that takes them one after another: tests running in
//! parallel threads would add their own allocations (and the allocator's per-thread
//! arenas, tens of MiB) to the figures. Each structure is kept alive until the end, so
//! a later measurement cannot reuse the memory an earlier one freed. The bounds are
//! generous: they leave room for the allocator and the test harness, and still fail if
//! keys pile up.

use std::sync::Arc;
use std::time::Instant;

use rampart::circuit::keyed::KeyedBreakers;
use rampart::circuit::BreakerConfig;
use rampart::classify::OutcomeClass;
use rampart::clock::ManualClock;
use rampart::keyed::{Keyed, KeyedConfig};
use rampart::rate_limit::{KeyedRateLimiter, RateLimitConfig};

const KEYS: u64 = 1_000_000;
const MAX_KEYS: usize = 10_000;
const MIB: u64 = 1 << 20;

/// Resident set size in bytes, if /proc is readable: the kernel's `VmRSS` line, in
/// kB whatever the page size.
fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Runs `fill`, prints and returns the growth of the resident set (`None` when /proc
/// is unreadable), and hands back what `fill` made, to keep it alive.
fn measure<T>(what: &str, fill: impl FnOnce() -> T) -> (T, Option<u64>) {
    let before = rss_bytes();
    let start = Instant::now();
    let kept = fill();
    let took = start.elapsed();
    let growth = before.zip(rss_bytes()).map(|(b, a)| a.saturating_sub(b));
    match growth {
        Some(g) => eprintln!(
            "{what}: {KEYS} keys in {took:?}, resident +{:.2} MiB",
            g as f64 / MIB as f64
        ),
        None => eprintln!("note: /proc/self/status is not readable; {what} not measured"),
    }
    (kept, growth)
}

fn assert_below(what: &str, growth: Option<u64>, bound: u64) {
    match growth {
        Some(g) => assert!(g < bound, "{what}: resident memory grew by {g} bytes"),
        // Linux always has it: a missing figure there is a broken measurement.
        None if cfg!(target_os = "linux") => panic!("{what}: no resident set size"),
        None => {}
    }
}

#[test]
fn a_million_distinct_keys_leave_resident_memory_bounded() {
    // 128 bytes of state per value: kept for every key, 1,000,000 keys would take well
    // over 200 MiB.
    let (map, growth) = measure("keyed map", || {
        let keyed: Keyed<u64, Arc<[u64; 16]>> = Keyed::with_clock(
            KeyedConfig::new().with_max_keys(MAX_KEYS),
            |k: &u64| Arc::new([*k; 16]),
            Arc::new(ManualClock::new()),
        )
        .expect("valid");
        for k in 0..KEYS {
            let v = keyed.get(&k);
            debug_assert_eq!(v[0], k);
        }
        keyed
    });
    assert_eq!(map.len(), MAX_KEYS);
    assert_eq!(map.evicted(), KEYS - MAX_KEYS as u64);
    assert_below("keyed map", growth, 64 * MIB);

    // A count window of 100 calls per breaker, as a real deployment might use.
    let (breakers, growth) = measure("keyed breakers", || {
        let b: KeyedBreakers<u64> = KeyedBreakers::with_clock(
            "tenants",
            BreakerConfig::count_window(100, 0.5),
            KeyedConfig::new().with_max_keys(MAX_KEYS),
            Arc::new(ManualClock::new()),
        )
        .expect("valid");
        for k in 0..KEYS {
            let (breaker, permit) = b.try_acquire(&k).expect("closed");
            breaker.record(permit, OutcomeClass::Success);
        }
        b
    });
    assert_eq!(breakers.len(), MAX_KEYS);
    assert_eq!(breakers.evicted(), KEYS - MAX_KEYS as u64);
    assert_below("keyed breakers", growth, 128 * MIB);

    // Holding every key would take at least 16 MB (the key and its bucket, 8 bytes
    // each); the cap's 10,000 keys take well under 1 MB.
    let (limiter, growth) = measure("keyed rate limiter", || {
        let l: KeyedRateLimiter<u64> = KeyedRateLimiter::with_clock(
            "clients",
            RateLimitConfig::per_minute(1000),
            KeyedConfig::new().with_max_keys(MAX_KEYS),
            Arc::new(ManualClock::new()),
        )
        .expect("valid");
        for k in 0..KEYS {
            assert!(l.check(&k).is_ok(), "key {k} is new and has a full bucket");
        }
        l
    });
    assert_eq!(limiter.len(), MAX_KEYS);
    assert_eq!(limiter.evicted(), KEYS - MAX_KEYS as u64);
    // The most recent keys are still there, with the token they used.
    let last = limiter.key_snapshot(&(KEYS - 1)).expect("live");
    assert_eq!(last.available, 999);
    assert_below("keyed rate limiter", growth, 12 * MIB);
}
