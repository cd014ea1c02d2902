//! The adaptive limiter's handle: admission up to the limit, permits that give their
//! slot back however the call ends, outcomes that move the limit (and events that say
//! so), bounds that hold under any sequence of outcomes, and configuration errors.

mod support;

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use rampart::adaptive::{
    AdaptiveConfig, AdaptiveLimiter, AimdConfig, Algorithm, GradientConfig, MAX_LIMIT,
};
use rampart::clock::ManualClock;
use rampart::event::Recorder;
use rampart::RejectionKind;
use support::{ms, secs};

fn aimd(min: u32, max: u32, initial: u32) -> AdaptiveConfig {
    AdaptiveConfig::aimd(AimdConfig::new().with_latency_threshold(ms(100)))
        .with_limits(min, max)
        .with_initial_limit(initial)
}

fn limiter(config: AdaptiveConfig) -> (AdaptiveLimiter, ManualClock, Recorder) {
    let clock = ManualClock::new();
    let recorder = Recorder::new();
    let l = AdaptiveLimiter::with_clock("search", config, Arc::new(clock.clone()))
        .expect("valid")
        .with_listener(Arc::new(recorder.clone()));
    (l, clock, recorder)
}

#[test]
fn admits_up_to_the_limit_then_refuses() {
    let (l, _, _) = limiter(aimd(1, 10, 4));
    let held: Vec<_> = std::iter::from_fn(|| l.try_acquire().ok()).collect();
    assert_eq!(held.len(), 4);
    let r = l.try_acquire().unwrap_err();
    assert_eq!(r.kind(), RejectionKind::BulkheadFull);
    assert_eq!(r.policy(), "adaptive_concurrency");
    assert_eq!(r.name(), "search");
    assert_eq!(held[3].in_flight_at_start(), 4);
    drop(held);
    assert_eq!(l.in_flight(), 0);
    // The refusal that ended the iterator, and this one.
    assert_eq!(l.snapshot().rejected, 2);
}

