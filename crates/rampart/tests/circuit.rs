//! The circuit breaker alone: the seeds' cases, every state, classification, snapshot,
//! events, the call methods, odd clocks and bad configuration. Time is a `ManualClock`
//! or tokio's paused clock; nothing sleeps.

mod support;

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use rampart::circuit::{BreakerConfig, BreakerPermit, BreakerState, CircuitBreaker};
use rampart::classify::{Classifier, OutcomeClass};
use rampart::clock::{Clock, ManualClock};
use rampart::event::Recorder;
use rampart::{Error, RejectionKind};
use support::{ms, secs};

fn breaker(config: BreakerConfig) -> (CircuitBreaker, ManualClock) {
    let clock = ManualClock::new();
    let b = CircuitBreaker::with_clock("payment", config, Arc::new(clock.clone())).unwrap();
    (b, clock)
}

fn outcome(b: &CircuitBreaker, class: OutcomeClass) -> bool {
    match b.try_acquire() {
        Ok(p) => {
            b.record(p, class);
            true
        }
        Err(_) => false,
    }
}

fn ok(b: &CircuitBreaker) -> bool {
    outcome(b, OutcomeClass::Success)
}

fn fail(b: &CircuitBreaker) -> bool {
    outcome(b, OutcomeClass::Failure)
}

/// The seeds: 4 failures, 1 success, 4 failures (a 90 % failure rate in the last 9
/// calls) never trips 5 consecutive failures, but trips a window of 10 at 50 %.
#[test]
fn seeds_four_one_four() {
    let (consecutive, _) = breaker(BreakerConfig::consecutive(5));
    let (window, _) = breaker(BreakerConfig::count_window(10, 0.5).with_min_calls(9));
    for b in [&consecutive, &window] {
        for _ in 0..4 {
            assert!(fail(b));
        }
        assert!(ok(b));
        for _ in 0..4 {
            assert!(fail(b));
        }
    }
    assert_eq!(consecutive.state(), BreakerState::Closed);
    assert_eq!(window.state(), BreakerState::Open);
    // One more failure makes five in a row.
    assert!(fail(&consecutive));
    assert_eq!(consecutive.state(), BreakerState::Open);
    // With the default minimum (the window's size), 9 calls are not enough.
    let (full, _) = breaker(BreakerConfig::count_window(10, 0.5));
    for class in [false, false, false, false, true, false, false, false, false] {
        assert!(outcome(
            &full,
            if class {
                OutcomeClass::Success
            } else {
                OutcomeClass::Failure
            }
        ));
    }
    assert_eq!(full.state(), BreakerState::Closed);
    assert!(ok(&full), "the tenth call (a success) completes the window");
    assert_eq!(full.state(), BreakerState::Open);
}

#[test]
fn open_half_open_closed_with_retry_after() {
    let (b, clock) = breaker(BreakerConfig::consecutive(2).with_open_for(secs(30)));
    fail(&b);
    fail(&b);
    assert_eq!(b.state(), BreakerState::Open);
    clock.advance(secs(10));
    let r = b.try_acquire().unwrap_err();
    assert_eq!(r.kind(), RejectionKind::CircuitOpen);
    assert_eq!(r.policy(), "circuit_breaker");
    assert_eq!(r.name(), "payment");
    assert_eq!(r.retry_after(), Some(secs(20)));
    clock.advance(secs(20));
    let probe = b.try_acquire().unwrap();
    assert!(probe.is_probe());
    assert_eq!(b.state(), BreakerState::HalfOpen);
    let busy = b.try_acquire().unwrap_err();
    assert_eq!(busy.retry_after(), None, "half-open with its probe out");
    b.record(probe, OutcomeClass::Success);
    assert_eq!(b.state(), BreakerState::Closed);
    let p = b.try_acquire().unwrap();
    assert!(!p.is_probe());
    b.record(p, OutcomeClass::Success);
}

