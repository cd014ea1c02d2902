//! A Prometheus recorder for the telemetry metrics, rendered on demand (feature
//! `prometheus`).

use std::fmt;

use ::metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

use super::metrics_listener::{describe, MetricsListener};
use super::names;

/// Renders the metrics a [`MetricsListener`] records in the Prometheus text format.
///
/// The recorder gives `http_client_request_duration_seconds` the seeds' buckets
/// ([`DURATION_BUCKETS`](names::DURATION_BUCKETS): .1 .25 .5 1 2 5 10 seconds) and knows
/// every metric's description. There is no HTTP listener here: serve
/// [`render`](Self::render) from any route, with [`CONTENT_TYPE`](Self::CONTENT_TYPE).
///
/// Rendering also folds the histograms' new samples in; a process that is scraped
/// rarely should call [`run_upkeep`](Self::run_upkeep) every few seconds.
///
/// # Examples
///
/// ```
/// use rampart::telemetry::{MetricsListener, Prometheus};
///
/// // Once per process: the global recorder, fed by `MetricsListener::new()`.
/// let prometheus = Prometheus::install().expect("no other recorder installed");
/// let metrics = MetricsListener::new();
/// # let _ = metrics;
/// // A second install is refused, not a panic.
/// assert!(Prometheus::install().is_err());
/// let text: String = prometheus.render();
/// # let _ = text;
/// ```
#[derive(Debug, Clone)]
pub struct Prometheus {
    handle: PrometheusHandle,
}

impl Prometheus {
    /// The `Content-Type` of [`render`](Self::render)'s text.
    pub const CONTENT_TYPE: &'static str = "text/plain; version=0.0.4; charset=utf-8";

    /// Installs a Prometheus recorder as the process's global `metrics` recorder, for
    /// [`MetricsListener::new`] listeners.
    ///
    /// # Errors
    ///
    /// [`InstallError`] when a global recorder is already installed (by an earlier
    /// call or another library); nothing is changed then.
    pub fn install() -> Result<Prometheus, InstallError> {
        let (prometheus, recorder) = Prometheus::recorder();
        ::metrics::set_global_recorder(recorder).map_err(|_| InstallError(()))?;
        Ok(prometheus)
    }

    /// Builds a recorder without installing it: hand it to
    /// [`MetricsListener::with_recorder`], or set it for a scope with
    /// `metrics::with_local_recorder`.
    pub fn recorder() -> (Prometheus, PrometheusRecorder) {
        let builder = PrometheusBuilder::new();
        let builder = match builder.set_buckets_for_metric(
            Matcher::Full(names::REQUEST_DURATION.to_owned()),
            &names::DURATION_BUCKETS,
        ) {
            Ok(b) => b,
            // Only refused for an empty list of buckets, which ours is not.
            Err(_) => PrometheusBuilder::new(),
        };
        let recorder = builder.build_recorder();
        describe(&recorder);
        let prometheus = Prometheus {
            handle: recorder.handle(),
        };
        (prometheus, recorder)
    }

    /// A recorder of its own and a listener that records into it, installed nowhere:
    /// several can live in one process (one per test, one per registry).
    pub fn listener() -> (Prometheus, MetricsListener) {
        let (prometheus, recorder) = Prometheus::recorder();
        (prometheus, MetricsListener::with_recorder(recorder))
    }

    /// The metrics now, in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        self.handle.render()
    }

    /// Folds recent histogram samples into their buckets, so memory stays bounded
    /// between scrapes.
    pub fn run_upkeep(&self) {
        self.handle.run_upkeep();
    }
}

/// A global `metrics` recorder was already installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallError(());

impl fmt::Display for InstallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a global metrics recorder is already installed")
    }
}

impl std::error::Error for InstallError {}
