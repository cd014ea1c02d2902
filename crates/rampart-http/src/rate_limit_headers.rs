//! Reading and writing rate-limit headers: `X-RateLimit-*` and the IETF `RateLimit` /
//! `RateLimit-Policy` fields.
//!
//! Servers tell clients how much quota is left in one of three dialects, all read here
//! into one [`RateLimitInfo`]:
//!
//! | dialect | example |
//! |---|---|
//! | de-facto `X-RateLimit-*` | `X-RateLimit-Limit: 100`, `X-RateLimit-Remaining: 0`, `X-RateLimit-Reset: 1706540400` |
//! | IETF draft (structured lists) | `RateLimit: "default";r=50;t=30`, `RateLimit-Policy: "default";q=100;w=60` |
//! | older IETF drafts | `RateLimit: limit=100, remaining=50, reset=30`, `RateLimit-Policy: 100;w=60`, or `RateLimit-Limit` / `-Remaining` / `-Reset` |
//!
//! `X-RateLimit-Reset` is a delay in seconds for some APIs and a Unix time for others
//! (GitHub); [`ResetFormat`] says which, and its default, [`ResetFormat::Auto`], reads a
//! value above 10^9 (2001-09-09 as a Unix time, 31 years as a delay) as a Unix time.
//! Resets may carry a fraction (`1706540400.5`). When several IETF policies are listed,
//! the one with the least quota left (then the latest reset) is reported. Counts are
//! non-negative integers that saturate at `u64::MAX`; a value that is not is ignored,
//! never an error. [`retry_hint`] answers "when may I send again?": `Retry-After` wins
//! when present, otherwise the reset of an exhausted quota.
//!
//! The writers ([`write_x_rate_limit`], [`write_ietf`]) produce headers that these
//! parsers read back, for server middleware.
//!
//! # Defaults
//!
//! | setting | default |
//! |---|---|
//! | [`ResetFormat`] | [`ResetFormat::Auto`] (epoch above 10^9) |
//!
//! # Examples
//!
//! ```
//! use http::HeaderMap;
//! use rampart_http::rate_limit_headers::{RateLimitInfo, ResetFormat};
//! use std::time::{Duration, SystemTime};
//!
//! let mut headers = HeaderMap::new();
//! headers.insert("ratelimit", r#""default";r=0;t=30"#.parse().unwrap());
//! headers.insert("ratelimit-policy", r#""default";q=100;w=60"#.parse().unwrap());
//! let info = RateLimitInfo::from_headers(&headers, SystemTime::now(), ResetFormat::Auto).unwrap();
//! assert_eq!(info.policy.as_deref(), Some("default"));
//! assert_eq!((info.limit, info.remaining), (Some(100), Some(0)));
//! assert_eq!(info.reset, Some(Duration::from_secs(30)));
//! assert_eq!(info.window, Some(Duration::from_secs(60)));
//! ```

use crate::retry_after::{ceil_secs, saturating_digits, trim_ows, RetryAfterPolicy};
use crate::sf;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `X-RateLimit-Limit`.
pub const X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
/// `X-RateLimit-Remaining`.
pub const X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
/// `X-RateLimit-Reset`.
pub const X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");
/// `RateLimit` (IETF).
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
/// `RateLimit-Policy` (IETF).
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// `RateLimit-Limit` (older IETF drafts).
pub const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
/// `RateLimit-Remaining` (older IETF drafts).
pub const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
/// `RateLimit-Reset` (older IETF drafts).
pub const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// Values of [`ResetFormat::Auto`] above this many seconds are Unix times.
pub const AUTO_EPOCH_THRESHOLD_SECS: u64 = 1_000_000_000;

/// How to read `X-RateLimit-Reset` (and how [`write_x_rate_limit`] writes it).
///
/// In configuration files: `"delta_seconds"`, `"epoch_seconds"` or `"auto"`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ResetFormat {
    /// Seconds from now until the quota resets.
    DeltaSeconds,
    /// The Unix time (seconds since 1970) at which the quota resets.
    EpochSeconds,
    /// A Unix time when above [`AUTO_EPOCH_THRESHOLD_SECS`], a delay otherwise.
    /// Writes a delay, so a delay longer than the threshold (31 years) would read back
    /// as a Unix time: servers that mean such delays should say
    /// [`DeltaSeconds`](Self::DeltaSeconds).
    #[default]
    Auto,
}

impl ResetFormat {
    /// The delay until reset that `value` (seconds, as sent) means, seen from `now`; a
    /// Unix time in the past is zero.
    pub fn delay(self, value: Duration, now: SystemTime) -> Duration {
        let epoch = match self {
            ResetFormat::DeltaSeconds => false,
            ResetFormat::EpochSeconds => true,
            ResetFormat::Auto => value > Duration::from_secs(AUTO_EPOCH_THRESHOLD_SECS),
        };
        if !epoch {
            return value;
        }
        let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        value.saturating_sub(since_epoch)
    }
}

/// What a response says about the caller's quota. Every field is optional because
/// servers send any subset.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RateLimitInfo {
    /// The IETF policy name (`"default"` in `RateLimit: "default";r=5`), if any.
    pub policy: Option<String>,
    /// The quota: requests (or units) allowed per window.
    pub limit: Option<u64>,
    /// Quota left in the current window.
    pub remaining: Option<u64>,
    /// Time until the quota resets, from the moment the response was read.
    pub reset: Option<Duration>,
    /// The length of the policy's window (`w` in `RateLimit-Policy`).
    pub window: Option<Duration>,
}

