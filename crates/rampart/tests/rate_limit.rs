//! The token-bucket rate limiter: GCRA exactness as properties (exhaustion, idle
//! bursts, retry-after, a clock going backwards), a reference model, two threads at an
//! effectively infinite quota, waiting in paused time, cancellation, quota changes,
//! snapshots, events and configuration errors. Nothing sleeps in real time.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use proptest::prelude::*;
use rampart::clock::{Clock, ManualClock};
use rampart::event::Recorder;
use rampart::rate_limit::{RateLimitConfig, RateLimiter};
use rampart::RejectionKind;

fn ns(n: u64) -> Duration {
    Duration::from_nanos(n)
}

fn limiter(config: RateLimitConfig) -> (RateLimiter, ManualClock) {
    let clock = ManualClock::new();
    let l = RateLimiter::with_clock("api", config, Arc::new(clock.clone())).expect("valid");
    (l, clock)
}

/// A clock set by hand to any reading, backwards included.
#[derive(Debug, Default)]
struct SetClock(AtomicU64);

impl SetClock {
    fn set(&self, n: u64) {
        self.0.store(n, Ordering::SeqCst);
    }
}

impl Clock for SetClock {
    fn now_nanos(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
    fn sleep_blocking(&self, _: Duration) {}
}

/// Quotas with emission intervals from 1 ns to 10 s and bursts up to 1000.
fn quota() -> impl Strategy<Value = RateLimitConfig> {
    (1u32..=10_000, 1u64..=10_000_000_000, 1u32..=1_000)
        .prop_map(|(rate, period, burst)| RateLimitConfig::new(rate, ns(period)).with_burst(burst))
}

fn interval(config: &RateLimitConfig) -> u64 {
    config.emission_interval().as_nanos() as u64
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn after_exhaustion_it_refuses_at_every_fraction_of_the_wait_and_admits_at_it(
        config in quota(),
        start in 0u64..1_000_000_000_000,
        mut fractions in prop::collection::vec(0.0f64..1.0, 1..16),
    ) {
        let (l, clock) = limiter(config);
        clock.advance(ns(start));
        for _ in 0..config.effective_burst() {
            prop_assert!(l.check().is_ok());
        }
        let t = interval(&config);
        let r = l.check().unwrap_err();
        prop_assert_eq!(r.kind(), RejectionKind::RateLimited);
        prop_assert_eq!(r.policy(), "rate_limit");
        prop_assert_eq!(r.retry_after(), Some(ns(t)));
        // Every offset strictly inside the wait, in order, and the last nanosecond.
        fractions.sort_by(f64::total_cmp);
        let mut offsets: Vec<u64> = fractions.iter().map(|f| (f * t as f64) as u64).collect();
        offsets.push(t - 1);
        let mut at = 0;
        for offset in offsets {
            clock.advance(ns(offset - at));
            at = offset;
            let r = l.check().unwrap_err();
            prop_assert_eq!(r.retry_after(), Some(ns(t - offset)), "at {} of {}", offset, t);
        }
        clock.advance(ns(t - at));
        prop_assert!(l.check().is_ok());
        prop_assert!(l.check().is_err());
    }

    #[test]
    fn after_any_idle_spell_it_admits_exactly_the_burst(
        config in quota(),
        used in 0u32..2_000,
        periods in 1u64..1_000_000,
        extra in 0u64..1_000_000_000,
    ) {
        let (l, clock) = limiter(config);
        for _ in 0..used {
            let _ = l.check();
        }
        // Idle for at least one full refill: `periods` bursts' worth of intervals.
        let refill = interval(&config) * u64::from(config.effective_burst());
        clock.advance(ns(refill.saturating_mul(periods).saturating_add(extra)));
        for _ in 0..config.effective_burst() {
            prop_assert!(l.check().is_ok());
        }
        prop_assert!(l.check().is_err());
        prop_assert_eq!(l.snapshot().available, 0);
    }

    #[test]
    fn it_agrees_with_a_reference_token_bucket(
        config in quota(),
        steps in prop::collection::vec((0u64..3_000, 1u32..4), 1..200),
    ) {
        // The reference: credit in nanoseconds, at most burst x interval; a call of
        // weight n needs n x interval of credit.
        let t = interval(&config);
        let cap = t * u64::from(config.effective_burst());
        let mut credit = cap;
        let (l, clock) = limiter(config);
        for (gap, n) in steps {
            // Gaps in hundredths of an interval.
            let gap = t.saturating_mul(gap) / 100;
            clock.advance(ns(gap));
            credit = credit.saturating_add(gap).min(cap);
            let need = t * u64::from(n);
            let got = l.check_n(n);
            if need > cap {
                prop_assert!(got.unwrap_err().retry_after().is_none());
            } else if credit >= need {
                prop_assert!(got.is_ok());
                credit -= need;
            } else {
                prop_assert_eq!(got.unwrap_err().retry_after(), Some(ns(need - credit)));
            }
        }
    }

    #[test]
    fn a_clock_going_backwards_never_admits_more_than_its_readings_allow(
        config in quota(),
        readings in prop::collection::vec(0u64..100_000_000_000, 1..300),
    ) {
        let clock = Arc::new(SetClock::default());
        let l = RateLimiter::with_clock("api", config, clock.clone()).expect("valid");
        let t = i128::from(interval(&config));
        let burst = i128::from(config.effective_burst());
        let mut admitted = Vec::new();
        for r in readings {
            clock.set(r);
            if l.check().is_ok() {
                admitted.push(i128::from(r));
            }
        }
        // From any admitted call to any later one (in the order they were made), the
        // calls admitted number at most the burst plus the readings' advance over t.
        for i in 0..admitted.len() {
            for j in i..admitted.len() {
                let count = (j - i + 1) as i128;
                prop_assert!((count - burst) * t <= admitted[j] - admitted[i]);
            }
        }
    }
}

#[test]
fn extreme_readings_do_not_panic() {
    let clock = Arc::new(SetClock::default());
    let l = RateLimiter::with_clock("api", RateLimitConfig::per_second(10), clock.clone())
        .expect("valid");
    for r in [u64::MAX, 0, u64::MAX - 1, 1, u64::MAX, 0] {
        clock.set(r);
        let _ = l.check_n(3);
        let _ = l.snapshot();
    }
}

#[test]
fn two_threads_at_an_effectively_infinite_quota_see_no_rejection() {
    // 1 ns per token and a burst of 4.29 x 10^9: two million checks at one instant fit.
    let (l, _clock) = limiter(RateLimitConfig::per_second(u32::MAX).with_burst(u32::MAX));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let l = l.clone();
            std::thread::spawn(move || (0..1_000_000).filter(|_| l.check().is_err()).count())
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().expect("no panic"), 0);
    }
    assert_eq!(l.snapshot().rejected, 0);
}

