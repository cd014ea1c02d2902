//! Reading and writing the `Retry-After` header (RFC 9110 section 10.2.3).
//!
//! A server sends `Retry-After` with a 429 or a 503 to say when to come back, either as
//! a number of seconds (`120`) or as an HTTP date (`Wed, 21 Oct 2015 07:28:00 GMT`).
//! [`RetryAfter::parse`] reads both; [`RetryAfter::delay_from`] turns either into a delay
//! relative to a wall-clock `now` you pass in, so tests need no real clock. A
//! [`RetryAfterPolicy`] adds a maximum, because a misconfigured or hostile server must
//! not park a client for a day.
//!
//! | input | result |
//! |---|---|
//! | `120`, `0120`, ` 120 ` | 120 s (leading zeros and surrounding spaces accepted) |
//! | `99999999999999999999999` | the largest delay, then clamped by the policy |
//! | IMF-fixdate `Sun, 06 Nov 1994 08:49:37 GMT` | the time until that instant |
//! | obsolete RFC 850 `Sunday, 06-Nov-94 08:49:37 GMT` | the same |
//! | ANSI C asctime `Sun Nov  6 08:49:37 1994` | the same |
//! | a date in the past | zero: retry now |
//! | `-1`, `1.5`, `5s`, `+5`, empty, a date with the wrong weekday, non-ASCII | `None`: ignored |
//! | two `Retry-After` fields in one response | `None`: the field is a singleton, so it is ambiguous |
//!
//! Dates are parsed with the `httpdate` crate. Its RFC 850 two-digit years read `70`-`99`
//! as 1970-1999 and `00`-`69` as 2000-2069 (a fixed pivot, not RFC 9110's "more than 50
//! years in the future" rule); the two differ only for years that are either long past
//! (a zero delay) or decades away (clamped by the policy).
//!
//! # Defaults
//!
//! | setting | default |
//! |---|---|
//! | [`RetryAfterPolicy::max`] | 5 minutes ([`RetryAfterPolicy::DEFAULT_MAX`]) |
//!
//! # Examples
//!
//! ```
//! use rampart_http::retry_after::{RetryAfter, RetryAfterPolicy};
//! use std::time::{Duration, SystemTime};
//!
//! let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777); // 06 Nov 1994 08:49:37
//! let policy = RetryAfterPolicy::new(Duration::from_secs(60));
//! assert_eq!(policy.delay(b"030", now), Some(Duration::from_secs(30)));
//! assert_eq!(policy.delay(b"Sun, 06 Nov 1994 08:50:07 GMT", now), Some(Duration::from_secs(30)));
//! assert_eq!(policy.delay(b"86400", now), Some(Duration::from_secs(60))); // clamped
//! assert_eq!(policy.delay(b"soon", now), None);
//!
//! // Writing: whole seconds, rounded up so that the client never comes back early.
//! let value = RetryAfter::Delay(Duration::from_millis(1_500)).to_header_value().unwrap();
//! assert_eq!(value, "2");
//! ```

use http::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A parsed `Retry-After` value: a delay or an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RetryAfter {
    /// `delay-seconds`: come back after this long.
    Delay(Duration),
    /// `HTTP-date`: come back at (or after) this instant.
    Date(SystemTime),
}

impl RetryAfter {
    /// Parses one `Retry-After` field value; `None` when it is malformed.
    ///
    /// Surrounding spaces and tabs are ignored. Delay-seconds are digits only (leading
    /// zeros allowed); a number too large for a `u64` of seconds saturates to
    /// `u64::MAX` seconds instead of failing. Dates are any of the three HTTP-date forms
    /// with a correct weekday, from 1970 to 9999.
    ///
    /// # Examples
    ///
    /// ```
    /// use rampart_http::retry_after::RetryAfter;
    /// use std::time::Duration;
    ///
    /// assert_eq!(RetryAfter::parse(b"007"), Some(RetryAfter::Delay(Duration::from_secs(7))));
    /// assert!(matches!(RetryAfter::parse(b"Sun Nov  6 08:49:37 1994"), Some(RetryAfter::Date(_))));
    /// assert_eq!(RetryAfter::parse(b"-1"), None);
    /// ```
    pub fn parse(value: &[u8]) -> Option<RetryAfter> {
        let value = trim_ows(value);
        if value.is_empty() {
            return None;
        }
        if value.iter().all(u8::is_ascii_digit) {
            return Some(RetryAfter::Delay(Duration::from_secs(saturating_digits(
                value,
            ))));
        }
        let text = std::str::from_utf8(value).ok()?;
        httpdate::parse_http_date(text).ok().map(RetryAfter::Date)
    }

