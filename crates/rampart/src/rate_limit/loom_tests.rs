//! Loom models of the token bucket's CAS and of the quota's sequence lock. Run with
//! `RUSTFLAGS="--cfg rampart_loom" cargo test -p rampart --lib --release loom_`.

use std::sync::Arc;

use loom::thread;

use super::gcra::Gcra;
use super::quota::QuotaCell;
use super::{RateLimitConfig, RateLimiter};
use crate::clock::ManualClock;

use crate::sync::check_model as check;

fn limiter(burst: u32) -> RateLimiter {
    let config = RateLimitConfig::per_second(1).with_burst(burst);
    RateLimiter::with_clock("loom", config, Arc::new(ManualClock::new())).expect("valid")
}

#[test]
fn loom_two_callers_on_a_burst_of_one_get_one_token() {
    check(|| {
        let l = limiter(1);
        let racers: Vec<_> = (0..2)
            .map(|_| {
                let l = l.clone();
                thread::spawn(move || l.check().is_ok())
            })
            .collect();
        let admitted = racers
            .into_iter()
            .map(|r| r.join().expect("no panic"))
            .filter(|ok| *ok)
            .count();
        assert_eq!(admitted, 1);
        assert!(l.check().is_err());
    });
}

#[test]
fn loom_two_callers_on_a_burst_of_two_both_pass_and_empty_it() {
    check(|| {
        let l = limiter(2);
        let racers: Vec<_> = (0..2)
            .map(|_| {
                let l = l.clone();
                thread::spawn(move || l.check().is_ok())
            })
            .collect();
        for r in racers {
            assert!(r.join().expect("no panic"));
        }
        assert!(l.check().is_err());
    });
}

#[test]
fn loom_a_reader_never_sees_half_a_quota() {
    check(|| {
        let cell = Arc::new(QuotaCell::new(Gcra::new(1, 10)));
        let writer = {
            let cell = Arc::clone(&cell);
            thread::spawn(move || cell.store(Gcra::new(2, 7)))
        };
        let q = cell.load();
        assert!(q == Gcra::new(1, 10) || q == Gcra::new(2, 7), "{q:?}");
        writer.join().expect("no panic");
        assert_eq!(cell.load(), Gcra::new(2, 7));
    });
}
