//! The health registry: liveness touches no dependency, readiness times out, caches and
//! runs each check once for concurrent probes, the report reads every policy.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rampart::adaptive::{AdaptiveConfig, AdaptiveLimiter};
use rampart::bulkhead::{BlockingBulkhead, BlockingBulkheadConfig, Bulkhead, BulkheadConfig};
use rampart::circuit::keyed::KeyedBreakers;
use rampart::circuit::{BreakerConfig, BreakerState, CircuitBreaker};
use rampart::flags::Flags;
use rampart::health::{
    Check, DependenciesReport, HealthConfig, HealthRegistry, PolicySource, PolicyState, Probe,
    ProbeReport, Status,
};
use rampart::keyed::KeyedConfig;
use rampart::rate_limit::{
    KeyedRateLimiter, RateLimitConfig, RateLimiter, SlidingWindowConfig, SlidingWindowLimiter,
};
use rampart::shed::{LoadShedder, ShedConfig, WorkQueue, WorkQueueConfig};
use tokio::time::{advance, sleep, Instant};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A check that counts its runs, sleeps `delay`, then answers `ok`.
fn counted(name: &str, runs: &Arc<AtomicU32>, delay: Duration, ok: bool) -> Check {
    let runs = Arc::clone(runs);
    Check::new(name, move || {
        runs.fetch_add(1, Ordering::SeqCst);
        async move {
            sleep(delay).await;
            if ok {
                Ok(())
            } else {
                Err("connection refused")
            }
        }
    })
}

/// A policy source that counts how often it is read.
struct CountedSource(Arc<AtomicU32>, CircuitBreaker);

impl PolicySource for CountedSource {
    fn policy_state(&self) -> PolicyState {
        self.0.fetch_add(1, Ordering::SeqCst);
        self.1.policy_state()
    }
}

async fn open_breaker(name: &str) -> CircuitBreaker {
    let b = CircuitBreaker::new(name, BreakerConfig::consecutive(1)).unwrap();
    let _ = b.call(|| async { Err::<(), _>("boom") }).await;
    assert_eq!(b.state(), BreakerState::Open);
    b
}

