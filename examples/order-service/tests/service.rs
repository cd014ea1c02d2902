//! The order service on loopback, driven by reqwest, with time paused: tokio advances
//! the clock only when every task waits, so a 15 s payment outage passes at once.

use order_service::upstream::Fault;
use order_service::Running;
use rampart::registry::ConfigFile;
use serde_json::{json, Value};
use std::time::Duration;

const SHOP: &str = include_str!("../../../config/shop.toml");

async fn shop() -> Running {
    let file = ConfigFile::parse(SHOP, "config/shop.toml").expect("the example config parses");
    order_service::start(([127, 0, 0, 1], 0).into(), &file)
        .await
        .expect("the service starts")
}

async fn fault(running: &Running, dependency: &str, fault: Fault) {
    let url = format!("http://{}/admin/faults/{dependency}", running.addr);
    let response = reqwest::Client::new()
        .put(url)
        .json(&fault)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

fn failing(status: u16) -> Fault {
    Fault {
        latency_ms: 0,
        status,
    }
}

fn slow(latency_ms: u64) -> Fault {
    Fault {
        latency_ms,
        status: 0,
    }
}

async fn get(running: &Running, path: &str) -> (u16, Value) {
    let response = reqwest::get(format!("http://{}{path}", running.addr))
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn checkout(running: &Running, order_id: &str) -> (u16, Value) {
    let order = json!({ "order_id": order_id, "product": "7", "cents": 12900 });
    let response = reqwest::Client::new()
        .post(format!("http://{}/checkout", running.addr))
        .header("idempotency-key", format!("checkout-{order_id}"))
        .json(&order)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test(start_paused = true)]
async fn the_product_page_has_its_five_parts_when_all_is_well() {
    let running = shop().await;
    let (status, page) = get(&running, "/products/7").await;
    assert_eq!(status, 200);
    for part in [
        "product",
        "price",
        "inventory",
        "reviews",
        "recommendations",
    ] {
        assert!(page.get(part).is_some(), "{part} missing from {page}");
    }
    assert_eq!(page["degraded"], json!({}));
    assert_eq!(page["price"]["cents"], 12900);
}

#[tokio::test(start_paused = true)]
async fn optional_and_important_parts_degrade_and_say_so() {
    let running = shop().await;
    fault(&running, "reviews", failing(500)).await;
    fault(&running, "recommendations", slow(60_000)).await;
    fault(&running, "inventory", failing(503)).await;
    let (status, page) = get(&running, "/products/7").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["reviews"]["message"], "Reviews loading...");
    assert_eq!(page["recommendations"]["popular"], true);
    assert_eq!(page["inventory"]["estimated"], true);
    let degraded = page["degraded"].as_object().unwrap();
    assert!(degraded["reviews"]
        .as_str()
        .unwrap()
        .starts_with("served by empty"));
    assert!(degraded["recommendations"]
        .as_str()
        .unwrap()
        .contains("timeout"));
    assert!(degraded["inventory"]
        .as_str()
        .unwrap()
        .starts_with("served by estimate"));
    assert!(!degraded.contains_key("price"));
}

#[tokio::test(start_paused = true)]
async fn a_critical_part_is_served_from_its_cache_then_fails_loudly() {
    let running = shop().await;
    assert_eq!(get(&running, "/products/7").await.0, 200);
    fault(&running, "pricing", failing(503)).await;

    // Product 7's price was seen a moment ago: served, marked as the cache's.
    let (status, page) = get(&running, "/products/7").await;
    assert_eq!(status, 200);
    assert_eq!(page["price"]["cents"], 12900);
    assert!(page["degraded"]["price"]
        .as_str()
        .unwrap()
        .starts_with("served by cache"));

    // Product 8's price was never seen: no page rather than a made-up price.
    let (status, page) = get(&running, "/products/8").await;
    assert_eq!(status, 503);
    assert!(
        page["missing"][0].as_str().unwrap().starts_with("price"),
        "{page}"
    );

    // Five minutes on, product 7's cached price is too old to show.
    tokio::time::sleep(Duration::from_secs(301)).await;
    assert_eq!(get(&running, "/products/7").await.0, 503);
}

#[tokio::test(start_paused = true)]
async fn checkout_charges_once_when_payment_answers() {
    let running = shop().await;
    let (status, body) = checkout(&running, "1").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "paid");
    let charges = running.shop.world.charges();
    assert_eq!(charges.get("order-1"), Some(&1));
}

