//! Rate-limit headers: the three dialects, how they combine, `retry_hint`, and round
//! trips through the writers.

use http::header::{HeaderMap, HeaderName, HeaderValue};
use rampart_http::rate_limit_headers::{
    parse_ietf, parse_x_rate_limit, retry_hint, write_ietf, write_x_rate_limit, RateLimitInfo,
    ResetFormat,
};
use rampart_http::retry_after::RetryAfterPolicy;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// 2024-01-29T14:59:00Z, a minute before the seeds' `X-RateLimit-Reset: 1706540400`.
const NOW: u64 = 1_706_540_340;

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW)
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

/// Header lines as `(name, value)`.
type Lines = &'static [(&'static str, &'static str)];

fn secs(s: u64) -> Option<Duration> {
    Some(Duration::from_secs(s))
}

/// (limit, remaining, reset, window, policy)
type Expected = (
    Option<u64>,
    Option<u64>,
    Option<Duration>,
    Option<Duration>,
    Option<&'static str>,
);

fn summary(info: &RateLimitInfo) -> Expected {
    let policy = info.policy.as_deref().map(|p| &*String::leak(p.to_owned()));
    (info.limit, info.remaining, info.reset, info.window, policy)
}

#[test]
fn x_rate_limit_table() {
    let table: &[(Lines, ResetFormat, Option<Expected>)] = &[
        // The seeds' 429, read as epoch by Auto and by EpochSeconds.
        (
            &[
                ("x-ratelimit-limit", "100"),
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "1706540400"),
            ],
            ResetFormat::Auto,
            Some((Some(100), Some(0), secs(60), None, None)),
        ),
        (
            &[("x-ratelimit-reset", "1706540400")],
            ResetFormat::EpochSeconds,
            Some((None, None, secs(60), None, None)),
        ),
        // The same number as a delay when told so.
        (
            &[("x-ratelimit-reset", "1706540400")],
            ResetFormat::DeltaSeconds,
            Some((None, None, secs(1_706_540_400), None, None)),
        ),
        // Auto: 10^9 itself is a delay, one more is a (long past) Unix time.
        (
            &[("x-ratelimit-reset", "1000000000")],
            ResetFormat::Auto,
            Some((None, None, secs(1_000_000_000), None, None)),
        ),
        (
            &[("x-ratelimit-reset", "1000000001")],
            ResetFormat::Auto,
            Some((None, None, secs(0), None, None)),
        ),
        (
            &[("x-ratelimit-reset", "30")],
            ResetFormat::Auto,
            Some((None, None, secs(30), None, None)),
        ),
        // A Unix time in the past is zero; an epoch of 30 is long past.
        (
            &[("x-ratelimit-reset", "30")],
            ResetFormat::EpochSeconds,
            Some((None, None, secs(0), None, None)),
        ),
        // Fractions.
        (
            &[("x-ratelimit-reset", "1.25")],
            ResetFormat::Auto,
            Some((None, None, Some(Duration::from_millis(1_250)), None, None)),
        ),
        (
            &[("x-ratelimit-reset", "1706540400.5")],
            ResetFormat::Auto,
            Some((None, None, Some(Duration::from_millis(60_500)), None, None)),
        ),
        (
            &[("x-ratelimit-reset", "0.0000000019")],
            ResetFormat::Auto,
            Some((None, None, Some(Duration::from_nanos(1)), None, None)),
        ),
        // Leading zeros, spaces, saturation.
        (
            &[("x-ratelimit-limit", " 0100 ")],
            ResetFormat::Auto,
            Some((Some(100), None, None, None, None)),
        ),
        (
            &[("x-ratelimit-remaining", "99999999999999999999999")],
            ResetFormat::Auto,
            Some((None, Some(u64::MAX), None, None, None)),
        ),
        // Malformed values are ignored one by one.
        (
            &[("x-ratelimit-limit", "-1"), ("x-ratelimit-remaining", "5")],
            ResetFormat::Auto,
            Some((None, Some(5), None, None, None)),
        ),
        (&[("x-ratelimit-limit", "1e3")], ResetFormat::Auto, None),
        (&[("x-ratelimit-reset", "1.")], ResetFormat::Auto, None),
        (&[("x-ratelimit-reset", ".5")], ResetFormat::Auto, None),
        (&[("x-ratelimit-reset", "1.2.3")], ResetFormat::Auto, None),
        (&[("x-ratelimit-reset", "")], ResetFormat::Auto, None),
        // A repeated field is ambiguous.
        (
            &[
                ("x-ratelimit-remaining", "5"),
                ("x-ratelimit-remaining", "6"),
            ],
            ResetFormat::Auto,
            None,
        ),
        (&[], ResetFormat::Auto, None),
    ];
    for (pairs, format, expected) in table {
        let got = parse_x_rate_limit(&headers(pairs), now(), *format);
        assert_eq!(got.as_ref().map(summary), *expected, "{pairs:?} {format:?}");
    }
}