    /// The delay this value asks for, seen from `now`: a date in the past (or `now`
    /// itself) is zero.
    pub fn delay_from(&self, now: SystemTime) -> Duration {
        match *self {
            RetryAfter::Delay(d) => d,
            RetryAfter::Date(at) => at.duration_since(now).unwrap_or(Duration::ZERO),
        }
    }

    /// The header value that says this: whole seconds rounded up for a delay, an
    /// IMF-fixdate for an instant (sub-second parts dropped).
    ///
    /// `None` for an instant before 1970 or from the year 10000 on, which HTTP dates
    /// cannot express.
    pub fn to_header_value(&self) -> Option<HeaderValue> {
        match *self {
            RetryAfter::Delay(d) => Some(HeaderValue::from(ceil_secs(d))),
            RetryAfter::Date(at) => {
                let secs = at.duration_since(UNIX_EPOCH).ok()?.as_secs();
                if secs >= MAX_HTTP_DATE_SECS {
                    return None;
                }
                let text = httpdate::fmt_http_date(at);
                HeaderValue::from_str(&text).ok()
            }
        }
    }
}

/// Seconds from the epoch to 10000-01-01T00:00:00Z, the first instant an HTTP date
/// cannot write.
const MAX_HTTP_DATE_SECS: u64 = 253_402_300_800;

/// Parses `value` and turns it into a delay from `now`, without a maximum.
///
/// Prefer [`RetryAfterPolicy::delay`], which clamps.
pub fn parse_retry_after(value: &[u8], now: SystemTime) -> Option<Duration> {
    RetryAfter::parse(value).map(|r| r.delay_from(now))
}

/// How much of a server's `Retry-After` a client accepts: the delay is clamped to
/// [`max`](Self::max).
///
/// See the module docs for the defaults. In configuration files it reads as
/// `max = "5m"` (humantime durations; unknown fields are refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryAfterPolicy {
    #[serde(with = "humantime_serde")]
    max: Duration,
}

impl Default for RetryAfterPolicy {
    fn default() -> Self {
        RetryAfterPolicy::new(Self::DEFAULT_MAX)
    }
}

impl RetryAfterPolicy {
    /// The default maximum delay accepted from a server: 5 minutes.
    pub const DEFAULT_MAX: Duration = Duration::from_secs(300);

    /// A policy that clamps every delay to `max` (zero means "retry at once, always").
    pub const fn new(max: Duration) -> Self {
        RetryAfterPolicy { max }
    }

    /// The largest delay this policy returns.
    pub const fn max(&self) -> Duration {
        self.max
    }

    /// The clamped delay for one field value seen from `now`; `None` when malformed.
    pub fn delay(&self, value: &[u8], now: SystemTime) -> Option<Duration> {
        parse_retry_after(value, now).map(|d| d.min(self.max))
    }

    /// The clamped delay from a response's headers; `None` when `Retry-After` is absent,
    /// malformed or repeated.
    pub fn from_headers(&self, headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
        let mut values = headers.get_all(RETRY_AFTER).iter();
        let first = values.next()?;
        if values.next().is_some() {
            return None;
        }
        self.delay(first.as_bytes(), now)
    }
}

/// Sets `Retry-After` on `headers` to `delay` in whole seconds, rounded up (saturating
/// at `u64::MAX` seconds), replacing any earlier value.
///
/// Rounding up matters: a client told `0` for a 400 ms wait would come straight back
/// and be refused again.
pub fn write_retry_after(headers: &mut HeaderMap, delay: Duration) {
    headers.insert(RETRY_AFTER, HeaderValue::from(ceil_secs(delay)));
}

/// `d` in whole seconds, rounded up, saturating at `u64::MAX`.
pub(crate) fn ceil_secs(d: Duration) -> u64 {
    d.as_secs().saturating_add(u64::from(d.subsec_nanos() > 0))
}

/// The value of a run of ASCII digits, saturating at `u64::MAX` instead of overflowing.
pub(crate) fn saturating_digits(digits: &[u8]) -> u64 {
    digits.iter().fold(0u64, |acc, b| {
        acc.saturating_mul(10)
            .saturating_add(u64::from(b.wrapping_sub(b'0')))
    })
}

/// `value` without leading and trailing spaces and tabs (HTTP's optional whitespace).
pub(crate) fn trim_ows(value: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !is_ows(b)).unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |i| i + 1);
    &value[start..end]
}
