//! Rate limiters: governor and tower-resilience against rampart's token bucket, direct,
//! keyed and shared by two threads, and the memory each keyed limiter takes per key.
//!
//! Every check succeeds: the quota is 2^32 - 1 per second with a burst as large (one
//! token per nanosecond, a 4.3 s bucket), so the figures are the success path's cost.
//!
//! Time source: governor's default clock reads the CPU's time-stamp counter through
//! `quanta`, and so does rampart's default clock ([`default_clock`]) outside paused
//! time, so the rampart cases take their limiters' defaults.
//! `rampart_rate_limit_check_tokio_clock` shows the cost of reading `Instant::now()`
//! instead ([`TokioClock`], what a limiter made under paused time reads), and
//! `counter_read` the counter read alone, the floor under both direct checks.
//!
//! [`default_clock`]: rampart::clock::default_clock
//!
//! Keys are hashed with each crate's default in the `*_1024keys` cases: governor's is
//! std's SipHash-1-3, rampart's is foldhash's quality variant seeded from the OS per map
//! ([`KeyHasher`]).
//! For like-for-like figures, the `*_foldhash` cases give both foldhash's own
//! `RandomState` and `rampart_rate_limit_keyed_check_1024keys_siphash` gives rampart
//! governor's hasher. Both maps hash a key once per check.
//!
//! [`KeyHasher`]: rampart::keyed::KeyHasher
//!
//! Memory (`*_bytes_per_key`): the growth of the process's resident set while 1,000,000
//! distinct `u64` keys each make one check, divided by 1,000,000. The case's figure is
//! that number of bytes, printed in the ns-per-op column (the harness divides a
//! duration of `bytes x iterations` nanoseconds by the iterations). governor keeps
//! every key; rampart's keyed limiter keeps at most its `max_keys` (the default 10,000)
//! and evicts the rest, which is the point of it. `..._bytes_per_live_key` is
//! rampart with room for all 1,000,000 keys, so every key stays: the cost of a key
//! itself (its entry holds the key and the bucket, whose TAT doubles as the time of
//! last use).

use crate::harness::{async_loop_mut, contended_loop_2t, sync_loop, Case};
use rampart::clock::{default_clock, TokioClock};
use rampart::keyed::KeyedConfig;
use rampart::rate_limit::{KeyedRateLimiter, RateLimitConfig, RateLimiter};
use std::convert::Infallible;
use std::future::ready;
use std::num::NonZeroU32;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tower::{service_fn, Layer, Service, ServiceExt};
use tower_resilience::ratelimiter::RateLimiterLayer;

/// The rate-limiter cases.
pub const CASES: &[Case] = &[
    Case::new("counter_read", counter_read),
    Case::new("governor_direct_check", governor_direct_check),
    Case::new("rampart_rate_limit_check", rampart_check),
    Case::new(
        "rampart_rate_limit_check_tokio_clock",
        rampart_check_tokio_clock,
    ),
    Case::new(
        "governor_keyed_check_1024keys",
        governor_keyed_check_1024keys,
    ),
    Case::new(
        "rampart_rate_limit_keyed_check_1024keys",
        rampart_keyed_check_1024keys,
    ),
    Case::new(
        "rampart_rate_limit_keyed_check_1024keys_siphash",
        rampart_keyed_check_1024keys_siphash,
    ),
    Case::new(
        "governor_keyed_check_1024keys_foldhash",
        governor_keyed_check_1024keys_foldhash,
    ),
    Case::new(
        "rampart_rate_limit_keyed_check_1024keys_foldhash",
        rampart_keyed_check_1024keys_foldhash,
    ),
    Case::new(
        "contended_governor_direct_check_2t",
        contended_governor_direct_check_2t,
    ),
    Case::new(
        "contended_rampart_rate_limit_check_2t",
        contended_rampart_check_2t,
    ),
    Case::new("towerres_ratelimiter_call", towerres_ratelimiter_call),
    Case::new("governor_keyed_bytes_per_key", governor_keyed_bytes_per_key),
    Case::new(
        "rampart_rate_limit_keyed_bytes_per_key",
        rampart_keyed_bytes_per_key,
    ),
    Case::new(
        "rampart_rate_limit_keyed_bytes_per_live_key",
        rampart_keyed_bytes_per_live_key,
    ),
];

