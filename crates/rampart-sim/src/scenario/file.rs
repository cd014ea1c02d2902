//! Reading a scenario file: the checks that turn its tables into a [`Scenario`] or an
//! error at the line and key of the first mistake (the runs are checked in `runs`).

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use super::error::ScenarioError;
use super::raw::{RawBehaviour, RawDependency, RawFile, RawKind, RawService, RawTraffic};
use super::{Arrivals, Dependency, Latency, Phase, RequestKind, Scenario, Service, Traffic};
use rampart::registry::locate::{find_key_from, key_path_at};

/// The longest run (and grace) a scenario may ask for.
const MAX_TIME: Duration = Duration::from_secs(24 * 3600);
/// The lowest arrival rate, per second.
const MIN_RATE: f64 = 0.001;
/// The highest arrival rate, per second: each request is a task, so this bounds memory.
const MAX_RATE: f64 = 100_000.0;
/// The largest burst of requests at the start.
const MAX_BURST: i64 = 1_000_000;

/// Reads a scenario; a run's `config_file` is found relative to `dir`.
pub(super) fn parse(
    text: &str,
    origin: &str,
    dir: Option<&Path>,
) -> Result<Scenario, ScenarioError> {
    let raw: RawFile = toml::from_str(text).map_err(|e| toml_error(text, origin, &e))?;
    Reader { text, origin, dir }.scenario(raw)
}

/// What every check needs to report an error.
pub(super) struct Reader<'a> {
    pub(super) text: &'a str,
    pub(super) origin: &'a str,
    pub(super) dir: Option<&'a Path>,
}

