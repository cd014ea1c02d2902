//! The limiters on a clock that does not tick in nanoseconds, as the time-stamp counter
//! does not: a quota is turned into ticks once, and every duration a limiter gives
//! back (a `retry_after`, a snapshot's `full_in`) into nanoseconds, rounded up.
//!
//! The clock here is a [`ManualClock`] whose readings stand for ticks of a counter
//! that ticks 8 times in 5 ns (1.6 GHz), or once in 1 µs.

use std::sync::Arc;
use std::time::Duration;

use super::{KeyedRateLimiter, RateLimitConfig, RateLimiter};
use crate::clock::{ManualClock, TickClock};
use crate::keyed::{KeyHasher, KeyedConfig};

/// Nanoseconds in 2^40 ticks of a 1.6 GHz counter.
const FAST: u64 = (1 << 40) / 8 * 5;

/// Nanoseconds in 2^40 ticks of a counter that ticks once per microsecond.
const SLOW: u64 = (1 << 40) * 1_000;

fn ticks(counter: &ManualClock, nanos_per_scale: u64) -> TickClock {
    TickClock::scaled(Arc::new(counter.clone()), nanos_per_scale)
}

/// A limiter with `config` on a fresh counter whose 2^40 ticks make `nanos_per_scale`
/// nanoseconds, and the counter.
fn on_counter(config: RateLimitConfig, nanos_per_scale: u64) -> (ManualClock, RateLimiter) {
    let counter = ManualClock::new();
    let limiter = RateLimiter::on_ticks("t", config, ticks(&counter, nanos_per_scale))
        .expect("a valid quota");
    (counter, limiter)
}

/// Moves the counter on by `n` ticks.
fn tick(counter: &ManualClock, n: u64) {
    counter.advance(Duration::from_nanos(n));
}

#[test]
fn a_quota_in_ticks_admits_exactly_the_burst_and_tells_the_wait_in_nanoseconds() {
    // One call per microsecond, a burst of 3: 1,600 ticks per token.
    let config = RateLimitConfig::per_second(1_000_000).with_burst(3);
    let (counter, limiter) = on_counter(config, FAST);
    tick(&counter, 1_000_000);
    for _ in 0..3 {
        assert!(limiter.check().is_ok());
    }
    let refused = limiter.check().expect_err("the burst is spent");
    assert_eq!(refused.retry_after(), Some(Duration::from_micros(1)));
    assert_eq!(limiter.snapshot().full_in, Duration::from_micros(3));
    assert_eq!(limiter.snapshot().available, 0);

    // One tick short of a token: refused, to come back in one tick (0.625 ns, rounded
    // up to 1 ns); admitted on the tick.
    tick(&counter, 1_599);
    let refused = limiter.check().expect_err("one tick early");
    assert_eq!(refused.retry_after(), Some(Duration::from_nanos(1)));
    tick(&counter, 1);
    assert!(limiter.check().is_ok());
    assert!(limiter.check().is_err());

    // Idle for many periods: exactly the burst again.
    tick(&counter, 1_600 * 1_000);
    assert_eq!(limiter.snapshot().available, 3);
    for _ in 0..3 {
        assert!(limiter.check().is_ok());
    }
    assert!(limiter.check().is_err());
}

#[test]
fn an_interval_of_a_fraction_of_a_tick_rounds_up_so_the_rate_stays_within_the_quota() {
    // One call per nanosecond is 1.6 ticks: rounded up to 2, 0.8 calls per nanosecond.
    let config = RateLimitConfig::per_second(1_000_000_000).with_burst(1);
    let (counter, limiter) = on_counter(config, FAST);
    tick(&counter, 10);
    let mut admitted = 0;
    for _ in 0..1_000 {
        admitted += u32::from(limiter.check().is_ok());
        tick(&counter, 1);
    }
    // 1,000 ticks are 625 ns: 625 calls at the quota, 500 at one per 2 ticks.
    assert_eq!(admitted, 500);
}

#[test]
fn a_waiting_acquire_sleeps_the_wait_in_nanoseconds() {
    let config = RateLimitConfig::per_second(1).with_burst(1);
    let (counter, limiter) = on_counter(config, SLOW);
    assert!(limiter.check().is_ok());
    // A million ticks of a microsecond each.
    let refused = limiter.check().expect_err("spent");
    assert_eq!(refused.retry_after(), Some(Duration::from_secs(1)));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime");
    rt.block_on(async {
        let start = tokio::time::Instant::now();
        let waiter = limiter.acquire();
        tokio::pin!(waiter);
        // The counter does not follow tokio's clock: move it when the waiter sleeps.
        assert!(futures_poll(waiter.as_mut()).is_pending());
        tick(&counter, 1_000_000);
        waiter.await;
        assert_eq!(start.elapsed(), Duration::from_secs(1));
    });
}

/// Polls `f` once with a waker that does nothing.
fn futures_poll<F: std::future::Future>(f: std::pin::Pin<&mut F>) -> std::task::Poll<F::Output> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    f.poll(&mut cx)
}

#[test]
fn a_quota_change_in_ticks_keeps_the_tokens_owed() {
    let config = RateLimitConfig::per_second(1_000_000).with_burst(2);
    let (_counter, limiter) = on_counter(config, FAST);
    assert!(limiter.check().is_ok());
    assert!(limiter.check().is_ok());
    // Two tokens owed at 1 µs each; at 10 µs each they come back in 20 µs.
    let slower = RateLimitConfig::per_second(100_000).with_burst(2);
    limiter.set_quota(slower).expect("valid");
    assert_eq!(limiter.snapshot().full_in, Duration::from_micros(20));
    let refused = limiter.check().expect_err("still empty");
    assert_eq!(refused.retry_after(), Some(Duration::from_micros(10)));
}

#[test]
fn a_keyed_limiter_in_ticks_expires_idle_keys_after_the_idle_timeout() {
    let counter = ManualClock::new();
    let config = RateLimitConfig::per_second(1).with_burst(1);
    let keyed = KeyedConfig::new().with_idle_timeout(Duration::from_secs(60));
    let limiter: KeyedRateLimiter<u32> =
        KeyedRateLimiter::on_ticks("t", config, keyed, ticks(&counter, SLOW), KeyHasher::new())
            .expect("valid");
    assert!(limiter.check(&1).is_ok());
    let refused = limiter.check(&1).expect_err("spent");
    assert_eq!(refused.retry_after(), Some(Duration::from_secs(1)));
    // Full again after 1 s; idle 60 s after that, counted in microsecond ticks.
    tick(&counter, 61_000_000);
    assert_eq!(limiter.evict_idle(), 0, "idle for exactly the timeout");
    tick(&counter, 1);
    assert_eq!(limiter.evict_idle(), 1);
    assert!(limiter.is_empty());
}

#[test]
fn a_bucket_longer_than_the_counter_can_count_is_refused_naming_the_burst() {
    let counter = ManualClock::new();
    // Valid in nanoseconds (a full bucket in about 420 years), but not at 1.6 ticks
    // per nanosecond.
    let config = RateLimitConfig::per_second(1)
        .with_period(Duration::from_secs(3_600))
        .with_burst(3_700_000);
    assert!(config.validate().is_ok());
    let err = RateLimiter::on_ticks("t", config, ticks(&counter, FAST)).expect_err("too long");
    assert_eq!(err.field(), "rate_limit.burst");
    // The same quota on a clock that ticks in nanoseconds is fine.
    assert!(RateLimiter::on_ticks("t", config, ticks(&counter, 1 << 40)).is_ok());
}
