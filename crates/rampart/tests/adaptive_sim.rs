//! The adaptive limiter against a simulated server in virtual time: a deterministic
//! discrete-event loop on a `ManualClock`, no real time. The server serves `CAPACITY`
//! calls at once at its base latency; beyond that, calls queue and latency grows in
//! proportion (`base * in_flight / CAPACITY`). The client always wants more calls than
//! the limiter admits, so the limit alone decides the load.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::Duration;

use rampart::adaptive::{
    AdaptiveConfig, AdaptiveLimiter, AdaptivePermit, AimdConfig, GradientConfig,
};
use rampart::clock::{Clock, ManualClock};
use rampart::event::Recorder;

const CAPACITY: u64 = 50;

/// The server's latency for a call that starts with `in_flight` calls (itself included).
fn latency(base: Duration, in_flight: u64) -> Duration {
    base * u32::try_from(in_flight.max(CAPACITY)).unwrap() / u32::try_from(CAPACITY).unwrap()
}

/// Drives a limiter against the server.
struct Sim<'a> {
    limiter: &'a AdaptiveLimiter,
    clock: ManualClock,
    base: Duration,
    running: BinaryHeap<Reverse<(u64, u64)>>,
    permits: std::collections::HashMap<u64, AdaptivePermit<'a>>,
    next_id: u64,
}

impl<'a> Sim<'a> {
    fn new(limiter: &'a AdaptiveLimiter, clock: ManualClock, base: Duration) -> Self {
        Sim {
            limiter,
            clock,
            base,
            running: BinaryHeap::new(),
            permits: Default::default(),
            next_id: 0,
        }
    }

    /// Runs for `length` of virtual time; returns the limit after every completion,
    /// with the time it held.
    fn run(&mut self, length: Duration) -> Vec<(u64, u32)> {
        let end = self.clock.now_nanos() + length.as_nanos() as u64;
        let mut trace = Vec::new();
        loop {
            while let Ok(permit) = self.limiter.try_acquire() {
                let n = self.limiter.in_flight();
                let done = self.clock.now_nanos() + latency(self.base, n).as_nanos() as u64;
                self.running.push(Reverse((done, self.next_id)));
                self.permits.insert(self.next_id, permit);
                self.next_id += 1;
            }
            let Some(Reverse((at, id))) = self.running.pop() else {
                panic!("nothing in flight and nothing admitted");
            };
            if at > end {
                self.running.push(Reverse((at, id)));
                return trace;
            }
            let now = self.clock.now_nanos();
            self.clock.advance(Duration::from_nanos(at - now));
            self.permits
                .remove(&id)
                .expect("a permit per call")
                .success();
            trace.push((at, self.limiter.limit()));
        }
    }
}

/// The time-weighted mean limit over the second half of a trace.
fn settled_mean(trace: &[(u64, u32)]) -> f64 {
    let (first, last) = (trace[0].0, trace[trace.len() - 1].0);
    let from = first + (last - first) / 2;
    let mut weighted = 0.0;
    for pair in trace.windows(2) {
        if pair[0].0 >= from {
            weighted += f64::from(pair[0].1) * (pair[1].0 - pair[0].0) as f64;
        }
    }
    weighted / (last - from) as f64
}

/// The share of the second half's samples within 20 % of the capacity.
fn share_in_band(trace: &[(u64, u32)]) -> f64 {
    let tail = &trace[trace.len() / 2..];
    let lo = CAPACITY as f64 * 0.8;
    let hi = CAPACITY as f64 * 1.2;
    let inside = tail
        .iter()
        .filter(|(_, l)| (lo..=hi).contains(&f64::from(*l)))
        .count();
    inside as f64 / tail.len() as f64
}

fn assert_settles(trace: &[(u64, u32)], what: &str) {
    let mean = settled_mean(trace);
    let band = share_in_band(trace);
    println!(
        "{what}: settled mean {mean:.1}, {:.1} % in band",
        band * 100.0
    );
    assert!(
        (40.0..=60.0).contains(&mean),
        "{what}: settled at {mean:.1}, not within 20 % of {CAPACITY}"
    );
    assert!(band >= 0.95, "{what}: only {:.1} % in band", band * 100.0);
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn limiter(config: AdaptiveConfig, clock: &ManualClock) -> (AdaptiveLimiter, Recorder) {
    let recorder = Recorder::new();
    let limiter = AdaptiveLimiter::with_clock("sim", config, Arc::new(clock.clone()))
        .expect("valid")
        .with_listener(Arc::new(recorder.clone()));
    (limiter, recorder)
}

#[test]
fn aimd_settles_at_capacity_and_backs_off_when_latency_rises() {
    let clock = ManualClock::new();
    let aimd = AimdConfig::new().with_latency_threshold(ms(11));
    let config = AdaptiveConfig::aimd(aimd)
        .with_limits(3, 500)
        .with_initial_limit(10);
    let (limiter, recorder) = limiter(config, &clock);
    let mut sim = Sim::new(&limiter, clock, ms(10));

    let trace = sim.run(Duration::from_secs(20));
    assert_settles(&trace, "aimd");
    assert!(recorder.count("ConcurrencyLimitChanged") > 0);

    // The server's base latency triples: every call is now over the threshold.
    sim.base = ms(30);
    let after = sim.run(Duration::from_secs(5));
    let lowest = after.iter().map(|(_, l)| *l).min().unwrap();
    assert_eq!(lowest, 3, "backs off to its minimum, and no lower");
    assert!(after.iter().all(|(_, l)| (3..=500).contains(l)));
}

#[test]
fn gradient_settles_at_capacity_backs_off_and_recovers() {
    let clock = ManualClock::new();
    let gradient = GradientConfig::new().with_min_rtt(Duration::from_secs(10), 25);
    let config = AdaptiveConfig::gradient(gradient)
        .with_limits(3, 500)
        .with_initial_limit(10);
    let (limiter, recorder) = limiter(config, &clock);
    let mut sim = Sim::new(&limiter, clock, ms(10));

    let trace = sim.run(Duration::from_secs(30));
    assert_settles(&trace, "gradient");
    assert_eq!(limiter.snapshot().no_load_rtt, Some(ms(10)));
    assert!(recorder.count("ConcurrencyLimitChanged") > 0);

    // The base latency triples: against the old no-load latency the limit shrinks...
    sim.base = ms(30);
    let after = sim.run(Duration::from_secs(2));
    let lowest = after.iter().map(|(_, l)| *l).min().unwrap();
    assert!(lowest < 25, "backs off: lowest {lowest}");
    // ...until the next no-load measurement finds the new base, and it settles again.
    let recovered = sim.run(Duration::from_secs(40));
    assert_settles(&recovered, "gradient after the jump");
    assert_eq!(limiter.snapshot().no_load_rtt, Some(ms(30)));
}
