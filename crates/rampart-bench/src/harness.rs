//! A small measuring harness: calibrate, warm up, repeat, report the median.
//!
//! A [`Case`] is a name and a function that runs an operation a given number of times
//! and returns how long the loop took. The harness picks the iteration count so one
//! repetition takes about [`TARGET_REP`], runs one warm-up repetition, then
//! [`REPETITIONS`] measured ones, and reports nanoseconds per operation. Two cases
//! compared by a target ratio are also measured in alternation ([`measure_pair`]), so
//! that the ratio is taken between repetitions that ran side by side.
//!
//! Write case bodies with [`sync_loop`], [`async_loop`], [`async_loop_mut`] or
//! [`contended_loop_2t`]: all pass the loop index through [`black_box`] and black-box
//! each result, so the optimiser can neither hoist the operation out of the loop nor
//! delete it.

use std::future::Future;
use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

/// Measured repetitions per case; the reported figure is their median.
pub const REPETITIONS: usize = 5;

/// The time one repetition should take once the iteration count is calibrated.
pub const TARGET_REP: Duration = Duration::from_millis(75);

/// Calibration doubles the iteration count until one run takes at least this long.
const CALIBRATION_FLOOR: Duration = Duration::from_millis(10);

/// One benchmark: a name and a body that runs the operation `iterations` times.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    /// The name printed in the first column, matched by the command-line filters.
    pub name: &'static str,
    /// Runs the operation the given number of times and returns the time the loop took,
    /// excluding set-up such as building a runtime or a pipeline.
    pub run: fn(u64) -> Duration,
}

impl Case {
    /// A case named `name` whose body is `run`.
    pub const fn new(name: &'static str, run: fn(u64) -> Duration) -> Self {
        Self { name, run }
    }
}

/// What measuring one [`Case`] gave.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measurement {
    /// Median nanoseconds per operation over the repetitions.
    pub median_ns: f64,
    /// Fastest repetition, in nanoseconds per operation.
    pub min_ns: f64,
    /// Slowest repetition, in nanoseconds per operation.
    pub max_ns: f64,
    /// Number of measured repetitions.
    pub repetitions: usize,
    /// Operations per repetition.
    pub iterations: u64,
}

/// Calibrates, warms up and measures `case`.
pub fn measure(case: &Case) -> Measurement {
    let iterations = calibrate(case.run, TARGET_REP);
    // Warm-up: caches, branch predictors, lazily initialised thread-locals, CPU clock.
    black_box((case.run)(iterations));
    let per_op = Spread::of((0..REPETITIONS).map(|_| rep(case, iterations)).collect());
    Measurement {
        median_ns: per_op.median,
        min_ns: per_op.min,
        max_ns: per_op.max,
        repetitions: per_op.count,
        iterations,
    }
}

/// The median, least and greatest of some figures.
struct Spread {
    median: f64,
    min: f64,
    max: f64,
    count: usize,
}

impl Spread {
    /// The spread of `values` (at least one).
    fn of(mut values: Vec<f64>) -> Self {
        values.sort_by(f64::total_cmp);
        Spread {
            median: median(&values),
            min: values[0],
            max: values[values.len() - 1],
            count: values.len(),
        }
    }
}

/// One repetition of `case`: nanoseconds per operation over `iterations`.
fn rep(case: &Case, iterations: u64) -> f64 {
    ns_per_op((case.run)(iterations), iterations)
}

/// Alternating repetitions of the two cases behind a [`measure_pair`] ratio.
pub const PAIRS: usize = 27;

/// The time one repetition of a pair should take: a third of [`TARGET_REP`], so a
/// ratio's 27 pairs take as long as 9 full repetitions would. This machine's speed was
/// seen to change within 75 ms; shorter repetitions put the two members of a pair in
/// the same state more often, and more pairs steady their median.
pub const PAIR_REP: Duration = Duration::from_millis(25);

