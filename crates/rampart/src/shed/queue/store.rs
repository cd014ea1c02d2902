//! The queue's pure core: one FIFO lane per priority, a shared capacity, and the
//! overflow policies, over any job type and plain nanosecond timestamps.

use std::collections::VecDeque;

use super::config::Overflow;
use super::task::DropReason;
use crate::shed::Priority;

/// A queued job with its arrival order and time.
#[derive(Debug)]
pub(super) struct Entry<J> {
    /// Arrival order, unique and increasing over the queue's life.
    pub(super) seq: u64,
    /// Arrival time, in the queue clock's nanoseconds.
    pub(super) at: u64,
    pub(super) job: J,
}

/// A job the queue gave up, with its priority and why.
pub(super) type Evicted<J> = (Priority, Entry<J>, DropReason);

/// What became of a job offered to the store.
#[derive(Debug)]
pub(super) enum Push<J> {
    /// Queued with this arrival number.
    Queued(u64),
    /// Not queued: the job comes back with why.
    Refused(J, DropReason),
}

/// Jobs waiting for a worker: highest priority first, FIFO within a priority.
#[derive(Debug)]
pub(super) struct Store<J> {
    /// One lane per priority, by [`Priority::rank`] (0 is `Critical`).
    lanes: [VecDeque<Entry<J>>; 4],
    len: usize,
    capacity: usize,
    next_seq: u64,
}