impl Reader<'_> {
    pub(super) fn fail(
        &self,
        span: Range<usize>,
        key: &str,
        message: impl Into<String>,
    ) -> ScenarioError {
        ScenarioError::new(self.origin, message)
            .at_offset(self.text, span.start)
            .with_key(key)
    }

    fn scenario(&self, raw: RawFile) -> Result<Scenario, ScenarioError> {
        let header = raw.scenario;
        let duration = header.duration.get_ref().0;
        if duration.is_zero() || duration > MAX_TIME {
            return Err(self.fail(
                header.duration.span(),
                "scenario.duration",
                "must be longer than 0s and at most 24h",
            ));
        }
        let grace = match &header.grace {
            Some(g) if g.get_ref().0 > MAX_TIME => {
                return Err(self.fail(g.span(), "scenario.grace", "must be at most 24h"))
            }
            Some(g) => g.get_ref().0,
            None => Duration::from_secs(60),
        };
        let start_of_day = match &header.start {
            Some(s) => parse_clock(s.get_ref()).ok_or_else(|| {
                self.fail(
                    s.span(),
                    "scenario.start",
                    "must be a time of day as H:MM:SS (\"2:47:00\")",
                )
            })?,
            None => 0,
        };
        let timeline_window = match &header.timeline_window {
            Some(w) if w.get_ref().0.is_zero() => {
                return Err(self.fail(
                    w.span(),
                    "scenario.timeline_window",
                    "must be longer than 0s",
                ))
            }
            Some(w) => w.get_ref().0,
            None => Duration::from_secs(10),
        };
        let dependencies = raw
            .dependencies
            .into_iter()
            .map(|(name, dep)| self.dependency(name, dep))
            .collect::<Result<Vec<_>, _>>()?;
        let names: Vec<&str> = dependencies.iter().map(|d| d.name.as_str()).collect();
        let kinds = self.kinds(raw.kinds, &names)?;
        let runs = self.runs(raw.runs, &names)?;
        Ok(Scenario {
            name: header.name,
            summary: header.summary,
            origin: self.origin.to_owned(),
            start_of_day,
            duration,
            grace,
            seed: header.seed,
            timeline_window,
            service: self.service(&raw.service)?,
            traffic: self.traffic(&raw.traffic)?,
            kinds,
            dependencies,
            runs,
        })
    }

    fn service(&self, raw: &RawService) -> Result<Service, ScenarioError> {
        let workers = self.count(&raw.workers, "service.workers", 1)?;
        Ok(Service {
            workers,
            accept_timeout: raw.accept_timeout.0,
        })
    }

    fn traffic(&self, raw: &RawTraffic) -> Result<Traffic, ScenarioError> {
        let rate = *raw.rate.get_ref();
        if !(MIN_RATE..=MAX_RATE).contains(&rate) {
            return Err(self.fail(
                raw.rate.span(),
                "traffic.rate",
                format!(
                    "must be a positive number of requests per second, \
                     from {MIN_RATE} to {MAX_RATE}, not {rate}"
                ),
            ));
        }
        let arrivals = match &raw.arrivals {
            None => Arrivals::Poisson,
            Some(a) => match a.get_ref().as_str() {
                "poisson" => Arrivals::Poisson,
                "uniform" => Arrivals::Uniform,
                other => {
                    return Err(self.fail(
                        a.span(),
                        "traffic.arrivals",
                        format!("unknown arrivals `{other}`: expected `poisson` or `uniform`"),
                    ))
                }
            },
        };
        let burst = match &raw.burst {
            Some(b) if *b.get_ref() > MAX_BURST => {
                return Err(self.fail(
                    b.span(),
                    "traffic.burst",
                    format!("must be at most {MAX_BURST}"),
                ))
            }
            Some(b) => self.count(b, "traffic.burst", 0)?,
            None => 0,
        };
        Ok(Traffic {
            rate,
            arrivals,
            burst,
        })
    }

    fn kinds(
        &self,
        raw: BTreeMap<String, RawKind>,
        dependencies: &[&str],
    ) -> Result<Vec<RequestKind>, ScenarioError> {
        let at = self.text.find("[kinds").unwrap_or(0);
        let span = at..at;
        if raw.is_empty() {
            return Err(self.fail(span, "kinds", "a scenario needs at least one request kind"));
        }
        let mut kinds = Vec::with_capacity(raw.len());
        let mut total = 0.0;
        for (name, kind) in raw {
            let key = |k: &str| format!("kinds.{name}.{k}");
            let share = *kind.share.get_ref();
            if !(share.is_finite() && (0.0..=1.0).contains(&share)) {
                return Err(self.fail(
                    kind.share.span(),
                    &key("share"),
                    format!("must be between 0 and 1, not {share}"),
                ));
            }
            total += share;
            let mut calls = Vec::with_capacity(kind.calls.len());
            for (i, call) in kind.calls.iter().enumerate() {
                let index = dependencies
                    .iter()
                    .position(|d| d == call.get_ref())
                    .ok_or_else(|| {
                        self.fail(
                            call.span(),
                            &format!("kinds.{name}.calls[{i}]"),
                            format!(
                                "no dependency named `{}` in this scenario{}",
                                call.get_ref(),
                                known(dependencies)
                            ),
                        )
                    })?;
                calls.push(index);
            }
            let user_retries = match &kind.user_retries {
                Some(r) => self.count(r, &key("user_retries"), 0)?,
                None => 0,
            };
            let patience = kind.patience.get_ref().0;
            if patience.is_zero() {
                return Err(self.fail(
                    kind.patience.span(),
                    &key("patience"),
                    "must be longer than 0s",
                ));
            }
            kinds.push(RequestKind {
                name,
                share,
                work: kind.work.map_or(Duration::ZERO, |w| w.0),
                calls,
                patience,
                user_retries,
                think: kind.think.map_or(Duration::from_secs(1), |t| t.0),
            });
        }
        if (total - 1.0).abs() > 1e-6 {
            return Err(self.fail(
                span,
                "kinds",
                format!("the shares add up to {total}, not 1"),
            ));
        }
        Ok(kinds)
    }

    fn dependency(&self, name: String, raw: RawDependency) -> Result<Dependency, ScenarioError> {
        let prefix = format!("dependencies.{name}");
        let Some(latency) = self.latency(&raw.behaviour(), &prefix)? else {
            let at = find_key_from(self.text, 0, "latency").unwrap_or(0);
            return Err(
                ScenarioError::new(self.origin, "a dependency needs a `latency`")
                    .at_offset(self.text, self.table_start(&prefix).unwrap_or(at))
                    .with_key(format!("{prefix}.latency")),
            );
        };
        let error_rate = self.error_rate(&raw.behaviour(), &prefix)?.unwrap_or(0.0);
        let mut phases = vec![Phase {
            from: Duration::ZERO,
            latency,
            error_rate,
        }];
        for (i, change) in raw.changes.iter().enumerate() {
            let prefix = format!("{prefix}.changes[{i}]");
            let from = change.at.get_ref().0;
            let previous = phases[phases.len() - 1];
            if i > 0 && from <= previous.from {
                return Err(self.fail(
                    change.at.span(),
                    &format!("{prefix}.at"),
                    "changes must be listed in time order",
                ));
            }
            phases.push(Phase {
                from,
                latency: self
                    .latency(&change.behaviour(), &prefix)?
                    .unwrap_or(previous.latency),
                error_rate: self
                    .error_rate(&change.behaviour(), &prefix)?
                    .unwrap_or(previous.error_rate),
            });
        }
        Ok(Dependency { name, phases })
    }

    fn table_start(&self, table: &str) -> Option<usize> {
        self.text.find(&format!("[{table}]"))
    }

    fn latency(&self, raw: &RawBehaviour, prefix: &str) -> Result<Option<Latency>, ScenarioError> {
        let Some(latency) = raw.latency else {
            if let Some(extra) = raw.p99.or(raw.max) {
                return Err(self.fail(
                    extra.span(),
                    &format!("{prefix}.latency"),
                    "`p99` and `max` need a `latency` beside them",
                ));
            }
            return Ok(None);
        };
        let low = latency.get_ref().0;
        let shape = match (raw.p99, raw.max) {
            (Some(p), Some(_)) => {
                return Err(self.fail(
                    p.span(),
                    &format!("{prefix}.p99"),
                    "give `p99` (log-normal) or `max` (uniform), not both",
                ))
            }
            (Some(p99), None) if p99.get_ref().0 < low => {
                return Err(self.fail(
                    p99.span(),
                    &format!("{prefix}.p99"),
                    "must not be below `latency`, the median",
                ))
            }
            (Some(p99), None) if p99.get_ref().0 == low => Latency::Fixed(low),
            (Some(_), None) if low.is_zero() => {
                return Err(self.fail(
                    latency.span(),
                    &format!("{prefix}.latency"),
                    "a log-normal latency (with `p99`) needs a median above 0s",
                ))
            }
            (Some(p99), None) => Latency::LogNormal {
                median: low,
                p99: p99.get_ref().0,
            },
            (None, Some(max)) if max.get_ref().0 < low => {
                return Err(self.fail(
                    max.span(),
                    &format!("{prefix}.max"),
                    "must not be below `latency`, the minimum",
                ))
            }
            (None, Some(max)) => Latency::Uniform {
                min: low,
                max: max.get_ref().0,
            },
            (None, None) => Latency::Fixed(low),
        };
        Ok(Some(shape))
    }

    fn error_rate(&self, raw: &RawBehaviour, prefix: &str) -> Result<Option<f64>, ScenarioError> {
        let Some(rate) = raw.error_rate else {
            return Ok(None);
        };
        let value = *rate.get_ref();
        if !(value.is_finite() && (0.0..=1.0).contains(&value)) {
            return Err(self.fail(
                rate.span(),
                &format!("{prefix}.error_rate"),
                format!("must be between 0 and 1, not {value}"),
            ));
        }
        Ok(Some(value))
    }

    /// A whole number at least `min`, as a `u32`.
    pub(super) fn count(
        &self,
        value: &Spanned<i64>,
        key: &str,
        min: i64,
    ) -> Result<u32, ScenarioError> {
        let n = *value.get_ref();
        if n < min {
            return Err(self.fail(
                value.span(),
                key,
                format!("must be at least {min}, not {n}"),
            ));
        }
        u32::try_from(n).map_err(|_| {
            self.fail(
                value.span(),
                key,
                format!("must be at most {}, not {n}", u32::MAX),
            )
        })
    }
}