#[tokio::test(start_paused = true)]
async fn liveness_stays_up_with_every_breaker_open_and_calls_no_dependency() {
    let health = HealthRegistry::new();
    let (ready_runs, startup_runs, reads) = (
        Arc::new(AtomicU32::new(0)),
        Arc::new(AtomicU32::new(0)),
        Arc::new(AtomicU32::new(0)),
    );
    health
        .add_readiness_check(counted("payment", &ready_runs, Duration::ZERO, false))
        .unwrap();
    health
        .add_startup_check(counted("migrations", &startup_runs, Duration::ZERO, true))
        .unwrap();
    let payment = open_breaker("payment").await;
    let inventory = CircuitBreaker::new("inventory", BreakerConfig::default()).unwrap();
    inventory.force_open();
    health.add_policy("payment", CountedSource(Arc::clone(&reads), payment));
    health.add_policy("inventory", CountedSource(Arc::clone(&reads), inventory));
    let event_loop = Arc::new(AtomicU32::new(0));
    let beats = Arc::clone(&event_loop);
    health
        .add_liveness_check("event_loop", move || {
            beats.fetch_add(1, Ordering::SeqCst);
            Ok::<(), String>(())
        })
        .unwrap();

    for _ in 0..100 {
        let live = health.liveness();
        assert_eq!(live.probe, Probe::Liveness);
        assert_eq!(live.status, Status::Up);
        assert_eq!(live.http_status(), 200);
        advance(Duration::from_millis(100)).await;
    }
    assert_eq!(
        ready_runs.load(Ordering::SeqCst),
        0,
        "a readiness check ran"
    );
    assert_eq!(
        startup_runs.load(Ordering::SeqCst),
        0,
        "a startup check ran"
    );
    assert_eq!(reads.load(Ordering::SeqCst), 0, "a policy was read");
    assert_eq!(event_loop.load(Ordering::SeqCst), 100);

    // Readiness, by contrast, does see the failing dependency.
    let ready = health.readiness().await;
    assert_eq!((ready.status, ready.http_status()), (Status::Down, 503));
    assert_eq!(ready_runs.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_failing_liveness_check_takes_liveness_down() {
    let health = HealthRegistry::new();
    health
        .add_liveness_check("deadlock", || Err("worker stuck for 30s"))
        .unwrap();
    let live = health.liveness();
    assert_eq!((live.status, live.http_status()), (Status::Down, 503));
    assert_eq!(
        live.check("deadlock").and_then(|c| c.error.as_deref()),
        Some("worker stuck for 30s")
    );
}

#[tokio::test(start_paused = true)]
async fn a_slow_dependency_is_not_ready_within_its_timeout() {
    let health = HealthRegistry::new();
    let runs = Arc::new(AtomicU32::new(0));
    health
        .add_readiness_check(counted("external_api", &runs, secs(30), true))
        .unwrap();
    let start = Instant::now();
    let ready = health.readiness().await;
    assert_eq!(start.elapsed(), secs(2), "the default check timeout");
    assert_eq!((ready.status, ready.http_status()), (Status::Down, 503));
    let check = ready.check("external_api").unwrap();
    assert_eq!(check.status, Status::Down);
    assert_eq!(check.error.as_deref(), Some("timed out after 2s"));
    assert_eq!(check.duration_ms, 2000);

    // A check's own timeout wins over the registry's.
    let health = HealthRegistry::new();
    health
        .add_readiness_check(
            counted("db", &runs, secs(30), true).with_timeout(Duration::from_millis(500)),
        )
        .unwrap();
    let start = Instant::now();
    let ready = health.readiness().await;
    assert_eq!(start.elapsed(), Duration::from_millis(500));
    assert_eq!(
        ready.check("db").and_then(|c| c.error.as_deref()),
        Some("timed out after 500ms")
    );
}

#[tokio::test(start_paused = true)]
async fn results_are_reused_within_the_cache_interval_and_refreshed_after() {
    let health = HealthRegistry::new();
    let runs = Arc::new(AtomicU32::new(0));
    health
        .add_readiness_check(counted("database", &runs, Duration::from_millis(10), true))
        .unwrap();
    let first = health.readiness().await;
    assert_eq!(first.status, Status::Up);
    assert_eq!(first.check("database").unwrap().age_ms, 0);
    assert_eq!(runs.load(Ordering::SeqCst), 1);

    advance(Duration::from_millis(4_990)).await;
    let cached = health.readiness().await;
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "reused within 5 s of the end of the run"
    );
    assert_eq!(cached.check("database").unwrap().age_ms, 4_990);

    advance(Duration::from_millis(10)).await;
    let fresh = health.readiness().await;
    assert_eq!(runs.load(Ordering::SeqCst), 2, "run again once 5 s old");
    assert_eq!(fresh.check("database").unwrap().age_ms, 0);

    // A registry-wide and a per-check interval.
    let health = HealthRegistry::with_config(HealthConfig::new().with_cache_ttl(secs(1))).unwrap();
    let (a, b) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    health
        .add_readiness_check(counted("a", &a, Duration::ZERO, true))
        .unwrap();
    health
        .add_readiness_check(counted("b", &b, Duration::ZERO, true).with_cache_ttl(secs(10)))
        .unwrap();
    for _ in 0..5 {
        health.readiness().await;
        advance(secs(1)).await;
    }
    assert_eq!((a.load(Ordering::SeqCst), b.load(Ordering::SeqCst)), (5, 1));
}

#[tokio::test(start_paused = true)]
async fn a_failure_is_cached_too() {
    let health = HealthRegistry::new();
    let runs = Arc::new(AtomicU32::new(0));
    health
        .add_readiness_check(counted("cache", &runs, Duration::ZERO, false))
        .unwrap();
    for _ in 0..10 {
        assert_eq!(health.readiness().await.status, Status::Down);
    }
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "probes must not stampede a failing dependency"
    );
}

