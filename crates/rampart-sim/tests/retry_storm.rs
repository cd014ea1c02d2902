//! The seeds' SMS retry storm: without jitter, every failed message retries in the same
//! 100 ms; full jitter spreads each wave over its backoff.

use rampart_sim::{builtin, simulate};

#[test]
fn without_jitter_the_retries_peak_at_least_four_times_higher() {
    let report = simulate(&builtin("retry-storm").expect("valid")).expect("runs");
    let peak = |run: usize| report.runs[run].dependencies[0].peak_retries_per_100ms;
    let (steady, jittered) = (peak(0), peak(1));
    assert_eq!(report.runs[0].name, "retries without jitter");
    // The 500 queued messages fail together and come back together.
    assert!(steady >= 500, "{steady}");
    assert!(
        steady >= 4 * jittered,
        "without jitter {steady}, with full jitter {jittered}"
    );
    // The timeline shows the waves without jitter (after 1, 3, 7, 15 and 31 s), and
    // with full jitter only the first sending of the queue.
    let surges = |run: usize| -> Vec<u64> {
        report.runs[run]
            .timeline
            .iter()
            .filter(|l| l.kind == "surge")
            .map(|l| l.at_ms / 1000)
            .collect()
    };
    assert_eq!(surges(0), [0, 1, 3, 7, 15, 31]);
    assert_eq!(surges(1), [0]);
    // Without jitter every message outlasts the 30 s; full jitter waits half as long on
    // average, so a few messages run out of attempts before the API is back.
    let served = |run: usize| report.runs[run].totals.answered_ratio();
    assert!(served(0) == 1.0, "{}", served(0));
    assert!(served(1) >= 0.95, "{}", served(1));
}
