//! Runs the benchmark cases: `cargo run --release -p rampart-bench -- [FILTER...]`.
//!
//! stdout gets one `name median_ns_per_op` line per case; stderr gets the detail of each
//! measurement and, at the end, the ratio of each target whose two cases ran, measured
//! again with the two cases side by side (see [`measure_pair`]).

use rampart_bench::cases::{self, RATIOS};
use rampart_bench::harness::{measure, measure_pair, select, Case};
use std::collections::HashMap;
use std::io::Write;

fn main() {
    // `cargo bench` passes `--bench`; every other argument is a name filter.
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| arg != "--bench")
        .collect();
    let all = cases::all();
    let selected = select(&all, &filters);
    if selected.is_empty() {
        eprintln!("no case matches {filters:?}");
        std::process::exit(1);
    }

    let mut medians = HashMap::new();
    for case in selected {
        let m = measure(case);
        println!("{} {:.1}", case.name, m.median_ns);
        // Flush per case so a long run shows progress when piped.
        let _ = std::io::stdout().flush();
        eprintln!(
            "  {}: median {:.1} ns/op, min {:.1}, max {:.1}, {} reps x {} iterations",
            case.name, m.median_ns, m.min_ns, m.max_ns, m.repetitions, m.iterations
        );
        medians.insert(case.name, m.median_ns);
    }

    let by_name: HashMap<&str, &Case> = all.iter().map(|case| (case.name, case)).collect();
    for ratio in RATIOS {
        let (Some(num), Some(den)) = (medians.get(ratio.numerator), medians.get(ratio.denominator))
        else {
            continue;
        };
        let of_medians = num / den;
        // Timed cases are measured again side by side; the verdict goes by that ratio.
        let (value, detail) = if ratio.is_timed() {
            let paired = measure_pair(by_name[ratio.numerator], by_name[ratio.denominator]);
            let detail = format!(
                "median of {} alternating pairs, {:.3}-{:.3}; of the medians above {of_medians:.3}",
                paired.pairs, paired.min, paired.max
            );
            (paired.median, detail)
        } else {
            (of_medians, "of the medians above".to_owned())
        };
        let verdict = if value <= ratio.max { "ok" } else { "MISSED" };
        eprintln!(
            "ratio {} / {} = {value:.3} (target <= {}) {verdict} ({detail})",
            ratio.numerator, ratio.denominator, ratio.max
        );
    }
}
