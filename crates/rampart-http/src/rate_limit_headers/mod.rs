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

mod parse;
mod write;

pub use self::parse::{parse_ietf, parse_x_rate_limit};
pub use self::write::{write_ietf, write_x_rate_limit};

use crate::retry_after::RetryAfterPolicy;
use http::header::{HeaderMap, HeaderName};
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
