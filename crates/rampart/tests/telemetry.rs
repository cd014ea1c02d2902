//! Telemetry: real policies under paused time report through the `tracing` and
//! `metrics` adapters; the tracing fields are captured and checked, and the Prometheus
//! text is checked by value and validated by a real parser (`promtool check metrics`
//! when it is on the PATH, the `prometheus-parse` crate always).
//!
//! Each test records into a Prometheus recorder of its own (tests run side by side in
//! one process); one test installs the global recorder, and only that one.

use std::collections::BTreeMap;
use std::fmt;
use std::future::{pending, Future};
use std::io::Write;
use std::pin::Pin;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use prometheus_parse::{Sample, Scrape, Value};
use rampart::bulkhead::BulkheadConfig;
use rampart::circuit::BreakerConfig;
use rampart::event::{CallOutcome, Event, EventKind, Listener, Recorder};
use rampart::fallback::{Fallback, FallbackChain};
use rampart::hedge::HedgeConfig;
use rampart::rate_limit::RateLimitConfig;
use rampart::retry::{Jitter, RetryConfig};
use rampart::shed::{with_priority, DropReason, Priority, ShedConfig};
use rampart::telemetry::{names, Fanout, MetricsListener, Prometheus, TracingListener};
use rampart::{Error, Pipeline, RejectionKind};
use tracing::field::{Field, Visit};
use tracing::{Level, Subscriber};
use tracing_subscriber::layer::{Context as LayerContext, SubscriberExt};
use tracing_subscriber::Layer;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

// ---------------------------------------------------------------- tracing capture

/// One captured `tracing` event: its level, target and fields as text.
#[derive(Debug, Clone)]
struct Captured {
    level: Level,
    target: String,
    fields: BTreeMap<String, String>,
}

impl Captured {
    fn get(&self, field: &str) -> &str {
        self.fields
            .get(field)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("no field {field} in {self:?}"))
    }
}

/// A layer that keeps every event it sees.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<Captured>>>);

impl Capture {
    fn all(&self) -> Vec<Captured> {
        self.0.lock().unwrap().clone()
    }

    /// The events named `event` for `service`.
    fn find(&self, service: &str, event: &str) -> Vec<Captured> {
        self.all()
            .into_iter()
            .filter(|c| {
                c.fields.get("service").map(String::as_str) == Some(service)
                    && c.fields.get("event").map(String::as_str) == Some(event)
            })
            .collect()
    }

    /// The one event named `event` for `service`.
    fn one(&self, service: &str, event: &str) -> Captured {
        let found = self.find(service, event);
        assert_eq!(found.len(), 1, "{service}/{event}: {:#?}", self.all());
        found.into_iter().next().unwrap()
    }
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), value.to_string());
    }
}

impl<S: Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: LayerContext<'_, S>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        self.0.lock().unwrap().push(Captured {
            level: *event.metadata().level(),
            target: event.metadata().target().to_owned(),
            fields,
        });
    }
}

// ---------------------------------------------------------------- Prometheus checks

/// Both adapters behind one listener, a tracing capture for this thread, and a
/// Prometheus recorder of this test's own.
struct Telemetry {
    capture: Capture,
    prometheus: Prometheus,
    metrics: MetricsListener,
    _guard: tracing::subscriber::DefaultGuard,
}

impl Telemetry {
    fn new() -> Self {
        let capture = Capture::default();
        let subscriber = tracing_subscriber::registry().with(capture.clone());
        let guard = tracing::subscriber::set_default(subscriber);
        let (prometheus, metrics) = Prometheus::listener();
        Telemetry {
            capture,
            prometheus,
            metrics,
            _guard: guard,
        }
    }

    fn listener(&self) -> Fanout {
        Fanout::new()
            .with(TracingListener::new())
            .with(self.metrics.clone())
    }

    /// Renders, validates and parses the Prometheus text.
    fn scrape(&self) -> Vec<Sample> {
        let text = self.prometheus.render();
        validate(&text)
    }
}

