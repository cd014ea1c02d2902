//! The rate-limit and load-shed middleware in front of a real axum server on loopback,
//! with reqwest as the client, in one runtime with paused time (nothing sleeps in real
//! time: a wait of 10 s passes at once and exactly).

mod support;

use axum::routing::get;
use axum::Router;
use rampart::keyed::KeyedConfig;
use rampart::rate_limit::{KeyedRateLimiter, RateLimitConfig};
use rampart::shed::{LoadShedder, Priority, ShedConfig, ShedPermit};
use rampart_http::rate_limit_headers::{
    parse_x_rate_limit, retry_hint, RateLimitInfo, ResetFormat,
};
use rampart_http::retry_after::RetryAfterPolicy;
use rampart_http::server::caller::{CallerId, CallerKey};
use rampart_http::server::load_shed::{LoadShedLayer, PriorityRoutes};
use rampart_http::server::rate_limit::{MissingKey, RateLimitBuilder, RateLimitLayer};
use reqwest::header::HeaderMap;
use reqwest::{Client, StatusCode};
use std::net::IpAddr;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

fn app() -> Router {
    Router::new()
        .route("/orders", get(|| async { "orders" }))
        .route("/auth/login", get(|| async { "welcome" }))
        .route("/checkout/pay", get(|| async { "paid" }))
        .route("/analytics/event", get(|| async { "noted" }))
        .route("/health/live", get(|| async { "live" }))
        .route(
            "/checkout/priority",
            get(|| async { format!("{:?}", rampart::shed::current_priority()) }),
        )
        .route("/metrics", get(|| async { "up 1\n" }))
        .route(
            "/checkout/slow",
            get(|| async {
                std::future::pending::<()>().await;
                "never"
            }),
        )
}

/// A limiter of `burst` tokens, one back every `every`.
fn limiter(every: Duration, burst: u32) -> KeyedRateLimiter<CallerId> {
    let quota = RateLimitConfig::new(1, every).with_burst(burst);
    KeyedRateLimiter::new("api", quota, KeyedConfig::new()).unwrap()
}

async fn serve_limited(builder: RateLimitBuilder) -> String {
    support::serve(app().layer(builder.build().unwrap())).await
}

async fn get_with(client: &Client, url: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = client.get(url);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.send().await.unwrap()
}

fn info(headers: &HeaderMap) -> RateLimitInfo {
    RateLimitInfo::from_headers(headers, SystemTime::now(), ResetFormat::Auto).unwrap()
}

fn key(k: &str) -> CallerId {
    CallerId::Key(k.as_bytes().into())
}

