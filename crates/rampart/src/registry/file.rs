//! Reading a configuration file, keeping where each dependency and policy is written so
//! that every error can name the line and the key.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::error::FileError;
use super::locate::{header_path, key_at_line, narrow, Needle};
use super::schema::{ClientConfig, DependencyConfig, HealthConfig, RegistryConfig};
use crate::config::ConfigError;
use crate::pipeline::{PipelineConfig, PolicyConfig};
use crate::retry::RetryBudgetConfig;

/// A configuration file, read and checked for syntax, types and unknown keys, that
/// remembers where things are written.
///
/// Build pipelines from it with [`Registry::from_file`](super::Registry::from_file) or
/// [`RegistryBuilder::build`](super::RegistryBuilder::build); lint it with `rampart check`.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    origin: String,
    text: String,
    config: RegistryConfig,
    places: BTreeMap<String, Places>,
}

/// Where one dependency is written: its table and each of its policies' tables.
#[derive(Debug, Clone, Default)]
struct Places {
    table: Range<usize>,
    policies: Vec<Range<usize>>,
}

impl ConfigFile {
    /// Reads and parses the file at `path`.
    ///
    /// # Errors
    ///
    /// A [`FileError`] when the file cannot be read, is not TOML, has an unknown key, a
    /// value of the wrong type (a negative duration, say), or names a dependency that
    /// does not exist.
    pub fn read(path: impl AsRef<Path>) -> Result<ConfigFile, FileError> {
        let path = path.as_ref();
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| FileError::new(&origin, format!("cannot read the file: {e}")))?;
        ConfigFile::parse(&text, &origin)
    }

    /// Parses `text`; `origin` names it in errors (a file name, say).
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read), but for the text.
    pub fn parse(text: &str, origin: &str) -> Result<ConfigFile, FileError> {
        let raw: RawFile = toml::from_str(text).map_err(|e| toml_error(text, origin, &e, None))?;
        let mut config = RegistryConfig::default();
        let mut places = BTreeMap::new();
        let mut withins = Vec::new();
        for (name, dep) in raw.dependencies {
            let table = table_region(text, &name);
            let mut policies = Vec::with_capacity(dep.policies.len());
            let mut spans = Vec::with_capacity(dep.policies.len());
            for (i, policy) in dep.policies.into_iter().enumerate() {
                let span = policy.span();
                let parsed: PolicyConfig = toml::Value::Table(policy.into_inner())
                    .try_into()
                    .map_err(|e| {
                        let path = format!("dependencies.{name}.policies[{i}]");
                        toml_error(text, origin, &e, Some((span.clone(), path)))
                    })?;
                policies.push(parsed);
                spans.push(span);
            }
            if let Some(within) = &dep.within {
                withins.push((name.clone(), within.clone()));
            }
            let dependency = DependencyConfig {
                pipeline: PipelineConfig {
                    policies,
                    retry_budget: dep.retry_budget,
                },
                sla: dep.sla,
                idempotent: dep.idempotent,
                idempotency_key: dep.idempotency_key,
                within: dep.within.map(Spanned::into_inner),
                flag: dep.flag,
                client: dep.client,
            };
            config.dependencies.insert(name.clone(), dependency);
            places.insert(
                name,
                Places {
                    table,
                    policies: spans,
                },
            );
        }
        let mut file = ConfigFile {
            origin: origin.to_owned(),
            text: text.to_owned(),
            config,
            places,
        };
        for (name, within) in withins {
            file.check_within(&name, &within)?;
        }
        if let Some(health) = raw.health {
            file.check_health(&health)?;
            file.config.health = health.into_inner();
        }
        Ok(file)
    }

    /// The configuration the file holds.
    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    /// The file's name, as given when it was read.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The line (from 1) where dependency `name`'s table starts.
    pub fn dependency_line(&self, name: &str) -> Option<usize> {
        let start = self.places.get(name)?.table.start;
        Some(line_of(&self.text, start))
    }

    /// The line (from 1) where policy `index` (outermost first) of dependency `name`
    /// starts.
    pub fn policy_line(&self, name: &str, index: usize) -> Option<usize> {
        let span = self.places.get(name)?.policies.get(index)?;
        Some(line_of(&self.text, span.start))
    }

    /// The line (from 1) of the `[health]` table, if the file has one.
    pub fn health_line(&self) -> Option<usize> {
        let mut offset = 0;
        for line in self.text.split_inclusive('\n') {
            if line.trim_start().starts_with("[health]") {
                return Some(line_of(&self.text, offset));
            }
            offset += line.len();
        }
        None
    }

    /// Locates an error from building dependency `name`'s pipeline.
    pub(super) fn locate(&self, name: &str, err: &ConfigError) -> FileError {
        let field = err.field();
        let last = field.rsplit('.').next().unwrap_or(field);
        let places = self.places.get(name).cloned().unwrap_or_default();
        let (region, key) = match err
            .policy()
            .and_then(|i| Some((i, places.policies.get(i)?)))
        {
            Some((i, span)) => {
                // The policy's own name leads the field ("bulkhead.max_concurrent").
                let rest = field.split_once('.').map_or("", |(_, rest)| rest);
                let key = match rest {
                    "" => format!("dependencies.{name}.policies[{i}]"),
                    rest => format!("dependencies.{name}.policies[{i}].{rest}"),
                };
                (span.clone(), key)
            }
            None => (places.table.clone(), format!("dependencies.{name}.{field}")),
        };
        let offset = narrow(&self.text, region.clone(), &Needle::Key(last))
            .map_or(region.start, |(offset, _)| offset);
        FileError::new(&self.origin, err.message())
            .at_offset(&self.text, offset)
            .with_key(key)
    }

    fn check_within(&self, name: &str, within: &Spanned<String>) -> Result<(), FileError> {
        let error = |message: String| {
            FileError::new(&self.origin, message)
                .at_offset(&self.text, within.span().start)
                .with_key(format!("dependencies.{name}.within"))
        };
        let parent = within.get_ref();
        if !self.config.dependencies.contains_key(parent) {
            return Err(error(format!(
                "no dependency named `{parent}` in this file"
            )));
        }
        // Follow the chain upwards; coming back to `name` is a cycle.
        let mut seen = vec![name];
        let mut next = Some(parent.as_str());
        while let Some(current) = next {
            if seen.contains(&current) {
                return Err(error(format!(
                    "`within` goes round in a circle: {} -> {current}",
                    seen.join(" -> ")
                )));
            }
            seen.push(current);
            next = self
                .config
                .dependencies
                .get(current)
                .and_then(|d| d.within.as_deref());
        }
        Ok(())
    }

    fn check_health(&self, health: &Spanned<HealthConfig>) -> Result<(), FileError> {
        let h = health.get_ref();
        for (probe, names) in [
            ("liveness", &h.liveness),
            ("readiness", &h.readiness),
            ("startup", &h.startup),
        ] {
            if let Some(unknown) = names
                .iter()
                .find(|n| !self.config.dependencies.contains_key(*n))
            {
                let quoted = format!("\"{unknown}\"");
                let offset = narrow(&self.text, health.span(), &Needle::Value(&quoted))
                    .map_or(health.span().start, |(offset, _)| offset);
                return Err(FileError::new(
                    &self.origin,
                    format!("no dependency named `{unknown}` in this file"),
                )
                .at_offset(&self.text, offset)
                .with_key(format!("health.{probe}")));
            }
        }
        Ok(())
    }
}