#[test]
fn ietf_table() {
    let table: &[(Lines, Option<Expected>)] = &[
        // The current draft.
        (
            &[
                ("ratelimit", r#""default";r=50;t=30"#),
                ("ratelimit-policy", r#""default";q=100;w=60"#),
            ],
            Some((Some(100), Some(50), secs(30), secs(60), Some("default"))),
        ),
        (
            &[("ratelimit", r#""default";r=50;t=30"#)],
            Some((None, Some(50), secs(30), None, Some("default"))),
        ),
        (
            &[("ratelimit-policy", r#""default";q=100;w=60"#)],
            Some((Some(100), None, None, secs(60), Some("default"))),
        ),
        // Several policies: the one with the least left, then the latest reset; its own
        // quota and window.
        (
            &[
                (
                    "ratelimit",
                    r#""burst";r=5;t=1, "daily";r=0;t=3600, "hourly";r=0;t=60"#,
                ),
                (
                    "ratelimit-policy",
                    r#""burst";q=10;w=1, "hourly";q=500;w=3600, "daily";q=5000;w=86400"#,
                ),
            ],
            Some((Some(5000), Some(0), secs(3600), secs(86400), Some("daily"))),
        ),
        // Field lines are combined as a list.
        (
            &[
                ("ratelimit", r#""a";r=9;t=1"#),
                ("ratelimit", r#""b";r=2;t=5"#),
            ],
            Some((None, Some(2), secs(5), None, Some("b"))),
        ),
        // Tokens as names, extra parameters, spaces, and parameters in any order.
        (
            &[
                ("ratelimit", "tok ; t=7 ; r=3 ; pk=:YWJj:"),
                ("ratelimit-policy", "tok;w=10;qu=\"requests\";q=20"),
            ],
            Some((Some(20), Some(3), secs(7), secs(10), Some("tok"))),
        ),
        // A quoted name with separators inside.
        (
            &[
                ("ratelimit", r#""a,b;c=d";r=1;t=2"#),
                ("ratelimit-policy", r#""a,b;c=d";q=4"#),
            ],
            Some((Some(4), Some(1), secs(2), None, Some("a,b;c=d"))),
        ),
        // The older dictionary form and integer policy items.
        (
            &[
                ("ratelimit", "limit=100, remaining=50, reset=30"),
                ("ratelimit-policy", "100;w=60"),
            ],
            Some((Some(100), Some(50), secs(30), secs(60), None)),
        ),
        (
            &[("ratelimit", "remaining=1, remaining=4, reset=x")],
            Some((None, Some(4), None, None, None)),
        ),
        // The oldest drafts' separate fields.
        (
            &[
                ("ratelimit-limit", "10"),
                ("ratelimit-remaining", "0"),
                ("ratelimit-reset", "9"),
            ],
            Some((Some(10), Some(0), secs(9), None, None)),
        ),
        // Bad values are ignored: negative, decimal, boolean, missing; a policy without
        // a matching name gives no quota.
        (&[("ratelimit", r#""x";r=-1;t=1.5"#)], None),
        (&[("ratelimit", r#""x";r;t"#)], None),
        (&[("ratelimit", r#""x""#)], None),
        (
            &[
                ("ratelimit", r#""x";r=0;t=4"#),
                ("ratelimit-policy", r#""y";q=100;w=60"#),
            ],
            Some((None, Some(0), secs(4), None, Some("x"))),
        ),
        (&[("ratelimit", r#""unterminated;r=1"#)], None),
        (
            &[("ratelimit", ",,, ;;; ==="), ("ratelimit-policy", "")],
            None,
        ),
        (&[], None),
    ];
    for (pairs, expected) in table {
        let got = parse_ietf(&headers(pairs));
        assert_eq!(got.as_ref().map(summary), *expected, "{pairs:?}");
    }
}

#[test]
fn ietf_wins_and_x_rate_limit_fills_gaps() {
    let map = headers(&[
        ("ratelimit", r#""default";r=3"#),
        ("x-ratelimit-limit", "100"),
        ("x-ratelimit-remaining", "50"),
        ("x-ratelimit-reset", "1706540400"),
    ]);
    let info = RateLimitInfo::from_headers(&map, now(), ResetFormat::Auto).unwrap();
    assert_eq!(
        summary(&info),
        (Some(100), Some(3), secs(60), None, Some("default"))
    );
    assert_eq!(
        RateLimitInfo::from_headers(&HeaderMap::new(), now(), ResetFormat::Auto),
        None
    );
}

#[test]
fn retry_hint_table() {
    let policy = RetryAfterPolicy::new(Duration::from_secs(120));
    let table: &[(Lines, Option<Duration>)] = &[
        // Retry-After wins over every rate-limit field.
        (
            &[
                ("retry-after", "7"),
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "40"),
            ],
            secs(7),
        ),
        (
            &[("retry-after", "7"), ("ratelimit", r#""d";r=0;t=40"#)],
            secs(7),
        ),
        (
            &[
                ("retry-after", "Mon, 29 Jan 2024 14:59:50 GMT"),
                ("ratelimit", r#""d";r=0;t=40"#),
            ],
            secs(50),
        ),
        // A malformed Retry-After does not hide the reset.
        (
            &[("retry-after", "later"), ("ratelimit", r#""d";r=0;t=40"#)],
            secs(40),
        ),
        // An exhausted quota's reset, or a reset with no count.
        (
            &[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "1706540400"),
            ],
            secs(60),
        ),
        (&[("ratelimit-reset", "9")], secs(9)),
        // Quota left: no reason to wait.
        (
            &[("x-ratelimit-remaining", "3"), ("x-ratelimit-reset", "40")],
            None,
        ),
        // Clamped by the policy.
        (&[("retry-after", "86400")], secs(120)),
        (&[("ratelimit", r#""d";r=0;t=86400"#)], secs(120)),
        (&[("x-ratelimit-limit", "10")], None),
        (&[], None),
    ];
    for (pairs, expected) in table {
        assert_eq!(
            retry_hint(&headers(pairs), now(), &policy, ResetFormat::Auto),
            *expected,
            "{pairs:?}"
        );
    }
}

#[test]
fn x_rate_limit_round_trips() {
    let info = RateLimitInfo::new(100, 0).with_reset(Duration::from_millis(59_200));
    for format in [
        ResetFormat::DeltaSeconds,
        ResetFormat::EpochSeconds,
        ResetFormat::Auto,
    ] {
        let mut map = HeaderMap::new();
        write_x_rate_limit(&mut map, &info, now(), format);
        let back = parse_x_rate_limit(&map, now(), format).unwrap();
        assert_eq!(
            summary(&back),
            (Some(100), Some(0), secs(60), None, None),
            "{format:?}"
        );
    }
    let mut map = HeaderMap::new();
    write_x_rate_limit(&mut map, &info, now(), ResetFormat::EpochSeconds);
    assert_eq!(map["x-ratelimit-reset"], "1706540400");
    // Only known fields are written.
    let mut map = HeaderMap::new();
    write_x_rate_limit(
        &mut map,
        &RateLimitInfo::default(),
        now(),
        ResetFormat::Auto,
    );
    assert!(map.is_empty());
}

#[test]
fn ietf_round_trips() {
    let cases = [
        RateLimitInfo::new(100, 50)
            .with_reset(Duration::from_secs(30))
            .with_window(Duration::from_secs(60))
            .with_policy("default"),
        RateLimitInfo::new(0, 0)
            .with_reset(Duration::ZERO)
            .with_window(Duration::from_secs(1))
            .with_policy("a \"quoted\" \\ name, with; separators=yes"),
        RateLimitInfo::new(u64::MAX, u64::MAX)
            .with_reset(Duration::from_secs(u64::MAX))
            .with_window(Duration::from_secs(u64::MAX))
            .with_policy(""),
    ];
    for info in cases {
        let mut map = HeaderMap::new();
        write_ietf(&mut map, &info);
        assert_eq!(parse_ietf(&map).as_ref(), Some(&info), "{map:?}");
    }
    let mut map = HeaderMap::new();
    write_ietf(
        &mut map,
        &RateLimitInfo::new(100, 50)
            .with_reset(Duration::from_millis(29_001))
            .with_window(Duration::from_secs(60))
            .with_policy("default"),
    );
    assert_eq!(map["ratelimit"], r#""default";r=50;t=30"#);
    assert_eq!(map["ratelimit-policy"], r#""default";q=100;w=60"#);
    // Unnamed policies are "default"; non-ASCII becomes `_`; nothing known writes nothing.
    let mut map = HeaderMap::new();
    write_ietf(&mut map, &RateLimitInfo::new(1, 1).with_policy("tenant-é"));
    assert_eq!(map["ratelimit"], r#""tenant-_";r=1"#);
    let mut map = HeaderMap::new();
    write_ietf(&mut map, &RateLimitInfo::new(1, 1));
    assert_eq!(map["ratelimit-policy"], r#""default";q=1"#);
    let mut map = HeaderMap::new();
    write_ietf(&mut map, &RateLimitInfo::default());
    assert!(map.is_empty());
}

#[test]
fn reset_format_reads_from_configuration() {
    #[derive(serde::Deserialize)]
    struct Config {
        reset: ResetFormat,
    }
    for (text, expected) in [
        ("delta_seconds", ResetFormat::DeltaSeconds),
        ("epoch_seconds", ResetFormat::EpochSeconds),
        ("auto", ResetFormat::Auto),
    ] {
        let config: Config = toml::from_str(&format!("reset = \"{text}\"")).unwrap();
        assert_eq!(config.reset, expected);
    }
    assert!(toml::from_str::<Config>(r#"reset = "epoch""#).is_err());
}
