//! Property tests: every parser takes arbitrary bytes and strings without panicking,
//! numbers parse to the right value, dates and headers round trip.

use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Response, StatusCode};
use proptest::prelude::*;
use rampart::classify::{Classify, OutcomeClass};
use rampart_http::classify::HttpClassifier;
use rampart_http::rate_limit_headers::{
    parse_ietf, parse_x_rate_limit, retry_hint, write_ietf, write_x_rate_limit, RateLimitInfo,
    ResetFormat,
};
use rampart_http::retry_after::{parse_retry_after, RetryAfter, RetryAfterPolicy};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The last second an HTTP date can write: 9999-12-31T23:59:59Z.
const MAX_DATE: u64 = 253_402_300_799;

const NAMES: [&str; 9] = [
    "retry-after",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "ratelimit",
    "ratelimit-policy",
    "ratelimit-limit",
    "ratelimit-remaining",
    "ratelimit-reset",
];

fn any_now() -> impl Strategy<Value = SystemTime> {
    prop_oneof![
        (0..=MAX_DATE + 10).prop_map(|s| UNIX_EPOCH + Duration::from_secs(s)),
        (0u64..1 << 40, 0u32..1_000_000_000).prop_map(|(s, n)| UNIX_EPOCH + Duration::new(s, n)),
        (0u64..1 << 32).prop_map(|s| UNIX_EPOCH - Duration::from_secs(s)),
    ]
}

/// Text that looks like the fields, to reach deeper than random bytes do.
fn fieldish() -> impl Strategy<Value = String> {
    proptest::string::string_regex(r#"[ \t"a-z0-9=;,.:\\*?-]{0,40}"#).unwrap()
}

/// Headers built from arbitrary bytes, strings and field-like text for every name.
fn any_headers() -> impl Strategy<Value = HeaderMap> {
    let value = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..48),
        any::<String>().prop_map(String::into_bytes),
        fieldish().prop_map(String::into_bytes),
        (any::<u64>(), 0usize..4)
            .prop_map(|(n, zeros)| format!("{}{n}", "0".repeat(zeros)).into_bytes()),
    ];
    proptest::collection::vec((0..NAMES.len(), value), 0..8).prop_map(|pairs| {
        let mut map = HeaderMap::new();
        for (i, bytes) in pairs {
            if let Ok(v) = HeaderValue::from_bytes(&bytes) {
                map.append(HeaderName::from_static(NAMES[i]), v);
            }
        }
        map
    })
}

/// The value of a run of digits, saturating at `u64::MAX`.
fn expected_digits(digits: &str) -> u64 {
    let trimmed = digits.trim_start_matches('0');
    if trimmed.is_empty() {
        0
    } else {
        trimmed.parse::<u64>().unwrap_or(u64::MAX)
    }
}