#[tokio::test(start_paused = true)]
async fn a_burst_gets_429s_whose_headers_parse_back_and_agree_with_the_limiter() {
    let limiter = limiter(Duration::from_secs(10), 3);
    let url = serve_limited(RateLimitLayer::builder(limiter.clone())).await;
    let client = Client::new();
    let orders = format!("{url}/orders");
    let k1 = [("x-api-key", "k1")];
    let started = Instant::now();

    for remaining in [2u64, 1, 0] {
        let res = get_with(&client, &orders, &k1).await;
        assert_eq!(res.status(), StatusCode::OK);
        let got = info(res.headers());
        assert_eq!(got.policy.as_deref(), Some("api"));
        assert_eq!((got.limit, got.remaining), (Some(3), Some(remaining)));
        assert_eq!(got.window, Some(Duration::from_secs(30)));
        // The bucket is full again once the tokens taken come back, 10 s each.
        assert_eq!(got.reset, Some(Duration::from_secs(10 * (3 - remaining))));
        let snapshot = limiter.key_snapshot(&key("k1")).unwrap();
        assert_eq!(u64::from(snapshot.available), remaining);
        // X-RateLimit-Reset is a Unix time: the same instant, to the second.
        let x = parse_x_rate_limit(res.headers(), SystemTime::now(), ResetFormat::Auto).unwrap();
        assert_eq!((x.limit, x.remaining), (Some(3), Some(remaining)));
        let x_reset = x.reset.unwrap().as_secs_f64();
        assert!(
            (x_reset - got.reset.unwrap().as_secs_f64()).abs() <= 1.0,
            "{x_reset}"
        );
        assert_eq!(res.text().await.unwrap(), "orders");
    }

    for _ in 0..3 {
        let res = get_with(&client, &orders, &k1).await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(res.headers()["retry-after"], "10");
        let now = SystemTime::now();
        let hint = retry_hint(
            res.headers(),
            now,
            &RetryAfterPolicy::default(),
            ResetFormat::Auto,
        );
        assert_eq!(hint, Some(Duration::from_secs(10)));
        let got = info(res.headers());
        assert_eq!((got.limit, got.remaining), (Some(3), Some(0)));
        // One token back in 10 s, the other two 10 s apart after it.
        assert_eq!(got.reset, Some(Duration::from_secs(30)));
        assert_eq!(res.headers()["x-ratelimit-remaining"], "0");
        assert_eq!(res.text().await.unwrap(), "");
    }
    assert_eq!(limiter.snapshot().rejected, 3);
    assert_eq!(
        started.elapsed(),
        Duration::ZERO,
        "time moved during the burst"
    );

    // Just before the token is back: still refused; then admitted.
    tokio::time::sleep(Duration::from_millis(9_999)).await;
    let res = get_with(&client, &orders, &k1).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        res.headers()["retry-after"],
        "1",
        "1 ms rounds up to a whole second"
    );
    tokio::time::sleep(Duration::from_millis(1)).await;
    let res = get_with(&client, &orders, &k1).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(info(res.headers()).remaining, Some(0));
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_rounded_up_to_whole_seconds() {
    // Two tokens every 3 s: one back every 1.5 s.
    let quota = RateLimitConfig::new(2, Duration::from_secs(3)).with_burst(1);
    let limiter = KeyedRateLimiter::new("api", quota, KeyedConfig::new()).unwrap();
    let url = serve_limited(RateLimitLayer::builder(limiter)).await;
    let client = Client::new();
    let orders = format!("{url}/orders");
    assert_eq!(
        get_with(&client, &orders, &[]).await.status(),
        StatusCode::OK
    );
    let res = get_with(&client, &orders, &[]).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(res.headers()["retry-after"], "2");
    assert_eq!(info(res.headers()).reset, Some(Duration::from_secs(2)));
}