#[tokio::test(start_paused = true)]
async fn concurrent_probes_run_a_check_once() {
    let health = HealthRegistry::new();
    let runs = Arc::new(AtomicU32::new(0));
    health
        .add_readiness_check(counted("database", &runs, secs(1), true))
        .unwrap();
    let start = Instant::now();
    let mut probes = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let h = health.clone();
        probes.spawn(async move { h.readiness().await });
    }
    let reports = probes.join_all().await;
    assert_eq!(start.elapsed(), secs(1));
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert!(reports.iter().all(|r| r.status == Status::Up));
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_leading_probe_hands_the_run_to_a_waiting_one() {
    let health = HealthRegistry::new();
    let runs = Arc::new(AtomicU32::new(0));
    health
        .add_readiness_check(counted("database", &runs, secs(1), true))
        .unwrap();
    let start = Instant::now();
    let leader = tokio::time::timeout(Duration::from_millis(300), health.readiness());
    let follower = async {
        sleep(Duration::from_millis(100)).await;
        health.readiness().await
    };
    let (cut, report) = tokio::join!(leader, follower);
    assert!(cut.is_err(), "the leading probe was cut at 300 ms");
    assert_eq!(report.status, Status::Up);
    assert_eq!(
        runs.load(Ordering::SeqCst),
        2,
        "the waiting probe started a new run"
    );
    assert_eq!(start.elapsed(), Duration::from_millis(1_300));
    // And the run it finished is cached.
    health.readiness().await;
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn checks_run_concurrently() {
    let health = HealthRegistry::new();
    let runs = Arc::new(AtomicU32::new(0));
    health
        .add_readiness_check(counted("database", &runs, secs(1), true))
        .unwrap();
    health
        .add_readiness_check(counted("cache", &runs, secs(1), true))
        .unwrap();
    health
        .add_readiness_check(counted("search", &runs, Duration::from_millis(1_500), true))
        .unwrap();
    let start = Instant::now();
    let ready = health.readiness().await;
    assert_eq!(start.elapsed(), Duration::from_millis(1_500));
    assert_eq!(ready.checks.len(), 3);
    assert_eq!(ready.status, Status::Up);
    let names: Vec<&str> = ready.checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["database", "cache", "search"], "registration order");
}

#[tokio::test(start_paused = true)]
async fn an_optional_failure_degrades_and_a_critical_one_takes_readiness_down() {
    let health = HealthRegistry::new();
    let runs = Arc::new(AtomicU32::new(0));
    health
        .add_readiness_check(counted("database", &runs, Duration::ZERO, true))
        .unwrap();
    health
        .add_readiness_check(counted("recommendations", &runs, Duration::ZERO, false).optional())
        .unwrap();
    let ready = health.readiness().await;
    assert_eq!((ready.status, ready.http_status()), (Status::Degraded, 200));
    let recs = ready.check("recommendations").unwrap();
    assert_eq!((recs.status, recs.critical), (Status::Down, false));
    assert_eq!(recs.error.as_deref(), Some("connection refused"));

    health
        .add_readiness_check(counted("payment", &runs, Duration::ZERO, false))
        .unwrap();
    let ready = health.readiness().await;
    assert_eq!((ready.status, ready.http_status()), (Status::Down, 503));
}

