//! Fault injection: rates within three sigma, seeds that replay, schedules that fire
//! exactly when stated under paused time, runtime switches, the `CHAOS_*` variables,
//! substitutes, behaviors, events and configuration errors. Nothing sleeps in real time.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use rampart::chaos::{Chaos, ChaosConfig, Fault, FaultAction, FaultInjector, Schedule};
use rampart::clock::{Clock, ManualClock};
use rampart::event::Recorder;
use rampart::{Error, RejectionKind};
use tokio::time::{advance, Instant};

const S: Duration = Duration::from_secs(1);
const MS: Duration = Duration::from_millis(1);

fn injector(config: ChaosConfig) -> FaultInjector {
    FaultInjector::new("svc", &config).expect("valid config")
}

fn manual(config: ChaosConfig) -> (FaultInjector, ManualClock) {
    let clock = ManualClock::new();
    let i = FaultInjector::with_clock("svc", &config, Arc::new(clock.clone())).expect("valid");
    (i, clock)
}

fn decisions(i: &FaultInjector, n: usize) -> Vec<Fault> {
    (0..n).map(|_| i.decide()).collect()
}

#[test]
fn rate_0_1_over_10_000_calls_is_within_three_sigma() {
    // sigma = sqrt(n p (1 - p)) = 30 for the failures and the latencies; the two
    // streams are independent, so both hit about n p^2 = 100 calls (sigma 9.95).
    for seed in 0..16 {
        let i = injector(
            ChaosConfig::enabled()
                .with_seed(seed)
                .with_failure_rate(0.1)
                .with_latency(S, 0.1),
        );
        let faults = decisions(&i, 10_000);
        let failed = faults.iter().filter(|f| f.is_fail()).count() as i64;
        let delayed = faults.iter().filter(|f| f.latency.is_some()).count() as i64;
        let both = faults
            .iter()
            .filter(|f| f.is_fail() && f.latency.is_some())
            .count() as i64;
        assert!(
            (failed - 1_000).abs() <= 90,
            "seed {seed}: {failed} failures"
        );
        assert!(
            (delayed - 1_000).abs() <= 90,
            "seed {seed}: {delayed} delays"
        );
        assert!((both - 100).abs() <= 30, "seed {seed}: {both} both");
        assert_eq!(i.calls(), 10_000);
        assert_eq!(i.injected() as i64, failed + delayed - both);
    }
}

#[test]
fn rates_of_zero_and_one_are_exact() {
    let never = injector(ChaosConfig::enabled().with_failure_rate(0.0).with_seed(1));
    assert!(decisions(&never, 10_000).iter().all(Fault::is_none));
    let always = injector(ChaosConfig::enabled().with_failure_rate(1.0).with_seed(1));
    assert!(decisions(&always, 10_000).iter().all(Fault::is_fail));
}

#[test]
fn the_same_seed_replays_the_same_faults() {
    let config = |seed| {
        ChaosConfig::enabled()
            .with_seed(seed)
            .with_failure_rate(0.3)
            .with_latency(MS * 250, 0.2)
            .with_substitute_rate(0.2)
    };
    let a = decisions(&injector(config(42)), 2_000);
    let b = decisions(&injector(config(42)), 2_000);
    let c = decisions(&injector(config(43)), 2_000);
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert!(a.iter().any(Fault::is_substitute));
    // A random seed is reported, and replays the run.
    let random = injector(config(0).clone_without_seed());
    let first = decisions(&random, 500);
    assert_eq!(decisions(&injector(config(random.seed())), 500), first);
}

trait WithoutSeed {
    fn clone_without_seed(self) -> Self;
}

impl WithoutSeed for ChaosConfig {
    fn clone_without_seed(mut self) -> Self {
        self.seed = None;
        self
    }
}

#[test]
fn two_threads_get_the_same_faults_as_one() {
    let config = ChaosConfig::enabled().with_seed(9).with_failure_rate(0.25);
    let alone = decisions(&injector(config.clone()), 20_000)
        .iter()
        .filter(|f| f.is_fail())
        .count();
    let shared = injector(config);
    let counts: Vec<usize> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let i = shared.clone();
                s.spawn(move || decisions(&i, 10_000).iter().filter(|f| f.is_fail()).count())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(counts.iter().sum::<usize>(), alone);
    assert_eq!(shared.calls(), 20_000);
}

