//! One scenario and one seed give the same bytes; another seed gives other bytes.

use std::time::Duration;

use rampart_sim::{builtin, simulate};

#[test]
fn the_same_seed_gives_byte_identical_json_and_another_seed_differs() {
    // Long enough for the breaker, the bulkhead, the fallback and its queue to act.
    let scenario = builtin("checkout-outage")
        .expect("valid")
        .with_duration(Duration::from_secs(90));
    let once = simulate(&scenario).expect("runs").to_json();
    let again = simulate(&scenario).expect("runs").to_json();
    assert!(once == again, "two runs with seed 1 differ");
    let other = simulate(&scenario.with_seed(2)).expect("runs").to_json();
    assert_ne!(once, other);
}

#[test]
fn the_seed_also_drives_the_retries_jitter() {
    let scenario = builtin("retry-storm")
        .expect("valid")
        .with_duration(Duration::from_secs(5));
    let first_delays = |seed: u64| -> Vec<Option<u64>> {
        let report = simulate(&scenario.clone().with_seed(seed)).expect("runs");
        let jittered = &report.runs[1];
        jittered
            .timeline
            .iter()
            .filter(|l| l.kind == "retry")
            .map(|l| l.delay_ms)
            .collect()
    };
    assert_eq!(first_delays(1), first_delays(1));
    assert_ne!(first_delays(1), first_delays(2));
}
