//! The seeds' order service, protected by rampart: a runnable example.
//!
//! One process serves the shop and, on a second port, simulates what the shop depends
//! on (payment, inventory, notification, and the product page's catalog, pricing,
//! reviews and recommendations), so everything starts with one command:
//!
//! ```sh
//! cargo run -p order-service
//! ```
//!
//! | route | what |
//! |---|---|
//! | `POST /checkout` | needs an `Idempotency-Key`; reserve stock, charge (or queue the charge: "pending"), notify in the background |
//! | `GET /products/{id}` | five parts at once, each with its own fallback and criticality |
//! | `POST /auth/login`, `POST /analytics/events` | stand-ins for the routes load shedding ranks |
//! | `PUT /admin/faults/{dependency}` | make a simulated dependency slow or failing: `{"latency_ms": 5000}`, `{"status": 503}` |
//! | `GET /admin/payments` | charges queued at checkout and how many went through since |
//! | `GET /health/live`, `/health/ready`, `/health/startup`, `/health/dependencies` | probes, and every breaker, bulkhead and limit |
//! | `GET /metrics` | every pipeline's metrics, in the Prometheus text format |
//!
//! Every route is rate-limited per client address and shed by priority near capacity
//! (see [`router`]); the health and metrics routes are exempt.
//!
//! The three checkout dependencies take their pipelines from `config/shop.toml` (the
//! seeds' settings); [`deps`] says how requests reach them.

pub mod checkout;
pub mod deps;
pub mod product;
pub mod upstream;

use crate::checkout::PendingPayments;
use crate::deps::Dependencies;
use crate::product::PageCache;
use crate::upstream::{Fault, World};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use rampart::health::HealthRegistry;
use rampart::keyed::KeyedConfig;
use rampart::rate_limit::{KeyedRateLimiter, RateLimitConfig};
use rampart::registry::{ConfigFile, Registry};
use rampart::shed::{LoadShedder, ShedConfig};
use rampart::telemetry::Prometheus;
use rampart::ConfigError;
use rampart_http::server::caller::CallerKey;
use rampart_http::server::idempotency::{IdempotencyConfig, IdempotencyLayer, MemoryStore};
use rampart_http::server::load_shed::{LoadShedLayer, PriorityRoutes};
use rampart_http::server::rate_limit::RateLimitLayer;
use rampart_http::server::routes::HealthRoutes;
use serde_json::json;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// The shop's shared state: cloned into every handler (each field is an `Arc` inside).
#[derive(Clone)]
pub struct Shop {
    /// The client and pipelines of every dependency.
    pub dependencies: Dependencies,
    /// Charges queued at checkout while payment was unavailable.
    pub payments: PendingPayments,
    /// The product page's last good answers.
    pub page_cache: PageCache,
    /// The simulated dependencies' faults.
    pub world: World,
    /// What `/health/*` reports: every pipeline's breaker, bulkhead and limits.
    pub health: HealthRegistry,
    /// What `/metrics` renders: every pipeline's events.
    pub prometheus: Prometheus,
}

/// The running service: where it listens and a handle on its simulated world.
pub struct Running {
    /// The shop's address.
    pub addr: SocketAddr,
    /// The simulated dependencies' address.
    pub upstream: SocketAddr,
    /// The shop's state (its dependencies and queues), for tests and reports.
    pub shop: Shop,
}

/// Requests a second each client address may make (and the burst it may spend at once).
pub const RATE_PER_CLIENT: (u32, u32) = (20, 40);

/// Requests the shop serves at once before it sheds by priority (the seeds' 200 workers).
pub const CAPACITY: u32 = 200;

