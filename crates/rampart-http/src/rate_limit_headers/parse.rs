//! Reading the three dialects into one [`RateLimitInfo`].

use super::{
    RateLimitInfo, ResetFormat, RATELIMIT, RATELIMIT_LIMIT, RATELIMIT_POLICY, RATELIMIT_REMAINING,
    RATELIMIT_RESET, X_RATELIMIT_LIMIT, X_RATELIMIT_REMAINING, X_RATELIMIT_RESET,
};
use crate::retry_after::{saturating_digits, trim_ows};
use crate::sf;
use http::header::{HeaderMap, HeaderName};
use std::time::{Duration, SystemTime};

/// The values of every field line named `name`, joined with `, ` (RFC 9110 list
/// semantics); `None` when absent or not valid UTF-8.
fn joined(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    let mut out: Option<String> = None;
    for value in headers.get_all(name) {
        let text = std::str::from_utf8(value.as_bytes()).ok()?;
        match &mut out {
            Some(s) => {
                s.push_str(", ");
                s.push_str(text);
            }
            None => out = Some(text.to_owned()),
        }
    }
    out
}

/// A non-negative integer (digits only, saturating).
fn count(value: &[u8]) -> Option<u64> {
    let value = trim_ows(value);
    (!value.is_empty() && value.iter().all(u8::is_ascii_digit)).then(|| saturating_digits(value))
}

/// Seconds with an optional fraction: `30`, `30.25` (nanosecond precision, longer
/// fractions truncated).
pub(crate) fn seconds(value: &[u8]) -> Option<Duration> {
    let value = trim_ows(value);
    let (whole, frac) = match value.iter().position(|b| *b == b'.') {
        Some(i) => (&value[..i], Some(&value[i + 1..])),
        None => (value, None),
    };
    let secs = count(whole)?;
    let nanos = match frac {
        None => 0,
        Some(f) if !f.is_empty() && f.iter().all(u8::is_ascii_digit) => {
            let mut n = 0u32;
            for i in 0..9 {
                n = n * 10 + f.get(i).map_or(0, |b| u32::from(b - b'0'));
            }
            n
        }
        Some(_) => return None,
    };
    Some(Duration::new(secs, 0).saturating_add(Duration::from_nanos(u64::from(nanos))))
}

/// The single value of a singleton header; `None` when absent or repeated.
fn single<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a [u8]> {
    let mut values = headers.get_all(name).iter();
    let first = values.next()?;
    values.next().is_none().then_some(first.as_bytes())
}

/// Reads `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset`; `None`
/// when none of them can be read.
pub fn parse_x_rate_limit(
    headers: &HeaderMap,
    now: SystemTime,
    reset: ResetFormat,
) -> Option<RateLimitInfo> {
    let info = RateLimitInfo {
        limit: single(headers, &X_RATELIMIT_LIMIT).and_then(count),
        remaining: single(headers, &X_RATELIMIT_REMAINING).and_then(count),
        reset: single(headers, &X_RATELIMIT_RESET)
            .and_then(seconds)
            .map(|v| reset.delay(v, now)),
        ..RateLimitInfo::default()
    };
    (!info.is_empty()).then_some(info)
}

/// A non-negative sf-integer parameter or dictionary value.
fn sf_count(text: Option<&str>) -> Option<u64> {
    text.and_then(|t| count(t.as_bytes()))
}

/// Reads the IETF fields: `RateLimit` (draft lists `"name";r=..;t=..` or the older
/// dictionary `limit=.., remaining=.., reset=..`), `RateLimit-Policy` (`"name";q=..;w=..`
/// or the older `100;w=60`) and the older separate `RateLimit-Limit` / `-Remaining` /
/// `-Reset`. `None` when none of them can be read.
pub fn parse_ietf(headers: &HeaderMap) -> Option<RateLimitInfo> {
    let mut info = RateLimitInfo::default();
    if let Some(text) = joined(headers, &RATELIMIT) {
        read_ratelimit(&text, &mut info);
    }
    if let Some(text) = joined(headers, &RATELIMIT_POLICY) {
        read_policy(&text, &mut info);
    }
    let or_single = |field: Option<u64>, name: &HeaderName| {
        field.or_else(|| single(headers, name).and_then(count))
    };
    info.limit = or_single(info.limit, &RATELIMIT_LIMIT);
    info.remaining = or_single(info.remaining, &RATELIMIT_REMAINING);
    info.reset = info.reset.or_else(|| {
        single(headers, &RATELIMIT_RESET)
            .and_then(count)
            .map(Duration::from_secs)
    });
    (!info.is_empty()).then_some(info)
}

/// Fills `info` from a `RateLimit` value.
fn read_ratelimit(text: &str, info: &mut RateLimitInfo) {
    let members = sf::members(text);
    if members.iter().any(|m| m.key.is_some()) {
        // The older dictionary form; later keys override earlier ones.
        for m in &members {
            let value = Some(m.value);
            match m.key {
                Some("limit") => info.limit = sf_count(value).or(info.limit),
                Some("remaining") => info.remaining = sf_count(value).or(info.remaining),
                Some("reset") => {
                    info.reset = sf_count(value).map(Duration::from_secs).or(info.reset)
                }
                _ => {}
            }
        }
        return;
    }
    // The list form: report the most constrained policy.
    let binding = members
        .iter()
        .filter_map(|m| {
            let remaining = sf_count(m.param("r"));
            let reset = sf_count(m.param("t")).map(Duration::from_secs);
            (remaining.is_some() || reset.is_some()).then(|| (sf::name(m.value), remaining, reset))
        })
        .min_by_key(|(_, r, t)| (r.unwrap_or(u64::MAX), std::cmp::Reverse(*t)));
    if let Some((name, remaining, reset)) = binding {
        info.policy = name;
        info.remaining = remaining;
        info.reset = reset;
    }
}

/// Fills `info` from a `RateLimit-Policy` value: the policy named in `info` if any,
/// else the first policy listed.
fn read_policy(text: &str, info: &mut RateLimitInfo) {
    let members = sf::members(text);
    let chosen = match &info.policy {
        Some(name) => members
            .iter()
            .find(|m| sf::name(m.value).as_deref() == Some(name)),
        None => members.first(),
    };
    let Some(m) = chosen else { return };
    // Current drafts put the quota in `q`; older ones make it the item itself.
    info.limit = sf_count(m.param("q")).or_else(|| sf_count(Some(m.value)));
    info.window = sf_count(m.param("w")).map(Duration::from_secs);
    if info.policy.is_none() {
        info.policy = sf::name(m.value);
    }
}