/// What measuring two cases in alternation gave: per pair, the first case's time per
/// operation over the second's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairedRatio {
    /// The median of the pairs' ratios.
    pub median: f64,
    /// The smallest pair ratio.
    pub min: f64,
    /// The largest pair ratio.
    pub max: f64,
    /// Number of pairs.
    pub pairs: usize,
}

/// Calibrates `a` and `b` to [`PAIR_REP`] and warms them up, then runs [`PAIRS`] pairs
/// of one repetition of each, back to back, and takes the ratio `a / b` within each pair.
///
/// A machine whose speed drifts (a busy neighbour, a frequency change) slows both
/// members of a pair alike, where two medians taken one case after the other can each
/// catch a different state. The order within a pair alternates, so neither case always
/// runs first.
pub fn measure_pair(a: &Case, b: &Case) -> PairedRatio {
    let (a_iterations, b_iterations) = (calibrate(a.run, PAIR_REP), calibrate(b.run, PAIR_REP));
    black_box((a.run)(a_iterations));
    black_box((b.run)(b_iterations));
    let ratios = Spread::of(
        (0..PAIRS)
            .map(|pair| {
                let (a_ns, b_ns) = if pair % 2 == 0 {
                    let a_ns = rep(a, a_iterations);
                    (a_ns, rep(b, b_iterations))
                } else {
                    let b_ns = rep(b, b_iterations);
                    (rep(a, a_iterations), b_ns)
                };
                a_ns / b_ns.max(f64::MIN_POSITIVE)
            })
            .collect(),
    );
    PairedRatio {
        median: ratios.median,
        min: ratios.min,
        max: ratios.max,
        pairs: ratios.count,
    }
}

/// The iteration count that makes one run of `run` last about `target`.
fn calibrate(run: fn(u64) -> Duration, target: Duration) -> u64 {
    let mut iterations: u64 = 1;
    loop {
        let elapsed = run(iterations);
        if elapsed >= CALIBRATION_FLOOR || iterations >= u64::MAX / 2 {
            let scale = target.as_secs_f64() / elapsed.as_secs_f64().max(1e-9);
            // Float-to-int `as` saturates, and at least one iteration always runs.
            return ((iterations as f64 * scale) as u64).max(1);
        }
        iterations *= 2;
    }
}

fn ns_per_op(elapsed: Duration, iterations: u64) -> f64 {
    elapsed.as_nanos() as f64 / iterations as f64
}

/// The median of a sorted, non-empty slice.
fn median(sorted: &[f64]) -> f64 {
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}

/// Times `iterations` synchronous calls of `op`, each given its loop index.
pub fn sync_loop<R>(iterations: u64, mut op: impl FnMut(u64) -> R) -> Duration {
    let start = Instant::now();
    for i in 0..iterations {
        black_box(op(black_box(i)));
    }
    start.elapsed()
}

/// Times `iterations` awaits of `op(i)` inside one `block_on` of a current-thread tokio
/// runtime with time enabled.
///
/// The runtime is built before the clock starts and entered once, so the per-operation
/// figure excludes runtime entry; only the loop of awaits is timed. `op` is called
/// inside the runtime, so it may create timers.
///
/// # Panics
///
/// If the tokio runtime cannot be built.
pub fn async_loop<F, Fut>(iterations: u64, mut op: F) -> Duration
where
    F: FnMut(u64) -> Fut,
    Fut: Future,
{
    current_thread_runtime().block_on(async move {
        let start = Instant::now();
        for i in 0..iterations {
            black_box(op(black_box(i)).await);
        }
        start.elapsed()
    })
}

/// Like [`async_loop`], for an operation whose future borrows state the closure owns:
/// an async closure, such as `async |x| { svc.ready().await?; svc.call(x).await }`
/// around a tower service that needs `&mut self` across the awaits.
///
/// # Panics
///
/// If the tokio runtime cannot be built.
pub fn async_loop_mut<F, R>(iterations: u64, mut op: F) -> Duration
where
    F: AsyncFnMut(u64) -> R,
{
    current_thread_runtime().block_on(async move {
        let start = Instant::now();
        for i in 0..iterations {
            black_box(op(black_box(i)).await);
        }
        start.elapsed()
    })
}

