//! The settings of a [`RateLimitLayer`](super::RateLimitLayer), checked when it is
//! built.

use std::sync::Arc;

use rampart::rate_limit::KeyedRateLimiter;
use rampart::ConfigError;

use super::paths::{ExemptPaths, DEFAULT_EXEMPT_PATHS};
use super::{RateLimitLayer, Shared};
use crate::rate_limit_headers::ResetFormat;
use crate::server::caller::{
    CallerExtractor, CallerId, CallerKey, TrustedProxies, DEFAULT_IPV6_PREFIX,
};

/// What to do with a request that has no key (no API key, or no known address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum MissingKey {
    /// Count it in one bucket shared by every caller without a key, so that anonymous
    /// traffic can only crowd out other anonymous traffic.
    #[default]
    Anonymous,
    /// Count it under the client's IP address (one bucket shared by all when that is
    /// unknown too).
    ClientIp,
    /// Answer `400 Bad Request` without calling the service.
    Reject,
}

/// Builds a [`RateLimitLayer`]: plain settings, checked by [`build`](Self::build).
///
/// # Defaults
///
/// | setting | default |
/// |---|---|
/// | caller key | [`CallerKey::ApiKey`] (`X-Api-Key`) |
/// | trusted proxies | none (`X-Forwarded-For` ignored) |
/// | IPv6 clients keyed by | their /64 |
/// | missing key | [`MissingKey::Anonymous`]: one shared bucket |
/// | exempt paths | `/health/*`, `/metrics` |
/// | rate-limit headers on admitted responses | yes |
/// | IETF `RateLimit` / `RateLimit-Policy` | written |
/// | `X-RateLimit-*` | written, reset as a Unix time ([`ResetFormat::EpochSeconds`], as the seeds show) |
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until built"]
pub struct RateLimitBuilder {
    limiter: KeyedRateLimiter<CallerId>,
    caller: CallerKey,
    trusted_proxies: Vec<String>,
    ipv6_prefix: u8,
    missing_key: MissingKey,
    exempt_paths: Vec<String>,
    headers_on_admitted: bool,
    ietf_headers: bool,
    x_rate_limit_headers: bool,
    reset_format: ResetFormat,
}

impl RateLimitBuilder {
    pub(super) fn new(limiter: KeyedRateLimiter<CallerId>) -> Self {
        RateLimitBuilder {
            limiter,
            caller: CallerKey::default(),
            trusted_proxies: Vec::new(),
            ipv6_prefix: DEFAULT_IPV6_PREFIX,
            missing_key: MissingKey::default(),
            exempt_paths: DEFAULT_EXEMPT_PATHS.map(str::to_owned).to_vec(),
            headers_on_admitted: true,
            ietf_headers: true,
            x_rate_limit_headers: true,
            reset_format: ResetFormat::EpochSeconds,
        }
    }

    /// Sets where a caller's key comes from.
    pub fn with_caller(mut self, caller: CallerKey) -> Self {
        self.caller = caller;
        self
    }

    /// Sets the proxies (addresses or CIDR networks) whose `X-Forwarded-For` is read.
    pub fn with_trusted_proxies<I, T>(mut self, proxies: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.trusted_proxies = proxies.into_iter().map(Into::into).collect();
        self
    }

    /// Keys IPv6 clients by their first `len` bits (checked when built: 1 to 128).
    pub fn with_ipv6_prefix(mut self, len: u8) -> Self {
        self.ipv6_prefix = len;
        self
    }

    /// Sets what happens to a request without a key.
    pub fn with_missing_key(mut self, missing: MissingKey) -> Self {
        self.missing_key = missing;
        self
    }

    /// Replaces the exempt paths (see [`ExemptPaths`] for the patterns).
    pub fn with_exempt_paths<I, T>(mut self, paths: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.exempt_paths = paths.into_iter().map(Into::into).collect();
        self
    }

    /// Sets whether admitted responses carry the rate-limit headers too (429s always
    /// do).
    pub fn with_headers_on_admitted(mut self, on: bool) -> Self {
        self.headers_on_admitted = on;
        self
    }

    /// Sets whether the IETF `RateLimit` and `RateLimit-Policy` fields are written.
    pub fn with_ietf_headers(mut self, on: bool) -> Self {
        self.ietf_headers = on;
        self
    }

    /// Sets whether `X-RateLimit-Limit`, `-Remaining` and `-Reset` are written.
    pub fn with_x_rate_limit_headers(mut self, on: bool) -> Self {
        self.x_rate_limit_headers = on;
        self
    }

    /// Sets how `X-RateLimit-Reset` is written: a Unix time
    /// ([`ResetFormat::EpochSeconds`]) or a delay (the other two).
    pub fn with_reset_format(mut self, format: ResetFormat) -> Self {
        self.reset_format = format;
        self
    }

    /// Checks the settings and builds the layer.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for `server.trusted_proxies` (an entry that is not an address
    /// or network), `server.caller.header` (not a header name),
    /// `server.caller.ipv6_prefix` (not 1 to 128) or
    /// `server.rate_limit.exempt_paths` (a pattern that is not a path).
    pub fn build(self) -> Result<RateLimitLayer, ConfigError> {
        let proxies = TrustedProxies::parse(&self.trusted_proxies)?;
        let caller =
            CallerExtractor::new(&self.caller, proxies)?.with_ipv6_prefix(self.ipv6_prefix)?;
        let exempt = ExemptPaths::parse("server.rate_limit.exempt_paths", &self.exempt_paths)?;
        Ok(RateLimitLayer {
            shared: Arc::new(Shared {
                limiter: self.limiter,
                caller,
                missing: self.missing_key,
                exempt,
                on_admitted: self.headers_on_admitted,
                ietf: self.ietf_headers,
                x_rate_limit: self.x_rate_limit_headers,
                reset_format: self.reset_format,
            }),
        })
    }
}