/// Where dependency `name`'s own table is written: from its header (or, without one,
/// its first policy's) to the next header. Spans of tables TOML makes implicitly are
/// not reported, so the text is searched.
fn table_region(text: &str, name: &str) -> Range<usize> {
    let own = format!("[dependencies.{name}]");
    let quoted = format!("[dependencies.\"{name}\"]");
    let first_policy = format!("[[dependencies.{name}.");
    let mut offset = 0;
    let mut start = None;
    for line in text.split_inclusive('\n') {
        let header = line.trim();
        if start.is_some() && header.starts_with('[') {
            return start.unwrap_or(0)..offset;
        }
        if header.starts_with(&own) || header.starts_with(&quoted) {
            start = Some(offset);
        } else if start.is_none() && header.starts_with(&first_policy) {
            return offset..offset;
        }
        offset += line.len();
    }
    start.map_or(0..0, |s| s..text.len())
}

/// The line (from 1) of byte `offset`.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// A TOML error located in the file; `within` is the table being read and its key path
/// when the error comes from reading one policy.
fn toml_error(
    text: &str,
    origin: &str,
    e: &toml::de::Error,
    within: Option<(Range<usize>, String)>,
) -> FileError {
    let message = e.message().to_owned();
    let span = within
        .as_ref()
        .map(|(span, _)| span.clone())
        .or_else(|| e.span())
        .unwrap_or(0..0);
    let needle = needle_in(&message);
    let found = needle.as_ref().and_then(|n| narrow(text, span.clone(), n));
    let offset = found.as_ref().map_or(span.start, |(offset, _)| *offset);
    let key = found
        .and_then(|(_, key)| key)
        .or_else(|| key_at_line(text, offset));
    let table = match within {
        Some((_, path)) => Some(path),
        None => header_path(text, offset),
    };
    let path = match (table, key) {
        (Some(t), Some(k)) => Some(format!("{t}.{k}")),
        (Some(t), None) => Some(t),
        (None, Some(k)) => Some(k),
        (None, None) => None,
    };
    let error = FileError::new(origin, message).at_offset(text, offset);
    match path {
        Some(p) => error.with_key(p),
        None => error,
    }
}

