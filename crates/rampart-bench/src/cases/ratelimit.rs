//! Rate limiters: governor and tower-resilience against rampart (draft, peers only).

use crate::harness::{async_loop_mut, contended_loop_2t, sync_loop, Case};
use governor::{Quota, RateLimiter};
use std::convert::Infallible;
use std::future::ready;
use std::num::NonZeroU32;
use std::time::Duration;
use tower::{service_fn, Layer, Service, ServiceExt};

/// The rate-limiter cases.
pub const CASES: &[Case] = &[
    Case::new("governor_direct_check", governor_direct_check),
    Case::new("governor_keyed_check_1024keys", governor_keyed_check_1024keys),
    Case::new("contended_governor_direct_check_2t", contended_governor_direct_check_2t),
    Case::new("towerres_ratelimiter_call", towerres_ratelimiter_call),
];

fn governor_quota() -> Quota {
    Quota::per_second(NonZeroU32::MAX)
}

fn governor_direct_check(iterations: u64) -> Duration {
    let limiter = RateLimiter::direct(governor_quota());
    sync_loop(iterations, |_| limiter.check().is_ok())
}

fn governor_keyed_check_1024keys(iterations: u64) -> Duration {
    let limiter = RateLimiter::keyed(governor_quota());
    for k in 0..1024u64 {
        let _ = limiter.check_key(&k);
    }
    sync_loop(iterations, |i| limiter.check_key(&(i % 1024)).is_ok())
}

fn contended_governor_direct_check_2t(iterations: u64) -> Duration {
    let limiter = RateLimiter::direct(governor_quota());
    contended_loop_2t(iterations, &limiter, |l, _| l.check().is_ok())
}

fn towerres_ratelimiter_call(iterations: u64) -> Duration {
    let layer = tower_resilience::ratelimiter::RateLimiterLayer::builder()
        .limit_for_period(usize::MAX / 2)
        .refresh_period(Duration::from_secs(1))
        .build()
        .expect("valid");
    let mut service = layer.layer(service_fn(|x: u64| ready(Ok::<u64, Infallible>(x))));
    async_loop_mut(iterations, async move |x| {
        let ready = service.ready().await.expect("ready");
        ready.call(x).await
    })
}
