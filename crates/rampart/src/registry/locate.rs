//! Finding the line and key a message is about, in the text of a TOML file.
//!
//! Serde's messages name a field or quote a value but carry no position once a value
//! has been buffered (as policies are, to read their `policy` tag first), so the table
//! the error came from is searched line by line. Keys written as `key = value`, one per
//! line or in inline tables, are found; anything else falls back to the table's start.
//!
//! The public functions serve any TOML file read with a [`FileError`] for its
//! mistakes: the registry's configuration files and the simulator's scenarios.

use std::ops::Range;

pub use super::error::line_column;
#[cfg(doc)]
use super::FileError;

/// What to look for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Needle<'a> {
    /// A key: `name = ...`.
    Key(&'a str),
    /// A value exactly as written, quotes included: `... = "x"`.
    Value(&'a str),
    /// A bare word in a value: a number, or a string's content.
    Bare(&'a str),
}

/// The first line in `span` of `text` holding `needle`: the offset where it is written
/// and the key it belongs to.
pub(super) fn narrow(
    text: &str,
    span: Range<usize>,
    needle: &Needle<'_>,
) -> Option<(usize, Option<String>)> {
    let end = span.end.min(text.len());
    let start = span.start.min(end);
    let region = text.get(start..end)?;
    let mut line_start = start;
    for line in region.split_inclusive('\n') {
        let code = strip_comment(line);
        let hit = match needle {
            Needle::Key(key) => find_key(code, key),
            Needle::Value(value) => code.find(value),
            Needle::Bare(word) => find_word(code, word),
        };
        if let Some(at) = hit {
            let key = match needle {
                Needle::Key(k) => Some((*k).to_owned()),
                _ => key_before(code, at),
            };
            return Some((line_start + at, key));
        }
        line_start += line.len();
    }
    None
}

/// The key written on the line holding byte `offset`, if the line is `key = value`.
pub fn key_at_line(text: &str, offset: usize) -> Option<String> {
    let offset = floor_char_boundary(text, offset.min(text.len()));
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = text[start..].lines().next().unwrap_or("");
    let code = strip_comment(line);
    let eq = code.find('=')?;
    let key = code[..eq].trim();
    (!key.is_empty() && !key.starts_with('[')).then(|| unquote(key))
}

/// The table a byte of the file belongs to, from the closest header above it (or on
/// its line): `dependencies.payment`, or `dependencies.payment.policies[1]` for the
/// second `[[dependencies.payment.policies]]`. Each array of tables is counted on its
/// own, and a sub-table (`[runs.fallbacks]`) keeps its array element's index.
pub fn header_path(text: &str, offset: usize) -> Option<String> {
    let offset = floor_char_boundary(text, offset.min(text.len()));
    let end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let mut current: Option<String> = None;
    // How many times each array-of-tables header was seen, to index its elements.
    let mut arrays: Vec<(String, usize)> = Vec::new();
    for line in text[..end].lines() {
        let line = strip_comment(line).trim();
        if let Some(name) = line.strip_prefix("[[").and_then(|l| l.strip_suffix("]]")) {
            let name = name.trim().to_owned();
            let index = match arrays.iter_mut().find(|(n, _)| *n == name) {
                Some((_, count)) => {
                    *count += 1;
                    *count - 1
                }
                None => {
                    arrays.push((name.clone(), 1));
                    0
                }
            };
            current = Some(format!("{name}[{index}]"));
        } else if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.trim();
            let indexed = arrays.iter().find_map(|(array, count)| {
                name.strip_prefix(array.as_str())
                    .filter(|rest| rest.starts_with('.'))
                    .map(|rest| format!("{array}[{}]{rest}", count - 1))
            });
            current = Some(indexed.unwrap_or_else(|| name.to_owned()));
        }
    }
    current
}

/// The dotted key path of the place at byte `offset`: its table ([`header_path`]) and
/// `key`, or else the key written on its line ([`key_at_line`]).
pub fn key_path_at(text: &str, offset: usize, key: Option<&str>) -> Option<String> {
    let table = header_path(text, offset);
    let key = key.map(str::to_owned).or_else(|| key_at_line(text, offset));
    match (table, key) {
        (Some(t), Some(k)) => Some(format!("{t}.{k}")),
        (Some(t), None) => Some(t),
        (None, k) => k,
    }
}

/// The offset where `key` is first written as a key (`key = ...`), at or after byte
/// `from`.
pub fn find_key_from(text: &str, from: usize, key: &str) -> Option<usize> {
    let mut offset = floor_char_boundary(text, from.min(text.len()));
    for line in text[offset..].split_inclusive('\n') {
        if let Some(at) = find_key(strip_comment(line), key) {
            return Some(offset + at);
        }
        offset += line.len();
    }
    None
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// The line without its comment (a `#` outside a string).
fn strip_comment(line: &str) -> &str {
    let mut quote = None;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '#') => return &line[..i],
            _ => {}
        }
    }
    line
}

/// Where `key` is written as a key on `line`: followed by `=`, not inside another word.
fn find_key(line: &str, key: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(pos) = line[from..].find(key).map(|p| p + from) {
        let before_ok = line[..pos]
            .chars()
            .next_back()
            .is_none_or(|c| !is_key_char(c) && c != '"');
        let after = line[pos + key.len()..].trim_start();
        let after = after.strip_prefix('"').unwrap_or(after).trim_start();
        if before_ok && after.starts_with('=') {
            return Some(pos);
        }
        from = pos + key.len();
    }
    None
}

