//! The health and metrics routes on a real axum server on loopback, read with reqwest.

mod support;

use axum::routing::get;
use axum::Router;
use rampart::circuit::{BreakerConfig, CircuitBreaker};
use rampart::health::{Check, HealthConfig, HealthRegistry};
use rampart::keyed::KeyedConfig;
use rampart::rate_limit::{KeyedRateLimiter, RateLimitConfig};
use rampart::telemetry::Prometheus;
use rampart_http::server::rate_limit::RateLimitLayer;
use rampart_http::server::routes::{HealthRoutes, METRICS_CONTENT_TYPE};
use reqwest::{Client, StatusCode};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Status, content type and body of `GET url`.
async fn fetch(url: &str) -> (StatusCode, String, String) {
    let res = Client::new().get(url).send().await.unwrap();
    let status = res.status();
    let ctype = res.headers().get("content-type");
    let ctype = ctype.map_or("", |v| v.to_str().unwrap()).to_owned();
    (status, ctype, res.text().await.unwrap())
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap()
}

#[tokio::test(start_paused = true)]
async fn probes_answer_with_the_registry_status_codes_and_json() {
    let config = HealthConfig::new().with_cache_ttl(Duration::ZERO);
    let health = HealthRegistry::with_config(config).unwrap();
    let database_up = Arc::new(AtomicBool::new(true));
    let up = database_up.clone();
    let check = Check::new("database", move || {
        let up = up.load(Ordering::Relaxed);
        async move {
            if up {
                Ok(())
            } else {
                Err("connection refused")
            }
        }
    });
    health.add_readiness_check(check).unwrap();
    let payment = CircuitBreaker::new("payment", BreakerConfig::default()).unwrap();
    health.add_policy("payment", payment.clone());
    let url = support::serve(HealthRoutes::new(health.clone()).router()).await;

    let (status, ctype, body) = fetch(&format!("{url}/health/live")).await;
    assert_eq!(
        (status, ctype.as_str()),
        (StatusCode::OK, "application/json")
    );
    // The registry's own report (uptime included: time is paused).
    assert_eq!(json(&body), json(&health.liveness().to_json()));
    assert_eq!(json(&body)["probe"], "liveness");

    let (status, _, body) = fetch(&format!("{url}/health/ready")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json(&body)["status"], "up");

    // A failing critical dependency: readiness is down (503), liveness is not.
    database_up.store(false, Ordering::Relaxed);
    payment.force_open();
    let (status, ctype, body) = fetch(&format!("{url}/health/ready")).await;
    assert_eq!(
        (status, ctype.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "application/json")
    );
    let ready = json(&body);
    assert_eq!(ready["status"], "down");
    assert_eq!(ready["checks"][0]["name"], "database");
    assert_eq!(ready["checks"][0]["error"], "connection refused");
    assert_eq!(fetch(&format!("{url}/health/live")).await.0, StatusCode::OK);

    let (status, _, body) = fetch(&format!("{url}/health/startup")).await;
    assert_eq!(
        (status, json(&body)["probe"].clone()),
        (StatusCode::OK, "startup".into())
    );

    // The dependencies report is for dashboards: 200 even with an open breaker.
    let (status, _, body) = fetch(&format!("{url}/health/dependencies")).await;
    assert_eq!(status, StatusCode::OK);
    let deps = json(&body);
    assert_eq!(deps["policies"][0]["name"], "payment");
    assert_eq!(deps["policies"][0]["state"], "forced_open");

    // No renderer, no /metrics.
    assert_eq!(
        fetch(&format!("{url}/metrics")).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test(start_paused = true)]
async fn startup_is_down_until_its_checks_pass() {
    let health = HealthRegistry::new();
    let ready = Arc::new(AtomicBool::new(false));
    let r = ready.clone();
    let check = Check::new("migrations", move || {
        let done = r.load(Ordering::Relaxed);
        async move {
            if done {
                Ok(())
            } else {
                Err("running")
            }
        }
    });
    health.add_startup_check(check).unwrap();
    let url = support::serve(HealthRoutes::new(health).router()).await;
    let (status, _, body) = fetch(&format!("{url}/health/startup")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(json(&body)["status"], "down");
    assert_eq!(
        fetch(&format!("{url}/health/ready")).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    ready.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(10)).await; // past the result cache
    assert_eq!(
        fetch(&format!("{url}/health/startup")).await.0,
        StatusCode::OK
    );
}

#[tokio::test(start_paused = true)]
async fn metrics_serve_what_a_policy_recorded_and_are_not_rate_limited() {
    let (prometheus, listener) = Prometheus::listener();
    let limiter = KeyedRateLimiter::new("api", RateLimitConfig::per_minute(1), KeyedConfig::new())
        .unwrap()
        .with_listener(Arc::new(listener));
    let limits = RateLimitLayer::builder(limiter).build().unwrap();
    let app = Router::new()
        .route("/orders", get(|| async { "orders" }))
        .merge(
            HealthRoutes::new(HealthRegistry::new())
                .with_prometheus(prometheus)
                .router(),
        )
        .layer(limits);
    let url = support::serve(app).await;

    assert_eq!(fetch(&format!("{url}/orders")).await.0, StatusCode::OK);
    for _ in 0..2 {
        assert_eq!(
            fetch(&format!("{url}/orders")).await.0,
            StatusCode::TOO_MANY_REQUESTS
        );
    }
    for _ in 0..3 {
        let (status, ctype, body) = fetch(&format!("{url}/metrics")).await;
        assert_eq!(
            (status, ctype.as_str()),
            (StatusCode::OK, METRICS_CONTENT_TYPE)
        );
        assert!(ctype.starts_with("text/plain; version=0.0.4"));
        assert!(
            body.contains(r#"rate_limit_rejected_total{service="api"} 2"#),
            "{body}"
        );
        assert_eq!(fetch(&format!("{url}/health/live")).await.0, StatusCode::OK);
    }
}
