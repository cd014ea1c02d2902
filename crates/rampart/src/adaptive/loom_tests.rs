//! Loom models of the adaptive limiter's in-flight accounting and limit publication.
//! Run with `RUSTFLAGS="--cfg rampart_loom" cargo test -p rampart --lib --release loom_`.

use std::sync::Arc;
use std::time::Duration;

use loom::thread;

use super::{AdaptiveConfig, AdaptiveLimiter, AimdConfig};
use crate::clock::ManualClock;

use crate::sync::check_model as check;

fn limiter(min: u32, max: u32, initial: u32) -> AdaptiveLimiter {
    let aimd = AimdConfig::new().with_latency_threshold(Duration::from_millis(1));
    let config = AdaptiveConfig::aimd(aimd)
        .with_limits(min, max)
        .with_initial_limit(initial);
    AdaptiveLimiter::with_clock("loom", config, Arc::new(ManualClock::new())).expect("valid")
}

#[test]
fn loom_a_limit_of_one_admits_one_at_a_time() {
    check(|| {
        let l = limiter(1, 1, 1);
        let racers: Vec<_> = (0..2)
            .map(|_| {
                let l = l.clone();
                thread::spawn(move || match l.try_acquire() {
                    Ok(p) => {
                        assert_eq!(l.in_flight(), 1);
                        p.success();
                        true
                    }
                    Err(_) => false,
                })
            })
            .collect();
        let admitted = racers
            .into_iter()
            .map(|r| r.join().expect("no panic"))
            .filter(|&a| a)
            .count();
        assert!(admitted >= 1);
        assert_eq!(l.in_flight(), 0);
    });
}

#[test]
fn loom_racing_outcomes_publish_a_limit_within_bounds() {
    check(|| {
        let l = limiter(1, 3, 2);
        let a = l.try_acquire_owned().expect("room");
        let b = l.try_acquire_owned().expect("room");
        let t = thread::spawn(move || a.dropped());
        b.success();
        t.join().expect("no panic");
        assert_eq!(l.in_flight(), 0);
        let limit = l.limit();
        assert!((1..=3).contains(&limit), "{limit}");
        // The published limit is the algorithm's.
        assert_eq!(limit, l.snapshot().limit);
    });
}
