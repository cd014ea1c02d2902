//! Every event recorded with the `metrics` facade (feature `metrics`).

use std::fmt;
use std::sync::Arc;

use ::metrics::{Key, KeyName, Label, Level, Metadata, Recorder, SharedString, Unit};

use super::names::{self, outcome, rejection, state_gauge};
use crate::event::{Event, EventKind, Listener};
use crate::pipeline::Pipeline;

static METADATA: Metadata<'static> = Metadata::new("rampart", Level::INFO, Some(module_path!()));

/// A [`Listener`] that records events as the metrics in the [module docs](super), each
/// labelled `service` with the event's pipeline name.
///
/// [`new`](Self::new) records through the `metrics` facade: the recorder installed
/// globally (or set locally with `metrics::with_local_recorder`) at the time of each
/// event, so a listener built before the recorder was installed still reaches it.
/// [`with_recorder`](Self::with_recorder) records into a recorder of its own instead.
///
/// Events carry no running figures for the two gauges a scrape should always show, so
/// [`observe`](Self::observe) sets them from a pipeline's breakers and bulkheads;
/// call it before rendering (an HTTP metrics route does it for its pipelines).
///
/// # Examples
///
/// ```
/// use rampart::telemetry::MetricsListener;
/// use rampart::Pipeline;
///
/// let metrics = MetricsListener::new();
/// let payment = Pipeline::builder("payment").listener(metrics.clone()).build().unwrap();
/// // Before each scrape: the breaker and bulkhead gauges as they are now.
/// metrics.observe(&payment);
/// ```
#[derive(Clone, Default)]
pub struct MetricsListener {
    recorder: Option<Arc<dyn Recorder + Send + Sync>>,
}

impl MetricsListener {
    /// A listener that records through the `metrics` facade's current recorder.
    pub fn new() -> Self {
        Self::default()
    }

    /// A listener that records into `recorder`, whatever is installed globally (for
    /// tests that run side by side, or a process with several registries). Registers
    /// the metrics' descriptions with it.
    pub fn with_recorder(recorder: impl Recorder + Send + Sync + 'static) -> Self {
        let listener = MetricsListener {
            recorder: Some(Arc::new(recorder)),
        };
        listener.describe();
        listener
    }

    /// Registers the metrics' descriptions and units (the `# HELP` lines) with the
    /// recorder. [`Prometheus`](super) does it for its own recorder.
    pub fn describe(&self) {
        self.with(describe);
    }

    /// Sets the gauges a scrape should show from `pipeline`'s policies as they are
    /// now: `circuit_breaker_state` for each breaker, `bulkhead_active_count` for each
    /// bulkhead, `concurrency_limit` for each adaptive limiter.
    pub fn observe(&self, pipeline: &Pipeline) {
        self.with(|r| {
            for b in pipeline.circuit_breakers() {
                gauge(
                    r,
                    names::CIRCUIT_STATE,
                    b.name(),
                    f64::from(b.state().gauge()),
                );
            }
            for b in pipeline.bulkheads() {
                let active = b.snapshot().active;
                gauge(r, names::BULKHEAD_ACTIVE, b.name(), f64::from(active));
            }
            for l in pipeline.concurrency_limiters() {
                gauge(r, names::CONCURRENCY_LIMIT, l.name(), f64::from(l.limit()));
            }
        });
    }

    fn with(&self, f: impl FnOnce(&dyn Recorder)) {
        match &self.recorder {
            Some(r) => f(&**r),
            None => ::metrics::with_recorder(f),
        }
    }
}

impl Listener for MetricsListener {
    fn on_event(&self, event: &Event<'_>) {
        self.with(|r| record(r, event));
    }
}

impl fmt::Debug for MetricsListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.recorder {
            Some(_) => "MetricsListener(own recorder)",
            None => "MetricsListener(global recorder)",
        })
    }
}

fn key(name: &'static str, service: &str, extra: &[(&'static str, &'static str)]) -> Key {
    let mut labels = Vec::with_capacity(1 + extra.len());
    labels.push(Label::new("service", service.to_owned()));
    labels.extend(extra.iter().map(|&(k, v)| Label::from_static_parts(k, v)));
    Key::from_parts(name, labels)
}

fn count(
    r: &dyn Recorder,
    name: &'static str,
    service: &str,
    extra: &[(&'static str, &'static str)],
) {
    r.register_counter(&key(name, service, extra), &METADATA)
        .increment(1);
}

fn gauge(r: &dyn Recorder, name: &'static str, service: &str, value: f64) {
    r.register_gauge(&key(name, service, &[]), &METADATA)
        .set(value);
}

