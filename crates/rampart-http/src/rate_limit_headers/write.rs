//! Writing the headers that [`parse`](super::parse) reads back, for servers.

use super::{
    RateLimitInfo, ResetFormat, RATELIMIT, RATELIMIT_POLICY, X_RATELIMIT_LIMIT,
    X_RATELIMIT_REMAINING, X_RATELIMIT_RESET,
};
use crate::retry_after::ceil_secs;
use crate::sf;
use http::header::{HeaderMap, HeaderValue};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