fn policy_max() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        Just(Duration::MAX),
        any::<u64>().prop_map(Duration::from_secs)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn retry_after_takes_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..64), now in any_now()) {
        let _ = RetryAfter::parse(&bytes);
        let _ = parse_retry_after(&bytes, now);
    }

    #[test]
    fn retry_after_takes_any_string(text in any::<String>(), now in any_now(), max in policy_max()) {
        let policy = RetryAfterPolicy::new(max);
        if let Some(d) = policy.delay(text.as_bytes(), now) {
            prop_assert!(d <= max);
        }
    }

    #[test]
    fn digits_parse_to_their_value(digits in "[0-9]{1,60}", now in any_now()) {
        let expected = Duration::from_secs(expected_digits(&digits));
        prop_assert_eq!(parse_retry_after(digits.as_bytes(), now), Some(expected));
        let padded = format!(" \t{digits} ");
        prop_assert_eq!(parse_retry_after(padded.as_bytes(), now), Some(expected));
    }

    #[test]
    fn numbers_with_anything_else_are_ignored(n in any::<u64>(), junk in "[^0-9 \t]{1,3}", front in any::<bool>()) {
        let text = if front { format!("{junk}{n}") } else { format!("{n}{junk}") };
        prop_assert_eq!(RetryAfter::parse(text.as_bytes()), None);
    }

    #[test]
    fn every_date_form_round_trips(secs in 0..=MAX_DATE, now in any_now()) {
        let at = UNIX_EPOCH + Duration::from_secs(secs);
        let imf = RetryAfter::Date(at).to_header_value().unwrap();
        let imf = imf.to_str().unwrap();
        prop_assert_eq!(RetryAfter::parse(imf.as_bytes()), Some(RetryAfter::Date(at)));
        // "Sun, 06 Nov 1994 08:49:37 GMT": rebuild the other two forms from its parts.
        let (wday, day, mon, year, time) = (&imf[0..3], &imf[5..7], &imf[8..11], &imf[12..16], &imf[17..25]);
        let asctime = format!("{wday} {mon} {:>2} {time} {year}", day.trim_start_matches('0'));
        prop_assert_eq!(RetryAfter::parse(asctime.as_bytes()), Some(RetryAfter::Date(at)), "{}", asctime);
        let y: u32 = year.parse().unwrap();
        if (1970..2070).contains(&y) {
            let long = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
                .into_iter().find(|l| l.starts_with(wday)).unwrap();
            let rfc850 = format!("{long}, {day}-{mon}-{:02} {time} GMT", y % 100);
            prop_assert_eq!(RetryAfter::parse(rfc850.as_bytes()), Some(RetryAfter::Date(at)), "{}", rfc850);
        }
        // Seen from any `now`: the time left, or zero once past.
        let expected = at.duration_since(now).unwrap_or(Duration::ZERO);
        prop_assert_eq!(parse_retry_after(imf.as_bytes(), now), Some(expected));
    }

    #[test]
    fn delays_round_trip_rounded_up(secs in any::<u64>(), nanos in 0u32..1_000_000_000) {
        let d = Duration::new(secs, nanos);
        let v = RetryAfter::Delay(d).to_header_value().unwrap();
        let back = parse_retry_after(v.as_bytes(), UNIX_EPOCH).unwrap();
        let floor = Duration::from_secs(secs);
        prop_assert!(back >= floor && back - floor <= Duration::from_secs(1));
        prop_assert!(back >= d || secs == u64::MAX);
    }

    #[test]
    fn rate_limit_parsers_take_any_headers(headers in any_headers(), now in any_now(), max in policy_max()) {
        for format in [ResetFormat::Auto, ResetFormat::DeltaSeconds, ResetFormat::EpochSeconds] {
            let _ = parse_x_rate_limit(&headers, now, format);
            let _ = RateLimitInfo::from_headers(&headers, now, format);
            if let Some(d) = retry_hint(&headers, now, &RetryAfterPolicy::new(max), format) {
                prop_assert!(d <= max);
            }
        }
        let _ = parse_ietf(&headers);
    }

    #[test]
    fn x_rate_limit_round_trips(limit in any::<u64>(), remaining in any::<u64>(), reset in 0u64..1_000_000_000, nanos in 0u32..1_000_000_000, now in 0u64..4_000_000_000) {
        let now = UNIX_EPOCH + Duration::from_secs(now);
        let reset = Duration::new(reset, nanos).min(Duration::from_secs(1_000_000_000));
        let info = RateLimitInfo::new(limit, remaining).with_reset(reset);
        for format in [ResetFormat::Auto, ResetFormat::DeltaSeconds, ResetFormat::EpochSeconds] {
            let mut map = HeaderMap::new();
            write_x_rate_limit(&mut map, &info, now, format);
            let back = parse_x_rate_limit(&map, now, format).unwrap();
            prop_assert_eq!((back.limit, back.remaining), (Some(limit), Some(remaining)));
            let got = back.reset.unwrap();
            prop_assert!(got >= reset && got - reset < Duration::from_secs(1), "{:?} {:?} {:?}", format, got, reset);
        }
    }

    #[test]
    fn ietf_round_trips(limit in any::<u64>(), remaining in any::<u64>(), reset in any::<u64>(), window in any::<u64>(), name in any::<String>()) {
        let info = RateLimitInfo::new(limit, remaining)
            .with_reset(Duration::from_secs(reset))
            .with_window(Duration::from_secs(window))
            .with_policy(name.clone());
        let mut map = HeaderMap::new();
        write_ietf(&mut map, &info);
        let back = parse_ietf(&map).unwrap();
        let written: String = name.chars().map(|c| if (' '..='~').contains(&c) { c } else { '_' }).collect();
        prop_assert_eq!(back, info.with_policy(written));
    }

    #[test]
    fn classifier_takes_any_response(code in 100u16..=999, headers in any_headers(), now in any_now()) {
        let c = HttpClassifier::<std::io::Error>::default().with_wall_clock(move || now);
        let mut response = Response::new(());
        *response.status_mut() = StatusCode::from_u16(code).unwrap();
        *response.headers_mut() = headers;
        let v = c.classify(Ok(&response));
        prop_assert!(!v.retryable || v.class == OutcomeClass::Failure);
        prop_assert!(v.retry_after.is_none_or(|d| d <= RetryAfterPolicy::DEFAULT_MAX));
        prop_assert!(v.retry_after.is_none() || code == 429 || code == 503);
    }
}
