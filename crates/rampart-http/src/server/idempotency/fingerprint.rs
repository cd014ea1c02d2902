//! What makes two requests "the same payload": a SHA-256 [`Fingerprint`] of the method,
//! the path with its query, and the body.
//!
//! SHA-256 rather than a fast in-process hasher: a shared store compares fingerprints
//! made by other instances and by earlier versions of this one, so the hash must be the
//! same everywhere and forever (in-process hashers such as foldhash or SipHash are seeded
//! per process), and a client must not be able to craft a different body that passes for
//! the first one. Hashing a 1 MiB body takes about a millisecond, next to which the
//! handler that an idempotency key protects is usually slow.

use std::fmt;

use http::{Method, Uri};
use sha2::{Digest, Sha256};

/// The SHA-256 digest of a request's method, path and query, and body.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint of a request. Each part is prefixed with its length, so that no
    /// two different requests hash the same bytes.
    pub fn of(method: &Method, uri: &Uri, body: &[u8]) -> Self {
        let target = uri.path_and_query().map_or("/", |pq| pq.as_str());
        let mut hash = Sha256::new();
        for part in [method.as_str().as_bytes(), target.as_bytes(), body] {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part);
        }
        Fingerprint(hash.finalize().into())
    }

    /// A fingerprint from its 32 bytes (as a shared store reads it back).
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Fingerprint(bytes)
    }

    /// Its 32 bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Fingerprint(")?;
        for byte in &self.0[..8] {
            write!(f, "{byte:02x}")?;
        }
        f.write_str("..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(method: &str, uri: &str, body: &[u8]) -> Fingerprint {
        Fingerprint::of(&method.parse().unwrap(), &uri.parse().unwrap(), body)
    }

    #[test]
    fn every_part_counts() {
        let base = fp("POST", "/charges?x=1", b"amount=7");
        assert_eq!(base, fp("POST", "/charges?x=1", b"amount=7"));
        assert_ne!(base, fp("PATCH", "/charges?x=1", b"amount=7"));
        assert_ne!(base, fp("POST", "/charges?x=2", b"amount=7"));
        assert_ne!(base, fp("POST", "/charges", b"amount=7"));
        assert_ne!(base, fp("POST", "/charges?x=1", b"amount=8"));
        assert_ne!(base, fp("POST", "/charges?x=1", b""));
    }

    #[test]
    fn parts_do_not_run_into_each_other() {
        assert_ne!(fp("POST", "/ab", b"c"), fp("POST", "/a", b"bc"));
    }

    #[test]
    fn an_absolute_uri_hashes_its_path_and_query() {
        assert_eq!(
            fp("POST", "http://example.test/charges?x=1", b""),
            fp("POST", "/charges?x=1", b"")
        );
    }

    #[test]
    fn the_digest_is_stable() {
        // A stored fingerprint must still match after an upgrade: SHA-256 of each part
        // after its length as 8 big-endian bytes.
        let hex: String = fp("POST", "/charges?x=1", b"amount=7")
            .as_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "0a5356216d2f6ece2b76c16779381e24bf84403922218e8d17283435e3bc90f7"
        );
        let bytes = *fp("POST", "/", b"").as_bytes();
        assert_eq!(Fingerprint::from_bytes(bytes), fp("POST", "/", b""));
    }
}
