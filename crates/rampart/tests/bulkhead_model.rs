//! The async bulkhead against a reference model, over random sequences of acquires,
//! waits, releases, polls, drops of waiters and closes: every admission, rejection,
//! grant and wake-up is the model's, and the counters agree after every step.

mod bulkhead_support;

use std::collections::VecDeque;
use std::task::Poll;

use bulkhead_support::Caller;
use proptest::prelude::*;
use rampart::bulkhead::{Bulkhead, BulkheadConfig, BulkheadPermit};

#[derive(Debug, Clone)]
enum Op {
    TryAcquire,
    Wait,
    Release(usize),
    Poll(usize),
    Leave(usize),
    Close,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => Just(Op::TryAcquire),
        3 => Just(Op::Wait),
        3 => any::<usize>().prop_map(Op::Release),
        2 => any::<usize>().prop_map(Op::Poll),
        2 => any::<usize>().prop_map(Op::Leave),
        1 => Just(Op::Close),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Waiting,
    Granted,
    Closed,
}

/// What the bulkhead should do: permits held (granted waiters included), waiters in
/// order, and the wake-ups each waiter should have had.
struct Model {
    max: u32,
    cap: usize,
    active: u32,
    closed: bool,
    /// Live waiters in arrival order: fate and expected wake-ups.
    waiters: VecDeque<(Fate, usize)>,
}

impl Model {
    fn waiting(&self) -> usize {
        self.waiters.iter().filter(|w| w.0 == Fate::Waiting).count()
    }

    fn can_take(&self) -> bool {
        !self.closed && self.active < self.max && self.waiting() == 0
    }

    /// A permit given back: to the first waiter, else to the pool.
    fn release(&mut self) {
        match self.waiters.iter_mut().find(|w| w.0 == Fate::Waiting) {
            Some(w) => {
                w.0 = Fate::Granted;
                w.1 += 1;
            }
            None => self.active -= 1,
        }
    }
}

fn run(max: u32, cap: u32, ops: Vec<Op>) {
    let config = BulkheadConfig::new()
        .with_max_concurrent(max)
        .with_max_queue(cap);
    let b = Bulkhead::new("model", config).unwrap();
    let mut m = Model {
        max,
        cap: cap as usize,
        active: 0,
        closed: false,
        waiters: VecDeque::new(),
    };
    let mut held: Vec<BulkheadPermit> = Vec::new();
    let mut callers = VecDeque::new();
    for op in ops {
        match op {
            Op::TryAcquire => {
                let expect = m.can_take();
                match b.try_acquire() {
                    Ok(p) => held.push(p),
                    Err(_) => assert!(!expect, "refused with a free permit"),
                }
                if expect {
                    m.active += 1;
                    assert_eq!(held.len() as u32 + granted(&m), m.active);
                }
            }
            Op::Wait => {
                let mut c = Caller::new(b.acquire());
                let out = c.poll();
                if m.can_take() {
                    held.push(ready(out));
                    m.active += 1;
                } else if m.closed || m.waiting() >= m.cap {
                    assert!(matches!(out, Poll::Ready(Err(_))));
                } else {
                    assert!(out.is_pending());
                    callers.push_back(c);
                    m.waiters.push_back((Fate::Waiting, 0));
                }
            }
            Op::Release(i) if !held.is_empty() => {
                drop(held.swap_remove(i % held.len()));
                m.release();
            }
            Op::Poll(i) if !callers.is_empty() => {
                let i = i % callers.len();
                let out = callers[i].poll();
                match m.waiters[i].0 {
                    Fate::Waiting => assert!(out.is_pending()),
                    Fate::Granted => {
                        held.push(ready(out));
                        callers.remove(i);
                        m.waiters.remove(i);
                    }
                    Fate::Closed => {
                        assert!(matches!(out, Poll::Ready(Err(_))));
                        callers.remove(i);
                        m.waiters.remove(i);
                    }
                }
            }
            Op::Leave(i) if !callers.is_empty() => {
                let i = i % callers.len();
                drop(callers.remove(i));
                if m.waiters.remove(i).map(|w| w.0) == Some(Fate::Granted) {
                    m.release();
                }
            }
            Op::Close => {
                b.close();
                m.closed = true;
                for w in m.waiters.iter_mut().filter(|w| w.0 == Fate::Waiting) {
                    *w = (Fate::Closed, w.1 + 1);
                }
            }
            _ => {}
        }
        let s = b.snapshot();
        assert_eq!(s.active, m.active, "active");
        assert_eq!(s.queued as usize, m.waiting(), "queued");
        assert_eq!(held.len() as u32 + granted(&m), m.active, "permits");
        let wakes: Vec<usize> = callers.iter().map(Caller::wakes).collect();
        let expected: Vec<usize> = m.waiters.iter().map(|w| w.1).collect();
        assert_eq!(wakes, expected, "wake-ups");
    }
    drop(callers);
    drop(held);
    assert_eq!(b.snapshot().active, 0, "every permit back at the end");
}

/// The permit of a call that the model says holds one.
fn ready<E: std::fmt::Debug>(out: Poll<Result<BulkheadPermit, E>>) -> BulkheadPermit {
    match out {
        Poll::Ready(r) => r.expect("admitted"),
        Poll::Pending => panic!("waits although a permit is its"),
    }
}

fn granted(m: &Model) -> u32 {
    m.waiters.iter().filter(|w| w.0 == Fate::Granted).count() as u32
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_bulkhead_follows_the_model(
        max in 1u32..4,
        cap in 0u32..4,
        ops in proptest::collection::vec(op(), 1..60),
    ) {
        run(max, cap, ops);
    }
}
