//! The `Idempotency-Key` header as the server reads it, and the caller it belongs to.
//!
//! A key is 1 to [`MAX_KEY_LEN`] visible ASCII characters (`!` to `~`, so no spaces or
//! control bytes), in exactly one header. Keys are scoped per caller: two callers that
//! pick the same key never see each other's responses. The scope is a SHA-256 digest
//! of the caller's identity (by default its `Authorization` header, else its API-key
//! header), so a store never keeps a bearer token or an API key in the clear.

use std::fmt;

use http::header::AUTHORIZATION;
use http::{request, HeaderMap, HeaderName};
use sha2::{Digest, Sha256};

use crate::classify::IDEMPOTENCY_KEY;

/// The longest key accepted, in bytes.
pub const MAX_KEY_LEN: usize = 255;

/// The API-key header the default scope reads when there is no `Authorization`.
pub const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");

/// Why a request's idempotency key was refused (answered with 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// The request has no `Idempotency-Key` header.
    Missing,
    /// The header is there more than once.
    Repeated,
    /// The header is empty.
    Empty,
    /// The header is longer than [`MAX_KEY_LEN`] bytes.
    TooLong,
    /// The header has a byte outside visible ASCII (`!` to `~`).
    NotVisibleAscii,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyError::Missing => "missing Idempotency-Key header",
            KeyError::Repeated => "more than one Idempotency-Key header",
            KeyError::Empty => "empty Idempotency-Key header",
            KeyError::TooLong => "Idempotency-Key longer than 255 bytes",
            KeyError::NotVisibleAscii => "Idempotency-Key must be visible ASCII",
        })
    }
}

impl std::error::Error for KeyError {}

/// Checks one key's bytes: 1 to [`MAX_KEY_LEN`] bytes of visible ASCII.
///
/// # Errors
///
/// [`KeyError::Empty`], [`KeyError::TooLong`] or [`KeyError::NotVisibleAscii`].
pub fn validate_key(key: &[u8]) -> Result<&str, KeyError> {
    if key.is_empty() {
        return Err(KeyError::Empty);
    }
    if key.len() > MAX_KEY_LEN {
        return Err(KeyError::TooLong);
    }
    if !key.iter().all(|b| b.is_ascii_graphic()) {
        return Err(KeyError::NotVisibleAscii);
    }
    std::str::from_utf8(key).map_err(|_| KeyError::NotVisibleAscii)
}

/// The request's one valid `Idempotency-Key`.
///
/// # Errors
///
/// A [`KeyError`] when it is missing, repeated or malformed.
pub fn key_from_headers(headers: &HeaderMap) -> Result<&str, KeyError> {
    let mut values = headers.get_all(IDEMPOTENCY_KEY).iter();
    let first = values.next().ok_or(KeyError::Missing)?;
    if values.next().is_some() {
        return Err(KeyError::Repeated);
    }
    validate_key(first.as_bytes())
}

/// The default caller identity: the `Authorization` header's value, else the
/// [`X_API_KEY`] header's, else nothing (all anonymous callers share one scope).
pub fn default_scope(parts: &request::Parts) -> Vec<u8> {
    [AUTHORIZATION, X_API_KEY]
        .iter()
        .find_map(|name| parts.headers.get(name))
        .map(|value| value.as_bytes().to_vec())
        .unwrap_or_default()
}

/// A key as a store files it: the caller's scope (a digest) and the key itself.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ScopedKey {
    scope: [u8; 32],
    key: Box<str>,
}

impl ScopedKey {
    /// The key `key` of the caller identified by `scope` (any bytes; only their SHA-256
    /// digest is kept).
    pub fn new(scope: &[u8], key: &str) -> Self {
        ScopedKey {
            scope: Sha256::digest(scope).into(),
            key: key.into(),
        }
    }

    /// The SHA-256 digest of the caller's identity.
    pub fn scope(&self) -> &[u8; 32] {
        &self.scope
    }

