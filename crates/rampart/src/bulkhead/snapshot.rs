//! What the bulkheads report about themselves.

/// An async bulkhead's figures at one moment, for health checks and dashboards (the
/// seeds' `pool_size=10 active=10 queued=0 rejected=1`).
///
/// Read without a lock, one figure at a time, so under concurrent calls they may be a
/// call apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BulkheadSnapshot {
    /// Calls admitted at once (the configured maximum).
    pub max_concurrent: u32,
    /// Permits held now (the `bulkhead_active_count` gauge).
    pub active: u32,
    /// Calls waiting for a permit now.
    pub queued: u32,
    /// Calls that may wait (the configured maximum; 0: rejects at once).
    pub max_queue: u32,
    /// Calls rejected since the bulkhead was built (the `bulkhead_rejected_total`
    /// counter).
    pub rejected: u64,
    /// True once [`close`](super::Bulkhead::close) was called.
    pub closed: bool,
}

impl BulkheadSnapshot {
    /// Permits free now.
    pub const fn available(&self) -> u32 {
        self.max_concurrent.saturating_sub(self.active)
    }
}

/// A blocking bulkhead's figures at one moment.
///
/// Read under the pool's lock, so the thread figures agree with each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BlockingSnapshot {
    /// Threads alive in the pool now.
    pub threads: u32,
    /// Threads running a job now (the `bulkhead_active_count` gauge).
    pub busy: u32,
    /// Jobs accepted and not yet started.
    pub queued: u32,
    /// Jobs rejected since the pool was built (the `bulkhead_rejected_total` counter).
    pub rejected: u64,
    /// The most threads the pool runs.
    pub max_threads: u32,
    /// Threads kept alive when idle.
    pub core_threads: u32,
    /// Jobs that may wait for a thread.
    pub queue_capacity: u32,
}