#[test]
fn weighted_calls_take_several_tokens_or_none() {
    let (l, clock) = limiter(RateLimitConfig::per_second(10).with_burst(5));
    assert!(l.check_n(3).is_ok());
    let r = l.check_n(3).unwrap_err();
    assert_eq!(r.retry_after(), Some(Duration::from_millis(100)));
    assert!(l.check_n(2).is_ok());
    clock.advance(Duration::from_millis(300));
    assert!(l.check_n(3).is_ok());
    // Above the burst: never, so no retry-after.
    assert_eq!(l.check_n(6).unwrap_err().retry_after(), None);
    assert!(l.check_n(0).is_ok());
}

#[test]
fn snapshot_reports_quota_tokens_and_rejections() {
    let (l, clock) = limiter(RateLimitConfig::per_minute(1000).with_burst(50));
    let s = l.snapshot();
    assert_eq!(
        (s.rate, s.period, s.burst, s.available, s.rejected),
        (1000, Duration::from_secs(60), 50, 50, 0)
    );
    for _ in 0..50 {
        l.try_acquire().expect("within the burst");
    }
    let _ = l.check();
    assert_eq!(l.snapshot().available, 0);
    assert_eq!(l.snapshot().rejected, 1);
    // 50 tokens of 60 ms each to come back.
    assert_eq!(l.snapshot().full_in, Duration::from_millis(3000));
    clock.advance(Duration::from_millis(600));
    assert_eq!(l.snapshot().available, 10);
    assert_eq!(l.snapshot().full_in, Duration::from_millis(2400));
    clock.advance(Duration::from_secs(60));
    assert_eq!(l.snapshot().full_in, Duration::ZERO);
    assert_eq!(l.name(), "api");
}

#[test]
fn raising_the_rate_at_run_time_shortens_the_wait_at_once() {
    let (l, clock) = limiter(RateLimitConfig::per_second(10).with_burst(10));
    for _ in 0..10 {
        l.check().expect("burst");
    }
    assert_eq!(
        l.check().unwrap_err().retry_after(),
        Some(Duration::from_millis(100))
    );
    // Ten tokens owed, now at 1 ms each.
    l.set_quota(RateLimitConfig::per_second(1000).with_burst(10))
        .expect("valid");
    assert_eq!(l.config().rate, 1000);
    assert_eq!(
        l.check().unwrap_err().retry_after(),
        Some(Duration::from_millis(1))
    );
    clock.advance(Duration::from_millis(10));
    for _ in 0..10 {
        l.check().expect("refilled at the new rate");
    }
    assert!(l.check().is_err());
}