#[test]
fn permits_without_an_outcome_change_nothing_but_give_their_slot_back() {
    let (l, clock, recorder) = limiter(aimd(1, 10, 4));
    let p = l.try_acquire().unwrap();
    clock.advance(secs(5));
    drop(p);
    l.try_acquire().unwrap().ignore();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _p = l.try_acquire().unwrap();
        panic!("the call panicked");
    }));
    assert!(caught.is_err());
    assert_eq!((l.in_flight(), l.limit()), (0, 4));
    assert!(recorder.lines().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_call_gives_its_slot_back() {
    let config = aimd(1, 10, 1);
    let l = AdaptiveLimiter::new("search", config).unwrap();
    let l2 = l.clone();
    let task = tokio::spawn(async move {
        let p = l2.try_acquire_owned().unwrap();
        tokio::time::sleep(secs(60)).await;
        p.success();
    });
    tokio::task::yield_now().await;
    assert!(l.try_acquire().is_err());
    task.abort();
    let _ = task.await;
    assert_eq!(l.in_flight(), 0);
    assert_eq!(l.limit(), 1);
    assert!(l.try_acquire().is_ok());
}

#[test]
fn outcomes_move_the_limit_and_report_it() {
    let (l, clock, recorder) = limiter(aimd(1, 10, 4));
    // Two rounds of fast calls that use the limit grow it by one (the first call of
    // each round, with the limit less than half used, does not count).
    for _ in 0..2 {
        let held: Vec<_> = (0..4).map(|_| l.try_acquire().unwrap()).collect();
        clock.advance(ms(10));
        held.into_iter().for_each(|p| p.success());
    }
    assert_eq!(l.limit(), 5);
    // A drop backs off to 90 %: 5.3 to 4.8.
    l.try_acquire().unwrap().dropped();
    assert_eq!(l.limit(), 4);
    // So does a call slower than the threshold, each time: 4.3, then 3.9.
    for expect in [4, 3] {
        let p = l.try_acquire().unwrap();
        clock.advance(ms(101));
        p.success();
        assert_eq!(l.limit(), expect);
    }
    assert_eq!(
        recorder.lines(),
        [
            "search: ConcurrencyLimitChanged { from: 4, to: 5 }",
            "search: ConcurrencyLimitChanged { from: 5, to: 4 }",
            "search: ConcurrencyLimitChanged { from: 4, to: 3 }",
        ]
    );
}

#[test]
fn the_gradient_limit_climbs_to_its_maximum_and_falls_to_its_minimum() {
    // Rounds of as many calls as the limit allows, all at once. As fast as the no-load
    // time, they raise the limit until it stops at the maximum; timing out, they bring
    // it down until it stops at the minimum. Each move is reported, none goes past a
    // bound.
    let gradient = GradientConfig::new().with_min_rtt(secs(3600), 1);
    let config = AdaptiveConfig::gradient(gradient)
        .with_limits(3, 40)
        .with_initial_limit(10);
    let (l, clock, recorder) = limiter(config);
    let round = |rtt: Duration, timed_out: bool| {
        let held: Vec<_> = std::iter::from_fn(|| l.try_acquire().ok()).collect();
        clock.advance(rtt);
        for p in held {
            if timed_out {
                p.dropped();
            } else {
                p.success();
            }
        }
    };
    round(ms(10), false);
    assert_eq!(l.limit(), 10, "the no-load time is measured");
    for _ in 0..2_000 {
        round(ms(10), false);
        assert!(l.limit() <= 40, "{}", l.limit());
    }
    assert_eq!(l.limit(), 40);
    for _ in 0..2_000 {
        round(ms(100), true);
        assert!(l.limit() >= 3, "{}", l.limit());
    }
    assert_eq!(l.limit(), 3);
    let moves = recorder.lines();
    assert!(moves.iter().any(|m| m.ends_with("to: 40 }")), "{moves:?}");
    assert!(moves.iter().any(|m| m.ends_with("to: 3 }")), "{moves:?}");
    assert!(
        moves
            .iter()
            .all(|m| m.starts_with("search: ConcurrencyLimitChanged")),
        "{moves:?}"
    );
}

#[test]
fn the_gradient_limiter_starts_by_measuring_no_load() {
    let gradient = GradientConfig::new().with_min_rtt(secs(60), 2);
    let config = AdaptiveConfig::gradient(gradient)
        .with_limits(2, 100)
        .with_initial_limit(30);
    let (l, clock, recorder) = limiter(config);
    let snap = l.snapshot();
    assert!(snap.measuring_no_load);
    assert_eq!((snap.limit, snap.no_load_rtt), (2, None));
    for _ in 0..2 {
        let p = l.try_acquire().unwrap();
        clock.advance(ms(8));
        p.success();
    }
    let snap = l.snapshot();
    assert!(!snap.measuring_no_load);
    assert_eq!((snap.limit, snap.no_load_rtt), (30, Some(ms(8))));
    assert_eq!(
        recorder.lines(),
        ["search: ConcurrencyLimitChanged { from: 2, to: 30 }"]
    );
}

#[derive(Debug, Clone)]
enum Step {
    Acquire,
    Success(usize),
    Dropped(usize),
    Forget(usize),
    Wait(u64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => Just(Step::Acquire),
        3 => any::<usize>().prop_map(Step::Success),
        1 => any::<usize>().prop_map(Step::Dropped),
        1 => any::<usize>().prop_map(Step::Forget),
        2 => (0u64..300).prop_map(Step::Wait),
    ]
}

fn algorithm() -> impl Strategy<Value = Algorithm> {
    prop_oneof![
        Just(Algorithm::Aimd(
            AimdConfig::new().with_latency_threshold(ms(50))
        )),
        Just(Algorithm::Gradient(
            GradientConfig::new()
                .with_window(ms(20))
                .with_min_window_samples(2)
                .with_min_rtt(ms(500), 3)
        )),
    ]
}

proptest! {
    /// Whatever the outcomes and timings, the limit stays within its bounds, in-flight
    /// never passes the limit in force when a permit was issued, and every slot comes
    /// back.
    #[test]
    fn bounds_hold(
        algorithm in algorithm(),
        (min, max) in (1u32..8).prop_flat_map(|min| (Just(min), min..40)),
        steps in prop::collection::vec(step(), 1..400),
    ) {
        let config = AdaptiveConfig::new(algorithm).with_limits(min, max).with_initial_limit(min);
        let (l, clock, _) = limiter(config);
        let mut held = Vec::new();
        for s in steps {
            match s {
                Step::Acquire => {
                    let limit = l.limit();
                    if let Ok(p) = l.try_acquire() {
                        prop_assert!(l.in_flight() <= u64::from(limit));
                        held.push(p);
                    } else {
                        prop_assert!(l.in_flight() >= u64::from(limit));
                    }
                }
                Step::Success(i) if !held.is_empty() => held.swap_remove(i % held.len()).success(),
                Step::Dropped(i) if !held.is_empty() => held.swap_remove(i % held.len()).dropped(),
                Step::Forget(i) if !held.is_empty() => drop(held.swap_remove(i % held.len())),
                Step::Wait(n) => clock.advance(Duration::from_millis(n)),
                _ => {}
            }
            prop_assert!((min..=max).contains(&l.limit()), "{} outside {min}..={max}", l.limit());
        }
        drop(held);
        prop_assert_eq!(l.in_flight(), 0);
    }
}

fn field(c: AdaptiveConfig) -> Result<(), String> {
    c.validate().map_err(|e| e.field().to_owned())
}

fn ac(f: &str) -> Result<(), String> {
    Err(format!("adaptive_concurrency.{f}"))
}

#[test]
fn bad_configuration_names_the_field() {
    let base = aimd(1, 10, 5);
    assert_eq!(field(base), Ok(()));
    assert_eq!(field(AdaptiveConfig::default()), Ok(()));
    assert_eq!(field(base.with_limits(0, 10)), ac("min_limit"));
    assert_eq!(
        field(base.with_limits(6, 5).with_initial_limit(6)),
        ac("max_limit")
    );
    assert_eq!(field(base.with_limits(1, MAX_LIMIT + 1)), ac("max_limit"));
    assert_eq!(field(base.with_initial_limit(0)), ac("initial_limit"));
    assert_eq!(field(base.with_initial_limit(11)), ac("initial_limit"));

    let a = AimdConfig::new();
    let with_aimd = |a: AimdConfig| field(AdaptiveConfig::aimd(a));
    assert_eq!(
        with_aimd(a.with_latency_threshold(ms(0))),
        ac("algorithm.latency_threshold")
    );
    for bad in [0.0, 1.0, -0.5, f64::NAN] {
        assert_eq!(
            with_aimd(a.with_backoff_ratio(bad)),
            ac("algorithm.backoff_ratio")
        );
    }
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert_eq!(with_aimd(a.with_increase(bad)), ac("algorithm.increase"));
    }

    let g = GradientConfig::new();
    let with_gradient = |g: GradientConfig| field(AdaptiveConfig::gradient(g));
    assert_eq!(with_gradient(g.with_window(ms(0))), ac("algorithm.window"));
    assert_eq!(
        with_gradient(g.with_min_window_samples(0)),
        ac("algorithm.min_window_samples")
    );
    for bad in [0.9, 10.5, f64::NAN] {
        assert_eq!(
            with_gradient(g.with_tolerance(bad)),
            ac("algorithm.tolerance")
        );
    }
    for bad in [0.0, 1.1, f64::NAN] {
        assert_eq!(
            with_gradient(g.with_smoothing(bad)),
            ac("algorithm.smoothing")
        );
    }
    assert_eq!(
        with_gradient(g.with_backoff_ratio(1.0)),
        ac("algorithm.backoff_ratio")
    );
    assert_eq!(
        with_gradient(g.with_min_rtt(ms(0), 5)),
        ac("algorithm.min_rtt_every")
    );
    assert_eq!(
        with_gradient(g.with_min_rtt(secs(1), 0)),
        ac("algorithm.min_rtt_samples")
    );

    assert!(AdaptiveLimiter::new("x", base.with_initial_limit(0)).is_err());
}