/// What to look for to find the line a serde message is about: the field it names
/// (``unknown field `x` ``) or the value it quotes (``invalid type: string "x"``).
fn needle_in(message: &str) -> Option<Needle<'_>> {
    let between = |open: char, close: char| {
        let start = message.find(open)? + open.len_utf8();
        let end = message[start..].find(close)? + start;
        Some(&message[start..end])
    };
    if message.starts_with("unknown field") || message.starts_with("missing field") {
        return between('`', '`').map(Needle::Key);
    }
    if message.starts_with("unknown variant") {
        return between('`', '`').map(Needle::Bare);
    }
    if let Some(rest) = message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "))
    {
        // `string "x"`, `integer `-3``, `floating point `1.5``...
        let start = rest.find(['"', '`'])?;
        let quote = rest[start..].chars().next()?;
        let end = rest[start + 1..].find(quote)? + start + 1;
        let literal = &rest[start..=end];
        return Some(if quote == '"' {
            Needle::Value(literal)
        } else {
            Needle::Bare(&literal[1..literal.len() - 1])
        });
    }
    None
}

/// The file as TOML lays it out; policies stay tables until their tag is read, so a
/// bad one can be located by its own span.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    dependencies: BTreeMap<String, RawDependency>,
    #[serde(default)]
    health: Option<Spanned<HealthConfig>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDependency {
    #[serde(default)]
    policies: Vec<Spanned<toml::Table>>,
    #[serde(default = "default_budget")]
    retry_budget: Option<RetryBudgetConfig>,
    #[serde(default, with = "humantime_serde")]
    sla: Option<Duration>,
    #[serde(default = "yes")]
    idempotent: bool,
    #[serde(default)]
    idempotency_key: bool,
    #[serde(default)]
    within: Option<Spanned<String>>,
    #[serde(default)]
    flag: Option<String>,
    #[serde(default)]
    client: ClientConfig,
}

fn default_budget() -> Option<RetryBudgetConfig> {
    PipelineConfig::default().retry_budget
}

fn yes() -> bool {
    true
}