#[test]
fn lowering_the_quota_at_run_time_keeps_an_empty_bucket_empty() {
    let (l, clock) = limiter(RateLimitConfig::per_second(1000).with_burst(100));
    for _ in 0..100 {
        l.check().expect("burst");
    }
    l.set_quota(RateLimitConfig::per_second(10).with_burst(5))
        .expect("valid");
    assert_eq!(
        l.check().unwrap_err().retry_after(),
        Some(Duration::from_millis(100))
    );
    assert_eq!(l.snapshot().burst, 5);
    clock.advance(Duration::from_secs(10));
    for _ in 0..5 {
        l.check().expect("the new burst");
    }
    assert!(l.check().is_err());
    // A bad quota changes nothing.
    let err = l.set_quota(RateLimitConfig::per_second(0)).unwrap_err();
    assert_eq!(err.field(), "rate_limit.rate");
    assert_eq!(l.config().rate, 10);
}

#[test]
fn rejections_are_reported_to_the_listener() {
    let recorder = Recorder::new();
    let (l, _clock) = limiter(RateLimitConfig::per_second(1));
    let l = l.with_listener(Arc::new(recorder.clone()));
    assert!(l.check().is_ok());
    assert!(l.check().is_err());
    assert_eq!(recorder.count("RateLimited { retry_after: Some(1s) }"), 1);
    assert_eq!(recorder.lines().len(), 1);
    assert!(recorder.lines()[0].starts_with("api: "));
}

#[test]
fn bad_configurations_name_the_field() {
    let cases = [
        (RateLimitConfig::per_second(0), "rate_limit.rate"),
        (
            RateLimitConfig::per_second(5).with_burst(0),
            "rate_limit.burst",
        ),
        (RateLimitConfig::new(5, Duration::ZERO), "rate_limit.period"),
        (
            RateLimitConfig::new(1, Duration::from_secs(u64::MAX / 4)).with_burst(1000),
            "rate_limit.burst",
        ),
    ];
    for (config, field) in cases {
        assert_eq!(config.validate().unwrap_err().field(), field);
        assert_eq!(RateLimiter::new("x", config).unwrap_err().field(), field);
    }
}

#[test]
fn configuration_files_read_humantime_periods_and_default_the_rest() {
    let config: RateLimitConfig = toml::from_str("rate = 1000\nperiod = \"1m\"").expect("valid");
    assert_eq!(config, RateLimitConfig::per_minute(1000));
    assert_eq!(config.effective_burst(), 1000);
    let config: RateLimitConfig = toml::from_str("rate = 100\nburst = 20").expect("valid");
    assert_eq!(config, RateLimitConfig::per_second(100).with_burst(20));
    assert!(toml::from_str::<RateLimitConfig>("period = \"1s\"").is_err());
    assert!(toml::from_str::<RateLimitConfig>("rate = 1\nbusrt = 2").is_err());
}

#[tokio::test(start_paused = true)]
async fn acquire_waits_exactly_the_time_the_bucket_says() {
    let l = RateLimiter::new("api", RateLimitConfig::per_second(10).with_burst(2)).expect("valid");
    let start = tokio::time::Instant::now();
    l.acquire().await;
    l.acquire().await;
    assert_eq!(start.elapsed(), Duration::ZERO);
    l.acquire().await;
    assert_eq!(start.elapsed(), Duration::from_millis(100));
    l.acquire().await;
    assert_eq!(start.elapsed(), Duration::from_millis(200));
    assert!(l.check().is_err());
    assert_eq!(l.snapshot().rejected, 1, "waiting is not a rejection");
    assert!(l.acquire_n(3).await.is_err());
}

/// Polls `fut` once without a runtime waker.
fn poll_once<F: Future>(fut: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

#[tokio::test(start_paused = true)]
async fn dropping_acquire_at_any_await_takes_no_token() {
    // Drop before the first poll, or after 1 or 2 waits; the second wait comes from a
    // competitor taking the token the waiter slept for. A twin limiter sees the same
    // calls but no waiter: afterwards the two must agree.
    let config = RateLimitConfig::per_second(10).with_burst(1);
    for waits in 0..3u32 {
        let l = RateLimiter::new("api", config).expect("valid");
        let twin = RateLimiter::new("twin", config).expect("valid");
        for limiter in [&l, &twin] {
            limiter.check().expect("the burst");
        }
        {
            let mut fut = pin!(l.acquire());
            for w in 0..waits {
                assert!(poll_once(fut.as_mut()).is_pending(), "wait {w}");
                tokio::time::advance(Duration::from_millis(100)).await;
                if w == 0 {
                    for limiter in [&l, &twin] {
                        limiter.check().expect("the competitor is first");
                    }
                }
            }
        }
        for _ in 0..3 {
            let (a, b) = (l.check(), twin.check());
            assert_eq!(a.is_ok(), b.is_ok(), "after {waits} waits");
            assert_eq!(
                a.err().map(|r| r.retry_after()),
                b.err().map(|r| r.retry_after())
            );
            tokio::time::advance(Duration::from_millis(50)).await;
        }
    }
}
