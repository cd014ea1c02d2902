//! The waiters of a full bulkhead, first in, first out: plain data kept under the
//! bulkhead's mutex.
//!
//! A waiter's entry stays in the queue until the waiter itself takes it out (when it is
//! polled, or dropped), so that a waiter always learns what happened to it: still
//! waiting, granted a permit by a release, or turned away by a close. Entries are pushed
//! with increasing ids and never reordered, so an entry is found by binary search.

use std::collections::VecDeque;
use std::task::Waker;

/// What happened to a waiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fate {
    /// Still waiting for a permit.
    Waiting,
    /// A release handed it a permit: it holds one, counted as active.
    Granted,
    /// The bulkhead was closed while it waited.
    Closed,
}

#[derive(Debug)]
struct Entry {
    id: u64,
    fate: Fate,
    waker: Option<Waker>,
}

/// The waiter queue.
#[derive(Debug, Default)]
pub(super) struct Queue {
    entries: VecDeque<Entry>,
    next_id: u64,
    /// Entries whose fate is [`Fate::Waiting`].
    waiting: u64,
}

impl Queue {
    /// Waiters still waiting (granted and closed entries not yet collected are not).
    pub(super) fn waiting(&self) -> u64 {
        self.waiting
    }

    /// Appends a waiting entry and returns its id.
    pub(super) fn push(&mut self, waker: Waker) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.entries.push_back(Entry {
            id,
            fate: Fate::Waiting,
            waker: Some(waker),
        });
        self.waiting += 1;
        id
    }

    fn index(&self, id: u64) -> Option<usize> {
        self.entries.binary_search_by_key(&id, |e| e.id).ok()
    }

    /// The fate of waiter `id`; a waiter still waiting has its waker replaced by `waker`
    /// (unless it would wake the same task). `None` if there is no such entry.
    pub(super) fn check(&mut self, id: u64, waker: &Waker) -> Option<Fate> {
        let i = self.index(id)?;
        let e = &mut self.entries[i];
        if e.fate == Fate::Waiting {
            match &mut e.waker {
                Some(w) if w.will_wake(waker) => {}
                slot => *slot = Some(waker.clone()),
            }
        }
        Some(e.fate)
    }

    /// Takes waiter `id`'s entry out and returns its fate.
    pub(super) fn remove(&mut self, id: u64) -> Option<Fate> {
        let i = self.index(id)?;
        let e = self.entries.remove(i)?;
        if e.fate == Fate::Waiting {
            self.waiting -= 1;
        }
        Some(e.fate)
    }

    /// Grants a permit to the first waiting entry, returning its waker (`Some(None)` if
    /// it has none); `None` if no entry is waiting.
    pub(super) fn grant_first(&mut self) -> Option<Option<Waker>> {
        if self.waiting == 0 {
            return None;
        }
        let e = self.entries.iter_mut().find(|e| e.fate == Fate::Waiting)?;
        e.fate = Fate::Granted;
        self.waiting -= 1;
        Some(e.waker.take())
    }

    /// Turns every waiting entry away and returns their wakers.
    pub(super) fn close(&mut self) -> Vec<Waker> {
        self.waiting = 0;
        self.entries
            .iter_mut()
            .filter(|e| e.fate == Fate::Waiting)
            .filter_map(|e| {
                e.fate = Fate::Closed;
                e.waker.take()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noop() -> Waker {
        Waker::noop().clone()
    }

    #[test]
    fn grants_in_arrival_order_and_skips_entries_already_decided() {
        let mut q = Queue::default();
        let ids: Vec<u64> = (0..4).map(|_| q.push(noop())).collect();
        assert_eq!(q.waiting(), 4);
        assert!(q.grant_first().is_some());
        assert_eq!(q.check(ids[0], &noop()), Some(Fate::Granted));
        // The second waiter leaves; the next grant goes to the third.
        assert_eq!(q.remove(ids[1]), Some(Fate::Waiting));
        assert!(q.grant_first().is_some());
        assert_eq!(q.check(ids[2], &noop()), Some(Fate::Granted));
        assert_eq!(q.waiting(), 1);
        assert_eq!(q.remove(ids[0]), Some(Fate::Granted));
        assert_eq!(q.remove(ids[0]), None);
        assert_eq!(q.close().len(), 1);
        assert_eq!(q.waiting(), 0);
        assert_eq!(q.remove(ids[3]), Some(Fate::Closed));
        assert!(q.grant_first().is_none());
        assert_eq!(q.remove(ids[2]), Some(Fate::Granted));
        assert!(q.entries.is_empty());
    }
}
