//! A small, tolerant reader for the parts of RFC 8941 structured fields that the
//! rate-limit headers use: lists of items with parameters, and dictionaries.
//!
//! It never fails as a whole: a member it cannot read is skipped, so one odd policy does
//! not hide the others. Values are kept as raw text and read by the caller.

/// One list member or dictionary entry: `key=value;p1=v1;p2` or `value;p1=v1`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Member<'a> {
    /// The dictionary key, when the member is `key=value`.
    pub(crate) key: Option<&'a str>,
    /// The bare item (a quoted string still has its quotes).
    pub(crate) value: &'a str,
    /// Parameters as `(name, value)`; a parameter without `=` has the value `?1`.
    pub(crate) params: Vec<(&'a str, &'a str)>,
}

impl<'a> Member<'a> {
    /// The last value of parameter `name` (later parameters override earlier ones).
    pub(crate) fn param(&self, name: &str) -> Option<&'a str> {
        self.params
            .iter()
            .rev()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| *v)
    }
}

/// The byte offsets of `sep` in `text` outside double-quoted strings (honouring `\`
/// escapes inside them).
fn positions_outside_quotes(text: &str, sep: u8) -> impl Iterator<Item = usize> + '_ {
    let (mut in_quotes, mut escaped) = (false, false);
    text.bytes().enumerate().filter_map(move |(i, b)| {
        if in_quotes {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_quotes = false;
            }
            None
        } else if b == b'"' {
            in_quotes = true;
            None
        } else {
            (b == sep).then_some(i)
        }
    })
}

/// Splits `text` on `sep` outside double-quoted strings.
fn split_outside_quotes(text: &str, sep: u8) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    for i in positions_outside_quotes(text, sep) {
        // `sep` is ASCII, so `i` and `i + 1` are char boundaries.
        parts.push(&text[start..i]);
        start = i + 1;
    }
    parts.push(&text[start..]);
    parts
}

/// Splits `part` at its first `=` outside quotes: `(key, Some(value))` or `(part, None)`.
fn split_key(part: &str) -> (&str, Option<&str>) {
    match positions_outside_quotes(part, b'=').next() {
        Some(i) => (part[..i].trim(), Some(part[i + 1..].trim())),
        None => (part.trim(), None),
    }
}

/// Reads a list or dictionary: members separated by commas, parameters by semicolons.
///
/// Members that are empty are skipped. A member is a dictionary entry when its first
/// segment has an `=` outside quotes.
pub(crate) fn members(text: &str) -> Vec<Member<'_>> {
    let mut out = Vec::new();
    for raw in split_outside_quotes(text, b',') {
        let mut segments = split_outside_quotes(raw, b';').into_iter();
        let head = segments.next().unwrap_or("").trim();
        if head.is_empty() {
            continue;
        }
        let (key, value) = match split_key(head) {
            (k, Some(v)) => (Some(k), v),
            (item, None) => (None, item),
        };
        let params = segments
            .filter_map(|p| {
                let (name, value) = split_key(p);
                (!name.is_empty()).then_some((name, value.unwrap_or("?1")))
            })
            .collect();
        out.push(Member { key, value, params });
    }
    out
}

/// The contents of an sf-string (`"a \"b\""` gives `a "b"`); `None` when `item` is not
/// a well-formed string of printable ASCII.
pub(crate) fn string(item: &str) -> Option<String> {
    let inner = item.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e @ ('"' | '\\')) => out.push(e),
                _ => return None,
            },
            '"' => return None,
            ' '..='~' => out.push(c),
            _ => return None,
        }
    }
    Some(out)
}

/// `name` as an sf-string: printable ASCII kept (with `"` and `\` escaped), anything
/// else replaced by `_`.
pub(crate) fn quote(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => out.push('_'),
        }
    }
    out.push('"');
    out
}

/// A policy name from a list member's bare item: an sf-string, or a token as such.
pub(crate) fn name(item: &str) -> Option<String> {
    if item.starts_with('"') {
        return string(item);
    }
    let is_token = item
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'*')
        && item.bytes().all(|b| b.is_ascii_graphic() && b != b'"');
    is_token.then(|| item.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_dictionaries_and_quotes() {
        let m = members(r#""a,b;c";r=1;t=2, token;q=3, k=v;x, , "";r"#);
        assert_eq!(m.len(), 4);
        assert_eq!(m[0].value, r#""a,b;c""#);
        assert_eq!(m[0].param("r"), Some("1"));
        assert_eq!(m[0].param("t"), Some("2"));
        assert_eq!(m[1].value, "token");
        assert_eq!(m[2].key, Some("k"));
        assert_eq!(m[2].param("x"), Some("?1"));
        assert_eq!(m[3].param("r"), Some("?1"));
        assert_eq!(string(r#""a \"q\" \\""#).as_deref(), Some(r#"a "q" \"#));
        assert_eq!(string(r#""bad\x""#), None);
        assert_eq!(string(r#""bad"x""#), None);
        assert_eq!(name("tok-1").as_deref(), Some("tok-1"));
        assert_eq!(name("1tok"), None);
        assert_eq!(string(&quote("a\"b\\c\u{e9}")).as_deref(), Some("a\"b\\c_"));
    }
}