/// Validates `text` with promtool when it is on the PATH, and always parses it with
/// `prometheus-parse`, checking that every `# TYPE` family has samples. Returns them.
fn validate(text: &str) -> Vec<Sample> {
    match promtool(text) {
        Some(Ok(())) => eprintln!("telemetry: Prometheus text validated with promtool"),
        Some(Err(e)) => panic!("promtool rejected the text: {e}\n{text}"),
        None => eprintln!("telemetry: promtool not found; validated with prometheus-parse only"),
    }
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = Scrape::parse(lines).expect("prometheus-parse reads the text");
    let families: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    assert!(!families.is_empty(), "{text}");
    for family in &families {
        assert!(
            scrape.samples.iter().any(|s| s.metric == *family),
            "family {family} parsed to no sample:\n{text}"
        );
    }
    eprintln!(
        "telemetry: prometheus-parse read {} families, {} samples",
        families.len(),
        scrape.samples.len()
    );
    scrape.samples
}

/// `promtool check metrics` on `text`: `None` when promtool cannot be run.
fn promtool(text: &str) -> Option<Result<(), String>> {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(text.as_bytes())
        .expect("promtool reads its input");
    let out = child.wait_with_output().expect("promtool runs");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Exit 1 is a parse error; exit 3 lists lint findings, one per line. The one
    // finding we accept is about a name DESIGN.md fixes (from the seeds):
    // `bulkhead_active_count` is a gauge whose name ends in `_count`.
    let accepted = |line: &str| {
        line.starts_with(names::BULKHEAD_ACTIVE)
            && line.contains("should not have \"_count\" suffix")
    };
    Some(match out.status.code() {
        Some(0) => Ok(()),
        Some(3)
            if report
                .lines()
                .filter(|l| !l.trim().is_empty())
                .all(accepted) =>
        {
            eprintln!("telemetry: promtool lint accepted: {}", report.trim());
            Ok(())
        }
        _ => Err(format!("{}: {report}", out.status)),
    })
}

/// The sample of `metric` whose labels include all of `labels`.
fn sample<'a>(samples: &'a [Sample], metric: &str, labels: &[(&str, &str)]) -> &'a Sample {
    let found: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(v)))
        .collect();
    assert_eq!(found.len(), 1, "{metric} {labels:?}: {found:#?}");
    found[0]
}

/// The value of a counter or gauge sample.
fn value(samples: &[Sample], metric: &str, labels: &[(&str, &str)]) -> f64 {
    match sample(samples, metric, labels).value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
        ref other => panic!("{metric} is not a single value: {other:?}"),
    }
}

// ---------------------------------------------------------------- driving policies

/// Polls `f` once (it may stay pending and hold what it took).
fn poll_once<F: Future>(f: Pin<&mut F>) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(Waker::noop()))
}

async fn stuck(p: &Pipeline) -> Result<u32, Error<&'static str>> {
    p.call(pending::<Result<u32, &'static str>>).await
}

async fn ok(p: &Pipeline) -> Result<u32, Error<&'static str>> {
    p.call(|| async { Ok(1) }).await
}

async fn fail(p: &Pipeline) -> Result<u32, Error<&'static str>> {
    p.call(|| async { Err("503 service unavailable") }).await
}

fn kind<T, E>(r: &Result<T, Error<E>>) -> Option<RejectionKind> {
    r.as_ref()
        .err()
        .and_then(Error::rejection)
        .map(|r| r.kind())
}

// ---------------------------------------------------------------- tests

/// A "payment" pipeline reporting to `t`: 3 attempts, 100 ms apart, no budget.
fn payment_retrying_3_times(t: &Telemetry) -> rampart::PipelineBuilder {
    Pipeline::builder("payment")
        .listener(t.listener())
        .without_retry_budget()
        .retry(
            RetryConfig::constant(ms(100))
                .with_max_attempts(3)
                .with_jitter(Jitter::None),
        )
}

