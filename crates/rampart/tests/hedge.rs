//! Hedging through the pipeline: the fast attempt wins, losers are dropped, bounded.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rampart::event::Recorder;
use rampart::hedge::{HedgeConfig, HedgeDelay};
use rampart::{Error, Pipeline};
use tokio::time::Instant;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Counts live attempt futures: incremented when made, decremented when dropped.
struct Live(Arc<AtomicU32>);

impl Drop for Live {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[tokio::test(start_paused = true)]
async fn slow_first_attempt_is_overtaken_and_dropped() {
    let rec = Recorder::new();
    let p = Pipeline::builder("search")
        .listener(rec.clone())
        .hedge(HedgeConfig::fixed(ms(100)).with_max_attempts(3))
        .build()
        .unwrap();
    let live = Arc::new(AtomicU32::new(0));
    let started = AtomicU32::new(0);
    let begin = Instant::now();
    let res: Result<u32, Error<()>> = p
        .call(|| {
            let n = started.fetch_add(1, Ordering::SeqCst);
            live.fetch_add(1, Ordering::SeqCst);
            let guard = Live(live.clone());
            async move {
                let _g = guard;
                // The first attempt takes 10 s, the hedge 50 ms.
                tokio::time::sleep(if n == 0 { ms(10_000) } else { ms(50) }).await;
                Ok(n)
            }
        })
        .await;
    assert_eq!(res, Ok(1));
    assert_eq!(begin.elapsed(), ms(150));
    assert_eq!(
        started.load(Ordering::SeqCst),
        2,
        "no third attempt was needed"
    );
    assert_eq!(
        live.load(Ordering::SeqCst),
        0,
        "the slow attempt was dropped"
    );
    assert_eq!(rec.count("HedgeStarted"), 1);
}

#[tokio::test(start_paused = true)]
async fn never_more_than_max_attempts() {
    let p = Pipeline::builder("search")
        .hedge(HedgeConfig::fixed(ms(100)).with_max_attempts(3))
        .build()
        .unwrap();
    let started = AtomicU32::new(0);
    let res = tokio::time::timeout(
        ms(5_000),
        p.call(|| {
            started.fetch_add(1, Ordering::SeqCst);
            std::future::pending::<Result<(), ()>>()
        }),
    )
    .await;
    assert!(res.is_err());
    assert_eq!(started.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn a_failure_starts_the_next_attempt_at_once() {
    let p = Pipeline::builder("search")
        .hedge(HedgeConfig::fixed(ms(1_000)).with_max_attempts(2))
        .build()
        .unwrap();
    let begin = Instant::now();
    let mut n = 0;
    let res: Result<u32, Error<&str>> = p
        .call(|| {
            n += 1;
            let k = n;
            async move {
                tokio::time::sleep(ms(10)).await;
                if k == 1 {
                    Err("reset")
                } else {
                    Ok(k)
                }
            }
        })
        .await;
    assert_eq!(res, Ok(2));
    assert_eq!(begin.elapsed(), ms(20));
}

#[tokio::test(start_paused = true)]
async fn all_failing_returns_the_last_failure() {
    let p = Pipeline::builder("search")
        .hedge(HedgeConfig::fixed(ms(10)).with_max_attempts(3))
        .build()
        .unwrap();
    let mut n = 0;
    let res: Result<(), Error<u32>> = p
        .call(|| {
            n += 1;
            let k = n;
            async move { Err(k) }
        })
        .await;
    assert_eq!(res, Err(Error::Operation(3)));
}

#[tokio::test(start_paused = true)]
async fn hedges_draw_on_the_retry_budget() {
    use rampart::retry::RetryBudgetConfig;
    // No ratio, a reserve of 1 per second over 1 s: exactly one hedge may start.
    let p = Pipeline::builder("search")
        .retry_budget(
            RetryBudgetConfig::new()
                .with_ratio(0.0)
                .with_min_per_second(1)
                .with_window(Duration::from_secs(1)),
        )
        .hedge(HedgeConfig::fixed(ms(10)).with_max_attempts(2))
        .build()
        .unwrap();
    let started = Arc::new(AtomicU32::new(0));
    for _ in 0..3 {
        let s = started.clone();
        let _ = tokio::time::timeout(
            ms(100),
            p.call(move || {
                s.fetch_add(1, Ordering::SeqCst);
                std::future::pending::<Result<(), ()>>()
            }),
        )
        .await;
    }
    // Three calls, one hedge allowed by the budget.
    assert_eq!(started.load(Ordering::SeqCst), 4);
}

#[tokio::test(start_paused = true)]
async fn percentile_delay_follows_recent_latency() {
    let p = Pipeline::builder("search")
        .without_retry_budget()
        .hedge(HedgeConfig::new(HedgeDelay::percentile(50.0, ms(1_000))))
        .build()
        .unwrap();
    // Teach it that calls take 20 ms.
    for _ in 0..32 {
        let r: Result<(), Error<()>> = p
            .call(|| async {
                tokio::time::sleep(ms(20)).await;
                Ok(())
            })
            .await;
        assert!(r.is_ok());
    }
    let started = AtomicU32::new(0);
    let begin = Instant::now();
    let _ = tokio::time::timeout(
        ms(500),
        p.call(|| {
            started.fetch_add(1, Ordering::SeqCst);
            std::future::pending::<Result<(), ()>>()
        }),
    )
    .await;
    assert_eq!(begin.elapsed(), ms(500));
    // With the initial 1 s delay no hedge would have started within 500 ms.
    assert_eq!(started.load(Ordering::SeqCst), 2);
}

#[test]
fn blocking_hedge_runs_attempts_in_turn() {
    let p = Pipeline::builder("search")
        .without_retry_budget()
        .hedge(HedgeConfig::fixed(ms(10)).with_max_attempts(3))
        .build()
        .unwrap();
    let mut n = 0;
    let res: Result<u32, Error<&str>> = p.call_blocking(|| {
        n += 1;
        if n < 3 {
            Err("down")
        } else {
            Ok(n)
        }
    });
    assert_eq!(res, Ok(3));
}
