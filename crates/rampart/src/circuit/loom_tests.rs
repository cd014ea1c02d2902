//! Loom models of the breaker's lock-free parts: the state word and probe reservation,
//! the window counters, and progress after racing records. Run with
//! `RUSTFLAGS="--cfg rampart_loom" cargo test -p rampart --lib --release loom_`.

use std::time::Duration;

use loom::thread;

use super::{BreakerConfig, BreakerPermit, BreakerState, CircuitBreaker};
use crate::classify::OutcomeClass;
use crate::clock::ManualClock;

use crate::sync::check_model as check;

fn breaker(config: BreakerConfig) -> (CircuitBreaker, ManualClock) {
    let clock = ManualClock::new();
    let b = CircuitBreaker::with_clock("loom", config, std::sync::Arc::new(clock.clone()))
        .expect("valid");
    (b, clock)
}

/// A breaker tripped by one failure whose open period of 1 s has just ended.
fn at_half_open_instant(probes: u32, successes: u32) -> CircuitBreaker {
    let config = BreakerConfig::consecutive(1)
        .with_open_for(Duration::from_secs(1))
        .with_permitted_probes(probes)
        .with_success_threshold(successes);
    let (b, clock) = breaker(config);
    let p = b.try_acquire().expect("closed");
    b.record(p, OutcomeClass::Failure);
    assert_eq!(b.state(), BreakerState::Open);
    clock.advance(Duration::from_secs(1));
    b
}

fn in_thread<T: Send + 'static>(
    b: &CircuitBreaker,
    f: impl FnOnce(CircuitBreaker) -> T + Send + 'static,
) -> thread::JoinHandle<T> {
    let b = b.clone();
    thread::spawn(move || f(b))
}

#[test]
fn loom_two_callers_at_half_open_get_one_probe() {
    check(|| {
        let b = at_half_open_instant(1, 1);
        let racers: Vec<_> = (0..2)
            .map(|_| in_thread(&b, |b| b.try_acquire().ok()))
            .collect();
        let permits: Vec<BreakerPermit> = racers
            .into_iter()
            .filter_map(|r| r.join().expect("no panic"))
            .collect();
        assert_eq!(permits.len(), 1);
        assert!(permits[0].is_probe());
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(b.try_acquire().is_err());
    });
}

#[test]
fn loom_count_window_loses_no_failure() {
    check(|| {
        let (b, _) = breaker(BreakerConfig::count_window(8, 1.0));
        let recorders: Vec<_> = (0..2)
            .map(|_| {
                in_thread(&b, |b| {
                    let p = b.try_acquire().expect("closed");
                    b.record(p, OutcomeClass::Failure);
                })
            })
            .collect();
        for r in recorders {
            r.join().expect("no panic");
        }
        let s = b.snapshot();
        assert_eq!((s.calls_in_window, s.failures_in_window), (2, 2));
        assert_eq!(s.state, BreakerState::Closed);
    });
}

#[test]
fn loom_success_skipping_a_full_clean_window_never_hides_a_failure() {
    check(|| {
        // A full window of 2 successes: a success may take the read-only path while a
        // failure races it; the failure is counted, and 2 more successes age it out
        // (the racing success counts before or after it), so it is never stuck.
        let (b, _) = breaker(BreakerConfig::count_window(2, 1.0).with_min_calls(2));
        for _ in 0..2 {
            let p = b.try_acquire().expect("closed");
            b.record(p, OutcomeClass::Success);
        }
        let racers: Vec<_> = [OutcomeClass::Failure, OutcomeClass::Success]
            .into_iter()
            .map(|class| {
                in_thread(&b, move |b| {
                    let p = b.try_acquire().expect("closed");
                    b.record(p, class);
                })
            })
            .collect();
        for r in racers {
            r.join().expect("no panic");
        }
        let s = b.snapshot();
        assert_eq!((s.calls_in_window, s.failures_in_window), (2, 1));
        for _ in 0..2 {
            let p = b.try_acquire().expect("closed");
            b.record(p, OutcomeClass::Success);
        }
        assert_eq!(b.snapshot().failures_in_window, 0);
    });
}

#[test]
fn loom_time_window_rotation_loses_no_failure() {
    check(|| {
        // Both records open the first bucket: one rotates it, neither count is lost.
        let config = BreakerConfig::time_window(Duration::from_secs(10), 2, 1.0);
        let (b, _) = breaker(config);
        let recorders: Vec<_> = (0..2)
            .map(|_| {
                in_thread(&b, |b| {
                    let p = b.try_acquire().expect("closed");
                    b.record(p, OutcomeClass::Failure);
                })
            })
            .collect();
        for r in recorders {
            r.join().expect("no panic");
        }
        let s = b.snapshot();
        assert_eq!((s.calls_in_window, s.failures_in_window), (2, 2));
    });
}

#[test]
fn loom_racing_failures_trip_once() {
    check(|| {
        let config = BreakerConfig::consecutive(2).with_open_for(Duration::from_secs(5));
        let (b, _) = breaker(config);
        let recorders: Vec<_> = (0..2)
            .map(|_| {
                in_thread(&b, |b| {
                    let p = b.try_acquire().expect("closed");
                    b.record(p, OutcomeClass::Failure);
                })
            })
            .collect();
        for r in recorders {
            r.join().expect("no panic");
        }
        let s = b.snapshot();
        assert_eq!(s.state, BreakerState::Open);
        assert_eq!(s.consecutive_opens, 1, "one trip, not two");
        assert_eq!(s.time_until_half_open, Some(Duration::from_secs(5)));
    });
}

#[test]
fn loom_failing_probe_racing_a_succeeding_one_ends_open_and_not_stuck() {
    check(|| {
        let b = at_half_open_instant(2, 2);
        let ok = b.try_acquire().expect("probe 1");
        let bad = b.try_acquire().expect("probe 2");
        let t = in_thread(&b, move |b| b.record(ok, OutcomeClass::Success));
        b.record(bad, OutcomeClass::Failure);
        t.join().expect("no panic");
        assert_eq!(b.state(), BreakerState::Open);
        // Not stuck: a reset closes it and calls go through again.
        b.reset();
        let p = b.try_acquire().expect("closed after reset");
        b.record(p, OutcomeClass::Success);
        assert_eq!(b.state(), BreakerState::Closed);
    });
}

#[test]
fn loom_dropped_probe_racing_a_caller_frees_its_slot() {
    check(|| {
        let b = at_half_open_instant(1, 1);
        let probe = b.try_acquire().expect("the probe");
        let dropper = in_thread(&b, move |_| drop(probe));
        let other = b.try_acquire().ok();
        dropper.join().expect("no panic");
        // Either the caller came after the drop and holds the slot, or the slot is free.
        match other {
            Some(p) => {
                assert!(b.try_acquire().is_err());
                b.record(p, OutcomeClass::Success);
                assert_eq!(b.state(), BreakerState::Closed);
            }
            None => {
                let p = b.try_acquire().expect("the freed slot");
                b.record(p, OutcomeClass::Success);
                assert_eq!(b.state(), BreakerState::Closed);
            }
        }
    });
}
