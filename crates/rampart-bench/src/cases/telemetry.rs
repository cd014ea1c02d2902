//! The telemetry adapters' cost per event, for the per-call event a pipeline would
//! report (`CallFinished`, which feeds the duration histogram). A pipeline without a
//! listener pays none of this: it builds no event.

use std::time::Duration;

use rampart::event::{CallOutcome, Event, EventKind, Listener};
use rampart::telemetry::{Fanout, MetricsListener, Prometheus, TracingListener};

use crate::harness::{sync_loop, Case};

/// The telemetry cases.
pub const CASES: &[Case] = &[
    Case::new(
        "rampart_metrics_listener_call_finished",
        metrics_call_finished,
    ),
    Case::new(
        "rampart_tracing_listener_call_finished_off",
        tracing_call_finished_off,
    ),
    Case::new("rampart_fanout_both_call_finished", fanout_call_finished),
];

fn finished(i: u64) -> Event<'static> {
    Event {
        pipeline: "payment",
        kind: EventKind::CallFinished {
            duration: Duration::from_micros(100 + (i & 1023)),
            outcome: CallOutcome::Success,
        },
    }
}

/// A histogram sample into a Prometheus recorder of the listener's own.
fn metrics_call_finished(iterations: u64) -> Duration {
    let (_prometheus, metrics) = Prometheus::listener();
    sync_loop(iterations, |i| metrics.on_event(&finished(i)))
}

/// A `tracing` event at a level no subscriber enables (there is none).
fn tracing_call_finished_off(iterations: u64) -> Duration {
    let tracing = TracingListener::new();
    sync_loop(iterations, |i| tracing.on_event(&finished(i)))
}

/// Both adapters behind a fan-out, as a service would install them.
fn fanout_call_finished(iterations: u64) -> Duration {
    let (_prometheus, metrics): (_, MetricsListener) = Prometheus::listener();
    let both = Fanout::new().with(TracingListener::new()).with(metrics);
    sync_loop(iterations, |i| both.on_event(&finished(i)))
}
