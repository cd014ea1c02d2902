//! The HTTP classifier: every status class, transport errors, method rules and hints.

use http::header::HeaderValue;
use http::{Method, Request, Response, StatusCode};
use rampart::classify::{Classify, OutcomeClass, Verdict};
use rampart_http::classify::{
    is_idempotent, may_retry, status_verdict, transport_failure_of, HttpClassifier, TransportError,
    TransportFailure, IDEMPOTENCY_KEY,
};
use rampart_http::rate_limit_headers::ResetFormat;
use rampart_http::retry_after::RetryAfterPolicy;
use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const NOW: u64 = 784_111_777; // Sun, 06 Nov 1994 08:49:37 GMT

fn classifier() -> HttpClassifier<io::Error> {
    HttpClassifier::default().with_wall_clock(|| UNIX_EPOCH + Duration::from_secs(NOW))
}

fn response(status: u16, headers: &[(&str, &str)]) -> Response<()> {
    let mut builder = Response::builder().status(status);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    builder.body(()).unwrap()
}

/// Header lines as `(name, value)`.
type Lines = &'static [(&'static str, &'static str)];

fn verdict(class: OutcomeClass, retryable: bool, retry_after: Option<u64>) -> Verdict {
    Verdict {
        class,
        retryable,
        retry_after: retry_after.map(Duration::from_secs),
    }
}

use OutcomeClass::{Failure, Ignored, Success};

#[test]
fn every_status_from_100_to_999() {
    for code in 100..=999u16 {
        let status = StatusCode::from_u16(code).unwrap();
        let expected = match code {
            100..=399 => verdict(Success, false, None),
            408 | 429 | 500 | 502 | 503 | 504 => verdict(Failure, true, None),
            400..=499 => verdict(Ignored, false, None),
            _ => verdict(Failure, false, None),
        };
        assert_eq!(status_verdict(status), expected, "{code}");
        assert_eq!(
            classifier().classify(Ok(&response(code, &[]))),
            expected,
            "{code}"
        );
    }
}

#[test]
fn the_issue_lists() {
    for code in [408, 429, 500, 502, 503, 504] {
        let v = status_verdict(StatusCode::from_u16(code).unwrap());
        assert!(v.retryable && v.class == Failure, "{code} is retried");
    }
    for code in [400, 401, 403, 404, 409, 422] {
        let v = status_verdict(StatusCode::from_u16(code).unwrap());
        assert_eq!(v, verdict(Ignored, false, None), "{code} is never retried");
    }
    for code in [501, 505, 507, 511] {
        let v = status_verdict(StatusCode::from_u16(code).unwrap());
        assert_eq!(
            v,
            verdict(Failure, false, None),
            "{code} fails without retry"
        );
    }
}

#[test]
fn retry_after_on_429_and_503_only() {
    let c = classifier();
    let table: &[(u16, Lines, Verdict)] = &[
        (
            503,
            &[("retry-after", "2")],
            verdict(Failure, true, Some(2)),
        ),
        (
            429,
            &[("retry-after", "0002")],
            verdict(Failure, true, Some(2)),
        ),
        (
            503,
            &[("retry-after", "Sun, 06 Nov 1994 08:50:37 GMT")],
            verdict(Failure, true, Some(60)),
        ),
        (
            503,
            &[("retry-after", "Sun, 06 Nov 1994 08:00:00 GMT")],
            verdict(Failure, true, Some(0)),
        ),
        (
            503,
            &[("retry-after", "whenever")],
            verdict(Failure, true, None),
        ),
        (
            503,
            &[("retry-after", "99999999999")],
            verdict(Failure, true, Some(300)),
        ),
        // Other statuses carry no hint even with the header.
        (500, &[("retry-after", "2")], verdict(Failure, true, None)),
        (502, &[("retry-after", "2")], verdict(Failure, true, None)),
        (200, &[("retry-after", "2")], verdict(Success, false, None)),
        (404, &[("retry-after", "2")], verdict(Ignored, false, None)),
        // A 429 without Retry-After uses an exhausted rate limit's reset; a 503 does not.
        (
            429,
            &[("ratelimit", "\"d\";r=0;t=9")],
            verdict(Failure, true, Some(9)),
        ),
        (
            429,
            &[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "10")],
            verdict(Failure, true, Some(10)),
        ),
        (
            429,
            &[("retry-after", "3"), ("ratelimit", "\"d\";r=0;t=9")],
            verdict(Failure, true, Some(3)),
        ),
        (
            503,
            &[("ratelimit", "\"d\";r=0;t=9")],
            verdict(Failure, true, None),
        ),
    ];
    for (code, headers, expected) in table {
        assert_eq!(
            c.classify(Ok(&response(*code, headers))),
            *expected,
            "{code} {headers:?}"
        );
    }
}