/// Keys in the memory cases (fewer in unoptimised test builds, which only check that
/// the cases run).
const MEMORY_KEYS: u64 = if cfg!(debug_assertions) {
    10_000
} else {
    1_000_000
};

/// Keys the keyed cases cycle through.
const KEYS: u64 = 1024;

fn governor_quota() -> governor::Quota {
    governor::Quota::per_second(NonZeroU32::MAX)
}

fn rampart_quota() -> RateLimitConfig {
    RateLimitConfig::per_second(u32::MAX).with_burst(u32::MAX)
}

fn rampart_limiter() -> RateLimiter {
    RateLimiter::new("bench", rampart_quota()).expect("the bench quota is valid")
}

fn rampart_keyed(keyed: KeyedConfig) -> KeyedRateLimiter<u64> {
    KeyedRateLimiter::new("bench", rampart_quota(), keyed).expect("the bench quota is valid")
}

/// The time-stamp counter read alone, through quanta: the floor under both crates'
/// direct checks, which each read it once.
fn counter_read(iterations: u64) -> Duration {
    let counter = quanta::Clock::new();
    sync_loop(iterations, |_| counter.raw())
}

fn governor_direct_check(iterations: u64) -> Duration {
    let limiter = governor::RateLimiter::direct(governor_quota());
    sync_loop(iterations, |_| limiter.check().is_ok())
}

fn rampart_check(iterations: u64) -> Duration {
    let limiter = rampart_limiter();
    sync_loop(iterations, |_| limiter.check().is_ok())
}

fn rampart_check_tokio_clock(iterations: u64) -> Duration {
    let limiter = RateLimiter::with_clock("bench", rampart_quota(), Arc::new(TokioClock::new()))
        .expect("the bench quota is valid");
    sync_loop(iterations, |_| limiter.check().is_ok())
}

/// Each iteration checks the next of 1024 keys, all made before the clock starts.
fn governor_keyed_check_1024keys(iterations: u64) -> Duration {
    let limiter = governor::RateLimiter::keyed(governor_quota());
    for k in 0..KEYS {
        let _ = limiter.check_key(&k);
    }
    sync_loop(iterations, |i| limiter.check_key(&(i % KEYS)).is_ok())
}

fn rampart_keyed_check_1024keys(iterations: u64) -> Duration {
    let limiter = rampart_keyed(KeyedConfig::new());
    for k in 0..KEYS {
        let _ = limiter.check(&k);
    }
    sync_loop(iterations, |i| limiter.check(&(i % KEYS)).is_ok())
}

/// rampart's keyed limiter hashing with std's SipHash, as governor does by default.
fn rampart_keyed_check_1024keys_siphash(iterations: u64) -> Duration {
    let limiter = KeyedRateLimiter::with_hasher(
        "bench",
        rampart_quota(),
        KeyedConfig::new(),
        default_clock(),
        std::collections::hash_map::RandomState::new(),
    )
    .expect("the bench quota is valid");
    for k in 0..KEYS {
        let _ = limiter.check(&k);
    }
    sync_loop(iterations, |i| limiter.check(&(i % KEYS)).is_ok())
}

/// governor's keyed limiter hashing with foldhash instead of SipHash.
fn governor_keyed_check_1024keys_foldhash(iterations: u64) -> Duration {
    let limiter = governor::RateLimiter::dashmap_with_hasher(
        governor_quota(),
        foldhash::fast::RandomState::default(),
    );
    for k in 0..KEYS {
        let _ = limiter.check_key(&k);
    }
    sync_loop(iterations, |i| limiter.check_key(&(i % KEYS)).is_ok())
}

