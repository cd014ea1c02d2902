//! The breaker against a reference model: a few lines of obviously-correct code over a
//! list of outcomes and a clock. Random sequences of calls (success, failure, slow,
//! ignored), clock advances, manual states and resets must give the same admissions,
//! rejections (with the same `retry_after`), states and window figures.

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use rampart::circuit::{BreakerConfig, BreakerState, CircuitBreaker};
use rampart::classify::OutcomeClass;
use rampart::clock::{Clock, ManualClock};

const MS: u64 = 1_000_000;
/// Calls slower than this are slow when slow-call tracking is on.
const SLOW_MS: u64 = 100;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Outcome {
    Success,
    Failure,
    Slow,
    SlowFailure,
    Ignored,
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Call(Outcome),
    Advance(u64),
    ForceOpen,
    ForceClosed,
    Disable,
    MetricsOnly,
    Reset,
}

#[derive(Debug, Clone, Copy)]
enum Mode {
    Consecutive(u64),
    Count(usize),
    /// Window length and buckets.
    Time(u64, u64),
}

/// The settings, as the model reads them.
#[derive(Debug, Clone)]
struct Setup {
    mode: Mode,
    rate: f64,
    min_calls: Option<u32>,
    slow_rate: Option<f64>,
    open_ms: u64,
    backoff: Option<(f64, u64)>,
    probes: u32,
    successes: Option<u32>,
    max_half_open_ms: Option<u64>,
}

impl Setup {
    fn config(&self) -> BreakerConfig {
        let mut c = match self.mode {
            Mode::Consecutive(n) => BreakerConfig::consecutive(n as u32),
            Mode::Count(n) => BreakerConfig::count_window(n as u32, self.rate),
            Mode::Time(len, b) => {
                BreakerConfig::time_window(Duration::from_millis(len), b as u32, self.rate)
            }
        };
        if let Some(m) = self.min_calls {
            c = c.with_min_calls(m);
        }
        if let Some(r) = self.slow_rate {
            c = c.with_slow_calls(Duration::from_millis(SLOW_MS), r);
        }
        c = c
            .with_open_for(Duration::from_millis(self.open_ms))
            .with_permitted_probes(self.probes);
        if let Some((f, max)) = self.backoff {
            c = c.with_open_backoff(f, Duration::from_millis(max));
        }
        if let Some(s) = self.successes {
            c = c.with_success_threshold(s);
        }
        if let Some(d) = self.max_half_open_ms {
            c = c.with_max_half_open(Duration::from_millis(d));
        }
        c
    }
}

/// The reference: what the documentation says, written as plainly as possible.
struct Model {
    s: Setup,
    state: BreakerState,
    /// (time, failed, slow) of every counted outcome since the window last emptied.
    log: Vec<(u64, bool, bool)>,
    opens: u32,
    /// Open: when a probe may go. Half-open: when it gives up.
    until: u64,
    probe_successes: u32,
}

impl Model {
    fn new(s: Setup) -> Self {
        Model {
            s,
            state: BreakerState::Closed,
            log: Vec::new(),
            opens: 0,
            until: 0,
            probe_successes: 0,
        }
    }

    fn go(&mut self, state: BreakerState) {
        self.state = state;
        self.log.clear();
        self.probe_successes = 0;
    }

    fn open(&mut self, now: u64, opens: u32) {
        let base = self.s.open_ms * MS;
        let d = match self.s.backoff {
            None => base,
            Some((f, max)) => ((base as f64 * f.powi(opens as i32 - 1)) as u64).min(max * MS),
        };
        self.opens = opens;
        self.until = now + d;
        self.go(BreakerState::Open);
    }

    /// (calls, failures, slow) in the window at `now`.
    fn window(&self, now: u64) -> (u64, u64, u64) {
        let entries: Vec<_> = match self.s.mode {
            Mode::Consecutive(_) => {
                let run = self.log.iter().rev().take_while(|e| e.1).count() as u64;
                return (run, run, 0);
            }
            Mode::Count(n) => self.log.iter().rev().take(n).collect(),
            Mode::Time(len, b) => {
                let bucket = |t: u64| t / (len * MS / b) + 1;
                let live = |t: u64| bucket(t) + b > bucket(now);
                self.log.iter().filter(|e| live(e.0)).collect()
            }
        };
        let failures = entries.iter().filter(|e| e.1).count() as u64;
        let slow = entries.iter().filter(|e| e.2).count() as u64;
        (entries.len() as u64, failures, slow)
    }

