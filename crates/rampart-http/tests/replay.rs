//! Replayable bodies, alone and through the tower layer against a fake server.
//!
//! Time is paused: backoffs and hedge delays pass instantly, nothing sleeps.

mod support;

use bytes::Bytes;
use futures_util::FutureExt;
use http::{HeaderMap, Request, Response};
use http_body::Frame;
use http_body_util::{BodyExt, Full, StreamBody};
use proptest::prelude::*;
use rampart::hedge::HedgeConfig;
use rampart::retry::RetryConfig;
use rampart::Pipeline;
use rampart_http::replay::{ReplayError, ReplayableBody};
use rampart_http::tower::{AttemptError, HttpPipelineLayer, RAMPART_ATTEMPT};
use std::convert::Infallible;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tower::{Layer, ServiceExt};

type Chunk = Result<Frame<Bytes>, Infallible>;
type Streamed = StreamBody<futures_util::stream::Iter<std::vec::IntoIter<Chunk>>>;

/// A body streamed in `chunks`.
fn streamed(chunks: &[Vec<u8>]) -> Streamed {
    let frames: Vec<Chunk> = chunks
        .iter()
        .map(|c| Ok(Frame::data(Bytes::from(c.clone()))))
        .collect();
    StreamBody::new(futures_util::stream::iter(frames))
}

/// A body fed by the test through a channel.
fn fed() -> (
    mpsc::UnboundedSender<Chunk>,
    StreamBody<impl futures_util::Stream<Item = Chunk> + Send>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    (tx, StreamBody::new(stream))
}

fn data(bytes: &'static [u8]) -> Chunk {
    Ok(Frame::data(Bytes::from_static(bytes)))
}

/// What the fake server saw: one entry per attempt, the attempt header and the body.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<Attempt>>>);

/// The attempt header and the body one attempt carried.
type Attempt = (String, Vec<u8>);

impl Seen {
    fn all(&self) -> Vec<Attempt> {
        self.0.lock().unwrap().clone()
    }
}

/// A fake server that reads the whole body, then answers 503 to the first attempts
/// listed in `busy` and 200 to the others.
fn server<B>(
    seen: Seen,
    busy: u32,
) -> impl tower::Service<
    Request<ReplayableBody<B>>,
    Response = Response<()>,
    Error = io::Error,
    Future = impl Send,
> + Clone
       + Send
where
    B: http_body::Body + Send + 'static,
    B::Error: std::fmt::Debug + std::fmt::Display,
{
    tower::service_fn(move |req: Request<ReplayableBody<B>>| {
        let seen = seen.clone();
        async move {
            let attempt = req.headers()[RAMPART_ATTEMPT].to_str().unwrap().to_owned();
            let body = req.into_body().collect().await;
            let body = body
                .map_err(|e| io::Error::other(e.to_string()))?
                .to_bytes();
            let n = {
                let mut all = seen.0.lock().unwrap();
                all.push((attempt, body.to_vec()));
                all.len() as u32
            };
            let status = if n <= busy { 503 } else { 200 };
            Ok(Response::builder().status(status).body(()).unwrap())
        }
    })
}

fn retrying() -> Pipeline {
    Pipeline::builder("orders")
        .retry(RetryConfig::exponential(Duration::from_millis(100)).with_max_attempts(3))
        .build()
        .unwrap()
}

