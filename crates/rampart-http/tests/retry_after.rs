//! `Retry-After`: every form RFC 9110 allows, what is ignored, clamping and round trips.

use http::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use rampart_http::retry_after::{
    parse_retry_after, write_retry_after, RetryAfter, RetryAfterPolicy,
};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// 1994-11-06T08:49:37Z, the date in RFC 9110's examples.
const RFC_EXAMPLE: u64 = 784_111_777;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn secs(s: u64) -> Option<Duration> {
    Some(Duration::from_secs(s))
}

#[test]
fn parse_table() {
    // (value, now, expected delay without a maximum)
    let now = at(RFC_EXAMPLE - 60);
    let table: &[(&str, SystemTime, Option<Duration>)] = &[
        // delay-seconds
        ("0", now, secs(0)),
        ("120", now, secs(120)),
        ("0120", now, secs(120)),
        ("0000000000000000000000000000005", now, secs(5)),
        (" 7\t", now, secs(7)),
        ("18446744073709551615", now, secs(u64::MAX)),
        ("18446744073709551616", now, secs(u64::MAX)),
        (
            "99999999999999999999999999999999999999",
            now,
            secs(u64::MAX),
        ),
        // the three date forms, one minute ahead of `now`
        ("Sun, 06 Nov 1994 08:49:37 GMT", now, secs(60)),
        ("Sunday, 06-Nov-94 08:49:37 GMT", now, secs(60)),
        ("Sun Nov  6 08:49:37 1994", now, secs(60)),
        // a date is measured from `now`
        ("Sun, 06 Nov 1994 08:49:37 GMT", at(RFC_EXAMPLE), secs(0)),
        (
            "Sun, 06 Nov 1994 08:49:37 GMT",
            at(RFC_EXAMPLE + 3600),
            secs(0),
        ),
        ("Thu, 01 Jan 1970 00:00:00 GMT", now, secs(0)),
        (
            "Fri, 31 Dec 9999 23:59:59 GMT",
            at(253_402_300_799 - 10),
            secs(10),
        ),
        (
            "Tue, 29 Feb 2000 00:00:00 GMT",
            at(951_782_400 - 1),
            secs(1),
        ),
        // RFC 850 two-digit years: 00-69 are 20xx, 70-99 are 19xx
        (
            "Tuesday, 01-Jan-69 00:00:00 GMT",
            at(3_124_224_000 - 5),
            secs(5),
        ),
        (
            "Friday, 31-Dec-99 23:59:59 GMT",
            at(946_684_799 - 5),
            secs(5),
        ),
        // malformed: ignored
        ("", now, None),
        ("   ", now, None),
        ("-1", now, None),
        ("+5", now, None),
        ("1.5", now, None),
        ("5s", now, None),
        ("5 5", now, None),
        ("0x10", now, None),
        ("١٢", now, None),
        ("soon", now, None),
        ("Mon, 06 Nov 1994 08:49:37 GMT", now, None), // wrong weekday
        ("Sun, 06 Nov 1994 08:49:37 UTC", now, None),
        ("Sun, 06 Nov 1994 25:49:37 GMT", now, None),
        ("Sun, 31 Feb 1994 08:49:37 GMT", now, None),
        ("Sun, 6 Nov 1994 08:49:37 GMT", now, None),
        ("Wed, 31 Dec 1969 23:59:59 GMT", now, None),
        ("Sun,  06 Nov 1994 08:49:37 GMT", now, None),
    ];
    for (value, now, expected) in table {
        assert_eq!(
            parse_retry_after(value.as_bytes(), *now),
            *expected,
            "Retry-After: {value:?}"
        );
    }
}

#[test]
fn non_utf8_bytes_are_ignored() {
    assert_eq!(parse_retry_after(b"\xff\xfe", at(0)), None);
    assert_eq!(parse_retry_after(b"12\x80", at(0)), None);
}

#[test]
fn parse_keeps_the_form() {
    assert_eq!(
        RetryAfter::parse(b"30"),
        Some(RetryAfter::Delay(Duration::from_secs(30)))
    );
    assert_eq!(
        RetryAfter::parse(b"Sun, 06 Nov 1994 08:49:37 GMT"),
        Some(RetryAfter::Date(at(RFC_EXAMPLE)))
    );
    // A delay does not depend on `now`.
    let d = RetryAfter::Delay(Duration::from_secs(3));
    assert_eq!(d.delay_from(at(0)), d.delay_from(at(RFC_EXAMPLE)));
    // Sub-second parts of `now` count: 0.5 s before the instant is 0.5 s of delay.
    let date = RetryAfter::Date(at(100));
    assert_eq!(
        date.delay_from(at(99) + Duration::from_millis(500)),
        Duration::from_millis(500)
    );
}