#[tokio::test(start_paused = true)]
async fn startup_waits_for_its_checks_and_then_never_runs_them_again() {
    let health = HealthRegistry::with_config(HealthConfig::new().with_cache_ttl(secs(1))).unwrap();
    let runs = Arc::new(AtomicU32::new(0));
    let warm = Arc::new(AtomicU32::new(0));
    let (counter, warmed) = (Arc::clone(&runs), Arc::clone(&warm));
    health
        .add_startup_check(Check::new("cache_warm", move || {
            counter.fetch_add(1, Ordering::SeqCst);
            let done = warmed.load(Ordering::SeqCst) > 0;
            async move {
                if done {
                    Ok(())
                } else {
                    Err("warming")
                }
            }
        }))
        .unwrap();
    let ready_runs = Arc::new(AtomicU32::new(0));
    health
        .add_readiness_check(counted("database", &ready_runs, Duration::ZERO, true))
        .unwrap();
    assert!(!health.is_started());

    let startup = health.startup().await;
    assert_eq!(
        (startup.status, startup.http_status(), startup.started),
        (Status::Down, 503, false)
    );
    let ready = health.readiness().await;
    assert_eq!((ready.status, ready.started), (Status::Down, false));
    assert_eq!(
        ready_runs.load(Ordering::SeqCst),
        0,
        "no dependency check before startup"
    );
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "the failure is cached like any other"
    );
    assert_eq!(
        health.liveness().status,
        Status::Up,
        "liveness does not wait for startup"
    );

    warm.store(1, Ordering::SeqCst);
    advance(secs(1)).await;
    let startup = health.startup().await;
    assert_eq!((startup.status, startup.started), (Status::Up, true));
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    assert!(health.is_started());

    for _ in 0..5 {
        advance(secs(10)).await;
        assert_eq!(health.startup().await.status, Status::Up);
        assert_eq!(health.readiness().await.status, Status::Up);
    }
    assert_eq!(
        runs.load(Ordering::SeqCst),
        2,
        "a passed startup check never runs again"
    );
    let startup = health.startup().await;
    assert_eq!(startup.check("cache_warm").unwrap().status, Status::Up);
}

#[tokio::test(start_paused = true)]
async fn wait_for_start_needs_mark_started() {
    let health =
        HealthRegistry::with_config(HealthConfig::new().with_wait_for_start(true)).unwrap();
    assert_eq!(health.startup().await.status, Status::Down);
    assert_eq!(health.readiness().await.status, Status::Down);
    health.mark_started();
    assert_eq!(health.startup().await.status, Status::Up);
    assert_eq!(health.readiness().await.status, Status::Up);

    // Without the gate and without startup checks, it is started at once.
    let health = HealthRegistry::new();
    assert!(health.is_started());
    assert_eq!(health.startup().await.status, Status::Up);
}