#[tokio::test(start_paused = true)]
async fn retries_and_timeouts_report_attempts_delays_and_limits() {
    let t = Telemetry::new();
    let payment = payment_retrying_3_times(&t)
        .timeout(secs(1))
        .build()
        .unwrap();
    let mut n = 0;
    let r: Result<u32, Error<&str>> = payment
        .call(|| {
            n += 1;
            let first = n == 1;
            async move {
                if first {
                    pending().await
                } else {
                    Err("503 service unavailable")
                }
            }
        })
        .await;
    assert_eq!(r, Err(Error::Operation("503 service unavailable")));

    // Tracing: the seeds' "attempt 1/3 failed, retrying in ..." with its figures.
    let timeout = t.capture.one("payment", "timeout");
    assert_eq!(timeout.level, Level::WARN);
    assert_eq!(timeout.target, "rampart");
    assert_eq!(timeout.get("timeout_ms"), "1000.0");
    assert_eq!(timeout.get("kind"), "timeout");
    let scheduled = t.capture.find("payment", "retry_scheduled");
    assert_eq!(scheduled.len(), 2);
    for (i, s) in scheduled.iter().enumerate() {
        assert_eq!(s.level, Level::INFO);
        assert_eq!(s.get("attempt"), (i + 1).to_string());
        assert_eq!(s.get("max_attempts"), "3");
        assert_eq!(s.get("delay_ms"), "100.0");
    }
    assert!(
        scheduled[0].get("error").contains("timeout"),
        "{scheduled:?}"
    );
    assert!(scheduled[1].get("error").contains("503"), "{scheduled:?}");
    assert_eq!(
        scheduled[0].get("message"),
        "attempt 1/3 failed, retrying in 100ms"
    );
    let gave_up = t.capture.one("payment", "retry_gave_up");
    assert_eq!(gave_up.level, Level::WARN);
    assert_eq!(gave_up.get("attempts"), "3");
    assert_eq!(gave_up.get("reason"), "max_attempts");
    assert!(gave_up.get("error").contains("503"));

    // Metrics: the first attempt is not a retry; attempts 2 and 3 failed.
    let s = t.scrape();
    let svc = ("service", "payment");
    assert_eq!(value(&s, names::TIMEOUTS, &[svc, ("kind", "timeout")]), 1.0);
    let retry = |attempt| {
        value(
            &s,
            names::RETRIES,
            &[svc, ("attempt", attempt), ("result", "failure")],
        )
    };
    assert_eq!((retry("2"), retry("3")), (1.0, 1.0));
    assert!(!s
        .iter()
        .any(|x| x.metric == names::RETRIES && x.labels.get("attempt") == Some("1")));
}

