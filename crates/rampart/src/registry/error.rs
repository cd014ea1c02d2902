//! Errors that point into a configuration file: file, line, column and key.

use std::fmt;

/// A configuration file that cannot be read, parsed or built, located in the file.
///
/// Shown as `file:line:column: key: message`, e.g.
/// `rampart.toml:12:1: dependencies.payment.policies[1].max_concurrent: must be at least 1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    origin: String,
    position: Option<(usize, usize)>,
    key: Option<String>,
    message: String,
}

impl FileError {
    /// An error in `origin` (a file's path, or the name given to a text) that no place
    /// in it is known for yet; [`at_offset`](Self::at_offset),
    /// [`at_line`](Self::at_line) and [`with_key`](Self::with_key) say where.
    pub fn new(origin: &str, message: impl Into<String>) -> Self {
        FileError {
            origin: origin.to_owned(),
            position: None,
            key: None,
            message: message.into(),
        }
    }

    /// Places the error at byte `offset` of the file's `text`.
    pub fn at_offset(mut self, text: &str, offset: usize) -> Self {
        self.position = Some(line_column(text, offset));
        self
    }

    /// Places the error at a line and column (both from 1) already known.
    pub fn at_line(mut self, line: usize, column: usize) -> Self {
        self.position = Some((line, column));
        self
    }

    /// Names the key at fault, a dotted path such as `dependencies.payment.sla`.
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
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

    /// The dotted path of the key at fault, e.g. `dependencies.payment.sla`, where known.
    pub fn key_path(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// What is wrong.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for FileError {
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

impl std::error::Error for FileError {}

/// The line and column (both from 1, the column in characters) of byte `offset` in
/// `text`.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = floor_char_boundary(text, offset.min(text.len()));
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_columns_count_from_one() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        assert_eq!(line_column(text, 10), (2, 4));
        assert_eq!(line_column(text, 999), (3, 1));
        // Inside a two-byte character: the character's own column.
        assert_eq!(line_column(text, 8), (2, 2));
    }

    #[test]
    fn display_has_every_part_it_knows() {
        let e = FileError::new("f.toml", "bad")
            .at_offset("x\ny", 2)
            .with_key("a.b");
        assert_eq!(e.to_string(), "f.toml:2:1: a.b: bad");
        assert_eq!(FileError::new("f.toml", "bad").to_string(), "f.toml: bad");
    }
}
