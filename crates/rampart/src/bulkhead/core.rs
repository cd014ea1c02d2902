//! The shared state of an async bulkhead: one atomic word that admits and releases
//! without a lock, and a mutex-guarded queue used only when calls wait.
//!
//! # The word
//!
//! The low 32 bits count active permits (granted to waiters included); bit 62 says the
//! bulkhead is closed, bit 63 that calls are waiting. Both flags sit above any count, so
//! one comparison, `word >= max`, refuses a call when the bulkhead is full, closed, or
//! has waiters (a newcomer never overtakes a queued call).
//!
//! # The rules that keep permits exact
//!
//! - Admitting is a CAS from `word` to `word + 1` while `word < max`.
//! - Releasing is one `fetch_sub(1)`. If the word it replaced had the waiter flag, the
//!   releaser then locks the queue and hands a permit to the first waiter (adding 1
//!   back), or does nothing more if no one waits any longer (they left, or a close
//!   turned them away, in the meantime).
//! - The waiter flag changes only under the lock, and is set exactly while some entry
//!   waits. A caller queues under the lock after a CAS that sets the flag on a word
//!   that is full, so a release either happened before (the CAS fails, and the caller
//!   takes the freed permit) or sees the flag and comes to the lock for it.
//! - A waiter that leaves after being granted (dropped before it noticed) releases the
//!   permit again, which hands it to the next waiter.

use std::fmt;
use std::sync::OnceLock;
use std::task::Waker;
use std::time::Duration;

use super::config::BulkheadConfig;
use super::queue::{Fate, Queue};
use super::snapshot::BulkheadSnapshot;
use crate::error::{Rejection, RejectionKind};
use crate::event::{Event, EventKind, Listener};
use crate::sync::{lock, AtomicU64, Mutex, Ordering};

/// The bits of the word that count active permits.
const ACTIVE: u64 = u32::MAX as u64;
/// Set once the bulkhead is closed.
const CLOSED: u64 = 1 << 62;
/// Set while at least one call waits in the queue.
const WAITERS: u64 = 1 << 63;

/// What a queued waiter learns when it looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    /// It holds a permit.
    Admitted,
    /// It is still waiting.
    Waiting,
    /// It is turned away (closed, or its wait was over).
    Rejected,
}

/// How a first attempt to wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Enqueued {
    /// A permit was free after all.
    Admitted,
    /// Queued under this id.
    Queued(u64),
    /// The queue is full or the bulkhead closed.
    Rejected,
}

/// The state shared by a bulkhead's clones and its owned permits.
pub(crate) struct Inner {
    pub(super) name: std::sync::Arc<str>,
    pub(super) config: BulkheadConfig,
    max: u64,
    word: AtomicU64,
    queue: Mutex<Queue>,
    /// A copy of the queue's waiting count, for snapshots without the lock.
    queued: AtomicU64,
    rejected: AtomicU64,
    pub(super) listener: OnceLock<std::sync::Arc<dyn Listener>>,
}

impl Inner {
    pub(super) fn new(name: &str, config: BulkheadConfig) -> Self {
        Inner {
            name: name.into(),
            config,
            max: u64::from(config.max_concurrent),
            word: AtomicU64::new(0),
            queue: Mutex::new(Queue::default()),
            queued: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            listener: OnceLock::new(),
        }
    }

    /// Takes a permit if one is free and no one waits; never waits, never locks.
    #[inline(always)]
    pub(super) fn try_take(&self) -> bool {
        let mut w = self.word.load(Ordering::Relaxed);
        while w < self.max {
            match self
                .word
                .compare_exchange_weak(w, w + 1, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => w = now,
            }
        }
        false
    }

    /// Gives a permit back, to the first waiter if any.
    #[inline(always)]
    pub(super) fn release(&self) {
        let before = self.word.fetch_sub(1, Ordering::Release);
        if before & WAITERS != 0 {
            self.hand_over();
        }
    }