/// The shop's routes over `shop`, behind its server middleware.
///
/// From the outside in: a rate limit per client address (429 with `Retry-After` and
/// the rate-limit headers), load shedding by route (the seeds' priorities: `/auth`
/// critical, `/checkout` high, `/analytics` low; 503 near capacity), and on
/// `/checkout` idempotency keys (a retried checkout gets the first answer back instead
/// of ordering twice). The health and metrics routes are neither limited nor shed.
///
/// # Errors
///
/// A [`ConfigError`] if a middleware's configuration is invalid (the shipped one is
/// not).
pub fn router(shop: Shop) -> Result<Router, ConfigError> {
    let idempotency =
        IdempotencyLayer::new(IdempotencyConfig::new(), Arc::new(MemoryStore::new()))?
            .only_under(["/checkout"]);
    let (rate, burst) = RATE_PER_CLIENT;
    let per_client = KeyedRateLimiter::new(
        "shop",
        RateLimitConfig::per_second(rate).with_burst(burst),
        KeyedConfig::new(),
    )?;
    let rate_limit = RateLimitLayer::builder(per_client)
        .with_caller(CallerKey::ClientIp)
        .build()?;
    let shedder = LoadShedder::new("shop", ShedConfig::new(CAPACITY))?;
    let load_shed = LoadShedLayer::builder(shedder)
        .with_routes(PriorityRoutes::seeds())
        .build()?;
    let health = HealthRoutes::new(shop.health.clone())
        .with_prometheus(shop.prometheus.clone())
        .router();
    let checkout = Router::new()
        .route("/checkout", post(checkout::checkout))
        .layer(idempotency);
    let shop_routes = Router::new()
        .merge(checkout)
        .route("/products/{id}", get(product::product_page))
        .route("/auth/login", post(login))
        .route("/analytics/events", post(analytics))
        .route("/admin/faults/{dependency}", put(set_fault))
        .route("/admin/payments", get(payments))
        .with_state(shop);
    Ok(shop_routes.merge(health).layer(load_shed).layer(rate_limit))
}

/// Starts the simulated dependencies on an ephemeral loopback port and the shop on
/// `listen`, with the pipelines of the configuration `file`; both serve until the
/// runtime stops. Every pipeline reports to the shop's `/metrics`.
///
/// # Errors
///
/// An [`io::Error`] if a port cannot be bound; a configuration that does not build is
/// reported as [`io::ErrorKind::InvalidInput`] with the file's position of the mistake.
pub async fn start(listen: SocketAddr, file: &ConfigFile) -> io::Result<Running> {
    let invalid =
        |e: &dyn std::fmt::Display| io::Error::new(io::ErrorKind::InvalidInput, e.to_string());
    let (prometheus, metrics) = Prometheus::listener();
    let registry = Registry::builder()
        .listener(metrics.clone())
        .build(file)
        .map_err(|e| invalid(&e))?;

    let world = World::default();
    let upstream_listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let upstream = upstream_listener.local_addr()?;
    let upstream_app = upstream::router(world.clone());
    tokio::spawn(async move { axum::serve(upstream_listener, upstream_app).await });

    let dependencies = Dependencies::new(&registry, &format!("http://{upstream}"), metrics)
        .map_err(|e| invalid(&e))?;
    let health = HealthRegistry::new();
    for (_, pipeline) in dependencies.pipelines() {
        health.add_pipeline(pipeline);
    }
    health.mark_started();
    let shop = Shop {
        payments: PendingPayments::start(dependencies.clone()),
        dependencies,
        page_cache: PageCache::default(),
        world,
        health,
        prometheus,
    };
    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let app = router(shop.clone()).map_err(|e| invalid(&e))?;
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    Ok(Running {
        addr,
        upstream,
        shop,
    })
}

async fn login() -> Json<serde_json::Value> {
    Json(json!({ "token": "demo-token" }))
}

async fn analytics() -> StatusCode {
    StatusCode::NO_CONTENT
}

async fn set_fault(
    State(shop): State<Shop>,
    Path(dependency): Path<String>,
    Json(fault): Json<Fault>,
) -> Response {
    match shop.world.set_fault(&dependency, fault) {
        Some(()) => Json(json!({ "dependency": dependency, "fault": fault })).into_response(),
        None => {
            let body = json!({ "error": format!("no simulated dependency named {dependency:?}"), "known": upstream::DEPENDENCIES });
            (StatusCode::NOT_FOUND, Json(body)).into_response()
        }
    }
}

async fn payments(State(shop): State<Shop>) -> Json<serde_json::Value> {
    let (queued, charged) = shop.payments.counts();
    Json(json!({ "queued": queued, "charged": charged, "charges_by_key": shop.world.charges() }))
}
