//! Client timeouts and pool slots per dependency, configured in TOML, against an axum
//! server on loopback.
//!
//! Time is paused: reqwest's timeouts and the middleware's use tokio's timers, and tokio
//! advances the clock only when every task waits, so a stalled server makes a timeout
//! fire at once, measured exactly.

mod support;

use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use bytes::Bytes;
use rampart::registry::Registry;
use rampart::RejectionKind;
use rampart_http::client::{
    client_builder, clients_from_registry, rejection, write_timeout, ClientTimeouts,
    RampartMiddleware, CLIENT_POOL,
};
use reqwest_middleware::ClientWithMiddleware;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Semaphore};
use tokio::time::Instant;

/// What the server does: `/stall` answers after an hour, `/stall-body` sends headers
/// and one chunk then stalls, `/gate` waits for a permit of `gate`, anything else
/// answers at once; every request is counted.
#[derive(Clone)]
struct Server {
    gate: Arc<Semaphore>,
    calls: Arc<AtomicU32>,
}

async fn stall(State(server): State<Server>) -> &'static str {
    server.calls.fetch_add(1, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(3600)).await;
    "late"
}

async fn stall_body(State(server): State<Server>) -> Body {
    server.calls.fetch_add(1, Ordering::Relaxed);
    let chunks = futures_util::stream::unfold(0, |n| async move {
        if n > 0 {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        Some((Ok::<_, Infallible>(Bytes::from_static(b"chunk")), n + 1))
    });
    Body::from_stream(chunks)
}

async fn gate(State(server): State<Server>) -> &'static str {
    server.calls.fetch_add(1, Ordering::Relaxed);
    server.gate.acquire().await.unwrap().forget();
    "through"
}

async fn fast(State(server): State<Server>, body: Bytes) -> (StatusCode, String) {
    server.calls.fetch_add(1, Ordering::Relaxed);
    (StatusCode::OK, format!("{} bytes", body.len()))
}

async fn start() -> (String, Server) {
    let server = Server {
        gate: Arc::new(Semaphore::new(0)),
        calls: Arc::new(AtomicU32::new(0)),
    };
    let app = axum::Router::new()
        .route("/stall", axum::routing::get(stall))
        .route("/stall-body", axum::routing::get(stall_body))
        .route("/gate", axum::routing::get(gate))
        .fallback(fast)
        .with_state(server.clone());
    (support::serve(app).await, server)
}