#[test]
fn policy_clamps_to_its_maximum() {
    let now = at(RFC_EXAMPLE - 3600);
    let policy = RetryAfterPolicy::new(Duration::from_secs(60));
    let table: &[(&str, Option<Duration>)] = &[
        ("59", secs(59)),
        ("60", secs(60)),
        ("61", secs(60)),
        ("99999999999999999999999", secs(60)),
        ("Sun, 06 Nov 1994 08:49:37 GMT", secs(60)),
        ("Sun, 06 Nov 1994 07:49:57 GMT", secs(20)),
        ("nonsense", None),
    ];
    for (value, expected) in table {
        assert_eq!(policy.delay(value.as_bytes(), now), *expected, "{value:?}");
    }
    assert_eq!(
        RetryAfterPolicy::new(Duration::ZERO).delay(b"10", now),
        secs(0)
    );
    assert_eq!(RetryAfterPolicy::default().max(), Duration::from_secs(300));
    assert_eq!(RetryAfterPolicy::default().delay(b"301", now), secs(300));
}

#[test]
fn headers_absent_repeated_or_present() {
    let policy = RetryAfterPolicy::default();
    let mut headers = HeaderMap::new();
    assert_eq!(policy.from_headers(&headers, at(0)), None);
    headers.insert(RETRY_AFTER, HeaderValue::from_static("12"));
    assert_eq!(policy.from_headers(&headers, at(0)), secs(12));
    headers.append(RETRY_AFTER, HeaderValue::from_static("12"));
    assert_eq!(
        policy.from_headers(&headers, at(0)),
        None,
        "a repeated singleton is ambiguous"
    );
    headers.insert(RETRY_AFTER, HeaderValue::from_static("12, 13"));
    assert_eq!(policy.from_headers(&headers, at(0)), None);
}

#[test]
fn writing_rounds_up_and_round_trips() {
    let table: &[(Duration, &str)] = &[
        (Duration::ZERO, "0"),
        (Duration::from_nanos(1), "1"),
        (Duration::from_millis(400), "1"),
        (Duration::from_secs(2), "2"),
        (Duration::from_millis(2_001), "3"),
        (Duration::MAX, "18446744073709551615"),
    ];
    for (delay, text) in table {
        let mut headers = HeaderMap::new();
        write_retry_after(&mut headers, *delay);
        assert_eq!(headers[RETRY_AFTER], *text, "{delay:?}");
        let value = RetryAfter::Delay(*delay).to_header_value().unwrap();
        assert_eq!(value, *text);
        let back = RetryAfterPolicy::new(Duration::MAX)
            .from_headers(&headers, at(0))
            .unwrap();
        // Rounded up, except at the very top where whole seconds saturate.
        let expected = (*delay).min(Duration::from_secs(u64::MAX));
        assert!(back >= expected && back - expected < Duration::from_secs(1));
    }
}

#[test]
fn dates_write_as_imf_fixdate_and_round_trip() {
    let value = RetryAfter::Date(at(RFC_EXAMPLE)).to_header_value().unwrap();
    assert_eq!(value, "Sun, 06 Nov 1994 08:49:37 GMT");
    assert_eq!(
        RetryAfter::parse(value.as_bytes()),
        Some(RetryAfter::Date(at(RFC_EXAMPLE)))
    );
    for s in [0, 1, 951_782_400, 1_795_579_200, 253_402_300_799] {
        let value = RetryAfter::Date(at(s)).to_header_value().unwrap();
        assert_eq!(
            RetryAfter::parse(value.as_bytes()),
            Some(RetryAfter::Date(at(s))),
            "{s}"
        );
    }
    // Sub-second parts are dropped.
    let value = RetryAfter::Date(at(5) + Duration::from_millis(900))
        .to_header_value()
        .unwrap();
    assert_eq!(
        RetryAfter::parse(value.as_bytes()),
        Some(RetryAfter::Date(at(5)))
    );
    // Instants HTTP dates cannot express.
    assert_eq!(
        RetryAfter::Date(at(253_402_300_800)).to_header_value(),
        None
    );
    assert_eq!(
        RetryAfter::Date(UNIX_EPOCH - Duration::from_secs(1)).to_header_value(),
        None
    );
}

#[test]
fn policy_reads_from_configuration() {
    let policy: RetryAfterPolicy = toml::from_str(r#"max = "90s""#).unwrap();
    assert_eq!(policy, RetryAfterPolicy::new(Duration::from_secs(90)));
    let default: RetryAfterPolicy = toml::from_str("").unwrap();
    assert_eq!(default, RetryAfterPolicy::default());
    assert!(toml::from_str::<RetryAfterPolicy>(r#"maximum = "90s""#).is_err());
    assert!(toml::from_str::<RetryAfterPolicy>(r#"max = "soon""#).is_err());
}