#[test]
fn probes_success_threshold_and_failure_reopens() {
    let config = BreakerConfig::consecutive(1)
        .with_open_for(secs(5))
        .with_permitted_probes(3)
        .with_success_threshold(2);
    let (b, clock) = breaker(config);
    fail(&b);
    clock.advance(secs(5));
    let p: Vec<BreakerPermit> = (0..3).map(|_| b.try_acquire().unwrap()).collect();
    assert!(b.try_acquire().is_err(), "only 3 probes");
    let mut p = p.into_iter();
    b.record(p.next().unwrap(), OutcomeClass::Success);
    assert_eq!(b.state(), BreakerState::HalfOpen);
    b.record(p.next().unwrap(), OutcomeClass::Success);
    assert_eq!(b.state(), BreakerState::Closed);
    // The third probe's outcome belongs to the half-open period that ended.
    b.record(p.next().unwrap(), OutcomeClass::Failure);
    assert_eq!(b.state(), BreakerState::Closed);

    fail(&b);
    clock.advance(secs(5));
    let first = b.try_acquire().unwrap();
    let second = b.try_acquire().unwrap();
    b.record(first, OutcomeClass::Success);
    b.record(second, OutcomeClass::Failure);
    assert_eq!(b.state(), BreakerState::Open, "any probe failure re-opens");
}

/// Outcomes of probes from an earlier half-open period touch nothing in a later one.
#[test]
fn stale_probe_outcomes_do_not_touch_a_later_half_open() {
    let config = BreakerConfig::consecutive(1)
        .with_open_for(secs(5))
        .with_permitted_probes(4)
        .with_success_threshold(2);
    let (b, clock) = breaker(config);
    fail(&b);
    clock.advance(secs(5));
    let mut period1: Vec<_> = (0..4).map(|_| b.try_acquire().unwrap()).collect();
    b.record(period1.pop().unwrap(), OutcomeClass::Failure);
    assert_eq!(b.state(), BreakerState::Open);
    clock.advance(secs(5));
    let current = b.try_acquire().unwrap();
    assert_eq!(b.state(), BreakerState::HalfOpen);
    // Period 1's leftovers: a failure does not re-open, a success does not count, a
    // drop frees nothing.
    b.record(period1.pop().unwrap(), OutcomeClass::Failure);
    assert_eq!(b.state(), BreakerState::HalfOpen);
    b.record(period1.pop().unwrap(), OutcomeClass::Success);
    drop(period1);
    let more: Vec<_> = (0..3).map(|_| b.try_acquire().unwrap()).collect();
    assert!(b.try_acquire().is_err(), "4 probes out in this period");
    b.record(current, OutcomeClass::Success);
    assert_eq!(b.state(), BreakerState::HalfOpen, "one success of two");
    let mut more = more.into_iter();
    b.record(more.next().unwrap(), OutcomeClass::Success);
    assert_eq!(b.state(), BreakerState::Closed);
    b.record(more.next().unwrap(), OutcomeClass::Failure);
    assert_eq!(b.state(), BreakerState::Closed);
}

#[test]
fn open_backoff_grows_caps_and_starts_over_after_closing() {
    let config = BreakerConfig::consecutive(1)
        .with_open_for(secs(10))
        .with_open_backoff(2.0, secs(35));
    let (b, clock) = breaker(config);
    fail(&b);
    let until = |b: &CircuitBreaker| b.snapshot().time_until_half_open;
    assert_eq!(until(&b), Some(secs(10)));
    assert_eq!(b.snapshot().consecutive_opens, 1);
    for (wait, next) in [(10, 20), (20, 35), (35, 35)] {
        clock.advance(secs(wait));
        assert_eq!(until(&b), Some(Duration::ZERO));
        assert!(fail(&b), "a probe, which fails");
        assert_eq!(until(&b), Some(secs(next)));
    }
    assert_eq!(b.snapshot().consecutive_opens, 4);
    clock.advance(secs(35));
    assert!(ok(&b));
    assert_eq!(b.snapshot().consecutive_opens, 0);
    fail(&b);
    assert_eq!(until(&b), Some(secs(10)));
}