    fn trips(&self, now: u64) -> bool {
        let (calls, failures, slow) = self.window(now);
        let min = match self.s.mode {
            Mode::Consecutive(n) => return failures >= n,
            Mode::Count(n) => self.s.min_calls.map_or(n as u64, u64::from),
            Mode::Time(..) => self.s.min_calls.map_or(10, u64::from),
        };
        let over = |part: u64, rate: f64| part > 0 && part as f64 / calls as f64 >= rate;
        calls >= min
            && (over(failures, self.s.rate) || self.s.slow_rate.is_some_and(|r| over(slow, r)))
    }

    /// Asks for a permit at `now`: `Ok(state it was admitted in)` or the retry-after.
    fn admit(&mut self, now: u64) -> Result<BreakerState, Option<u64>> {
        if self.state == BreakerState::Open {
            if now < self.until {
                return Err(Some(self.until - now));
            }
            self.go(BreakerState::HalfOpen);
            self.until = self.s.max_half_open_ms.map_or(u64::MAX, |d| now + d * MS);
        }
        match self.state {
            BreakerState::ForcedOpen => Err(None),
            BreakerState::HalfOpen if now >= self.until => {
                self.open(now, self.opens + 1);
                Err(Some(self.until - now))
            }
            s => Ok(s),
        }
    }

    /// Records the outcome of a call admitted in `admitted`, finishing at `now`.
    fn record(&mut self, admitted: BreakerState, now: u64, o: Outcome) {
        if o == Outcome::Ignored {
            return;
        }
        let failed = matches!(o, Outcome::Failure | Outcome::SlowFailure);
        let slow = self.s.slow_rate.is_some() && matches!(o, Outcome::Slow | Outcome::SlowFailure);
        match admitted {
            BreakerState::Closed => {
                self.log.push((now, failed, slow));
                if self.trips(now) {
                    self.open(now, 1);
                }
            }
            BreakerState::MetricsOnly => self.log.push((now, failed, slow)),
            BreakerState::HalfOpen if failed || slow => self.open(now, self.opens + 1),
            BreakerState::HalfOpen => {
                self.probe_successes += 1;
                if self.probe_successes >= self.s.successes.unwrap_or(self.s.probes) {
                    self.opens = 0;
                    self.go(BreakerState::Closed);
                }
            }
            _ => {}
        }
    }

    fn manual(&mut self, to: BreakerState) {
        if self.state != to || to == BreakerState::Closed {
            self.opens = 0;
            self.go(to);
        }
    }
}

fn class(o: Outcome) -> OutcomeClass {
    match o {
        Outcome::Success | Outcome::Slow => OutcomeClass::Success,
        Outcome::Failure | Outcome::SlowFailure => OutcomeClass::Failure,
        Outcome::Ignored => OutcomeClass::Ignored,
    }
}