#[tokio::test(start_paused = true)]
async fn the_report_lists_every_registered_policy() {
    let health = HealthRegistry::new();
    let payment = open_breaker("payment").await;
    let closed = CircuitBreaker::new("search", BreakerConfig::count_window(4, 0.5)).unwrap();
    for ok in [true, false, true, true] {
        let _ = closed
            .call(|| async move {
                if ok {
                    Ok(())
                } else {
                    Err("e")
                }
            })
            .await;
    }
    let tenants: KeyedBreakers<String> =
        KeyedBreakers::new("tenant", BreakerConfig::consecutive(1), KeyedConfig::new()).unwrap();
    let (b, p) = tenants.try_acquire(&"acme".to_owned()).unwrap();
    b.record(p, rampart::classify::OutcomeClass::Failure);
    tenants
        .try_acquire(&"globex".to_owned())
        .map(|(_, p)| drop(p))
        .unwrap();
    let bulkhead = Bulkhead::new("payment", BulkheadConfig::new().with_max_concurrent(4)).unwrap();
    let _held = bulkhead.try_acquire().unwrap();
    let blocking = BlockingBulkhead::new("reports", BlockingBulkheadConfig::new()).unwrap();
    let limiter = RateLimiter::new("api", RateLimitConfig::per_second(10)).unwrap();
    limiter.check().unwrap();
    let keyed_limiter: KeyedRateLimiter<String> = KeyedRateLimiter::new(
        "per_user",
        RateLimitConfig::per_second(5),
        KeyedConfig::new(),
    )
    .unwrap();
    let window = SlidingWindowLimiter::new("login", SlidingWindowConfig::per_minute(100)).unwrap();
    let shedder = LoadShedder::new("frontend", ShedConfig::new(100)).unwrap();
    let queue = WorkQueue::new("jobs", WorkQueueConfig::new()).unwrap();
    let adaptive = AdaptiveLimiter::new("inventory", AdaptiveConfig::default()).unwrap();
    let flags = Flags::new();
    flags.define("recommendations", true).unwrap();
    flags.define("reviews", true).unwrap();
    flags.disable("recommendations").unwrap();

    health.add_policy("payment", payment.clone());
    health.add_policy("search", closed);
    health.add_policy("tenants", tenants);
    health.add_policy("payment", bulkhead);
    health.add_policy("reports", blocking);
    health.add_policy("api", limiter.clone());
    health.add_policy("per_user", keyed_limiter);
    health.add_policy("login", window);
    health.add_policy("frontend", shedder);
    health.add_policy("jobs", queue);
    health.add_policy("inventory", adaptive);
    health.set_flags(flags);

    let report = health.dependencies();
    let kinds: Vec<(&str, &str)> = report
        .policies
        .iter()
        .map(|p| (p.name.as_str(), p.state.kind()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("payment", "circuit_breaker"),
            ("search", "circuit_breaker"),
            ("tenants", "keyed_circuit_breakers"),
            ("payment", "bulkhead"),
            ("reports", "blocking_bulkhead"),
            ("api", "rate_limiter"),
            ("per_user", "keyed_rate_limiter"),
            ("login", "sliding_window_limiter"),
            ("frontend", "load_shedder"),
            ("jobs", "work_queue"),
            ("inventory", "adaptive_limiter"),
        ]
    );
    assert_eq!(report.status, Status::Degraded, "a breaker is open");
    assert_eq!(report.http_status(), 200, "never 503: not a probe");
    match &report.policies[0].state {
        PolicyState::CircuitBreaker(b) => {
            assert_eq!(b.state, "open");
            assert_eq!(b.time_until_half_open_ms, Some(30_000));
            assert_eq!(report.policies[0].status, Status::Down);
        }
        other => panic!("{other:?}"),
    }
    match &report.policies[1].state {
        PolicyState::CircuitBreaker(b) => {
            assert_eq!(
                (b.state.as_str(), b.calls_in_window, b.failures_in_window),
                ("closed", 4, 1)
            );
            assert_eq!(b.failure_rate, 0.25);
            assert_eq!(b.time_until_half_open_ms, None);
        }
        other => panic!("{other:?}"),
    }
    match &report.policies[2].state {
        PolicyState::KeyedCircuitBreakers(k) => {
            assert_eq!(k.keys, 2);
            let states: Vec<(&str, &str)> = k
                .breakers
                .iter()
                .map(|b| (b.key.as_str(), b.breaker.state.as_str()))
                .collect();
            assert_eq!(states, [("acme", "open"), ("globex", "closed")]);
            assert_eq!(report.policies[2].status, Status::Degraded);
        }
        other => panic!("{other:?}"),
    }
    match &report.policies[3].state {
        PolicyState::Bulkhead(b) => {
            assert_eq!((b.active, b.max_concurrent, b.utilisation), (1, 4, 0.25));
        }
        other => panic!("{other:?}"),
    }
    match &report.policies[5].state {
        PolicyState::RateLimiter(r) => {
            assert_eq!((r.available, r.burst), (9, 10));
            assert!((r.utilisation - 0.1).abs() < 1e-9);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(report.flag("recommendations"), Some(false));
    assert_eq!(report.flag("reviews"), Some(true));

    // Reading changed nothing: past the open period the breaker is still open (only a
    // call moves it to half-open), and the limiter's tokens are as they were.
    advance(secs(31)).await;
    for _ in 0..10 {
        health.dependencies();
    }
    assert_eq!(payment.state(), BreakerState::Open);
    let report = health.dependencies();
    match &report.policies[0].state {
        PolicyState::CircuitBreaker(b) => assert_eq!(b.time_until_half_open_ms, Some(0)),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        limiter.snapshot().available,
        10,
        "refilled, none taken by reading"
    );
}

#[tokio::test(start_paused = true)]
async fn reports_round_trip_through_json() {
    let health = HealthRegistry::new();
    let runs = Arc::new(AtomicU32::new(0));
    health
        .add_readiness_check(counted("database", &runs, Duration::ZERO, true))
        .unwrap();
    health
        .add_readiness_check(counted("recommendations", &runs, secs(5), true).optional())
        .unwrap();
    health.add_policy("payment", open_breaker("payment").await);
    health.add_policy(
        "payment",
        Bulkhead::new("payment", BulkheadConfig::new().with_max_concurrent(10)).unwrap(),
    );
    let flags = Flags::new();
    flags.define("reviews", false).unwrap();
    health.set_flags(flags);
    advance(secs(120)).await;

    let ready = health.readiness().await;
    let json = ready.to_json();
    let back: ProbeReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back, ready);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["probe"], "readiness");
    assert_eq!(v["status"], "degraded");
    assert_eq!(v["uptime_ms"], 122_000);
    assert_eq!(v["checks"][0]["name"], "database");
    assert_eq!(v["checks"][0]["status"], "up");
    assert!(v["checks"][0].get("error").is_none());
    assert_eq!(v["checks"][1]["error"], "timed out after 2s");
    assert_eq!(v["checks"][1]["critical"], false);

    let live = health.liveness().to_json();
    assert_eq!(
        live,
        r#"{"probe":"liveness","status":"up","started":true,"uptime_ms":122000}"#
    );

    let deps = health.dependencies();
    let json = deps.to_json();
    let back: DependenciesReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back, deps);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["status"], "degraded");
    assert_eq!(v["policies"][0]["kind"], "circuit_breaker");
    assert_eq!(v["policies"][0]["state"], "open");
    assert_eq!(v["policies"][0]["status"], "down");
    assert_eq!(v["policies"][0]["time_until_half_open_ms"], 0);
    assert_eq!(v["policies"][1]["kind"], "bulkhead");
    assert_eq!(v["policies"][1]["max_concurrent"], 10);
    assert_eq!(v["flags"][0]["name"], "reviews");
    assert_eq!(v["flags"][0]["enabled"], false);
}

