//! Keyed rate limiters: independent keys, a new or evicted key starting with a full
//! bucket, the cap, a quota change for every key, waiting per key (and dropping a wait,
//! which takes nothing), and configuration errors. Time comes from a `ManualClock` or tokio's paused clock; nothing sleeps.

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Waker};
use std::time::Duration;

use rampart::clock::ManualClock;
use rampart::event::Recorder;
use rampart::keyed::KeyedConfig;
use rampart::rate_limit::{KeyedRateLimiter, RateLimitConfig};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// 10 calls per second per key, bursts of 3.
fn limiter(keyed: KeyedConfig) -> (KeyedRateLimiter<String>, ManualClock) {
    let clock = ManualClock::new();
    let l = KeyedRateLimiter::with_clock(
        "tenants",
        RateLimitConfig::per_second(10).with_burst(3),
        keyed,
        Arc::new(clock.clone()),
    )
    .expect("valid");
    (l, clock)
}

fn key(s: &str) -> String {
    s.to_owned()
}

/// Checks `key` until refused; returns how many passed.
fn drain(l: &KeyedRateLimiter<String>, k: &str) -> u32 {
    let mut n = 0;
    while l.check(&key(k)).is_ok() {
        n += 1;
        assert!(n <= 1_000, "never refused");
    }
    n
}

#[test]
fn keys_have_independent_buckets() {
    let (l, clock) = limiter(KeyedConfig::new());
    assert_eq!(drain(&l, "tenant-a"), 3);
    let r = l.check(&key("tenant-a")).unwrap_err();
    assert_eq!(r.retry_after(), Some(ms(100)));
    assert_eq!(r.name(), "tenants");
    // Another key is untouched by the first one's exhaustion.
    assert_eq!(drain(&l, "tenant-b"), 3);
    clock.advance(ms(100));
    assert!(l.try_acquire(&key("tenant-a")).is_ok());
    assert!(l.check(&key("tenant-a")).is_err());
    assert!(l.check(&key("tenant-b")).is_ok());
    let s = l.snapshot();
    assert_eq!((s.keys, s.rejected, s.burst, s.rate), (2, 4, 3, 10));
    let a = l.key_snapshot(&key("tenant-a")).expect("live");
    assert_eq!(a.available, 0);
    assert!(l.key_snapshot(&key("tenant-c")).is_none());
}

#[test]
fn a_new_key_gets_exactly_the_burst() {
    let (l, _clock) = limiter(KeyedConfig::new());
    for i in 0..100 {
        assert_eq!(drain(&l, &format!("k{i}")), 3, "key {i}");
    }
    assert_eq!(l.len(), 100);
}

#[test]
fn a_key_evicted_for_the_cap_comes_back_with_a_full_bucket() {
    let (l, clock) = limiter(KeyedConfig::new().with_max_keys(1).with_shards(1));
    assert_eq!(drain(&l, "a"), 3);
    clock.advance(ms(1));
    // "b" pushes "a" out.
    assert!(l.check(&key("b")).is_ok());
    assert_eq!(l.len(), 1);
    assert_eq!(l.evicted(), 1);
    assert_eq!(drain(&l, "a"), 3);
}

#[test]
fn an_idle_key_is_evicted_and_comes_back_with_a_full_bucket() {
    let (l, clock) = limiter(KeyedConfig::new().with_idle_timeout(Duration::from_secs(60)));
    assert_eq!(drain(&l, "a"), 3);
    assert!(l.check(&key("b")).is_ok());
    clock.advance(Duration::from_secs(61));
    assert_eq!(l.evict_idle(), 2);
    assert!(l.is_empty());
    assert_eq!(drain(&l, "a"), 3);
}

#[test]
fn a_quota_change_applies_to_every_key() {
    let (l, clock) = limiter(KeyedConfig::new());
    assert_eq!(drain(&l, "a"), 3);
    assert_eq!(drain(&l, "b"), 3);
    l.set_quota(RateLimitConfig::per_second(1000).with_burst(3))
        .expect("valid");
    for k in ["a", "b"] {
        assert_eq!(l.check(&key(k)).unwrap_err().retry_after(), Some(ms(1)));
    }
    clock.advance(ms(3));
    assert_eq!(drain(&l, "a"), 3);
    // A key made after the change gets the new burst.
    l.set_quota(RateLimitConfig::per_second(1000).with_burst(5))
        .expect("valid");
    assert_eq!(drain(&l, "c"), 5);
    assert_eq!(l.config().effective_burst(), 5);
}

