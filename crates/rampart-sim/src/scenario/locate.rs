//! Finds the table and key a byte of a TOML file belongs to, so that errors the TOML
//! reader reports with a position only can also name the key.

/// The dotted key path of the place at byte `offset`: the closest table header above it
/// (with an index for arrays of tables: `runs[1]`) and the key written on its line.
pub(crate) fn key_path_at(text: &str, offset: usize, key: Option<&str>) -> Option<String> {
    let table = header_path(text, offset);
    let key = key.map(str::to_owned).or_else(|| key_on_line(text, offset));
    match (table, key) {
        (Some(t), Some(k)) => Some(format!("{t}.{k}")),
        (Some(t), None) => Some(t),
        (None, k) => k,
    }
}

/// The table holding byte `offset`, from the last header above it.
fn header_path(text: &str, offset: usize) -> Option<String> {
    // Up to the end of the line holding `offset`, so that a header's own line counts.
    let offset = offset.min(text.len());
    let end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let before = text.get(..end)?;
    let mut current: Option<String> = None;
    // How many times each array-of-tables header was seen, to index its elements.
    let mut arrays: Vec<(String, usize)> = Vec::new();
    for line in before.lines() {
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
            // A sub-table of the latest element of an array keeps that element's index.
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

/// The key of a `key = value` line holding byte `offset`.
fn key_on_line(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let start = text.get(..offset)?.rfind('\n').map_or(0, |i| i + 1);
    let line = text[start..].lines().next().unwrap_or("");
    let code = strip_comment(line);
    let eq = code.find('=')?;
    let key = code[..eq].trim().trim_matches('"');
    (!key.is_empty() && !key.starts_with('[')).then(|| key.to_owned())
}

/// The offset of the first line at or after `from` where `key` is written as a key.
pub(crate) fn find_key(text: &str, from: usize, key: &str) -> Option<usize> {
    let mut offset = from.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    for line in text[offset..].split_inclusive('\n') {
        let code = strip_comment(line);
        if let Some(eq) = code.find('=') {
            let written = code[..eq].trim().trim_matches('"');
            if written == key {
                return Some(offset + (line.len() - line.trim_start().len()));
            }
        }
        offset += line.len();
    }
    None
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

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "[traffic]\nrate = 5 # per second\n\n[[runs]]\nname = \"a\"\n\n\
        [[runs]]\nname = \"b\"\n[runs.fallbacks.payment]\nkind = \"queue\"\n";

    fn at(s: &str) -> usize {
        TEXT.find(s).unwrap()
    }

    #[test]
    fn tables_keys_and_array_indices() {
        assert_eq!(
            key_path_at(TEXT, at("rate"), None).as_deref(),
            Some("traffic.rate")
        );
        assert_eq!(
            key_path_at(TEXT, at("name = \"b\""), None).as_deref(),
            Some("runs[1].name")
        );
        assert_eq!(
            key_path_at(TEXT, at("kind"), None).as_deref(),
            Some("runs[1].fallbacks.payment.kind")
        );
        assert_eq!(key_path_at("", 0, Some("x")).as_deref(), Some("x"));
    }

    #[test]
    fn keys_are_found_after_an_offset() {
        assert_eq!(find_key(TEXT, 0, "name"), Some(at("name = \"a\"")));
        assert_eq!(
            find_key(TEXT, at("[[runs]]\nname = \"b\""), "name"),
            Some(at("name = \"b\""))
        );
        assert_eq!(find_key(TEXT, 0, "per"), None);
    }
}