#[tokio::test(start_paused = true)]
async fn a_slow_payment_gives_a_pending_order_charged_after_recovery() {
    let running = shop().await;
    fault(&running, "payment", slow(30_000)).await;
    let started = tokio::time::Instant::now();
    let (status, body) = checkout(&running, "2").await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "pending");
    // The payment pipeline's whole-call timeout (the 15 s SLA) bounds the wait.
    assert!(
        started.elapsed() <= Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(running.shop.payments.counts(), (1, 0));

    // Payment recovers: the queued charge goes through with the order's key.
    fault(&running, "payment", Fault::default()).await;
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert_eq!(running.shop.payments.counts(), (1, 1));
    let charges = running.shop.world.charges();
    assert!(charges.keys().all(|key| key == "order-2"), "{charges:?}");
    let (_, report) = get(&running, "/admin/payments").await;
    assert_eq!(report["charged"], 1);
}

#[tokio::test(start_paused = true)]
async fn a_refused_payment_fails_the_order_and_is_not_queued() {
    let running = shop().await;
    fault(&running, "payment", failing(402)).await;
    let (status, body) = checkout(&running, "3").await;
    assert_eq!(status, 402, "{body}");
    assert_eq!(body["status"], "refused");
    assert_eq!(running.shop.payments.counts(), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn inventory_down_fails_checkout_loudly() {
    let running = shop().await;
    fault(&running, "inventory", failing(503)).await;
    let (status, body) = checkout(&running, "4").await;
    assert_eq!(status, 503);
    assert_eq!(
        body["error"],
        "Checkout temporarily unavailable, try again in a few minutes"
    );
    assert!(
        running.shop.world.charges().is_empty(),
        "no charge without stock"
    );
}

#[tokio::test(start_paused = true)]
async fn faults_are_set_only_on_known_dependencies() {
    let running = shop().await;
    let url = format!("http://{}/admin/faults/nowhere", running.addr);
    let response = reqwest::Client::new()
        .put(url)
        .json(&slow(1))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let url = format!("http://{}/admin/faults/payment", running.addr);
    let response = reqwest::Client::new()
        .put(url)
        .header("content-type", "application/json")
        .body("{\"latency\": 5}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422, "an unknown field is refused");
}

#[tokio::test(start_paused = true)]
async fn a_retried_checkout_is_replayed_not_ordered_twice() {
    let running = shop().await;
    let (first, body) = checkout(&running, "5").await;
    assert_eq!(first, 200, "{body}");
    let order = json!({ "order_id": "5", "product": "7", "cents": 12900 });
    let url = format!("http://{}/checkout", running.addr);
    let again = reqwest::Client::new()
        .post(&url)
        .header("idempotency-key", "checkout-5")
        .json(&order)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), body);
    assert_eq!(running.shop.world.charges().get("order-5"), Some(&1));

    let keyless = reqwest::Client::new()
        .post(&url)
        .json(&order)
        .send()
        .await
        .unwrap();
    assert_eq!(keyless.status(), 400);
}

#[tokio::test(start_paused = true)]
async fn a_burst_above_the_client_limit_gets_429_and_health_is_exempt() {
    let running = shop().await;
    let client = reqwest::Client::new();
    let url = format!("http://{}/analytics/events", running.addr);
    let (_, burst) = order_service::RATE_PER_CLIENT;
    for _ in 0..burst {
        assert_eq!(client.post(&url).send().await.unwrap().status(), 204);
    }
    let refused = client.post(&url).send().await.unwrap();
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=1).contains(&retry_after),
        "one token back within a second: {retry_after}"
    );
    assert!(refused.headers().contains_key("ratelimit"));

    // The probes are never limited, even for a caller over its quota.
    let (status, ready) = get(&running, "/health/ready").await;
    assert_eq!(status, 200, "{ready}");

    // A second later the caller has a token again.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(client.post(&url).send().await.unwrap().status(), 204);
}

#[tokio::test(start_paused = true)]
async fn health_lists_every_pipeline_and_metrics_count_the_calls() {
    let running = shop().await;
    assert_eq!(get(&running, "/products/7").await.0, 200);
    let (status, report) = get(&running, "/health/dependencies").await;
    assert_eq!(status, 200);
    let text = report.to_string();
    // One pipeline per simulated dependency.
    for pipeline in order_service::upstream::DEPENDENCIES {
        assert!(text.contains(pipeline), "{pipeline} missing from {text}");
    }
    let metrics = reqwest::get(format!("http://{}/metrics", running.addr))
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.unwrap();
    assert!(
        text.lines().any(
            |l| l.starts_with("http_client_request_duration_seconds_count")
                && l.contains("pricing")
        ),
        "{text}"
    );
}