#[test]
fn weighted_calls_and_listener() {
    let recorder = Recorder::new();
    let (l, _clock) = limiter(KeyedConfig::new());
    let l = l.with_listener(Arc::new(recorder.clone()));
    assert!(l.check_n(&key("a"), 2).is_ok());
    assert_eq!(
        l.check_n(&key("a"), 2).unwrap_err().retry_after(),
        Some(ms(100))
    );
    assert_eq!(l.check_n(&key("a"), 4).unwrap_err().retry_after(), None);
    assert_eq!(recorder.count("RateLimited"), 2);
}

#[test]
fn bad_configurations_name_the_field() {
    let err = KeyedRateLimiter::<u64>::new("x", RateLimitConfig::per_second(0), KeyedConfig::new())
        .unwrap_err();
    assert_eq!(err.field(), "rate_limit.rate");
    let err = KeyedRateLimiter::<u64>::new(
        "x",
        RateLimitConfig::per_second(1),
        KeyedConfig::new().with_max_keys(0),
    )
    .unwrap_err();
    assert_eq!(err.field(), "keyed.max_keys");
}

#[tokio::test(start_paused = true)]
async fn acquire_waits_per_key() {
    let l: KeyedRateLimiter<u32> = KeyedRateLimiter::new(
        "tenants",
        RateLimitConfig::per_second(10).with_burst(1),
        KeyedConfig::new(),
    )
    .expect("valid");
    let start = tokio::time::Instant::now();
    l.acquire(&1).await;
    l.acquire(&2).await;
    assert_eq!(start.elapsed(), Duration::ZERO);
    l.acquire(&1).await;
    assert_eq!(start.elapsed(), ms(100));
    assert!(l.acquire_n(&1, 2).await.is_err());
}

#[tokio::test(start_paused = true)]
async fn dropping_acquire_at_any_await_takes_no_token_from_its_key() {
    // As for the direct limiter: drop before the first poll, or after 1 or 2 waits (the
    // second because a competitor took the token the waiter slept for). A twin sees
    // the same calls but no waiter, and another key sees none: afterwards the twin
    // agrees with the key, and the other key still has its whole burst.
    let config = RateLimitConfig::per_second(10).with_burst(1);
    for waits in 0..3u32 {
        let make = || KeyedRateLimiter::<u32>::new("tenants", config, KeyedConfig::new());
        let (l, twin) = (make().expect("valid"), make().expect("valid"));
        for limiter in [&l, &twin] {
            limiter.check(&1).expect("the burst");
        }
        {
            let mut fut = std::pin::pin!(l.acquire(&1));
            for w in 0..waits {
                let polled = fut.as_mut().poll(&mut Context::from_waker(Waker::noop()));
                assert!(polled.is_pending(), "wait {w}");
                tokio::time::advance(ms(100)).await;
                if w == 0 {
                    for limiter in [&l, &twin] {
                        limiter.check(&1).expect("the competitor is first");
                    }
                }
            }
        }
        for _ in 0..3 {
            let (a, b) = (l.check(&1), twin.check(&1));
            assert_eq!(a.is_ok(), b.is_ok(), "after {waits} waits");
            assert_eq!(
                a.err().map(|r| r.retry_after()),
                b.err().map(|r| r.retry_after())
            );
            tokio::time::advance(ms(50)).await;
        }
        assert!(l.check(&2).is_ok(), "another key is untouched");
    }
}

#[test]
fn two_threads_on_one_new_key_share_one_bucket() {
    for _ in 0..50 {
        let (l, _clock) = limiter(KeyedConfig::new());
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let l = l.clone();
                std::thread::spawn(move || (0..3).filter(|_| l.check(&key("k")).is_ok()).count())
            })
            .collect();
        let admitted: usize = threads
            .into_iter()
            .map(|t| t.join().expect("no panic"))
            .sum();
        assert_eq!(admitted, 3);
    }
}