#[tokio::test(start_paused = true)]
async fn a_breaker_reports_its_cycle_with_counts_and_a_gauge() {
    let t = Telemetry::new();
    let inventory = Pipeline::builder("inventory")
        .listener(t.listener())
        .circuit_breaker(BreakerConfig::consecutive(2).with_open_for(secs(30)))
        .build()
        .unwrap();
    assert!(fail(&inventory).await.is_err());
    assert!(fail(&inventory).await.is_err());
    assert_eq!(
        kind(&ok(&inventory).await),
        Some(RejectionKind::CircuitOpen)
    );

    let opened = t.capture.one("inventory", "circuit_state_changed");
    assert_eq!(opened.level, Level::WARN);
    assert_eq!(opened.get("from"), "closed");
    assert_eq!(opened.get("state"), "open");
    assert_eq!(opened.get("failures"), "2");
    assert_eq!(opened.get("calls"), "2");
    assert_eq!(opened.get("failure_rate"), "1.0");
    assert!(opened.get("error").contains("503"), "{opened:?}");
    assert_eq!(
        opened.get("threshold"),
        "2.0",
        "2 failures in a row trip it"
    );
    assert_eq!(
        opened.get("message"),
        "circuit opened (closed -> open) after 2 failures in 2 calls (threshold 2)"
    );
    let rejected = t.capture.one("inventory", "circuit_rejected");
    assert_eq!(rejected.level, Level::DEBUG);
    assert_eq!(rejected.get("retry_after_ms"), "30000.0");

    let s = t.scrape();
    let svc = [("service", "inventory")];
    assert_eq!(value(&s, names::CIRCUIT_STATE, &svc), 1.0);
    assert_eq!(value(&s, names::CIRCUIT_TRIPS, &svc), 1.0);
    assert_eq!(value(&s, names::CIRCUIT_REJECTED, &svc), 1.0);

    // After the open period a probe goes through, succeeds and closes the breaker.
    tokio::time::advance(secs(30)).await;
    assert_eq!(ok(&inventory).await, Ok(1));
    let changes = t.capture.find("inventory", "circuit_state_changed");
    let states: Vec<(&str, &str, Level)> = changes
        .iter()
        .map(|c| (c.get("from"), c.get("state"), c.level))
        .collect();
    assert_eq!(
        states,
        [
            ("closed", "open", Level::WARN),
            ("open", "half_open", Level::INFO),
            ("half_open", "closed", Level::INFO),
        ]
    );
    assert_eq!(changes[2].get("message"), "circuit closed (recovered)");
    let s = t.scrape();
    assert_eq!(value(&s, names::CIRCUIT_STATE, &svc), 0.0);
    assert_eq!(
        value(&s, names::CIRCUIT_TRIPS, &svc),
        1.0,
        "closing is no trip"
    );
}

#[tokio::test(start_paused = true)]
async fn a_full_bulkhead_reports_its_pool_and_the_gauge_follows_snapshots() {
    let t = Telemetry::new();
    let checkout = Pipeline::builder("checkout")
        .listener(t.listener())
        .bulkhead(BulkheadConfig::new().with_max_concurrent(1))
        .build()
        .unwrap();
    let mut held = Box::pin(stuck(&checkout));
    assert!(poll_once(held.as_mut()).is_pending());
    assert_eq!(
        kind(&ok(&checkout).await),
        Some(RejectionKind::BulkheadFull)
    );

    let rejected = t.capture.one("checkout", "bulkhead_rejected");
    assert_eq!(rejected.level, Level::WARN);
    assert_eq!(
        (
            rejected.get("pool_size"),
            rejected.get("active"),
            rejected.get("queued")
        ),
        ("1", "1", "0")
    );
    assert!(
        !rejected.fields.contains_key("waited_ms"),
        "refused at once"
    );
    assert_eq!(
        rejected.get("message"),
        "bulkhead full, rejecting request: pool_size=1 active=1 queued=0"
    );

    let svc = [("service", "checkout")];
    let s = t.scrape();
    assert_eq!(value(&s, names::BULKHEAD_REJECTED, &svc), 1.0);
    assert_eq!(value(&s, names::BULKHEAD_ACTIVE, &svc), 1.0);
    drop(held);
    t.metrics.observe(&checkout);
    assert_eq!(value(&t.scrape(), names::BULKHEAD_ACTIVE, &svc), 0.0);
}