#[tokio::test(start_paused = true)]
async fn api_keys_have_buckets_of_their_own_and_keyless_callers_share_one() {
    let limiter = limiter(Duration::from_secs(60), 1);
    let url = serve_limited(RateLimitLayer::builder(limiter.clone())).await;
    let client = Client::new();
    let orders = format!("{url}/orders");
    let status = |res: reqwest::Response| res.status();

    assert_eq!(
        status(get_with(&client, &orders, &[("x-api-key", "k1")]).await),
        StatusCode::OK
    );
    assert_eq!(
        status(get_with(&client, &orders, &[("x-api-key", "k1")]).await),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        status(get_with(&client, &orders, &[("x-api-key", "k2")]).await),
        StatusCode::OK
    );
    assert_eq!(
        status(get_with(&client, &orders, &[]).await),
        StatusCode::OK
    );
    assert_eq!(
        status(get_with(&client, &orders, &[("x-api-key", "")]).await),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert!(limiter.key_snapshot(&CallerId::Anonymous).is_some());
    assert_eq!(limiter.len(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_named_header_keys_callers_and_a_missing_one_can_be_refused() {
    let builder = RateLimitLayer::builder(limiter(Duration::from_secs(60), 1))
        .with_caller(CallerKey::Header("x-tenant".into()))
        .with_missing_key(MissingKey::Reject);
    let url = serve_limited(builder).await;
    let client = Client::new();
    let orders = format!("{url}/orders");
    let res = get_with(&client, &orders, &[]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.headers().get("ratelimit").is_none());
    let tenant = [("x-tenant", "acme")];
    assert_eq!(
        get_with(&client, &orders, &tenant).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        get_with(&client, &orders, &tenant).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // The API key header means nothing here.
    let other = [("x-tenant", "globex"), ("x-api-key", "acme")];
    assert_eq!(
        get_with(&client, &orders, &other).await.status(),
        StatusCode::OK
    );
}

#[tokio::test(start_paused = true)]
async fn keyless_callers_can_be_counted_by_address_with_delay_resets() {
    let limiter = limiter(Duration::from_secs(60), 1);
    let builder = RateLimitLayer::builder(limiter.clone())
        .with_missing_key(MissingKey::ClientIp)
        .with_reset_format(ResetFormat::DeltaSeconds);
    let url = serve_limited(builder).await;
    let orders = format!("{url}/orders");
    let (one, two) = (client_from("127.0.0.1"), client_from("127.0.0.2"));
    let res = get_with(&one, &orders, &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["x-ratelimit-reset"], "60");
    assert_eq!(
        get_with(&one, &orders, &[]).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(get_with(&two, &orders, &[]).await.status(), StatusCode::OK);
    // A caller with a key is counted under it, wherever it comes from.
    assert_eq!(
        get_with(&one, &orders, &[("x-api-key", "k")])
            .await
            .status(),
        StatusCode::OK
    );
    assert!(limiter.key_snapshot(&CallerId::Anonymous).is_none());
    assert_eq!(limiter.len(), 3);
}

fn client_from(ip: &str) -> Client {
    Client::builder()
        .local_address(ip.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn client_ips_are_keyed_and_a_spoofed_forwarded_for_is_ignored() {
    let limiter = limiter(Duration::from_secs(60), 1);
    let builder = RateLimitLayer::builder(limiter.clone()).with_caller(CallerKey::ClientIp);
    let url = serve_limited(builder).await;
    let orders = format!("{url}/orders");
    let (one, two) = (client_from("127.0.0.1"), client_from("127.0.0.2"));

    assert_eq!(get_with(&one, &orders, &[]).await.status(), StatusCode::OK);
    // Not from a trusted proxy: the header is the client's word only.
    let spoofed = [("x-forwarded-for", "203.0.113.7")];
    assert_eq!(
        get_with(&one, &orders, &spoofed).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(get_with(&two, &orders, &[]).await.status(), StatusCode::OK);
    assert!(limiter
        .key_snapshot(&CallerId::Ip("203.0.113.7".parse().unwrap()))
        .is_none());
    assert!(limiter
        .key_snapshot(&CallerId::Ip("127.0.0.2".parse().unwrap()))
        .is_some());
}

#[tokio::test(start_paused = true)]
async fn forwarded_for_is_honoured_from_a_trusted_proxy_and_malformed_ones_do_not_panic() {
    let limiter = limiter(Duration::from_secs(60), 1);
    let builder = RateLimitLayer::builder(limiter.clone())
        .with_caller(CallerKey::ClientIp)
        .with_trusted_proxies(["127.0.0.1", "10.0.0.0/8"]);
    let url = serve_limited(builder).await;
    let orders = format!("{url}/orders");
    let proxy = client_from("127.0.0.1");
    let xff = |v: &'static str| [("x-forwarded-for", v)];

    assert_eq!(
        get_with(&proxy, &orders, &xff("203.0.113.1"))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        get_with(&proxy, &orders, &xff("203.0.113.2"))
            .await
            .status(),
        StatusCode::OK
    );
    // The right-most untrusted hop: the client typed the first entry itself.
    let chain = xff("198.51.100.9, 203.0.113.1, 10.1.2.3");
    assert_eq!(
        get_with(&proxy, &orders, &chain).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    for ip in ["203.0.113.1", "203.0.113.2"] {
        assert!(limiter
            .key_snapshot(&CallerId::Ip(ip.parse().unwrap()))
            .is_some());
    }
    assert!(limiter
        .key_snapshot(&CallerId::Ip("198.51.100.9".parse().unwrap()))
        .is_none());

    // Malformed: the nearest hop known good (the proxy) is the caller.
    assert_eq!(
        get_with(&proxy, &orders, &xff("garbage")).await.status(),
        StatusCode::OK
    );
    for junk in [
        "unknown",
        ", ,",
        "1.2.3.4.5",
        "[::1",
        "203.0.113.3, ::zz",
        "999.1.1.1:80",
    ] {
        let res = get_with(&proxy, &orders, &xff(junk)).await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "{junk:?}");
    }
    let bytes = reqwest::header::HeaderValue::from_bytes(b"\xff\xfe 1.1.1.1").unwrap();
    let res = proxy
        .get(&orders)
        .header("x-forwarded-for", bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(limiter
        .key_snapshot(&CallerId::Ip("127.0.0.1".parse().unwrap()))
        .is_some());
    // Still serving.
    assert_eq!(
        get_with(&proxy, &orders, &xff("203.0.113.4"))
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test(start_paused = true)]
async fn exempt_paths_are_never_limited_nor_counted() {
    let limiter = limiter(Duration::from_secs(60), 1);
    let url = serve_limited(RateLimitLayer::builder(limiter.clone())).await;
    let client = Client::new();
    for _ in 0..20 {
        for path in ["/health/live", "/metrics"] {
            let res = get_with(&client, &format!("{url}{path}"), &[]).await;
            assert_eq!(res.status(), StatusCode::OK, "{path}");
            assert!(res.headers().get("ratelimit").is_none());
            assert!(res.headers().get("x-ratelimit-limit").is_none());
        }
    }
    assert!(limiter.is_empty());
    // A path beside the exempt ones is counted.
    let res = get_with(&client, &format!("{url}/healthz"), &[]).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(res.headers().get("ratelimit").is_some());
    assert_eq!(
        get_with(&client, &format!("{url}/orders"), &[])
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test(start_paused = true)]
async fn headers_on_admitted_responses_can_be_turned_off_and_bad_settings_are_named() {
    let builder = RateLimitLayer::builder(limiter(Duration::from_secs(60), 1))
        .with_headers_on_admitted(false)
        .with_ietf_headers(false);
    let url = serve_limited(builder).await;
    let client = Client::new();
    let orders = format!("{url}/orders");
    let res = get_with(&client, &orders, &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get("x-ratelimit-limit").is_none());
    let res = get_with(&client, &orders, &[]).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().get("ratelimit").is_none());
    assert_eq!(res.headers()["x-ratelimit-limit"], "1");

    let bad = |b: RateLimitBuilder| b.build().unwrap_err().field().to_owned();
    let base = || RateLimitLayer::builder(limiter(Duration::from_secs(1), 1));
    assert_eq!(
        bad(base().with_trusted_proxies(["10.0.0.0/99"])),
        "server.trusted_proxies"
    );
    assert_eq!(
        bad(base().with_caller(CallerKey::Header("a b".into()))),
        "server.caller.header"
    );
    assert_eq!(
        bad(base().with_exempt_paths(["health"])),
        "server.rate_limit.exempt_paths"
    );
}

// --- Load shedding -------------------------------------------------------------------

async fn serve_shedding(shedder: &LoadShedder) -> String {
    let layer = LoadShedLayer::builder(shedder.clone())
        .with_routes(PriorityRoutes::seeds())
        .build()
        .unwrap();
    support::serve(app().layer(layer)).await
}

/// Holds `n` of the shedder's slots, as requests in flight would.
fn hold(shedder: &LoadShedder, n: usize) -> Vec<ShedPermit<'static>> {
    (0..n)
        .map(|_| shedder.try_acquire_owned(Priority::Critical).unwrap())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn routes_are_shed_by_the_seeds_priorities() {
    let shedder = LoadShedder::new("api", ShedConfig::new(10)).unwrap();
    let url = serve_shedding(&shedder).await;
    let client = Client::new();
    let status = |path: &'static str| {
        let (client, url) = (client.clone(), url.clone());
        async move { get_with(&client, &format!("{url}{path}"), &[]).await }
    };

    // 70 % load: LOW is shed.
    let mut held = hold(&shedder, 7);
    let res = status("/analytics/event").await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()["retry-after"], "5");
    for path in ["/checkout/pay", "/auth/login", "/orders"] {
        assert_eq!(status(path).await.status(), StatusCode::OK, "{path}");
    }

    // 85 %: NORMAL goes too; HIGH stays.
    held.extend(hold(&shedder, 2));
    assert_eq!(
        status("/orders").await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(status("/checkout/pay").await.status(), StatusCode::OK);

    // 100 %: only CRITICAL is served, and the probes, which are exempt.
    held.extend(hold(&shedder, 1));
    assert_eq!(shedder.in_flight(), 10);
    assert_eq!(
        status("/checkout/pay").await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(status("/auth/login").await.status(), StatusCode::OK);
    assert_eq!(status("/health/live").await.status(), StatusCode::OK);
    assert_eq!(status("/metrics").await.status(), StatusCode::OK);
    let shed = shedder.snapshot();
    assert_eq!(
        (
            shed.shed_count(Priority::Low),
            shed.shed_count(Priority::Normal)
        ),
        (1, 1)
    );
    assert_eq!(shed.shed_count(Priority::High), 1);
    assert_eq!(shed.shed_count(Priority::Critical), 0);

    drop(held);
    assert_eq!(shedder.in_flight(), 0);
    assert_eq!(status("/analytics/event").await.status(), StatusCode::OK);
    assert_eq!(
        shedder.in_flight(),
        0,
        "served requests give their slot back"
    );
}

/// Waits (in paused time) until the shedder's in-flight count is `n`.
async fn until_in_flight(shedder: &LoadShedder, n: u64) {
    for _ in 0..1_000 {
        if shedder.in_flight() == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("in flight: {} instead of {n}", shedder.in_flight());
}

#[tokio::test(start_paused = true)]
async fn a_client_that_disconnects_gives_its_slot_back() {
    let shedder = LoadShedder::new("api", ShedConfig::new(10)).unwrap();
    let url = serve_shedding(&shedder).await;
    let slow = format!("{url}/checkout/slow");
    let requests: Vec<_> = (0..3)
        .map(|_| {
            let slow = slow.clone();
            tokio::spawn(async move { Client::new().get(slow).send().await })
        })
        .collect();
    until_in_flight(&shedder, 3).await;
    for r in requests {
        r.abort();
    }
    until_in_flight(&shedder, 0).await;
}

#[tokio::test(start_paused = true)]
async fn a_dropped_response_future_gives_its_slot_back_and_extensions_win() {
    use tower::{Layer, Service};
    let shedder = LoadShedder::new("api", ShedConfig::new(10)).unwrap();
    let layer = LoadShedLayer::builder(shedder.clone())
        .with_routes(PriorityRoutes::seeds())
        .with_priority_header("x-priority")
        .build()
        .unwrap();
    let mut svc = layer.layer(app());
    let request = |path: &str| {
        axum::http::Request::get(path)
            .body(axum::body::Body::empty())
            .unwrap()
    };

    let fut = svc.call(request("/checkout/slow"));
    assert_eq!(shedder.in_flight(), 1);
    assert!(tokio::time::timeout(Duration::from_secs(1), fut)
        .await
        .is_err());
    assert_eq!(shedder.in_flight(), 0);

    // A priority an earlier middleware put in the extensions beats the route's; then
    // the header; then the route.
    let _held = hold(&shedder, 7);
    let mut low = request("/auth/login");
    low.extensions_mut().insert(Priority::Low);
    assert_eq!(svc.call(low).await.unwrap().status(), 503);
    let mut by_header = request("/orders");
    by_header
        .headers_mut()
        .insert("x-priority", "LOW".parse().unwrap());
    assert_eq!(svc.call(by_header).await.unwrap().status(), 503);
    let mut nonsense = request("/analytics/event");
    nonsense
        .headers_mut()
        .insert("x-priority", "urgent!".parse().unwrap());
    assert_eq!(svc.call(nonsense).await.unwrap().status(), 503);
    let mut critical = request("/analytics/event");
    critical
        .headers_mut()
        .insert("x-priority", "critical".parse().unwrap());
    assert_eq!(svc.call(critical).await.unwrap().status(), 200);
    assert_eq!(shedder.in_flight(), 7);

    let bad = LoadShedLayer::builder(shedder.clone())
        .with_routes(PriorityRoutes::new().with_route("auth", Priority::High));
    assert_eq!(bad.build().unwrap_err().field(), "server.load_shed.routes");
    let bad = LoadShedLayer::builder(shedder).with_priority_header("no good");
    assert_eq!(
        bad.build().unwrap_err().field(),
        "server.load_shed.priority_header"
    );
}

#[tokio::test(start_paused = true)]
async fn the_reset_of_an_admitted_response_is_exact_between_tokens() {
    let limiter = limiter(Duration::from_secs(10), 3);
    let url = serve_limited(RateLimitLayer::builder(limiter.clone())).await;
    let client = Client::new();
    let orders = format!("{url}/orders");
    let k1 = [("x-api-key", "k1")];
    for _ in 0..3 {
        assert_eq!(
            get_with(&client, &orders, &k1).await.status(),
            StatusCode::OK
        );
    }
    // Half-way through the second token: one token is back, the next comes in 5 s.
    tokio::time::sleep(Duration::from_secs(15)).await;
    let res = get_with(&client, &orders, &k1).await;
    assert_eq!(res.status(), StatusCode::OK);
    let got = info(res.headers());
    assert_eq!(got.remaining, Some(0));
    // Full again in 25 s (5 s to the next token, then two of 10 s), not 30 s.
    assert_eq!(got.reset, Some(Duration::from_secs(25)));
    let snapshot = limiter.key_snapshot(&key("k1")).unwrap();
    assert_eq!(snapshot.full_in, Duration::from_secs(25));
}