#[test]
fn max_half_open_reopens_when_probes_never_finish() {
    let config = BreakerConfig::consecutive(1)
        .with_open_for(secs(5))
        .with_max_half_open(secs(60));
    let (b, clock) = breaker(config);
    fail(&b);
    clock.advance(secs(5));
    let stuck = b.try_acquire().unwrap();
    clock.advance(secs(59));
    assert!(b.try_acquire().is_err());
    assert_eq!(b.state(), BreakerState::HalfOpen);
    clock.advance(secs(1));
    let r = b.try_acquire().unwrap_err();
    assert_eq!(b.state(), BreakerState::Open);
    assert_eq!(r.retry_after(), Some(secs(5)));
    assert_eq!(b.snapshot().consecutive_opens, 2);
    // The stuck probe's late success belongs to the expired half-open period.
    b.record(stuck, OutcomeClass::Success);
    assert_eq!(b.state(), BreakerState::Open);
}

#[test]
fn ignored_outcomes_count_for_nothing() {
    let (b, clock) = breaker(BreakerConfig::count_window(4, 0.5));
    for _ in 0..10 {
        outcome(&b, OutcomeClass::Ignored);
    }
    assert_eq!(b.snapshot().calls_in_window, 0);
    fail(&b);
    fail(&b);
    outcome(&b, OutcomeClass::Ignored);
    ok(&b);
    assert_eq!(b.state(), BreakerState::Closed);
    assert_eq!(b.snapshot().calls_in_window, 3);
    fail(&b);
    assert_eq!(b.state(), BreakerState::Open);
    // An ignored probe gives its slot back.
    clock.advance(secs(30));
    let probe = b.try_acquire().unwrap();
    assert!(b.try_acquire().is_err());
    b.record(probe, OutcomeClass::Ignored);
    assert_eq!(b.state(), BreakerState::HalfOpen);
    assert!(ok(&b));
    assert_eq!(b.state(), BreakerState::Closed);
}

#[test]
fn dropped_probe_permit_gives_its_slot_back() {
    let (b, clock) = breaker(BreakerConfig::consecutive(1).with_open_for(secs(1)));
    fail(&b);
    clock.advance(secs(1));
    let probe = b.try_acquire().unwrap();
    assert!(b.try_acquire().is_err());
    drop(probe);
    assert_eq!(b.state(), BreakerState::HalfOpen);
    assert!(ok(&b));
    assert_eq!(b.state(), BreakerState::Closed);
    // A closed permit dropped unrecorded counts for nothing either.
    drop(b.try_acquire().unwrap());
    assert_eq!(b.snapshot().calls_in_window, 0);
}

#[test]
fn record_rejection_counts_only_slowness_and_injected_faults() {
    let (b, _) = breaker(BreakerConfig::count_window(10, 0.5).with_min_calls(1));
    for kind in [
        RejectionKind::CircuitOpen,
        RejectionKind::BulkheadFull,
        RejectionKind::RateLimited,
        RejectionKind::Shed,
        RejectionKind::RetryBudgetExhausted,
    ] {
        b.record_rejection(b.try_acquire().unwrap(), kind);
    }
    assert_eq!(b.snapshot().calls_in_window, 0);
    assert_eq!(b.state(), BreakerState::Closed);
    b.record_rejection(b.try_acquire().unwrap(), RejectionKind::Timeout);
    assert_eq!(b.state(), BreakerState::Open);

    let (b, _) = breaker(BreakerConfig::consecutive(1));
    b.record_rejection(b.try_acquire().unwrap(), RejectionKind::DeadlineExceeded);
    assert_eq!(b.state(), BreakerState::Open);

    // A fault injected to rehearse an outage fails like the dependency would.
    let (b, _) = breaker(BreakerConfig::consecutive(1));
    b.record_rejection(b.try_acquire().unwrap(), RejectionKind::Injected);
    assert_eq!(b.state(), BreakerState::Open);
}

