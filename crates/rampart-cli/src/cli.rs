//! Command-line arguments of the `rampart` binary and how each subcommand runs.

use crate::check::{check, Checked};
use crate::{budget, report, simulate};
use clap::{Args, Parser, Subcommand};
use std::process::ExitCode;
use std::time::Duration;

/// The exit code for bad input, the same that clap uses for usage errors.
pub const EXIT_BAD_INPUT: u8 = 2;

/// rampart: resilience arithmetic and tooling for services and their dependencies.
#[derive(Debug, Parser)]
#[command(name = "rampart", version)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands of `rampart`.
#[derive(Debug, Subcommand)]
#[non_exhaustive]
pub enum Command {
    /// Work out how many attempts fit in an SLA, step by step.
    ///
    /// Example: rampart budget --sla 5s --overhead 500ms --timeout 2s --backoff 1s
    Budget(BudgetArgs),
    /// Lint a configuration file for the seeds' pattern traps.
    ///
    /// Exit code 0 when clean, 1 with findings, 2 when the file cannot be read,
    /// parsed or built. Example: rampart check config/shop.toml
    Check(CheckArgs),
    /// Replay an outage against a configuration in virtual time, in seconds.
    ///
    /// With no argument, the seeds' checkout outage, without and with defenses. Prints
    /// each run's timeline and a side-by-side summary, and writes a chart
    /// (rampart-simulate-SCENARIO.svg and .png). Exit code 0; 2 when the scenario cannot
    /// be read or used; 1 when the chart cannot be written. Example: rampart simulate
    /// retry-storm
    Simulate(SimulateArgs),
}

/// Arguments of `rampart simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// A built-in scenario (checkout-outage, retry-storm, slow-not-down) or a scenario
    /// file (TOML).
    #[arg(value_name = "SCENARIO", default_value = rampart_sim::DEFAULT_SCENARIO)]
    pub scenario: String,
    /// Print the whole report as one JSON document instead of the text.
    #[arg(long)]
    pub json: bool,
    /// Use this seed instead of the scenario's.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Send traffic for this long instead of the scenario's duration (e.g. 3m).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Add a run with this rampart configuration file (the one a service loads), with
    /// the fallbacks of the scenario's last run: try a candidate configuration against
    /// the outage. Dependencies the scenario does not model are left out.
    #[arg(long, value_name = "CONFIG.toml")]
    pub config: Option<std::path::PathBuf>,
    /// Write the chart (SVG and PNG) into this folder.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub chart_dir: std::path::PathBuf,
    /// Do not write the chart.
    #[arg(long)]
    pub no_chart: bool,
}

/// Arguments of `rampart check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The configuration file (TOML, one table per dependency).
    #[arg(value_name = "CONFIG.toml")]
    pub config: std::path::PathBuf,
}

/// The exit code of `rampart check` when it finds traps.
pub const EXIT_FINDINGS: u8 = 1;

/// Arguments of `rampart budget`. Durations use humantime syntax: `5s`, `500ms`, `1m 30s`.
#[derive(Debug, Args)]
pub struct BudgetArgs {
    /// The user-facing SLA: the whole request must finish within it.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub sla: Duration,
    /// Processing time spent outside the dependency call.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub overhead: Duration,
    /// The per-attempt timeout.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Duration,
    /// The wait between two attempts.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "0s")]
    pub backoff: Duration,
    /// Print one JSON object (durations in integer nanoseconds) instead of the steps.
    #[arg(long)]
    pub json: bool,
}

fn parse_duration(s: &str) -> Result<Duration, humantime::DurationError> {
    humantime::parse_duration(s)
}

/// Runs a parsed command line, printing to stdout and errors to stderr.
///
/// Returns success, or [`EXIT_BAD_INPUT`] with a one-line `error: ...` on stderr when
/// the arguments parse but make no sense (a zero timeout, an overhead not below the SLA).
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Budget(args) => run_budget(&args),
        Command::Check(args) => run_check(&args),
        Command::Simulate(args) => run_simulate(&args),
    }
}

fn run_simulate(args: &SimulateArgs) -> ExitCode {
    let loaded = simulate::load(&args.scenario).map_err(|e| e.to_string());
    let scenario = match loaded.and_then(|s| simulate::with_overrides(s, args.seed, args.duration))
    {
        Ok(s) => s,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let scenario = match &args.config {
        None => scenario,
        Some(path) => match scenario.with_config_file(path) {
            Ok((scenario, ignored)) => {
                if !ignored.is_empty() {
                    eprintln!(
                        "note: {}: not in the scenario, left out: {}",
                        path.display(),
                        ignored.join(", ")
                    );
                }
                scenario
            }
            Err(err) => {
                eprintln!("error: {err}");
                return ExitCode::from(EXIT_BAD_INPUT);
            }
        },
    };
    let report = match simulate::run_with_progress(&scenario) {
        Ok(report) => report,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    if args.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", simulate::text(&report));
    }
    if !args.no_chart {
        let stem = format!("rampart-simulate-{}", report.scenario);
        match rampart_sim::chart::write_chart(&report, &args.chart_dir, &stem) {
            Ok(files) => {
                let say = format!("chart: {} and {}", files.svg.display(), files.png.display());
                // With --json, stdout holds only the JSON.
                if args.json {
                    eprintln!("{say}");
                } else {
                    println!("\n{say}");
                }
                if let Some(note) = files.note {
                    eprintln!("note: {note}");
                }
            }
            Err(err) => {
                eprintln!("error: {err}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

fn run_check(args: &CheckArgs) -> ExitCode {
    let shown = args.config.display();
    match check(&args.config) {
        Checked::Unusable(err) => {
            eprintln!("error: {err}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
        Checked::Findings(found) if found.is_empty() => {
            println!("{shown}: no findings");
            ExitCode::SUCCESS
        }
        Checked::Findings(found) => {
            for finding in &found {
                println!("{shown}: {finding}\n");
            }
            let n = found.len();
            println!("{shown}: {n} finding{}", if n == 1 { "" } else { "s" });
            ExitCode::from(EXIT_FINDINGS)
        }
    }
}

fn run_budget(args: &BudgetArgs) -> ExitCode {
    match budget::plan(args.sla, args.overhead, args.timeout, args.backoff) {
        Ok(plan) if args.json => {
            println!("{}", report::json(&plan));
            ExitCode::SUCCESS
        }
        Ok(plan) => {
            for line in report::text(&plan) {
                println!("{line}");
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn backoff_defaults_to_zero() {
        let cli = Cli::try_parse_from([
            "rampart",
            "budget",
            "--sla",
            "5s",
            "--overhead",
            "0",
            "--timeout",
            "1s",
        ])
        .unwrap();
        let Command::Budget(args) = cli.command else {
            panic!("parsed as another command");
        };
        assert_eq!(args.backoff, Duration::ZERO);
        assert!(!args.json);
    }
}
