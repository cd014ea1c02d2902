//! The runs of a scenario: each one's rampart configuration (inline or in its own file,
//! with errors placed on the right lines) and its fallbacks.

use std::path::Path;
use std::time::Duration;

use rampart::registry::{ConfigFile, FileError, Registry};
use toml::Spanned;

use super::error::ScenarioError;
use super::file::{known, Reader};
use super::raw::RawRun;
use super::{FallbackKind, FallbackSpec, RunSpec};
use rampart::registry::locate::line_column;

impl Reader<'_> {
    pub(super) fn runs(
        &self,
        raw: Vec<RawRun>,
        dependencies: &[&str],
    ) -> Result<Vec<RunSpec>, ScenarioError> {
        if raw.is_empty() {
            return Err(ScenarioError::new(
                self.origin,
                "a scenario needs at least one run (`[[runs]]`)",
            )
            .with_key("runs"));
        }
        raw.into_iter()
            .enumerate()
            .map(|(i, run)| self.run(i, run, dependencies))
            .collect()
    }

    fn run(
        &self,
        index: usize,
        raw: RawRun,
        dependencies: &[&str],
    ) -> Result<RunSpec, ScenarioError> {
        let prefix = format!("runs[{index}]");
        let config = match (&raw.config, &raw.config_file) {
            (Some(_), Some(file)) => {
                return Err(self.fail(
                    file.span(),
                    &format!("{prefix}.config_file"),
                    "give `config` or `config_file`, not both",
                ))
            }
            (Some(inline), None) => Some(self.inline_config(inline, &prefix)?),
            (None, Some(path)) => Some(self.config_file(path, &prefix)?),
            (None, None) => None,
        };
        let config = match config {
            Some((file, place)) => {
                for name in file.config().dependencies.keys() {
                    if !dependencies.contains(&name.as_str()) {
                        let line = file.dependency_line(name).unwrap_or(1);
                        return Err(place.locate(
                            line,
                            1,
                            &format!("dependencies.{name}"),
                            &format!(
                                "no dependency named `{name}` in the scenario{}",
                                known(dependencies)
                            ),
                            self,
                        ));
                    }
                }
                file.config().clone()
            }
            None => Default::default(),
        };
        let mut fallbacks = Vec::new();
        for (name, fallback) in raw.fallbacks {
            let key = format!("{prefix}.fallbacks.{name}");
            let Some(dep) = dependencies.iter().position(|d| *d == name) else {
                return Err(self.fail(
                    fallback.span(),
                    &key,
                    format!(
                        "no dependency named `{name}` in this scenario{}",
                        known(dependencies)
                    ),
                ));
            };
            let span = fallback.span();
            let fallback = fallback.into_inner();
            let kind = match fallback.kind.get_ref().as_str() {
                "value" => FallbackKind::Value,
                "queue" => FallbackKind::Queue {
                    workers: match &fallback.workers {
                        Some(w) => self.count(w, &format!("{key}.workers"), 1)?,
                        None => 10,
                    },
                    pause: fallback.pause.map_or(Duration::from_secs(1), |p| p.0),
                },
                other => {
                    return Err(self.fail(
                        fallback.kind.span(),
                        &format!("{key}.kind"),
                        format!("unknown fallback `{other}`: expected `value` or `queue`"),
                    ))
                }
            };
            if matches!(kind, FallbackKind::Value) && fallback.workers.is_some() {
                return Err(self.fail(
                    span,
                    &format!("{key}.workers"),
                    "only a `queue` fallback has workers",
                ));
            }
            fallbacks.push((
                dep,
                FallbackSpec {
                    label: fallback.label,
                    kind,
                },
            ));
        }
        fallbacks.sort_by_key(|(dep, _)| *dep);
        Ok(RunSpec {
            name: raw.name,
            config,
            fallbacks,
        })
    }

    /// Reads a configuration written inline, as a literal string: errors in it are
    /// placed on the scenario file's lines.
    fn inline_config(
        &self,
        inline: &Spanned<String>,
        prefix: &str,
    ) -> Result<(ConfigFile, Place), ScenarioError> {
        let span = inline.span();
        let written = &self.text[span.clone()];
        // A multi-line string starts on the line after its opening quotes.
        let opener = if written.starts_with("'''") || written.starts_with("\"\"\"") {
            3
        } else {
            1
        };
        let mut start = span.start + opener;
        if opener == 3 && self.text[start..].starts_with('\n') {
            start += 1;
        } else if opener == 3 && self.text[start..].starts_with("\r\n") {
            start += 2;
        }
        let (line, column) = line_column(self.text, start);
        let place = Place::Inline {
            first_line: line,
            first_column: column,
            key: format!("{prefix}.config"),
        };
        let file = ConfigFile::parse(inline.get_ref(), self.origin)
            .map_err(|e| place.relocate(&e, self))?;
        Registry::builder()
            .build(&file)
            .map_err(|e| place.relocate(&e, self))?;
        Ok((file, place))
    }

    fn config_file(
        &self,
        path: &Spanned<String>,
        prefix: &str,
    ) -> Result<(ConfigFile, Place), ScenarioError> {
        let full = match self.dir {
            Some(dir) => dir.join(path.get_ref()),
            None => Path::new(path.get_ref()).to_path_buf(),
        };
        let text = std::fs::read_to_string(&full).map_err(|e| {
            self.fail(
                path.span(),
                &format!("{prefix}.config_file"),
                format!("cannot read `{}`: {e}", full.display()),
            )
        })?;
        let place = Place::File(full.display().to_string());
        let file = ConfigFile::parse(&text, &full.display().to_string())
            .map_err(|e| place.relocate(&e, self))?;
        Registry::builder()
            .build(&file)
            .map_err(|e| place.relocate(&e, self))?;
        Ok((file, place))
    }
}

/// Where a run's configuration is written: inside the scenario, or in its own file.
pub(super) enum Place {
    Inline {
        first_line: usize,
        first_column: usize,
        key: String,
    },
    File(String),
}

impl Place {
    /// An error at `line` and `column` of the configuration, about `key` in it.
    fn locate(
        &self,
        line: usize,
        column: usize,
        key: &str,
        message: &str,
        reader: &Reader<'_>,
    ) -> ScenarioError {
        match self {
            Place::Inline {
                first_line,
                first_column,
                key: prefix,
            } => {
                let column = if line == 1 {
                    column + first_column - 1
                } else {
                    column
                };
                ScenarioError::new(reader.origin, message)
                    .at_line(first_line + line - 1, column)
                    .with_key(format!("{prefix}: {key}"))
            }
            Place::File(origin) => ScenarioError::new(origin, message)
                .at_line(line, column)
                .with_key(key),
        }
    }

    fn relocate(&self, e: &FileError, reader: &Reader<'_>) -> ScenarioError {
        let line = e.line().unwrap_or(1);
        let column = e.column().unwrap_or(1);
        self.locate(
            line,
            column,
            e.key_path().unwrap_or(""),
            e.message(),
            reader,
        )
    }
}