/// The clients of a registry read from `toml`, and the one for `name`.
fn client(toml: &str, name: &str) -> ClientWithMiddleware {
    let registry = Registry::from_toml(toml, "test.toml").unwrap();
    clients_from_registry(&registry)
        .unwrap()
        .remove(name)
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn the_read_timeout_fires_against_a_stalled_server() {
    let (url, _server) = start().await;
    let client = client(
        "[dependencies.orders]\nclient = { read = \"1500ms\" }\n",
        "orders",
    );
    let started = Instant::now();
    let err = client.get(format!("{url}/stall")).send().await.unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(started.elapsed(), Duration::from_millis(1500));
}

#[tokio::test(start_paused = true)]
async fn the_read_timeout_bounds_each_gap_in_the_body() {
    let (url, _server) = start().await;
    let client = client(
        "[dependencies.orders]\nclient = { read = \"2s\" }\n",
        "orders",
    );
    let response = client
        .get(format!("{url}/stall-body"))
        .send()
        .await
        .unwrap();
    let started = Instant::now();
    let err = response.bytes().await.unwrap_err();
    assert!(
        err.is_timeout() || err.is_body() || err.is_decode(),
        "{err:?}"
    );
    assert_eq!(started.elapsed(), Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn the_total_timeout_covers_headers_and_body() {
    let (url, _server) = start().await;
    let client = client(
        "[dependencies.orders]\nclient = { read = \"1h\", total = \"3s\" }\n",
        "orders",
    );
    let started = Instant::now();
    let err = client.get(format!("{url}/stall")).send().await.unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(started.elapsed(), Duration::from_secs(3));

    // The body stalls after its first chunk: the total timeout ends it too.
    let started = Instant::now();
    let response = client
        .get(format!("{url}/stall-body"))
        .send()
        .await
        .unwrap();
    assert!(response.bytes().await.is_err());
    assert_eq!(started.elapsed(), Duration::from_secs(3));
}

/// Two slots; retries that would repeat a refused request if it were retried.
const POOL: &str = r#"
[dependencies.orders]
client = { pool_size = 2, pool = "500ms" }
policies = [{ policy = "retry", max_attempts = 3, backoff = { kind = "constant", delay = "1s" } }]
"#;

#[tokio::test(start_paused = true)]
async fn the_pool_wait_times_out_when_pool_size_requests_are_in_flight() {
    let (url, server) = start().await;
    let client = client(POOL, "orders");
    let first = tokio::spawn(client.get(format!("{url}/gate")).send());
    let second = tokio::spawn(client.get(format!("{url}/gate")).send());
    while server.calls.load(Ordering::Relaxed) < 2 {
        tokio::task::yield_now().await;
    }
    let started = Instant::now();
    let err = client.get(format!("{url}/fast")).send().await.unwrap_err();
    assert_eq!(started.elapsed(), Duration::from_millis(500));
    let refused = rejection(&err).expect("a rejection");
    assert_eq!(refused.kind(), RejectionKind::BulkheadFull);
    assert_eq!(refused.policy(), CLIENT_POOL);
    assert_eq!(refused.name(), "orders");
    // It was not sent, nor retried.
    assert_eq!(server.calls.load(Ordering::Relaxed), 2);

    server.gate.add_permits(2);
    for call in [first, second] {
        let body = call.await.unwrap().unwrap().text().await.unwrap();
        assert_eq!(body, "through");
    }
    let ok = client.get(format!("{url}/fast")).send().await.unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test(start_paused = true)]
async fn an_unread_response_keeps_its_slot_until_read_or_dropped() {
    let (url, _server) = start().await;
    let client = client(
        "[dependencies.orders]\nclient = { pool_size = 1, pool = \"1s\" }\n",
        "orders",
    );
    let held = client.get(format!("{url}/fast")).send().await.unwrap();
    let err = client.get(format!("{url}/fast")).send().await.unwrap_err();
    assert!(rejection(&err).is_some(), "{err:?}");
    // Reading the body to its end gives the slot back.
    assert_eq!(held.text().await.unwrap(), "0 bytes");
    let held = client.get(format!("{url}/fast")).send().await.unwrap();
    assert_eq!(held.url().path(), "/fast");
    // So does dropping it.
    drop(held);
    assert!(client.get(format!("{url}/fast")).send().await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_wait_for_a_slot_takes_nothing() {
    let (url, server) = start().await;
    let client = client(
        "[dependencies.orders]\nclient = { pool_size = 1 }\n",
        "orders",
    );
    let first = tokio::spawn(client.get(format!("{url}/gate")).send());
    while server.calls.load(Ordering::Relaxed) < 1 {
        tokio::task::yield_now().await;
    }
    // No `pool` timeout: the wait is unbounded, until the caller gives up.
    let waiting = client.get(format!("{url}/fast")).send();
    assert!(tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .is_err());
    server.gate.add_permits(1);
    first.await.unwrap().unwrap().text().await.unwrap();
    assert!(client.get(format!("{url}/fast")).send().await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn the_write_timeout_cuts_a_streamed_body_that_stalls() {
    let (url, server) = start().await;
    let client = client(
        "[dependencies.orders]\nclient = { write = \"2s\" }\n",
        "orders",
    );
    let (tx, rx) = mpsc::channel::<Result<Bytes, Infallible>>(1);
    tx.send(Ok(Bytes::from_static(b"first"))).await.unwrap();
    let body = reqwest::Body::wrap_stream(futures_util::stream::unfold(rx, |mut rx| async {
        rx.recv().await.map(|chunk| (chunk, rx))
    }));
    let started = Instant::now();
    let err = client
        .put(format!("{url}/upload"))
        .body(body)
        .send()
        .await
        .unwrap_err();
    let cut = write_timeout(&err).expect("a write timeout");
    assert_eq!(cut.limit(), Duration::from_secs(2));
    assert_eq!(started.elapsed(), Duration::from_secs(2));
    assert_eq!(server.calls.load(Ordering::Relaxed), 0);
    drop(tx);
}

#[tokio::test(start_paused = true)]
async fn the_write_timeout_lets_a_body_sent_in_time_through() {
    let (url, _server) = start().await;
    let client = client(
        "[dependencies.orders]\nclient = { write = \"2s\", pool_size = 4 }\n",
        "orders",
    );
    let chunks: Vec<Result<Bytes, Infallible>> = vec![Ok(Bytes::from(vec![1u8; 70_000])); 20];
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let response = client
        .put(format!("{url}/upload"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.text().await.unwrap(), "1400000 bytes");
    // A buffered body: nothing watched.
    let response = client
        .put(format!("{url}/upload"))
        .body("abc")
        .send()
        .await
        .unwrap();
    assert_eq!(response.text().await.unwrap(), "3 bytes");
}

#[tokio::test(start_paused = true)]
async fn a_shared_client_gets_each_dependencys_limits() {
    let (url, server) = start().await;
    let registry = Registry::from_toml(
        r#"
        [dependencies.slow]
        client = { pool_size = 1, pool = "100ms" }
        [dependencies.roomy]
        client = { pool_size = 5, pool = "100ms" }
        "#,
        "test.toml",
    )
    .unwrap();
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(RampartMiddleware::from_registry(registry.clone()))
        .with(ClientTimeouts::from_registry(&registry))
        .build();
    let named = |dep: &str, path: &str| {
        client
            .get(format!("{url}{path}"))
            .with_extension(rampart_http::client::Dependency::new(dep))
            .send()
    };
    let first = tokio::spawn(named("slow", "/gate"));
    while server.calls.load(Ordering::Relaxed) < 1 {
        tokio::task::yield_now().await;
    }
    assert!(rejection(&named("slow", "/fast").await.unwrap_err()).is_some());
    assert!(named("roomy", "/fast").await.is_ok());
    server.gate.add_permits(1);
    first.await.unwrap().unwrap();
}

#[test]
fn client_builder_applies_connect_and_total() {
    let registry = Registry::from_toml(
        r#"
        [dependencies.orders]
        client = { pool_size = 7, connect = "1s", read = "2s", total = "3s" }
        "#,
        "test.toml",
    )
    .unwrap();
    let config = registry.config().dependencies["orders"].client;
    // Reqwest's Debug shows these two; the read timeout has its own tests above.
    let shown = format!("{:?}", client_builder(&config));
    for expected in ["connect_timeout: 1s", "timeout: 3s"] {
        assert!(shown.contains(expected), "{expected} not in {shown}");
    }
}