#[test]
fn forced_states_disabled_and_reset() {
    let (b, clock) = breaker(BreakerConfig::consecutive(2));
    b.force_open();
    assert_eq!(b.state(), BreakerState::ForcedOpen);
    let r = b.try_acquire().unwrap_err();
    assert_eq!(r.retry_after(), None);
    clock.advance(secs(3600));
    assert!(b.try_acquire().is_err(), "forced open does not expire");
    assert_eq!(b.snapshot().time_until_half_open, None);

    for (force, state) in [
        (
            CircuitBreaker::force_closed as fn(&CircuitBreaker),
            BreakerState::ForcedClosed,
        ),
        (CircuitBreaker::disable, BreakerState::Disabled),
    ] {
        force(&b);
        assert_eq!(b.state(), state);
        for _ in 0..10 {
            assert!(fail(&b), "{state} admits everything");
        }
        assert_eq!(b.state(), state, "and never trips");
        assert_eq!(b.snapshot().calls_in_window, 0, "{state} counts nothing");
    }
    b.reset();
    assert_eq!(b.state(), BreakerState::Closed);
    fail(&b);
    fail(&b);
    assert_eq!(b.state(), BreakerState::Open);
    b.reset();
    assert_eq!(b.state(), BreakerState::Closed);
    assert_eq!(b.snapshot().consecutive_opens, 0);
    assert!(fail(&b));
    assert_eq!(b.state(), BreakerState::Closed, "reset emptied the run");
}

#[test]
fn metrics_only_records_and_never_rejects() {
    let (b, _) = breaker(
        BreakerConfig::count_window(10, 0.5)
            .with_min_calls(2)
            .with_slow_calls(ms(100), 0.5),
    );
    b.metrics_only();
    for _ in 0..8 {
        assert!(fail(&b));
    }
    assert!(ok(&b));
    assert!(ok(&b));
    let s = b.snapshot();
    assert_eq!(s.state, BreakerState::MetricsOnly);
    assert_eq!((s.calls_in_window, s.failures_in_window), (10, 8));
    assert!((s.failure_rate - 0.8).abs() < 1e-9);
    b.metrics_only(); // already there: keeps the window
    assert_eq!(b.snapshot().calls_in_window, 10);
    b.reset();
    assert_eq!(b.snapshot().calls_in_window, 0);
    fail(&b);
    fail(&b);
    assert_eq!(b.state(), BreakerState::Open);
    b.metrics_only();
    assert!(ok(&b), "metrics-only admits even after a trip");
}

/// Runs one call that takes `took` on the manual clock and succeeds.
fn timed_ok(b: &CircuitBreaker, clock: &ManualClock, took: Duration) -> bool {
    let Ok(p) = b.try_acquire() else {
        return false;
    };
    clock.advance(took);
    b.record(p, OutcomeClass::Success);
    true
}