#[test]
fn configuration_files_round_trip() {
    let text = r#"
        initial_limit = 10
        min_limit = 2
        max_limit = 200
        algorithm = { kind = "aimd", latency_threshold = "250ms" }
    "#;
    let c: AdaptiveConfig = toml::from_str(text).unwrap();
    assert_eq!((c.initial_limit, c.min_limit, c.max_limit), (10, 2, 200));
    assert_eq!(
        c.algorithm,
        Algorithm::Aimd(AimdConfig::new().with_latency_threshold(ms(250)))
    );
    assert_eq!(
        toml::from_str::<AdaptiveConfig>(&toml::to_string(&c).unwrap()).unwrap(),
        c
    );

    let g: AdaptiveConfig =
        toml::from_str("algorithm = { kind = \"gradient\", min_rtt_every = \"30s\" }").unwrap();
    assert_eq!(
        g.algorithm,
        Algorithm::Gradient(GradientConfig::new().with_min_rtt(secs(30), 25))
    );
    assert_eq!(
        toml::from_str::<AdaptiveConfig>("").unwrap(),
        AdaptiveConfig::default()
    );
    assert!(toml::from_str::<AdaptiveConfig>("algorithm = { kind = \"vegas\" }").is_err());
    assert!(
        toml::from_str::<AdaptiveConfig>("algorithm = { kind = \"aimd\", window = \"1s\" }")
            .is_err()
    );
    assert!(toml::from_str::<AdaptiveConfig>("max = 3").is_err());
}
