//! The idempotency-key middleware on an axum router: in process through
//! `tower::ServiceExt::oneshot` for the 1,000 concurrent requests and the edge cases,
//! and on a loopback server with reqwest as the client.
//!
//! The handler waits at a gate (a semaphore with no permits) until the test opens it,
//! so "while the first request runs" is a state the test holds, not a race it hopes to
//! win; no test sleeps.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Request, Response, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use rampart::clock::ManualClock;
use rampart_http::server::idempotency::{
    Begin, Fingerprint, IdempotencyConfig, IdempotencyLayer, IdempotencyStore, Lease, MemoryStore,
    RequestBody, ScopedKey, StoreError, StoreFailure, StoreFuture, StoredResponse,
    IDEMPOTENT_REPLAYED,
};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use tower::ServiceExt;

/// What the handlers share with the test.
struct Handler {
    /// Calls of the handler.
    calls: AtomicUsize,
    /// Told each time the handler starts.
    started: Notify,
    /// The handler of `/charges` waits for a permit here when `gated`.
    gate: Semaphore,
    gated: AtomicBool,
}

impl Default for Handler {
    fn default() -> Self {
        Handler {
            calls: AtomicUsize::new(0),
            started: Notify::new(),
            gate: Semaphore::new(0),
            gated: AtomicBool::new(false),
        }
    }
}

impl Handler {
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn open(&self) {
        self.gate.add_permits(Semaphore::MAX_PERMITS / 2);
    }
}

async fn charge(State(h): State<Arc<Handler>>, body: Bytes) -> impl IntoResponse {
    let n = h.calls.fetch_add(1, Ordering::SeqCst) + 1;
    h.started.notify_one();
    if h.gated.load(Ordering::SeqCst) {
        h.gate.acquire().await.unwrap().forget();
    }
    let mut headers = HeaderMap::new();
    headers.insert("x-charge", n.to_string().parse().unwrap());
    let text = format!("charge {n} of {} bytes", body.len());
    (StatusCode::CREATED, headers, text)
}

async fn broken(State(h): State<Arc<Handler>>) -> impl IntoResponse {
    h.calls.fetch_add(1, Ordering::SeqCst);
    (StatusCode::INTERNAL_SERVER_ERROR, "try again")
}

async fn huge(State(h): State<Arc<Handler>>) -> impl IntoResponse {
    h.calls.fetch_add(1, Ordering::SeqCst);
    vec![b'x'; 2 << 20]
}

fn router(layer: IdempotencyLayer) -> (Router, Arc<Handler>) {
    let handler = Arc::new(Handler::default());
    let app = Router::new()
        .route("/charges", post(charge).get(|| async { "list" }))
        .route("/broken", post(broken))
        .route("/huge", post(huge))
        .layer(layer)
        .with_state(handler.clone());
    (app, handler)
}

fn layer_on(store: Arc<dyn IdempotencyStore>) -> IdempotencyLayer {
    IdempotencyLayer::new(IdempotencyConfig::new(), store).unwrap()
}

fn app() -> (Router, Arc<Handler>) {
    router(layer_on(Arc::new(MemoryStore::new())))
}

fn request(path: &str, key: Option<&str>, body: &'static str) -> Request<Body> {
    let mut builder = Request::post(path).header("authorization", "Bearer alice");
    if let Some(key) = key {
        builder = builder.header("idempotency-key", key);
    }
    builder.body(Body::from(body)).unwrap()
}

fn charge_with(key: &str, body: &'static str) -> Request<Body> {
    request("/charges", Some(key), body)
}

/// Status, headers and body of a response.
async fn read(response: Response<Body>) -> (StatusCode, HeaderMap, Bytes) {
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (parts.status, parts.headers, body)
}

async fn send(app: &Router, req: Request<Body>) -> (StatusCode, HeaderMap, Bytes) {
    read(app.clone().oneshot(req).await.unwrap()).await
}