/// `H:MM:SS` (or `H:MM`) as seconds since midnight.
fn parse_clock(text: &str) -> Option<u32> {
    let mut parts = text.split(':');
    let h: u32 = parts.next()?.trim().parse().ok()?;
    let m: u32 = parts.next()?.trim().parse().ok()?;
    let s: u32 = match parts.next() {
        Some(s) => s.trim().parse().ok()?,
        None => 0,
    };
    (parts.next().is_none() && h < 24 && m < 60 && s < 60).then_some(h * 3600 + m * 60 + s)
}

pub(super) fn known(names: &[&str]) -> String {
    if names.is_empty() {
        String::new()
    } else {
        format!(" (there are: {})", names.join(", "))
    }
}

/// A TOML or type error, with the key it is about when it can be found.
fn toml_error(text: &str, origin: &str, e: &toml::de::Error) -> ScenarioError {
    let message = e.message().to_owned();
    let span = e.span().unwrap_or(0..0);
    let field = |prefix: &str| {
        message
            .strip_prefix(prefix)
            .and_then(|rest| rest.split('`').next())
            .map(str::to_owned)
    };
    let (offset, path) = if let Some(key) = field("unknown field `") {
        let at = find_key_from(text, span.start, &key).unwrap_or(span.start);
        (at, key_path_at(text, at, Some(&key)))
    } else if let Some(key) = field("missing field `") {
        // The span covers the table that lacks the key: its last byte is inside it.
        let inside = span.end.saturating_sub(1).max(span.start);
        (span.start, key_path_at(text, inside, Some(&key)))
    } else {
        (span.start, key_path_at(text, span.start, None))
    };
    let error = ScenarioError::new(origin, message).at_offset(text, offset);
    match path {
        Some(path) => error.with_key(path),
        None => error,
    }
}

#[cfg(test)]
mod tests {
    use super::parse_clock;

    #[test]
    fn clock_labels() {
        assert_eq!(parse_clock("2:47:00"), Some(2 * 3600 + 47 * 60));
        assert_eq!(parse_clock("14:05"), Some(14 * 3600 + 5 * 60));
        assert_eq!(parse_clock("25:00:00"), None);
        assert_eq!(parse_clock("noon"), None);
    }
}
