//! The reqwest middleware against a real axum server on loopback, in one runtime.
//!
//! Time is paused: tokio advances the clock only when every task waits, and loopback
//! writes reach the other socket at once, so a retry's wait passes instantly and is
//! measured exactly, and nothing sleeps in real time.

mod support;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use rampart::circuit::BreakerConfig;
use rampart::hedge::HedgeConfig;
use rampart::registry::Registry;
use rampart::retry::RetryConfig;
use rampart::{Pipeline, RejectionKind};
use rampart_http::classify::IDEMPOTENCY_KEY;
use rampart_http::client::{rejection, Dependency, RampartMiddleware, RAMPART_ATTEMPT};
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// What the server saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    attempt: Option<String>,
    key: Option<String>,
    at: Instant,
}

/// A status to answer with, and its `Retry-After`.
type Answer = (u16, Option<&'static str>);

/// A server that answers with the scripted statuses (and `Retry-After`), then 200.
#[derive(Clone, Default)]
struct Server {
    script: Arc<Mutex<VecDeque<Answer>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    fn script(&self, answers: &[Answer]) {
        self.script.lock().unwrap().extend(answers.iter().copied());
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn attempts(&self) -> Vec<Option<String>> {
        self.seen().into_iter().map(|s| s.attempt).collect()
    }

    fn keys(&self) -> Vec<Option<String>> {
        self.seen().into_iter().map(|s| s.key).collect()
    }
}

async fn answer(State(server): State<Server>, headers: HeaderMap) -> impl IntoResponse {
    let text = |name| {
        headers
            .get(name)
            .map(|v: &axum::http::HeaderValue| v.to_str().unwrap().to_owned())
    };
    server.seen.lock().unwrap().push(Seen {
        attempt: text(RAMPART_ATTEMPT.as_str()),
        key: text(IDEMPOTENCY_KEY.as_str()),
        at: Instant::now(),
    });
    let (status, retry_after) = server
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or((200, None));
    let mut out = HeaderMap::new();
    if let Some(after) = retry_after {
        out.insert("retry-after", after.parse().unwrap());
    }
    (StatusCode::from_u16(status).unwrap(), out, "answer")
}

/// Starts the server on an ephemeral loopback port; returns its base URL.
async fn start() -> (String, Server) {
    let server = Server::default();
    let app = axum::Router::new()
        .fallback(answer)
        .with_state(server.clone());
    (support::serve(app).await, server)
}

/// Three attempts, a backoff of a minute, Retry-After accepted up to 10 s.
fn pipeline() -> Pipeline {
    Pipeline::builder("orders")
        .retry(
            RetryConfig::exponential(Duration::from_secs(60))
                .with_max_attempts(3)
                .with_max_retry_after(Duration::from_secs(10)),
        )
        .build()
        .unwrap()
}

fn client(middleware: RampartMiddleware) -> ClientWithMiddleware {
    ClientBuilder::new(reqwest::Client::new())
        .with(middleware)
        .build()
}

fn attempts(n: usize) -> Vec<Option<String>> {
    (1..=n).map(|i| Some(i.to_string())).collect()
}

#[tokio::test(start_paused = true)]
async fn get_is_retried_on_503_and_carries_the_attempt_number() {
    let (url, server) = start().await;
    server.script(&[(503, None)]);
    let client = client(RampartMiddleware::new(pipeline()));

    let response = client.get(format!("{url}/orders/7")).send().await.unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(server.attempts(), attempts(2));
    let seen = server.seen();
    let waited = seen[1].at - seen[0].at;
    assert!(
        waited <= Duration::from_secs(60),
        "the jittered backoff: {waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn retry_after_wins_over_the_backoff() {
    let (url, server) = start().await;
    server.script(&[(503, Some("2"))]);
    let client = client(RampartMiddleware::new(pipeline()));

    let response = client.get(format!("{url}/orders/7")).send().await.unwrap();

    assert_eq!(response.status(), 200);
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].at - seen[0].at, Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn post_without_a_key_is_sent_once() {
    let (url, server) = start().await;
    server.script(&[(503, Some("1"))]);
    let client = client(RampartMiddleware::new(pipeline()));

    let response = client
        .post(format!("{url}/charges"))
        .body("amount=7")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 503, "the final status is a response");
    assert_eq!(server.attempts(), attempts(1));
    assert_eq!(server.keys(), vec![None]);
}

#[tokio::test(start_paused = true)]
async fn post_with_a_key_is_retried_with_the_same_key() {
    let (url, server) = start().await;
    server.script(&[(503, Some("1")), (502, None)]);
    let client = client(RampartMiddleware::new(pipeline()));

    let response = client
        .post(format!("{url}/charges"))
        .header(IDEMPOTENCY_KEY, "charge-7")
        .body("amount=7")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(server.attempts(), attempts(3));
    assert_eq!(server.keys(), vec![Some("charge-7".to_owned()); 3]);
}

#[tokio::test(start_paused = true)]
async fn minted_keys_are_kept_across_attempts_and_differ_across_requests() {
    let (url, server) = start().await;
    server.script(&[(503, Some("1"))]);
    let client = client(RampartMiddleware::new(pipeline()).with_idempotency_keys(true));

    for _ in 0..2 {
        let response = client
            .post(format!("{url}/charges"))
            .body("amount=7")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }

    let keys: Vec<String> = server.keys().into_iter().map(Option::unwrap).collect();
    assert_eq!(
        server.attempts(),
        vec![Some("1".into()), Some("2".into()), Some("1".into())]
    );
    assert_eq!(keys[0], keys[1], "one key per logical request");
    assert_ne!(keys[1], keys[2], "a fresh key for the next request");
    for key in &keys {
        assert_eq!(key.len(), 36);
        assert_eq!(&key[14..15], "4", "a UUID v4: {key}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_key_of_the_caller_is_not_replaced_and_get_gets_none() {
    let (url, server) = start().await;
    let client = client(RampartMiddleware::new(pipeline()).with_idempotency_keys(true));

    client
        .post(format!("{url}/charges"))
        .header(IDEMPOTENCY_KEY, "mine")
        .send()
        .await
        .unwrap();
    client.get(format!("{url}/charges")).send().await.unwrap();

    assert_eq!(server.keys(), vec![Some("mine".to_owned()), None]);
}

#[tokio::test(start_paused = true)]
async fn not_found_is_not_retried() {
    let (url, server) = start().await;
    server.script(&[(404, None)]);
    let client = client(RampartMiddleware::new(pipeline()));

    let response = client
        .get(format!("{url}/orders/404"))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 404);
    assert_eq!(server.attempts(), attempts(1));
}

#[tokio::test(start_paused = true)]
async fn a_rejection_is_a_middleware_error_and_nothing_is_sent() {
    let (url, server) = start().await;
    let orders = Pipeline::builder("orders")
        .circuit_breaker(BreakerConfig::default())
        .build()
        .unwrap();
    orders.circuit_breakers().next().unwrap().force_open();
    let client = client(RampartMiddleware::new(orders));

    let err = client
        .get(format!("{url}/orders/7"))
        .send()
        .await
        .unwrap_err();

    assert!(matches!(err, reqwest_middleware::Error::Middleware(_)));
    assert_eq!(rejection(&err).unwrap().kind(), RejectionKind::CircuitOpen);
    assert!(server.seen().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_registry_routes_by_dependency_and_passes_unknown_hosts_through() {
    let (url, server) = start().await;
    let registry = Registry::from_toml(
        r#"
        [dependencies.orders]
        policies = [{ policy = "retry", max_attempts = 2, backoff = { kind = "constant", delay = "1s" } }]
        "#,
        "inline.toml",
    )
    .unwrap();
    let client = client(RampartMiddleware::from_registry(registry));

    // Named dependency: retried, attempt header.
    server.script(&[(503, None)]);
    let response = client
        .get(format!("{url}/a"))
        .with_extension(Dependency::new("orders"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(server.attempts(), attempts(2));

    // The host (127.0.0.1) names no pipeline: sent as it is, once.
    server.seen.lock().unwrap().clear();
    server.script(&[(503, None)]);
    let response = client.get(format!("{url}/b")).send().await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(server.attempts(), vec![None]);

    // A dependency that does not exist is a mistake: not sent.
    server.seen.lock().unwrap().clear();
    let err = client
        .get(format!("{url}/c"))
        .with_extension(Dependency::new("nope"))
        .send()
        .await
        .unwrap_err();
    let reqwest_middleware::Error::Middleware(inner) = err else {
        panic!("not a middleware error: {err:?}");
    };
    assert!(inner
        .downcast_ref::<rampart::registry::UnknownDependency>()
        .is_some());
    assert!(server.seen().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_streaming_body_is_sent_once_even_when_it_may_be_retried() {
    let (url, server) = start().await;
    server.script(&[(503, None)]);
    let client = client(RampartMiddleware::new(pipeline()));
    let chunks: Vec<Result<&'static str, std::io::Error>> = vec![Ok("amount="), Ok("7")];
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));

    // PUT is idempotent, but the stream cannot be sent a second time.
    let response = client
        .put(format!("{url}/orders/7"))
        .body(body)
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 503);
    assert_eq!(server.attempts(), attempts(1));
}

#[tokio::test(start_paused = true)]
async fn extensions_written_below_reach_the_caller() {
    #[derive(Clone, Debug, PartialEq)]
    struct Note(&'static str);
    struct Below;
    #[async_trait::async_trait]
    impl reqwest_middleware::Middleware for Below {
        async fn handle(
            &self,
            req: reqwest::Request,
            extensions: &mut http::Extensions,
            next: reqwest_middleware::Next<'_>,
        ) -> reqwest_middleware::Result<reqwest::Response> {
            extensions.insert(Note("seen below"));
            next.run(req, extensions).await
        }
    }
    let (url, _server) = start().await;
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(RampartMiddleware::new(pipeline()))
        .with(Below)
        .build();
    let mut extensions = http::Extensions::new();

    let request = client.get(format!("{url}/x")).build().unwrap();
    client
        .execute_with_extensions(request, &mut extensions)
        .await
        .unwrap();

    assert_eq!(extensions.get::<Note>(), Some(&Note("seen below")));
}

/// A server that answers after a second and counts the requests it saw.
async fn start_slow() -> (String, Arc<Mutex<Vec<Option<String>>>>) {
    let keys: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
    let seen = Arc::clone(&keys);
    let app = axum::Router::new().fallback(move |headers: HeaderMap| {
        let seen = Arc::clone(&seen);
        async move {
            let key = headers
                .get(IDEMPOTENCY_KEY.as_str())
                .map(|v| v.to_str().unwrap().to_owned());
            seen.lock().unwrap().push(key);
            tokio::time::sleep(Duration::from_secs(1)).await;
            "slow"
        }
    });
    (support::serve(app).await, keys)
}

fn hedging() -> Pipeline {
    Pipeline::builder("orders")
        .hedge(HedgeConfig::fixed(Duration::from_millis(100)).with_max_attempts(2))
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_hedge_is_sent_beside_a_slow_get() {
    let (url, seen) = start_slow().await;
    let client = client(RampartMiddleware::new(hedging()));
    let response = client.get(format!("{url}/orders/7")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_post_without_a_key_is_never_hedged() {
    let (url, seen) = start_slow().await;
    let client = client(RampartMiddleware::new(hedging()));
    let response = client
        .post(format!("{url}/charges"))
        .body("amount=700")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(*seen.lock().unwrap(), vec![None], "sent once");
}

#[tokio::test(start_paused = true)]
async fn a_post_with_a_minted_key_is_hedged_with_the_same_key() {
    let (url, seen) = start_slow().await;
    let client = client(RampartMiddleware::new(hedging()).with_idempotency_keys(true));
    let response = client
        .post(format!("{url}/charges"))
        .body("amount=700")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let keys = seen.lock().unwrap().clone();
    assert_eq!(keys.len(), 2);
    assert!(keys[0].is_some());
    assert_eq!(keys[0], keys[1]);
}