    /// The client's key.
    pub fn key(&self) -> &str {
        &self.key
    }
}

impl fmt::Display for ScopedKey {
    /// `<scope digest in hex>:<key>`, a string a shared store can use as its key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.scope {
            write!(f, "{byte:02x}")?;
        }
        write!(f, ":{}", self.key)
    }
}

impl fmt::Debug for ScopedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ScopedKey({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_bytes_are_judged_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let visible = bytes.iter().all(|b| (0x21..=0x7e).contains(b));
            let valid = !bytes.is_empty() && bytes.len() <= MAX_KEY_LEN && visible;
            match validate_key(&bytes) {
                Ok(key) => {
                    prop_assert!(valid);
                    prop_assert_eq!(key.as_bytes(), &bytes[..]);
                }
                Err(_) => prop_assert!(!valid),
            }
            if let Ok(value) = http::HeaderValue::from_bytes(&bytes) {
                let mut headers = HeaderMap::new();
                headers.insert(IDEMPOTENCY_KEY, value);
                prop_assert_eq!(key_from_headers(&headers).is_ok(), valid);
            }
        }
    }

    #[test]
    fn keys_are_checked_by_length_and_alphabet() {
        let long = "k".repeat(MAX_KEY_LEN);
        let too_long = "k".repeat(MAX_KEY_LEN + 1);
        let table: &[(&[u8], Result<(), KeyError>)] = &[
            (b"", Err(KeyError::Empty)),
            (b"a", Ok(())),
            (b"8e0f6e2a-5b1c-4d7e-9f3a-2c1b0a9d8e7f", Ok(())),
            (b"!~", Ok(())),
            (long.as_bytes(), Ok(())),
            (too_long.as_bytes(), Err(KeyError::TooLong)),
            (b"has space", Err(KeyError::NotVisibleAscii)),
            (b"tab\t", Err(KeyError::NotVisibleAscii)),
            (b"nul\0", Err(KeyError::NotVisibleAscii)),
            (b"del\x7f", Err(KeyError::NotVisibleAscii)),
            ("caf\u{e9}".as_bytes(), Err(KeyError::NotVisibleAscii)),
            (b"\xff", Err(KeyError::NotVisibleAscii)),
        ];
        for (key, expected) in table {
            assert_eq!(validate_key(key).map(|_| ()), *expected, "{key:?}");
        }
    }

    #[test]
    fn a_key_header_must_be_there_once() {
        let mut headers = HeaderMap::new();
        assert_eq!(key_from_headers(&headers), Err(KeyError::Missing));
        headers.append(IDEMPOTENCY_KEY, "one".parse().unwrap());
        assert_eq!(key_from_headers(&headers), Ok("one"));
        headers.append(IDEMPOTENCY_KEY, "two".parse().unwrap());
        assert_eq!(key_from_headers(&headers), Err(KeyError::Repeated));
    }

    #[test]
    fn the_default_scope_prefers_authorization_then_the_api_key() {
        let parts = |headers: &[(&str, &str)]| {
            let mut builder = http::Request::post("/");
            for (name, value) in headers {
                builder = builder.header(*name, *value);
            }
            builder.body(()).unwrap().into_parts().0
        };
        assert_eq!(default_scope(&parts(&[])), b"");
        assert_eq!(default_scope(&parts(&[("x-api-key", "k1")])), b"k1");
        assert_eq!(
            default_scope(&parts(&[
                ("x-api-key", "k1"),
                ("authorization", "Bearer t")
            ])),
            b"Bearer t"
        );
    }

    #[test]
    fn scoped_keys_differ_by_scope_and_hide_it() {
        let a = ScopedKey::new(b"Bearer alice", "k");
        let b = ScopedKey::new(b"Bearer bob", "k");
        assert_ne!(a, b);
        assert_eq!(a, ScopedKey::new(b"Bearer alice", "k"));
        assert!(!a.to_string().contains("alice"));
        assert!(a.to_string().ends_with(":k"));
    }
}