fn run(setup: Setup, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let clock = ManualClock::new();
    let real = CircuitBreaker::with_clock("model", setup.config(), Arc::new(clock.clone()))
        .map_err(|e| TestCaseError::fail(format!("config: {e}")))?;
    let mut model = Model::new(setup);
    let now = || clock.now_nanos();
    for (i, op) in ops.into_iter().enumerate() {
        match op {
            Op::Call(o) => {
                let t0 = now();
                let expected = model.admit(t0);
                let got = real.try_acquire();
                match (&expected, got) {
                    (Ok(admitted), Ok(permit)) => {
                        let slow = matches!(o, Outcome::Slow | Outcome::SlowFailure);
                        let took = if slow { SLOW_MS + 1 } else { 0 };
                        clock.advance(Duration::from_millis(took));
                        model.record(*admitted, now(), o);
                        real.record(permit, class(o));
                    }
                    (Err(after), Err(r)) => prop_assert_eq!(
                        r.retry_after(),
                        after.map(Duration::from_nanos),
                        "op {}: retry_after",
                        i
                    ),
                    (e, g) => prop_assert!(false, "op {i} {op:?}: model {e:?}, real {g:?}"),
                }
            }
            Op::Advance(ms) => clock.advance(Duration::from_millis(ms)),
            Op::ForceOpen => {
                real.force_open();
                model.manual(BreakerState::ForcedOpen);
            }
            Op::ForceClosed => {
                real.force_closed();
                model.manual(BreakerState::ForcedClosed);
            }
            Op::Disable => {
                real.disable();
                model.manual(BreakerState::Disabled);
            }
            Op::MetricsOnly => {
                real.metrics_only();
                model.manual(BreakerState::MetricsOnly);
            }
            Op::Reset => {
                real.reset();
                model.manual(BreakerState::Closed);
            }
        }
        let snap = real.snapshot();
        prop_assert_eq!(snap.state, model.state, "op {}: state after {:?}", i, op);
        let (calls, failures, slow) = model.window(now());
        prop_assert_eq!(
            (
                snap.calls_in_window,
                snap.failures_in_window,
                snap.slow_calls_in_window
            ),
            (calls, failures, slow),
            "op {}: window after {:?}",
            i,
            op
        );
        prop_assert_eq!(snap.consecutive_opens, model.opens, "op {}: opens", i);
        let until = (model.state == BreakerState::Open)
            .then(|| Duration::from_nanos(model.until.saturating_sub(now())));
        prop_assert_eq!(snap.time_until_half_open, until, "op {}: until", i);
    }
    Ok(())
}

fn op() -> impl Strategy<Value = Op> {
    let outcome = prop_oneof![
        4 => Just(Outcome::Success),
        4 => Just(Outcome::Failure),
        1 => Just(Outcome::Slow),
        1 => Just(Outcome::SlowFailure),
        1 => Just(Outcome::Ignored),
    ];
    prop_oneof![
        14 => outcome.prop_map(Op::Call),
        4 => prop_oneof![0..400u64, 0..4_000u64].prop_map(Op::Advance),
        1 => prop_oneof![
            Just(Op::ForceOpen),
            Just(Op::ForceClosed),
            Just(Op::Disable),
            Just(Op::MetricsOnly),
            Just(Op::Reset),
        ],
    ]
}

fn rate() -> impl Strategy<Value = f64> {
    prop::sample::select(vec![0.0, 0.25, 0.3, 0.5, 0.6, 0.75, 1.0])
}

/// Everything but the window: open period, backoff, probes, half-open limit.
fn setup(mode: Mode, windowed: bool) -> impl Strategy<Value = Setup> {
    let max_min = match mode {
        Mode::Count(n) => n as u32,
        _ => 12,
    };
    (
        rate(),
        prop::option::of(1..=max_min),
        prop::option::of(rate()),
        1..4_000u64,
        prop::option::of((prop::sample::select(vec![1.0, 1.5, 2.0]), 1..4u64)),
        1..=3u32,
        any::<prop::sample::Index>(),
        prop::option::of(1..3_000u64),
    )
        .prop_map(
            move |(rate, min, slow, open_ms, backoff, probes, succ, half)| Setup {
                mode,
                rate,
                min_calls: min.filter(|_| windowed),
                slow_rate: slow.filter(|_| windowed),
                open_ms,
                backoff: backoff.map(|(f, k)| (f, open_ms * k)),
                probes,
                successes: (succ.index(2) == 1).then(|| 1 + succ.index(probes as usize) as u32),
                max_half_open_ms: half,
            },
        )
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op(), 1..80)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn consecutive_matches_the_model(
        s in (1..6u64).prop_flat_map(|n| setup(Mode::Consecutive(n), false)),
        ops in ops(),
    ) {
        run(s, ops)?;
    }

    #[test]
    fn count_window_matches_the_model(
        s in (1..12usize).prop_flat_map(|n| setup(Mode::Count(n), true)),
        ops in ops(),
    ) {
        run(s, ops)?;
    }

    #[test]
    fn time_window_matches_the_model(
        s in (prop::sample::select(vec![1_000u64, 2_000, 3_000, 5_000]), 1..6u64)
            .prop_flat_map(|(len, b)| setup(Mode::Time(len, b), true)),
        ops in ops(),
    ) {
        run(s, ops)?;
    }
}