#[tokio::test(start_paused = true)]
async fn a_thousand_concurrent_requests_run_the_handler_once() {
    let (app, handler) = app();
    handler.gated.store(true, Ordering::SeqCst);
    let mut requests = JoinSet::new();
    for _ in 0..1_000 {
        let app = app.clone();
        requests.spawn(async move { send(&app, charge_with("k-1", "amount=7")).await });
    }
    // While the one that got in waits at the gate, the 999 others are answered 409.
    for _ in 0..999 {
        let (status, headers, body) = requests.join_next().await.unwrap().unwrap();
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(headers["retry-after"], "1");
        assert!(std::str::from_utf8(&body)
            .unwrap()
            .contains("Idempotency-Key"));
    }
    assert_eq!(handler.calls(), 1);
    handler.open();
    let (status, headers, body) = requests.join_next().await.unwrap().unwrap();
    assert_eq!(status, StatusCode::CREATED);
    assert!(!headers.contains_key(IDEMPOTENT_REPLAYED));

    // After it completed, 1,000 more get its response replayed.
    for _ in 0..1_000 {
        let app = app.clone();
        requests.spawn(async move { send(&app, charge_with("k-1", "amount=7")).await });
    }
    while let Some(replay) = requests.join_next().await {
        let (again, mut again_headers, again_body) = replay.unwrap();
        assert_eq!(again, status);
        assert_eq!(again_headers.remove(IDEMPOTENT_REPLAYED).unwrap(), "true");
        assert_eq!(again_headers, headers);
        assert_eq!(again_body, body);
    }
    assert_eq!(handler.calls(), 1);
    assert_eq!(&body[..], b"charge 1 of 8 bytes");
}