#[test]
fn settings_change_the_hint() {
    let c = classifier().with_retry_after(RetryAfterPolicy::new(Duration::from_secs(5)));
    assert_eq!(
        c.classify(Ok(&response(503, &[("retry-after", "60")])))
            .retry_after,
        Some(Duration::from_secs(5))
    );
    let headers = [
        ("x-ratelimit-remaining", "0"),
        ("x-ratelimit-reset", "784111787"),
    ];
    let delta = classifier().with_reset_format(ResetFormat::DeltaSeconds);
    assert_eq!(
        delta.classify(Ok(&response(429, &headers))).retry_after,
        Some(Duration::from_secs(300))
    );
    // 1994 is below Auto's epoch threshold, so only EpochSeconds reads it as a time.
    let auto = classifier();
    assert_eq!(
        auto.classify(Ok(&response(429, &headers))).retry_after,
        Some(Duration::from_secs(300))
    );
    let epoch = classifier().with_reset_format(ResetFormat::EpochSeconds);
    assert_eq!(
        epoch.classify(Ok(&response(429, &headers))).retry_after,
        Some(Duration::from_secs(10))
    );
}

#[test]
fn transport_errors() {
    let c = classifier();
    let table: &[(io::ErrorKind, Verdict)] = &[
        (
            io::ErrorKind::ConnectionRefused,
            verdict(Failure, true, None),
        ),
        (io::ErrorKind::ConnectionReset, verdict(Failure, true, None)),
        (
            io::ErrorKind::ConnectionAborted,
            verdict(Failure, true, None),
        ),
        (io::ErrorKind::BrokenPipe, verdict(Failure, true, None)),
        (io::ErrorKind::UnexpectedEof, verdict(Failure, true, None)),
        (io::ErrorKind::TimedOut, verdict(Failure, true, None)),
        (io::ErrorKind::InvalidData, verdict(Failure, false, None)),
        (
            io::ErrorKind::PermissionDenied,
            verdict(Failure, false, None),
        ),
        (io::ErrorKind::Other, verdict(Failure, false, None)),
    ];
    for (kind, expected) in table {
        let e = io::Error::from(*kind);
        assert_eq!(
            Classify::<Response<()>, _>::classify(&c, Err(&e)),
            *expected,
            "{kind:?}"
        );
    }
}

/// A client error that wraps the socket's error, as hyper and reqwest do.
#[derive(Debug)]
struct ClientError {
    connect: bool,
    source: Option<io::Error>,
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("client error")
    }
}

impl StdError for ClientError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source.as_ref().map(|e| e as _)
    }
}

#[test]
fn source_chains_and_custom_functions() {
    let wrapped = ClientError {
        connect: false,
        source: Some(io::ErrorKind::ConnectionReset.into()),
    };
    assert_eq!(transport_failure_of(&wrapped), TransportFailure::Connection);
    let bare = ClientError {
        connect: false,
        source: None,
    };
    assert_eq!(transport_failure_of(&bare), TransportFailure::Other);
    let boxed: Box<dyn StdError + Send + Sync> = Box::new(ClientError {
        connect: false,
        source: Some(io::ErrorKind::ConnectionRefused.into()),
    });
    assert_eq!(boxed.transport_failure(), TransportFailure::Connect);

    // What a reqwest user writes: the client's own flag first, the chain as fallback.
    let c: HttpClassifier<ClientError> = HttpClassifier::new(|e: &ClientError| {
        if e.connect {
            TransportFailure::Connect
        } else {
            transport_failure_of(e)
        }
    });
    let connect = ClientError {
        connect: true,
        source: None,
    };
    assert!(Classify::<Response<()>, _>::classify(&c, Err(&connect)).retryable);
    assert!(Classify::<Response<()>, _>::classify(&c, Err(&wrapped)).retryable);
    assert!(!Classify::<Response<()>, _>::classify(&c, Err(&bare)).retryable);

    // A plain predicate.
    let p: HttpClassifier<&str> = HttpClassifier::connection_errors_if(|e: &&str| *e == "reset");
    assert_eq!(
        Classify::<Response<()>, _>::classify(&p, Err(&"reset")),
        verdict(Failure, true, None)
    );
    assert_eq!(
        Classify::<Response<()>, _>::classify(&p, Err(&"bug")),
        verdict(Failure, false, None)
    );
}

