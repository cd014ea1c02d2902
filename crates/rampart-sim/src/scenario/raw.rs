//! The layout of a scenario file as TOML reads it: every table and key, with the
//! places of the values that are checked later, so that errors can point at them.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

/// A duration in humantime form ("2s", "1m 30s"); negative values are refused.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(transparent)]
pub(super) struct Dur(#[serde(with = "humantime_serde")] pub(super) Duration);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    pub(super) scenario: RawHeader,
    pub(super) service: RawService,
    pub(super) traffic: RawTraffic,
    #[serde(default)]
    pub(super) kinds: BTreeMap<String, RawKind>,
    pub(super) dependencies: BTreeMap<String, RawDependency>,
    #[serde(default)]
    pub(super) runs: Vec<RawRun>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHeader {
    pub(super) name: String,
    #[serde(default)]
    pub(super) summary: String,
    #[serde(default)]
    pub(super) start: Option<Spanned<String>>,
    pub(super) duration: Spanned<Dur>,
    #[serde(default)]
    pub(super) grace: Option<Spanned<Dur>>,
    #[serde(default)]
    pub(super) seed: u64,
    #[serde(default)]
    pub(super) timeline_window: Option<Spanned<Dur>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawService {
    pub(super) workers: Spanned<i64>,
    pub(super) accept_timeout: Dur,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTraffic {
    pub(super) rate: Spanned<f64>,
    #[serde(default)]
    pub(super) arrivals: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) burst: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawKind {
    pub(super) share: Spanned<f64>,
    #[serde(default)]
    pub(super) work: Option<Dur>,
    #[serde(default)]
    pub(super) calls: Vec<Spanned<String>>,
    pub(super) patience: Spanned<Dur>,
    #[serde(default)]
    pub(super) user_retries: Option<Spanned<i64>>,
    #[serde(default)]
    pub(super) think: Option<Dur>,
}

/// A dependency's behaviour as written, at the start or in a change.
pub(super) struct RawBehaviour<'a> {
    pub(super) latency: Option<&'a Spanned<Dur>>,
    pub(super) p99: Option<&'a Spanned<Dur>>,
    pub(super) max: Option<&'a Spanned<Dur>>,
    pub(super) error_rate: Option<&'a Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDependency {
    #[serde(default)]
    pub(super) latency: Option<Spanned<Dur>>,
    #[serde(default)]
    pub(super) p99: Option<Spanned<Dur>>,
    #[serde(default)]
    pub(super) max: Option<Spanned<Dur>>,
    #[serde(default)]
    pub(super) error_rate: Option<Spanned<f64>>,
    #[serde(default)]
    pub(super) changes: Vec<RawChange>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawChange {
    pub(super) at: Spanned<Dur>,
    #[serde(default)]
    pub(super) latency: Option<Spanned<Dur>>,
    #[serde(default)]
    pub(super) p99: Option<Spanned<Dur>>,
    #[serde(default)]
    pub(super) max: Option<Spanned<Dur>>,
    #[serde(default)]
    pub(super) error_rate: Option<Spanned<f64>>,
}

impl RawDependency {
    pub(super) fn behaviour(&self) -> RawBehaviour<'_> {
        RawBehaviour {
            latency: self.latency.as_ref(),
            p99: self.p99.as_ref(),
            max: self.max.as_ref(),
            error_rate: self.error_rate.as_ref(),
        }
    }
}

impl RawChange {
    pub(super) fn behaviour(&self) -> RawBehaviour<'_> {
        RawBehaviour {
            latency: self.latency.as_ref(),
            p99: self.p99.as_ref(),
            max: self.max.as_ref(),
            error_rate: self.error_rate.as_ref(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRun {
    pub(super) name: String,
    #[serde(default)]
    pub(super) config: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) config_file: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) fallbacks: BTreeMap<String, Spanned<RawFallback>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFallback {
    pub(super) label: String,
    pub(super) kind: Spanned<String>,
    #[serde(default)]
    pub(super) workers: Option<Spanned<i64>>,
    #[serde(default)]
    pub(super) pause: Option<Dur>,
}
