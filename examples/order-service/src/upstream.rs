//! The dependencies the shop calls, simulated in the same process: payment, inventory,
//! notification and the four services of the product page.
//!
//! Each answers at once with canned data until a [`Fault`] is set for it (latency,
//! an error status, or both), so an outage can be played by hand:
//! `curl -X PUT localhost:3000/admin/faults/payment -d '{"latency_ms":5000}'`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// The names of the simulated dependencies.
pub const DEPENDENCIES: [&str; 7] = [
    "payment",
    "inventory",
    "notification",
    "catalog",
    "pricing",
    "reviews",
    "recommendations",
];

/// How a simulated dependency misbehaves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Fault {
    /// Milliseconds to wait before answering.
    pub latency_ms: u64,
    /// Answer with this status instead of the data (0: answer normally).
    pub status: u16,
}

/// The faults in force and what the dependencies saw; shared by the shop (which sets
/// faults) and the simulated dependencies (which obey them).
#[derive(Debug, Clone, Default)]
pub struct World {
    faults: Arc<Mutex<HashMap<String, Fault>>>,
    charges: Arc<Mutex<HashMap<String, u32>>>,
}

impl World {
    /// Sets the fault of `dependency`; `None` when no such dependency is simulated.
    pub fn set_fault(&self, dependency: &str, fault: Fault) -> Option<()> {
        let name = DEPENDENCIES.iter().find(|d| **d == dependency)?;
        let mut faults = self.faults.lock().unwrap_or_else(PoisonError::into_inner);
        faults.insert((*name).to_owned(), fault);
        Some(())
    }

    /// The fault of `dependency` (none by default).
    pub fn fault(&self, dependency: &str) -> Fault {
        let faults = self.faults.lock().unwrap_or_else(PoisonError::into_inner);
        faults.get(dependency).copied().unwrap_or_default()
    }

    /// How many times the payment API charged each idempotency key: more than once
    /// would be a double charge.
    pub fn charges(&self) -> HashMap<String, u32> {
        self.charges
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Plays the fault of `dependency`: waits its latency, then returns its error
    /// status if it has one.
    async fn obey(&self, dependency: &str) -> Result<(), Response> {
        let fault = self.fault(dependency);
        if fault.latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(fault.latency_ms)).await;
        }
        match StatusCode::from_u16(fault.status) {
            Ok(status) if fault.status != 0 => Err((status, "injected fault").into_response()),
            _ => Ok(()),
        }
    }
}

/// The simulated dependencies' routes, each under its dependency's name.
pub fn router(world: World) -> Router {
    Router::new()
        .route("/payment/charges", post(charge))
        .route("/inventory/reserve", post(reserve))
        .route("/inventory/{id}", get(stock))
        .route("/notification/send", post(notify))
        .route("/catalog/{id}", get(product))
        .route("/pricing/{id}", get(price))
        .route("/reviews/{id}", get(reviews))
        .route("/recommendations/{id}", get(recommendations))
        .with_state(world)
}

async fn charge(State(world): State<World>, headers: HeaderMap) -> Result<Json<Value>, Response> {
    world.obey("payment").await?;
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| (StatusCode::BAD_REQUEST, "Idempotency-Key required").into_response())?
        .to_owned();
    *world
        .charges
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(key.clone())
        .or_default() += 1;
    Ok(Json(json!({ "charge": format!("ch-{key}") })))
}

async fn reserve(State(world): State<World>) -> Result<Json<Value>, Response> {
    world.obey("inventory").await?;
    Ok(Json(json!({ "reserved": true })))
}

async fn stock(
    State(world): State<World>,
    Path(id): Path<String>,
) -> Result<Json<Value>, Response> {
    world.obey("inventory").await?;
    Ok(Json(
        json!({ "product": id, "available": true, "count": 12 }),
    ))
}

async fn notify(State(world): State<World>) -> Result<Json<Value>, Response> {
    world.obey("notification").await?;
    Ok(Json(json!({ "sent": true })))
}

async fn product(
    State(world): State<World>,
    Path(id): Path<String>,
) -> Result<Json<Value>, Response> {
    world.obey("catalog").await?;
    Ok(Json(
        json!({ "id": id, "name": format!("Trail boot {id}") }),
    ))
}

async fn price(
    State(world): State<World>,
    Path(id): Path<String>,
) -> Result<Json<Value>, Response> {
    world.obey("pricing").await?;
    Ok(Json(json!({ "product": id, "cents": 12900 })))
}

async fn reviews(
    State(world): State<World>,
    Path(id): Path<String>,
) -> Result<Json<Value>, Response> {
    world.obey("reviews").await?;
    Ok(Json(
        json!({ "product": id, "reviews": [{ "stars": 5, "text": "Dry feet" }] }),
    ))
}

async fn recommendations(
    State(world): State<World>,
    Path(id): Path<String>,
) -> Result<Json<Value>, Response> {
    world.obey("recommendations").await?;
    Ok(Json(
        json!({ "for": id, "items": ["wool socks", "gaiters"] }),
    ))
}
