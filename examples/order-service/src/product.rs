//! `GET /products/{id}`: five parts fetched at once, each with its own fallback.
//!
//! The seeds' product page. Every part runs concurrently through its own pipeline and
//! degrades on its own; how a failure shows depends on the part's criticality:
//!
//! | part | criticality | fallback | if it still fails |
//! |---|---|---|---|
//! | catalog | critical | last answer, up to 10 min old | 503: no product, no page |
//! | pricing | critical | last answer, up to 5 min old | 503: a wrong price is a liability |
//! | inventory | important | "likely available" (estimated) | never fails |
//! | reviews | optional | empty, "Reviews loading..." | never fails |
//! | recommendations | optional | popular products | never fails |
//!
//! The answer lists every degraded part with the fallback used and why, so a stale
//! price or an estimated stock level never passes for fresh data.

use crate::deps::CallError;
use crate::Shop;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use rampart::fallback::{CachedFallback, Degraded, Fallback, FallbackChain};
use rampart::Error;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// How much a part matters to the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Criticality {
    /// Without it there is no page.
    Critical,
    /// Shown estimated when missing.
    Important,
    /// Left out when missing.
    Optional,
}

/// How many (part, product) answers the page cache keeps at most.
pub const MAX_CACHED_PARTS: usize = 10_000;

/// A cached part of one product's page: the part's name and the product's id.
type PartKey = (&'static str, String);

/// The last good answer of each cached part, per product.
#[derive(Clone, Default)]
pub struct PageCache {
    entries: Arc<Mutex<HashMap<PartKey, CachedFallback<Value>>>>,
}

impl PageCache {
    fn for_part(&self, part: &'static str, id: &str, max_age: Duration) -> CachedFallback<Value> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MAX_CACHED_PARTS && !entries.contains_key(&(part, id.to_owned())) {
            // Ids come from the URL: forget everything rather than grow without bound.
            entries.clear();
        }
        entries
            .entry((part, id.to_owned()))
            .or_insert_with(|| {
                // A zero staleness is the only error, and the ages below are not zero.
                CachedFallback::new(max_age).unwrap_or_else(|_| unreachable!("max_age > 0"))
            })
            .clone()
    }
}

type Chain = FallbackChain<Value, CallError>;

/// `GET /products/{id}`.
pub async fn product_page(State(shop): State<Shop>, Path(id): Path<String>) -> Response {
    let deps = &shop.dependencies;
    let cache = &shop.page_cache;
    let catalog = Chain::new().cached(cache.for_part("catalog", &id, Duration::from_secs(600)));
    let pricing = Chain::new().cached(cache.for_part("pricing", &id, Duration::from_secs(300)));
    let inventory = Chain::new().fallback(Fallback::value(
        "estimate",
        json!({ "product": id, "available": true, "estimated": true }),
    ));
    let reviews = Chain::new().fallback(Fallback::value(
        "empty",
        json!({ "product": id, "reviews": [], "message": "Reviews loading..." }),
    ));
    let recommendations = Chain::new().fallback(Fallback::value(
        "popular",
        json!({ "for": id, "items": ["rain jacket", "wool socks"], "popular": true }),
    ));
    let (catalog, pricing, inventory, reviews, recommendations) = tokio::join!(
        catalog.call("catalog", deps.get("catalog", &id)),
        pricing.call("pricing", deps.get("pricing", &id)),
        inventory.call("inventory", deps.get("inventory", &id)),
        reviews.call("reviews", deps.get("reviews", &id)),
        recommendations.call("recommendations", deps.get("recommendations", &id)),
    );
    let mut page = Page::default();
    page.add("product", Criticality::Critical, catalog);
    page.add("price", Criticality::Critical, pricing);
    page.add("inventory", Criticality::Important, inventory);
    page.add("reviews", Criticality::Optional, reviews);
    page.add("recommendations", Criticality::Optional, recommendations);
    page.into_response()
}

/// The page as its parts arrive.
#[derive(Default)]
struct Page {
    parts: Map<String, Value>,
    degraded: Map<String, Value>,
    missing_critical: Vec<String>,
}

impl Page {
    fn add(
        &mut self,
        part: &str,
        criticality: Criticality,
        result: Result<Degraded<Value>, Error<CallError>>,
    ) {
        match result {
            Ok(answer) => {
                let (value, degradation) = answer.into_parts();
                if let Some(degradation) = degradation {
                    self.degraded
                        .insert(part.to_owned(), degradation.to_string().into());
                }
                self.parts.insert(part.to_owned(), value);
            }
            Err(err) if criticality == Criticality::Critical => {
                self.missing_critical
                    .push(format!("{part}: {}", describe(&err)));
            }
            Err(err) => {
                self.degraded.insert(part.to_owned(), describe(&err).into());
            }
        }
    }
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        if !self.missing_critical.is_empty() {
            let body = json!({
                "error": "This product cannot be shown right now, try again in a moment",
                "missing": self.missing_critical,
            });
            return (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
        }
        let mut body = self.parts;
        body.insert("degraded".to_owned(), Value::Object(self.degraded));
        Json(Value::Object(body)).into_response()
    }
}

fn describe(err: &Error<CallError>) -> String {
    match err {
        Error::Rejected(rejection) => rejection.to_string(),
        Error::Operation(failure) => failure.to_string(),
    }
}
