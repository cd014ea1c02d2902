//! The storage behind idempotency keys: [`IdempotencyStore`], what it answers
//! ([`Begin`]), what it keeps ([`StoredResponse`]) and how it fails ([`StoreError`]).
//!
//! A store holds one entry per [`ScopedKey`]: first *in progress* (owned by the request
//! that began it, through a [`Lease`]), then *completed* with the response to replay,
//! until its time to live runs out. The trait is object safe, so a service holds an
//! `Arc<dyn IdempotencyStore>`: the in-memory [`MemoryStore`](super::MemoryStore) now, a
//! shared store (Redis) later.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};

use super::fingerprint::Fingerprint;
use super::key::ScopedKey;

/// The boxed future a store method returns (object safe, `Send`).
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Where idempotency keys and the responses they produced are kept.
///
/// Every method is atomic for one key: two concurrent [`begin`](Self::begin)s for the
/// same key never both see [`Begin::Started`].
pub trait IdempotencyStore: Send + Sync + fmt::Debug {
    /// Claims `key` for a request whose payload has `fingerprint`, for `ttl`.
    ///
    /// - no live entry: stores an in-progress entry and answers [`Begin::Started`] with
    ///   the lease that [`complete`](Self::complete) and [`release`](Self::release) take;
    /// - a live entry with another fingerprint: [`Begin::Mismatch`] (in progress or not);
    /// - an in-progress entry with this fingerprint: [`Begin::InProgress`];
    /// - a completed entry with this fingerprint: [`Begin::Completed`] with its response.
    ///
    /// # Errors
    ///
    /// A [`StoreError`] when the store cannot answer (unreachable, full); the request is
    /// then refused, never run.
    fn begin<'a>(
        &'a self,
        key: &'a ScopedKey,
        fingerprint: &'a Fingerprint,
        ttl: Duration,
    ) -> StoreFuture<'a, Begin>;

    /// Turns the in-progress entry held by `lease` into a completed one that replays
    /// `response` for `ttl` from now. Does nothing when `lease` no longer holds the entry
    /// (it expired and another request took the key).
    ///
    /// # Errors
    ///
    /// A [`StoreError`] when the store cannot keep the response.
    fn complete<'a>(
        &'a self,
        key: &'a ScopedKey,
        lease: Lease,
        response: StoredResponse,
        ttl: Duration,
    ) -> StoreFuture<'a, ()>;

    /// Removes the in-progress entry held by `lease`, so that the key is new again. Does
    /// nothing when `lease` no longer holds the entry.
    ///
    /// # Errors
    ///
    /// A [`StoreError`] when the store cannot be reached.
    fn release<'a>(&'a self, key: &'a ScopedKey, lease: Lease) -> StoreFuture<'a, ()>;
}

/// What [`IdempotencyStore::begin`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Begin {
    /// The key was free and is now in progress, held by this lease: run the request.
    Started(Lease),
    /// Another request with the same key and payload is running (409).
    InProgress,
    /// A request with the same key and payload completed: replay its response.
    Completed(StoredResponse),
    /// The key was used with another payload (422).
    Mismatch,
}

/// The proof that one request holds an in-progress entry, minted by the store.
///
/// A store makes leases unique enough that a request whose entry expired and was taken
/// by another cannot complete or release the newcomer's entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Lease(u64);

impl Lease {
    /// A lease with this value (a counter, or a random number in a shared store).
    pub const fn new(value: u64) -> Self {
        Lease(value)
    }

    /// Its value.
    pub const fn get(self) -> u64 {
        self.0
    }
}

/// A completed request's response as it is kept and replayed: status, headers, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    /// The status.
    pub status: StatusCode,
    /// The headers, as the handler wrote them.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

impl StoredResponse {
    /// The bytes this response takes in a store, roughly: body, header names and values.
    pub fn size(&self) -> usize {
        let headers: usize = self
            .headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len())
            .sum();
        self.body.len() + headers
    }
}

/// Why a store could not answer.
#[derive(Debug)]
pub struct StoreError {
    kind: StoreErrorKind,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

/// The kinds of [`StoreError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// The store holds as many keys as it may.
    Full,
    /// The store could not be reached or failed.
    Unavailable,
}

impl StoreError {
    /// The store is full.
    pub fn full() -> Self {
        StoreError {
            kind: StoreErrorKind::Full,
            source: None,
        }
    }

    /// The store failed with `source`.
    pub fn unavailable(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        StoreError {
            kind: StoreErrorKind::Unavailable,
            source: Some(source.into()),
        }
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.kind, &self.source) {
            (StoreErrorKind::Full, _) => f.write_str("idempotency store full"),
            (StoreErrorKind::Unavailable, Some(source)) => {
                write!(f, "idempotency store unavailable: {source}")
            }
            (StoreErrorKind::Unavailable, None) => f.write_str("idempotency store unavailable"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}
