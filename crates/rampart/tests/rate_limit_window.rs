//! The sliding-window counter: its estimate on hand-computed cases, exact retry-after,
//! a limit change, waiting in paused time (and dropping a wait, which counts nothing),
//! and configuration errors.

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Waker};
use std::time::Duration;

use rampart::clock::ManualClock;
use rampart::event::Recorder;
use rampart::rate_limit::{SlidingWindowConfig, SlidingWindowLimiter};
use rampart::RejectionKind;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn limiter(config: SlidingWindowConfig) -> (SlidingWindowLimiter, ManualClock) {
    let clock = ManualClock::new();
    let l =
        SlidingWindowLimiter::with_clock("search", config, Arc::new(clock.clone())).expect("valid");
    (l, clock)
}

#[test]
fn the_estimate_weights_the_previous_window_by_its_remaining_share() {
    // 100 per minute. 80 calls in the first minute; 15 s into the second, 80 x 45/60 =
    // 60 of them still count, plus 30 new ones: 90.
    let (l, clock) = limiter(SlidingWindowConfig::per_minute(100));
    for _ in 0..80 {
        l.check().expect("under the limit");
    }
    clock.advance(Duration::from_secs(75));
    for _ in 0..30 {
        l.check().expect("under the estimate");
    }
    assert_eq!(l.snapshot().estimate, 90.0);
    // 10 more fit (90 + 10 = 100), the 11th does not.
    for _ in 0..10 {
        l.check().expect("up to the limit");
    }
    let r = l.check().unwrap_err();
    assert_eq!(r.kind(), RejectionKind::RateLimited);
    // 80 x (60 - e) / 60 + 40 + 1 <= 100 from e = 15.75 s: 750 ms from now.
    assert_eq!(r.retry_after(), Some(ms(750)));
    clock.advance(ms(749));
    assert!(l.check().is_err());
    clock.advance(ms(1));
    assert!(l.check().is_ok());
    // Half-way through: 80 x 0.5 + 41 = 81.
    clock.advance(Duration::from_secs(15) - ms(750));
    assert_eq!(l.snapshot().estimate, 81.0);
    let s = l.snapshot();
    assert_eq!(
        (s.limit, s.window, s.rejected),
        (100, Duration::from_secs(60), 2)
    );
}

#[test]
fn a_full_window_waits_for_its_count_to_weigh_less() {
    let (l, clock) = limiter(SlidingWindowConfig::per_second(4));
    clock.advance(ms(500));
    for _ in 0..4 {
        l.check().expect("under the limit");
    }
    // The window ends in 500 ms; then 4 x (1 s - e) + 1 s <= 4 s from e = 250 ms.
    assert_eq!(l.check().unwrap_err().retry_after(), Some(ms(750)));
    // A weighted call of 2 needs 4 x (1 s - e) + 2 s <= 4 s: e = 500 ms.
    assert_eq!(l.check_n(2).unwrap_err().retry_after(), Some(ms(1000)));
    assert_eq!(l.check_n(5).unwrap_err().retry_after(), None);
    clock.advance(ms(750));
    assert!(l.check().is_ok());
    assert!(l.check().is_err());
    // Two windows later nothing counts any more.
    clock.advance(Duration::from_secs(2));
    assert_eq!(l.snapshot().estimate, 0.0);
    assert!(l.check_n(4).is_ok());
}

#[test]
fn the_limit_can_change_at_run_time() {
    let (l, clock) = limiter(SlidingWindowConfig::per_second(2));
    l.check().expect("1");
    l.check().expect("2");
    assert!(l.check().is_err());
    l.set_config(SlidingWindowConfig::per_second(3))
        .expect("valid");
    assert!(
        l.check().is_ok(),
        "the counts are kept, the limit is higher"
    );
    assert!(l.check().is_err());
    // A new window length starts the counts afresh.
    l.set_config(SlidingWindowConfig::new(3, ms(100)))
        .expect("valid");
    for _ in 0..3 {
        l.check().expect("fresh counts");
    }
    assert_eq!(l.config(), SlidingWindowConfig::new(3, ms(100)));
    clock.advance(ms(200));
    assert!(l.check().is_ok());
    assert_eq!(
        l.set_config(SlidingWindowConfig::per_second(0))
            .unwrap_err()
            .field(),
        "sliding_window.limit"
    );
}

#[test]
fn rejections_are_reported_to_the_listener() {
    let recorder = Recorder::new();
    let (l, _clock) = limiter(SlidingWindowConfig::per_second(1));
    let l = l.with_listener(Arc::new(recorder.clone()));
    l.check().expect("first");
    // Until the next window ends, the first call still weighs in.
    assert!(l.check().is_err());
    assert_eq!(recorder.count("RateLimited { retry_after: Some(2s) }"), 1);
}

#[test]
fn bad_configurations_name_the_field() {
    let cases = [
        (SlidingWindowConfig::per_second(0), "sliding_window.limit"),
        (
            SlidingWindowConfig::new(5, Duration::ZERO),
            "sliding_window.window",
        ),
    ];
    for (config, field) in cases {
        assert_eq!(config.validate().unwrap_err().field(), field);
        assert_eq!(
            SlidingWindowLimiter::new("x", config).unwrap_err().field(),
            field
        );
    }
    let config: SlidingWindowConfig =
        toml::from_str("limit = 1000\nwindow = \"1m\"").expect("valid");
    assert_eq!(config, SlidingWindowConfig::per_minute(1000));
    assert!(toml::from_str::<SlidingWindowConfig>("window = \"1m\"").is_err());
}

#[tokio::test(start_paused = true)]
async fn acquire_waits_until_a_call_fits() {
    let l = SlidingWindowLimiter::new("search", SlidingWindowConfig::per_second(2)).expect("valid");
    let start = tokio::time::Instant::now();
    l.acquire().await;
    l.acquire().await;
    assert_eq!(start.elapsed(), Duration::ZERO);
    // The window ends at 1 s; then 2 x (1 s - e) + 1 s <= 2 s from e = 500 ms.
    l.acquire().await;
    assert_eq!(start.elapsed(), ms(1500));
}

#[tokio::test(start_paused = true)]
async fn dropping_acquire_at_any_await_counts_no_call() {
    // Dropped before its first poll or after one or two waits (the second because a
    // competitor took the room the waiter slept for). A twin sees the same calls but no
    // waiter: afterwards the two agree, to the nanosecond of their retry-after.
    let config = SlidingWindowConfig::per_second(2);
    for waits in 0..3u32 {
        let l = SlidingWindowLimiter::new("search", config).expect("valid");
        let twin = SlidingWindowLimiter::new("twin", config).expect("valid");
        for limiter in [&l, &twin] {
            limiter.check().expect("under the limit");
            limiter.check().expect("under the limit");
        }
        {
            let mut fut = std::pin::pin!(l.acquire());
            for w in 0..waits {
                let polled = fut.as_mut().poll(&mut Context::from_waker(Waker::noop()));
                assert!(polled.is_pending(), "wait {w}");
                // The first call fits again 1.5 s in (see the test above).
                tokio::time::advance(if w == 0 { ms(1500) } else { ms(500) }).await;
                if w == 0 {
                    for limiter in [&l, &twin] {
                        limiter.check().expect("the competitor is first");
                    }
                }
            }
        }
        for _ in 0..4 {
            let (a, b) = (l.check(), twin.check());
            assert_eq!(a.is_ok(), b.is_ok(), "after {waits} waits");
            assert_eq!(
                a.err().map(|r| r.retry_after()),
                b.err().map(|r| r.retry_after())
            );
            tokio::time::advance(ms(250)).await;
        }
    }
}