impl<J> Store<J> {
    pub(super) fn new(capacity: usize) -> Self {
        Store {
            lanes: Default::default(),
            len: 0,
            capacity,
            next_seq: 0,
        }
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Jobs queued per priority, by rank.
    pub(super) fn lens(&self) -> [usize; 4] {
        [0, 1, 2, 3].map(|i| self.lanes[i].len())
    }

    /// Offers `job` of `priority` at time `now`. When the store is full, first drops
    /// jobs older than `max_age` (if set), then applies `overflow`; every job given up
    /// to make room goes to `evicted`.
    pub(super) fn push(
        &mut self,
        priority: Priority,
        job: J,
        now: u64,
        overflow: Overflow,
        max_age: Option<u64>,
        evicted: &mut Vec<Evicted<J>>,
    ) -> Push<J> {
        if self.len >= self.capacity {
            if let Some(age) = max_age {
                self.evict_expired(now, age, evicted);
            }
        }
        if self.len >= self.capacity {
            let victim = match overflow {
                Overflow::RejectNew | Overflow::DropExpired => None,
                Overflow::DropOldest => self.oldest().map(|r| (r, DropReason::Oldest)),
                Overflow::DropNewest => self.newest().map(|r| (r, DropReason::Newest)),
                Overflow::DropLowestPriority => match self.lowest() {
                    Some(r) if r > priority.rank() => Some((r, DropReason::LowestPriority)),
                    // The newcomer would be served last of all: it is the one to go.
                    _ => return Push::Refused(job, DropReason::LowestPriority),
                },
            };
            let Some((rank, reason)) = victim else {
                return Push::Refused(job, DropReason::QueueFull);
            };
            let entry = match reason {
                DropReason::Oldest => self.lanes[rank].pop_front(),
                _ => self.lanes[rank].pop_back(),
            };
            if let Some(entry) = entry {
                self.len -= 1;
                evicted.push((Priority::ALL[rank], entry, reason));
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.lanes[priority.rank()].push_back(Entry { seq, at: now, job });
        self.len += 1;
        Push::Queued(seq)
    }

    /// The next job for a worker: the oldest of the highest priority.
    pub(super) fn pop(&mut self) -> Option<(Priority, Entry<J>)> {
        let rank = self.lanes.iter().position(|l| !l.is_empty())?;
        let entry = self.lanes[rank].pop_front()?;
        self.len -= 1;
        Some((Priority::ALL[rank], entry))
    }

    /// Takes the job `seq` of `priority` out, if it is still queued.
    pub(super) fn remove(&mut self, priority: Priority, seq: u64) -> Option<Entry<J>> {
        let lane = &mut self.lanes[priority.rank()];
        let i = lane.binary_search_by_key(&seq, |e| e.seq).ok()?;
        let entry = lane.remove(i)?;
        self.len -= 1;
        Some(entry)
    }

    /// Takes every job out, highest priority first.
    pub(super) fn drain(&mut self) -> Vec<(Priority, Entry<J>)> {
        let mut all = Vec::with_capacity(self.len);
        while let Some(next) = self.pop() {
            all.push(next);
        }
        all
    }

    /// Drops the jobs that arrived more than `max_age` before `now`: a prefix of each
    /// lane, as arrival times only grow.
    fn evict_expired(&mut self, now: u64, max_age: u64, evicted: &mut Vec<Evicted<J>>) {
        for (rank, lane) in self.lanes.iter_mut().enumerate() {
            while lane
                .front()
                .is_some_and(|e| now.saturating_sub(e.at) > max_age)
            {
                if let Some(entry) = lane.pop_front() {
                    self.len -= 1;
                    evicted.push((Priority::ALL[rank], entry, DropReason::Expired));
                }
            }
        }
    }

    /// The lane whose front arrived first.
    fn oldest(&self) -> Option<usize> {
        (0..4)
            .filter_map(|r| self.lanes[r].front().map(|e| (e.seq, r)))
            .min()
            .map(|(_, r)| r)
    }

    /// The lane whose back arrived last.
    fn newest(&self) -> Option<usize> {
        (0..4)
            .filter_map(|r| self.lanes[r].back().map(|e| (e.seq, r)))
            .max()
            .map(|(_, r)| r)
    }

    /// The lowest-priority lane with a job.
    fn lowest(&self) -> Option<usize> {
        (0..4).rev().find(|&r| !self.lanes[r].is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Priority::*;

    fn push(
        s: &mut Store<&'static str>,
        p: Priority,
        job: &'static str,
        now: u64,
        o: Overflow,
    ) -> (
        Push<&'static str>,
        Vec<(Priority, &'static str, DropReason)>,
    ) {
        let mut ev = Vec::new();
        let r = s.push(p, job, now, o, Some(100), &mut ev);
        (r, ev.into_iter().map(|(p, e, r)| (p, e.job, r)).collect())
    }

    fn order(s: &mut Store<&'static str>) -> Vec<&'static str> {
        s.drain().into_iter().map(|(_, e)| e.job).collect()
    }

    #[test]
    fn highest_priority_first_fifo_within() {
        let mut s = Store::new(10);
        for (p, j) in [
            (Low, "l1"),
            (High, "h1"),
            (Critical, "c1"),
            (Low, "l2"),
            (High, "h2"),
            (Normal, "n1"),
        ] {
            assert!(matches!(
                push(&mut s, p, j, 0, Overflow::RejectNew).0,
                Push::Queued(_)
            ));
        }
        assert_eq!(s.lens(), [1, 2, 1, 2]);
        assert_eq!(order(&mut s), ["c1", "h1", "h2", "n1", "l1", "l2"]);
        assert_eq!(s.len(), 0);
    }

    #[test]
    fn each_overflow_policy_picks_its_victim() {
        let fill = |o| {
            let mut s = Store::new(3);
            push(&mut s, Normal, "n-old", 0, o);
            push(&mut s, Low, "l", 1, o);
            push(&mut s, Normal, "n-new", 2, o);
            s
        };
        let mut s = fill(Overflow::RejectNew);
        let (r, ev) = push(&mut s, High, "x", 3, Overflow::RejectNew);
        assert!(matches!(r, Push::Refused("x", DropReason::QueueFull)));
        assert!(ev.is_empty());

        let mut s = fill(Overflow::DropOldest);
        let (_, ev) = push(&mut s, High, "x", 3, Overflow::DropOldest);
        assert_eq!(ev, [(Normal, "n-old", DropReason::Oldest)]);
        assert_eq!(order(&mut s), ["x", "n-new", "l"]);

        let mut s = fill(Overflow::DropNewest);
        let (_, ev) = push(&mut s, Low, "x", 3, Overflow::DropNewest);
        assert_eq!(ev, [(Normal, "n-new", DropReason::Newest)]);
        assert_eq!(order(&mut s), ["n-old", "l", "x"]);

        let mut s = fill(Overflow::DropLowestPriority);
        let (_, ev) = push(&mut s, Normal, "x", 3, Overflow::DropLowestPriority);
        assert_eq!(ev, [(Low, "l", DropReason::LowestPriority)]);
        let (r, ev) = push(&mut s, Normal, "y", 4, Overflow::DropLowestPriority);
        assert!(matches!(r, Push::Refused("y", DropReason::LowestPriority)));
        assert!(ev.is_empty());
        assert_eq!(order(&mut s), ["n-old", "n-new", "x"]);

        let mut s = fill(Overflow::DropExpired);
        let (r, _) = push(&mut s, High, "x", 100, Overflow::DropExpired);
        assert!(matches!(r, Push::Refused("x", DropReason::QueueFull)));
        let (_, ev) = push(&mut s, High, "x", 101, Overflow::DropExpired);
        assert_eq!(ev, [(Normal, "n-old", DropReason::Expired)]);
        let (_, ev) = push(&mut s, High, "y", 500, Overflow::DropExpired);
        assert_eq!(ev.len(), 3);
        assert_eq!(order(&mut s), ["y"]);
    }

    #[test]
    fn removes_by_arrival_number() {
        let mut s = Store::new(5);
        let seqs: Vec<u64> = ["a", "b", "c"]
            .map(|j| match push(&mut s, Low, j, 0, Overflow::RejectNew).0 {
                Push::Queued(seq) => seq,
                Push::Refused(..) => unreachable!(),
            })
            .into();
        assert_eq!(s.remove(Low, seqs[1]).map(|e| e.job), Some("b"));
        assert!(s.remove(Low, seqs[1]).is_none());
        assert!(s.remove(High, seqs[0]).is_none());
        assert_eq!(order(&mut s), ["a", "c"]);
    }
}