#[tokio::test(start_paused = true)]
async fn limiters_shedders_fallbacks_and_hedges_report_too() {
    let t = Telemetry::new();

    // Rate limit: one call a second.
    let search = Pipeline::builder("search")
        .listener(t.listener())
        .rate_limit(RateLimitConfig::per_second(1).with_burst(1))
        .build()
        .unwrap();
    assert_eq!(ok(&search).await, Ok(1));
    assert_eq!(kind(&ok(&search).await), Some(RejectionKind::RateLimited));
    let limited = t.capture.one("search", "rate_limited");
    assert_eq!(limited.level, Level::INFO);
    assert_eq!(limited.get("retry_after_ms"), "1000.0");

    // Load shedding: a full shedder turns a low-priority request away.
    let analytics = Pipeline::builder("analytics")
        .listener(t.listener())
        .load_shed(ShedConfig::new(1))
        .build()
        .unwrap();
    let mut held = Box::pin(with_priority(Priority::Critical, stuck(&analytics)));
    assert!(poll_once(held.as_mut()).is_pending());
    let low = with_priority(Priority::Low, ok(&analytics)).await;
    assert_eq!(kind(&low), Some(RejectionKind::Shed));
    let shed = t.capture.one("analytics", "load_shed");
    assert_eq!(shed.level, Level::INFO);
    assert_eq!(shed.get("priority"), "low");
    assert!(shed.get("load").parse::<f64>().unwrap() >= 1.0, "{shed:?}");
    drop(held);

    // Fallback: the primary fails, the static answer is served.
    let recommendations = Pipeline::builder("recommendations")
        .listener(t.listener())
        .timeout(secs(1))
        .build()
        .unwrap();
    let chain = FallbackChain::new().value("popular", 7);
    let served = recommendations
        .call_with_fallback(|| async { Err::<u32, _>("model down") }, &chain)
        .await
        .unwrap();
    assert!(served.is_degraded());
    let fallback = t.capture.one("recommendations", "fallback_used");
    assert_eq!(fallback.level, Level::WARN);
    assert_eq!(fallback.get("fallback_type"), "popular");
    assert!(fallback.fields.contains_key("reason"));
    assert!(!fallback.fields.contains_key("cache_age_ms"), "not a cache");

    // A cached fallback says how old its answer is (the seeds' "cache age").
    let cache = rampart::fallback::CachedFallback::new(secs(60)).unwrap();
    cache.store(3u32);
    tokio::time::advance(secs(5)).await;
    let chain = FallbackChain::new().fallback(Fallback::cached(cache.clone()));
    let prices = Pipeline::builder("prices")
        .listener(t.listener())
        .build()
        .unwrap();
    let served = prices
        .call_with_fallback(|| async { Err::<u32, _>("down") }, &chain)
        .await
        .unwrap();
    assert_eq!(*served.value(), 3);
    let stale = t.capture.one("prices", "fallback_used");
    assert_eq!(stale.get("cache_age_ms"), "5000.0");

    // Hedging: the first attempt is slow, a second one starts after 100 ms.
    let reviews = Pipeline::builder("reviews")
        .listener(t.listener())
        .without_retry_budget()
        .hedge(HedgeConfig::fixed(ms(100)).with_max_attempts(2))
        .build()
        .unwrap();
    let mut n = 0;
    let r: Result<u32, Error<&str>> = reviews
        .call(|| {
            n += 1;
            let slow = n == 1;
            async move {
                if slow {
                    tokio::time::sleep(secs(10)).await;
                }
                Ok(n)
            }
        })
        .await;
    assert_eq!(r, Ok(2));
    let hedge = t.capture.one("reviews", "hedge_started");
    assert_eq!(hedge.level, Level::DEBUG);
    assert_eq!(
        (hedge.get("attempt"), hedge.get("after_ms")),
        ("2", "100.0")
    );

    let s = t.scrape();
    assert_eq!(
        value(&s, names::RATE_LIMITED, &[("service", "search")]),
        1.0
    );
    let shed = [("service", "analytics"), ("priority", "low")];
    assert_eq!(value(&s, names::SHED, &shed), 1.0);
    let fb = [("service", "recommendations"), ("fallback_type", "popular")];
    assert_eq!(value(&s, names::FALLBACKS, &fb), 1.0);
    assert_eq!(value(&s, names::HEDGES, &[("service", "reviews")]), 1.0);
}

