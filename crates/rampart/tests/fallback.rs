//! Fallback chains: order, triggers, the primary's error when all fail, cached data with
//! an exact age and a staleness limit, and the degraded marker.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rampart::fallback::{
    CacheConfig, CachedFallback, Degraded, DegradedReason, Fallback, FallbackChain,
};
use rampart::{Error, Rejection, RejectionKind};

type Chain = FallbackChain<&'static str, &'static str>;

fn rejected(kind: RejectionKind) -> Error<&'static str> {
    Error::Rejected(Rejection::new("recs".into(), "test", kind))
}

/// A fallback labelled `label` that counts its calls and answers `outcome`.
fn counted(
    label: &'static str,
    outcome: Result<&'static str, &'static str>,
) -> (Fallback<&'static str, &'static str>, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let fallback = Fallback::with(label, move || {
        seen.fetch_add(1, Ordering::SeqCst);
        async move { outcome }
    });
    (fallback, calls)
}

#[tokio::test(start_paused = true)]
async fn second_fallback_answers_when_first_fails_and_later_ones_are_not_called() {
    let (first, first_calls) = counted("first", Err("first down"));
    let (second, second_calls) = counted("second", Ok("from second"));
    let (third, third_calls) = counted("third", Ok("from third"));
    let chain: Chain = FallbackChain::new()
        .fallback(first)
        .fallback(second)
        .fallback(third);
    assert_eq!(
        chain.labels().collect::<Vec<_>>(),
        ["first", "second", "third"]
    );

    let out = chain
        .call("recs", async { Err(Error::Operation("primary down")) })
        .await;
    let out = out.expect("the second fallback answers");
    assert_eq!(out.value(), &"from second");
    let degradation = out.degradation().expect("a fallback answered");
    assert_eq!(degradation.fallback(), "second");
    assert_eq!(degradation.reason(), DegradedReason::Failed);
    assert_eq!(degradation.age(), None);
    assert_eq!(first_calls.load(Ordering::SeqCst), 1);
    assert_eq!(second_calls.load(Ordering::SeqCst), 1);
    assert_eq!(third_calls.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn first_success_wins_and_primary_success_calls_no_fallback() {
    let (first, first_calls) = counted("first", Ok("from first"));
    let (second, second_calls) = counted("second", Ok("from second"));
    let chain: Chain = FallbackChain::new().fallback(first).fallback(second);

    let fresh = chain.call("recs", async { Ok("fresh") }).await;
    assert_eq!(fresh, Ok(Degraded::fresh("fresh")));
    assert_eq!(first_calls.load(Ordering::SeqCst), 0);

    let out = chain
        .call("recs", async { Err(Error::Operation("down")) })
        .await
        .expect("first answers");
    assert_eq!(out.value(), &"from first");
    assert_eq!(out.degradation().map(|d| d.fallback()), Some("first"));
    assert_eq!(first_calls.load(Ordering::SeqCst), 1);
    assert_eq!(second_calls.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn the_primary_runs_once_and_fallbacks_may_wait() {
    let primary_runs = Arc::new(AtomicUsize::new(0));
    let chain: Chain = FallbackChain::new().with("slow", || async {
        tokio::time::sleep(Duration::from_millis(250)).await;
        Ok("late but here")
    });
    let start = tokio::time::Instant::now();
    let runs = Arc::clone(&primary_runs);
    let out = chain
        .call("recs", async move {
            runs.fetch_add(1, Ordering::SeqCst);
            Err(Error::Operation("down"))
        })
        .await;
    assert_eq!(out.map(Degraded::into_inner), Ok("late but here"));
    assert_eq!(start.elapsed(), Duration::from_millis(250));
    assert_eq!(primary_runs.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn rejection_kind_trigger_picks_the_circuit_fallback_only_for_circuit_open() {
    let (circuit, circuit_calls) = counted("circuit", Ok("queued"));
    let circuit = circuit.on_rejection(&[RejectionKind::CircuitOpen, RejectionKind::BulkheadFull]);
    let chain: Chain = FallbackChain::new()
        .fallback(circuit)
        .value("static", "popular items");

    let open = chain
        .call("recs", async { Err(rejected(RejectionKind::CircuitOpen)) })
        .await;
    let open = open.expect("the circuit fallback answers");
    assert_eq!(open.value(), &"queued");
    let degradation = open.degradation().expect("degraded");
    assert_eq!(degradation.fallback(), "circuit");
    assert_eq!(
        degradation.reason(),
        DegradedReason::Rejected(RejectionKind::CircuitOpen)
    );
    assert_eq!(degradation.reason().to_string(), "circuit open");
    assert_eq!(circuit_calls.load(Ordering::SeqCst), 1);

    // The operation's own error is not a rejection: the circuit fallback is skipped.
    let failed = chain
        .call("recs", async { Err(Error::Operation("500")) })
        .await;
    let failed = failed.expect("the static fallback answers");
    assert_eq!(failed.value(), &"popular items");
    assert_eq!(failed.degradation().map(|d| d.fallback()), Some("static"));
    assert_eq!(
        failed.degradation().map(|d| d.reason().to_string()),
        Some("operation failed".to_owned())
    );
    assert_eq!(circuit_calls.load(Ordering::SeqCst), 1);

    // Another rejection kind skips it too.
    let timeout = chain
        .call("recs", async { Err(rejected(RejectionKind::Timeout)) })
        .await;
    assert_eq!(
        timeout.expect("static").degradation().map(|d| d.fallback()),
        Some("static")
    );
    assert_eq!(circuit_calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn operation_error_trigger_skips_rejections() {
    let chain: Chain =
        FallbackChain::new().fallback(Fallback::value("retry-later", "later").on_operation_error());
    let shed = chain
        .call("recs", async { Err(rejected(RejectionKind::Shed)) })
        .await;
    assert_eq!(shed, Err(rejected(RejectionKind::Shed)));
    let failed = chain
        .call("recs", async { Err(Error::Operation("boom")) })
        .await;
    assert_eq!(failed.map(Degraded::into_inner), Ok("later"));
}

#[tokio::test(start_paused = true)]
async fn predicate_trigger_decides_on_the_error() {
    let is_not_found = |e: &Error<&'static str>| e.operation() == Some(&"404");
    let chain: Chain =
        FallbackChain::new().fallback(Fallback::value("empty", "").when(is_not_found));

    let not_found = chain
        .call("recs", async { Err(Error::Operation("404")) })
        .await;
    let not_found = not_found.expect("the predicate accepts 404");
    assert_eq!(not_found.value(), &"");
    assert_eq!(not_found.degradation().map(|d| d.fallback()), Some("empty"));

    let server = chain
        .call("recs", async { Err(Error::Operation("500")) })
        .await;
    assert_eq!(server, Err(Error::Operation("500")));
}

#[tokio::test(start_paused = true)]
async fn handlers_see_the_primary_error() {
    let chain: FallbackChain<String, &'static str> =
        FallbackChain::new().handle("echo", |e: &Error<&'static str>| {
            let message = format!("instead of {e}");
            async move { Ok(message) }
        });
    let out = chain
        .call("recs", async { Err(Error::Operation("boom")) })
        .await;
    assert_eq!(
        out.map(Degraded::into_inner),
        Ok("instead of boom".to_owned())
    );
}

#[tokio::test(start_paused = true)]
async fn all_fallbacks_failing_returns_the_primary_error() {
    let (first, first_calls) = counted("first", Err("first down"));
    let (second, second_calls) = counted("second", Err("second down"));
    let empty_cache = CachedFallback::new(Duration::from_secs(60)).expect("valid");
    let chain: Chain = FallbackChain::new()
        .fallback(first)
        .cached(empty_cache)
        .fallback(second);

    let out = chain
        .call("recs", async { Err(rejected(RejectionKind::Timeout)) })
        .await;
    assert_eq!(out, Err(rejected(RejectionKind::Timeout)));
    assert_eq!(first_calls.load(Ordering::SeqCst), 1);
    assert_eq!(second_calls.load(Ordering::SeqCst), 1);

    let out = chain
        .call("recs", async { Err(Error::Operation("primary")) })
        .await;
    assert_eq!(out, Err(Error::Operation("primary")));
}

#[tokio::test(start_paused = true)]
async fn an_empty_chain_passes_the_outcome_through() {
    let chain: Chain = FallbackChain::default();
    assert!(chain.is_empty());
    assert_eq!(
        chain.call("recs", async { Ok("x") }).await,
        Ok(Degraded::fresh("x"))
    );
    assert_eq!(
        chain
            .call("recs", async { Err(Error::Operation("e")) })
            .await,
        Err(Error::Operation("e"))
    );
}

#[tokio::test(start_paused = true)]
async fn cached_fallback_serves_the_last_good_value_with_its_exact_age() {
    let cache = CachedFallback::new(Duration::from_secs(300)).expect("valid");
    let chain: Chain = FallbackChain::new().cached(cache.clone());

    // Nothing cached yet: the primary's error comes back.
    let cold = chain
        .call("prices", async { Err(Error::Operation("down")) })
        .await;
    assert_eq!(cold, Err(Error::Operation("down")));

    assert_eq!(
        chain.call("prices", async { Ok("$99") }).await,
        Ok(Degraded::fresh("$99"))
    );
    tokio::time::advance(Duration::from_millis(1500)).await;
    assert_eq!(
        chain.call("prices", async { Ok("$129") }).await,
        Ok(Degraded::fresh("$129"))
    );
    tokio::time::advance(Duration::from_secs(120) + Duration::from_nanos(7)).await;

    let open = chain
        .call("prices", async {
            Err(rejected(RejectionKind::CircuitOpen))
        })
        .await;
    let open = open.expect("the cache answers");
    assert_eq!(open.value(), &"$129", "the latest success is served");
    let degradation = open.degradation().expect("cached data is degraded");
    assert_eq!(degradation.fallback(), "cache");
    assert_eq!(
        degradation.age(),
        Some(Duration::from_secs(120) + Duration::from_nanos(7))
    );
    assert_eq!(
        degradation.reason(),
        DegradedReason::Rejected(RejectionKind::CircuitOpen)
    );
    assert_eq!(
        cache.age(),
        Some(Duration::from_secs(120) + Duration::from_nanos(7))
    );

    // A degraded answer does not refresh the cache: the age keeps growing.
    tokio::time::advance(Duration::from_secs(10)).await;
    let again = chain
        .call("prices", async { Err(Error::Operation("down")) })
        .await
        .expect("cache");
    assert_eq!(
        again.degradation().and_then(|d| d.age()),
        Some(Duration::from_secs(130) + Duration::from_nanos(7))
    );
}

#[tokio::test(start_paused = true)]
async fn cached_fallback_refuses_data_older_than_the_limit() {
    let limit = Duration::from_secs(60);
    let cache = CachedFallback::new(limit)
        .expect("valid")
        .with_label("last price");
    let chain: Chain = FallbackChain::new()
        .cached(cache)
        .value("static", "price unavailable");

    assert!(!chain
        .call("prices", async { Ok("$99") })
        .await
        .expect("fresh")
        .is_degraded());

    // Exactly at the limit: still served.
    tokio::time::advance(limit).await;
    let at_limit = chain
        .call("prices", async { Err(Error::Operation("down")) })
        .await
        .expect("served");
    assert_eq!(at_limit.value(), &"$99");
    assert_eq!(
        at_limit.degradation().map(|d| d.fallback()),
        Some("last price")
    );
    assert_eq!(at_limit.degradation().and_then(|d| d.age()), Some(limit));

    // One nanosecond older: the cache declines and the next fallback answers.
    tokio::time::advance(Duration::from_nanos(1)).await;
    let stale = chain
        .call("prices", async { Err(Error::Operation("down")) })
        .await
        .expect("static");
    assert_eq!(stale.value(), &"price unavailable");
    assert_eq!(stale.degradation().map(|d| d.fallback()), Some("static"));
    assert_eq!(stale.degradation().and_then(|d| d.age()), None);

    // A fresh success makes the cache usable again.
    assert!(!chain
        .call("prices", async { Ok("$129") })
        .await
        .expect("fresh")
        .is_degraded());
    let recovered = chain
        .call("prices", async { Err(Error::Operation("down")) })
        .await
        .expect("cache");
    assert_eq!(recovered.value(), &"$129");
    assert_eq!(
        recovered.degradation().and_then(|d| d.age()),
        Some(Duration::ZERO)
    );
}

#[tokio::test(start_paused = true)]
async fn a_stale_cache_alone_returns_the_primary_error() {
    let cache = CachedFallback::new(Duration::from_secs(1)).expect("valid");
    let chain: Chain = FallbackChain::new().cached(cache);
    assert!(!chain
        .call("prices", async { Ok("$99") })
        .await
        .expect("fresh")
        .is_degraded());
    tokio::time::advance(Duration::from_secs(2)).await;
    let out = chain
        .call("prices", async {
            Err(rejected(RejectionKind::CircuitOpen))
        })
        .await;
    assert_eq!(out, Err(rejected(RejectionKind::CircuitOpen)));
}

#[test]
fn zero_staleness_is_a_config_error() {
    let err = CachedFallback::<u32>::new(Duration::ZERO).expect_err("zero is refused");
    assert_eq!(err.field(), "fallback.max_staleness");
    let err = CacheConfig::new(Duration::ZERO)
        .build::<u32>()
        .expect_err("zero is refused");
    assert_eq!(err.field(), "fallback.max_staleness");
    assert!(CacheConfig::new(Duration::ZERO).validate().is_err());
    assert!(CacheConfig::new(Duration::from_secs(1)).validate().is_ok());
}

#[tokio::test(start_paused = true)]
async fn degraded_marker_is_present_exactly_when_a_fallback_answered() {
    let chain: Chain = FallbackChain::new().value("static", "default");

    let fresh = chain
        .call("recs", async { Ok("live") })
        .await
        .expect("fresh");
    assert!(!fresh.is_degraded());
    assert_eq!(fresh.degradation(), None);
    assert_eq!(fresh.value(), &"live");

    let degraded = chain
        .call("recs", async { Err(Error::Operation("down")) })
        .await
        .expect("fallback");
    assert!(degraded.is_degraded());
    assert!(degraded.degradation().is_some());
    let mapped = degraded.map(str::len);
    assert!(mapped.is_degraded(), "map keeps the marker");
    let (len, marker) = mapped.into_parts();
    assert_eq!(len, "default".len());
    assert_eq!(
        marker.map(|d| d.to_string()),
        Some("served by static because operation failed".to_owned())
    );
}

#[tokio::test(start_paused = true)]
async fn clones_share_fallbacks_and_cache() {
    let cache = CachedFallback::new(Duration::from_secs(60)).expect("valid");
    let chain: Chain = FallbackChain::new().cached(cache.clone());
    let clone = chain.clone();
    assert!(!chain
        .call("recs", async { Ok("seen by both") })
        .await
        .expect("fresh")
        .is_degraded());
    let out = clone
        .call("recs", async { Err(Error::Operation("down")) })
        .await
        .expect("cache");
    assert_eq!(out.value(), &"seen by both");
    assert_eq!(cache.get(), Some(("seen by both", Duration::ZERO)));
}

#[tokio::test(start_paused = true)]
async fn fallbacks_macro_builds_a_chain_in_order() {
    let cache = CachedFallback::new(Duration::from_secs(60)).expect("valid");
    let chain: Chain = rampart::fallbacks![cache, Fallback::value("popular", "popular items")];
    assert_eq!(chain.labels().collect::<Vec<_>>(), ["cache", "popular"]);
    let out = chain
        .call("recs", async { Err(Error::Operation("down")) })
        .await
        .expect("popular");
    assert_eq!(out.degradation().map(|d| d.fallback()), Some("popular"));
}