/// A current-thread tokio runtime with time enabled, built before any clock starts.
fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread tokio runtime builds")
}

/// Two threads share one object: each calls `op(shared, i)` for `iterations` loop
/// indices, at the same time, and the time of the slower thread is returned.
///
/// Divided by `iterations` (as [`measure`] does), that is nanoseconds per operation per
/// thread under contention. Both threads are spawned and meet at a barrier before
/// either starts its clock, so thread start-up is not counted; each thread times only
/// its own loop. On a machine with fewer than two idle cores the threads take turns
/// and the figure measures the scheduler as much as the object.
///
/// # Panics
///
/// If a thread cannot be spawned, or `op` panics in either thread.
pub fn contended_loop_2t<T, R>(
    iterations: u64,
    shared: &T,
    op: impl Fn(&T, u64) -> R + Sync,
) -> Duration
where
    T: Sync + ?Sized,
{
    let barrier = Barrier::new(2);
    let (barrier, op) = (&barrier, &op);
    std::thread::scope(|scope| {
        let threads = [(); 2].map(|()| {
            scope.spawn(move || {
                barrier.wait();
                sync_loop(iterations, |i| op(shared, i))
            })
        });
        threads
            .map(|thread| thread.join().expect("a contended bench thread panicked"))
            .into_iter()
            .max()
            .unwrap_or_default()
    })
}

/// Keeps the cases whose name contains any of `filters` (all of them when there is none).
pub fn select<'a>(cases: &'a [Case], filters: &[String]) -> Vec<&'a Case> {
    cases
        .iter()
        .filter(|case| filters.is_empty() || filters.iter().any(|f| case.name.contains(f.as_str())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(&[1.0, 2.0, 9.0]), 2.0);
        assert_eq!(median(&[1.0, 2.0, 4.0, 9.0]), 3.0);
    }

    #[test]
    fn filters_are_substrings_any_of() {
        let noop = |_| Duration::ZERO;
        let cases = [
            Case::new("tokio_a", noop),
            Case::new("backon_b", noop),
            Case::new("rampart_c", noop),
        ];
        let names = |filters: &[&str]| -> Vec<&str> {
            let filters: Vec<String> = filters.iter().map(|f| (*f).to_owned()).collect();
            select(&cases, &filters).iter().map(|c| c.name).collect()
        };
        assert_eq!(names(&[]), ["tokio_a", "backon_b", "rampart_c"]);
        assert_eq!(names(&["_b", "rampart"]), ["backon_b", "rampart_c"]);
        assert!(names(&["nothing"]).is_empty());
    }

    #[test]
    fn a_paired_ratio_divides_within_each_pair() {
        // Cases that run nothing and say each operation took 10 and 40 ns.
        let fast = Case::new("fast", |n| Duration::from_nanos(10 * n));
        let slow = Case::new("slow", |n| Duration::from_nanos(40 * n));
        let paired = measure_pair(&fast, &slow);
        assert_eq!(paired.pairs, PAIRS);
        assert_eq!((paired.min, paired.median, paired.max), (0.25, 0.25, 0.25));
        assert_eq!(measure_pair(&slow, &fast).median, 4.0);
    }

    #[test]
    fn loops_run_every_iteration() {
        let mut count = 0;
        sync_loop(7, |_| count += 1);
        assert_eq!(count, 7);
        let mut count = 0;
        async_loop(5, |i| {
            count += 1;
            std::future::ready(i)
        });
        assert_eq!(count, 5);
        let mut count = 0;
        async_loop_mut(4, async |i| {
            count += 1;
            std::future::ready(i).await
        });
        assert_eq!(count, 4);
    }

    #[test]
    fn contended_loop_runs_every_iteration_in_both_threads() {
        use std::sync::atomic::{AtomicU64, Ordering};
        let counter = AtomicU64::new(0);
        contended_loop_2t(6, &counter, |c, _| c.fetch_add(1, Ordering::Relaxed));
        assert_eq!(counter.load(Ordering::Relaxed), 12);
    }
}