fn chunks(sizes: &[usize]) -> Vec<Vec<u8>> {
    let mut next = 0u8;
    sizes
        .iter()
        .map(|&n| {
            (0..n)
                .map(|_| {
                    next = next.wrapping_add(7);
                    next
                })
                .collect()
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_small_streamed_body_is_retried_with_identical_bytes() {
    let parts = chunks(&[1000, 20_000, 3, 30_000]);
    let whole: Vec<u8> = parts.concat();
    let seen = Seen::default();
    let client = HttpPipelineLayer::<io::Error>::new(retrying()).layer(server(seen.clone(), 2));
    let request = Request::put("http://orders/7")
        .body(streamed(&parts))
        .unwrap();
    let response = client.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let seen = seen.all();
    assert_eq!(seen.len(), 3);
    for (i, (attempt, body)) in seen.iter().enumerate() {
        assert_eq!(*attempt, (i + 1).to_string());
        assert_eq!(*body, whole);
    }
}

#[tokio::test(start_paused = true)]
async fn a_body_above_the_cap_is_sent_once_and_its_503_returned() {
    let parts = chunks(&[40_000, 40_000]);
    let seen = Seen::default();
    let client = HttpPipelineLayer::<io::Error>::new(retrying()).layer(server(seen.clone(), 2));
    let request = Request::put("http://orders/7")
        .body(streamed(&parts))
        .unwrap();
    let response = client.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(seen.all().len(), 1);
    assert_eq!(seen.all()[0].1, parts.concat());
}

#[tokio::test(start_paused = true)]
async fn the_cap_is_configurable() {
    let parts = chunks(&[100, 100]);
    let seen = Seen::default();
    let layer = HttpPipelineLayer::<io::Error>::new(retrying()).with_replay_cap(150);
    let client = layer.layer(server(seen.clone(), 2));
    let request = Request::put("http://orders/7")
        .body(streamed(&parts))
        .unwrap();
    assert_eq!(client.oneshot(request).await.unwrap().status(), 503);
    assert_eq!(seen.all().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_post_without_key_is_not_retried_and_with_a_key_it_is() {
    let seen = Seen::default();
    let client = HttpPipelineLayer::<io::Error>::new(retrying()).layer(server(seen.clone(), 1));
    let post = Request::post("http://orders/")
        .body(streamed(&chunks(&[10])))
        .unwrap();
    assert_eq!(client.clone().oneshot(post).await.unwrap().status(), 503);
    assert_eq!(seen.all().len(), 1);

    let seen = Seen::default();
    let client = HttpPipelineLayer::<io::Error>::new(retrying()).layer(server(seen.clone(), 1));
    let post = Request::post("http://orders/")
        .header("idempotency-key", "k-1")
        .body(streamed(&chunks(&[10])))
        .unwrap();
    assert_eq!(client.oneshot(post).await.unwrap().status(), 200);
    assert_eq!(seen.all().len(), 2);
}

/// A server whose first attempt reads one frame and then hangs; later attempts read
/// the whole body and answer 200.
#[tokio::test(start_paused = true)]
async fn a_hedge_started_mid_body_gets_the_whole_body() {
    let pipeline = Pipeline::builder("orders")
        .hedge(HedgeConfig::fixed(Duration::from_millis(100)).with_max_attempts(2))
        .build()
        .unwrap();
    let seen = Seen::default();
    let log = seen.clone();
    let server = tower::service_fn(move |req: Request<ReplayableBody<_>>| {
        let log = log.clone();
        async move {
            let attempt = req.headers()[RAMPART_ATTEMPT].to_str().unwrap().to_owned();
            let mut body = req.into_body();
            if attempt == "1" {
                let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
                log.0
                    .lock()
                    .unwrap()
                    .push((attempt.clone(), first.to_vec()));
                std::future::pending::<()>().await;
            }
            let all = body.collect().await.unwrap().to_bytes();
            log.0.lock().unwrap().push((attempt, all.to_vec()));
            Ok::<_, io::Error>(Response::new(()))
        }
    });
    let (tx, body) = fed();
    tx.send(data(b"abc")).unwrap();
    let client = HttpPipelineLayer::<io::Error>::new(pipeline).layer(server);
    let call = tokio::spawn(client.oneshot(Request::get("http://orders/7").body(body).unwrap()));
    // The hedge starts after 100 ms and waits at the end of the recording.
    tokio::time::sleep(Duration::from_millis(500)).await;
    tx.send(data(b"def")).unwrap();
    tx.send(data(b"gh")).unwrap();
    drop(tx);
    let response = call.await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        seen.all(),
        vec![
            ("1".to_owned(), b"abc".to_vec()),
            ("2".to_owned(), b"abcdefgh".to_vec())
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_post_without_key_is_never_hedged() {
    let pipeline = Pipeline::builder("orders")
        .hedge(HedgeConfig::fixed(Duration::from_millis(100)).with_max_attempts(2))
        .build()
        .unwrap();
    let calls = Arc::new(Mutex::new(0));
    let count = calls.clone();
    let server = tower::service_fn(move |_: Request<ReplayableBody<Full<Bytes>>>| {
        *count.lock().unwrap() += 1;
        async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok::<_, io::Error>(Response::new(()))
        }
    });
    let client = HttpPipelineLayer::<io::Error>::new(pipeline).layer(server);
    let post = Request::post("http://orders/")
        .body(Full::new(Bytes::from_static(b"x")))
        .unwrap();
    assert_eq!(client.oneshot(post).await.unwrap().status(), 200);
    assert_eq!(*calls.lock().unwrap(), 1);
}

/// A hedge of a POST waits for the first attempt; when that one never reached the
/// server (connection refused), the waiting hedge is sent then, as a retry would be.
#[tokio::test(start_paused = true)]
async fn a_waiting_hedge_of_a_post_is_sent_after_a_connect_failure() {
    let pipeline = Pipeline::builder("orders")
        .hedge(HedgeConfig::fixed(Duration::from_millis(100)).with_max_attempts(2))
        .build()
        .unwrap();
    let started = tokio::time::Instant::now();
    let sent_at = Arc::new(Mutex::new(Vec::new()));
    let log = sent_at.clone();
    let server = tower::service_fn(move |req: Request<ReplayableBody<Full<Bytes>>>| {
        let log = log.clone();
        async move {
            let attempt = req.headers()[RAMPART_ATTEMPT].to_str().unwrap().to_owned();
            log.lock()
                .unwrap()
                .push((attempt.clone(), started.elapsed()));
            if attempt == "1" {
                tokio::time::sleep(Duration::from_secs(1)).await;
                return Err(io::Error::from(io::ErrorKind::ConnectionRefused));
            }
            let body = req.into_body().collect().await.unwrap().to_bytes();
            Ok(Response::new(body))
        }
    });
    let client = HttpPipelineLayer::<io::Error>::new(pipeline).layer(server);
    let post = Request::post("http://orders/")
        .body(Full::new(Bytes::from_static(b"x")))
        .unwrap();
    let response = client.oneshot(post).await.unwrap();
    assert_eq!(response.into_body(), "x");
    assert_eq!(
        *sent_at.lock().unwrap(),
        vec![
            ("1".to_owned(), Duration::ZERO),
            ("2".to_owned(), Duration::from_secs(1))
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_retry_may_read_past_the_cap_and_is_then_the_last_attempt() {
    // The first attempt answers before reading the body: the retry reads it, goes past
    // the cap and owns the rest; a third attempt cannot replay it.
    let pipeline = Pipeline::builder("orders")
        .retry(RetryConfig::exponential(Duration::from_millis(100)).with_max_attempts(3))
        .build()
        .unwrap();
    let server = tower::service_fn(|req: Request<ReplayableBody<Streamed>>| async move {
        let attempt = req.headers()[RAMPART_ATTEMPT].to_str().unwrap().to_owned();
        if attempt == "1" {
            return Ok::<_, io::Error>(Response::builder().status(503).body(0).unwrap());
        }
        let body = req.into_body().collect().await;
        let len = body
            .map_err(|e| io::Error::other(e.to_string()))?
            .to_bytes()
            .len();
        Ok(Response::builder().status(503).body(len).unwrap())
    });
    let client = HttpPipelineLayer::<io::Error>::new(pipeline)
        .with_replay_cap(100)
        .layer(server);
    let request = Request::put("http://orders/7")
        .body(streamed(&chunks(&[60, 60])))
        .unwrap();
    let response = client.oneshot(request).await.unwrap();
    // The second attempt sent the whole body; it was not retried again.
    assert_eq!(response.status(), 503);
    assert_eq!(*response.body(), 120);
}

#[tokio::test(start_paused = true)]
async fn the_not_sent_error_of_a_hedge_does_not_hide_the_first_attempt() {
    let pipeline = Pipeline::builder("orders")
        .hedge(HedgeConfig::fixed(Duration::from_millis(100)).with_max_attempts(2))
        .build()
        .unwrap();
    let server = tower::service_fn(|_: Request<ReplayableBody<Full<Bytes>>>| async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        Err::<Response<()>, _>(io::Error::from(io::ErrorKind::ConnectionReset))
    });
    let client = HttpPipelineLayer::<io::Error>::new(pipeline).layer(server);
    let post = Request::post("http://orders/")
        .body(Full::new(Bytes::new()))
        .unwrap();
    match client.oneshot(post).await {
        Err(rampart::Error::Operation(AttemptError::Service(e))) => {
            assert_eq!(e.kind(), io::ErrorKind::ConnectionReset)
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn trailers_are_replayed() {
    let mut trailers = HeaderMap::new();
    trailers.insert("checksum", "abc".parse().unwrap());
    let frames: Vec<Chunk> = vec![data(b"one"), data(b"two"), Ok(Frame::trailers(trailers))];
    let first = ReplayableBody::new(StreamBody::new(futures_util::stream::iter(frames)));
    let second = first.replay().unwrap();
    for body in [first, second] {
        let collected = body.collect().await.unwrap();
        assert_eq!(collected.trailers().unwrap()["checksum"], "abc");
        assert_eq!(collected.to_bytes(), "onetwo");
    }
}

#[tokio::test]
async fn a_source_error_fails_every_reader() {
    let frames: Vec<Result<Frame<Bytes>, io::Error>> = vec![
        Ok(Frame::data(Bytes::from_static(b"one"))),
        Err(io::Error::other("disk")),
    ];
    let first = ReplayableBody::new(StreamBody::new(futures_util::stream::iter(frames)));
    let second = first.replay().unwrap();
    assert!(matches!(first.collect().await, Err(ReplayError::Body(_))));
    assert!(matches!(
        second.collect().await,
        Err(ReplayError::NotReplayable(_))
    ));
}

#[tokio::test]
async fn a_dropped_reader_does_not_strand_the_others() {
    let (tx, body) = fed();
    let first = ReplayableBody::new(body);
    let second = first.replay().unwrap();
    let mut first = Box::pin(first);
    // The first reader waits on the source (it registered its waker), then is dropped.
    assert!(first.frame().now_or_never().is_none());
    let reader = tokio::spawn(second.collect());
    tokio::task::yield_now().await;
    drop(first);
    tx.send(data(b"late")).unwrap();
    drop(tx);
    let collected = reader.await.unwrap().unwrap();
    assert_eq!(collected.to_bytes(), "late");
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_call_leaves_the_service_usable() {
    let seen = Seen::default();
    let client = HttpPipelineLayer::<io::Error>::new(retrying()).layer(server(seen.clone(), 0));
    let (tx, body) = fed();
    tx.send(data(b"half")).unwrap();
    let call = client
        .clone()
        .oneshot(Request::put("http://orders/7").body(body).unwrap());
    assert!(tokio::time::timeout(Duration::from_secs(1), call)
        .await
        .is_err());
    let (tx2, body) = fed();
    tx2.send(data(b"whole")).unwrap();
    drop(tx2);
    let again = Request::put("http://orders/7").body(body).unwrap();
    assert_eq!(client.oneshot(again).await.unwrap().status(), 200);
    drop(tx);
    assert_eq!(seen.all().len(), 1);
}

/// Reads a body whose source is always ready, without a runtime.
fn read_now<B: http_body::Body<Data = Bytes> + Unpin>(
    body: &mut B,
) -> Option<Result<Bytes, B::Error>> {
    match body.frame().now_or_never().expect("always ready") {
        None => None,
        Some(Ok(frame)) => Some(Ok(frame.into_data().unwrap_or_default())),
        Some(Err(e)) => Some(Err(e)),
    }
}

proptest! {
    /// A replay yields exactly the original bytes, or the body is reported not
    /// replayable when it is above the cap; two readers taking turns: both get the
    /// whole body under the cap, exactly one of them above it.
    #[test]
    fn replays_yield_the_original_bytes_or_refuse(
        sizes in prop::collection::vec(0usize..300, 0..12),
        cap in 0usize..2000,
        interleave in any::<bool>(),
    ) {
        let parts = chunks(&sizes);
        let whole: Vec<u8> = parts.concat();
        let mut first = ReplayableBody::with_cap(streamed(&parts), cap);
        let mut second = first.replay().unwrap();
        let mut out = [Vec::new(), Vec::new()];
        let mut failed = [false, false];
        let mut open = [true, true];
        while open[0] || open[1] {
            for (i, body) in [&mut first, &mut second].into_iter().enumerate() {
                if !open[i] || (!interleave && i == 1 && open[0]) {
                    continue;
                }
                match read_now(body) {
                    None => open[i] = false,
                    Some(Ok(bytes)) => out[i].extend_from_slice(&bytes),
                    Some(Err(ReplayError::NotReplayable(_))) => {
                        failed[i] = true;
                        open[i] = false;
                    }
                    Some(Err(ReplayError::Body(e))) => match e {},
                }
            }
        }
        if whole.len() <= cap {
            prop_assert_eq!(&out[0], &whole);
            prop_assert_eq!(&out[1], &whole);
            prop_assert!(first.is_replayable());
            let mut third = first.replay().unwrap();
            let mut again = Vec::new();
            while let Some(bytes) = read_now(&mut third) {
                again.extend_from_slice(&bytes.unwrap());
            }
            prop_assert_eq!(again, whole);
        } else {
            prop_assert!(first.replay().is_none());
            prop_assert_eq!(failed.iter().filter(|f| **f).count(), 1);
            let winner = usize::from(failed[0]);
            prop_assert_eq!(&out[winner], &whole);
        }
    }
}

/// The layer around hyper-util's client, against axum on loopback.
mod loopback {
    use super::*;
    use axum::extract::State;
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    use rampart_http::classify::{transport_failure_of, HttpClassifier};

    /// Each request the server saw: its attempt header, Content-Length and body size.
    type Calls = Arc<Mutex<Vec<(String, Option<String>, usize)>>>;

    /// Answers 503 to the first request, then 200; the body says what was received.
    async fn answer(
        State(calls): State<Calls>,
        headers: http::HeaderMap,
        body: Bytes,
    ) -> (http::StatusCode, String) {
        let text = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_owned());
        let mut calls = calls.lock().unwrap();
        calls.push((
            text("rampart-attempt").unwrap(),
            text("content-length"),
            body.len(),
        ));
        let status = if calls.len() == 1 { 503 } else { 200 };
        (
            http::StatusCode::from_u16(status).unwrap(),
            format!("{}", body.len()),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn hyper_util_client_retries_a_streamed_body_on_loopback() {
        let calls = Calls::default();
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(calls.clone());
        let url = crate::support::serve(app).await;

        let classifier =
            HttpClassifier::new(|e: &hyper_util::client::legacy::Error| transport_failure_of(e));
        let layer = HttpPipelineLayer::with_classifier(retrying(), classifier);
        let client = layer.layer(Client::builder(TokioExecutor::new()).build_http());

        let parts = chunks(&[3000, 5000, 7]);
        let request = Request::put(format!("{url}/orders/7"))
            .body(streamed(&parts))
            .unwrap();
        let response = client.oneshot(request).await.unwrap();
        assert_eq!(response.status(), 200);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "8007");
        let seen = calls.lock().unwrap().clone();
        let attempts: Vec<_> = seen.iter().map(|(a, _, n)| (a.as_str(), *n)).collect();
        assert_eq!(attempts, vec![("1", 8007), ("2", 8007)]);

        // A body of known size is sent with its Content-Length on every attempt.
        calls.lock().unwrap().clear();
        let request = Request::put(format!("{url}/orders/7"))
            .body(Full::new(Bytes::from_static(b"amount=700")))
            .unwrap();
        let client = layer.layer(Client::builder(TokioExecutor::new()).build_http());
        assert_eq!(client.oneshot(request).await.unwrap().status(), 200);
        let seen = calls.lock().unwrap().clone();
        for (_, length, n) in &seen {
            assert_eq!(length.as_deref(), Some("10"));
            assert_eq!(*n, 10);
        }
        assert_eq!(seen.len(), 2);
    }
}