#[test]
fn the_first_three_calls_fail_and_no_other() {
    let i = injector(ChaosConfig::enabled().with_schedule(Schedule::fail_first(3)));
    let actions: Vec<FaultAction> = decisions(&i, 6).iter().map(|f| f.action).collect();
    use FaultAction::{Fail, Run};
    assert_eq!(actions, [Fail, Fail, Fail, Run, Run, Run]);
}

#[test]
fn calls_n_to_m_fail() {
    let i = injector(ChaosConfig::enabled().with_schedule(Schedule::fail_calls(3, 5)));
    let failed: Vec<usize> = decisions(&i, 8)
        .iter()
        .enumerate()
        .filter(|(_, f)| f.is_fail())
        .map(|(n, _)| n + 1)
        .collect();
    assert_eq!(failed, [3, 4, 5]);
}

proptest! {
    #[test]
    fn call_windows_cover_exactly_their_calls(from in 1u64..40, len in 0u64..40, extra in 0u64..40) {
        let to = from + len;
        let i = injector(ChaosConfig::enabled().with_schedule(Schedule::fail_calls(from, to)));
        for call in 1..=to + extra {
            prop_assert_eq!(i.decide().is_fail(), (from..=to).contains(&call), "call {}", call);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn latency_fires_from_30_s_until_just_before_60_s() {
    let i = injector(
        ChaosConfig::enabled().with_schedule(Schedule::latency_between(2 * S, 30 * S, 60 * S)),
    );
    advance(30 * S - MS).await;
    assert_eq!(i.decide(), Fault::NONE, "t = 29.999 s");
    advance(MS).await;
    assert_eq!(i.decide().latency, Some(2 * S), "t = 30 s");
    advance(30 * S - MS).await;
    assert_eq!(i.decide().latency, Some(2 * S), "t = 59.999 s");
    advance(MS).await;
    assert_eq!(i.decide(), Fault::NONE, "t = 60 s");
}

#[tokio::test(start_paused = true)]
async fn a_call_waits_the_injected_latency_on_tokio_time() {
    let i = injector(
        ChaosConfig::enabled().with_schedule(Schedule::latency_between(2 * S, 30 * S, 60 * S)),
    );
    advance(30 * S).await;
    let start = Instant::now();
    assert_eq!(i.call(|| async { Ok::<_, ()>(1) }).await, Ok(1));
    assert_eq!(start.elapsed(), 2 * S);
    // A timeout outside the injector cuts the wait short: the operation never runs.
    let ran = AtomicU64::new(0);
    let start = Instant::now();
    let cut = tokio::time::timeout(
        S,
        i.call(|| async {
            ran.fetch_add(1, Ordering::SeqCst);
            Ok::<_, ()>(1)
        }),
    )
    .await;
    assert!(cut.is_err());
    assert_eq!(start.elapsed(), S);
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn every_call_fails_between_a_and_b() {
    let i = injector(ChaosConfig::enabled().with_schedule(Schedule::fail_between(10 * S, 20 * S)));
    assert!(!i.decide().is_fail());
    advance(10 * S).await;
    let err = i.call(|| async { Ok::<_, ()>(()) }).await.unwrap_err();
    let rejection = err.rejection().expect("a rejection");
    assert_eq!(rejection.kind(), RejectionKind::Injected);
    assert_eq!(rejection.policy(), "chaos");
    assert_eq!(rejection.name(), "svc");
    advance(10 * S - Duration::from_nanos(1)).await;
    assert!(i.decide().is_fail());
    advance(Duration::from_nanos(1)).await;
    assert!(!i.decide().is_fail());
}

#[test]
fn schedules_follow_a_manual_clock_and_restart_rearms_them() {
    let (i, clock) = manual(
        ChaosConfig::enabled()
            .with_schedule(Schedule::fail_first(1))
            .with_schedule(Schedule::latency_between(2 * S, 30 * S, 60 * S)),
    );
    assert!(i.decide().is_fail());
    assert!(i.decide().is_none());
    clock.advance(45 * S);
    // The blocking call sleeps on the injector's clock, which a manual clock advances.
    assert_eq!(i.call_blocking(|| Ok::<_, ()>(7)), Ok(7));
    assert_eq!(clock.now_nanos(), 47_000_000_000);
    i.restart();
    assert_eq!(i.calls(), 0);
    assert!(i.decide().is_fail(), "call 1 again");
    assert!(i.decide().is_none(), "t = 0 again: no latency");
    clock.advance(30 * S);
    assert_eq!(i.decide().latency, Some(2 * S));
}

#[test]
fn scheduled_and_random_latencies_add_up() {
    let (i, _) = manual(
        ChaosConfig::enabled()
            .with_latency(S, 1.0)
            .with_schedule(Schedule::latency_first(2 * S, 1)),
    );
    assert_eq!(i.decide().latency, Some(3 * S));
    assert_eq!(i.decide().latency, Some(S));
}

#[test]
fn a_disabled_injector_never_injects_nor_counts() {
    let recorder = Recorder::new();
    let (i, clock) = manual(
        ChaosConfig::disabled()
            .with_failure_rate(1.0)
            .with_latency(S, 1.0)
            .with_substitute_rate(1.0)
            .with_schedule(Schedule::fail_first(100))
            .with_schedule(Schedule::fail_between(Duration::ZERO, 100 * S)),
    );
    let i = i.with_listener(Arc::new(recorder.clone()));
    for _ in 0..10_000 {
        assert_eq!(i.decide(), Fault::NONE);
    }
    assert_eq!(i.call_blocking(|| Ok::<_, ()>(1)), Ok(1));
    assert_eq!((i.calls(), i.injected()), (0, 0));
    assert_eq!(clock.now_nanos(), 0);
    assert!(recorder.lines().is_empty());
    assert!(!ChaosConfig::default().enabled);
}

#[test]
fn switches_and_rates_change_at_run_time_for_every_clone() {
    let i = injector(ChaosConfig::disabled().with_seed(3));
    let clone = i.clone();
    clone.set_failure_rate(1.0).unwrap();
    assert!(i.decide().is_none());
    clone.set_enabled(true);
    assert!(i.is_enabled());
    assert!(i.decide().is_fail());
    assert_eq!(i.calls(), 1);
    i.set_failure_rate(0.0).unwrap();
    assert!(clone.decide().is_none());
    i.set_latency(Some(MS * 5)).unwrap();
    i.set_latency_rate(1.0).unwrap();
    assert_eq!(clone.decide().latency, Some(MS * 5));
    i.set_latency(None).unwrap();
    i.set_substitute_rate(1.0).unwrap();
    assert!(clone.decide().is_substitute());
    assert_eq!(clone.substitute_rate(), 1.0);
    // Bad values are refused, naming the field, and change nothing.
    let e = i.set_failure_rate(1.5).unwrap_err();
    assert_eq!(e.field(), "chaos.failure_rate");
    assert_eq!(i.failure_rate(), 0.0);
    assert_eq!(
        i.set_latency_rate(f64::NAN).unwrap_err().field(),
        "chaos.latency_rate"
    );
    assert_eq!(
        i.set_latency(Some(Duration::ZERO)).unwrap_err().field(),
        "chaos.latency"
    );
    assert_eq!(
        i.set_behavior_rate(-0.1).unwrap_err().field(),
        "chaos.behavior_rate"
    );
    assert_eq!(
        i.set_substitute_rate(2.0).unwrap_err().field(),
        "chaos.substitute_rate"
    );
    assert_eq!(i.latency(), None);
    clone.set_enabled(false);
    assert!(i.decide().is_none());
}

#[tokio::test]
async fn substitutes_replace_the_outcome_and_failing_wins() {
    let injector = injector(
        ChaosConfig::enabled()
            .with_schedule(Schedule::substitute_first(2))
            .with_schedule(Schedule::fail_calls(2, 2)),
    );
    let chaos: Chaos<&str, &str> = Chaos::new(injector.clone(), || Err("connection reset"));
    let op = || async { Ok("fresh") };
    assert_eq!(
        chaos.call(op).await,
        Err(Error::Operation("connection reset"))
    );
    assert!(
        chaos.call(op).await.unwrap_err().is_rejected(),
        "call 2 fails"
    );
    assert_eq!(chaos.call(op).await, Ok("fresh"));
    // Without a substitute, a substitute outcome runs the operation.
    injector.restart();
    assert_eq!(injector.call(op).await, Ok("fresh"));
    let with = injector
        .call_with_substitute(op, Some(|| Ok("stale")))
        .await;
    assert!(with.unwrap_err().is_rejected(), "call 2 fails");
    assert_eq!(chaos.call_blocking(|| Ok("fresh")), Ok("fresh"));
}

#[test]
fn a_behavior_runs_before_the_calls_it_picks() {
    let runs = Arc::new(AtomicU64::new(0));
    let seen = runs.clone();
    let i = injector(ChaosConfig::enabled().with_behavior_rate(1.0)).with_behavior(move || {
        seen.fetch_add(1, Ordering::SeqCst);
    });
    let f = i.decide();
    assert!(f.behavior);
    assert_eq!(f.action, FaultAction::Run);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    // A rate without a behavior injects nothing.
    let none = injector(ChaosConfig::enabled().with_behavior_rate(1.0));
    assert!(none.decide().is_none());
}

#[test]
fn injected_faults_are_reported_with_their_call_number() {
    let recorder = Recorder::new();
    let i = injector(ChaosConfig::enabled().with_schedule(Schedule::fail_calls(2, 3)))
        .with_listener(Arc::new(recorder.clone()));
    decisions(&i, 4);
    let lines = recorder.lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].starts_with("svc: FaultInjected { call: 2,"),
        "{lines:?}"
    );
    assert!(
        lines[1].contains("call: 3") && lines[1].contains("Fail"),
        "{lines:?}"
    );
}

fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

#[test]
fn the_environment_configures_injection_as_the_seeds_do() {
    let c = ChaosConfig::from_lookup(env(&[
        ("CHAOS_ENABLED", "true"),
        ("CHAOS_FAILURE_RATE", "0.1"),
        ("CHAOS_LATENCY_MS", "3000"),
    ]))
    .unwrap();
    assert!(c.enabled);
    assert_eq!(c.failure_rate, 0.1);
    assert_eq!(c.latency, Some(3 * S));
    assert_eq!(c.latency_rate, 1.0);
    assert!(c.validate().is_ok());
    // Unset, or empty: off.
    assert_eq!(
        ChaosConfig::from_lookup(env(&[])).unwrap(),
        ChaosConfig::default()
    );
    let empty = ChaosConfig::from_lookup(env(&[("CHAOS_ENABLED", ""), ("CHAOS_LATENCY_MS", " ")]));
    assert_eq!(empty.unwrap(), ChaosConfig::default());
    for (v, on) in [
        ("1", true),
        ("0", false),
        ("TRUE", true),
        (" false ", false),
    ] {
        let c = ChaosConfig::from_lookup(env(&[("CHAOS_ENABLED", v)])).unwrap();
        assert_eq!(c.enabled, on, "{v:?}");
    }
    // A rate alone does not switch injection on.
    let rate_only = ChaosConfig::from_lookup(env(&[("CHAOS_FAILURE_RATE", "0.5")])).unwrap();
    assert!(!rate_only.enabled);
    // Zero milliseconds: no latency.
    let zero = ChaosConfig::from_lookup(env(&[("CHAOS_LATENCY_MS", "0")])).unwrap();
    assert_eq!(zero.latency, None);
    // Laid over a file's settings.
    let file = ChaosConfig::enabled().with_latency(S, 0.25).with_seed(5);
    let over = file
        .apply_lookup(env(&[("CHAOS_FAILURE_RATE", "0.2")]))
        .unwrap();
    assert_eq!(
        (over.failure_rate, over.latency_rate, over.seed),
        (0.2, 0.25, Some(5))
    );
}

#[test]
fn bad_environment_values_name_the_variable() {
    for (name, value) in [
        ("CHAOS_ENABLED", "yes"),
        ("CHAOS_ENABLED", "2"),
        ("CHAOS_FAILURE_RATE", "ten"),
        ("CHAOS_FAILURE_RATE", "1.5"),
        ("CHAOS_FAILURE_RATE", "-0.1"),
        ("CHAOS_FAILURE_RATE", "NaN"),
        ("CHAOS_FAILURE_RATE", "inf"),
        ("CHAOS_LATENCY_MS", "-5"),
        ("CHAOS_LATENCY_MS", "1.5"),
        ("CHAOS_LATENCY_MS", "3s"),
        ("CHAOS_LATENCY_MS", "99999999999999999999999"),
    ] {
        let e = ChaosConfig::from_lookup(env(&[(name, value)])).unwrap_err();
        assert_eq!(e.field(), name, "{value:?}: {e}");
    }
}

#[test]
fn configuration_errors_name_the_field() {
    let field = |c: ChaosConfig| {
        let e = FaultInjector::new("svc", &c).unwrap_err();
        assert_eq!(c.validate().unwrap_err(), e);
        e.field().to_owned()
    };
    assert_eq!(
        field(ChaosConfig::enabled().with_failure_rate(1.5)),
        "chaos.failure_rate"
    );
    assert_eq!(
        field(ChaosConfig::enabled().with_latency(S, -0.1)),
        "chaos.latency_rate"
    );
    assert_eq!(
        field(ChaosConfig::enabled().with_latency(Duration::ZERO, 1.0)),
        "chaos.latency"
    );
    assert_eq!(
        field(ChaosConfig::enabled().with_substitute_rate(f64::NAN)),
        "chaos.substitute_rate"
    );
    assert_eq!(
        field(ChaosConfig::enabled().with_behavior_rate(f64::INFINITY)),
        "chaos.behavior_rate"
    );
    let bad_schedule = ChaosConfig::enabled()
        .with_schedule(Schedule::fail_first(3))
        .with_schedule(Schedule::fail_calls(5, 4));
    assert_eq!(field(bad_schedule), "chaos.schedule[1].to_call");
    let no_window = toml::from_str::<ChaosConfig>("schedule = [{ kind = \"error\" }]").unwrap();
    assert_eq!(field(no_window), "chaos.schedule[0]");
}

#[test]
fn a_configuration_file_reads_as_documented() {
    let c: ChaosConfig = toml::from_str(
        r#"
        enabled = true
        failure_rate = 0.1
        latency = "3s"
        latency_rate = 0.5
        substitute_rate = 0.01
        seed = 42
        schedule = [
            { kind = "error", first_calls = 3 },
            { kind = "error", from_call = 10, to_call = 12 },
            { kind = "latency", latency = "2s", from = "30s", until = "60s" },
            { kind = "error", from = "2m", until = "3m" },
            { kind = "substitute", from_call = 100 },
        ]
        "#,
    )
    .unwrap();
    let expected = ChaosConfig::enabled()
        .with_failure_rate(0.1)
        .with_latency(3 * S, 0.5)
        .with_substitute_rate(0.01)
        .with_seed(42)
        .with_schedule(Schedule::fail_first(3))
        .with_schedule(Schedule::fail_calls(10, 12))
        .with_schedule(Schedule::latency_between(2 * S, 30 * S, 60 * S))
        .with_schedule(Schedule::fail_between(120 * S, 180 * S));
    assert_eq!(c.schedule.len(), 5);
    assert_eq!(c.schedule[..4], expected.schedule[..]);
    assert_eq!(c.seed, expected.seed);
    assert_eq!(c.latency, expected.latency);
    assert!(c.validate().is_ok());
    // Round trip through TOML.
    let text = toml::to_string(&c).unwrap();
    assert_eq!(toml::from_str::<ChaosConfig>(&text).unwrap(), c);
    // Unknown keys, in the config and in a schedule, and wrong types are errors.
    assert!(toml::from_str::<ChaosConfig>("failure_rat = 0.1").is_err());
    assert!(toml::from_str::<ChaosConfig>("schedule = [{ kind = \"error\", first = 3 }]").is_err());
    assert!(
        toml::from_str::<ChaosConfig>("schedule = [{ kind = \"explode\", first_calls = 3 }]")
            .is_err()
    );
    assert!(toml::from_str::<ChaosConfig>("latency = \"-2s\"").is_err());
    assert!(toml::from_str::<ChaosConfig>("enabled = \"yes\"").is_err());
}

#[test]
fn deciding_and_calls_that_pass_allocate_nothing() {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};
    fn poll_once<F: Future>(f: F) -> Poll<F::Output> {
        pin!(f).poll(&mut Context::from_waker(Waker::noop()))
    }
    let off = injector(ChaosConfig::disabled().with_failure_rate(1.0));
    let on = injector(
        ChaosConfig::enabled()
            .with_seed(1)
            .with_failure_rate(0.1)
            .with_schedule(Schedule::fail_first(5)),
    );
    let _ = on.decide();
    let info = allocation_counter::measure(|| {
        for i in 0..1_000_u64 {
            assert!(off.decide().is_none());
            let _ = on.decide();
            let out = poll_once(off.call(move || async move { Ok::<_, ()>(i) }));
            assert_eq!(out, Poll::Ready(Ok(i)));
        }
    });
    assert_eq!(info.count_total, 0);
}