/// Where `word` stands alone on `line` (not part of a longer key or number).
fn find_word(line: &str, word: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(pos) = line[from..].find(word).map(|p| p + from) {
        let before = line[..pos].chars().next_back();
        let after = line[pos + word.len()..].chars().next();
        if before.is_none_or(|c| !is_key_char(c)) && after.is_none_or(|c| !is_key_char(c)) {
            return Some(pos);
        }
        from = pos + word.len();
    }
    None
}

/// The key of the `key = value` pair that contains byte `at` of `line`.
fn key_before(line: &str, at: usize) -> Option<String> {
    let head = &line[..at.min(line.len())];
    let eq = head.rfind('=')?;
    let left = head[..eq].trim_end();
    let start = left
        .rfind(|c: char| c == '{' || c == ',' || c.is_whitespace())
        .map_or(0, |i| i + 1);
    let key = left[start..].trim();
    (!key.is_empty()).then(|| unquote(key))
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

fn unquote(key: &str) -> String {
    key.trim_matches('"').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "[dependencies.payment]\nsla = \"5s\" # the SLA\n\n\
        [[dependencies.payment.policies]]\npolicy = \"timeout\"\nduration = \"2s\"\n\n\
        [[dependencies.payment.policies]]\npolicy = \"bulkhead\"\nmax_concurrent = 0\n\n\
        [dependencies.inventory]\npolicies = [{ policy = \"timeout\", duration = \"1s\" }]\n";

    fn offset_of(s: &str) -> usize {
        TEXT.find(s).unwrap()
    }

    #[test]
    fn finds_keys_values_and_words_with_their_key() {
        let all = 0..TEXT.len();
        let (at, key) = narrow(TEXT, all.clone(), &Needle::Key("max_concurrent")).unwrap();
        assert_eq!(
            (at, key.as_deref()),
            (offset_of("max_concurrent"), Some("max_concurrent"))
        );
        let (at, key) = narrow(TEXT, all.clone(), &Needle::Value("\"bulkhead\"")).unwrap();
        assert_eq!(
            (at, key.as_deref()),
            (offset_of("\"bulkhead\""), Some("policy"))
        );
        let (_, key) = narrow(TEXT, all.clone(), &Needle::Value("\"1s\"")).unwrap();
        assert_eq!(key.as_deref(), Some("duration"));
        let (_, key) = narrow(TEXT, all, &Needle::Bare("0")).unwrap();
        assert_eq!(key.as_deref(), Some("max_concurrent"));
        // Not in a comment, and not where the span does not reach.
        assert_eq!(narrow(TEXT, 0..30, &Needle::Bare("SLA")), None);
        assert_eq!(narrow(TEXT, 0..10, &Needle::Key("sla")), None);
    }

    #[test]
    fn headers_give_the_table_and_the_array_index() {
        assert_eq!(
            header_path(TEXT, offset_of("sla")).as_deref(),
            Some("dependencies.payment")
        );
        assert_eq!(
            header_path(TEXT, offset_of("duration = \"2s\"")).as_deref(),
            Some("dependencies.payment.policies[0]")
        );
        assert_eq!(
            header_path(TEXT, offset_of("max_concurrent")).as_deref(),
            Some("dependencies.payment.policies[1]")
        );
        assert_eq!(
            header_path(TEXT, offset_of("policies = [")).as_deref(),
            Some("dependencies.inventory")
        );
        assert_eq!(header_path("a = 1", 2), None);
    }

    #[test]
    fn the_key_on_a_line() {
        assert_eq!(
            key_at_line(TEXT, offset_of("\"5s\"")).as_deref(),
            Some("sla")
        );
        assert_eq!(key_at_line(TEXT, 0), None);
    }

    const RUNS: &str = "[traffic]\nrate = 5 # per second\n\n[[runs]]\nname = \"a\"\n\n\
        [[runs]]\nname = \"b\"\n[runs.fallbacks.payment]\nkind = \"queue\"\n\
        [[other]]\nx = 1\n[[runs]]\nname = \"c\"\n";

    fn in_runs(s: &str) -> usize {
        RUNS.find(s).unwrap()
    }

    #[test]
    fn key_paths_with_arrays_counted_apart_and_sub_tables() {
        assert_eq!(
            key_path_at(RUNS, in_runs("rate"), None).as_deref(),
            Some("traffic.rate")
        );
        assert_eq!(
            key_path_at(RUNS, in_runs("name = \"b\""), None).as_deref(),
            Some("runs[1].name")
        );
        assert_eq!(
            key_path_at(RUNS, in_runs("kind"), None).as_deref(),
            Some("runs[1].fallbacks.payment.kind")
        );
        // Another array in between does not reset the count of the first.
        assert_eq!(
            key_path_at(RUNS, in_runs("name = \"c\""), None).as_deref(),
            Some("runs[2].name")
        );
        // A header's own line belongs to its table.
        assert_eq!(
            header_path(RUNS, in_runs("[traffic]")).as_deref(),
            Some("traffic")
        );
        assert_eq!(key_path_at("", 0, Some("x")).as_deref(), Some("x"));
    }

    #[test]
    fn keys_are_found_after_an_offset() {
        assert_eq!(
            find_key_from(RUNS, 0, "name"),
            Some(in_runs("name = \"a\""))
        );
        assert_eq!(
            find_key_from(RUNS, in_runs("[[runs]]\nname = \"b\""), "name"),
            Some(in_runs("name = \"b\""))
        );
        assert_eq!(find_key_from(RUNS, 0, "per"), None);
        assert_eq!(find_key_from(RUNS, 10_000, "name"), None);
    }
}
