//! The health probes and the metrics scrape as an axum [`Router`] (feature `axum`).
//!
//! | route | answer |
//! |---|---|
//! | `GET /health/live` | [`HealthRegistry::liveness`]: the process only, never a dependency |
//! | `GET /health/ready` | [`HealthRegistry::readiness`]: dependency checks (cached, each with its timeout) |
//! | `GET /health/startup` | [`HealthRegistry::startup`] |
//! | `GET /health/dependencies` | [`HealthRegistry::dependencies`]: every policy's state, always 200 |
//! | `GET /metrics` | the metrics text, when a renderer was given |
//!
//! Probes answer with the report's status hint (200, or 503 when down) and its JSON,
//! `Content-Type: application/json` and `Cache-Control: no-store`. `/metrics` answers
//! with [`METRICS_CONTENT_TYPE`] (the Prometheus text format, `version=0.0.4`). With the
//! feature `prometheus`, [`HealthRoutes::with_prometheus`] serves a
//! `rampart::telemetry::Prometheus`; any other renderer fits
//! [`HealthRoutes::with_metrics`] (refresh gauges there, e.g. with
//! `MetricsListener::observe`, just before rendering).
//!
//! These paths are exempt from the rate limit and the load shedder by default, so
//! monitoring keeps working when callers are turned away.
//!
//! # Examples
//!
//! ```
//! use axum::{routing::get, Router};
//! use rampart::health::HealthRegistry;
//! use rampart_http::server::routes::HealthRoutes;
//!
//! let health = HealthRegistry::new();
//! let app: Router = Router::new()
//!     .route("/orders", get(|| async { "orders" }))
//!     .merge(HealthRoutes::new(health).with_metrics(|| "up 1\n".to_owned()).router());
//! # let _ = app;
//! ```

use std::fmt;
use std::sync::Arc;

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use rampart::health::HealthRegistry;

/// The `Content-Type` of `/metrics`: the Prometheus text exposition format.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

type Render = Arc<dyn Fn() -> String + Send + Sync>;

/// The health and metrics routes of one service; see the [module docs](self).
#[derive(Clone)]
pub struct HealthRoutes {
    health: HealthRegistry,
    metrics: Option<Render>,
}

impl fmt::Debug for HealthRoutes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthRoutes")
            .field("metrics", &self.metrics.is_some())
            .finish_non_exhaustive()
    }
}

/// A probe's answer: its status hint and JSON.
fn probe(status: u16, json: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [
            (CONTENT_TYPE, "application/json"),
            (CACHE_CONTROL, "no-store"),
        ],
        json,
    )
        .into_response()
}

impl HealthRoutes {
    /// The four probes from `health`, without `/metrics`.
    pub fn new(health: HealthRegistry) -> Self {
        HealthRoutes {
            health,
            metrics: None,
        }
    }

    /// Serves `/metrics` with the text `render` returns at each scrape.
    pub fn with_metrics(mut self, render: impl Fn() -> String + Send + Sync + 'static) -> Self {
        self.metrics = Some(Arc::new(render));
        self
    }

    /// Serves `/metrics` from a Prometheus recorder (feature `prometheus`).
    #[cfg(feature = "prometheus")]
    pub fn with_prometheus(self, prometheus: rampart::telemetry::Prometheus) -> Self {
        self.with_metrics(move || prometheus.render())
    }

    /// The routes, to [`merge`](Router::merge) into an application of any state.
    pub fn router<S>(self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let h = self.health;
        let (live, ready, startup, deps) = (h.clone(), h.clone(), h.clone(), h);
        let mut router = Router::new()
            .route(
                "/health/live",
                get(move || {
                    let r = live.liveness();
                    async move { probe(r.http_status(), r.to_json()) }
                }),
            )
            .route(
                "/health/ready",
                get(move || {
                    let h = ready.clone();
                    async move {
                        let r = h.readiness().await;
                        probe(r.http_status(), r.to_json())
                    }
                }),
            )
            .route(
                "/health/startup",
                get(move || {
                    let h = startup.clone();
                    async move {
                        let r = h.startup().await;
                        probe(r.http_status(), r.to_json())
                    }
                }),
            )
            .route(
                "/health/dependencies",
                get(move || {
                    let r = deps.dependencies();
                    async move { probe(r.http_status(), r.to_json()) }
                }),
            );
        if let Some(render) = self.metrics {
            router = router.route(
                "/metrics",
                get(move || {
                    let text = render();
                    async move { ([(CONTENT_TYPE, METRICS_CONTENT_TYPE)], text).into_response() }
                }),
            );
        }
        router
    }
}