/// Call durations in every bucket and outcome, and the events of policies outside
/// pipelines (work queues, adaptive limits), handed to the listeners directly.
#[tokio::test(start_paused = true)]
async fn call_durations_fill_the_seeds_buckets_and_other_events_are_counted() {
    let t = Telemetry::new();
    let listener = t.listener();
    let emit = |pipeline: &str, kind: EventKind<'_>| listener.on_event(&Event { pipeline, kind });
    let finished = |duration, outcome| EventKind::CallFinished { duration, outcome };
    emit("payment", finished(ms(50), CallOutcome::Success));
    emit("payment", finished(ms(300), CallOutcome::Success));
    emit(
        "payment",
        finished(ms(2_000), CallOutcome::Rejected(RejectionKind::Timeout)),
    );
    emit("payment", finished(ms(20_000), CallOutcome::Failure));
    emit(
        "payment",
        EventKind::RetrySucceeded {
            attempt: 2,
            max_attempts: 3,
        },
    );
    emit(
        "jobs",
        EventKind::WorkDropped {
            priority: Priority::Low,
            reason: DropReason::Expired,
        },
    );
    emit(
        "payment",
        EventKind::ConcurrencyLimitChanged { from: 20, to: 14 },
    );

    let done = t.capture.find("payment", "call_finished");
    assert_eq!(done.len(), 4);
    assert_eq!(
        (done[0].level, done[0].get("outcome")),
        (Level::TRACE, "success")
    );
    assert_eq!(done[0].get("duration_ms"), "50.0");
    assert_eq!(
        (done[2].level, done[2].get("outcome")),
        (Level::DEBUG, "timeout")
    );
    let retried = t.capture.one("payment", "retry_succeeded");
    assert_eq!(
        (retried.get("attempt"), retried.get("max_attempts")),
        ("2", "3")
    );
    let dropped = t.capture.one("jobs", "work_dropped");
    assert_eq!(
        (dropped.get("priority"), dropped.get("reason")),
        ("low", "expired")
    );
    let limit = t.capture.one("payment", "concurrency_limit_changed");
    assert_eq!(
        (limit.get("previous_limit"), limit.get("limit")),
        ("20", "14")
    );

    let s = t.scrape();
    let ok = [("service", "payment"), ("outcome", "success")];
    let Value::Histogram(buckets) = &sample(&s, names::REQUEST_DURATION, &ok).value else {
        panic!("not a histogram");
    };
    let bounds: Vec<f64> = buckets.iter().map(|b| b.less_than).collect();
    assert_eq!(bounds[..7], names::DURATION_BUCKETS, "the seeds' buckets");
    assert!(bounds[7].is_infinite());
    let counts: Vec<f64> = buckets.iter().map(|b| b.count).collect();
    assert_eq!(counts, [1.0, 1.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0]);
    let count = |outcome| {
        let labels = [("service", "payment"), ("outcome", outcome)];
        value(&s, &format!("{}_count", names::REQUEST_DURATION), &labels)
    };
    assert_eq!(
        (count("success"), count("timeout"), count("failure")),
        (2.0, 1.0, 1.0)
    );
    let sum = value(&s, &format!("{}_sum", names::REQUEST_DURATION), &ok);
    assert!((sum - 0.35).abs() < 1e-9, "{sum}");
    let retry = [
        ("service", "payment"),
        ("attempt", "2"),
        ("result", "success"),
    ];
    assert_eq!(value(&s, names::RETRIES, &retry), 1.0);
    let drop = [
        ("service", "jobs"),
        ("priority", "low"),
        ("reason", "expired"),
    ];
    assert_eq!(value(&s, names::WORK_DROPPED, &drop), 1.0);
    assert_eq!(
        value(&s, names::CONCURRENCY_LIMIT, &[("service", "payment")]),
        14.0
    );
}

