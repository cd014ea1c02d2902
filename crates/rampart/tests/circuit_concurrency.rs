//! The breaker under contention: many callers at the instant the open period ends, probes
//! racing each other, and threads hammering one breaker. Paused tokio time or a manual
//! clock; nothing sleeps in real time.

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use rampart::circuit::{BreakerConfig, BreakerState, CircuitBreaker};
use rampart::classify::OutcomeClass;
use rampart::clock::ManualClock;
use support::secs;
use tokio::time::Instant;

fn tripped(config: BreakerConfig) -> (CircuitBreaker, ManualClock) {
    let clock = ManualClock::new();
    let b = CircuitBreaker::with_clock("payment", config, Arc::new(clock.clone())).unwrap();
    while b.state() == BreakerState::Closed {
        let p = b.try_acquire().unwrap();
        b.record(p, OutcomeClass::Failure);
    }
    (b, clock)
}

#[tokio::test(start_paused = true)]
async fn thousand_callers_at_the_instant_the_open_period_ends() {
    let config = BreakerConfig::consecutive(1)
        .with_open_for(secs(30))
        .with_permitted_probes(3);
    let b = CircuitBreaker::new("payment", config).unwrap();
    let _ = b.call(|| async { Err::<(), _>("down") }).await;
    assert_eq!(b.state(), BreakerState::Open);
    tokio::time::advance(secs(30)).await;

    let reached = Arc::new(AtomicU32::new(0));
    let start = Instant::now();
    let callers: Vec<_> = (0..1000)
        .map(|_| {
            let b = b.clone();
            let reached = Arc::clone(&reached);
            tokio::spawn(async move {
                let res = b
                    .call(|| async {
                        reached.fetch_add(1, SeqCst);
                        tokio::time::sleep(secs(1)).await;
                        Ok::<_, &str>(())
                    })
                    .await;
                (res, start.elapsed())
            })
        })
        .collect();
    let (mut admitted, mut rejected) = (0, 0);
    for c in callers {
        let (res, at) = c.await.unwrap();
        match res {
            Ok(()) => {
                admitted += 1;
                assert_eq!(at, secs(1));
            }
            Err(e) => {
                rejected += 1;
                assert!(e.rejection().is_some_and(|r| r.is_circuit_open()));
                assert_eq!(at, Duration::ZERO, "rejected at once, without waiting");
            }
        }
    }
    assert_eq!(
        reached.load(SeqCst),
        3,
        "exactly the permitted probes reach it"
    );
    assert_eq!((admitted, rejected), (3, 997));
    assert_eq!(b.state(), BreakerState::Closed);
}

/// Two probes (both must succeed); one fails, one succeeds, in every order in time.
#[tokio::test(start_paused = true)]
async fn failing_probe_racing_a_succeeding_one_ends_open() {
    for (fail_at, succeed_at) in [(1, 1), (1, 2), (2, 1)] {
        let config = BreakerConfig::consecutive(1)
            .with_open_for(secs(5))
            .with_permitted_probes(2)
            .with_success_threshold(2);
        let b = CircuitBreaker::new("payment", config).unwrap();
        let _ = b.call(|| async { Err::<(), _>(()) }).await;
        tokio::time::advance(secs(5)).await;
        let probe = |b: &CircuitBreaker, after: u64, ok: bool| {
            let b = b.clone();
            tokio::spawn(async move {
                b.call(|| async move {
                    tokio::time::sleep(secs(after)).await;
                    if ok {
                        Ok(())
                    } else {
                        Err(())
                    }
                })
                .await
            })
        };
        let failing = probe(&b, fail_at, false);
        let succeeding = probe(&b, succeed_at, true);
        tokio::task::yield_now().await; // both probes start and take their slots
        let third = b.call(|| async { Ok::<_, ()>(()) }).await;
        assert!(third.is_err(), "only two probes");
        assert!(failing.await.unwrap().is_err());
        assert!(succeeding.await.unwrap().is_ok());
        assert_eq!(
            b.state(),
            BreakerState::Open,
            "failing at {fail_at}s, succeeding at {succeed_at}s"
        );
    }
}

