//! `rampart simulate [SCENARIO]`: replays an outage against a configuration in virtual
//! time and prints what fired and what users saw, run by run.
//!
//! The scenario is a built-in name (`checkout-outage`, the default; `retry-storm`;
//! `slow-not-down`) or a scenario file. The output is the timeline of each run, then a
//! summary with one column per run; `--json` prints the whole report as JSON instead.

use std::path::Path;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rampart_sim::report::{summary_table, timeline_text};
use rampart_sim::{builtin, Report, Scenario, ScenarioError};

/// Finds the scenario `name`: a file when a file of that name exists or it ends in
/// `.toml`, else a built-in.
///
/// # Errors
///
/// A [`ScenarioError`] for a file that cannot be read or is wrong, or an unknown
/// built-in name.
pub fn load(name: &str) -> Result<Scenario, ScenarioError> {
    let path = Path::new(name);
    if path.exists() || name.ends_with(".toml") {
        Scenario::read(path)
    } else {
        builtin(name)
    }
}

/// The longest `--duration` accepted, as for a scenario file's `duration`.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

/// Applies the command line's overrides to `scenario`.
///
/// # Errors
///
/// A message when `duration` is zero or longer than [`MAX_DURATION`].
pub fn with_overrides(
    mut scenario: Scenario,
    seed: Option<u64>,
    duration: Option<Duration>,
) -> Result<Scenario, String> {
    if let Some(seed) = seed {
        scenario = scenario.with_seed(seed);
    }
    if let Some(duration) = duration {
        if duration.is_zero() || duration > MAX_DURATION {
            return Err("--duration must be longer than 0s and at most 24h".to_owned());
        }
        scenario = scenario.with_duration(duration);
    }
    Ok(scenario)
}

/// Runs `scenario`, with a progress bar per run on a terminal (none otherwise).
///
/// # Errors
///
/// As [`rampart_sim::simulate`].
pub fn run_with_progress(scenario: &Scenario) -> Result<Report, rampart_sim::SimulationError> {
    let total = (scenario.duration + scenario.grace).as_secs();
    let style =
        ProgressStyle::with_template("{prefix:>24} [{bar:30}] {pos}/{len} s of virtual time")
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
    let bars: Vec<ProgressBar> = scenario
        .runs
        .iter()
        .map(|run| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            bar.set_style(style.clone());
            bar.set_prefix(run.name.clone());
            bar
        })
        .collect();
    let report = rampart_sim::simulate_with_progress(scenario, &|run, secs| {
        if let Some(bar) = bars.get(run) {
            bar.set_position(secs.min(total));
        }
    });
    for bar in &bars {
        bar.finish_and_clear();
    }
    report
}

/// The report as `rampart simulate` prints it: a heading, each run's timeline, the
/// summary.
pub fn text(report: &Report) -> String {
    let mut out = format!(
        "{}: {}\nseed {}, {} s of traffic from {}\n",
        report.scenario, report.summary, report.seed, report.duration_s, report.start
    );
    for run in &report.runs {
        out.push_str(&format!("\n== {}: timeline ==\n", run.name));
        out.push_str(&timeline_text(run));
    }
    out.push_str("\n== summary ==\n");
    out.push_str(&summary_table(report));
    out
}
