//! The quota in force, readable in one consistent piece without a lock while
//! [`set_quota`](super::RateLimiter::set_quota) may replace it.
//!
//! A sequence lock over two atomics: the writer (one at a time, under a mutex) makes
//! the sequence odd, stores the emission interval and the window, and makes it even
//! again; a reader loads the sequence, both values and the sequence again, and retries
//! if it changed or was odd. A reader therefore never decides with one quota's interval
//! and another's window. Reading costs four plain loads on x86; writing is rare.

use super::gcra::Gcra;
use crate::sync::{lock, AtomicU64, Mutex, Ordering};

#[cfg(not(rampart_loom))]
use std::sync::atomic::fence;

#[cfg(rampart_loom)]
use loom::sync::atomic::fence;

/// Waits a moment for a writer to finish.
#[inline]
fn pause() {
    #[cfg(not(rampart_loom))]
    std::hint::spin_loop();
    #[cfg(rampart_loom)]
    loom::thread::yield_now();
}

/// A [`Gcra`] quota shared by readers and an occasional writer.
pub(crate) struct QuotaCell {
    seq: AtomicU64,
    t: AtomicU64,
    window: AtomicU64,
    writer: Mutex<()>,
}

impl QuotaCell {
    pub(crate) fn new(q: Gcra) -> Self {
        QuotaCell {
            seq: AtomicU64::new(0),
            t: AtomicU64::new(q.t),
            window: AtomicU64::new(q.window),
            writer: Mutex::new(()),
        }
    }

    /// The quota in force.
    #[inline]
    pub(crate) fn load(&self) -> Gcra {
        loop {
            let before = self.seq.load(Ordering::Acquire);
            let q = Gcra {
                t: self.t.load(Ordering::Relaxed),
                window: self.window.load(Ordering::Relaxed),
            };
            fence(Ordering::Acquire);
            if before & 1 == 0 && self.seq.load(Ordering::Relaxed) == before {
                return q;
            }
            pause();
        }
    }

    /// Replaces the quota; readers see the old one or the new one, never a mix.
    pub(crate) fn store(&self, q: Gcra) {
        let _writer = lock(&self.writer);
        let s = self.seq.load(Ordering::Relaxed);
        self.seq.store(s.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        self.t.store(q.t, Ordering::Relaxed);
        self.window.store(q.window, Ordering::Relaxed);
        self.seq.store(s.wrapping_add(2), Ordering::Release);
    }
}
