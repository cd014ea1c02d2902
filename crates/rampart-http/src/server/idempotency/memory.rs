//! [`MemoryStore`]: idempotency keys in this process, behind one mutex, bounded.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rampart::clock::{default_clock, duration_to_nanos, Clock};

use super::fingerprint::Fingerprint;
use super::key::ScopedKey;
use super::store::{Begin, IdempotencyStore, Lease, StoreError, StoreFuture, StoredResponse};

/// How often, at most, a store sweeps expired entries when it is not full.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// An [`IdempotencyStore`] in this process's memory, for one instance (a fleet behind a
/// load balancer needs a shared store).
///
/// Entries expire by the store's [`Clock`] (tokio's by default, so paused time drives
/// it in tests). The store holds at most `capacity` entries: expired ones are swept
/// when it is full and once a minute, and a new key that still finds it full is refused
/// with [`StoreError::full`] (the request gets 503) rather than evicting a live key,
/// whose request could then run twice. Memory is bounded by `capacity` times the
/// largest response the service stores.
///
/// # Defaults
///
/// | setting | default |
/// |---|---|
/// | capacity | 10,000 entries |
/// | clock | [`default_clock`](rampart::clock::default_clock): the time-stamp counter, or tokio's clock where time is paused |
///
/// # Examples
///
/// ```
/// use rampart_http::server::idempotency::MemoryStore;
/// use std::num::NonZeroUsize;
///
/// let store = MemoryStore::new().with_capacity(NonZeroUsize::new(100_000).unwrap());
/// assert_eq!(store.len(), 0);
/// ```
#[derive(Debug)]
pub struct MemoryStore {
    state: Mutex<State>,
    clock: Arc<dyn Clock>,
    capacity: usize,
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<ScopedKey, Entry>,
    next_lease: u64,
    last_sweep: u64,
}

#[derive(Debug)]
struct Entry {
    fingerprint: Fingerprint,
    expires_at: u64,
    stage: Stage,
}

#[derive(Debug)]
enum Stage {
    Running(Lease),
    Done(StoredResponse),
}

impl MemoryStore {
    /// An empty store of 10,000 entries on the [default clock](rampart::clock::default_clock).
    pub fn new() -> Self {
        MemoryStore {
            state: Mutex::default(),
            clock: default_clock(),
            capacity: 10_000,
        }
    }

    /// The same store holding at most `capacity` entries.
    pub fn with_capacity(mut self, capacity: NonZeroUsize) -> Self {
        self.capacity = capacity.get();
        self
    }