/// Records one event.
fn record(r: &dyn Recorder, event: &Event<'_>) {
    let service = event.pipeline;
    match event.kind {
        EventKind::CallFinished {
            duration,
            outcome: o,
        } => {
            let key = key(names::REQUEST_DURATION, service, &[("outcome", outcome(o))]);
            r.register_histogram(&key, &METADATA)
                .record(duration.as_secs_f64());
        }
        EventKind::TimeoutElapsed { kind, .. } => {
            count(r, names::TIMEOUTS, service, &[("kind", rejection(kind))]);
        }
        EventKind::RetryScheduled { attempt, .. } => retry(r, service, attempt, "failure"),
        EventKind::RetryGaveUp { attempts, .. } => retry(r, service, attempts, "failure"),
        EventKind::RetrySucceeded { attempt, .. } => retry(r, service, attempt, "success"),
        EventKind::HedgeStarted { .. } => count(r, names::HEDGES, service, &[]),
        EventKind::CircuitStateChanged { to, .. } => {
            gauge(r, names::CIRCUIT_STATE, service, f64::from(state_gauge(to)));
            if to == "open" {
                count(r, names::CIRCUIT_TRIPS, service, &[]);
            }
        }
        EventKind::CircuitRejected { .. } => count(r, names::CIRCUIT_REJECTED, service, &[]),
        EventKind::BulkheadRejected { active, .. } => {
            count(r, names::BULKHEAD_REJECTED, service, &[]);
            gauge(r, names::BULKHEAD_ACTIVE, service, f64::from(active));
        }
        EventKind::FallbackUsed { fallback_type, .. } => {
            let key = Key::from_parts(
                names::FALLBACKS,
                vec![
                    Label::new("service", service.to_owned()),
                    Label::new("fallback_type", fallback_type.to_owned()),
                ],
            );
            r.register_counter(&key, &METADATA).increment(1);
        }
        EventKind::RateLimited { .. } => count(r, names::RATE_LIMITED, service, &[]),
        EventKind::LoadShed { priority, .. } => {
            count(r, names::SHED, service, &[("priority", priority.as_str())]);
        }
        EventKind::WorkDropped { priority, reason } => {
            let extra = [("priority", priority.as_str()), ("reason", reason.as_str())];
            count(r, names::WORK_DROPPED, service, &extra);
        }
        EventKind::ConcurrencyLimitChanged { to, .. } => {
            gauge(r, names::CONCURRENCY_LIMIT, service, f64::from(to));
        }
        EventKind::FaultInjected { fault, .. } => {
            let extra = [("action", fault.action.as_str())];
            count(r, names::FAULTS_INJECTED, service, &extra);
        }
        EventKind::FlagChanged { flag, enabled } => {
            let key = Key::from_parts(
                names::FLAG_ENABLED,
                vec![
                    Label::new("service", service.to_owned()),
                    Label::new("flag", flag.to_owned()),
                ],
            );
            r.register_gauge(&key, &METADATA)
                .set(if enabled { 1.0 } else { 0.0 });
        }
    }
}

/// Counts a retry attempt (the second or later) by its result; the first attempt is
/// not a retry.
fn retry(r: &dyn Recorder, service: &str, attempt: u32, result: &'static str) {
    if attempt < 2 {
        return;
    }
    let key = Key::from_parts(
        names::RETRIES,
        vec![
            Label::new("service", service.to_owned()),
            Label::new("attempt", attempt.to_string()),
            Label::from_static_parts("result", result),
        ],
    );
    r.register_counter(&key, &METADATA).increment(1);
}

/// Every metric's description and unit.
const DESCRIPTIONS: [(&str, Kind, &str); 16] = [
    (
        names::REQUEST_DURATION,
        Kind::Seconds,
        "Call duration through a pipeline, in seconds",
    ),
    (
        names::TIMEOUTS,
        Kind::Counter,
        "Timeouts, by the pipeline's own limit or the request deadline",
    ),
    (
        names::RETRIES,
        Kind::Counter,
        "Retry attempts (second attempt on) by their result",
    ),
    (names::HEDGES, Kind::Counter, "Hedged attempts started"),
    (
        names::CIRCUIT_STATE,
        Kind::Gauge,
        "Circuit breaker state (0=closed, 1=open, 2=half-open)",
    ),
    (
        names::CIRCUIT_TRIPS,
        Kind::Counter,
        "Times a circuit breaker tripped open",
    ),
    (
        names::CIRCUIT_REJECTED,
        Kind::Counter,
        "Calls refused by an open circuit breaker",
    ),
    (
        names::BULKHEAD_ACTIVE,
        Kind::Gauge,
        "Calls holding a bulkhead permit",
    ),
    (
        names::BULKHEAD_REJECTED,
        Kind::Counter,
        "Calls refused by a full bulkhead",
    ),
    (
        names::FALLBACKS,
        Kind::Counter,
        "Answers served by a fallback",
    ),
    (
        names::RATE_LIMITED,
        Kind::Counter,
        "Calls refused by a rate limiter",
    ),
    (
        names::SHED,
        Kind::Counter,
        "Requests refused by a load shedder",
    ),
    (
        names::WORK_DROPPED,
        Kind::Counter,
        "Jobs a work queue refused, evicted or expired",
    ),
    (
        names::CONCURRENCY_LIMIT,
        Kind::Gauge,
        "An adaptive concurrency limit",
    ),
    (
        names::FAULTS_INJECTED,
        Kind::Counter,
        "Faults injected into calls, by what the call was made to do",
    ),
    (
        names::FLAG_ENABLED,
        Kind::Gauge,
        "A feature flag's value (1 on, 0 off)",
    ),
];

#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
    Seconds,
}

pub(super) fn describe(r: &dyn Recorder) {
    for (name, kind, help) in DESCRIPTIONS {
        let (name, help) = (KeyName::from_const_str(name), SharedString::const_str(help));
        match kind {
            Kind::Counter => r.describe_counter(name, None, help),
            Kind::Gauge => r.describe_gauge(name, None, help),
            Kind::Seconds => r.describe_histogram(name, Some(Unit::Seconds), help),
        }
    }
}