/// Real threads released together at the half-open instant: exactly the permitted probes.
#[test]
fn threads_at_the_half_open_instant_get_exactly_the_permitted_probes() {
    for permitted in [1, 2, 5] {
        for _ in 0..50 {
            let config = BreakerConfig::consecutive(1)
                .with_open_for(secs(1))
                .with_permitted_probes(permitted);
            let (b, clock) = tripped(config);
            clock.advance(secs(1));
            let gate = Barrier::new(8);
            let permits: u32 = std::thread::scope(|s| {
                let handles: Vec<_> = (0..8)
                    .map(|_| {
                        s.spawn(|| {
                            gate.wait();
                            (0..4)
                                .filter_map(|_| b.try_acquire().ok())
                                .map(std::mem::forget)
                                .count() as u32
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).sum()
            });
            assert_eq!(permits, permitted);
        }
    }
}

/// Real threads: a failing probe and a succeeding one recorded at the same moment.
#[test]
fn threads_recording_racing_probes_always_end_open() {
    for _ in 0..300 {
        let config = BreakerConfig::consecutive(1)
            .with_open_for(secs(1))
            .with_permitted_probes(2)
            .with_success_threshold(2);
        let (b, clock) = tripped(config);
        clock.advance(secs(1));
        let probes = [b.try_acquire().unwrap(), b.try_acquire().unwrap()];
        let gate = Barrier::new(2);
        std::thread::scope(|s| {
            for (p, class) in probes
                .into_iter()
                .zip([OutcomeClass::Failure, OutcomeClass::Success])
            {
                let (b, gate) = (&b, &gate);
                s.spawn(move || {
                    gate.wait();
                    b.record(p, class);
                });
            }
        });
        assert_eq!(b.state(), BreakerState::Open);
    }
}

/// Threads hammer one breaker with random outcomes while the clock moves: in every
/// half-open period, the probes out at once never exceed the permitted number (counted
/// from after the breaker reserves a slot until before it is given back, so the count
/// can only understate the breaker's), and nothing sticks.
#[test]
fn hammering_threads_never_exceed_the_probes() {
    for config in [
        BreakerConfig::consecutive(3),
        BreakerConfig::count_window(16, 0.5).with_min_calls(4),
        BreakerConfig::time_window(Duration::from_millis(50), 5, 0.5).with_min_calls(4),
    ] {
        let permitted = 2;
        let config = config
            .with_open_for(Duration::from_millis(3))
            .with_permitted_probes(permitted);
        let clock = ManualClock::new();
        let b = CircuitBreaker::with_clock("h", config, Arc::new(clock.clone())).unwrap();
        // Probes out per half-open period, keyed by the permit's Debug (it shows the epoch).
        let out: Mutex<HashMap<String, u32>> = Mutex::new(HashMap::new());
        let probes = AtomicU64::new(0);
        // Time and work interleave by construction, whatever the scheduling: the clock
        // moves 1 ms only after the workers made 20 more calls, and the workers go on
        // until the clock has moved 300 ms, so the breaker opens and half-opens again and
        // again (it stays open 3 ms).
        let progress = AtomicU64::new(0);
        let clock_done = AtomicU64::new(0);
        std::thread::scope(|s| {
            for seed in 0..4u64 {
                let (b, out, probes) = (&b, &out, &probes);
                let (progress, clock_done) = (&progress, &clock_done);
                s.spawn(move || {
                    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                    while clock_done.load(SeqCst) == 0 {
                        progress.fetch_add(1, SeqCst);
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        let Ok(p) = b.try_acquire() else { continue };
                        let period = p.is_probe().then(|| format!("{p:?}"));
                        if let Some(period) = &period {
                            probes.fetch_add(1, SeqCst);
                            let mut out = out.lock().unwrap();
                            let n = out.entry(period.clone()).or_default();
                            *n += 1;
                            assert!(*n <= permitted, "{n} probes out in {period}");
                        }
                        std::thread::yield_now();
                        if let Some(period) = &period {
                            *out.lock().unwrap().get_mut(period).unwrap() -= 1;
                        }
                        let class = match x % 10 {
                            0..=4 => OutcomeClass::Failure,
                            5 => OutcomeClass::Ignored,
                            _ => OutcomeClass::Success,
                        };
                        if x % 97 == 0 {
                            drop(p); // a cancelled call
                        } else {
                            b.record(p, class);
                        }
                    }
                });
            }
            s.spawn(|| {
                for _ in 0..300 {
                    let seen = progress.load(SeqCst);
                    while progress.load(SeqCst) < seen + 20 {
                        std::thread::yield_now();
                    }
                    clock.advance(Duration::from_millis(1));
                }
                clock_done.store(1, SeqCst);
            });
        });
        assert!(
            probes.load(SeqCst) > 0,
            "the breaker went through half-open"
        );
        b.reset();
        assert_eq!(b.state(), BreakerState::Closed);
        let p = b.try_acquire().unwrap();
        b.record(p, OutcomeClass::Success);
        assert_eq!(b.snapshot().failures_in_window, 0);
    }
}