    /// The same store on `clock` (a [`ManualClock`](rampart::clock::ManualClock) in
    /// tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The entries held, expired ones not yet swept included.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether the store holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing here panics while holding the lock; a poisoned map is still whole.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn begin_now(
        &self,
        key: &ScopedKey,
        fingerprint: &Fingerprint,
        ttl: Duration,
    ) -> Result<Begin, StoreError> {
        let now = self.clock.now_nanos();
        let mut state = self.lock();
        if let Some(entry) = state.entries.get(key).filter(|e| e.expires_at > now) {
            return Ok(match &entry.stage {
                _ if entry.fingerprint != *fingerprint => Begin::Mismatch,
                Stage::Running(_) => Begin::InProgress,
                Stage::Done(response) => Begin::Completed(response.clone()),
            });
        }
        let full = state.entries.len() >= self.capacity;
        if full || now.saturating_sub(state.last_sweep) >= duration_to_nanos(SWEEP_EVERY) {
            state.entries.retain(|_, e| e.expires_at > now);
            state.last_sweep = now;
        }
        if !state.entries.contains_key(key) && state.entries.len() >= self.capacity {
            return Err(StoreError::full());
        }
        state.next_lease = state.next_lease.wrapping_add(1);
        let lease = Lease::new(state.next_lease);
        let entry = Entry {
            fingerprint: *fingerprint,
            expires_at: now.saturating_add(duration_to_nanos(ttl)),
            stage: Stage::Running(lease),
        };
        state.entries.insert(key.clone(), entry);
        Ok(Begin::Started(lease))
    }

    fn complete_now(&self, key: &ScopedKey, lease: Lease, response: StoredResponse, ttl: Duration) {
        let now = self.clock.now_nanos();
        let mut state = self.lock();
        if let Some(entry) = state.entries.get_mut(key) {
            if matches!(entry.stage, Stage::Running(held) if held == lease) {
                entry.stage = Stage::Done(response);
                entry.expires_at = now.saturating_add(duration_to_nanos(ttl));
            }
        }
    }

    fn release_now(&self, key: &ScopedKey, lease: Lease) {
        let mut state = self.lock();
        if let Some(entry) = state.entries.get(key) {
            if matches!(entry.stage, Stage::Running(held) if held == lease) {
                state.entries.remove(key);
            }
        }
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl IdempotencyStore for MemoryStore {
    fn begin<'a>(
        &'a self,
        key: &'a ScopedKey,
        fingerprint: &'a Fingerprint,
        ttl: Duration,
    ) -> StoreFuture<'a, Begin> {
        let outcome = self.begin_now(key, fingerprint, ttl);
        Box::pin(std::future::ready(outcome))
    }

    fn complete<'a>(
        &'a self,
        key: &'a ScopedKey,
        lease: Lease,
        response: StoredResponse,
        ttl: Duration,
    ) -> StoreFuture<'a, ()> {
        self.complete_now(key, lease, response, ttl);
        Box::pin(std::future::ready(Ok(())))
    }

    fn release<'a>(&'a self, key: &'a ScopedKey, lease: Lease) -> StoreFuture<'a, ()> {
        self.release_now(key, lease);
        Box::pin(std::future::ready(Ok(())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;
    use rampart::clock::ManualClock;

    const DAY: Duration = Duration::from_secs(24 * 3600);

    fn store(capacity: usize) -> (MemoryStore, ManualClock) {
        let clock = ManualClock::new();
        let store = MemoryStore::new()
            .with_capacity(NonZeroUsize::new(capacity).unwrap())
            .with_clock(Arc::new(clock.clone()));
        (store, clock)
    }

    fn fp(body: &[u8]) -> Fingerprint {
        Fingerprint::of(&http::Method::POST, &"/".parse().unwrap(), body)
    }

    fn key(k: &str) -> ScopedKey {
        ScopedKey::new(b"caller", k)
    }

    fn created() -> StoredResponse {
        StoredResponse {
            status: StatusCode::CREATED,
            headers: http::HeaderMap::new(),
            body: "made".into(),
        }
    }

    fn started(store: &MemoryStore, k: &str, body: &[u8]) -> Lease {
        match store.begin_now(&key(k), &fp(body), DAY).unwrap() {
            Begin::Started(lease) => lease,
            other => panic!("expected a start, got {other:?}"),
        }
    }

    #[test]
    fn a_key_runs_then_replays_until_it_expires() {
        let (store, clock) = store(10);
        let lease = started(&store, "k", b"a");
        assert_eq!(
            store.begin_now(&key("k"), &fp(b"a"), DAY).unwrap(),
            Begin::InProgress
        );
        assert_eq!(
            store.begin_now(&key("k"), &fp(b"b"), DAY).unwrap(),
            Begin::Mismatch
        );
        clock.advance(Duration::from_secs(5));
        store.complete_now(&key("k"), lease, created(), DAY);
        assert_eq!(
            store.begin_now(&key("k"), &fp(b"a"), DAY).unwrap(),
            Begin::Completed(created())
        );
        assert_eq!(
            store.begin_now(&key("k"), &fp(b"b"), DAY).unwrap(),
            Begin::Mismatch
        );
        // The time to live counts from completion.
        clock.advance(DAY - Duration::from_nanos(1));
        assert!(matches!(
            store.begin_now(&key("k"), &fp(b"a"), DAY),
            Ok(Begin::Completed(_))
        ));
        clock.advance(Duration::from_nanos(1));
        started(&store, "k", b"b");
    }

    #[test]
    fn a_release_frees_the_key_only_for_its_lease() {
        let (store, clock) = store(10);
        let old = started(&store, "k", b"a");
        clock.advance(DAY);
        let new = started(&store, "k", b"a");
        assert_ne!(old, new);
        store.release_now(&key("k"), old);
        store.complete_now(&key("k"), old, created(), DAY);
        assert_eq!(
            store.begin_now(&key("k"), &fp(b"a"), DAY).unwrap(),
            Begin::InProgress
        );
        store.release_now(&key("k"), new);
        assert!(store.is_empty());
        started(&store, "k", b"a");
    }

    #[test]
    fn a_full_store_sweeps_then_refuses() {
        let (store, clock) = store(2);
        started(&store, "a", b"");
        clock.advance(Duration::from_secs(1));
        started(&store, "b", b"");
        let refused = store.begin_now(&key("c"), &fp(b""), DAY).unwrap_err();
        assert_eq!(
            refused.kind(),
            crate::server::idempotency::StoreErrorKind::Full
        );
        // Known keys still answer when the store is full.
        assert_eq!(
            store.begin_now(&key("a"), &fp(b""), DAY).unwrap(),
            Begin::InProgress
        );
        // Once "a" expired, its place is free.
        clock.advance(DAY - Duration::from_secs(1));
        started(&store, "c", b"");
        assert_eq!(store.len(), 2);
    }

    #[test]
    fn expired_entries_are_swept_within_a_minute() {
        let (store, clock) = store(100);
        for k in ["a", "b", "c"] {
            started(&store, k, b"");
        }
        clock.advance(DAY);
        started(&store, "d", b"");
        assert_eq!(store.len(), 1);
    }
}