#[tokio::test(start_paused = true)]
async fn another_payload_with_the_same_key_gets_422() {
    let (app, handler) = app();
    handler.gated.store(true, Ordering::SeqCst);
    let first = tokio::spawn({
        let app = app.clone();
        async move { send(&app, charge_with("k", "amount=7")).await }
    });
    handler.started.notified().await;
    // While it runs, and after: another body, another path.
    let (status, _, _) = send(&app, charge_with("k", "amount=8")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    handler.open();
    assert_eq!(first.await.unwrap().0, StatusCode::CREATED);
    let (status, _, body) = send(&app, charge_with("k", "amount=8")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(std::str::from_utf8(&body)
        .unwrap()
        .contains("idempotency_key_reused"));
    let (status, _, _) = send(&app, request("/broken", Some("k"), "amount=7")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(handler.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_missing_or_malformed_key_gets_400_and_the_server_stays_up() {
    let (app, handler) = app();
    let (status, headers, body) = send(&app, request("/charges", None, "amount=7")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(headers["content-type"], "application/json");
    assert!(std::str::from_utf8(&body)
        .unwrap()
        .contains("Idempotency-Key"));

    let long = "k".repeat(256);
    for bad in [
        &b""[..],
        b"has space",
        b"caf\xc3\xa9",
        b"a\tb",
        b"\x80",
        long.as_bytes(),
    ] {
        let req = Request::post("/charges")
            .header(
                "idempotency-key",
                axum::http::HeaderValue::from_bytes(bad).unwrap(),
            )
            .body(Body::from("amount=7"))
            .unwrap();
        let (status, _, _) = send(&app, req).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad:?}");
    }
    let twice = Request::post("/charges")
        .header("idempotency-key", "a")
        .header("idempotency-key", "b")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, twice).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(handler.calls(), 0);

    // A GET needs no key; a good POST still runs.
    let get = Request::get("/charges").body(Body::empty()).unwrap();
    assert_eq!(send(&app, get).await.0, StatusCode::OK);
    assert_eq!(
        send(&app, charge_with("k", "a")).await.0,
        StatusCode::CREATED
    );
}

#[tokio::test(start_paused = true)]
async fn an_oversize_body_gets_413_and_leaves_the_key_unused() {
    let config = IdempotencyConfig::new().with_max_request_bytes(16);
    let (app, handler) =
        router(IdempotencyLayer::new(config, Arc::new(MemoryStore::new())).unwrap());
    let big = "x".repeat(17).leak();
    assert_eq!(
        send(&app, charge_with("k", big)).await.0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    // A streamed body of unknown length is cut at the cap too.
    let chunks: Vec<Result<Bytes, std::io::Error>> =
        (0..2).map(|_| Ok(Bytes::from("x".repeat(10)))).collect();
    let streamed = Request::post("/charges")
        .header("idempotency-key", "k")
        .body(Body::from_stream(futures_util::stream::iter(chunks)))
        .unwrap();
    assert_eq!(send(&app, streamed).await.0, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(handler.calls(), 0);
    let exact = "x".repeat(16).leak();
    assert_eq!(
        send(&app, charge_with("k", exact)).await.0,
        StatusCode::CREATED
    );
}

/// A memory store that fails on demand, and whose release can answer only after a
/// yield, as a remote store would.
#[derive(Debug, Default)]
struct TestStore {
    inner: MemoryStore,
    fail_begin: AtomicBool,
    fail_complete: AtomicBool,
    slow_release: bool,
}

fn down() -> StoreError {
    StoreError::unavailable(std::io::Error::other("connection refused"))
}

impl IdempotencyStore for TestStore {
    fn begin<'a>(
        &'a self,
        key: &'a ScopedKey,
        fingerprint: &'a Fingerprint,
        ttl: Duration,
    ) -> StoreFuture<'a, Begin> {
        if self.fail_begin.load(Ordering::SeqCst) {
            return Box::pin(async { Err(down()) });
        }
        self.inner.begin(key, fingerprint, ttl)
    }

    fn complete<'a>(
        &'a self,
        key: &'a ScopedKey,
        lease: Lease,
        response: StoredResponse,
        ttl: Duration,
    ) -> StoreFuture<'a, ()> {
        if self.fail_complete.load(Ordering::SeqCst) {
            return Box::pin(async { Err(down()) });
        }
        self.inner.complete(key, lease, response, ttl)
    }

    fn release<'a>(&'a self, key: &'a ScopedKey, lease: Lease) -> StoreFuture<'a, ()> {
        if !self.slow_release {
            return self.inner.release(key, lease);
        }
        Box::pin(async move {
            tokio::task::yield_now().await;
            self.inner.release(key, lease).await
        })
    }
}

#[tokio::test(start_paused = true)]
async fn a_failing_store_gets_503_and_the_handler_never_runs() {
    let store = Arc::new(TestStore::default());
    store.fail_begin.store(true, Ordering::SeqCst);
    let (app, handler) = router(layer_on(store.clone()));
    let (status, headers, _) = send(&app, charge_with("k", "a")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers["retry-after"], "1");
    assert_eq!(handler.calls(), 0);
    store.fail_begin.store(false, Ordering::SeqCst);
    assert_eq!(
        send(&app, charge_with("k", "a")).await.0,
        StatusCode::CREATED
    );
}

#[tokio::test(start_paused = true)]
async fn a_response_the_store_could_not_keep_is_returned_and_never_run_again() {
    let store = Arc::new(TestStore::default());
    store.fail_complete.store(true, Ordering::SeqCst);
    let (app, handler) = router(layer_on(store.clone()));
    let response = app.clone().oneshot(charge_with("k", "a")).await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert!(response.extensions().get::<StoreFailure>().is_some());
    assert_eq!(
        send(&app, charge_with("k", "a")).await.0,
        StatusCode::CONFLICT
    );
    assert_eq!(handler.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn keys_are_scoped_per_caller() {
    let (app, handler) = app();
    let as_caller = |auth: Option<&str>, api_key: Option<&str>| {
        let mut builder = Request::post("/charges").header("idempotency-key", "same");
        if let Some(auth) = auth {
            builder = builder.header("authorization", auth);
        }
        if let Some(api_key) = api_key {
            builder = builder.header("x-api-key", api_key);
        }
        builder.body(Body::from("amount=7")).unwrap()
    };
    let (_, alice, _) = send(&app, as_caller(Some("Bearer alice"), None)).await;
    let (_, bob, _) = send(&app, as_caller(Some("Bearer bob"), None)).await;
    let (_, tenant, _) = send(&app, as_caller(None, Some("tenant-9"))).await;
    let (_, anonymous, _) = send(&app, as_caller(None, None)).await;
    assert_eq!(handler.calls(), 4);
    let charges: Vec<_> = [alice, bob, tenant, anonymous]
        .iter()
        .map(|h| h["x-charge"].clone())
        .collect();
    assert_eq!(charges, ["1", "2", "3", "4"]);
    // Each caller's own retry replays its own response.
    let (_, again, _) = send(&app, as_caller(Some("Bearer bob"), None)).await;
    assert_eq!(again["x-charge"], "2");
    assert_eq!(again[IDEMPOTENT_REPLAYED], "true");
    assert_eq!(handler.calls(), 4);
}

#[tokio::test]
async fn a_key_is_new_again_after_24_hours() {
    let clock = ManualClock::new();
    let store = MemoryStore::new().with_clock(Arc::new(clock.clone()));
    let (app, handler) = router(layer_on(Arc::new(store)));
    send(&app, charge_with("k", "a")).await;
    clock.advance(Duration::from_secs(24 * 3600) - Duration::from_nanos(1));
    let (_, headers, _) = send(&app, charge_with("k", "a")).await;
    assert_eq!(headers[IDEMPOTENT_REPLAYED], "true");
    clock.advance(Duration::from_nanos(1));
    let (status, headers, _) = send(&app, charge_with("k", "b")).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(!headers.contains_key(IDEMPOTENT_REPLAYED));
    assert_eq!(handler.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn paused_time_expires_keys_of_the_default_clock() {
    let (app, handler) = app();
    send(&app, charge_with("k", "a")).await;
    tokio::time::advance(Duration::from_secs(24 * 3600)).await;
    assert_eq!(
        send(&app, charge_with("k", "a")).await.0,
        StatusCode::CREATED
    );
    assert_eq!(handler.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_request_releases_its_key() {
    let store = Arc::new(MemoryStore::new());
    let (app, handler) = router(layer_on(store.clone()));
    handler.gated.store(true, Ordering::SeqCst);
    let first = tokio::spawn({
        let app = app.clone();
        async move { send(&app, charge_with("k", "a")).await }
    });
    handler.started.notified().await;
    assert_eq!(
        send(&app, charge_with("k", "a")).await.0,
        StatusCode::CONFLICT
    );
    first.abort();
    assert!(first.await.unwrap_err().is_cancelled());
    assert!(store.is_empty(), "the in-progress entry is gone");
    handler.open();
    assert_eq!(
        send(&app, charge_with("k", "a")).await.0,
        StatusCode::CREATED
    );
    assert_eq!(handler.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_server_error_releases_the_key() {
    let (app, handler) = app();
    for _ in 0..2 {
        let (status, headers, body) = send(&app, request("/broken", Some("k"), "")).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!headers.contains_key(IDEMPOTENT_REPLAYED));
        assert_eq!(&body[..], b"try again");
    }
    assert_eq!(handler.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_response_too_large_to_store_is_passed_through_and_not_kept() {
    let (app, handler) = app();
    for _ in 0..2 {
        let (status, _, body) = send(&app, request("/huge", Some("k"), "")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body.len(), 2 << 20);
    }
    assert_eq!(handler.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn an_inner_error_releases_the_key_on_any_tower_service() {
    let calls = Arc::new(AtomicUsize::new(0));
    let inner = tower::service_fn({
        let calls = calls.clone();
        move |req: Request<RequestBody<Full<Bytes>>>| {
            let calls = calls.clone();
            async move {
                assert_eq!(
                    req.into_body().collect().await.unwrap().to_bytes(),
                    "amount=7"
                );
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<Response<Full<Bytes>>, _>(std::io::Error::other("boom"))
            }
        }
    });
    let service = tower::Layer::layer(&layer_on(Arc::new(MemoryStore::new())), inner);
    for _ in 0..2 {
        let req = Request::post("/charges")
            .header("idempotency-key", "k")
            .body(Full::new(Bytes::from("amount=7")))
            .unwrap();
        assert!(service.clone().oneshot(req).await.is_err());
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

/// Two worker threads, so that requests really race for the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_loopback_with_reqwest() {
    let (app, handler) = app();
    handler.gated.store(true, Ordering::SeqCst);
    let url = format!("{}/charges", support::serve(app).await);
    let client = reqwest::Client::new();
    let charge = |key: &str, body: &'static str| {
        client
            .post(&url)
            .header("authorization", "Bearer alice")
            .header("idempotency-key", key)
            .body(body)
            .send()
    };

    let mut requests = JoinSet::new();
    for _ in 0..1_000 {
        let sent = charge("k", "amount=7");
        requests.spawn(async move { sent.await.unwrap() });
    }
    for _ in 0..999 {
        let response = requests.join_next().await.unwrap().unwrap();
        assert_eq!(response.status(), 409);
    }
    assert_eq!(charge("k", "amount=8").await.unwrap().status(), 422);
    assert_eq!(
        client.post(&url).body("x").send().await.unwrap().status(),
        400
    );
    handler.open();
    let first = requests.join_next().await.unwrap().unwrap();
    assert_eq!(first.status(), 201);
    let first_body = first.text().await.unwrap();

    let replay = charge("k", "amount=7").await.unwrap();
    assert_eq!(replay.status(), 201);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(replay.headers()["x-charge"], "1");
    assert_eq!(replay.text().await.unwrap(), first_body);
    assert_eq!(handler.calls(), 1);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Any header value and body: a 201, a replay or a 4xx, never a panic or a 5xx.
    #[test]
    fn any_key_and_body_get_an_answer(
        key in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
        body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
    ) {
        let Ok(value) = axum::http::HeaderValue::from_bytes(&key) else {
            return Ok(());
        };
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let (app, _) = app();
            for _ in 0..2 {
                let req = Request::post("/charges")
                    .header("idempotency-key", value.clone())
                    .body(Body::from(body.clone()))
                    .unwrap();
                let (status, _, _) = send(&app, req).await;
                assert!(
                    status == StatusCode::CREATED || status == StatusCode::BAD_REQUEST,
                    "{status}"
                );
            }
        });
    }
}

#[tokio::test(start_paused = true)]
async fn a_panicking_handler_releases_the_key() {
    let store = Arc::new(MemoryStore::new());
    let inner = tower::service_fn(|_: Request<RequestBody<Full<Bytes>>>| async {
        if true {
            panic!("the handler failed");
        }
        Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::new())))
    });
    let service = tower::Layer::layer(&layer_on(store.clone()), inner);
    let req = Request::post("/charges")
        .header("idempotency-key", "k")
        .body(Full::new(Bytes::from("amount=7")))
        .unwrap();
    let outcome = tokio::spawn(service.oneshot(req)).await;
    assert!(outcome.unwrap_err().is_panic());
    assert!(store.is_empty(), "the in-progress entry is gone");
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_request_releases_its_key_in_a_store_that_answers_later() {
    let store = Arc::new(TestStore {
        slow_release: true,
        ..TestStore::default()
    });
    let (app, handler) = router(layer_on(store.clone()));
    handler.gated.store(true, Ordering::SeqCst);
    let first = tokio::spawn({
        let app = app.clone();
        async move { send(&app, charge_with("k", "a")).await }
    });
    handler.started.notified().await;
    first.abort();
    assert!(first.await.unwrap_err().is_cancelled());
    // The release runs on a task of its own.
    for _ in 0..3 {
        tokio::task::yield_now().await;
    }
    assert!(store.inner.is_empty());
    handler.open();
    assert_eq!(
        send(&app, charge_with("k", "a")).await.0,
        StatusCode::CREATED
    );
    assert_eq!(handler.calls(), 2);
}