    /// The slow half of a release when calls wait: the permit just given back goes to
    /// the first waiter, if one still waits.
    #[cold]
    fn hand_over(&self) {
        let waker = {
            let mut q = lock(&self.queue);
            match q.grant_first() {
                Some(waker) => {
                    self.word.fetch_add(1, Ordering::Acquire);
                    self.after_queue_change(&q);
                    waker
                }
                None => None,
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Keeps the waiter flag and the queued copy in line with the queue (under its lock).
    fn after_queue_change(&self, q: &Queue) {
        let waiting = q.waiting();
        self.queued.store(waiting, Ordering::Relaxed);
        if waiting == 0 {
            self.word.fetch_and(!WAITERS, Ordering::AcqRel);
        }
    }

    /// Queues a call that found no free permit, unless one is free after all, the queue
    /// is full or the bulkhead is closed.
    #[cold]
    pub(super) fn enqueue(&self, waker: &Waker) -> Enqueued {
        let mut q = lock(&self.queue);
        let mut w = self.word.load(Ordering::Acquire);
        loop {
            if w & CLOSED != 0 {
                return Enqueued::Rejected;
            }
            if w & WAITERS == 0 && w < self.max {
                match self
                    .word
                    .compare_exchange(w, w + 1, Ordering::Acquire, Ordering::Acquire)
                {
                    Ok(_) => return Enqueued::Admitted,
                    Err(now) => w = now,
                }
                continue;
            }
            if q.waiting() >= u64::from(self.config.max_queue) {
                return Enqueued::Rejected;
            }
            if w & WAITERS == 0 {
                // Full and nobody queued yet: raise the flag on exactly this word, so a
                // release in between makes the CAS fail and the loop take its permit.
                if let Err(now) =
                    self.word
                        .compare_exchange(w, w | WAITERS, Ordering::AcqRel, Ordering::Acquire)
                {
                    w = now;
                    continue;
                }
            }
            let id = q.push(waker.clone());
            self.queued.store(q.waiting(), Ordering::Relaxed);
            return Enqueued::Queued(id);
        }
    }

    /// Looks at waiter `id`: a granted or turned-away waiter leaves the queue; one still
    /// waiting leaves it if `give_up` (its wait is over), else keeps `waker` for later.
    pub(super) fn poll_queued(&self, id: u64, waker: &Waker, give_up: bool) -> Outcome {
        let mut q = lock(&self.queue);
        let fate = match q.check(id, waker) {
            Some(Fate::Waiting) if !give_up => return Outcome::Waiting,
            Some(_) => q.remove(id),
            None => None,
        };
        self.after_queue_change(&q);
        match fate {
            Some(Fate::Granted) => Outcome::Admitted,
            _ => Outcome::Rejected,
        }
    }

    /// Takes waiter `id` out of the queue when its caller is dropped; a permit granted to
    /// it meanwhile goes on to the next waiter.
    pub(super) fn leave(&self, id: u64) {
        let fate = {
            let mut q = lock(&self.queue);
            let fate = q.remove(id);
            self.after_queue_change(&q);
            fate
        };
        if fate == Some(Fate::Granted) {
            self.release();
        }
    }

    /// Refuses new calls and turns every waiter away; permits out stay valid.
    pub(super) fn close(&self) {
        let wakers = {
            let mut q = lock(&self.queue);
            self.word.fetch_or(CLOSED, Ordering::AcqRel);
            let wakers = q.close();
            self.after_queue_change(&q);
            wakers
        };
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Counts and reports a rejection and builds it. `waited` is the wait that ended
    /// without a permit, if the call queued until its maximum wait.
    #[cold]
    pub(super) fn reject(&self, waited: Option<Duration>) -> Rejection {
        self.rejected.fetch_add(1, Ordering::Relaxed);
        if let Some(l) = self.listener.get() {
            let s = self.snapshot();
            l.on_event(&Event {
                pipeline: &self.name,
                kind: EventKind::BulkheadRejected {
                    max_concurrent: s.max_concurrent,
                    active: s.active,
                    queued: s.queued,
                    waited,
                },
            });
        }
        Rejection::new(
            std::sync::Arc::clone(&self.name),
            "bulkhead",
            RejectionKind::BulkheadFull,
        )
    }

    /// The figures now, read without a lock.
    pub(super) fn snapshot(&self) -> BulkheadSnapshot {
        let w = self.word.load(Ordering::Acquire);
        let narrow = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
        BulkheadSnapshot {
            max_concurrent: self.config.max_concurrent,
            active: narrow(w & ACTIVE),
            queued: narrow(self.queued.load(Ordering::Relaxed)),
            max_queue: self.config.max_queue,
            rejected: self.rejected.load(Ordering::Relaxed),
            closed: w & CLOSED != 0,
        }
    }
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bulkhead")
            .field("name", &self.name)
            .field("config", &self.config)
            .field("snapshot", &self.snapshot())
            .finish_non_exhaustive()
    }
}
