//! Errors in a scenario file, located by file, line, column and key.

use std::fmt;

/// A scenario that cannot be read, parsed or used, located in its file.
///
/// Shown as `file:line:column: key: message`, e.g.
/// `outage.toml:12:8: traffic.rate: must be a positive number of requests per second`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    origin: String,
    position: Option<(usize, usize)>,
    key: Option<String>,
    message: String,
}

impl ScenarioError {
    /// An error in `origin` that no place in the file can be given for.
    pub(crate) fn new(origin: &str, message: impl Into<String>) -> Self {
        ScenarioError {
            origin: origin.to_owned(),
            position: None,
            key: None,
            message: message.into(),
        }
    }

    /// Places the error at byte `offset` of `text`.
    pub(crate) fn at(mut self, text: &str, offset: usize) -> Self {
        self.position = Some(line_column(text, offset));
        self
    }

    /// Places the error at a line and column already known.
    pub(crate) fn at_line(mut self, line: usize, column: usize) -> Self {
        self.position = Some((line, column));
        self
    }

    /// Names the key at fault (a dotted path).
    pub(crate) fn key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// The file (or the name given to the text) the error is in.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The line (from 1), where known.
    pub fn line(&self) -> Option<usize> {
        self.position.map(|(line, _)| line)
    }

    /// The column (from 1, in characters), where known.
    pub fn column(&self) -> Option<usize> {
        self.position.map(|(_, column)| column)
    }

    /// The dotted path of the key at fault, e.g. `traffic.rate`, where known.
    pub fn key_path(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// What is wrong.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<&rampart::registry::FileError> for ScenarioError {
    /// The same place and message, for a configuration file read on its own.
    fn from(e: &rampart::registry::FileError) -> Self {
        ScenarioError {
            origin: e.origin().to_owned(),
            position: e.line().map(|line| (line, e.column().unwrap_or(1))),
            key: e.key_path().map(str::to_owned),
            message: e.message().to_owned(),
        }
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.origin)?;
        if let Some((line, column)) = self.position {
            write!(f, ":{line}:{column}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": {key}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ScenarioError {}

/// The line and column (both from 1) of byte `offset` in `text`.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_every_part_it_knows() {
        let e = ScenarioError::new("s.toml", "bad")
            .at("a\nbc", 3)
            .key("x.y");
        assert_eq!(e.to_string(), "s.toml:2:2: x.y: bad");
        assert_eq!(
            ScenarioError::new("s.toml", "bad").to_string(),
            "s.toml: bad"
        );
    }
}