#[test]
fn slow_calls_trip_windows_and_fail_probes() {
    for config in [
        BreakerConfig::count_window(4, 1.0),
        BreakerConfig::time_window(secs(10), 5, 1.0).with_min_calls(4),
    ] {
        let (b, clock) = breaker(config.with_slow_calls(secs(2), 0.5));
        // Slow, not slow (exactly 2 s is not slower than 2 s), slow.
        for took in [3, 2, 3] {
            assert!(timed_ok(&b, &clock, secs(took)));
        }
        let s = b.snapshot();
        assert_eq!(
            s.state,
            BreakerState::Closed,
            "fewer than the minimum calls"
        );
        assert_eq!((s.calls_in_window, s.slow_calls_in_window), (3, 2));
        assert!((s.slow_call_rate - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(s.failure_rate, 0.0);
        // A fast success brings the window to its minimum with half the calls slow.
        assert!(timed_ok(&b, &clock, Duration::ZERO));
        assert_eq!(b.state(), BreakerState::Open);
        // A probe that succeeds slowly counts as a failed probe.
        clock.advance(secs(30));
        assert!(timed_ok(&b, &clock, secs(3)));
        assert_eq!(b.state(), BreakerState::Open);
        clock.advance(secs(30));
        assert!(timed_ok(&b, &clock, secs(1)));
        assert_eq!(b.state(), BreakerState::Closed);
    }
}

#[test]
fn time_window_forgets_old_calls() {
    let config = BreakerConfig::time_window(secs(10), 10, 0.6).with_min_calls(4);
    let (b, clock) = breaker(config.clone());
    for _ in 0..3 {
        fail(&b);
    }
    clock.advance(secs(10)); // the failures leave the window
    assert_eq!(b.snapshot().calls_in_window, 0);
    for _ in 0..2 {
        fail(&b);
        ok(&b);
    }
    assert_eq!(b.state(), BreakerState::Closed, "2 of 4, not 5 of 7");
    let (b, clock) = breaker(config);
    for _ in 0..3 {
        ok(&b);
    }
    clock.advance(secs(9));
    for _ in 0..3 {
        fail(&b);
    }
    assert_eq!(b.state(), BreakerState::Closed, "3 of 6");
    clock.advance(secs(1)); // the successes leave: 3 of 3 failed, but only 3 calls
    assert_eq!(b.snapshot().calls_in_window, 3);
    assert_eq!(b.state(), BreakerState::Closed);
    ok(&b);
    assert_eq!(
        b.state(),
        BreakerState::Open,
        "3 of 4 on a success, after expiry"
    );
}

#[test]
fn snapshot_reads_without_disturbing() {
    let (b, clock) = breaker(BreakerConfig::count_window(4, 0.75).with_open_for(secs(30)));
    fail(&b);
    ok(&b);
    fail(&b);
    let s = b.snapshot();
    assert_eq!(s.state, BreakerState::Closed);
    assert_eq!((s.calls_in_window, s.failures_in_window), (3, 2));
    assert!((s.failure_rate - 2.0 / 3.0).abs() < 1e-9);
    assert_eq!(s.time_until_half_open, None);
    assert_eq!(s.consecutive_opens, 0);
    fail(&b);
    let s = b.snapshot();
    assert_eq!(s.state, BreakerState::Open);
    assert_eq!(s.calls_in_window, 0, "a transition starts a new window");
    assert_eq!(s.time_until_half_open, Some(secs(30)));
    assert_eq!(s.consecutive_opens, 1);
    clock.advance(secs(45));
    // Looking changes nothing: still open, ready for a probe.
    for _ in 0..3 {
        let s = b.snapshot();
        assert_eq!(s.state, BreakerState::Open);
        assert_eq!(s.time_until_half_open, Some(Duration::ZERO));
    }
    assert_eq!(b.state().gauge(), 1);
    let probe = b.try_acquire().unwrap();
    assert_eq!(b.state().gauge(), 2);
    assert_eq!(b.snapshot().time_until_half_open, None);
    b.record(probe, OutcomeClass::Success);
    assert_eq!(b.state().gauge(), 0);
}

#[test]
fn state_names_and_gauge_values() {
    let all = [
        (BreakerState::Closed, "closed", 0),
        (BreakerState::Open, "open", 1),
        (BreakerState::HalfOpen, "half_open", 2),
        (BreakerState::ForcedOpen, "forced_open", 1),
        (BreakerState::ForcedClosed, "forced_closed", 0),
        (BreakerState::Disabled, "disabled", 0),
        (BreakerState::MetricsOnly, "metrics_only", 0),
    ];
    for (state, name, gauge) in all {
        assert_eq!(state.as_str(), name);
        assert_eq!(state.to_string(), name);
        assert_eq!(state.gauge(), gauge);
        assert_eq!(state.admits_all(), gauge == 0, "{state}");
    }
}

#[test]
fn events_reach_a_recorder() {
    let recorder = Recorder::new();
    let clock = ManualClock::new();
    let b = CircuitBreaker::with_clock(
        "payment",
        BreakerConfig::count_window(4, 0.5).with_open_for(secs(30)),
        Arc::new(clock.clone()),
    )
    .unwrap()
    .with_listener(Arc::new(recorder.clone()));
    let quiet = b.clone();
    ok(&b);
    fail(&b);
    ok(&b);
    assert!(recorder.lines().is_empty(), "{:?}", recorder.lines());
    fail(&quiet);
    clock.advance(secs(10));
    assert!(!ok(&b));
    clock.advance(secs(20));
    assert!(ok(&b));
    b.force_open();
    b.force_open();
    assert!(!ok(&b));
    b.reset();
    b.reset();
    let lines = recorder.lines();
    let expected = [
        r#"payment: CircuitStateChanged { from: "closed", to: "open", failure_rate: 0.5, slow_call_rate: 0.0, calls: 4, failures: 2, threshold: 0.5, last_error: None }"#,
        "payment: CircuitRejected { retry_after: Some(20s) }",
        r#"payment: CircuitStateChanged { from: "open", to: "half_open", failure_rate: 0.0, slow_call_rate: 0.0, calls: 0, failures: 0, threshold: 0.5, last_error: None }"#,
        r#"payment: CircuitStateChanged { from: "half_open", to: "closed", failure_rate: 0.0, slow_call_rate: 0.0, calls: 1, failures: 0, threshold: 0.5, last_error: None }"#,
        r#"payment: CircuitStateChanged { from: "closed", to: "forced_open", failure_rate: 0.0, slow_call_rate: 0.0, calls: 0, failures: 0, threshold: 0.5, last_error: None }"#,
        "payment: CircuitRejected { retry_after: None }",
        r#"payment: CircuitStateChanged { from: "forced_open", to: "closed", failure_rate: 0.0, slow_call_rate: 0.0, calls: 0, failures: 0, threshold: 0.5, last_error: None }"#,
    ];
    assert_eq!(lines, expected);
    // A listener set on a breaker that already has clones still reaches them all.
    let late = Recorder::new();
    let (b, _) = breaker(BreakerConfig::consecutive(1));
    let clone = b.clone();
    let _b = b.with_listener(Arc::new(late.clone()));
    fail(&clone);
    assert_eq!(late.count("CircuitStateChanged"), 1);
}

#[tokio::test(start_paused = true)]
async fn state_changes_carry_the_error_that_caused_them() {
    let recorder = Recorder::new();
    let b = CircuitBreaker::new(
        "payment",
        BreakerConfig::consecutive(2).with_open_for(secs(30)),
    )
    .unwrap()
    .with_listener(Arc::new(recorder.clone()));
    let _ = b
        .call(|| async { Err::<(), _>("connection refused") })
        .await;
    let _ = b.call(|| async { Err::<(), _>("503 from payments") }).await;
    tokio::time::advance(secs(30)).await;
    let p = b.try_acquire().expect("a probe");
    b.record_with_error(p, OutcomeClass::Failure, &"probe timed out");
    let changes: Vec<String> = recorder
        .lines()
        .into_iter()
        .filter(|l| l.contains("CircuitStateChanged"))
        .collect();
    assert_eq!(changes.len(), 3, "{changes:?}");
    assert!(
        changes[0].contains(r#"to: "open""#)
            && changes[0].ends_with(r#"last_error: Some("503 from payments") }"#),
        "{}",
        changes[0]
    );
    assert!(
        changes[1].ends_with("last_error: None }"),
        "half-open by time: {}",
        changes[1]
    );
    assert!(
        changes[2].contains(r#"from: "half_open", to: "open""#)
            && changes[2].ends_with(r#"last_error: Some("probe timed out") }"#),
        "{}",
        changes[2]
    );

    // Through a pipeline: the operation's error, or the inner policy's rejection.
    let recorder = Recorder::new();
    let pipeline = rampart::Pipeline::builder("inventory")
        .circuit_breaker(BreakerConfig::consecutive(1))
        .timeout(secs(1))
        .listener(recorder.clone())
        .build()
        .unwrap();
    let slow = pipeline
        .call(|| async {
            tokio::time::sleep(secs(5)).await;
            Ok::<(), &str>(())
        })
        .await;
    assert!(slow.is_err());
    assert_eq!(
        recorder.count("last_error: Some(Timeout)"),
        1,
        "{:?}",
        recorder.lines()
    );
}

#[tokio::test(start_paused = true)]
async fn call_and_call_classified() {
    let b = CircuitBreaker::new("inventory", BreakerConfig::consecutive(2)).unwrap();
    assert_eq!(b.name(), "inventory");
    assert_eq!(b.call(|| async { Ok::<_, &str>(1) }).await, Ok(1));
    assert_eq!(
        b.call(|| async { Err::<u32, _>("down") }).await,
        Err(Error::Operation("down"))
    );
    // A 503 inside `Ok` is a failure; a 404 error is ignored.
    let c: Classifier<u16, u16> = Classifier::new()
        .failure_ok_if(|s| *s >= 500)
        .ignore_err_if(|e| *e == 404);
    for _ in 0..5 {
        assert_eq!(
            b.call_classified(&c, || async { Err::<u16, _>(404) }).await,
            Err(Error::Operation(404))
        );
    }
    assert_eq!(b.state(), BreakerState::Closed);
    assert_eq!(
        b.call_classified(&c, || async { Ok::<_, u16>(503) }).await,
        Ok(503)
    );
    assert_eq!(b.state(), BreakerState::Open);
    let mut ran = false;
    let res = b
        .call(|| {
            ran = true;
            async { Ok::<_, &str>(()) }
        })
        .await;
    assert!(!ran, "an open breaker does not run the operation");
    let r = support::rejection(&res).unwrap();
    assert!(r.is_circuit_open());
    assert_eq!(r.retry_after(), Some(secs(30)));
    tokio::time::advance(secs(30)).await;
    assert_eq!(b.call(|| async { Ok::<_, &str>(7) }).await, Ok(7));
    assert_eq!(b.state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn cancelled_probe_gives_its_slot_back() {
    let b = CircuitBreaker::new("x", BreakerConfig::consecutive(1).with_open_for(secs(1))).unwrap();
    let _ = b.call(|| async { Err::<(), _>(()) }).await;
    tokio::time::advance(secs(1)).await;
    let slow = b.call(|| async {
        tokio::time::sleep(secs(60)).await;
        Ok::<_, ()>(())
    });
    let timed_out = tokio::time::timeout(secs(5), slow).await;
    assert!(timed_out.is_err());
    assert_eq!(b.state(), BreakerState::HalfOpen);
    assert_eq!(b.call(|| async { Ok::<_, ()>(1) }).await, Ok(1));
    assert_eq!(b.state(), BreakerState::Closed);
}

#[test]
fn call_blocking_and_a_panicking_probe() {
    let (b, clock) = breaker(BreakerConfig::consecutive(1).with_open_for(secs(1)));
    assert_eq!(b.call_blocking(|| Ok::<_, ()>(3)), Ok(3));
    let c: Classifier<u32, ()> = Classifier::new().failure_ok_if(|n| *n == 0);
    assert_eq!(b.call_blocking_classified(&c, || Ok(0)), Ok(0));
    assert_eq!(b.state(), BreakerState::Open);
    assert!(b
        .call_blocking(|| Ok::<_, ()>(3))
        .unwrap_err()
        .is_rejected());
    clock.advance(secs(1));
    let b2 = b.clone();
    let panicked = std::thread::spawn(move || {
        let _ = b2.call_blocking(|| -> Result<(), ()> { panic!("probe panicked") });
    })
    .join();
    assert!(panicked.is_err());
    assert_eq!(b.state(), BreakerState::HalfOpen);
    assert_eq!(b.call_blocking(|| Ok::<_, ()>(4)), Ok(4));
    assert_eq!(b.state(), BreakerState::Closed);
}

#[test]
fn permits_are_static_send_and_small() {
    fn static_send<T: Send + 'static>() {}
    fn shared<T: Send + Sync + Clone + 'static>() {}
    static_send::<BreakerPermit>();
    shared::<CircuitBreaker>();
    assert!(std::mem::size_of::<BreakerPermit>() <= 32);
    let (b, _) = breaker(BreakerConfig::consecutive(1));
    assert!(format!("{b:?}").contains("payment"));
    assert!(format!("{:?}", b.try_acquire().unwrap()).contains("closed"));
}

#[test]
fn closed_success_path_allocates_nothing() {
    for config in [
        BreakerConfig::consecutive(5),
        BreakerConfig::count_window(100, 0.5),
        BreakerConfig::time_window(secs(10), 10, 0.5).with_slow_calls(secs(1), 0.5),
    ] {
        let (b, _) = breaker(config);
        ok(&b); // the first record in a time bucket rotates it
        let info = allocation_counter::measure(|| {
            for _ in 0..1000 {
                assert!(ok(&b));
            }
            fail(&b);
        });
        assert_eq!(info.count_total, 0);
    }
}

/// A clock that can be set anywhere, backwards included.
#[derive(Debug, Default)]
struct JumpClock(AtomicU64);

impl JumpClock {
    fn set(&self, d: Duration) {
        self.0
            .store(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX), SeqCst);
    }
}

impl Clock for JumpClock {
    fn now_nanos(&self) -> u64 {
        self.0.load(SeqCst)
    }

    fn sleep_blocking(&self, d: Duration) {
        self.set(Duration::from_nanos(self.now_nanos()) + d);
    }
}

#[test]
fn clock_jumping_backwards_or_stalling_never_panics_nor_over_admits() {
    for config in [
        BreakerConfig::consecutive(2),
        BreakerConfig::count_window(4, 0.5)
            .with_min_calls(2)
            .with_slow_calls(secs(1), 0.5),
        BreakerConfig::time_window(secs(10), 5, 0.5)
            .with_min_calls(2)
            .with_slow_calls(secs(1), 0.5),
    ] {
        let clock = Arc::new(JumpClock::default());
        let config = config
            .with_open_for(secs(10))
            .with_permitted_probes(2)
            .with_max_half_open(secs(5))
            .with_open_backoff(3.0, Duration::MAX);
        let b = CircuitBreaker::with_clock("j", config, clock.clone()).unwrap();
        clock.set(secs(100));
        // A permit taken at 100 s and recorded at 99 s: no negative duration.
        let p = b.try_acquire().unwrap();
        clock.set(secs(99));
        b.record(p, OutcomeClass::Failure);
        clock.set(secs(100));
        fail(&b);
        assert_eq!(b.state(), BreakerState::Open);
        // Backwards: still open, retry-after from the deadline, no panic.
        clock.set(secs(50));
        let r = b.try_acquire().unwrap_err();
        assert_eq!(r.retry_after(), Some(secs(60)));
        let _ = b.snapshot();
        // Stalled exactly at the deadline: exactly the permitted probes, however often asked.
        clock.set(secs(110));
        let admitted: Vec<_> = (0..100).filter_map(|_| b.try_acquire().ok()).collect();
        assert_eq!(admitted.len(), 2);
        // Backwards during half-open: the half-open limit does not fire early.
        clock.set(Duration::ZERO);
        assert!(b.try_acquire().is_err());
        assert_eq!(b.state(), BreakerState::HalfOpen);
        drop(admitted);
        // The end of time: half-open gives up and re-opens; the open period, saturated,
        // is over at once, so the same calls find a new half-open: still 2 probes.
        clock.set(Duration::MAX);
        let probes: Vec<_> = (0..10).filter_map(|_| b.try_acquire().ok()).collect();
        assert_eq!(probes.len(), 2);
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert_eq!(b.snapshot().consecutive_opens, 2);
        for p in probes {
            b.record(p, OutcomeClass::Success);
        }
        assert_eq!(b.state(), BreakerState::Closed);
        clock.set(Duration::ZERO);
        for _ in 0..10 {
            ok(&b);
        }
        let _ = b.snapshot();
    }
}
