//! `POST /checkout`: reserve stock, charge the payment, send the confirmation.
//!
//! The seeds' story, each dependency treated for what it is:
//!
//! - **inventory** must answer: without a reservation there is no order, so its failure
//!   fails the checkout loudly (503, "try again in a few minutes", with the breaker's
//!   `Retry-After` when it is open);
//! - **payment** may be late: when the pipeline gives up (timeouts, breaker open,
//!   bulkhead full, 5xx) the charge is queued for later and the order is accepted as
//!   **pending** (202), said plainly in the answer; a refusal (4xx) fails the order.
//!   The queued charge keeps the order's `Idempotency-Key`, so it can never charge
//!   twice;
//! - **notification** is sent in the background: nobody waits for it.

use crate::deps::{CallError, Dependencies};
use crate::Shop;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rampart::Error;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// What the customer orders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Order {
    /// The order's id; the payment's idempotency key derives from it.
    pub order_id: String,
    /// The product bought.
    pub product: String,
    /// The amount, in cents.
    pub cents: u64,
}

impl Order {
    fn payment_key(&self) -> String {
        format!("order-{}", self.order_id)
    }

    fn charge_body(&self) -> serde_json::Value {
        json!({ "order": self.order_id, "cents": self.cents })
    }
}

/// How long the payment queue waits between two tries of a queued charge.
pub const REQUEUE_AFTER: Duration = Duration::from_secs(5);

/// Charges that failed at checkout and are retried in the background until the
/// payment API takes them.
#[derive(Clone)]
pub struct PendingPayments {
    queue: mpsc::UnboundedSender<Order>,
    counts: Arc<Counts>,
}

#[derive(Default)]
struct Counts {
    queued: AtomicU64,
    charged: AtomicU64,
}

impl PendingPayments {
    /// An empty queue and the task that drains it through `dependencies`.
    pub fn start(dependencies: Dependencies) -> Self {
        let (queue, mut orders) = mpsc::unbounded_channel::<Order>();
        let counts = Arc::new(Counts::default());
        let worker_counts = Arc::clone(&counts);
        tokio::spawn(async move {
            while let Some(order) = orders.recv().await {
                while let Err(err) = charge(&dependencies, &order).await {
                    let wait = err.rejection().and_then(|r| r.retry_after());
                    tokio::time::sleep(wait.unwrap_or(REQUEUE_AFTER).max(REQUEUE_AFTER)).await;
                }
                worker_counts.charged.fetch_add(1, Ordering::Relaxed);
            }
        });
        PendingPayments { queue, counts }
    }

    fn push(&self, order: Order) {
        self.counts.queued.fetch_add(1, Ordering::Relaxed);
        // The worker lives as long as the runtime; if it is gone the process is ending.
        let _ = self.queue.send(order);
    }

    /// Charges queued so far, and how many of them went through since.
    pub fn counts(&self) -> (u64, u64) {
        let queued = self.counts.queued.load(Ordering::Relaxed);
        (queued, self.counts.charged.load(Ordering::Relaxed))
    }
}

async fn charge(dependencies: &Dependencies, order: &Order) -> Result<(), Error<CallError>> {
    let body = order.charge_body();
    dependencies
        .post("payment", "charges", &order.payment_key(), &body)
        .await
        .map(drop)
}

/// `POST /checkout`.
pub async fn checkout(State(shop): State<Shop>, Json(order): Json<Order>) -> Response {
    let key = format!("reserve-{}", order.order_id);
    let reserve = json!({ "product": order.product });
    if let Err(err) = shop
        .dependencies
        .post("inventory", "reserve", &key, &reserve)
        .await
    {
        return unavailable(&err);
    }
    let paid = charge(&shop.dependencies, &order).await;
    notify_in_background(&shop.dependencies, &order);
    match paid {
        Ok(()) => Json(json!({ "order_id": order.order_id, "status": "paid" })).into_response(),
        Err(Error::Operation(CallError::Status(status))) if (400..500).contains(&status) => {
            let body = json!({ "order_id": order.order_id, "status": "refused", "payment_status": status });
            (StatusCode::PAYMENT_REQUIRED, Json(body)).into_response()
        }
        Err(err) => {
            shop.payments.push(order.clone());
            let body = json!({
                "order_id": order.order_id,
                "status": "pending",
                "message": "Payment queued: your order is confirmed and will be charged shortly",
                "degraded": format!("payment: {}", reason(&err)),
            });
            (StatusCode::ACCEPTED, Json(body)).into_response()
        }
    }
}

fn notify_in_background(dependencies: &Dependencies, order: &Order) {
    let dependencies = dependencies.clone();
    let key = format!("confirm-{}", order.order_id);
    let body = json!({ "order": order.order_id, "template": "order-confirmed" });
    tokio::spawn(async move {
        // Its pipeline retries for up to half a minute; a message lost after that is
        // not worth failing anything for.
        let _ = dependencies.post("notification", "send", &key, &body).await;
    });
}

fn reason(err: &Error<CallError>) -> String {
    match err {
        Error::Rejected(rejection) => rejection.kind().as_str().to_owned(),
        Error::Operation(failure) => failure.to_string(),
    }
}

fn unavailable(err: &Error<CallError>) -> Response {
    let body = json!({
        "error": "Checkout temporarily unavailable, try again in a few minutes",
        "cause": format!("inventory: {}", reason(err)),
    });
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    if let Some(after) = err.rejection().and_then(|r| r.retry_after()) {
        let seconds = after.as_secs() + u64::from(after.subsec_nanos() > 0);
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}