impl RateLimitInfo {
    /// Information with only `limit` and `remaining` known.
    pub fn new(limit: u64, remaining: u64) -> Self {
        RateLimitInfo {
            limit: Some(limit),
            remaining: Some(remaining),
            ..Self::default()
        }
    }

    /// Sets the time until the quota resets.
    pub fn with_reset(mut self, reset: Duration) -> Self {
        self.reset = Some(reset);
        self
    }

    /// Sets the window length.
    pub fn with_window(mut self, window: Duration) -> Self {
        self.window = Some(window);
        self
    }

    /// Sets the policy name.
    pub fn with_policy(mut self, name: impl Into<String>) -> Self {
        self.policy = Some(name.into());
        self
    }

    /// Whether nothing at all is known.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Everything the headers say, IETF fields first, `X-RateLimit-*` filling the gaps;
    /// `None` when no rate-limit header could be read.
    pub fn from_headers(headers: &HeaderMap, now: SystemTime, reset: ResetFormat) -> Option<Self> {
        let mut info = parse_ietf(headers).unwrap_or_default();
        if let Some(x) = parse_x_rate_limit(headers, now, reset) {
            info.limit = info.limit.or(x.limit);
            info.remaining = info.remaining.or(x.remaining);
            info.reset = info.reset.or(x.reset);
        }
        (!info.is_empty()).then_some(info)
    }
}

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

/// When the caller may send again: `Retry-After` when present and valid, otherwise the
/// reset of a quota known to be exhausted (remaining 0, or a reset with no remaining
/// count), clamped by `policy`. `None` when the headers give no hint.
///
/// # Examples
///
/// ```
/// use http::HeaderMap;
/// use rampart_http::rate_limit_headers::{retry_hint, ResetFormat};
/// use rampart_http::retry_after::RetryAfterPolicy;
/// use std::time::{Duration, SystemTime};
///
/// let mut headers = HeaderMap::new();
/// headers.insert("x-ratelimit-remaining", "0".parse().unwrap());
/// headers.insert("x-ratelimit-reset", "40".parse().unwrap());
/// let now = SystemTime::now();
/// let policy = RetryAfterPolicy::default();
/// assert_eq!(retry_hint(&headers, now, &policy, ResetFormat::Auto), Some(Duration::from_secs(40)));
/// headers.insert("retry-after", "7".parse().unwrap());
/// assert_eq!(retry_hint(&headers, now, &policy, ResetFormat::Auto), Some(Duration::from_secs(7)));
/// ```
pub fn retry_hint(
    headers: &HeaderMap,
    now: SystemTime,
    policy: &RetryAfterPolicy,
    reset: ResetFormat,
) -> Option<Duration> {
    if let Some(d) = policy.from_headers(headers, now) {
        return Some(d);
    }
    let info = RateLimitInfo::from_headers(headers, now, reset)?;
    match info.remaining {
        Some(0) | None => info.reset.map(|d| d.min(policy.max())),
        Some(_) => None,
    }
}

/// Writes `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` for the
/// fields of `info` that are known (replacing earlier values). The reset is written in
/// whole seconds rounded up, as a Unix time for [`ResetFormat::EpochSeconds`] (from
/// `now`) and as a delay otherwise.
pub fn write_x_rate_limit(
    headers: &mut HeaderMap,
    info: &RateLimitInfo,
    now: SystemTime,
    format: ResetFormat,
) {
    if let Some(limit) = info.limit {
        headers.insert(X_RATELIMIT_LIMIT, HeaderValue::from(limit));
    }
    if let Some(remaining) = info.remaining {
        headers.insert(X_RATELIMIT_REMAINING, HeaderValue::from(remaining));
    }
    if let Some(reset) = info.reset {
        let value = match format {
            ResetFormat::EpochSeconds => {
                let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
                ceil_secs(since_epoch.saturating_add(reset))
            }
            ResetFormat::DeltaSeconds | ResetFormat::Auto => ceil_secs(reset),
        };
        headers.insert(X_RATELIMIT_RESET, HeaderValue::from(value));
    }
}

/// Writes the IETF fields for one policy: `RateLimit: "name";r=..;t=..` and
/// `RateLimit-Policy: "name";q=..;w=..`, with the fields of `info` that are known
/// (replacing earlier values; a field with nothing to say is not written). The name is
/// `info.policy` or `"default"`; characters outside printable ASCII become `_`. Times
/// are whole seconds rounded up.
pub fn write_ietf(headers: &mut HeaderMap, info: &RateLimitInfo) {
    let name = sf::quote(info.policy.as_deref().unwrap_or("default"));
    let mut ratelimit = name.clone();
    if let Some(r) = info.remaining {
        ratelimit.push_str(&format!(";r={r}"));
    }
    if let Some(t) = info.reset {
        ratelimit.push_str(&format!(";t={}", ceil_secs(t)));
    }
    let mut policy = name.clone();
    if let Some(q) = info.limit {
        policy.push_str(&format!(";q={q}"));
    }
    if let Some(w) = info.window {
        policy.push_str(&format!(";w={}", ceil_secs(w)));
    }
    for (header, value) in [(RATELIMIT, ratelimit), (RATELIMIT_POLICY, policy)] {
        if value.len() > name.len() {
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(header, v);
            }
        }
    }
}