#[test]
fn a_key_in_debt_is_never_idle_and_a_full_bucket_goes_unnoticed() {
    // One token a minute, bursts of 3: an emptied bucket refills in 3 minutes, longer
    // than the idle timeout.
    let clock = ManualClock::new();
    let l: KeyedRateLimiter<String> = KeyedRateLimiter::with_clock(
        "tenants",
        RateLimitConfig::per_minute(1).with_burst(3),
        KeyedConfig::new().with_idle_timeout(Duration::from_secs(60)),
        Arc::new(clock.clone()),
    )
    .expect("valid");
    assert_eq!(drain(&l, "a"), 3);
    // Unused for two idle timeouts, but still owing tokens: kept, and still refused.
    clock.advance(Duration::from_secs(120));
    assert_eq!(l.evict_idle(), 0);
    assert_eq!(
        drain(&l, "a"),
        2,
        "one token a minute came back, not a full bucket"
    );
    // Those two leave the bucket full again at 5 min (its TAT), idle a minute later.
    clock.advance(Duration::from_secs(240));
    assert_eq!(l.evict_idle(), 0, "at exactly the idle timeout");
    clock.advance(Duration::from_secs(1));
    assert_eq!(l.evict_idle(), 1);
    assert_eq!(drain(&l, "a"), 3);
}

#[test]
fn the_cap_evicts_the_key_whose_bucket_refilled_first() {
    let (l, clock) = limiter(KeyedConfig::new().with_max_keys(2).with_shards(1));
    // "a" is used first but emptied; "b" is used later, once.
    assert_eq!(drain(&l, "a"), 3);
    clock.advance(ms(50));
    assert!(l.check(&key("b")).is_ok());
    // "b" is full again before "a" is: "c" pushes out "b", and "a" keeps its debt.
    assert!(l.check(&key("c")).is_ok());
    assert_eq!(l.evicted(), 1);
    assert!(l.key_snapshot(&key("b")).is_none());
    assert_eq!(l.key_snapshot(&key("a")).expect("live").available, 0);
}

mod model {
    //! Idle eviction is invisible: a keyed limiter, however short its idle timeout,
    //! decides every check exactly as one direct limiter per key, kept forever, would.

    use super::*;
    use proptest::prelude::*;
    use rampart::rate_limit::RateLimiter;
    use std::collections::HashMap;

    #[derive(Debug, Clone)]
    enum Op {
        Check(u8, u32),
        Advance(u64),
        EvictIdle,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0u8..4, 1u32..3).prop_map(|(k, n)| Op::Check(k, n)),
            3 => (0u64..400).prop_map(Op::Advance),
            1 => Just(Op::EvictIdle),
        ]
    }

    proptest! {
        #[test]
        fn idle_eviction_never_changes_a_decision(
            idle_ms in 1u64..500,
            ops in proptest::collection::vec(op(), 1..300),
        ) {
            // 10 a second in bursts of 3: an empty bucket takes 300 ms to refill, which
            // may be longer than the idle timeout.
            let config = RateLimitConfig::per_second(10).with_burst(3);
            let clock = ManualClock::new();
            let keyed: KeyedRateLimiter<u8> = KeyedRateLimiter::with_clock(
                "model",
                config,
                KeyedConfig::new().with_idle_timeout(Duration::from_millis(idle_ms)),
                Arc::new(clock.clone()),
            )
            .expect("valid");
            let mut direct: HashMap<u8, RateLimiter> = HashMap::new();
            for op in ops {
                match op {
                    Op::Check(k, n) => {
                        let reference = direct.entry(k).or_insert_with(|| {
                            RateLimiter::with_clock("model", config, Arc::new(clock.clone()))
                                .expect("valid")
                        });
                        let want = reference.check_n(n).map_err(|r| r.retry_after());
                        let got = keyed.check_n(&k, n).map_err(|r| r.retry_after());
                        prop_assert_eq!(got, want, "key {} weight {}", k, n);
                    }
                    Op::Advance(ms) => clock.advance(Duration::from_millis(ms)),
                    Op::EvictIdle => {
                        keyed.evict_idle();
                    }
                }
            }
        }
    }
}