#[tokio::test(start_paused = true)]
async fn a_fanout_feeds_both_adapters_and_a_recorder_and_the_text_has_help_lines() {
    let t = Telemetry::new();
    let recorder = Recorder::new();
    let p = Pipeline::builder("email")
        .listener(t.listener().with(recorder.clone()))
        .circuit_breaker(BreakerConfig::consecutive(1))
        .build()
        .unwrap();
    assert!(fail(&p).await.is_err());
    assert_eq!(recorder.count("CircuitStateChanged"), 1);
    assert_eq!(t.capture.find("email", "circuit_state_changed").len(), 1);
    let text = t.prometheus.render();
    assert!(
        text.contains("# HELP circuit_breaker_state Circuit breaker state"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE circuit_breaker_trips_total counter"),
        "{text}"
    );
    validate(&text);
}

#[test]
fn the_facade_reaches_a_local_recorder_and_the_global_one_installs_once() {
    // A listener on the facade records into whatever recorder is current.
    let (local, recorder) = Prometheus::recorder();
    let listener = MetricsListener::new();
    let event = Event {
        pipeline: "sms",
        kind: EventKind::RateLimited { retry_after: None },
    };
    metrics::with_local_recorder(&recorder, || listener.on_event(&event));
    let s = validate(&local.render());
    assert_eq!(value(&s, names::RATE_LIMITED, &[("service", "sms")]), 1.0);

    // The global recorder: the only test in this process that installs it.
    let global = Prometheus::install().expect("first install");
    let again = Prometheus::install().expect_err("a second install is an error");
    assert_eq!(
        again.to_string(),
        "a global metrics recorder is already installed"
    );
    listener.on_event(&event);
    listener.on_event(&event);
    let s = validate(&global.render());
    assert_eq!(value(&s, names::RATE_LIMITED, &[("service", "sms")]), 2.0);
    assert_eq!(
        Prometheus::CONTENT_TYPE,
        "text/plain; version=0.0.4; charset=utf-8"
    );
}

#[tokio::test(start_paused = true)]
async fn without_a_listener_nothing_is_recorded() {
    // No listener on the pipeline: the adapters never hear of it.
    let t = Telemetry::new();
    let quiet = Pipeline::builder("quiet")
        .circuit_breaker(BreakerConfig::consecutive(1))
        .build()
        .unwrap();
    assert!(fail(&quiet).await.is_err());
    assert!(t.capture.all().is_empty());
    assert!(!t.prometheus.render().contains("quiet"));
}

/// Real pipelines emit a call's duration and outcome once per call, a retry that
/// succeeds, injected faults; a flag registry reports its flips.
#[tokio::test(start_paused = true)]
async fn pipelines_report_call_durations_retry_successes_faults_and_flags() {
    let t = Telemetry::new();
    let payment = payment_retrying_3_times(&t)
        .chaos(
            rampart::chaos::ChaosConfig::enabled()
                .with_seed(1)
                .with_schedule(rampart::chaos::Schedule::fail_first(1)),
        )
        .build()
        .unwrap();
    // Attempt 1 is failed by the injector, attempt 2 succeeds after the 100 ms backoff.
    assert_eq!(ok(&payment).await, Ok(1));

    let done = t.capture.one("payment", "call_finished");
    assert_eq!(done.get("outcome"), "success");
    assert_eq!(done.get("duration_ms"), "100.0");
    let retried = t.capture.one("payment", "retry_succeeded");
    assert_eq!(retried.get("attempt"), "2");
    let fault = t.capture.one("payment", "fault_injected");
    assert_eq!((fault.get("call"), fault.get("action")), ("1", "fail"));

    let flags = rampart::flags::Flags::new().with_listener(Arc::new(t.listener()));
    flags.define("recommendations", true).unwrap();
    flags.set("recommendations", false).unwrap();
    let flipped = t.capture.one("flags", "flag_changed");
    assert_eq!(
        (flipped.level, flipped.get("flag"), flipped.get("enabled")),
        (Level::WARN, "recommendations", "false")
    );

    let s = t.scrape();
    let svc = ("service", "payment");
    let count = format!("{}_count", names::REQUEST_DURATION);
    assert_eq!(value(&s, &count, &[svc, ("outcome", "success")]), 1.0);
    let retry = [svc, ("attempt", "2"), ("result", "success")];
    assert_eq!(value(&s, names::RETRIES, &retry), 1.0);
    let injected = [svc, ("action", "fail")];
    assert_eq!(value(&s, names::FAULTS_INJECTED, &injected), 1.0);
    let flag = [("service", "flags"), ("flag", "recommendations")];
    assert_eq!(value(&s, names::FLAG_ENABLED, &flag), 0.0);
}
