//! [`LeaseGuard`]: an in-progress key that is released unless its response was stored,
//! including when the request's future is dropped or its handler panics.

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Waker};

use super::key::ScopedKey;
use super::store::{IdempotencyStore, Lease, StoreError};

/// The in-progress entry one request holds. Dropped without [`keep`](Self::keep), it
/// releases the entry: at once when the store answers without waiting (the in-memory
/// store), else on a task spawned on the current tokio runtime.
#[must_use = "dropping the guard releases the key"]
pub(crate) struct LeaseGuard {
    held: Option<(Arc<dyn IdempotencyStore>, ScopedKey, Lease)>,
}

impl LeaseGuard {
    pub(crate) fn new(store: Arc<dyn IdempotencyStore>, key: ScopedKey, lease: Lease) -> Self {
        LeaseGuard {
            held: Some((store, key, lease)),
        }
    }

    /// The store, key and lease, for `complete`; the guard no longer releases anything.
    pub(crate) fn keep(mut self) -> (Arc<dyn IdempotencyStore>, ScopedKey, Lease) {
        match self.held.take() {
            Some(held) => held,
            None => unreachable!("a guard is kept or dropped once"),
        }
    }

    /// Releases the entry and waits for the store to answer.
    pub(crate) async fn release(self) -> Result<(), StoreError> {
        let (store, key, lease) = self.keep();
        store.release(&key, lease).await
    }
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        let Some((store, key, lease)) = self.held.take() else {
            return;
        };
        let mut release = Box::pin(async move {
            // A failure here cannot be answered to anyone: the entry then lives until
            // its time to live runs out.
            let _ = store.release(&key, lease).await;
        });
        let mut cx = Context::from_waker(Waker::noop());
        if release.as_mut().poll(&mut cx).is_ready() {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(release);
        }
    }
}

/// Polls a future once; used by tests of stores that answer at once.
#[cfg(test)]
pub(crate) fn now_or_never<F: Future>(future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        std::task::Poll::Ready(out) => Some(out),
        std::task::Poll::Pending => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::idempotency::{Begin, Fingerprint, MemoryStore};
    use std::time::Duration;

    #[test]
    fn a_dropped_guard_frees_the_key_at_once() {
        let store = Arc::new(MemoryStore::new());
        let key = ScopedKey::new(b"", "k");
        let fp = Fingerprint::of(&http::Method::POST, &"/".parse().unwrap(), b"");
        let ttl = Duration::from_secs(60);
        let Some(Ok(Begin::Started(lease))) = now_or_never(store.begin(&key, &fp, ttl)) else {
            panic!("the key is new");
        };
        let guard = LeaseGuard::new(store.clone(), key.clone(), lease);
        drop(guard);
        assert!(store.is_empty());
    }
}