#[test]
fn bad_registrations_are_config_errors() {
    let health = HealthRegistry::new();
    let ok = || Check::new("db", || async { Ok::<(), String>(()) });
    health.add_readiness_check(ok()).unwrap();
    let e = health.add_readiness_check(ok()).unwrap_err();
    assert_eq!(e.field(), "health.readiness.db");
    health.add_startup_check(ok()).unwrap();
    let e = health
        .add_readiness_check(
            Check::new("slow", || async { Ok::<(), String>(()) }).with_timeout(Duration::ZERO),
        )
        .unwrap_err();
    assert_eq!(e.field(), "health.readiness.slow.timeout");
    let e = health
        .add_readiness_check(Check::new("", || async { Ok::<(), String>(()) }))
        .unwrap_err();
    assert_eq!(e.field(), "health.readiness");
    health
        .add_liveness_check("loop", || Ok::<(), String>(()))
        .unwrap();
    assert!(health
        .add_liveness_check("loop", || Ok::<(), String>(()))
        .is_err());
    let e = HealthRegistry::with_config(HealthConfig::new().with_check_timeout(Duration::ZERO))
        .unwrap_err();
    assert_eq!(e.field(), "health.check_timeout");

    let config: HealthConfig =
        toml::from_str("cache_ttl = \"10s\"\ncheck_timeout = \"500ms\"").unwrap();
    assert_eq!(
        config,
        HealthConfig::new()
            .with_cache_ttl(secs(10))
            .with_check_timeout(Duration::from_millis(500))
    );
    assert!(toml::from_str::<HealthConfig>("cache_tl = \"10s\"").is_err());
}

#[tokio::test(start_paused = true)]
async fn a_registry_s_pipelines_and_flags_are_listed_by_dependency() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/shop.toml");
    let registry = rampart::registry::Registry::from_file(example).unwrap();
    registry.flags().define("recommendations", true).unwrap();
    let health = HealthRegistry::new();
    health.add_registry(&registry);
    let report = health.dependencies();
    // Each dependency of the shop has a breaker and a bulkhead.
    for name in ["inventory", "notification", "payment"] {
        let kinds: Vec<&str> = report
            .policies
            .iter()
            .filter(|p| p.name == name)
            .map(|p| p.state.kind())
            .collect();
        assert_eq!(kinds, ["circuit_breaker", "bulkhead"], "{name}");
    }
    assert_eq!(report.flags.len(), 1);
    // Liveness reads none of it.
    assert_eq!(health.liveness().status, Status::Up);
}