#[test]
fn idempotent_methods() {
    let table: &[(Method, bool)] = &[
        (Method::GET, true),
        (Method::HEAD, true),
        (Method::OPTIONS, true),
        (Method::TRACE, true),
        (Method::PUT, true),
        (Method::DELETE, true),
        (Method::POST, false),
        (Method::PATCH, false),
        (Method::CONNECT, false),
        (Method::from_bytes(b"PURGE").unwrap(), false),
        (Method::from_bytes(b"get").unwrap(), false),
    ];
    for (method, expected) in table {
        assert_eq!(is_idempotent(method), *expected, "{method}");
    }
}

fn parts(method: Method, key: Option<&str>) -> http::request::Parts {
    let mut builder = Request::builder().method(method).uri("/pay");
    if let Some(k) = key {
        builder = builder.header(IDEMPOTENCY_KEY, HeaderValue::from_str(k).unwrap());
    }
    builder.body(()).unwrap().into_parts().0
}

#[test]
fn may_retry_table() {
    let table: &[(Method, Option<&str>, bool)] = &[
        (Method::GET, None, true),
        (Method::PUT, None, true),
        (Method::DELETE, None, true),
        (Method::POST, None, false),
        (Method::PATCH, None, false),
        (
            Method::POST,
            Some("8e03978e-40d5-43e8-bc93-6894a57f9324"),
            true,
        ),
        (Method::PATCH, Some("k"), true),
        (Method::POST, Some(""), false),
        (Method::POST, Some("  "), false),
        (Method::GET, Some(""), true),
    ];
    for (method, key, expected) in table {
        assert_eq!(
            may_retry(&parts(method.clone(), *key)),
            *expected,
            "{method} {key:?}"
        );
    }
}

#[test]
fn for_request_gates_retries_but_not_the_class() {
    let c = classifier();
    let post = c.for_request(&parts(Method::POST, None));
    let keyed = c.for_request(&parts(Method::POST, Some("k")));
    let get = c.for_request(&parts(Method::GET, None));
    let busy = response(503, &[("retry-after", "2")]);
    assert_eq!(post.classify(Ok(&busy)), verdict(Failure, false, Some(2)));
    assert_eq!(keyed.classify(Ok(&busy)), verdict(Failure, true, Some(2)));
    assert_eq!(get.classify(Ok(&busy)), verdict(Failure, true, Some(2)));
    // A connection that never opened never carried the POST: retried anyway.
    let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
    assert!(Classify::<Response<()>, _>::classify(&post, Err(&refused)).retryable);
    // A reset after sending may have run it: not retried.
    let reset = io::Error::from(io::ErrorKind::ConnectionReset);
    assert!(!Classify::<Response<()>, _>::classify(&post, Err(&reset)).retryable);
    assert!(Classify::<Response<()>, _>::classify(&keyed, Err(&reset)).retryable);
    // The explicit switch, both ways.
    assert!(
        !c.clone()
            .with_request_may_retry(false)
            .classify(Ok(&busy))
            .retryable
    );
    assert!(
        post.with_request_may_retry(true)
            .classify(Ok(&busy))
            .retryable
    );
    assert!(format!("{c:?}").contains("request_may_retry: true"));
}

#[test]
fn wall_clock_defaults_to_now() {
    // Five seconds from the real clock, written as an HTTP date.
    let at = SystemTime::now() + Duration::from_secs(5);
    let header = httpdate_value(at);
    let v = HttpClassifier::<io::Error>::default()
        .classify(Ok(&response(503, &[("retry-after", &header)])));
    let hint = v.retry_after.unwrap();
    assert!(
        hint <= Duration::from_secs(5) && hint >= Duration::from_secs(3),
        "{hint:?}"
    );
}

fn httpdate_value(at: SystemTime) -> String {
    rampart_http::retry_after::RetryAfter::Date(at)
        .to_header_value()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned()
}
