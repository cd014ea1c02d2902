//! `rampart simulate [SCENARIO]`: replays an outage against a configuration in virtual
//! time and prints what fired and what users saw, run by run.
//!
//! The scenario is a built-in name (`checkout-outage`, the default; `retry-storm`;
//! `slow-not-down`) or a scenario file. The output is the timeline of each run, then a
//! summary with one column per run; `--json` prints the whole report as JSON instead.

use std::path::Path;
use std::time::Duration;

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

/// Applies the command line's overrides to `scenario`.
pub fn with_overrides(mut scenario: Scenario, seed: Option<u64>, duration: Option<Duration>) -> Scenario {
    if let Some(seed) = seed {
        scenario = scenario.with_seed(seed);
    }
    if let Some(duration) = duration {
        scenario = scenario.with_duration(duration);
    }
    scenario
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