/// rampart's keyed limiter hashing with foldhash instead of SipHash.
fn rampart_keyed_check_1024keys_foldhash(iterations: u64) -> Duration {
    let limiter = KeyedRateLimiter::with_hasher(
        "bench",
        rampart_quota(),
        KeyedConfig::new(),
        default_clock(),
        foldhash::fast::RandomState::default(),
    )
    .expect("the bench quota is valid");
    for k in 0..KEYS {
        let _ = limiter.check(&k);
    }
    sync_loop(iterations, |i| limiter.check(&(i % KEYS)).is_ok())
}

fn contended_governor_direct_check_2t(iterations: u64) -> Duration {
    let limiter = governor::RateLimiter::direct(governor_quota());
    contended_loop_2t(iterations, &limiter, |l, _| l.check().is_ok())
}

fn contended_rampart_check_2t(iterations: u64) -> Duration {
    let limiter = rampart_limiter();
    contended_loop_2t(iterations, &limiter, |l, _| l.check().is_ok())
}

/// tower-resilience's rate limiter (its default fixed window) around `service_fn`
/// answering at once; `ready().await` then `call(x).await`, as for its breaker.
fn towerres_ratelimiter_call(iterations: u64) -> Duration {
    let layer = RateLimiterLayer::builder()
        .limit_for_period(usize::MAX / 2)
        .refresh_period(Duration::from_secs(1))
        .build()
        .expect("the bench rate limiter config is valid");
    let mut service = layer.layer(service_fn(|x: u64| ready(Ok::<u64, Infallible>(x))));
    async_loop_mut(iterations, async move |x| {
        let ready = service
            .ready()
            .await
            .expect("a rate limiter with permits left is ready");
        ready.call(x).await
    })
}

/// Resident set size in bytes, if /proc is readable: the kernel's `VmRSS` line, in
/// kB whatever the page size.
fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The resident growth per key while `fill` runs (and what it returns is alive).
fn bytes_per_key<T>(fill: impl FnOnce() -> T) -> f64 {
    let before = rss_bytes();
    let kept = fill();
    let after = rss_bytes();
    drop(kept);
    match (before, after) {
        (Some(b), Some(a)) => a.saturating_sub(b) as f64 / MEMORY_KEYS as f64,
        _ => {
            eprintln!("note: /proc/self/status is not readable; memory not measured");
            0.0
        }
    }
}

/// A figure shown as the case's ns per op: `per_op x iterations` nanoseconds.
fn as_figure(per_op: f64, iterations: u64) -> Duration {
    Duration::from_secs_f64(per_op * iterations as f64 * 1e-9)
}

fn governor_keyed_bytes_per_key(iterations: u64) -> Duration {
    static BYTES: OnceLock<f64> = OnceLock::new();
    let bytes = *BYTES.get_or_init(|| {
        bytes_per_key(|| {
            let limiter = governor::RateLimiter::keyed(governor_quota());
            for k in 0..MEMORY_KEYS {
                let _ = limiter.check_key(&k);
            }
            limiter
        })
    });
    as_figure(bytes, iterations)
}

fn rampart_keyed_bytes(keyed: KeyedConfig) -> f64 {
    bytes_per_key(|| {
        let limiter = rampart_keyed(keyed);
        for k in 0..MEMORY_KEYS {
            let _ = limiter.check(&k);
        }
        limiter
    })
}

fn rampart_keyed_bytes_per_key(iterations: u64) -> Duration {
    static BYTES: OnceLock<f64> = OnceLock::new();
    let bytes = *BYTES.get_or_init(|| rampart_keyed_bytes(KeyedConfig::new()));
    as_figure(bytes, iterations)
}

fn rampart_keyed_bytes_per_live_key(iterations: u64) -> Duration {
    static BYTES: OnceLock<f64> = OnceLock::new();
    let keyed = KeyedConfig::new().with_max_keys(MEMORY_KEYS as usize);
    let bytes = *BYTES.get_or_init(|| rampart_keyed_bytes(keyed));
    as_figure(bytes, iterations)
}
