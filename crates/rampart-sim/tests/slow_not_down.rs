//! The seeds' S3 story: a store answering in 10-30 s drains the shared pool unless
//! calls to it are bounded by a timeout and a bulkhead.

use std::time::Duration;

use rampart_sim::{builtin, simulate};

#[test]
fn a_timeout_and_a_bulkhead_keep_the_other_pages_up() {
    // Four minutes of traffic: the store is slow from 3:00, which leaves a minute of it
    // (and keeps the test quick in debug builds).
    let scenario = builtin("slow-not-down").expect("valid");
    let report = simulate(&scenario.with_duration(Duration::from_secs(240))).expect("runs");
    let (none, defended) = (&report.runs[0], &report.runs[1]);
    assert!(none.pool.saturated_ms >= 50_000, "{:?}", none.pool);
    assert_eq!(defended.pool.saturated_ms, 0, "{:?}", defended.pool);
    for (bare, kept) in none.kinds.iter().zip(&defended.kinds) {
        if bare.calls.contains(&"object_store".to_owned()) {
            // Pages with images are answered from the cache while the store is slow.
            assert!(kept.counts.degraded > 0, "{kept:?}");
            continue;
        }
        assert!(bare.incident.answered_ratio() < 0.5, "{bare:?}");
        assert!(kept.incident.answered_ratio() >= 0.98, "{kept:?}");
    }
}
